"""Hypothesis strategies for arbitrary OTLP protobuf messages, derived from their descriptors.

Every field of every message type is generated (oneofs pick one member, proto3 optional fields are
sometimes present with a default value), so new fields in a newer opentelemetry-proto are covered
without touching the tests. Ids get their OTLP sizes.
"""

from __future__ import annotations

import base64
import struct
from typing import Any

from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from hypothesis import strategies as st

F = FieldDescriptor
ID_SIZES = {"trace_id": 16, "span_id": 8, "parent_span_id": 8}
MAX_DEPTH = 4
_INT_RANGES = {
    F.TYPE_INT32: (-(1 << 31), (1 << 31) - 1),
    F.TYPE_SINT32: (-(1 << 31), (1 << 31) - 1),
    F.TYPE_SFIXED32: (-(1 << 31), (1 << 31) - 1),
    F.TYPE_UINT32: (0, (1 << 32) - 1),
    F.TYPE_FIXED32: (0, (1 << 32) - 1),
    F.TYPE_INT64: (-(1 << 63), (1 << 63) - 1),
    F.TYPE_SINT64: (-(1 << 63), (1 << 63) - 1),
    F.TYPE_SFIXED64: (-(1 << 63), (1 << 63) - 1),
    F.TYPE_UINT64: (0, (1 << 64) - 1),
    F.TYPE_FIXED64: (0, (1 << 64) - 1),
}


def scalar(field: FieldDescriptor) -> st.SearchStrategy[Any]:
    kind = field.type
    if kind == F.TYPE_STRING:
        return st.text(max_size=12)
    if kind == F.TYPE_BYTES:
        size = ID_SIZES.get(field.name)
        if size is not None:
            return st.just(b"") | st.binary(min_size=size, max_size=size)
        return st.binary(max_size=12)
    if kind == F.TYPE_BOOL:
        return st.booleans()
    if kind == F.TYPE_ENUM:
        known = [value.number for value in field.enum_type.values]
        return st.sampled_from(known) | st.integers(-3, 40)
    if kind in (F.TYPE_DOUBLE, F.TYPE_FLOAT):
        return st.floats(allow_nan=False, width=64 if kind == F.TYPE_DOUBLE else 32)
    low, high = _INT_RANGES[kind]
    return st.integers(low, high) | st.integers(0, 300)


def _field_value(field: FieldDescriptor, depth: int) -> st.SearchStrategy[Any]:
    if field.message_type is not None:
        item: st.SearchStrategy[Any] = st.deferred(lambda: messages(field.message_type, depth + 1))
    else:
        item = scalar(field)
    if field.is_repeated:
        return st.lists(item, max_size=3 if depth < MAX_DEPTH else 0)
    return item


@st.composite
def _message(draw: st.DrawFn, descriptor: Descriptor, depth: int) -> Any:
    message = message_factory.GetMessageClass(descriptor)()
    handled_oneofs: set[str] = set()
    for field in descriptor.fields:
        oneof = field.containing_oneof
        if oneof is not None and len(oneof.fields) > 1:
            if oneof.name in handled_oneofs:
                continue
            handled_oneofs.add(oneof.name)
            members = list(oneof.fields)
            if depth >= MAX_DEPTH:
                members = [m for m in members if m.message_type is None]
            choice = draw(st.none() | st.sampled_from(members))
            if choice is not None:
                _set(message, choice, draw(_field_value(choice, depth)))
            continue
        if field.message_type is not None and depth >= MAX_DEPTH:
            continue
        if draw(st.booleans()):
            _set(message, field, draw(_field_value(field, depth)))
    return message


def _set(message: Any, field: FieldDescriptor, value: Any) -> None:
    if field.is_repeated:
        container = getattr(message, field.name)
        if field.message_type is not None:
            for item in value:
                container.add().CopyFrom(item)
        else:
            container.extend(value)
    elif field.message_type is not None:
        getattr(message, field.name).CopyFrom(value)
    else:
        setattr(message, field.name, value)


def messages(descriptor: Descriptor, depth: int = 0) -> st.SearchStrategy[Any]:
    """Arbitrary messages of type ``descriptor`` (nesting stops at a few levels)."""
    return _message(descriptor, depth)


def hex_ids_to_base64(node: Any) -> Any:
    """OTLP JSON (hex ids) to proto3 JSON (base64 ids), for ``json_format.Parse``."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key in ("traceId", "spanId", "parentSpanId") and isinstance(value, str):
                out[key] = base64.b64encode(bytes.fromhex(value)).decode()
            else:
                out[key] = hex_ids_to_base64(value)
        return out
    if isinstance(node, list):
        return [hex_ids_to_base64(item) for item in node]
    return node


def base64_ids_to_hex(node: Any) -> Any:
    """proto3 JSON (base64 ids) to OTLP JSON (hex ids), for our decoder."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key in (
                "traceId",
                "spanId",
                "parentSpanId",
                "trace_id",
                "span_id",
                "parent_span_id",
            ):
                out[key] = base64.b64decode(value).hex() if isinstance(value, str) else value
            else:
                out[key] = base64_ids_to_hex(value)
        return out
    if isinstance(node, list):
        return [base64_ids_to_hex(item) for item in node]
    return node


