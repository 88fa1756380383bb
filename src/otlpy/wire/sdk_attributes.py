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
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from opentelemetry.attributes import BoundedAttributes

from otlpy.wire.protobuf_writer import LEN, VARINT, field_bytes, tag, varint

__all__ = [
    "AttributeEncoder",
    "InvalidValueError",
    "encode_any_value",
    "scope_block",
]

log = logging.getLogger(__name__)

_INT64_MIN: Final = -(1 << 63)
_INT64_MAX: Final = (1 << 63) - 1
_UINT64_MOD: Final = 1 << 64
_pack_double: Final = struct.Struct("<d").pack

# AnyValue field tags (common.proto): string 1, bool 2, int 3, double 4, array 5, kvlist 6, bytes 7
_STRING: Final = tag(1, LEN)
_TRUE: Final = tag(2, VARINT) + b"\x01"
_FALSE: Final = tag(2, VARINT) + b"\x00"
_INT: Final = tag(3, VARINT)
_DOUBLE: Final = b"\x21"  # field 4, wire type fixed64
_ARRAY: Final = tag(5, LEN)
_KVLIST: Final = tag(6, LEN)
_BYTES: Final = tag(7, LEN)
_VALUES: Final = tag(1, LEN)  # ArrayValue.values and KeyValueList.values
_KEY: Final = tag(1, LEN)  # KeyValue.key
_VALUE: Final = tag(2, LEN)  # KeyValue.value

_CACHE_LIMIT: Final = 4096  # entries per cache; with _CACHED_SIZE, about 1 MiB at most per cache
_CACHED_SIZE: Final = 192  # bytes of an encoded pair, at most, for it to be cached
_SMALL: Final = tuple(bytes((i,)) for i in range(0x80))
# KeyValue.value and AnyValue.string_value headers of an n-byte string, n < _SHORT (so that both
# lengths fit in one byte)
_SHORT: Final = 0x7E
_STRING_PAIR: Final = tuple(_VALUE + bytes((n + 2,)) + _STRING + bytes((n,)) for n in range(_SHORT))
# KeyValue.value and AnyValue.int_value headers of an n-byte varint
_INT_PAIR: Final = tuple(_VALUE + bytes((n + 1,)) + _INT for n in range(11))


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
    if isinstance(value, str):  # a subclass (StrEnum): its own characters, as protobuf takes them
        data = str.encode(value)
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


_BOUNDED_ATTRIBUTES: Final = BoundedAttributes


