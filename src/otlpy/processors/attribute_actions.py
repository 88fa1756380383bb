"""Attribute actions shared by the ``attributes`` and ``resource`` processors.

The Collector's ``attraction`` settings: a list of ``actions``, each one of ``insert``,
``update``, ``upsert`` (set ``key`` from ``value``, ``from_attribute`` or ``from_context``),
``delete`` and ``hash`` (by ``key`` and/or a key regex ``pattern``), ``extract`` (named groups of
``pattern`` matched against the string at ``key`` become attributes) and ``convert`` (to
``converted_type`` int, double or string). Actions run in order on one attribute map, in place.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import re
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from otlpy import client
from otlpy.errors import ConfigProblem
from otlpy.ottl.functions.goregex import GoRegex, compile_go
from otlpy.ottl.values import PMap, any_to_py, as_string, set_any, to_python
from otlpy.pdata import Batch
from otlpy.wire.protobuf_edit import (
    DELETE,
    DELETE_MATCHING,
    INSERT,
    SET,
    TRANSFORM,
    UPDATE,
    Op,
    edit_items,
)

__all__ = ["ActionConfig", "AttributeActions", "byte_ops", "compile_actions", "edit_on_bytes"]

_ACTIONS = ("insert", "update", "upsert", "delete", "hash", "extract", "convert")
_SETTERS = ("insert", "update", "upsert")
_TYPES = ("int", "double", "string")


@dataclass(frozen=True, kw_only=True)
class ActionConfig:
    """One action on an attribute map (the Collector's ``ActionKeyValue``)."""

    action: str = ""
    key: str = ""
    value: Any = None
    #: a regular expression: attribute keys (delete, hash) or the value to extract from
    pattern: str = ""
    from_attribute: str = ""
    #: ``metadata.<name>`` (request headers / gRPC metadata, when the receiver keeps them),
    #: ``client.address``, or a bare metadata name
    from_context: str = ""
    converted_type: str = ""

    def validate(self) -> list[ConfigProblem]:
        action = self.action.lower()
        if action not in _ACTIONS:
            return [
                ConfigProblem(
                    "action",
                    f"unsupported action {self.action!r} (use one of: {', '.join(_ACTIONS)})",
                )
            ]
        problems: list[ConfigProblem] = []
        sources = sum((self.value is not None, bool(self.from_attribute), bool(self.from_context)))
        if action in ("delete", "hash"):
            if not self.key and not self.pattern:
                problems.append(ConfigProblem("", 'at least one of "key" and "pattern" is needed'))
            if self.value is not None or self.from_attribute:
                problems.append(
                    ConfigProblem("", f'{action} does not use "value" or "from_attribute"')
                )
        elif not self.key:
            problems.append(ConfigProblem("key", "required"))
        if action in _SETTERS:
            if sources == 0:
                problems.append(
                    ConfigProblem(
                        "", 'one of "value", "from_attribute" or "from_context" is needed'
                    )
                )
            elif sources > 1:
                problems.append(
                    ConfigProblem(
                        "", 'only one of "value", "from_attribute" or "from_context" may be set'
                    )
                )
            if self.pattern:
                problems.append(ConfigProblem("pattern", f"{action} does not use a pattern"))
        if action in ("extract", "convert") and sources:
            problems.append(ConfigProblem("", f"{action} does not use a value source"))
        if action == "convert":
            if self.pattern:
                problems.append(ConfigProblem("pattern", "convert does not use a pattern"))
            if self.converted_type not in _TYPES:
                problems.append(
                    ConfigProblem(
                        "converted_type",
                        "required: int, double or string"
                        if not self.converted_type
                        else f"invalid type {self.converted_type!r} (use int, double or string)",
                    )
                )
        elif self.converted_type:
            problems.append(ConfigProblem("converted_type", f"{action} does not use it"))
        if self.pattern:
            try:
                regex = compile_go(self.pattern)
            except ValueError as exc:
                problems.append(ConfigProblem("pattern", str(exc)))
            else:
                if action == "extract":
                    if not any(regex.names):
                        problems.append(ConfigProblem("pattern", "has no named groups"))
                    elif any(name is None for name in regex.names):
                        problems.append(
                            ConfigProblem("pattern", "every group must be named for extract")
                        )
        elif action == "extract":
            problems.append(ConfigProblem("pattern", "required for extract"))
        if self.value is not None and not _storable(self.value):
            problems.append(ConfigProblem("value", "cannot be stored as an attribute value"))
        return problems


def _storable(value: Any) -> bool:
    if isinstance(value, str | bool | int | float | bytes):
        return True
    if isinstance(value, list):
        return all(_storable(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _storable(v) for k, v in value.items())
    return False


Action = Callable[[Any], None]


def _from_context(key: str) -> AnyValue | None:
    info = client.current()
    if key == "client.address":
        values: tuple[str, ...] = (info.addr,) if info.addr else ()
    elif key.startswith("metadata."):
        values = info.get(key[len("metadata.") :])
    elif key.startswith("auth."):
        values = ()  # no authenticators here: auth attributes are never present
    else:
        values = info.get(key)
    if not values:
        return None
    return AnyValue(string_value=";".join(values))


def _source(config: ActionConfig) -> Callable[[PMap], Any]:
    """Where a setter's value comes from: an ``AnyValue`` message or None."""
    if config.value is not None:
        constant = AnyValue()
        set_any(constant, config.value)
        return lambda attrs: constant
    if config.from_context:
        key = config.from_context
        return lambda attrs: _from_context(key)
    name = config.from_attribute
    return lambda attrs: attrs.get_any(name)


def _hash_bytes(value: Any) -> bytes | None:
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return bytes(value.string_value.encode())
    if kind == "bool_value":
        return b"\x01" if value.bool_value else b"\x00"
    if kind == "int_value":
        return struct.pack("<q", value.int_value)
    if kind == "double_value":
        return struct.pack("<d", value.double_value)
    return None


def hash_value(value: Any) -> None:
    """Replace an ``AnyValue`` by the hex SHA-256 of its value (empty for other types)."""
    data = _hash_bytes(value)
    value.string_value = hashlib.sha256(data).hexdigest() if data else ""


def convert_value(value: Any, to: str) -> None:
    """Convert an ``AnyValue`` in place; values that cannot be converted are left as they are."""
    kind = value.WhichOneof("value")
    if to == "string":
        if kind != "string_value":
            value.string_value = as_string(to_python(any_to_py(value)))
        return
    if to == "int":
        if kind == "double_value":
            number = value.double_value
            if math.isfinite(number):
                value.int_value = int(number)
        elif kind == "bool_value":
            value.int_value = int(value.bool_value)
        elif kind == "string_value":
            text = value.string_value
            if re.fullmatch(r"[+-]?[0-9]+", text) and -(2**63) <= int(text) < 2**63:
                value.int_value = int(text)
        return
    if kind == "int_value":
        value.double_value = float(value.int_value)
    elif kind == "bool_value":
        value.double_value = 1.0 if value.bool_value else 0.0
    elif kind == "string_value":
        with contextlib.suppress(ValueError):
            value.double_value = float(value.string_value)


def _matching_keys(regex: GoRegex | None, attrs: PMap) -> list[str]:
    if regex is None:
        return []
    return [key for key in attrs.keys() if regex.search(key)]  # noqa: SIM118 - PMap is not iterable


def _compile(config: ActionConfig) -> Callable[[PMap], None]:
    action = config.action.lower()
    key = config.key
    regex = compile_go(config.pattern) if config.pattern else None
    if action in _SETTERS:
        source = _source(config)

        if config.from_attribute == key:
            return lambda attrs: None  # copying an attribute onto itself changes nothing

        def set_value(attrs: PMap) -> None:
            value = source(attrs)
            if value is None:
                return
            current = attrs.get_any(key)
            if current is None:
                if action != "update":
                    attrs.kvs.add(key=key).value.CopyFrom(value)
            elif action != "insert":
                current.CopyFrom(value)

        return set_value
    if action == "delete":

        def delete(attrs: PMap) -> None:
            if key:
                attrs.remove(key)
            for name in _matching_keys(regex, attrs):
                attrs.remove(name)

        return delete
    if action == "hash":

        def hash_(attrs: PMap) -> None:
            names = ([key] if key else []) + _matching_keys(regex, attrs)
            for name in names:
                value = attrs.get_any(name)
                if value is not None:
                    hash_value(value)

        return hash_
    if action == "extract":
        assert regex is not None
        names = regex.names

        def extract(attrs: PMap) -> None:
            value = attrs.get_any(key)
            if value is None or value.WhichOneof("value") != "string_value":
                return
            match = regex.search(value.string_value)
            if match is None:
                return
            for index, name in enumerate(names, start=1):
                if name is not None:
                    attrs.put(name, match.group(index) or "")

        return extract
    to = config.converted_type

    def convert(attrs: PMap) -> None:
        value = attrs.get_any(key)
        if value is not None:
            convert_value(value, to)

    return convert


class AttributeActions:
    """Compiled actions, applied in order to an attribute map (a repeated ``KeyValue``)."""

    __slots__ = ("_actions",)

    def __init__(self, actions: Sequence[Callable[[PMap], None]]) -> None:
        self._actions = tuple(actions)

    def __bool__(self) -> bool:
        return bool(self._actions)

    def apply(self, kvs: Any) -> None:
        attrs = PMap(kvs)
        for action in self._actions:
            action(attrs)


def compile_actions(configs: Sequence[ActionConfig]) -> AttributeActions:
    """Compile validated action configs."""
    return AttributeActions([_compile(c) for c in configs])


def _hash_encoded(value: bytes) -> bytes | None:
    held = AnyValue.FromString(value)
    hash_value(held)
    return bytes(held.SerializeToString())


def byte_ops(configs: Sequence[ActionConfig]) -> list[Op] | None:
    """The actions as edits of serialized attribute lists (:mod:`otlpy.wire.protobuf_edit`),
    or None when one of them needs the messages: ``extract``, ``convert``, and the setters
    whose value comes from another attribute or from the request's context."""
    ops: list[Op] = []
    for config in configs:
        action = config.action.lower()
        key = config.key
        test = None
        if config.pattern:
            regex = compile_go(config.pattern)

            def test(name: str, search: Any = regex.search) -> bool:
                return search(name) is not None

        if action in _SETTERS:
            if config.value is None:
                return None
            constant = AnyValue()
            set_any(constant, config.value)
            code = {"insert": INSERT, "update": UPDATE, "upsert": SET}[action]
            ops.append(Op(code, key=key, value=bytes(constant.SerializeToString())))
        elif action == "delete":
            if key:
                ops.append(Op(DELETE, key=key))
            if test is not None:
                ops.append(Op(DELETE_MATCHING, test=test))
        elif action == "hash":
            ops.append(Op(TRANSFORM, key=key, test=test, transform=_hash_encoded))
        else:
            return None
    return ops


def edit_on_bytes(
    batch: Batch,
    path: list[int],
    ops: list[Op],
    mask: list[bool] | None = None,
    *,
    singular: bool = False,
    counts_items: bool = True,
) -> Batch | None:
    """``batch`` with ``ops`` applied to the attribute lists at ``path`` of its bytes, or None
    when the bytes hold something the editor leaves to the messages. ``counts_items``: the
    edited items are what the batch counts (spans, log records), not resources."""
    guards: list[list[bool] | None] = [None] * len(ops)
    values: list[list[bytes | None] | None] = [None] * len(ops)
    try:
        raw, items = edit_items(batch.raw, path, ops, mask, guards, values, singular)
    except (ValueError, IndexError):
        return None
    if mask is not None and items != len(mask):
        return None  # the bytes are not those of the message the mask was read from
    return Batch(batch.signal, raw=raw, items=items if counts_items else batch.items)
