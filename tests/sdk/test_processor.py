"""The batch processors: batching, bounds, drop counting, flush and shutdown, fork safety."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult

from otlpy.errors import ConfigError
from otlpy.sdk import BatchSpanProcessor, OTLPSpanExporter, RetryPolicy

from .otlp_servers import GrpcOtlpServer, HttpOtlpServer, Reply


def span_count(requests: Sequence[bytes]) -> int:
    total = 0
    for data in requests:
        request = ExportTraceServiceRequest()
        request.ParseFromString(data)
        total += sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)
    return total


def span_names(requests: Sequence[bytes]) -> list[str]:
    names = []
    for data in requests:
        request = ExportTraceServiceRequest()
        request.ParseFromString(data)
        names += [
            s.name for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans
        ]
    return names


def emit(provider: TracerProvider, count: int, prefix: str = "span") -> None:
    tracer = provider.get_tracer("test")
    for i in range(count):
        with tracer.start_as_current_span(f"{prefix}-{i}", attributes={"i": i}):
            pass


class BlockingExporter(SpanExporter):
    """A foreign exporter whose export() waits until released."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.exported: list[Any] = []
        self.shut = False
        self.flush_timeouts: list[int] = []

    def export(self, spans: Sequence[Any]) -> SpanExportResult:
        self.entered.set()
        self.release.wait(10)
        self.exported.extend(spans)
        return SpanExportResult.SUCCESS

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        self.flush_timeouts.append(timeout_millis)
        return True

    def shutdown(self) -> None:
        self.shut = True


class RecordOnly(Sampler):
    def should_sample(self, *args: Any, **kwargs: Any) -> SamplingResult:
        return SamplingResult(Decision.RECORD_ONLY)

    def get_description(self) -> str:
        return "record only"


def test_batches_reach_the_server(grpc_server: GrpcOtlpServer) -> None:
    processor = BatchSpanProcessor(
        OTLPSpanExporter(grpc_server.endpoint), max_export_batch_size=100
    )
    provider = TracerProvider()
    provider.add_span_processor(processor)
    emit(provider, 1050)
    assert provider.force_flush(10_000)
    received = grpc_server.received["traces"]
    assert span_count(received) == 1050
    # Encoded as they come, in pieces; sent in requests of at most a batch.
    assert len(received) >= 11
    assert max(span_count([r]) for r in received) <= 100
    assert sorted(span_names(received)) == sorted(f"span-{i}" for i in range(1050))
    stats = processor.stats()
    assert (stats.dropped_items, stats.lost_items, stats.queued_items) == (0, 0, 0)
    assert stats.delivery is not None and stats.delivery.sent_items == 1050
    provider.shutdown()


def test_schedule_delay_exports_a_partial_batch(http_server: HttpOtlpServer) -> None:
    exporter = OTLPSpanExporter(http_server.url("traces"), protocol="http/protobuf")
    processor = BatchSpanProcessor(exporter, schedule_delay_millis=50)
    provider = TracerProvider()
    provider.add_span_processor(processor)
    emit(provider, 3)
    # No flush: the timer alone must send the three spans.
    assert span_count(http_server.wait_for("traces", 1)) == 3
    provider.shutdown()


def test_unsampled_spans_are_ignored(grpc_server: GrpcOtlpServer) -> None:
    processor = BatchSpanProcessor(OTLPSpanExporter(grpc_server.endpoint))
    provider = TracerProvider(sampler=RecordOnly())
    provider.add_span_processor(processor)
    emit(provider, 10)
    assert provider.force_flush(5_000)
    assert grpc_server.received["traces"] == []
    assert processor.stats().queued_items == 0
    provider.shutdown()


def test_full_queue_drops_and_counts() -> None:
    exporter = BlockingExporter()
    processor = BatchSpanProcessor(exporter, max_queue_size=4, max_export_batch_size=2)
    provider = TracerProvider()
    provider.add_span_processor(processor)
    emit(provider, 2)
    assert exporter.entered.wait(5)
    emit(provider, 100)
    stats = processor.stats()
    assert stats.queued_items == 4
    assert stats.dropped_items == 96
    assert stats.delivery is None
    exporter.release.set()
    assert processor.force_flush(5_000)
    assert len(exporter.exported) + processor.stats().dropped_items == 102
    provider.shutdown()
    assert exporter.shut


def test_force_flush_respects_its_timeout() -> None:
    exporter = BlockingExporter()
    processor = BatchSpanProcessor(exporter)
    provider = TracerProvider()
    provider.add_span_processor(processor)
    emit(provider, 3)
    assert processor.force_flush(100) is False
    assert exporter.entered.is_set() and not exporter.exported  # still blocked: did not wait
    exporter.release.set()
    assert processor.force_flush(5_000)
    assert len(exporter.exported) == 3
    assert exporter.flush_timeouts and exporter.flush_timeouts[-1] <= 5_000
    provider.shutdown()


def test_flush_waits_for_delivery(grpc_server: GrpcOtlpServer) -> None:
    grpc_server.script(Reply(delay=1.0))
    exporter = OTLPSpanExporter(grpc_server.endpoint, timeout=5)
    processor = BatchSpanProcessor(exporter)
    provider = TracerProvider()
    provider.add_span_processor(processor)
    emit(provider, 5)
    assert processor.force_flush(100) is False
    assert grpc_server.received["traces"] == []  # the server had not answered yet
    assert processor.force_flush(10_000)
    assert span_count(grpc_server.received["traces"]) == 5
    provider.shutdown()


