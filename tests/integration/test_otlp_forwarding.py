"""The OpenTelemetry Python SDK's OTLP exporters -> otlpy #1 -> otlp/otlphttp -> otlpy #2 -> file.

Everything is real: the SDK's gRPC and HTTP exporters, two collectors built from configs with
the otlp receiver on 127.0.0.1, the otlp and otlphttp exporters between them, and the file
exporter at the end. What the file holds is compared, message for message, with what the SDK
encoded and sent.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcLogs
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (
    OTLPMetricExporter as GrpcMetrics,
)
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpans
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpLogs
from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
    OTLPMetricExporter as HttpMetrics,
)
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpans
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

from otlpy.component import ComponentID
from otlpy.config import build
from otlpy.exporters.file import read_file
from otlpy.pdata import Signal
from otlpy.pipeline import Collector

SIGNALS = ("traces", "metrics", "logs")


# --- what the SDK sends ----------------------------------------------------------------------


class SdkData:
    """Spans, metrics and log records made by the real SDK, and the requests they encode to."""

    def __init__(self, tag: str) -> None:
        resource = Resource.create({"service.name": f"sdk-{tag}", "deployment": "test"})
        spans = InMemorySpanExporter()
        tracer_provider = TracerProvider(resource=resource)
        tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
        tracer = tracer_provider.get_tracer("otlpy.tests", "1.0")
        with tracer.start_as_current_span(
            "checkout", kind=SpanKind.SERVER, attributes={"http.method": "POST", "items": 3}
        ) as parent:
            parent.add_event("paid", {"amount": 12.5})
            with tracer.start_as_current_span("db", kind=SpanKind.CLIENT) as child:
                child.set_status(Status(StatusCode.ERROR, "timeout"))
                child.set_attribute("db.rows", [1, 2, 3])
        self.spans = spans.get_finished_spans()

        reader = InMemoryMetricReader()
        meter = MeterProvider(resource=resource, metric_readers=[reader]).get_meter("otlpy.tests")
        meter.create_counter("orders").add(3, {"region": "eu"})
        meter.create_histogram("latency", unit="ms").record(12.5, {"route": "/a"})
        meter.create_up_down_counter("queue").add(-2)
        self.metrics = reader.get_metrics_data()

        records = InMemoryLogRecordExporter()
        logger_provider = LoggerProvider(resource=resource)
        logger_provider.add_log_record_processor(SimpleLogRecordProcessor(records))
        logger = logger_provider.get_logger("otlpy.tests", "1.0")
        with tracer.start_as_current_span("logging"):
            logger.emit(
                severity_number=SeverityNumber.WARN,
                severity_text="WARN",
                body="payment p-1 failed",
                attributes={"order": 7, "tags": ["a", "b"]},
            )
        logger.emit(
            severity_number=SeverityNumber.ERROR,
            body={"structured": True, "count": 2},
            event_name="otlpy.test",
        )
        self.logs = records.get_finished_logs()

    def expected(self, name: str) -> Any:
        if name == "traces":
            return encode_spans(self.spans)
        if name == "metrics":
            return encode_metrics(self.metrics)
        return encode_logs(self.logs)

    def send(self, transport: str, endpoint: str) -> None:
        """Export everything with the SDK's own exporters (blocking: run it in a thread)."""
        if transport == "grpc":
            exporters: list[Any] = [
                GrpcSpans(endpoint=endpoint, insecure=True, timeout=5),
                GrpcMetrics(endpoint=endpoint, insecure=True, timeout=5),
                GrpcLogs(endpoint=endpoint, insecure=True, timeout=5),
            ]
        else:
            exporters = [
                HttpSpans(endpoint=f"{endpoint}/v1/traces", timeout=5),
                HttpMetrics(endpoint=f"{endpoint}/v1/metrics", timeout=5),
                HttpLogs(endpoint=f"{endpoint}/v1/logs", timeout=5),
            ]
        for exporter, data in zip(exporters, (self.spans, self.metrics, self.logs), strict=True):
            result = exporter.export(data)
            assert result.name == "SUCCESS", (exporter, result)
            exporter.shutdown()


# --- collectors ------------------------------------------------------------------------------


def otlp_receiver() -> dict[str, Any]:
    return {
        "protocols": {
            "grpc": {"endpoint": "127.0.0.1:0"},
            "http": {"endpoint": "127.0.0.1:0"},
        }
    }


def no_self_metrics() -> dict[str, Any]:
    return {"metrics": {"level": "none"}}


def backend_config(out: Path, file_options: dict[str, Any]) -> dict[str, Any]:
    """otlpy #2: the otlp receiver, and a file exporter per signal."""
    return {
        "receivers": {"otlp": otlp_receiver()},
        "exporters": {
            f"file/{name}": {"path": str(out / f"{name}.out"), **file_options} for name in SIGNALS
        },
        "service": {
            "telemetry": no_self_metrics(),
            "pipelines": {
                name: {"receivers": ["otlp"], "exporters": [f"file/{name}"]} for name in SIGNALS
            },
        },
    }


def forwarder_config(exporter: str, options: dict[str, Any]) -> dict[str, Any]:
    """otlpy #1: the otlp receiver, forwarding everything with ``exporter``."""
    return {
        "receivers": {"otlp": otlp_receiver()},
        "exporters": {exporter: options},
        "service": {
            "telemetry": no_self_metrics(),
            "pipelines": {
                name: {"receivers": ["otlp"], "exporters": [exporter]} for name in SIGNALS
            },
        },
    }


