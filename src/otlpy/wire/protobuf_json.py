"""Serialized OTLP protobuf straight to OTLP/JSON-ready dicts, without building messages.

Reading a upb message field by field from Python makes a wrapper object per field; the bytes
say the same thing for far less. This module walks the protobuf wire format itself, guided by a
small table per message type built once from its descriptor (field number -> JSON key, kind,
nested table), and emits the tree of dicts, lists, strings and numbers that
``json_encoder.converter_for`` emits for the parsed message, ready for ``orjson``::

    tree = to_json_dict(schema_for(ExportTraceServiceRequest.DESCRIPTOR), raw)

It is written for mypyc (the build compiles it): plain functions and classes with typed
attributes, integer arithmetic on ``bytes`` indexing, no generated code.

The output follows the OTLP JSON mapping: lowerCamelCase keys, lowercase hex trace and span ids,
integer enums, 64-bit integers as decimal strings, other bytes as base64, non-finite doubles as
``"NaN"``, ``"Infinity"`` and ``"-Infinity"``, and fields holding their default value left out
(except fields with explicit presence). Reading follows protobuf's parser: the last value of a
singular field wins, a singular message that occurs twice is merged, a oneof keeps its last
member, repeated numbers are accepted packed and unpacked, unknown fields (and known fields with
an unexpected wire type) are skipped. Bytes protobuf would refuse (truncated values, invalid
wire types, invalid UTF-8 in strings, more than :data:`MAX_DEPTH` levels of messages) raise
:class:`~otlpy.errors.PermanentError`.

Attribute lists are most of OTLP data and repeat across items: a ``KeyValue`` of at most
192 bytes is looked up by its bytes (a slice of the input) in a bounded cache before it is read.
"""

from __future__ import annotations

import binascii
import math
import struct
import threading
from typing import Any, Final

from otlpy.errors import PermanentError

__all__ = ["MAX_DEPTH", "Schema", "schema_for", "to_json_dict"]

#: levels of nested messages accepted, as protobuf's own parser (upb) accepts
MAX_DEPTH: Final = 100

# wire types
_VARINT: Final = 0
_I64: Final = 1
_LEN: Final = 2
_START_GROUP: Final = 3
_END_GROUP: Final = 4
_I32: Final = 5

# field kinds: how the wire value becomes its JSON value
_INT32: Final = 0  # int32 and enums: the low 32 bits of the varint, signed
_UINT32: Final = 1
_SINT32: Final = 2
_INT64: Final = 3  # 64-bit integers are decimal strings in JSON
_UINT64: Final = 4
_SINT64: Final = 5
_BOOL: Final = 6
_FIXED32: Final = 7
_SFIXED32: Final = 8
_FLOAT: Final = 9
_FIXED64: Final = 10
_SFIXED64: Final = 11
_DOUBLE: Final = 12
_STRING: Final = 13
_BYTES: Final = 14  # base64
_HEX_ID: Final = 15  # trace and span ids: lowercase hex
_MESSAGE: Final = 16

_MASK32: Final = 0xFFFFFFFF
_MASK64: Final = 0xFFFFFFFFFFFFFFFF
_SIGN32: Final = 0x80000000
_SIGN64: Final = 0x8000000000000000

_ID_FIELDS: Final = frozenset({"trace_id", "span_id", "parent_span_id"})
_KEY_VALUE: Final = "opentelemetry.proto.common.v1.KeyValue"
# field numbers below this are found by list index, the others in a dict
_DENSE_LIMIT: Final = 64

_KV_CACHE_LIMIT: Final = 8192
_KV_CACHED_SIZE: Final = 192  # bytes of a serialized pair, at most, for it to be cached

_unpack_double: Final = struct.Struct("<d").unpack_from
_unpack_float: Final = struct.Struct("<f").unpack_from


class _Field:
    """How one field of a message type is read and where its value goes."""

    def __init__(self, number: int, key: str, kind: int, wire: int) -> None:
        self.number = number
        self.key = key
        self.kind = kind
        #: the wire type its values come in (repeated numbers also come packed, as _LEN)
        self.wire = wire
        self.repeated = False
        #: whether a default value is still written out (explicit presence)
        self.presence = False
        #: a repeated KeyValue: pairs go through the cache
        self.key_value = False
        self.message: Schema | None = None
        #: the JSON keys of the other members of its oneof, removed when this one is set
        self.siblings: list[str] = []
        #: their tags: a merge of this member restarts after any of them
        self.sibling_tags: list[int] = []