class AttributeEncoder:
    """Encodes attribute mappings as repeated ``KeyValue`` fields, caching encoded pairs.

    One instance per field tag (span attributes are field 9, event attributes field 3, ...): a
    cached entry is the complete field, tag included, ready to append. Each cache is bounded in
    entries (emptied when full) and holds only short pairs, so unique values cost an insertion,
    never unbounded memory. The keys whose values fill most of a cache (an id, a path, a size:
    values that rarely repeat) stop being cached, so they no longer empty the cache of the pairs
    that do repeat.
    """

    __slots__ = ("_bools", "_ints", "_keys", "_strings", "_tag", "_uncached", "invalid")

    def __init__(self, field_number: int) -> None:
        self._tag = tag(field_number, LEN)
        self._strings: dict[tuple[str, str], bytes] = {}
        self._ints: dict[tuple[str, int], bytes] = {}
        self._bools: dict[tuple[str, bool], bytes] = {}
        self._keys: dict[str, bytes] = {}
        # keys found to have too many distinct values to be worth caching
        self._uncached: set[str] = set()
        #: attributes dropped because their value cannot be encoded, since the last reset
        self.invalid = 0

    def encode(self, attributes: Any, out: list[bytes]) -> None:
        """Append the encoded fields of SDK ``attributes`` (a mapping, or None) to ``out``."""
        if type(attributes) is _BOUNDED_ATTRIBUTES:
            # BoundedAttributes.items() runs a Python generator per pair; its dict is the truth.
            items: Iterable[tuple[str, Any]] = attributes._dict.items()
        elif not attributes:
            return
        else:
            items = attributes.items()
        strings, ints, bools = self._strings, self._ints, self._bools
        for item in items:
            # The (key, value) pair itself is the cache key (no tuple to build), in a cache per
            # value type: True == 1 == 1.0, so a shared cache would mix them up.
            kind = type(item[1])
            if kind is str:
                encoded = strings.get(item)
            elif kind is int:
                encoded = ints.get(item)
            elif kind is bool:
                encoded = bools.get(item)
            else:
                encoded = None
            if encoded is None:
                encoded = self._miss(item, kind)
                if encoded is None:
                    continue
            out.append(encoded)

    def _miss(self, item: tuple[str, Any], kind: type) -> bytes | None:
        key, value = item
        try:
            key_field = self._keys.get(key)
            if key_field is None:
                data = str.encode(key)
                key_field = _KEY + varint(len(data)) + data if data else b""
                if len(self._keys) >= _CACHE_LIMIT:
                    self._keys.clear()
                    self._uncached.clear()
                self._keys[key] = key_field
            # the common misses, new short strings and numbers, skip the general encoder
            head = b""
            if kind is str and len(value) < _SHORT:
                data = value.encode()
                if len(data) < _SHORT:
                    head = _STRING_PAIR[len(data)]
                else:
                    data = field_bytes(_VALUE, encode_any_value(value))
            elif kind is int and 0 <= value <= _INT64_MAX:
                data = varint(value)
                head = _INT_PAIR[len(data)]
            else:
                data = field_bytes(_VALUE, encode_any_value(value))
        except (InvalidValueError, TypeError, AttributeError, UnicodeError):
            self.invalid += 1
            return None
        size = len(key_field) + len(head) + len(data)
        encoded = b"".join(
            (self._tag, _SMALL[size] if size < 0x80 else varint(size), key_field, head, data)
        )
        cache: dict[Any, bytes]
        # values of the set-aside keys, and long values (queries, stack traces), rarely repeat
        if key in self._uncached or size > _CACHED_SIZE:
            return encoded
        if kind is str:
            cache = self._strings
        elif kind is int:
            cache = self._ints
        elif kind is bool:
            cache = self._bools
        else:  # other values (floats, sequences, maps) are encoded every time
            return encoded
        if len(cache) >= _CACHE_LIMIT:
            self._evict(cache)
            if key in self._uncached:
                return encoded
        cache[item] = encoded
        return encoded

    def _evict(self, cache: dict[Any, bytes]) -> None:
        """Empty a full ``cache``, and stop caching the keys that filled most of it.

        The keys holding the most entries are set aside, largest first, until the others hold
        at most half the cache: those are what repeats. A key needs a sixteenth of the cache to
        be set aside, so a few hundred values that do repeat stay cached.
        """
        remaining = len(cache)
        for key, count in Counter(key for key, _ in cache).most_common():
            if remaining <= _CACHE_LIMIT // 2 or count <= _CACHE_LIMIT // 16:
                break
            if len(self._uncached) < _CACHE_LIMIT:
                self._uncached.add(key)
            remaining -= count
        cache.clear()

    def report_invalid(self, what: str) -> None:
        """Log (once) how many attributes were dropped since the last call, and reset."""
        if self.invalid:
            log.warning(
                "dropped %d %s attributes whose values cannot be encoded", self.invalid, what
            )
            self.invalid = 0


# InstrumentationScope fields: name 1, version 2, attributes 3
_SCOPE_NAME: Final = tag(1, LEN)
_SCOPE_VERSION: Final = tag(2, LEN)
_scope_attributes: Final = AttributeEncoder(3)


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


_resource_attributes: Final = AttributeEncoder(1)


def resource_block(resource: Any) -> bytes:
    """The ``Resource`` message body of an SDK resource (its attributes)."""
    out: list[bytes] = []
    _resource_attributes.encode(resource.attributes, out)
    _resource_attributes.report_invalid("resource")
    return b"".join(out)
