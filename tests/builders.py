"""Builders of OTLP export requests for tests."""

from __future__ import annotations

import os
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from otlpy.pdata import Batch, Signal


def kv(key: str, value: Any) -> KeyValue:
    if isinstance(value, bool):
        return KeyValue(key=key, value=AnyValue(bool_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    if isinstance(value, float):
        return KeyValue(key=key, value=AnyValue(double_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=str(value)))


def traces(
    spans: int = 3, *, service: str = "svc", resources: int = 1, prefix: str = "span"
) -> Any:
    request = ExportTraceServiceRequest()
    n = 0
    for r in range(resources):
        rs = request.resource_spans.add()
        rs.resource.attributes.append(kv("service.name", f"{service}{r if resources > 1 else ''}"))
        ss = rs.scope_spans.add()
        ss.scope.name = "test-scope"
        for _ in range(spans):
            span = ss.spans.add()
            span.name = f"{prefix}-{n}"
            span.trace_id = os.urandom(16)
            span.span_id = os.urandom(8)
            span.start_time_unix_nano = 1_700_000_000_000_000_000 + n
            span.end_time_unix_nano = span.start_time_unix_nano + 1_000_000
            span.attributes.append(kv("index", n))
            n += 1
    return request


def logs(records: int = 3, *, service: str = "svc") -> Any:
    request = ExportLogsServiceRequest()
    rl = request.resource_logs.add()
    rl.resource.attributes.append(kv("service.name", service))
    sl = rl.scope_logs.add()
    for i in range(records):
        record = sl.log_records.add()
        record.time_unix_nano = 1_700_000_000_000_000_000 + i
        record.severity_number = 9
        record.severity_text = "INFO"
        record.body.string_value = f"line {i}"
    return request


def metrics(points_per_metric: tuple[int, ...] = (2, 3), *, service: str = "svc") -> Any:
    request = ExportMetricsServiceRequest()
    rm = request.resource_metrics.add()
    rm.resource.attributes.append(kv("service.name", service))
    sm = rm.scope_metrics.add()
    for m, count in enumerate(points_per_metric):
        metric = sm.metrics.add()
        metric.name = f"metric.{m}"
        if m % 2:
            data = metric.sum
            data.is_monotonic = True
            data.aggregation_temporality = 2
        else:
            data = metric.gauge
        for i in range(count):
            point = data.data_points.add()
            point.as_int = i
            point.time_unix_nano = 1_700_000_000_000_000_000 + i
            point.attributes.append(kv("point", i))
    return request


def batch(signal: Signal, n: int = 3, **kwargs: Any) -> Batch:
    if signal is Signal.TRACES:
        return Batch.from_message(signal, traces(n, **kwargs))
    if signal is Signal.LOGS:
        return Batch.from_message(signal, logs(n, **kwargs))
    return Batch.from_message(signal, metrics((n,), **kwargs))
