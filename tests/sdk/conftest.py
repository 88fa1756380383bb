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