def receiver_of(collector: Collector) -> Any:
    return collector.graph.receivers[ComponentID("otlp")]


@pytest.fixture
async def collectors() -> AsyncIterator[Callable[[dict[str, Any]], Any]]:
    """Start collectors from config mappings; stop them in the order they were started."""
    running: list[Collector] = []

    async def start(config: dict[str, Any]) -> Collector:
        collector = Collector(build(config))
        await collector.start()
        running.append(collector)
        return collector

    yield start
    for collector in running:
        await collector.shutdown()


def read_signal(path: Path, name: str) -> list[Any]:
    return read_file(path, Signal(name))


ROUTES = {
    # sdk transport, forwarding exporter, its options (without the endpoint), file options
    "grpc-otlp-json": ("grpc", "otlp", {}, {"format": "json"}),
    "http-otlphttp-proto": ("http", "otlphttp", {}, {"format": "proto"}),
    "grpc-otlphttp-json-zstd": (
        "grpc",
        "otlphttp",
        {"encoding": "json", "compression": "zstd"},
        {"format": "proto", "compression": "zstd"},
    ),
    "http-otlp-none": ("http", "otlp", {"compression": "none"}, {"format": "json"}),
}


@pytest.mark.parametrize("route", list(ROUTES))
async def test_sdk_data_arrives_unchanged(
    tmp_path: Path, collectors: Callable[[dict[str, Any]], Any], route: str
) -> None:
    transport, exporter, options, file_options = ROUTES[route]
    backend = await collectors(backend_config(tmp_path, {**file_options, "flush_interval": "0"}))
    ports = receiver_of(backend)
    endpoint = (
        f"http://127.0.0.1:{ports.grpc_port}"
        if exporter == "otlp"
        else f"http://127.0.0.1:{ports.http_port}"
    )
    forwarder = await collectors(forwarder_config(exporter, {"endpoint": endpoint, **options}))
    front = receiver_of(forwarder)
    sdk = SdkData(route)
    sdk_endpoint = (
        f"127.0.0.1:{front.grpc_port}"
        if transport == "grpc"
        else f"http://127.0.0.1:{front.http_port}"
    )
    await asyncio.to_thread(sdk.send, transport, sdk_endpoint)
    # stop the forwarder first so that anything it still holds reaches the backend
    await forwarder.shutdown()
    await backend.shutdown()
    for name in SIGNALS:
        assert read_signal(tmp_path / f"{name}.out", name) == [sdk.expected(name)], name
    telemetry = forwarder.telemetry.registry
    sent = telemetry.get_sample_value("otelcol_exporter_sent_spans_total", {"exporter": exporter})
    assert sent == len(sdk.spans)


async def test_backend_down_is_reported_to_the_sdk_and_counted(
    collectors: Callable[[dict[str, Any]], Any],
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = sock.getsockname()[1]
    retry = {"initial_interval": "10ms", "max_interval": "20ms", "max_elapsed_time": "200ms"}
    forwarder = await collectors(
        forwarder_config(
            "otlp",
            {
                "endpoint": f"http://127.0.0.1:{dead}",
                "retry_on_failure": retry,
                # without a sending queue the failure travels back to the sender
                "sending_queue": {"enabled": False},
            },
        )
    )
    front = receiver_of(forwarder)
    sdk = SdkData("down")
    exporter = GrpcSpans(endpoint=f"127.0.0.1:{front.grpc_port}", insecure=True, timeout=1)
    result = await asyncio.to_thread(exporter.export, sdk.spans)
    exporter.shutdown()
    assert result.name == "FAILURE"
    failed = forwarder.telemetry.registry.get_sample_value(
        "otelcol_exporter_send_failed_spans_total", {"exporter": "otlp"}
    )
    assert failed is not None
    assert failed >= len(sdk.spans)


def _wait_for_port(port: int, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {port}")


async def test_otlpy_run_subprocess_as_the_backend(
    tmp_path: Path, collectors: Callable[[dict[str, Any]], Any]
) -> None:
    ports = []
    for _ in range(2):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            ports.append(sock.getsockname()[1])
    config = backend_config(tmp_path, {"format": "json"})
    config["receivers"]["otlp"]["protocols"] = {
        "grpc": {"endpoint": f"127.0.0.1:{ports[0]}"},
        "http": {"endpoint": f"127.0.0.1:{ports[1]}"},
    }
    config_path = tmp_path / "backend.yaml"
    config_path.write_text(yaml.safe_dump(config))
    process = subprocess.Popen(
        [sys.executable, "-m", "otlpy", "run", "--config", str(config_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        await asyncio.to_thread(_wait_for_port, ports[0], time.monotonic() + 30)
        forwarder = await collectors(
            forwarder_config("otlp", {"endpoint": f"http://127.0.0.1:{ports[0]}"})
        )
        sdk = SdkData("subprocess")
        await asyncio.to_thread(
            sdk.send, "http", f"http://127.0.0.1:{receiver_of(forwarder).http_port}"
        )
        await forwarder.shutdown()
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = await asyncio.to_thread(process.communicate, timeout=30)
    assert process.returncode == 0, output.decode()
    for name in SIGNALS:
        assert read_signal(tmp_path / f"{name}.out", name) == [sdk.expected(name)], name
