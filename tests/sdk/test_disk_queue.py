"""The disk queue: an outage, a restart or a crash loses nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import grpc
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SpanExportResult

from otlpy.errors import ConfigError
from otlpy.sdk import QUEUE_DIR_ENV, BatchSpanProcessor, OTLPSpanExporter, RetryPolicy, _queue

from .otlp_servers import GrpcOtlpServer, Reply, free_port
from .test_processor import emit, span_count, span_names

FAST = RetryPolicy(initial_interval=0.05, max_interval=0.2, jitter=0, max_elapsed=None)


def test_outage_then_restart_loses_nothing(tmp_path: Path) -> None:
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    # The collector is down: the spans wait on disk, and shutdown leaves them there.
    processor = BatchSpanProcessor(
        OTLPSpanExporter(endpoint, queue_dir=tmp_path, retry_policy=FAST, timeout=0.5)
    )
    provider = TracerProvider()
    provider.add_span_processor(processor)
    emit(provider, 700, prefix="kept")
    assert processor.force_flush(300) is False
    processor.shutdown(timeout_millis=300)
    stats = processor.stats()
    assert stats.dropped_items == 0 and stats.delivery is not None
    assert stats.delivery.failed_items == 0
    assert list((tmp_path / "traces").glob("slot-*"))
    # The application restarts and the collector is back: the old spans go out by themselves.
    server = GrpcOtlpServer(port).start()
    try:
        exporter = OTLPSpanExporter(endpoint, queue_dir=tmp_path, retry_policy=FAST)
        received = server.wait_for("traces", 2)
        assert span_count(received) == 700
        assert sorted(span_names(received)) == sorted(f"kept-{i}" for i in range(700))
        exporter.shutdown()
    finally:
        server.stop()


CRASHING_APP = textwrap.dedent(
    """
    import sys, time
    from opentelemetry.sdk.trace import TracerProvider
    from otlpy.sdk import OTLPSpanExporter, RetryPolicy

    exporter = OTLPSpanExporter(
        sys.argv[1], retry_policy=RetryPolicy(initial_interval=5, max_elapsed=None)
    )
    provider = TracerProvider()
    tracer = provider.get_tracer("crash")
    spans = []
    for i in range(25):
        with tracer.start_as_current_span(f"crash-{i}") as span:
            spans.append(span)
    assert exporter.export(spans).name == "SUCCESS"  # queued on disk
    print("queued", flush=True)
    time.sleep(60)
    """
)


def test_crash_loses_nothing(tmp_path: Path) -> None:
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    env = {**os.environ, QUEUE_DIR_ENV: str(tmp_path)}
    app = subprocess.Popen(
        [sys.executable, "-c", CRASHING_APP, endpoint], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert app.stdout is not None
        assert app.stdout.readline().strip() == "queued"
    finally:
        os.kill(app.pid, signal.SIGKILL)
        app.wait(10)
    server = GrpcOtlpServer(port).start()
    try:
        exporter = OTLPSpanExporter(endpoint, queue_dir=tmp_path, retry_policy=FAST)
        received = server.wait_for("traces", 1)
        assert sorted(span_names(received)) == sorted(f"crash-{i}" for i in range(25))
        exporter.shutdown()
    finally:
        server.stop()


def test_environment_variable_and_slots(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, grpc_server: GrpcOtlpServer, spans: list[Any]
) -> None:
    monkeypatch.setenv(QUEUE_DIR_ENV, str(tmp_path))
    first = OTLPSpanExporter(grpc_server.endpoint, retry_policy=FAST)
    second = OTLPSpanExporter(grpc_server.endpoint, retry_policy=FAST)
    assert first.export(spans) is SpanExportResult.SUCCESS
    assert second.export(spans) is SpanExportResult.SUCCESS
    assert first.force_flush(5_000) and second.force_flush(5_000)
    assert span_count(grpc_server.received["traces"]) == 2 * len(spans)
    # Each exporter holds a queue directory of its own while it runs.
    assert sorted(p.name for p in (tmp_path / "traces").iterdir()) == ["slot-0", "slot-1"]
    first.shutdown()
    second.shutdown()


def test_permanent_errors_are_not_kept(tmp_path: Path, grpc_server: GrpcOtlpServer) -> None:
    grpc_server.script(Reply(code=grpc.StatusCode.INVALID_ARGUMENT, details="bad"))
    exporter = OTLPSpanExporter(grpc_server.endpoint, queue_dir=tmp_path, retry_policy=FAST)
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(exporter))
    emit(provider, 3)
    assert provider.force_flush(5_000)
    assert exporter.stats().failed_items == 3
    emit(provider, 2)
    provider.shutdown()
    assert exporter.stats().sent_items == 2
    assert grpc_server.attempts["traces"] == 2


def test_full_disk_queue_drops(tmp_path: Path) -> None:
    exporter = OTLPSpanExporter(
        f"http://127.0.0.1:{free_port()}",
        queue_dir=tmp_path,
        max_queue_bytes=4096,
        retry_policy=FAST,
        timeout=0.2,
    )
    delivery = exporter._otlpy.delivery
    assert delivery.submit(b"x" * 100, 1)
    assert not delivery.submit(b"x" * 8192, 5)
    assert exporter.stats().dropped_items == 5
    exporter.shutdown(200)


def test_without_the_persistent_queue_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def missing(name: str) -> Any:
        raise ImportError(name)

    monkeypatch.setattr(_queue.importlib, "import_module", missing)
    with pytest.raises(ConfigError, match="queue_dir"):
        _queue.open_disk_queue(tmp_path, max_bytes=1 << 20, fsync=None)
