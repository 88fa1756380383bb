"""Request builders and response readers shared by the otlp receiver tests."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from google.protobuf import json_format
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.metrics.v1.metrics_pb2 import Metric, NumberDataPoint
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from otlpy.component import Component, ComponentID
from otlpy.config.decode import decode
from otlpy.receivers.otlp import factory

PROTOBUF = "application/x-protobuf"
JSON = "application/json"

TRACE_ID = bytes.fromhex("5b8efff798038103d269b633813fc60c")
SPAN_ID = bytes.fromhex("eee19b7ec3c1b174")


def traces(spans: int = 2, *, attribute_size: int = 8) -> Any:
    """An ExportTraceServiceRequest with ``spans`` spans in one resource and scope."""
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.append(
        KeyValue(key="service.name", value=AnyValue(string_value="test"))
    )
    scope = resource_spans.scope_spans.add()
    scope.scope.name = "otlpy.test"
    for i in range(spans):
        scope.spans.append(
            Span(
                trace_id=TRACE_ID,
                span_id=i.to_bytes(8, "big"),
                name=f"span-{i}",
                kind=Span.SPAN_KIND_SERVER,
                start_time_unix_nano=1_700_000_000_000_000_000 + i,
                end_time_unix_nano=1_700_000_000_000_001_000 + i,
                attributes=[KeyValue(key="pad", value=AnyValue(string_value="x" * attribute_size))],
            )
        )
    return request


def metrics(points: int = 3) -> Any:
    request = ExportMetricsServiceRequest()
    scope = request.resource_metrics.add().scope_metrics.add()
    metric = Metric(name="requests", unit="1")
    for i in range(points):
        metric.gauge.data_points.append(NumberDataPoint(as_int=i, time_unix_nano=1 + i))
    scope.metrics.append(metric)
    return request


def logs(records: int = 2) -> Any:
    request = ExportLogsServiceRequest()
    scope = request.resource_logs.add().scope_logs.add()
    for i in range(records):
        scope.log_records.append(
            LogRecord(
                time_unix_nano=1 + i,
                severity_number=9,
                body=AnyValue(string_value=f"record {i}"),
                trace_id=TRACE_ID,
                span_id=SPAN_ID,
            )
        )
    return request


def read_status(body: bytes, content_type: str) -> Any:
    """The google.rpc.Status of an error response, in the format its Content-Type says."""
    status = status_pb2.Status()
    if content_type.startswith(JSON):
        json_format.Parse(body, status)
    else:
        status.ParseFromString(body)
    return status


def retry_delay(status: Any) -> float | None:
    """The RetryInfo delay in a Status's details, None when there is no RetryInfo."""
    for detail in status.details:
        info = error_details_pb2.RetryInfo()
        if detail.Unpack(info):
            return info.retry_delay.seconds + info.retry_delay.nanos / 1e9
    return None


class NoHost:
    """A host with no extensions."""

    def get_extension(self, id: ComponentID) -> Component | None:
        return None

    @property
    def extensions(self) -> Mapping[ComponentID, Component]:
        return {}


def make_config(protocols: Any) -> Any:
    config, problems = decode(factory.config, {"protocols": protocols})
    assert problems == []
    return config
