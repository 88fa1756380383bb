"""OpenTelemetry SDK spans straight to an OTLP ``ExportTraceServiceRequest``, as bytes.

The official exporter builds a Python protobuf object per span, event, attribute and value, then
serializes them; that object building is nearly all of its cost. :func:`encode_spans` writes the
same wire format directly: tags are constants, attribute pairs and the resource and scope blocks
are cached in encoded form, and fields appear in field-number order as protobuf serializers write
them, so the result is byte-identical to ``encode_spans(spans).SerializeToString()`` of
``opentelemetry-exporter-otlp-proto-common`` (with one addition: a link's ``trace_state``, which
that encoder leaves out).

Spans are grouped by resource and then by instrumentation scope, in order of first appearance,
exactly as the official encoder groups them.
"""

from __future__ import annotations

import operator
import struct
from collections.abc import Callable, Sequence
from typing import Any, Final

from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace import Span as SdkSpan
from opentelemetry.sdk.util import BoundedList
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode
from opentelemetry.trace.span import DEFAULT_TRACE_STATE

from otlpy.pdata import Signal
from otlpy.wire.otlp_json import protobuf_to_json
from otlpy.wire.protobuf_writer import field_bytes, pack_fixed32, pack_fixed64, varint
from otlpy.wire.sdk_attributes import AttributeEncoder
from otlpy.wire.sdk_grouping import envelopes, group_by_resource_and_scope

__all__ = ["encode_spans", "encode_spans_json"]

# Span field tags (trace.proto), precomputed: each is (field_number << 3 | wire_type) as a varint.
_TRACE_ID: Final = b"\x0a\x10"  # 1: bytes, always 16 long
_SPAN_ID: Final = b"\x12\x08"  # 2: bytes, always 8 long
_TRACE_STATE: Final = b"\x1a"  # 3: string
_PARENT_SPAN_ID: Final = b"\x22\x08"  # 4: bytes, 8 long
_NAME: Final = b"\x2a"  # 5: string
_START: Final = b"\x39"  # 7: fixed64
_END: Final = b"\x41"  # 8: fixed64
_DROPPED_ATTRIBUTES: Final = b"\x50"  # 10: uint32
_EVENT: Final = b"\x5a"  # 11: message
_DROPPED_EVENTS: Final = b"\x60"  # 12: uint32
_LINK: Final = b"\x6a"  # 13: message
_DROPPED_LINKS: Final = b"\x70"  # 14: uint32
_STATUS: Final = b"\x7a"  # 15: message
_FLAGS: Final = b"\x85\x01"  # 16: fixed32
# Span.Event: time 1 (fixed64), name 2, attributes 3, dropped_attributes_count 4

_EVENT_NAME: Final = b"\x12"
_EVENT_DROPPED: Final = b"\x20"
_EVENT_TIME_FIELD: Final = struct.Struct("<BQ").pack
_EVENT_NAMES: Final[dict[str, bytes]] = {}  # encoded name fields; event names are few
# Span.Link: trace_id 1, span_id 2, trace_state 3, attributes 4, dropped 5, flags 6 (fixed32)
_LINK_TRACE_STATE: Final = b"\x1a"
_LINK_DROPPED: Final = b"\x28"
_LINK_FLAGS: Final = b"\x35"
# Status: message 2, code 3
_STATUS_MESSAGE: Final = b"\x12"
_STATUS_CODE: Final = b"\x18"
# ScopeSpans: scope 1, spans 2, schema_url 3; ResourceSpans: resource 1, scope_spans 2, schema 3
_SCOPE_SPAN: Final = b"\x12"

# SpanFlags: the official encoder always says whether the parent is remote
_HAS_IS_REMOTE: Final = 0x100
_IS_REMOTE: Final = 0x200
_FLAGS_LOCAL: Final = _FLAGS + pack_fixed32(_HAS_IS_REMOTE)
_FLAGS_REMOTE: Final = _FLAGS + pack_fixed32(_HAS_IS_REMOTE | _IS_REMOTE)

