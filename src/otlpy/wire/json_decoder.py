"""OTLP/JSON to protobuf bytes, without building Python message objects field by field.

The parsed JSON (``orjson``) is walked once and written straight to protobuf wire format; one
``ParseFromString`` then turns the bytes into a message when a message is wanted. Each message
type gets a table, built from its descriptor on first use, mapping every accepted JSON key (the
lowerCamelCase name and the original snake_case name) to a small writer closure that validates
and encodes one field.

The OTLP JSON rules (opentelemetry-proto ``docs/specification.md``, "JSON Protobuf Encoding"):
trace and span ids are hex (any case; an empty string means absent), enums are integers (names are
accepted too, as the Collector does), 64-bit integers are decimal strings or numbers, doubles may
be ``"NaN"``, ``"Infinity"`` or ``"-Infinity"``, other bytes are base64, and unknown keys are
ignored. ``null`` means absent.

Attributes repeat across spans, so encoded key/value pairs with scalar values are cached.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
import struct
from collections.abc import Callable
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor

from otlpy.wire.protobuf_writer import (
    FIXED32,
    FIXED64,
    LEN,
    VARINT,
    pack_double,
    pack_fixed32,
    pack_fixed64,
    pack_sfixed64,
    signed_varint,
    tag,
    varint,
    zigzag32,
)

__all__ = ["JsonProblem", "encode_json_object"]

Writer = Callable[[bytearray, Any], None]
Table = dict[str, Writer]

_KEY_VALUE = "opentelemetry.proto.common.v1.KeyValue"
_ANY_VALUE = "opentelemetry.proto.common.v1.AnyValue"
# bytes fields holding ids: hex in OTLP JSON, with the size every OTLP id of that name has
_ID_SIZES = {"trace_id": 16, "span_id": 8, "parent_span_id": 8}

_INT_RE = re.compile(r"[-+]?[0-9]+")
_INT32 = (-(1 << 31), (1 << 31) - 1)
_UINT32 = (0, (1 << 32) - 1)
_INT64 = (-(1 << 63), (1 << 63) - 1)
_UINT64 = (0, (1 << 64) - 1)
_SPECIAL_DOUBLES = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}

_KV_CACHE_LIMIT = 8192
_KV_CACHED_SIZE = 192  # bytes of an encoded pair, at most, for it to be cached
_kv_cache: dict[tuple[str, str, object, type], bytes] = {}
_CACHEABLE = frozenset({str, int, float, bool})


class JsonProblem(Exception):
    """A value that does not fit its field; ``path`` is filled in while the error unwinds."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.path: list[str] = []

    def where(self) -> str:
        """The JSON path of the bad value, e.g. ``resourceSpans[0].scopeSpans[0].spans``."""
        text = ""
        for part in reversed(self.path):
            text += part if part.startswith("[") or not text else "." + part
        return text


