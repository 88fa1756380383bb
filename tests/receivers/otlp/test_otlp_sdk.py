"""The official OpenTelemetry Python SDK exporters (gRPC and HTTP) into the otlp receiver."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import grpc
import pytest
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcLogs
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (
    OTLPMetricExporter as GrpcMetrics,
)
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpans
from opentelemetry.exporter.otlp.proto.http import Compression as HttpCompression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpLogs
from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
    OTLPMetricExporter as HttpMetrics,
)
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpans
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

from otlpy.pdata import Signal

RESOURCE = Resource.create({"service.name": "otlpy-test", "host.name": "ci"})


def make_spans() -> Any:
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=RESOURCE)
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("otlpy.test", "1.2.3")
    with tracer.start_as_current_span(
        "parent", attributes={"int": 7, "str": "x", "floats": [1.5, 2.5], "flag": True}
    ) as parent:
        parent.add_event("something happened", {"count": 3})
        with tracer.start_as_current_span("child", kind=SpanKind.CLIENT) as child:
            child.set_status(Status(StatusCode.ERROR, "boom"))
    provider.shutdown()
    return memory.get_finished_spans()


def make_metrics() -> Any:
    reader = InMemoryMetricReader()
    provider = MeterProvider(resource=RESOURCE, metric_readers=[reader])
    meter = provider.get_meter("otlpy.test", "1.2.3")
    meter.create_counter("requests", unit="1").add(5, {"route": "/a"})
    meter.create_up_down_counter("queue").add(-2)
    histogram = meter.create_histogram("latency", unit="ms")
    for value in (1.0, 12.5, 250.0):
        histogram.record(value, {"route": "/a"})
    meter.create_gauge("temperature").set(21.5)
    data = reader.get_metrics_data()
    provider.shutdown()
    return data


def make_logs() -> Any:
    memory = InMemoryLogRecordExporter()
    provider = LoggerProvider(resource=RESOURCE)
    provider.add_log_record_processor(SimpleLogRecordProcessor(memory))
    logger = logging.getLogger("otlpy.test.sdk")
    logger.propagate = False
    handler = LoggingHandler(level=logging.INFO, logger_provider=provider)
    logger.addHandler(handler)
    try:
        logger.warning("disk %s is %d%% full", "/var", 91)
        logger.error("second record")
    finally:
        logger.removeHandler(handler)
    provider.shutdown()
    return memory.get_finished_logs()


def exporters(transport: str, compression: str, base: str) -> dict[Signal, Any]:
    if transport == "grpc":
        grpc_compression = {"none": None, "gzip": grpc.Compression.Gzip}[compression]
        options: dict[str, Any] = {"endpoint": base, "insecure": True, "timeout": 5}
        options["compression"] = grpc_compression
        return {
            Signal.TRACES: GrpcSpans(**options),
            Signal.METRICS: GrpcMetrics(**options),
            Signal.LOGS: GrpcLogs(**options),
        }
    http_compression = {
        "none": HttpCompression.NoCompression,
        "gzip": HttpCompression.Gzip,
        "deflate": HttpCompression.Deflate,
    }[compression]
    return {
        Signal.TRACES: HttpSpans(
            endpoint=f"{base}/v1/traces", timeout=5, compression=http_compression
        ),
        Signal.METRICS: HttpMetrics(
            endpoint=f"{base}/v1/metrics", timeout=5, compression=http_compression
        ),
        Signal.LOGS: HttpLogs(endpoint=f"{base}/v1/logs", timeout=5, compression=http_compression),
    }


@pytest.mark.parametrize(
    ("transport", "compression"),
    [("grpc", "none"), ("grpc", "gzip"), ("http", "none"), ("http", "gzip"), ("http", "deflate")],
)
async def test_sdk_exporters_deliver_every_signal_unchanged(
    start_receiver: Any, transport: str, compression: str
) -> None:
    running = await start_receiver()
    base = running.grpc_target if transport == "grpc" else running.http_url
    spans, metrics, logs = make_spans(), make_metrics(), make_logs()
    sent = {
        Signal.TRACES: (spans, encode_spans(spans)),
        Signal.METRICS: (metrics, encode_metrics(metrics)),
        Signal.LOGS: (logs, encode_logs(logs)),
    }
    for signal, exporter in exporters(transport, compression, base).items():
        data, expected = sent[signal]
        try:
            result = await asyncio.to_thread(exporter.export, data)
        finally:
            await asyncio.to_thread(exporter.shutdown)
        assert result.name == "SUCCESS", signal
        received = running.sink.of(signal)
        assert len(received) == 1
        assert received[0].message == expected
        assert received[0].items > 0
    assert running.counter("accepted_spans", transport) == 2
    assert running.counter("accepted_log_records", transport) == 2
    assert (
        running.counter("accepted_metric_points", transport)
        == running.sink.of(Signal.METRICS)[0].items
    )
    other = "http" if transport == "grpc" else "grpc"
    assert running.counter("accepted_spans", other) == 0