# Enum members are singletons, and hashing one runs Python code: these maps are keyed by id().
_STATUS_BY_CODE: Final = {
    id(code): field_bytes(_STATUS, _STATUS_CODE + varint(code.value) if code.value else b"")
    for code in StatusCode
}
_SMALL: Final = tuple(bytes((i,)) for i in range(0x80))

# SDK SpanKind values are OTLP's minus one (OTLP reserves 0 for "unspecified").
_KINDS: Final = {id(kind): b"\x30" + varint(kind.value + 1) for kind in SpanKind}
_KIND_VALUES: Final = {id(kind): kind.value + 1 for kind in SpanKind}
# kind (field 6, varint < 128), start (7, fixed64), end (8, fixed64)
_KIND_START_END: Final = struct.Struct("<BBBQBQ").pack
_EMPTY_TRACE_STATE: Final = DEFAULT_TRACE_STATE
# trace_id (field 1, 16 bytes), span_id (2, 8 bytes) [, parent_span_id (4, 8 bytes)], each tag
# and length written as one big-endian 16-bit number
_IDS: Final = struct.Struct(">HQQHQ").pack
_IDS_AND_PARENT: Final = struct.Struct(">HQQHQHQ").pack
_LOW64: Final = (1 << 64) - 1
_PARENT_TYPES: Final = frozenset({type(None), SpanContext})
_SPAN_NAMES: Final[dict[str, bytes]] = {}  # encoded name fields: span names repeat
# name -> (packer of a root span's head, of a child's, the encoded name field)
_SPAN_HEADS: Final[dict[str, tuple[Callable[..., bytes], Callable[..., bytes], bytes]]] = {}
# the tags of the ids and their lengths, as little-endian 16-bit numbers
_TRACE_ID_LE: Final = 0x100A
_SPAN_ID_LE: Final = 0x0812
_PARENT_SPAN_ID_LE: Final = 0x0822

# Exactly these types keep the fields the fast path reads; anything else goes through the
# public properties.
_SDK_SPAN_TYPES: Final = frozenset({ReadableSpan, SdkSpan, *SdkSpan.__subclasses__()})

# Module constants, so that the compiled module (see hatch_build.py) reads them without a
# dictionary lookup per use.
_BOUNDED_ATTRIBUTES: Final = BoundedAttributes
_BOUNDED_LIST: Final = BoundedList
_SPAN_CONTEXT: Final = SpanContext
_STATUS_TYPE: Final = Status
_EVENT_TYPE: Final = Event

# Whether this module runs compiled (see otlpy.wire._compiled): a few loops take the form that
# is fastest in each.
_COMPILED: Final = not __file__.endswith(".py")

_span_attributes: Final = AttributeEncoder(9)
_event_attributes: Final = AttributeEncoder(3)
_link_attributes: Final = AttributeEncoder(4)
encode_event_attributes: Final = _event_attributes.encode


class _SpanView:
    """The fields the encoder reads, taken from any ``ReadableSpan`` through its public API."""

    __slots__ = (
        "_attributes",
        "_context",
        "_end_time",
        "_events",
        "_kind",
        "_links",
        "_name",
        "_parent",
        "_start_time",
        "_status",
        "dropped_attributes",
        "dropped_events",
        "dropped_links",
    )

    def __init__(self, span: Any) -> None:
        self._context = span.get_span_context()
        self._parent = span.parent
        self._name = span.name
        self._kind = span.kind
        self._start_time = span.start_time
        self._end_time = span.end_time
        self._attributes = span.attributes
        self._events = span.events
        self._links = span.links
        self._status = span.status
        self.dropped_attributes = span.dropped_attributes
        self.dropped_events = span.dropped_events
        self.dropped_links = span.dropped_links


def _span_head_packers(name: str) -> tuple[Callable[..., bytes], Callable[..., bytes], bytes]:
    """Packers of the head of a span named ``name`` (cached: span names are few)."""
    name_field = field_bytes(_NAME, name.encode()) if name else b""
    size = len(name_field)
    # trace id, span id [, parent id], name, kind (field 6), start (7), end (8)
    root = struct.Struct(f"<H16sH8s{size}sBBBQBQ").pack
    child = struct.Struct(f"<H16sH8sH8s{size}sBBBQBQ").pack
    if len(_SPAN_HEADS) >= 1024:
        _SPAN_HEADS.clear()
    _SPAN_HEADS[name] = entry = (root, child, name_field)
    return entry


