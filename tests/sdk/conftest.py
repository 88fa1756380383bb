"""Fixtures for the SDK tests: real OTLP servers and SDK telemetry made once."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from .otlp_servers import GrpcOtlpServer, HttpOtlpServer


@pytest.fixture
def grpc_server() -> Iterator[GrpcOtlpServer]:
    server = GrpcOtlpServer().start()
    yield server
    server.stop()


@pytest.fixture
def http_server() -> Iterator[HttpOtlpServer]:
    server = HttpOtlpServer().start()
    yield server
    server.stop()


def make_spans(count: int, *, service: str = "test-service") -> list[Any]:
    """``count`` finished spans with 10 attributes and one event each, a parent and a link."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("otlpy.tests", "1.0")
    with tracer.start_as_current_span("root", attributes={"root": True}) as root:
        for i in range(count - 1):
            attributes = {f"attr.{k}": f"value-{k}" for k in range(8)}
            attributes["n"] = i
            attributes["ratio"] = i / 3
            with tracer.start_as_current_span(
                f"op-{i % 5}", attributes=attributes, links=[_link(root)]
            ) as span:
                span.add_event("event", {"k": i, "tags": ["a", "b"]})
    provider.shutdown()
    return list(memory.get_finished_spans())


def _link(span: Any) -> Any:
    from opentelemetry.trace import Link

    return Link(span.get_span_context(), {"kind": "parent"})


@pytest.fixture(scope="session")
def spans() -> list[Any]:
    return make_spans(50)


def make_metrics() -> Any:
    """A MetricsData with a counter, an up-down counter, a histogram and an observable gauge."""
    from opentelemetry.metrics import Observation
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    reader = InMemoryMetricReader()
    provider = MeterProvider(
        metric_readers=[reader], resource=Resource.create({"service.name": "metrics-test"})
    )
    meter = provider.get_meter("otlpy.tests", "1.0")
    counter = meter.create_counter("requests", unit="1", description="requests served")
    updown = meter.create_up_down_counter("in_flight")
    histogram = meter.create_histogram("latency", unit="ms")
    meter.create_observable_gauge(
        "temperature", callbacks=[lambda options: [Observation(21.5, {"room": "a"})]]
    )
    for i in range(12):
        attributes = {"route": f"/r{i % 4}", "ok": i % 3 != 0}
        counter.add(i + 1, attributes)
        updown.add(1 if i % 2 else -1, attributes)
        histogram.record(i * 7.5, attributes)
    data = reader.get_metrics_data()
    provider.shutdown()
    return data


def make_logs(count: int) -> list[Any]:
    """``count`` readable log records with bodies, severities, attributes and trace context."""
    from opentelemetry._logs import SeverityNumber
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor

    memory = InMemoryLogRecordExporter()
    provider = LoggerProvider(resource=Resource.create({"service.name": "logs-test"}))
    provider.add_log_record_processor(SimpleLogRecordProcessor(memory))
    logger = provider.get_logger("otlpy.tests", "1.0")
    tracer = TracerProvider().get_tracer("t")
    with tracer.start_as_current_span("parent"):
        for i in range(count):
            logger.emit(
                body=f"message {i}" if i % 2 else {"structured": i, "list": [1, "two"]},
                severity_number=SeverityNumber.WARN if i % 3 else SeverityNumber.INFO,
                severity_text="WARN" if i % 3 else "INFO",
                attributes={"i": i, "kind": "test"},
                event_name="test.event" if i == 0 else None,
            )
    provider.shutdown()
    return list(memory.get_finished_logs())