# ---- arbitrary wire-format bytes, valid or not, for testing byte readers against protobuf's ----

_NATURAL_WIRE = {
    F.TYPE_DOUBLE: 1,
    F.TYPE_FIXED64: 1,
    F.TYPE_SFIXED64: 1,
    F.TYPE_FLOAT: 5,
    F.TYPE_FIXED32: 5,
    F.TYPE_SFIXED32: 5,
    F.TYPE_STRING: 2,
    F.TYPE_BYTES: 2,
    F.TYPE_MESSAGE: 2,
}
_SPECIAL_DOUBLES = [0.0, -0.0, 1.5, -2.25, float("nan"), float("inf"), float("-inf")]


def encode_varint(value: int) -> bytes:
    """The protobuf varint of ``value`` (negative numbers as their 64-bit two's complement)."""
    value &= (1 << 64) - 1
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def encode_tag(number: int, wire: int) -> bytes:
    return encode_varint(number << 3 | wire)


def natural_wire(field: FieldDescriptor) -> int:
    return _NATURAL_WIRE.get(field.type, 0)


def _wire_value(wire: int, field: FieldDescriptor | None, depth: int) -> st.SearchStrategy[bytes]:
    if wire == 0:
        return (st.integers(0, 300) | st.integers(-(1 << 63), (1 << 64) - 1)).map(encode_varint)
    if wire == 1:
        return st.binary(min_size=8, max_size=8) | st.sampled_from(_SPECIAL_DOUBLES).map(
            lambda number: struct.pack("<d", number)
        )
    if wire == 5:
        return st.binary(min_size=4, max_size=4)
    # length-delimited: what fits the field, mostly
    if field is not None and field.message_type is not None and depth < MAX_DEPTH:
        body = st.deferred(lambda: wire_bytes(field.message_type, depth + 1))
    elif field is not None and field.type == F.TYPE_STRING:
        body = st.text(max_size=8).map(str.encode) | st.binary(max_size=4)
    elif field is not None and field.is_repeated and natural_wire(field) != 2:
        item = _wire_value(natural_wire(field), None, depth)
        body = st.lists(item, max_size=4).map(b"".join)
    else:
        body = st.binary(max_size=10)
    return body.map(lambda data: encode_varint(len(data)) + data)


@st.composite
def _wire_field(draw: st.DrawFn, descriptor: Descriptor, depth: int) -> bytes:
    fields = list(descriptor.fields)
    field = draw(st.sampled_from(fields) | st.none()) if fields else None
    if field is None:  # an unknown field, maybe a group
        number = draw(st.integers(1, 40) | st.integers(1000, (1 << 29) - 1))
        if number in descriptor.fields_by_number:
            number = 1 << 28
        wire = draw(st.sampled_from([0, 1, 2, 3, 5]))
        if wire == 3:
            inner = draw(st.lists(_wire_value(0, None, depth), max_size=2))
            members = b"".join(encode_tag(1, 0) + value for value in inner)
            return encode_tag(number, 3) + members + encode_tag(number, 4)
        return encode_tag(number, wire) + draw(_wire_value(wire, None, depth))
    wire = natural_wire(field)
    if field.is_repeated and wire != 2 and draw(st.booleans()):
        wire = 2  # packed
    elif draw(st.integers(0, 9)) == 0:
        wire = draw(st.sampled_from([0, 1, 2, 5]))  # an unexpected wire type
    return encode_tag(field.number, wire) + draw(_wire_value(wire, field, depth))


def wire_bytes(descriptor: Descriptor, depth: int = 0) -> st.SearchStrategy[bytes]:
    """Serialized messages of type ``descriptor`` as no serializer writes them, and some broken.

    Fields come in any order and any number of times (so singular fields repeat, messages merge
    and oneof members follow each other), repeated numbers packed or not, unknown fields and
    groups among them, known fields with an unexpected wire type, and now and then bytes that
    are not a message at all (invalid UTF-8 in strings, odd trailing bytes).
    """
    fields = st.lists(_wire_field(descriptor, depth), max_size=5 if depth < MAX_DEPTH else 2)
    tail = st.just(b"") | st.binary(max_size=3) if depth == 0 else st.just(b"")
    return st.tuples(fields, tail).map(lambda parts: b"".join(parts[0]) + parts[1])