def _trace_state(trace_state: Any) -> bytes:
    text = ",".join(f"{key}={value}" for key, value in trace_state.items())
    return field_bytes(_TRACE_STATE, text.encode()) if text else b""


def _encode_span(span: Any) -> bytes:
    """One span as a ``ScopeSpans.spans`` field (tag, length, ``Span`` message)."""
    if type(span) in _SDK_SPAN_TYPES:
        # what the SDK's dropped_* properties compute, without the property calls
        attributes = span._attributes
        if type(attributes) is _BOUNDED_ATTRIBUTES:
            # its dict, not the mapping: the mapping's methods are Python code
            dropped_attributes = attributes.dropped
            attributes = attributes._dict
        else:
            dropped_attributes = 0
        events = span._events
        if type(events) is _BOUNDED_LIST:
            # iterating a BoundedList copies it under a lock; an ended span's no longer changes
            dropped_events = events.dropped
            events = events._dq  # type: ignore[attr-defined]
        else:
            dropped_events = 0
        links = span._links
        if type(links) is _BOUNDED_LIST:
            dropped_links = links.dropped
            links = links._dq  # type: ignore[attr-defined]
        else:
            dropped_links = 0
    else:
        span = _SpanView(span)
        attributes = span._attributes
        dropped_attributes = span.dropped_attributes
        events, dropped_events = span._events, span.dropped_events
        links, dropped_links = span._links, span.dropped_links
    context = span._context
    parent = span._parent
    start = span._start_time
    end = span._end_time
    if (
        type(context) is _SPAN_CONTEXT
        and type(parent) in _PARENT_TYPES
        and start
        and end
        and (context[4] is _EMPTY_TRACE_STATE or not context[4])
    ):
        # The common span: ids, name, kind, start and end in one pack, with a packer per name.
        # SpanContext is a tuple (trace_id, span_id, is_remote, flags, state, valid): indexing
        # beats property calls.
        name = span._name
        packers = _SPAN_HEADS.get(name)
        if packers is None:
            packers = _span_head_packers(name)
        kind = _KIND_VALUES[id(span._kind)]
        if parent is None:
            head = packers[0](
                _TRACE_ID_LE,
                context[0].to_bytes(16, "big"),
                _SPAN_ID_LE,
                context[1].to_bytes(8, "big"),
                packers[2],
                0x30,
                kind,
                0x39,
                start,
                0x41,
                end,
            )
            flags = _FLAGS_LOCAL
        else:
            head = packers[1](
                _TRACE_ID_LE,
                context[0].to_bytes(16, "big"),
                _SPAN_ID_LE,
                context[1].to_bytes(8, "big"),
                _PARENT_SPAN_ID_LE,
                parent[1].to_bytes(8, "big"),
                packers[2],
                0x30,
                kind,
                0x39,
                start,
                0x41,
                end,
            )
            flags = _FLAGS_REMOTE if parent[2] else _FLAGS_LOCAL
    else:
        head, flags = _span_head(span, context, parent, start, end)
    # compiled, out[0] becomes the field's tag and length once the size is known: the span is
    # then joined once, with no copy of its body to prepend them
    out: list[bytes] = [b"", head]
    if attributes:
        _span_attributes.encode(attributes, out)
    if dropped_attributes:
        out.append(_DROPPED_ATTRIBUTES + varint(dropped_attributes))
    for event in events:
        if type(event) is _EVENT_TYPE:
            # the common event, inline: its fields, not its properties
            attrs = event._attributes
            name = event._name
            event_head = _EVENT_NAMES.get(name)
            if event_head is None:
                event_head = _event_name(name)
            timestamp = event._timestamp
            if timestamp:
                event_head = _EVENT_TIME_FIELD(0x09, timestamp) + event_head
            # compiled, the event's pieces go straight into the span's (its tag and length are
            # filled in once its size is known); interpreted, joining them is cheaper
            at = len(out)
            if _COMPILED:
                out.append(b"")
                out.append(event_head)
                pieces = out
            else:
                pieces = [event_head]
            if type(attrs) is _BOUNDED_ATTRIBUTES:
                encode_event_attributes(attrs._dict, pieces)
                if attrs.dropped:
                    pieces.append(_EVENT_DROPPED + varint(attrs.dropped))
            elif attrs:
                encode_event_attributes(attrs, pieces)
            if _COMPILED:
                size = _size_from(out, at + 1)
                out[at] = _EVENT + (_SMALL[size] if size < 0x80 else varint(size))
            else:
                body = b"".join(pieces)
                size = len(body)
                out.append(_EVENT + (_SMALL[size] if size < 0x80 else varint(size)) + body)
        else:
            out.append(_encode_event(event))
    if dropped_events:
        out.append(_DROPPED_EVENTS + varint(dropped_events))
    for link in links:
        out.append(field_bytes(_LINK, _encode_link(link)))
    if dropped_links:
        out.append(_DROPPED_LINKS + varint(dropped_links))
    status = span._status
    if status is not None:
        if type(status) is _STATUS_TYPE:
            description, code = status._description, status._status_code
        else:
            description, code = status.description, status.status_code
        out.append(_encode_status(description, code) if description else _STATUS_BY_CODE[id(code)])
    out.append(flags)
    if _COMPILED:
        size = _size_from(out, 1)
        out[0] = _SCOPE_SPAN + (_SMALL[size] if size < 0x80 else varint(size))
        return b"".join(out)
    body = b"".join(out)  # out[0] is still empty
    size = len(body)
    return _SCOPE_SPAN + (_SMALL[size] if size < 0x80 else varint(size)) + body


