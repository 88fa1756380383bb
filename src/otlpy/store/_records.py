"""Stored rows back to plain Python data: spans, log records and resources as dicts.

Attribute lists keep their OTLP JSON form (``[{"key": k, "value": {"stringValue": v}}]``) so
that types survive; :func:`otlpy.store.queries.attributes_dict` turns one into a plain dict.
Ids are lowercase hex, times integer unix nanoseconds, enums their OTLP numbers.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, TypedDict

import orjson
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from otlpy.store._anyvalue import any_value_json, attributes_json

__all__ = [
    "EventRecord",
    "LinkRecord",
    "LogRecordDict",
    "ResourceRecord",
    "ScopeRecord",
    "SpanRecord",
    "TraceRecord",
    "load_resources",
    "log_record",
    "span_record",
]

Attributes = list[dict[str, Any]]


class ResourceRecord(TypedDict):
    """A resource: who sent the telemetry."""

    service_name: str
    attributes: Attributes
    dropped_attributes_count: int
    schema_url: str


class ScopeRecord(TypedDict):
    """An instrumentation scope."""

    name: str
    version: str


class EventRecord(TypedDict):
    """A span event."""

    time_unix_nano: int
    name: str
    attributes: Attributes
    dropped_attributes_count: int


class LinkRecord(TypedDict):
    """A span link."""

    trace_id: str
    span_id: str
    trace_state: str
    attributes: Attributes
    dropped_attributes_count: int
    flags: int


class StatusRecord(TypedDict):
    """A span status: ``code`` 0 unset, 1 ok, 2 error."""

    code: int
    message: str


class SpanRecord(TypedDict):
    """One span with its resource and scope."""

    trace_id: str
    span_id: str
    parent_span_id: str
    trace_state: str
    name: str
    kind: int
    start_time_unix_nano: int
    end_time_unix_nano: int
    duration_nano: int
    attributes: Attributes
    dropped_attributes_count: int
    events: list[EventRecord]
    dropped_events_count: int
    links: list[LinkRecord]
    dropped_links_count: int
    status: StatusRecord
    flags: int
    service_name: str
    resource: ResourceRecord
    scope: ScopeRecord


class TraceRecord(TypedDict):
    """A trace: its spans, ordered by start time."""

    trace_id: str
    spans: list[SpanRecord]


class LogRecordDict(TypedDict):
    """One log record with its resource and scope.

    ``seq`` orders records by arrival (the live-tail cursor); ``timestamp`` is the record's
    time, or its observed time when it has none. ``body`` is the OTLP JSON value (``None``
    when empty) and ``body_text`` its text form.
    """

    seq: int
    timestamp: int
    time_unix_nano: int
    observed_time_unix_nano: int
    severity_number: int
    severity_text: str
    body: dict[str, Any] | None
    body_text: str
    attributes: Attributes
    dropped_attributes_count: int
    trace_id: str
    span_id: str
    flags: int
    event_name: str
    service_name: str
    resource: ResourceRecord
    scope: ScopeRecord


_NO_RESOURCE: ResourceRecord = {
    "service_name": "",
    "attributes": [],
    "dropped_attributes_count": 0,
    "schema_url": "",
}


# Resources by id. An id is a hash of the resource's content, so an entry never goes stale: a
# resource deleted by retention and sent again gets the same id and the same content.
_RESOURCES: dict[int, ResourceRecord] = {}
_RESOURCES_LIMIT = 10_000


def load_resources(query: Any, resource_ids: Iterable[int]) -> dict[int, ResourceRecord]:
    """The resources with ``resource_ids``, by id; ``query`` is :meth:`Store.query`."""
    wanted = set(resource_ids)
    found = {rid: _RESOURCES[rid] for rid in wanted if rid in _RESOURCES}
    missing = sorted(wanted - found.keys())
    if not missing:
        return found
    rows = query(
        "SELECT resource_id, service_name, attributes_json, dropped_attributes_count, schema_url "
        "FROM resources WHERE resource_id IN (SELECT unnest(?::UBIGINT[]))",
        [missing],
    )
    if len(_RESOURCES) + len(rows) > _RESOURCES_LIMIT:
        _RESOURCES.clear()
    for rid, service, attrs, dropped, schema_url in rows:
        record: ResourceRecord = {
            "service_name": service,
            "attributes": orjson.loads(attrs),
            "dropped_attributes_count": dropped,
            "schema_url": schema_url,
        }
        found[rid] = _RESOURCES[rid] = record
    return found


# Columns span_record reads, in order.
SPAN_COLUMNS = "proto, service_name, resource_id, scope_name, scope_version"


def span_record(row: Sequence[Any], resources: dict[int, ResourceRecord]) -> SpanRecord:
    """A span from a row of :data:`SPAN_COLUMNS`."""
    proto, service, resource_id, scope_name, scope_version = row
    span = Span.FromString(proto.encode("latin-1"))
    start = span.start_time_unix_nano
    end = span.end_time_unix_nano
    return {
        "trace_id": span.trace_id.hex(),
        "span_id": span.span_id.hex(),
        "parent_span_id": span.parent_span_id.hex(),
        "trace_state": span.trace_state,
        "name": span.name,
        "kind": span.kind,
        "start_time_unix_nano": start,
        "end_time_unix_nano": end,
        "duration_nano": max(end - start, 0),
        "attributes": attributes_json(span.attributes),
        "dropped_attributes_count": span.dropped_attributes_count,
        "events": [
            {
                "time_unix_nano": ev.time_unix_nano,
                "name": ev.name,
                "attributes": attributes_json(ev.attributes),
                "dropped_attributes_count": ev.dropped_attributes_count,
            }
            for ev in span.events
        ],
        "dropped_events_count": span.dropped_events_count,
        "links": [
            {
                "trace_id": link.trace_id.hex(),
                "span_id": link.span_id.hex(),
                "trace_state": link.trace_state,
                "attributes": attributes_json(link.attributes),
                "dropped_attributes_count": link.dropped_attributes_count,
                "flags": link.flags,
            }
            for link in span.links
        ],
        "dropped_links_count": span.dropped_links_count,
        "status": {"code": span.status.code, "message": span.status.message},
        "flags": span.flags,
        "service_name": service,
        "resource": resources.get(resource_id, _NO_RESOURCE),
        "scope": {"name": scope_name, "version": scope_version},
    }


# Columns log_record reads, in order.
LOG_COLUMNS = "seq, timestamp, body, proto, service_name, resource_id, scope_name, scope_version"


def log_record(row: Sequence[Any], resources: dict[int, ResourceRecord]) -> LogRecordDict:
    """A log record from a row of :data:`LOG_COLUMNS`."""
    seq, timestamp, body_text, proto, service, resource_id, scope_name, scope_version = row
    record = LogRecord.FromString(proto.encode("latin-1"))
    return {
        "seq": seq,
        "timestamp": timestamp,
        "time_unix_nano": record.time_unix_nano,
        "observed_time_unix_nano": record.observed_time_unix_nano,
        "severity_number": record.severity_number,
        "severity_text": record.severity_text,
        "body": any_value_json(record.body) if record.HasField("body") else None,
        "body_text": body_text,
        "attributes": attributes_json(record.attributes),
        "dropped_attributes_count": record.dropped_attributes_count,
        "trace_id": record.trace_id.hex(),
        "span_id": record.span_id.hex(),
        "flags": record.flags,
        "event_name": record.event_name,
        "service_name": service,
        "resource": resources.get(resource_id, _NO_RESOURCE),
        "scope": {"name": scope_name, "version": scope_version},
    }