def test_shutdown_respects_its_timeout(grpc_server: GrpcOtlpServer) -> None:
    grpc_server.script(Reply(delay=3.0))
    exporter = OTLPSpanExporter(grpc_server.endpoint, timeout=5)
    processor = BatchSpanProcessor(exporter)
    provider = TracerProvider()
    provider.add_span_processor(processor)
    emit(provider, 5)
    processor.shutdown(timeout_millis=200)
    assert grpc_server.received["traces"] == []  # returned before the server answered
    emit(provider, 2)
    assert processor.stats().dropped_items == 2
    processor.shutdown()  # twice is fine
    assert processor.force_flush(100) is False


def test_shutdown_exports_what_is_queued(grpc_server: GrpcOtlpServer) -> None:
    processor = BatchSpanProcessor(OTLPSpanExporter(grpc_server.endpoint))
    provider = TracerProvider()
    provider.add_span_processor(processor)
    emit(provider, 7)
    provider.shutdown()
    assert span_count(grpc_server.received["traces"]) == 7


def test_foreign_exporter_gets_readable_spans() -> None:
    exporter = BlockingExporter()
    exporter.release.set()
    processor = BatchSpanProcessor(exporter, schedule_delay_millis=10_000)
    assert processor.span_exporter is exporter
    provider = TracerProvider()
    provider.add_span_processor(processor)
    emit(provider, 3, prefix="x")
    provider.shutdown()
    assert [s.name for s in exporter.exported] == ["x-0", "x-1", "x-2"]


def test_exporter_errors_do_not_kill_the_worker() -> None:
    class Failing(BlockingExporter):
        calls = 0

        def export(self, spans: Sequence[Any]) -> SpanExportResult:
            Failing.calls += 1
            if Failing.calls == 1:
                raise RuntimeError("boom")
            return super().export(spans)

    exporter = Failing()
    exporter.release.set()
    processor = BatchSpanProcessor(exporter, max_export_batch_size=1)
    provider = TracerProvider()
    provider.add_span_processor(processor)
    emit(provider, 3)
    assert processor.force_flush(5_000)
    assert len(exporter.exported) == 2
    provider.shutdown()


def test_encoding_failure_is_counted(grpc_server: GrpcOtlpServer) -> None:
    exporter = OTLPSpanExporter(grpc_server.endpoint)
    processor = BatchSpanProcessor(exporter)

    def broken(items: Any) -> bytes:
        raise ValueError("cannot encode")

    exporter._otlpy.encode = broken
    provider = TracerProvider()
    provider.add_span_processor(processor)
    emit(provider, 4)
    assert processor.force_flush(5_000)
    assert processor.stats().lost_items == 4
    assert exporter.stats().dropped_items == 4
    provider.shutdown()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_queue_size": 0},
        {"schedule_delay_millis": 0},
        {"max_export_batch_size": 0},
        {"max_queue_size": 10, "max_export_batch_size": 20},
        {"export_timeout_millis": -1},
    ],
)
def test_bad_arguments(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        BatchSpanProcessor(BlockingExporter(), **kwargs)


def test_environment_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_BSP_MAX_QUEUE_SIZE", "64")
    monkeypatch.setenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "16")
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "250")
    monkeypatch.setenv("OTEL_BSP_EXPORT_TIMEOUT", "garbage")
    batcher = BatchSpanProcessor(BlockingExporter())._batcher
    assert (batcher.max_queue_size, batcher.batch_size, batcher.delay) == (64, 16, 0.25)
    assert batcher.export_timeout_millis == 30_000


def test_forked_without_hooks_starts_over(grpc_server: GrpcOtlpServer) -> None:
    # uWSGI may fork without running os.register_at_fork hooks: the processor notices that its
    # worker belongs to another process and starts its own, keeping only its own span.
    exporter = OTLPSpanExporter(grpc_server.endpoint)
    processor = BatchSpanProcessor(exporter)
    provider = TracerProvider()
    provider.add_span_processor(processor)
    emit(provider, 1, prefix="before")
    batcher = processor._batcher
    batcher._worker_pid = -1  # what a child sees: a worker started by another pid
    exporter._otlpy.delivery._pid = -1
    emit(provider, 1, prefix="after")
    assert processor.force_flush(5_000)
    assert span_names(grpc_server.received["traces"]) == ["after-0"]
    provider.shutdown()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_fork(grpc_server: GrpcOtlpServer, http_server: HttpOtlpServer, protocol: str) -> None:
    server: GrpcOtlpServer | HttpOtlpServer
    if protocol == "grpc":
        server, endpoint = grpc_server, grpc_server.endpoint
    else:
        server, endpoint = http_server, http_server.url("traces")
    exporter = OTLPSpanExporter(endpoint, protocol=protocol, retry_policy=RetryPolicy())
    processor = BatchSpanProcessor(exporter)
    provider = TracerProvider()
    provider.add_span_processor(processor)
    # The parent already has a connection (channel or pool) and a worker thread.
    emit(provider, 2, prefix="parent-before")
    assert processor.force_flush(5_000)
    # 40 more: the worker encodes 32 of them at once and keeps the bytes until a batch is full.
    emit(provider, 40, prefix="parent-queued")
    deadline = time.monotonic() + 5
    while processor._batcher._pending_items < 32 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert processor._batcher._pending_items == 32
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through its exit status
        code = 1
        try:
            emit(provider, 3, prefix="child")
            code = 0 if processor.force_flush(10_000) else 2
            provider.shutdown()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    emit(provider, 1, prefix="parent-after")
    assert processor.force_flush(10_000)
    names = sorted(span_names(server.received["traces"]))
    # Each span once: the child sent neither its parent's queued spans nor its encoded ones.
    assert names == sorted(
        ["child-0", "child-1", "child-2", "parent-after-0", "parent-before-0", "parent-before-1"]
        + [f"parent-queued-{i}" for i in range(40)]
    )
    provider.shutdown()
