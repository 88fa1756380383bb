"""The three OTLP export services, signal by signal: what a client calls and what it gets back.

One table for everything that speaks OTLP (the SDK exporters, ``otlpy send``, the otlp
exporters and receiver), so the names are spelled once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from otlpy.pdata import Signal

__all__ = ["EXPORT_SERVICES", "ExportService"]


@dataclass(frozen=True, slots=True)
class ExportService:
    """One signal's ``Export`` service."""

    #: the full gRPC method name
    grpc_method: str
    #: the ``Export*ServiceResponse`` message class
    response: Any
    #: the ``Export*PartialSuccess`` message class
    partial_success: Any
    #: the rejected-items counter in ``partial_success``: its protobuf field name
    rejected_field: str
    #: ... and its OTLP/JSON name
    rejected_json: str


EXPORT_SERVICES: dict[Signal, ExportService] = {
    Signal.TRACES: ExportService(
        grpc_method="/opentelemetry.proto.collector.trace.v1.TraceService/Export",
        response=trace_service_pb2.ExportTraceServiceResponse,
        partial_success=trace_service_pb2.ExportTracePartialSuccess,
        rejected_field="rejected_spans",
        rejected_json="rejectedSpans",
    ),
    Signal.METRICS: ExportService(
        grpc_method="/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
        response=metrics_service_pb2.ExportMetricsServiceResponse,
        partial_success=metrics_service_pb2.ExportMetricsPartialSuccess,
        rejected_field="rejected_data_points",
        rejected_json="rejectedDataPoints",
    ),
    Signal.LOGS: ExportService(
        grpc_method="/opentelemetry.proto.collector.logs.v1.LogsService/Export",
        response=logs_service_pb2.ExportLogsServiceResponse,
        partial_success=logs_service_pb2.ExportLogsPartialSuccess,
        rejected_field="rejected_log_records",
        rejected_json="rejectedLogRecords",
    ),
}
