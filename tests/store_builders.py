"""Builders of OTLP messages for the store tests: every field set, fixed times."""

from __future__ import annotations

import base64
from typing import Any

from google.protobuf.json_format import MessageToDict
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

HOUR = 3600 * 10**9
SECOND = 10**9
MS = 10**6
# a fixed "now" keeps the tests independent of the clock
NOW = 1_750_000_000 * SECOND


def value(v: Any) -> AnyValue:
    """An AnyValue from a Python value (lists become arrays, dicts kvlists)."""
    if isinstance(v, bool):
        return AnyValue(bool_value=v)
    if isinstance(v, int):
        return AnyValue(int_value=v)
    if isinstance(v, float):
        return AnyValue(double_value=v)
    if isinstance(v, bytes):
        return AnyValue(bytes_value=v)
    if isinstance(v, list):
        return AnyValue(array_value=ArrayValue(values=[value(x) for x in v]))
    if isinstance(v, dict):
        return AnyValue(kvlist_value=KeyValueList(values=attrs(v)))
    return AnyValue(string_value=v)


def attrs(d: dict[str, Any]) -> list[KeyValue]:
    return [KeyValue(key=k, value=value(v)) for k, v in d.items()]


def tid(n: int) -> bytes:
    return n.to_bytes(16, "big")


def sid(n: int) -> bytes:
    return n.to_bytes(8, "big")


def make_span(
    trace: int,
    span: int,
    *,
    parent: int | None = None,
    name: str = "op",
    kind: int = Span.SPAN_KIND_SERVER,
    start: int = NOW - HOUR // 2,
    duration: int = 10 * MS,
    attributes: dict[str, Any] | None = None,
    status: int = 0,
    message: str = "",
) -> Span:
    s = Span(
        trace_id=tid(trace),
        span_id=sid(span),
        name=name,
        kind=kind,
        start_time_unix_nano=start,
        end_time_unix_nano=start + duration,
        attributes=attrs(attributes or {}),
        status=Status(code=status, message=message),
    )
    if parent is not None:
        s.parent_span_id = sid(parent)
    return s


def trace_request(
    service: str,
    spans: list[Span],
    *,
    resource: dict[str, Any] | None = None,
    scope: tuple[str, str] = ("test.scope", "1.0"),
) -> ExportTraceServiceRequest:
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.extend(attrs({"service.name": service, **(resource or {})}))
    ss = rs.scope_spans.add()
    ss.scope.name, ss.scope.version = scope
    ss.spans.extend(spans)
    return req


def rich_trace_request() -> ExportTraceServiceRequest:
    """Two resources, three spans using every field OTLP spans have."""
    root = make_span(
        1,
        1,
        name="GET /checkout",
        attributes={
            "http.method": "GET",
            "http.status_code": 200,
            "ratio": 0.5,
            "cached": True,
            "blob": b"\x00\x01\xff",
            "tags": ["a", 1, False],
            "nested": {"k": "v", "n": 2},
            "big": 2**60,
        },
        status=2,
        message="boom",
    )
    root.trace_state = "vendor=1"
    root.flags = 0x101
    root.dropped_attributes_count = 3
    root.dropped_events_count = 4
    root.dropped_links_count = 5
    ev = root.events.add()
    ev.time_unix_nano = root.start_time_unix_nano + 5 * MS
    ev.name = "exception"
    ev.attributes.extend(attrs({"exception.type": "ValueError", "count": 7}))
    ev.dropped_attributes_count = 1
    link = root.links.add()
    link.trace_id = tid(99)
    link.span_id = sid(98)
    link.trace_state = "x=y"
    link.flags = 1
    link.attributes.extend(attrs({"link.kind": "batch"}))
    link.dropped_attributes_count = 2
    child = make_span(
        1,
        2,
        parent=1,
        name="SELECT orders",
        kind=Span.SPAN_KIND_CLIENT,
        start=root.start_time_unix_nano + MS,
        duration=3 * MS,
        attributes={"db.system": "postgresql"},
        status=1,
    )
    req = trace_request("frontend", [root, child], resource={"host.name": "web-1", "pid": 42})
    rs = req.resource_spans.add()
    rs.schema_url = "https://opentelemetry.io/schemas/1.26.0"
    rs.resource.attributes.extend(attrs({"service.name": "db"}))
    rs.resource.dropped_attributes_count = 6
    ss = rs.scope_spans.add()
    ss.scope.name = "db.instrumentation"
    ss.spans.append(
        make_span(
            1,
            3,
            parent=2,
            name="query",
            start=root.start_time_unix_nano + 2 * MS,
            duration=MS,
        )
    )
    return req


def otlp_dict(message: Any) -> dict[str, Any]:
    """An independent oracle: protobuf's own JSON mapping, ids turned into hex."""
    out = MessageToDict(message)
    for key in ("traceId", "spanId", "parentSpanId"):
        if key in out:
            out[key] = base64.b64decode(out[key]).hex()
    return out


def log_request(
    service: str, records: list[Any], *, resource: dict[str, Any] | None = None
) -> ExportLogsServiceRequest:
    req = ExportLogsServiceRequest()
    rl = req.resource_logs.add()
    rl.resource.attributes.extend(attrs({"service.name": service, **(resource or {})}))
    sl = rl.scope_logs.add()
    sl.scope.name = "logger"
    sl.scope.version = "2"
    sl.log_records.extend(records)
    return req


def metrics_request(service: str, metrics: list[Any]) -> ExportMetricsServiceRequest:
    req = ExportMetricsServiceRequest()
    rm = req.resource_metrics.add()
    rm.resource.attributes.extend(attrs({"service.name": service}))
    sm = rm.scope_metrics.add()
    sm.scope.name = "meter"
    sm.metrics.extend(metrics)
    return req