def _describe(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "an array"
    return "an object"


def encode_json_object(table: Table, obj: dict[str, Any]) -> bytearray:
    """The protobuf encoding of one JSON object, following ``table``."""
    out = bytearray()
    for key, value in obj.items():
        if value is None:
            continue
        writer = table.get(key)
        if writer is None:
            continue  # unknown fields are ignored, as the OTLP spec requires
        try:
            writer(out, value)
        except JsonProblem as problem:
            problem.path.append(key)
            raise
    return out


# --- scalar conversions -----------------------------------------------------------------------


def _to_int(value: Any, bounds: tuple[int, int]) -> int:
    kind = type(value)
    if kind is int:
        number: int = value
    elif (kind is str and _INT_RE.fullmatch(value)) or (kind is float and value.is_integer()):
        number = int(value)
    else:
        raise JsonProblem(f"expected an integer, got {_describe(value)} {value!r}")
    if not bounds[0] <= number <= bounds[1]:
        raise JsonProblem(f"integer {number} is out of range")
    return number


def _to_double(value: Any) -> float:
    kind = type(value)
    if kind is float:
        return float(value)
    if kind is int:
        return float(value)
    if kind is str:
        special = _SPECIAL_DOUBLES.get(value)
        if special is not None:
            return special
        try:
            return float(value)
        except ValueError:
            pass
    raise JsonProblem(f"expected a number, got {_describe(value)} {value!r}")


def _to_str(value: Any) -> str:
    if type(value) is not str:
        raise JsonProblem(f"expected a string, got {_describe(value)}")
    return str(value)


def _to_bool(value: Any) -> bool:
    if type(value) is not bool:
        raise JsonProblem(f"expected true or false, got {_describe(value)}")
    return bool(value)


def _to_base64_bytes(value: Any) -> bytes:
    text = _to_str(value)
    # Standard and URL-safe alphabets, padded or not, as protobuf's JSON parsers accept.
    text = text.replace("-", "+").replace("_", "/")
    text += "=" * (-len(text) % 4)
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error as exc:
        raise JsonProblem(f"invalid base64: {exc}") from exc


def _id_problem(value: Any, size: int) -> JsonProblem:
    """Why ``value`` is not the hex of a ``size``-byte id."""
    if type(value) is not str:
        return JsonProblem(f"expected a string, got {_describe(value)}")
    if len(value) != 2 * size:
        return JsonProblem(f"expected {2 * size} hex digits, got {len(value)} characters")
    return JsonProblem(f"invalid hex id {value!r}")


def _is_set_double(number: float) -> bool:
    # -0.0 differs from the default 0.0 on the wire, so it is kept like any other value
    return number != 0.0 or math.copysign(1.0, number) < 0


def _list(value: Any) -> list[Any]:
    if type(value) is not list:
        raise JsonProblem(f"expected an array, got {_describe(value)}")
    return list(value)


def _object(value: Any) -> dict[str, Any]:
    if type(value) is not dict:
        raise JsonProblem(f"expected an object, got {_describe(value)}")
    return dict(value)


# --- writer factories: one closure per field, capturing its tag and conversion ----------------


def _len_writer(field_tag: bytes, convert: Callable[[Any], bytes], presence: bool) -> Writer:
    def write(out: bytearray, value: Any) -> None:
        data = convert(value)
        if data or presence:
            out += field_tag
            out += varint(len(data))
            out += data

    return write


def _repeated_len_writer(field_tag: bytes, convert: Callable[[Any], bytes]) -> Writer:
    def write(out: bytearray, value: Any) -> None:
        for index, item in enumerate(_list(value)):
            try:
                data = convert(item)
            except JsonProblem as problem:
                problem.path.append(f"[{index}]")
                raise
            out += field_tag
            out += varint(len(data))
            out += data

    return write


def _string_bytes(value: Any) -> bytes:
    return _to_str(value).encode()


def _varint_writer(
    field_tag: bytes,
    convert: Callable[[Any], int],
    presence: bool,
    encode: Callable[[int], bytes],
    bounds: tuple[int, int],
) -> Writer:
    low, high = bounds

    def write(out: bytearray, value: Any) -> None:
        # plain in-range integers are the norm; anything else takes the checked conversion
        number = value if type(value) is int and low <= value <= high else convert(value)
        if number or presence:
            out += field_tag
            out += encode(number)

    return write


def _fixed_writer(
    field_tag: bytes, convert: Callable[[Any], Any], presence: bool, pack: Callable[[Any], bytes]
) -> Writer:
    def write(out: bytearray, value: Any) -> None:
        number = convert(value)
        if number or presence:
            out += field_tag
            out += pack(number)

    return write


def _double_writer(field_tag: bytes, presence: bool) -> Writer:
    def write(out: bytearray, value: Any) -> None:
        number = _to_double(value)
        if presence or _is_set_double(number):
            out += field_tag
            out += pack_double(number)

    return write


def _packed_writer(field_tag: bytes, convert: Callable[[Any], Any], fmt: str) -> Writer:
    """Repeated numbers, packed (the proto3 default): one length-delimited run of values."""

    def write(out: bytearray, value: Any) -> None:
        items = _list(value)
        numbers = []
        for index, item in enumerate(items):
            try:
                numbers.append(convert(item))
            except JsonProblem as problem:
                problem.path.append(f"[{index}]")
                raise
        if not numbers:
            return
        if fmt == "varint":
            data = b"".join([varint(n) for n in numbers])
        else:
            data = struct.pack(f"<{len(numbers)}{fmt}", *numbers)
        out += field_tag
        out += varint(len(data))
        out += data

    return write


def _message_writer(field_tag: bytes, table: Table) -> Writer:
    def write(out: bytearray, value: Any) -> None:
        if type(value) is not dict:
            raise JsonProblem(f"expected an object, got {_describe(value)}")
        data = encode_json_object(table, value)
        out += field_tag
        out += varint(len(data))
        out += data

    return write


def _repeated_message_writer(field_tag: bytes, table: Table) -> Writer:
    def write(out: bytearray, value: Any) -> None:
        if type(value) is not list:
            raise JsonProblem(f"expected an array, got {_describe(value)}")
        for index, item in enumerate(value):
            try:
                if type(item) is not dict:
                    raise JsonProblem(f"expected an object, got {_describe(item)}")
                data = encode_json_object(table, item)
            except JsonProblem as problem:
                problem.path.append(f"[{index}]")
                raise
            out += field_tag
            size = len(data)
            if size < 0x80:
                out.append(size)
            else:
                out += varint(size)
            out += data

    return write


class _AnyValueTags:
    """Tags of the AnyValue and KeyValue fields the fast paths write directly."""

    def __init__(self) -> None:
        from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

        any_fields = AnyValue.DESCRIPTOR.fields_by_name
        kv_fields = KeyValue.DESCRIPTOR.fields_by_name
        self.string = tag(any_fields["string_value"].number, LEN)
        self.true = tag(any_fields["bool_value"].number, VARINT) + b"\x01"
        self.false = tag(any_fields["bool_value"].number, VARINT) + b"\x00"
        self.int = tag(any_fields["int_value"].number, VARINT)
        self.double = tag(any_fields["double_value"].number, FIXED64)
        self.key = tag(kv_fields["key"].number, LEN)
        self.value = tag(kv_fields["value"].number, LEN)


_AV = _AnyValueTags()


def _scalar_any_value(kind: str, scalar: Any) -> bytes | None:
    """The AnyValue encoding of ``{kind: scalar}`` for the common, well-formed cases, else None."""
    if kind == "stringValue":
        if type(scalar) is str:
            data = scalar.encode()
            return _AV.string + varint(len(data)) + data
    elif kind == "intValue":
        if type(scalar) is int and _INT64[0] <= scalar <= _INT64[1]:
            return _AV.int + signed_varint(scalar)
        if type(scalar) is str and scalar.isascii() and scalar.isdigit():
            number = int(scalar)
            if number <= _INT64[1]:
                return _AV.int + varint(number)
    elif kind == "boolValue":
        if scalar is True:
            return _AV.true
        if scalar is False:
            return _AV.false
    elif kind == "doubleValue" and type(scalar) is float:
        return _AV.double + pack_double(scalar)
    return None


def _key_value_bytes(item: Any, table: Table) -> bytes:
    """One KeyValue's payload (length-prefixed), directly when it has the usual shape."""
    if type(item) is dict and len(item) == 2:
        key = item.get("key")
        any_value = item.get("value")
        if type(key) is str and type(any_value) is dict and len(any_value) == 1:
            ((kind, scalar),) = any_value.items()
            encoded_value = _scalar_any_value(kind, scalar)
            if encoded_value is not None:
                key_data = key.encode()
                body = (
                    _AV.key
                    + varint(len(key_data))
                    + key_data
                    + _AV.value
                    + varint(len(encoded_value))
                    + encoded_value
                )
                return varint(len(body)) + body
    data = encode_json_object(table, _object(item))
    return varint(len(data)) + data


def _key_values_writer(field_tag: bytes, table: Table) -> Writer:
    """Repeated KeyValue, with encoded pairs cached when the value is a scalar."""
    cache = _kv_cache

    def write(out: bytearray, value: Any) -> None:
        for index, item in enumerate(_list(value)):
            # Fast path: {"key": k, "value": {kind: scalar}} already seen. Only valid pairs are
            # ever stored, so a hit needs no checks; odd shapes fall through to the full path.
            cache_key: tuple[str, str, object, type] | None = None
            try:
                if len(item) == 2:
                    ((kind, scalar),) = item["value"].items()
                    cache_key = (item["key"], kind, scalar, type(scalar))
                    encoded = cache.get(cache_key)
                    if encoded is not None:
                        out += field_tag
                        out += encoded
                        continue
            except (TypeError, KeyError, ValueError, AttributeError):
                cache_key = None
            try:
                encoded = _key_value_bytes(item, table)
            except JsonProblem as problem:
                problem.path.append(f"[{index}]")
                raise
            if cache_key is not None and len(encoded) <= _KV_CACHED_SIZE:  # long ones rarely repeat
                if len(cache) >= _KV_CACHE_LIMIT:
                    cache.clear()
                cache[cache_key] = encoded
            out += field_tag
            out += encoded

    return write


def _id_writer(field_tag: bytes, size: int) -> Writer:
    """A trace or span id: hex of exactly ``size`` bytes, or an empty string for none."""
    prefix = field_tag + varint(size)

    def write(out: bytearray, value: Any) -> None:
        if value == "":
            return
        try:
            data = bytes.fromhex(value) if type(value) is str and len(value) == 2 * size else b""
        except ValueError:
            data = b""
        if len(data) != size:  # fromhex skips whitespace, so check what came out
            raise _id_problem(value, size)
        out += prefix
        out += data

    return write


def _string_writer(field_tag: bytes, presence: bool) -> Writer:
    def write(out: bytearray, value: Any) -> None:
        if type(value) is not str:
            raise JsonProblem(f"expected a string, got {_describe(value)}")
        if value or presence:
            data = value.encode()
            out += field_tag
            size = len(data)
            if size < 0x80:
                out.append(size)
            else:
                out += varint(size)
            out += data

    return write


def _timestamp_writer(field_tag: bytes, presence: bool) -> Writer:
    """fixed64, with the usual decimal-string form parsed inline (timestamps are everywhere)."""

    def write(out: bytearray, value: Any) -> None:
        if type(value) is str and value.isascii() and value.isdigit():
            number = int(value)
            if number >= 1 << 64:
                raise JsonProblem(f"integer {number} is out of range")
        else:
            number = _to_int(value, _UINT64)
        if number or presence:
            out += field_tag
            out += pack_fixed64(number)

    return write


# --- tables -----------------------------------------------------------------------------------

_tables: dict[str, Table] = {}

_F = FieldDescriptor
_VARINT_KINDS: dict[int, tuple[tuple[int, int], Callable[[int], bytes]]] = {
    _F.TYPE_INT32: (_INT32, signed_varint),
    _F.TYPE_ENUM: (_INT32, signed_varint),
    _F.TYPE_INT64: (_INT64, signed_varint),
    _F.TYPE_UINT32: (_UINT32, varint),
    _F.TYPE_UINT64: (_UINT64, varint),
    _F.TYPE_SINT32: (_INT32, lambda n: varint(zigzag32(n) & 0xFFFFFFFF)),
}
_FIXED_KINDS: dict[int, tuple[tuple[int, int], Callable[[int], bytes], int, str]] = {
    _F.TYPE_FIXED64: (_UINT64, pack_fixed64, FIXED64, "Q"),
    _F.TYPE_SFIXED64: (_INT64, pack_sfixed64, FIXED64, "q"),
    _F.TYPE_FIXED32: (_UINT32, pack_fixed32, FIXED32, "I"),
}


def _enum_converter(field: FieldDescriptor) -> Callable[[Any], int]:
    enum = field.enum_type
    assert enum is not None
    by_name = {value.name: value.number for value in enum.values}

    def convert(value: Any) -> int:
        if type(value) is str and value in by_name:
            return by_name[value]
        if type(value) is str and not _INT_RE.fullmatch(value):
            raise JsonProblem(f"unknown {enum.name} value {value!r}")
        return _to_int(value, _INT32)

    return convert


def _bounded(bounds: tuple[int, int]) -> Callable[[Any], int]:
    return lambda value: _to_int(value, bounds)


def _field_writer(field: FieldDescriptor) -> Writer:
    repeated = field.is_repeated
    presence = field.has_presence
    kind = field.type
    if kind == _F.TYPE_MESSAGE:
        assert field.message_type is not None
        field_tag = tag(field.number, LEN)
        sub = table_for(field.message_type)
        if field.message_type.full_name == _KEY_VALUE and repeated:
            return _key_values_writer(field_tag, sub)
        if repeated:
            return _repeated_message_writer(field_tag, sub)
        return _message_writer(field_tag, sub)
    if kind in (_F.TYPE_STRING, _F.TYPE_BYTES):
        field_tag = tag(field.number, LEN)
        convert: Callable[[Any], bytes]
        if kind == _F.TYPE_STRING:
            if not repeated:
                return _string_writer(field_tag, presence)
            convert = _string_bytes
        elif field.name in _ID_SIZES and not repeated:
            return _id_writer(field_tag, _ID_SIZES[field.name])
        else:
            convert = _to_base64_bytes
        if repeated:
            return _repeated_len_writer(field_tag, convert)
        return _len_writer(field_tag, convert, presence)
    if kind in _VARINT_KINDS or kind == _F.TYPE_BOOL:
        to_int: Callable[[Any], int]
        encode: Callable[[int], bytes]
        if kind == _F.TYPE_BOOL:
            to_int, encode, bounds = (lambda value: int(_to_bool(value))), varint, (1, 0)
        else:
            bounds, encode = _VARINT_KINDS[kind]
            to_int = _enum_converter(field) if kind == _F.TYPE_ENUM else _bounded(bounds)
        if repeated:
            return _packed_writer(tag(field.number, LEN), to_int, "varint")
        return _varint_writer(tag(field.number, VARINT), to_int, presence, encode, bounds)
    if kind == _F.TYPE_FIXED64 and not repeated:
        return _timestamp_writer(tag(field.number, FIXED64), presence)
    if kind in _FIXED_KINDS:
        bounds, pack, wire_type, fmt = _FIXED_KINDS[kind]
        if repeated:
            return _packed_writer(tag(field.number, LEN), _bounded(bounds), fmt)
        return _fixed_writer(tag(field.number, wire_type), _bounded(bounds), presence, pack)
    if kind == _F.TYPE_DOUBLE:
        if repeated:
            return _packed_writer(tag(field.number, LEN), _to_double, "d")
        return _double_writer(tag(field.number, FIXED64), presence)
    # float, sfixed32, sint64 and maps: OTLP has none of them
    raise NotImplementedError(f"field {field.full_name} has an unsupported type {kind}")


def table_for(descriptor: Descriptor) -> Table:
    """The JSON-key-to-writer table of a message type (built once, shared)."""
    table = _tables.get(descriptor.full_name)
    if table is None:
        table = {}
        # registered before it is filled, so recursive types (AnyValue) find themselves
        _tables[descriptor.full_name] = table
        for field in descriptor.fields:
            writer = _field_writer(field)
            table[field.json_name] = writer
            table[field.name] = writer
    return table
