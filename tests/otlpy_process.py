"""A real ``otlpy run`` in a subprocess, and a small app that sends telemetry with the real
OpenTelemetry SDK and OTLP exporters while keeping what it sent, to compare with what is read
back."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import yaml
from opentelemetry._logs import SeverityNumber
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
from opentelemetry.sdk._logs import LoggerProvider, ReadableLogRecord
from opentelemetry.sdk._logs.export import (
    InMemoryLogRecordExporter,
    SimpleLogRecordProcessor,
)
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

from otlpy.defaults import default_config

SERVICES = ("frontend", "checkout", "payment")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(check: Callable[[], Any], timeout: float = 30.0, interval: float = 0.1) -> Any:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except (AssertionError, OSError, urllib.error.URLError) as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(interval)
    raise AssertionError(f"gave up waiting after {timeout}s; last result: {last!r}")


class OtlpyProcess:
    """``otlpy run --config ... --data DIR``: the default configuration on free ports."""

    def __init__(self, data_dir: Path, *, overrides: dict[str, Any] | None = None) -> None:
        self.data_dir = data_dir
        self.grpc_port = free_port()
        self.http_port = free_port()
        self.ui_port = free_port()
        self.health_port = free_port()
        config = default_config(str(data_dir))
        protocols = config["receivers"]["otlp"]["protocols"]
        protocols["grpc"]["endpoint"] = f"127.0.0.1:{self.grpc_port}"
        protocols["http"]["endpoint"] = f"127.0.0.1:{self.http_port}"
        config["extensions"]["otlpy_ui"]["endpoint"] = f"127.0.0.1:{self.ui_port}"
        config["extensions"]["health_check"]["endpoint"] = f"127.0.0.1:{self.health_port}"
        config["service"]["telemetry"] = {"metrics": {"level": "none"}}
        for key, value in (overrides or {}).items():
            config["exporters"]["store"][key] = value
        self.config = config
        self.config_path = data_dir.parent / f"{data_dir.name}-config.yaml"
        self.config_path.write_text(yaml.safe_dump(config))
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir.parent / f"{data_dir.name}-otlpy.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.ui_port}"

    def start(self) -> OtlpyProcess:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "otlpy",
                "run",
                "--config",
                str(self.config_path),
                "--data",
                str(self.data_dir),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ},
        )
        wait_until(self._healthy, timeout=60)
        return self

    def _healthy(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise RuntimeError(f"otlpy exited early:\n{self.log()}")
        url = f"http://127.0.0.1:{self.health_port}/"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return bool(response.status == 200)
        except urllib.error.HTTPError:
            return False

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(sig)
        code = self.process.wait(timeout)
        self.process = None
        return code

    def get(self, path: str, params: dict[str, Any] | None = None) -> tuple[int, Any]:
        """GET ``path`` on the UI server: (status, decoded JSON body)."""
        query = urllib.parse.urlencode(params or {}, doseq=True)
        url = f"{self.url}{path}" + (f"?{query}" if query else "")
        try:
            with urllib.request.urlopen(url, timeout=30) as response:
                return response.status, orjson.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, orjson.loads(exc.read())

    def json(self, path: str, params: dict[str, Any] | None = None) -> Any:
        status, body = self.get(path, params)
        assert status == 200, (path, params, status, body)
        return body


class DemoApp:
    """Three services, made with the SDK: checkout traces across them, logs, metrics.

    Everything is also kept in memory (the oracle): ``spans``, ``logs``. Trace 0 fails in
    payment (status error, an exception event, an error log); trace 1 links to trace 0.
    """

    def __init__(self, name: str = "demo") -> None:
        self.name = name
        self.resources = {
            s: Resource.create(
                {"service.name": s, "service.version": "1.4.2", "deployment.environment": name}
            )
            for s in SERVICES
        }
        self._span_memory = InMemorySpanExporter()
        self._log_memory = InMemoryLogRecordExporter()

    def send(self, transport: str, endpoint: str, *, traces: int = 4) -> None:
        """Make and export everything (blocking); ``endpoint`` is host:port (grpc) or a URL."""
        tracer_providers = {}
        logger_providers = {}
        for service, resource in self.resources.items():
            spans = (
                GrpcSpans(endpoint=endpoint, insecure=True, timeout=10)
                if transport == "grpc"
                else HttpSpans(endpoint=f"{endpoint}/v1/traces", timeout=10)
            )
            provider = TracerProvider(resource=resource)
            provider.add_span_processor(SimpleSpanProcessor(spans))
            provider.add_span_processor(SimpleSpanProcessor(self._span_memory))
            tracer_providers[service] = provider
            logs = (
                GrpcLogs(endpoint=endpoint, insecure=True, timeout=10)
                if transport == "grpc"
                else HttpLogs(endpoint=f"{endpoint}/v1/logs", timeout=10)
            )
            logger_provider = LoggerProvider(resource=resource)
            logger_provider.add_log_record_processor(SimpleLogRecordProcessor(logs))
            logger_provider.add_log_record_processor(SimpleLogRecordProcessor(self._log_memory))
            logger_providers[service] = logger_provider
        metrics_exporter = (
            GrpcMetrics(endpoint=endpoint, insecure=True, timeout=10)
            if transport == "grpc"
            else HttpMetrics(endpoint=f"{endpoint}/v1/metrics", timeout=10)
        )
        reader = PeriodicExportingMetricReader(metrics_exporter, export_interval_millis=3_600_000)
        meter_provider = MeterProvider(resource=self.resources["frontend"], metric_readers=[reader])
        meter = meter_provider.get_meter("demo.meter", "0.1")
        orders = meter.create_counter("demo.orders", unit="1", description="orders placed")
        latency = meter.create_histogram("demo.checkout.duration", unit="ms")
        queue = meter.create_up_down_counter("demo.queue.depth")

        tracers = {s: p.get_tracer("demo.tracer", "0.1") for s, p in tracer_providers.items()}
        loggers = {s: p.get_logger("demo.logger", "0.1") for s, p in logger_providers.items()}
        first_root: Any = None
        for i in range(traces):
            links = (
                [Link(first_root.get_span_context(), {"link.reason": "retry"})] if i == 1 else []
            )
            with tracers["frontend"].start_as_current_span(
                "GET /checkout",
                kind=SpanKind.SERVER,
                attributes={"http.request.method": "GET", "user.id": f"u{i}", "demo.run": i},
                links=links,
            ) as root:
                if i == 0:
                    first_root = root
                root.add_event("cart.loaded", {"items": i + 1})
                loggers["frontend"].emit(
                    severity_number=SeverityNumber.INFO,
                    severity_text="INFO",
                    body=f"checkout started for u{i}",
                    attributes={"user.id": f"u{i}"},
                )
                with tracers["frontend"].start_as_current_span(
                    "POST checkout", kind=SpanKind.CLIENT
                ):
                    with tracers["checkout"].start_as_current_span(
                        "PlaceOrder", kind=SpanKind.SERVER, attributes={"order.items": i + 1}
                    ):
                        with tracers["checkout"].start_as_current_span(
                            "Charge", kind=SpanKind.CLIENT
                        ):
                            with tracers["payment"].start_as_current_span(
                                "Charge", kind=SpanKind.SERVER, record_exception=False
                            ) as charge:
                                if i == 0:
                                    charge.record_exception(ValueError("card declined"))
                                    charge.set_status(Status(StatusCode.ERROR, "card declined"))
                                    loggers["payment"].emit(
                                        severity_number=SeverityNumber.ERROR,
                                        severity_text="ERROR",
                                        body="payment failed: card declined",
                                    )
            orders.add(i + 1, {"region": "eu" if i % 2 else "us"})
            latency.record(5.0 * (i + 1) ** 2, {"route": "/checkout"})
            queue.add(1)
        loggers["checkout"].emit(
            severity_number=SeverityNumber.WARN,
            severity_text="WARN",
            body="cache is cold",
            attributes={"cache.name": "prices"},
        )
        meter_provider.force_flush()
        meter_provider.shutdown()
        for provider in (*tracer_providers.values(), *logger_providers.values()):
            provider.shutdown()

    @property
    def spans(self) -> list[ReadableSpan]:
        return list(self._span_memory.get_finished_spans())

    @property
    def logs(self) -> list[ReadableLogRecord]:
        return list(self._log_memory.get_finished_logs())

    def trace_ids(self) -> list[str]:
        """Hex trace ids, in the order the traces were made."""
        seen: dict[str, None] = {}
        for span in sorted(self.spans, key=lambda s: s.start_time or 0):
            seen.setdefault(f"{span.context.trace_id:032x}", None)
        return list(seen)


def span_hex(span: ReadableSpan) -> str:
    return f"{span.context.span_id:016x}"


def parent_hex(span: ReadableSpan) -> str:
    return f"{span.parent.span_id:016x}" if span.parent else ""