class Schema:
    """The fields of one message type, by field number."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.dense: list[_Field | None] = []
        self.sparse: dict[int, _Field] = {}

    def add(self, field: _Field) -> None:
        """Make ``field`` known by its number."""
        number = field.number
        if number < _DENSE_LIMIT:
            while len(self.dense) <= number:
                self.dense.append(None)
            self.dense[number] = field
        else:
            self.sparse[number] = field


def _kind(field: Any) -> tuple[int, int]:
    """The kind and wire type of the descriptor ``field``."""
    type_ = int(field.type)
    # google.protobuf.descriptor.FieldDescriptor.TYPE_* numbers (descriptor.proto)
    if type_ in (5, 14):  # int32, enum
        return _INT32, _VARINT
    if type_ == 13:
        return _UINT32, _VARINT
    if type_ == 17:
        return _SINT32, _VARINT
    if type_ == 3:
        return _INT64, _VARINT
    if type_ == 4:
        return _UINT64, _VARINT
    if type_ == 18:
        return _SINT64, _VARINT
    if type_ == 8:
        return _BOOL, _VARINT
    if type_ == 7:
        return _FIXED32, _I32
    if type_ == 15:
        return _SFIXED32, _I32
    if type_ == 2:
        return _FLOAT, _I32
    if type_ == 6:
        return _FIXED64, _I64
    if type_ == 16:
        return _SFIXED64, _I64
    if type_ == 1:
        return _DOUBLE, _I64
    if type_ == 9:
        return _STRING, _LEN
    if type_ == 12:
        return (_HEX_ID if field.name in _ID_FIELDS else _BYTES), _LEN
    if type_ in (11, 10):  # message, group (no OTLP type has groups)
        return _MESSAGE, _LEN
    raise ValueError(f"unsupported field type {type_} of {field.full_name}")


_schemas: dict[str, Schema] = {}
_lock = threading.Lock()


def _build(descriptor: Any, pending: dict[str, Schema]) -> Schema:
    name = str(descriptor.full_name)
    known = _schemas.get(name) or pending.get(name)
    if known is not None:
        return known
    schema = Schema(name)
    pending[name] = schema  # before its fields: message types refer to each other
    for descriptor_field in descriptor.fields:
        kind, wire = _kind(descriptor_field)
        field = _Field(int(descriptor_field.number), str(descriptor_field.json_name), kind, wire)
        field.repeated = bool(descriptor_field.is_repeated)
        field.presence = bool(descriptor_field.has_presence)
        if kind == _MESSAGE:
            nested = descriptor_field.message_type
            field.message = _build(nested, pending)
            field.key_value = field.repeated and nested.full_name == _KEY_VALUE
        oneof = descriptor_field.containing_oneof
        if oneof is not None and len(oneof.fields) > 1:  # a real oneof, not proto3 optional
            for member in oneof.fields:
                if member.number != descriptor_field.number:
                    field.siblings.append(str(member.json_name))
                    member_wire = _kind(member)[1]
                    field.sibling_tags.append(int(member.number) << 3 | member_wire)
        schema.add(field)
    return schema


def schema_for(descriptor: Any) -> Schema:
    """The reading table of the message type ``descriptor`` (built once, then shared)."""
    schema = _schemas.get(descriptor.full_name)
    if schema is None:
        with _lock:
            pending: dict[str, Schema] = {}
            schema = _build(descriptor, pending)
            _schemas.update(pending)  # published only once complete
    return schema


def to_json_dict(schema: Schema, data: bytes | bytearray | memoryview) -> dict[str, Any]:
    """The OTLP/JSON form of the serialized message ``data`` of type ``schema``.

    Parts of the result are shared with a cache: treat it as read-only. Raises
    :class:`PermanentError` when ``data`` is not a valid serialized message.
    """
    raw = data if type(data) is bytes else bytes(data)
    return _message(schema, raw, 0, len(raw), 0)


# ---- errors -----------------------------------------------------------------------------------


def _truncated(schema: Schema, pos: int) -> PermanentError:
    return PermanentError(f"malformed protobuf: {schema.name} truncated at byte {pos}")


def _malformed(schema: Schema, pos: int, what: str) -> PermanentError:
    return PermanentError(f"malformed protobuf: {what} in {schema.name} at byte {pos}")


# ---- reading ----------------------------------------------------------------------------------


def _varint(schema: Schema, data: bytes, pos: int, end: int) -> tuple[int, int]:
    """The varint at ``pos`` (at most 64 bits kept, as protobuf does) and the position after it."""
    result = 0
    shift = 0
    while True:
        if pos >= end:
            raise _truncated(schema, pos)
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result & _MASK64, pos
        shift += 7
        if shift >= 70:
            raise _malformed(schema, pos, "a varint longer than 10 bytes")


def _fixed32(data: bytes, pos: int) -> int:
    return data[pos] | data[pos + 1] << 8 | data[pos + 2] << 16 | data[pos + 3] << 24


def _fixed64(data: bytes, pos: int) -> int:
    low = data[pos] | data[pos + 1] << 8 | data[pos + 2] << 16 | data[pos + 3] << 24
    high = data[pos + 4] | data[pos + 5] << 8 | data[pos + 6] << 16 | data[pos + 7] << 24
    return low | high << 32


def _double(number: float) -> Any:
    if math.isfinite(number):
        return number
    if math.isnan(number):
        return "NaN"
    return "Infinity" if number > 0 else "-Infinity"


def _is_default_double(number: float) -> bool:
    # -0.0 is not the default on the wire, so it is written out like any other value
    return number == 0.0 and math.copysign(1.0, number) > 0


def _number(schema: Schema, kind: int, data: bytes, pos: int, end: int) -> tuple[Any, int, bool]:
    """A numeric value of ``kind`` at ``pos``: (JSON value, position after, is the default)."""
    if kind <= _BOOL:  # the varint kinds
        if pos < end and data[pos] < 0x80:
            raw = data[pos]
            pos += 1
        else:
            raw, pos = _varint(schema, data, pos, end)
        if kind == _INT32:
            value = raw & _MASK32
            if value >= _SIGN32:
                value -= 1 << 32
            return value, pos, value == 0
        if kind == _UINT32:
            value = raw & _MASK32
            return value, pos, value == 0
        if kind == _SINT32:
            value = raw & _MASK32
            value = (value >> 1) ^ -(value & 1)
            return value, pos, value == 0
        if kind == _INT64:
            if raw >= _SIGN64:
                raw -= 1 << 64
            return str(raw), pos, raw == 0
        if kind == _UINT64:
            return str(raw), pos, raw == 0
        if kind == _SINT64:
            value = (raw >> 1) ^ -(raw & 1)
            return str(value), pos, value == 0
        return raw != 0, pos, raw == 0  # bool
    if kind <= _FLOAT:  # the 4-byte kinds
        if pos + 4 > end:
            raise _truncated(schema, end)
        if kind == _FLOAT:
            number: float = _unpack_float(data, pos)[0]
            return _double(number), pos + 4, _is_default_double(number)
        value = _fixed32(data, pos)
        if kind == _SFIXED32 and value >= _SIGN32:
            value -= 1 << 32
        return value, pos + 4, value == 0
    if pos + 8 > end:  # the 8-byte kinds
        raise _truncated(schema, end)
    if kind == _DOUBLE:
        number = _unpack_double(data, pos)[0]
        return _double(number), pos + 8, _is_default_double(number)
    value = _fixed64(data, pos)
    if kind == _SFIXED64 and value >= _SIGN64:
        value -= 1 << 64
    return str(value), pos + 8, value == 0


def _text(schema: Schema, kind: int, data: bytes, pos: int, stop: int) -> Any:
    """The JSON value of a string or bytes field held in ``data[pos:stop]``."""
    chunk = data[pos:stop]
    if kind == _STRING:
        try:
            return chunk.decode()
        except UnicodeDecodeError as exc:
            raise _malformed(schema, pos, "invalid UTF-8 in a string") from exc
    if kind == _HEX_ID:
        return chunk.hex()
    return binascii.b2a_base64(chunk, newline=False).decode("ascii")


def _skip(
    schema: Schema, data: bytes, pos: int, end: int, number: int, wire: int, depth: int
) -> int:
    """The position after the value of an unknown field (groups count as nesting)."""
    if wire == _VARINT:
        pos = _varint(schema, data, pos, end)[1]
    elif wire == _I64:
        pos += 8
    elif wire == _LEN:
        length, pos = _varint(schema, data, pos, end)
        pos += length
    elif wire == _I32:
        pos += 4
    elif wire == _START_GROUP:
        if depth >= MAX_DEPTH:
            raise _malformed(schema, pos, f"groups nested more than {MAX_DEPTH} deep")
        while True:
            tag, pos = _varint(schema, data, pos, end)
            if tag & 7 == _END_GROUP:
                if tag >> 3 != number:
                    raise _malformed(schema, pos, "a group closed by the wrong field number")
                break
            if tag >> 3 == 0:
                raise _malformed(schema, pos, "field number 0")
            pos = _skip(schema, data, pos, end, tag >> 3, tag & 7, depth + 1)
    else:
        raise _malformed(schema, pos, f"wire type {wire} of field {number}")
    if pos > end:
        raise _truncated(schema, end)
    return pos


def _occurrences(schema: Schema, data: bytes, pos: int, end: int, field: _Field) -> bytes:
    """The concatenated bodies of every occurrence of message ``field`` in ``data[pos:end]``.

    Protobuf merges the occurrences of a singular message field; merging is what parsing their
    concatenation gives. A oneof member starts afresh after another member of its oneof.
    """
    parts: list[bytes] = []
    while pos < end:
        tag, pos = _varint(schema, data, pos, end)
        number = tag >> 3
        wire = tag & 7
        if number == field.number and wire == _LEN:
            length, pos = _varint(schema, data, pos, end)
            parts.append(data[pos : pos + length])
            pos += length
            continue
        if tag in field.sibling_tags:  # with another wire type it is an unknown field
            parts.clear()
        pos = _skip(schema, data, pos, end, number, wire, 1)
    return b"".join(parts)


def _key_value(schema: Schema, data: bytes, pos: int, stop: int, depth: int) -> dict[str, Any]:
    if stop - pos > _KV_CACHED_SIZE:  # long values rarely repeat
        return _message(schema, data, pos, stop, depth)
    encoded = data[pos:stop]
    converted = _kv_cache.get(encoded)
    if converted is None:
        converted = _message(schema, data, pos, stop, depth)
        if len(_kv_cache) >= _KV_CACHE_LIMIT:
            _kv_cache.clear()
        _kv_cache[encoded] = converted
    return converted


_kv_cache: dict[bytes, dict[str, Any]] = {}


def _message(schema: Schema, data: bytes, pos: int, end: int, depth: int) -> dict[str, Any]:
    """The JSON object of the message of type ``schema`` held in ``data[pos:end]``."""
    if depth > MAX_DEPTH:
        raise _malformed(schema, pos, f"messages nested more than {MAX_DEPTH} deep")
    out: dict[str, Any] = {}
    begin = pos
    dense = schema.dense
    dense_count = len(dense)
    while pos < end:
        tag = data[pos]
        if tag < 0x80:
            pos += 1
        else:
            tag, pos = _varint(schema, data, pos, end)
            if tag > _MASK32:
                raise _malformed(schema, pos, "a tag longer than 32 bits")
        number = tag >> 3
        wire = tag & 7
        field = dense[number] if number < dense_count else schema.sparse.get(number)
        if field is None or (field.wire != wire and not (field.repeated and wire == _LEN)):
            # unknown, or known with another wire type: protobuf keeps it as an unknown field
            if number == 0:
                raise _malformed(schema, pos, "field number 0")
            pos = _skip(schema, data, pos, end, number, wire, depth)
            continue
        if wire != _LEN:
            value, pos, default = _number(schema, field.kind, data, pos, end)
            if field.repeated:
                items: list[Any] | None = out.get(field.key)
                if items is None:
                    out[field.key] = [value]
                else:
                    items.append(value)
            elif default and not field.presence:
                if field.key in out:  # a later default value replaces an earlier one
                    del out[field.key]
            else:
                if field.siblings:
                    _leave_oneof(out, field)
                out[field.key] = value
            continue
        if pos < end and data[pos] < 0x80:
            length = data[pos]
            pos += 1
        else:
            length, pos = _varint(schema, data, pos, end)
        stop = pos + length
        if stop > end:
            raise _truncated(schema, end)
        kind = field.kind
        if kind == _MESSAGE:
            nested = field.message
            assert nested is not None
            if field.repeated:
                if field.key_value:
                    value = _key_value(nested, data, pos, stop, depth + 1)
                else:
                    value = _message(nested, data, pos, stop, depth + 1)
                items = out.get(field.key)
                if items is None:
                    out[field.key] = [value]
                else:
                    items.append(value)
            else:
                if field.key in out:  # seen before: protobuf merges the occurrences
                    merged = _occurrences(schema, data, begin, stop, field)
                    value = _message(nested, merged, 0, len(merged), depth + 1)
                else:
                    value = _message(nested, data, pos, stop, depth + 1)
                if field.siblings:
                    _leave_oneof(out, field)
                out[field.key] = value
        elif field.wire != _LEN:  # packed numbers
            items = out.get(field.key)
            while pos < stop:
                value, pos, _ = _number(schema, kind, data, pos, stop)
                if items is None:
                    items = [value]
                    out[field.key] = items
                else:
                    items.append(value)
        elif field.repeated:
            value = _text(schema, kind, data, pos, stop)
            items = out.get(field.key)
            if items is None:
                out[field.key] = [value]
            else:
                items.append(value)
        elif length == 0 and not field.presence:
            if field.key in out:
                del out[field.key]
        else:
            if field.siblings:
                _leave_oneof(out, field)
            out[field.key] = _text(schema, kind, data, pos, stop)
        pos = stop
    if pos > end:
        raise _truncated(schema, end)
    return out


def _leave_oneof(out: dict[str, Any], field: _Field) -> None:
    """Remove the other members of ``field``'s oneof: the last member read wins."""
    if out:
        for key in field.siblings:
            out.pop(key, None)
