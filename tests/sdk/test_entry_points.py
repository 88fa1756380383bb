"""OTEL_{TRACES,METRICS,LOGS}_EXPORTER=otlpy selects our exporters in the SDK's configurator."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
from opentelemetry.sdk._configuration import _get_exporter_names, _import_exporters

import otlpy.sdk
import otlpy.sdk.grpc
import otlpy.sdk.http

from .otlp_servers import GrpcOtlpServer, HttpOtlpServer

# What an application run by `opentelemetry-instrument` does: the SDK's configurator builds the
# providers from the environment; the application emits one span, one metric and one log.
APP = textwrap.dedent(
    """
    from opentelemetry import _logs, metrics, trace
    from opentelemetry.sdk._configuration import _OTelSDKConfigurator

    _OTelSDKConfigurator().configure()
    with trace.get_tracer("app").start_as_current_span("handled-request"):
        metrics.get_meter("app").create_counter("hits").add(3)
        _logs.get_logger("app").emit(body="hello from the app")
    trace.get_tracer_provider().shutdown()
    metrics.get_meter_provider().shutdown()
    _logs.get_logger_provider().shutdown()
    """
)


def test_names_resolve_to_our_classes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlpy")
    monkeypatch.setenv("OTEL_METRICS_EXPORTER", "otlpy_proto_http")
    monkeypatch.setenv("OTEL_LOGS_EXPORTER", "otlpy_proto_grpc")
    traces, metrics, logs = _import_exporters(
        _get_exporter_names("traces"), _get_exporter_names("metrics"), _get_exporter_names("logs")
    )
    assert traces == {"otlpy": otlpy.sdk.OTLPSpanExporter}
    assert metrics == {"otlpy_proto_http": otlpy.sdk.http.OTLPMetricExporter}
    assert logs == {"otlpy_proto_grpc": otlpy.sdk.grpc.OTLPLogExporter}


def _run(args: list[str], env: dict[str, str]) -> str:
    """Run ``python ARGS`` with only the given ``OTEL_*`` variables; its standard output."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    full.update(env)
    result = subprocess.run(
        [sys.executable, *args],
        check=False,
        env=full,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def _run_app(env: dict[str, str]) -> None:
    _run(["-c", APP], env)


def test_configurator_over_grpc(grpc_server: GrpcOtlpServer) -> None:
    _run_app(
        {
            "OTEL_TRACES_EXPORTER": "otlpy",
            "OTEL_METRICS_EXPORTER": "otlpy",
            "OTEL_LOGS_EXPORTER": "otlpy",
            "OTEL_EXPORTER_OTLP_ENDPOINT": grpc_server.endpoint,
        }
    )
    assert b"handled-request" in grpc_server.received["traces"][0]
    assert any(b"hits" in r for r in grpc_server.received["metrics"])
    assert b"hello from the app" in grpc_server.received["logs"][0]


def test_configurator_over_http(http_server: HttpOtlpServer) -> None:
    _run_app(
        {
            "OTEL_TRACES_EXPORTER": "otlpy",
            "OTEL_METRICS_EXPORTER": "otlpy",
            "OTEL_LOGS_EXPORTER": "otlpy",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL": "http/json",
            "OTEL_EXPORTER_OTLP_ENDPOINT": http_server.endpoint,
            "OTEL_EXPORTER_OTLP_TIMEOUT": "5000",
        }
    )
    assert b"handled-request" in http_server.received["traces"][0]
    assert any(b"hits" in r for r in http_server.received["metrics"])
    assert http_server.content_types["logs"] == ["application/json"]
    assert b"hello from the app" in http_server.received["logs"][0]


# Run by `opentelemetry-instrument`: the configurator comes from the entry point, not the app.
INSTRUMENTED_APP = textwrap.dedent(
    """
    from opentelemetry import _logs, trace

    provider = trace.get_tracer_provider()
    for processor in provider._active_span_processor._span_processors:
        print("span processor", type(processor).__module__, type(processor).__name__)
    with trace.get_tracer("app").start_as_current_span("instrumented-request"):
        _logs.get_logger("app").emit(body="hello from the instrumented app")
    provider.shutdown()
    _logs.get_logger_provider().shutdown()
    """
)
INSTRUMENT = (
    "import sys\n"
    "from opentelemetry.instrumentation.auto_instrumentation import run\n"
    "sys.argv[0] = 'opentelemetry-instrument'\n"
    "run()\n"
)


def _instrument(env: dict[str, str]) -> str:
    return _run(["-c", INSTRUMENT, sys.executable, "-c", INSTRUMENTED_APP], env)


def test_opentelemetry_instrument_gets_our_processors(grpc_server: GrpcOtlpServer) -> None:
    out = _instrument(
        {
            "OTEL_PYTHON_CONFIGURATOR": "otlpy",
            "OTEL_TRACES_EXPORTER": "otlpy",
            "OTEL_METRICS_EXPORTER": "none",
            "OTEL_LOGS_EXPORTER": "otlpy",
            "OTEL_EXPORTER_OTLP_ENDPOINT": grpc_server.endpoint,
        }
    )
    assert "span processor otlpy.sdk._processor BatchSpanProcessor" in out
    assert b"instrumented-request" in grpc_server.received["traces"][0]
    assert b"hello from the instrumented app" in grpc_server.received["logs"][0]


def test_other_exporters_keep_the_sdk_processor(grpc_server: GrpcOtlpServer) -> None:
    # one of them is not ours: the SDK's processor for all, exactly as the SDK configures it
    out = _instrument(
        {
            "OTEL_PYTHON_CONFIGURATOR": "otlpy",
            "OTEL_TRACES_EXPORTER": "otlpy,console",
            "OTEL_METRICS_EXPORTER": "none",
            "OTEL_LOGS_EXPORTER": "none",
            "OTEL_EXPORTER_OTLP_ENDPOINT": grpc_server.endpoint,
        }
    )
    processors = [line for line in out.splitlines() if line.startswith("span processor")]
    assert processors == ["span processor opentelemetry.sdk.trace.export BatchSpanProcessor"] * 2
    assert b"instrumented-request" in grpc_server.received["traces"][0]
