"""OpenTelemetry SDK log records straight to an OTLP ``ExportLogsServiceRequest``, as bytes.

:func:`encode_logs` takes what the SDK hands a log exporter (``ReadableLogRecord`` objects, SDK
1.45) and writes the bytes ``encode_logs(batch).SerializeToString()`` of the official
``opentelemetry-exporter-otlp-proto-common`` gives, without building protobuf objects. Bodies and
attributes may hold nested maps, sequences and bytes.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any

from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk._logs import ReadableLogRecord

from otlpy.pdata import Signal
from otlpy.wire.otlp_json import protobuf_to_json
from otlpy.wire.protobuf_writer import field_bytes, pack_fixed32, pack_fixed64, varint
from otlpy.wire.sdk_attributes import AttributeEncoder, encode_any_value
from otlpy.wire.sdk_grouping import envelopes, group_by_resource_and_scope

__all__ = ["encode_logs", "encode_logs_json"]

# LogRecord field tags (logs.proto)
_TIME = b"\x09"  # 1: fixed64
_SEVERITY_NUMBER = b"\x10"  # 2: enum
_SEVERITY_TEXT = b"\x1a"  # 3: string
_BODY = b"\x2a"  # 5: AnyValue
_DROPPED_ATTRIBUTES = b"\x38"  # 7: uint32
_FLAGS = b"\x45"  # 8: fixed32
_TRACE_ID = b"\x4a\x10"  # 9: bytes, 16 long
_SPAN_ID = b"\x52\x08"  # 10: bytes, 8 long
_OBSERVED_TIME = b"\x59"  # 11: fixed64
_EVENT_NAME = b"\x62"  # 12: string
_LOG_RECORD = b"\x12"  # ScopeLogs.log_records: 2

_log_attributes = AttributeEncoder(6)
_resource_and_scope = operator.attrgetter("resource", "instrumentation_scope")


def _encode_log(readable: Any) -> bytes:
    """One ``LogRecord`` message body."""
    record = readable.log_record
    out = []
    timestamp = record.timestamp
    if timestamp:
        out.append(_TIME + pack_fixed64(timestamp))
    severity = record.severity_number
    if severity is not None and severity.value:
        out.append(_SEVERITY_NUMBER + varint(severity.value))
    text = record.severity_text
    if text:
        out.append(field_bytes(_SEVERITY_TEXT, text.encode()))
    out.append(field_bytes(_BODY, encode_any_value(record.body)))
    attributes = record.attributes
    _log_attributes.encode(attributes, out)
    dropped = attributes.dropped if type(attributes) is BoundedAttributes else 0
    if dropped:
        out.append(_DROPPED_ATTRIBUTES + varint(dropped))
    flags = int(record.trace_flags)
    if flags:
        out.append(_FLAGS + pack_fixed32(flags))
    trace_id = record.trace_id
    if trace_id:
        out.append(_TRACE_ID + trace_id.to_bytes(16, "big"))
    span_id = record.span_id
    if span_id:
        out.append(_SPAN_ID + span_id.to_bytes(8, "big"))
    observed = record.observed_timestamp
    if observed:
        out.append(_OBSERVED_TIME + pack_fixed64(observed))
    event_name = record.event_name
    if event_name:
        out.append(field_bytes(_EVENT_NAME, event_name.encode()))
    return b"".join(out)


def encode_logs(batch: Sequence[ReadableLogRecord]) -> bytes:
    """Serialize SDK log records as an ``ExportLogsServiceRequest`` (protobuf bytes).

    Raises :class:`~otlpy.wire.sdk_attributes.InvalidValueError` when a body cannot be encoded
    (the official encoder raises too); attributes that cannot be encoded are dropped.
    """
    parts: list[bytes] = []
    for resource, scopes in group_by_resource_and_scope(batch, _resource_and_scope):
        scope_groups: list[bytes] = []
        size = 0
        for scope, members in scopes:
            encoded = []
            for readable in members:
                body = _encode_log(readable)
                encoded.append(_LOG_RECORD + varint(len(body)) + body)
            size += envelopes.scope_group(scope, encoded, scope_groups)
        parts += envelopes.resource_group(resource, scope_groups, size)
    _log_attributes.report_invalid("log record")
    return b"".join(parts)


def encode_logs_json(batch: Sequence[ReadableLogRecord]) -> bytes:
    """Serialize SDK log records as an OTLP/JSON ``ExportLogsServiceRequest`` (UTF-8 bytes)."""
    return protobuf_to_json(Signal.LOGS, encode_logs(batch))
