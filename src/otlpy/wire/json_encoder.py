"""OTLP protobuf messages to OTLP/JSON-ready dicts, fast.

``json_format.MessageToJson`` inspects every field of every message through reflection. Here each
message type gets a plain Python function, generated once from its descriptor, that reads exactly
the fields it has with attribute access and emits only what is set (defaults omitted, as proto3
JSON does). The result is a tree of dicts, lists, strings and numbers for ``orjson``.

OTLP JSON deviations from proto3 JSON are applied: trace and span ids are lowercase hex, enums
stay integers. 64-bit integers are decimal strings, other bytes are base64, and non-finite doubles
are ``"NaN"``, ``"Infinity"`` and ``"-Infinity"``.

Attribute lists are the bulk of OTLP data and repeat across spans, so a ``KeyValue`` is looked up
by its serialized bytes in a bounded cache before it is converted.
"""

from __future__ import annotations

import base64
import math
import threading
from collections.abc import Callable
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor

__all__ = ["converter_for"]

Converter = Callable[[Any], dict[str, Any]]

_F = FieldDescriptor
_ID_FIELDS = frozenset({"trace_id", "span_id", "parent_span_id"})
_KEY_VALUE = "opentelemetry.proto.common.v1.KeyValue"
_STRINGIFIED = frozenset(
    {_F.TYPE_INT64, _F.TYPE_UINT64, _F.TYPE_FIXED64, _F.TYPE_SFIXED64, _F.TYPE_SINT64}
)

_KV_CACHE_LIMIT = 8192
_KV_CACHED_SIZE = 192  # bytes of a serialized pair, at most, for it to be cached


def _double(number: float) -> float | str:
    if math.isfinite(number):
        return number
    if math.isnan(number):
        return "NaN"
    return "Infinity" if number > 0 else "-Infinity"


def _base64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _is_set_double(number: float) -> bool:
    # -0.0 is not the default on the wire, so it is written out like any other value
    return number != 0.0 or math.copysign(1.0, number) < 0


def _make_key_values(convert_pair: Converter) -> Callable[[Any], list[dict[str, Any]]]:
    cache: dict[bytes, dict[str, Any]] = {}

    def key_values(pairs: Any) -> list[dict[str, Any]]:
        out = []
        for pair in pairs:
            # serializing a small pair in C is cheaper than reading its fields from Python
            encoded = pair.SerializeToString()
            converted = cache.get(encoded)
            if converted is None:
                converted = convert_pair(pair)
                if len(encoded) <= _KV_CACHED_SIZE:  # long values rarely repeat
                    if len(cache) >= _KV_CACHE_LIMIT:
                        cache.clear()
                    cache[encoded] = converted
            out.append(converted)
        return out

    return key_values


class _Generator:
    """Writes one converter function per message type and compiles them together."""

    def __init__(self) -> None:
        self.namespace: dict[str, Any] = {
            "_double": _double,
            "_base64": _base64,
            "_is_set_double": _is_set_double,
        }
        self.done: set[str] = set()
        self.sources: list[str] = []

    @staticmethod
    def name(descriptor: Descriptor) -> str:
        return "_to_json_" + descriptor.full_name.replace(".", "_")

    def value(self, field: FieldDescriptor, expr: str) -> str:
        """The expression converting ``expr``, a value of ``field``, to its JSON form."""
        kind = field.type
        if field.message_type is not None:
            return f"{self.name(field.message_type)}({expr})"
        if kind in _STRINGIFIED:
            return f"str({expr})"
        if kind == _F.TYPE_BYTES:
            return f"{expr}.hex()" if field.name in _ID_FIELDS else f"_base64({expr})"
        if kind in (_F.TYPE_DOUBLE, _F.TYPE_FLOAT):
            return f"_double({expr})"
        return expr

    def add(self, descriptor: Descriptor) -> None:
        if descriptor.full_name in self.done:
            return
        self.done.add(descriptor.full_name)
        lines = [f"def {self.name(descriptor)}(m):"]
        oneofs = [o for o in descriptor.oneofs if len(o.fields) > 1]
        if len(oneofs) == 1 and len(oneofs[0].fields) == len(descriptor.fields):
            # nothing but one oneof (AnyValue): return as soon as the member is known
            self._add_oneof_only(descriptor, oneofs[0], lines)
            return
        lines.append("    d = {}")
        seen_oneofs: set[str] = set()
        for field in descriptor.fields:
            if field.message_type is not None:
                self.add(field.message_type)
            key = field.json_name
            oneof = field.containing_oneof
            if oneof is not None and len(oneof.fields) > 1:
                # a real oneof: one WhichOneof call instead of a HasField per member
                if oneof.name in seen_oneofs:
                    continue
                seen_oneofs.add(oneof.name)
                lines.append(f"    k = m.WhichOneof({oneof.name!r})")
                for index, member in enumerate(oneof.fields):
                    value = self.value(member, f"m.{member.name}")
                    keyword = "if" if index == 0 else "elif"
                    lines.append(f"    {keyword} k == {member.name!r}:")
                    lines.append(f"        d[{member.json_name!r}] = {value}")
                continue
            if field.is_repeated:
                lines.append(f"    v = m.{field.name}")
                if field.message_type is not None and field.message_type.full_name == _KEY_VALUE:
                    lines.append(f"    if v: d[{key!r}] = _key_values(v)")
                else:
                    item = self.value(field, "x")
                    lines.append(f"    if v: d[{key!r}] = [{item} for x in v]")
            elif field.has_presence:
                value = self.value(field, f"m.{field.name}")
                lines.append(f"    if m.HasField({field.name!r}): d[{key!r}] = {value}")
            else:
                lines.append(f"    v = m.{field.name}")
                test = "_is_set_double(v)" if field.type in (_F.TYPE_DOUBLE, _F.TYPE_FLOAT) else "v"
                lines.append(f"    if {test}: d[{key!r}] = {self.value(field, 'v')}")
        lines.append("    return d")
        self.sources.append("\n".join(lines))

    def _add_oneof_only(self, descriptor: Descriptor, oneof: Any, lines: list[str]) -> None:
        lines.append(f"    k = m.WhichOneof({oneof.name!r})")
        for member in oneof.fields:
            if member.message_type is not None:
                self.add(member.message_type)
            value = self.value(member, f"m.{member.name}")
            lines.append(f"    if k == {member.name!r}: return {{{member.json_name!r}: {value}}}")
        lines.append("    return {}")
        self.sources.append("\n".join(lines))

    def compile(self) -> None:
        source = "\n\n".join(self.sources)
        # The source is generated from the installed OTLP descriptors, never from input data.
        exec(compile(source, "<otlpy.wire.json_encoder>", "exec"), self.namespace)  # noqa: S102
        self.sources.clear()


_generator = _Generator()
_lock = threading.Lock()


def converter_for(descriptor: Descriptor) -> Converter:
    """The function turning a message of type ``descriptor`` into its OTLP JSON dict."""
    namespace = _generator.namespace
    name = _Generator.name(descriptor)
    converter: Converter | None = namespace.get(name)
    if converter is None:
        with _lock:
            if name not in namespace:
                _generator.add(descriptor)
                _generator.compile()
                pair = namespace.get("_to_json_" + _KEY_VALUE.replace(".", "_"))
                if pair is not None and "_key_values" not in namespace:
                    namespace["_key_values"] = _make_key_values(pair)
        converter = namespace[name]
    return converter