def _size_from(pieces: list[bytes], start: int) -> int:
    """The total length of ``pieces[start:]`` (a native loop, once compiled)."""
    size = 0
    for index in range(start, len(pieces)):
        size += len(pieces[index])
    return size


def _span_head(
    span: Any, context: Any, parent: Any, start: int | None, end: int | None
) -> tuple[bytes, bytes]:
    """A span's ids, trace state, name, kind and times, and its flags field: the general case."""
    if type(context) is _SPAN_CONTEXT and type(parent) in _PARENT_TYPES:
        # SpanContext is a tuple (trace_id, span_id, is_remote, flags, state, valid): indexing
        # beats property calls, and one pack writes both ids (and the parent's) with their tags
        trace_id = context[0]
        trace_state = context[4]
        if parent is None:
            head = _IDS(0x0A10, trace_id >> 64, trace_id & _LOW64, 0x1208, context[1])
            flags = _FLAGS_LOCAL
        else:
            head = _IDS_AND_PARENT(
                0x0A10, trace_id >> 64, trace_id & _LOW64, 0x1208, context[1], 0x2208, parent[1]
            )
            flags = _FLAGS_REMOTE if parent[2] else _FLAGS_LOCAL
        if trace_state is not _EMPTY_TRACE_STATE and trace_state:
            # the state (field 3) goes between the span id and the parent id
            head = head[:28] + _trace_state(trace_state) + head[28:]
    else:
        head = (
            _TRACE_ID
            + context.trace_id.to_bytes(16, "big")
            + _SPAN_ID
            + context.span_id.to_bytes(8, "big")
        )
        trace_state = context.trace_state
        if trace_state:
            head += _trace_state(trace_state)
        flags = _FLAGS_LOCAL
        if parent is not None:
            head += _PARENT_SPAN_ID + parent.span_id.to_bytes(8, "big")
            if parent.is_remote:
                flags = _FLAGS_REMOTE
    name = span._name
    name_field = _SPAN_NAMES.get(name)
    if name_field is None:
        name_field = field_bytes(_NAME, name.encode()) if name else b""
        if len(_SPAN_NAMES) >= 4096:
            _SPAN_NAMES.clear()
        _SPAN_NAMES[name] = name_field
    head += name_field
    if start and end:  # an ended span: kind, start and end in one pack
        head += _KIND_START_END(0x30, _KIND_VALUES[id(span._kind)], 0x39, start, 0x41, end)
    else:
        head += _KINDS[id(span._kind)]
        if start:
            head += _START + pack_fixed64(start)
        if end:
            head += _END + pack_fixed64(end)
    return head, flags


