"""Protobuf encoding of OpenTelemetry SDK attributes, values, resources and scopes.

The SDK encoders (traces, metrics, logs) share this: attribute values become ``AnyValue`` bytes
the way the official exporter encodes them (the same type checks in the same order), key/value
pairs with scalar values are cached in their encoded form, and the encoded ``Resource`` and
``InstrumentationScope`` of a batch are computed once per object and reused.

Values the official encoder cannot encode (an integer outside int64, an unknown type) make it log
and drop that attribute; here they are dropped too, with one warning per batch.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from opentelemetry.attributes import BoundedAttributes

from otlpy.wire.protobuf_writer import LEN, VARINT, field_bytes, tag, varint

__all__ = [
    "AttributeEncoder",
    "InvalidValueError",
    "encode_any_value",
    "scope_block",
]

log = logging.getLogger(__name__)

_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1
_UINT64_MOD = 1 << 64
_pack_double = struct.Struct("<d").pack

# AnyValue field tags (common.proto): string 1, bool 2, int 3, double 4, array 5, kvlist 6, bytes 7
_STRING = tag(1, LEN)
_TRUE = tag(2, VARINT) + b"\x01"
_FALSE = tag(2, VARINT) + b"\x00"
_INT = tag(3, VARINT)
_DOUBLE = b"\x21"  # field 4, wire type fixed64
_ARRAY = tag(5, LEN)
_KVLIST = tag(6, LEN)
_BYTES = tag(7, LEN)
_VALUES = tag(1, LEN)  # ArrayValue.values and KeyValueList.values
_KEY = tag(1, LEN)  # KeyValue.key
_VALUE = tag(2, LEN)  # KeyValue.value

_CACHE_LIMIT = 4096


class InvalidValueError(ValueError):
    """An attribute value the OTLP encoding cannot represent."""


def encode_any_value(value: Any) -> bytes:
    """The ``AnyValue`` message body for an SDK value, as the official exporter encodes it."""
    kind = type(value)
    if kind is str:
        data: bytes = value.encode()
        return _STRING + varint(len(data)) + data
    if kind is bool:
        return _TRUE if value else _FALSE
    if kind is int:
        if _INT64_MIN <= value <= _INT64_MAX:
            return _INT + varint(value if value >= 0 else value + _UINT64_MOD)
        raise InvalidValueError(f"integer {value} does not fit in int64")
    if kind is float:
        return _DOUBLE + _pack_double(value)
    return _encode_other_value(value)


def _encode_other_value(value: Any) -> bytes:
    # The official encoder's isinstance chain, for subclasses and containers.
    if value is None:
        return b""
    if isinstance(value, bool):
        return _TRUE if value else _FALSE
    if isinstance(value, str):
        data = str(value).encode()
        return _STRING + varint(len(data)) + data
    if isinstance(value, int):
        return encode_any_value(int(value))
    if isinstance(value, float):
        return _DOUBLE + _pack_double(value)
    if isinstance(value, bytes):
        return field_bytes(_BYTES, value)
    if isinstance(value, Sequence):
        items = b"".join([field_bytes(_VALUES, encode_any_value(item)) for item in value])
        return field_bytes(_ARRAY, items)
    if isinstance(value, Mapping):
        pairs = b"".join([field_bytes(_VALUES, _key_value(str(k), v)) for k, v in value.items()])
        return field_bytes(_KVLIST, pairs)
    raise InvalidValueError(f"invalid type {type(value).__name__} of value {value!r}")


def _key_value(key: str, value: Any) -> bytes:
    data = str.encode(key)
    key_field = _KEY + varint(len(data)) + data if data else b""
    return key_field + field_bytes(_VALUE, encode_any_value(value))


class AttributeEncoder:
    """Encodes attribute mappings as repeated ``KeyValue`` fields, caching encoded pairs.

    One instance per field tag (span attributes are field 9, event attributes field 3, ...): a
    cached entry is the complete field, tag included, ready to append. Each cache is bounded
    (emptied when full), so unique values cost an insertion, never unbounded memory.
    """

    __slots__ = ("_by_type", "_keys", "_tag", "invalid")

    def __init__(self, field_number: int) -> None:
        self._tag = tag(field_number, LEN)
        # One cache per value type, keyed by the (key, value) pair itself: True == 1 == 1.0,
        # so a shared cache would hand an int the encoding of a bool.
        self._by_type: dict[type, dict[tuple[str, Any], bytes]] = {str: {}, int: {}, bool: {}}
        self._keys: dict[str, bytes] = {}
        #: attributes dropped because their value cannot be encoded, since the last reset
        self.invalid = 0

    def encode(self, attributes: Mapping[str, Any] | None, out: list[bytes]) -> None:
        """Append the encoded fields of SDK ``attributes`` to ``out``."""
        if type(attributes) is BoundedAttributes:
            # BoundedAttributes.items() runs a Python generator per pair; its dict is the truth.
            items: Iterable[tuple[str, Any]] = attributes._dict.items()
        elif not attributes:
            return
        else:
            items = attributes.items()
        strings = self._by_type[str].get
        by_type = self._by_type
        for item in items:
            # Strings first: no other value equals a string, so the pair can be looked up
            # before its type is known (the common case costs one lookup).
            try:
                encoded = strings(item)
            except TypeError:  # unhashable value (a list or dict in log attributes)
                encoded = None
            if encoded is None:
                cache = by_type.get(type(item[1]))
                if cache is not None:
                    encoded = cache.get(item)
                if encoded is None:
                    encoded = self._miss(item, cache)
                    if encoded is None:
                        continue
            out.append(encoded)

    def _miss(
        self, item: tuple[str, Any], cache: dict[tuple[str, Any], bytes] | None
    ) -> bytes | None:
        key, value = item
        key_field = self._keys.get(key)
        try:
            if key_field is None:
                data = str.encode(key)
                key_field = _KEY + varint(len(data)) + data if data else b""
                if len(self._keys) >= _CACHE_LIMIT:
                    self._keys.clear()
                self._keys[key] = key_field
            any_value = encode_any_value(value)
        except (InvalidValueError, TypeError, AttributeError, UnicodeError):
            self.invalid += 1
            return None
        body = key_field + _VALUE + varint(len(any_value)) + any_value
        encoded = self._tag + varint(len(body)) + body
        if cache is not None:
            if len(cache) >= _CACHE_LIMIT:
                cache.clear()
            cache[item] = encoded
        return encoded

    def report_invalid(self, what: str) -> None:
        """Log (once) how many attributes were dropped since the last call, and reset."""
        if self.invalid:
            log.warning(
                "dropped %d %s attributes whose values cannot be encoded", self.invalid, what
            )
            self.invalid = 0


# InstrumentationScope fields: name 1, version 2, attributes 3
_SCOPE_NAME = tag(1, LEN)
_SCOPE_VERSION = tag(2, LEN)
_scope_attributes = AttributeEncoder(3)


def scope_block(scope: Any) -> bytes:
    """The ``InstrumentationScope`` message body of an SDK scope (``None`` gives an empty one)."""
    if scope is None:
        return b""
    out: list[bytes] = []
    name = scope.name
    if name:
        out.append(field_bytes(_SCOPE_NAME, name.encode()))
    version = scope.version
    if version:
        out.append(field_bytes(_SCOPE_VERSION, version.encode()))
    _scope_attributes.encode(scope.attributes, out)
    _scope_attributes.report_invalid("scope")
    return b"".join(out)


_resource_attributes = AttributeEncoder(1)


def resource_block(resource: Any) -> bytes:
    """The ``Resource`` message body of an SDK resource (its attributes)."""
    out: list[bytes] = []
    _resource_attributes.encode(resource.attributes, out)
    _resource_attributes.report_invalid("resource")
    return b"".join(out)