def _encode_event(event: Any) -> bytes:
    """One event as a span's ``events`` field."""
    if type(event) is _EVENT_TYPE:
        timestamp, name, attributes = event._timestamp, event._name, event._attributes
        dropped = attributes.dropped if type(attributes) is _BOUNDED_ATTRIBUTES else 0
    else:
        timestamp, name, attributes = event.timestamp, event.name, event.attributes
        dropped = event.dropped_attributes
    head = _EVENT_NAMES.get(name)
    if head is None:
        head = _event_name(name)
    if timestamp:
        head = _EVENT_TIME_FIELD(0x09, timestamp) + head
    out = [head]
    _event_attributes.encode(attributes, out)
    if dropped:
        out.append(_EVENT_DROPPED + varint(dropped))
    body = b"".join(out)
    size = len(body)
    return _EVENT + (_SMALL[size] if size < 0x80 else varint(size)) + body


def _event_name(name: str) -> bytes:
    """An event's encoded ``name`` field, cached: event names are few."""
    head = field_bytes(_EVENT_NAME, name.encode()) if name else b""
    if len(_EVENT_NAMES) >= 1024:
        _EVENT_NAMES.clear()
    _EVENT_NAMES[name] = head
    return head


def _encode_link(link: Any) -> bytes:
    context = link.context
    out = [
        _TRACE_ID,
        context.trace_id.to_bytes(16, "big"),
        _SPAN_ID,
        context.span_id.to_bytes(8, "big"),
    ]
    trace_state = context.trace_state
    if trace_state:
        out.append(_trace_state(trace_state))
    attributes = link.attributes
    _link_attributes.encode(attributes, out)
    dropped = getattr(attributes, "dropped", 0)
    if dropped:
        out.append(_LINK_DROPPED + varint(dropped))
    flags = _HAS_IS_REMOTE | _IS_REMOTE if context.is_remote else _HAS_IS_REMOTE
    out.append(_LINK_FLAGS + pack_fixed32(flags))
    return b"".join(out)


def _encode_status(description: str, code: Any) -> bytes:
    """A span's ``status`` field with a description."""
    body = field_bytes(_STATUS_MESSAGE, description.encode())
    if code.value:
        body += _STATUS_CODE + varint(code.value)
    return field_bytes(_STATUS, body)


def encode_spans(spans: Sequence[ReadableSpan]) -> bytes:
    """Serialize SDK spans as an ``ExportTraceServiceRequest`` (protobuf bytes).

    ::

        body = encode_spans(spans)  # what an OTLP exporter POSTs to /v1/traces
    """
    # SDK spans are read through their fields, others through the public properties
    fields = set(map(type, spans)) <= _SDK_SPAN_TYPES
    groups = group_by_resource_and_scope(
        spans, _sdk_resource_and_scope if fields else _resource_and_scope
    )
    parts: list[bytes] = []
    for resource, scopes in groups:
        scope_groups: list[bytes] = []
        size = 0
        for scope, members in scopes:
            encoded = [_encode_span(span) for span in members]
            size += envelopes.scope_group(scope, encoded, scope_groups)
        parts += envelopes.resource_group(resource, scope_groups, size)
    _span_attributes.report_invalid("span")
    _event_attributes.report_invalid("event")
    _link_attributes.report_invalid("link")
    return b"".join(parts)


_resource_and_scope: Final = operator.attrgetter("resource", "instrumentation_scope")
_sdk_resource_and_scope: Final = operator.attrgetter("_resource", "_instrumentation_scope")


def encode_spans_json(spans: Sequence[ReadableSpan]) -> bytes:
    """Serialize SDK spans as an OTLP/JSON ``ExportTraceServiceRequest`` (UTF-8 bytes)."""
    return protobuf_to_json(Signal.TRACES, encode_spans(spans))
