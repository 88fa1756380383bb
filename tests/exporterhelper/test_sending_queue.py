"""The exporter helper with a sending queue: in memory and on disk."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from pathlib import Path

import pytest

from builders import batch
from otlpy.component import Component, ComponentID, Kind, Settings
from otlpy.errors import PartialSuccess, PermanentError, RetryableError
from otlpy.exporterhelper import (
    Exporter,
    MemoryQueue,
    QueueClosedError,
    QueueConfig,
    QueueFullError,
    RecordTooLargeError,
    RetryConfig,
)
from otlpy.exporterhelper.persistent_batch_queue import (
    PersistentBatchQueue,
    decode_record,
    encode_record,
)
from otlpy.exporterhelper.persistent_queue import PersistentQueue
from otlpy.extensions.file_storage import FileStorage, FileStorageConfig
from otlpy.pdata import Batch, Signal
from otlpy.telemetry import SelfTelemetry

FAST = RetryConfig(initial_interval=0.001, max_interval=0.004, max_elapsed_time=5.0)
SLOW = RetryConfig(initial_interval=30, max_interval=30, max_elapsed_time=0)


class Host:
    def __init__(self, extensions: Mapping[ComponentID, Component] | None = None) -> None:
        self._extensions = dict(extensions or {})

    def get_extension(self, id: ComponentID) -> Component | None:
        return self._extensions.get(id)

    @property
    def extensions(self) -> Mapping[ComponentID, Component]:
        return self._extensions


def settings(telemetry: SelfTelemetry, name: str = "x") -> Settings:
    return Settings(
        id=ComponentID("otlp", name),
        kind=Kind.EXPORTER,
        telemetry=telemetry,
        logger=logging.getLogger("test.exporter"),
    )


def sample(telemetry: SelfTelemetry, name: str) -> float:
    return telemetry.registry.get_sample_value(name, {"exporter": "otlp/x"}) or 0.0


def storage(tmp_path: Path, telemetry: SelfTelemetry, **options: object) -> FileStorage:
    config = FileStorageConfig(directory=str(tmp_path / "storage"), **options)  # type: ignore[arg-type]
    return FileStorage(settings(telemetry, "storage"), config)


class Backend:
    """A push function whose behaviour a test steers."""

    def __init__(self) -> None:
        self.received: list[Batch] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.error: BaseException | None = None
        self.calls = 0

    async def push(self, b: Batch) -> None:
        self.calls += 1
        await self.gate.wait()
        if self.error is not None:
            raise self.error
        self.received.append(b)

    @property
    def items(self) -> int:
        return sum(b.items for b in self.received)


async def wait_until(condition: object, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():  # type: ignore[operator]
            await asyncio.sleep(0.002)


# -- the memory queue on its own -----------------------------------------------------------


@pytest.mark.parametrize(("sizer", "expected"), [("requests", 1), ("items", 5), ("bytes", None)])
async def test_memory_queue_measures_with_its_sizer(sizer: str, expected: int | None) -> None:
    b = batch(Signal.TRACES, 5)
    queue = MemoryQueue(10_000, sizer)
    entry = await queue.put(b)
    assert queue.size() == (expected if expected is not None else len(b.raw))
    assert len(queue) == 1
    assert await queue.get() is entry
    assert queue.size() == entry.size  # still held while being sent
    queue.done(entry)
    assert queue.size() == 0


async def test_memory_queue_refuses_when_full_and_when_too_large() -> None:
    queue = MemoryQueue(2)
    await queue.put(batch(Signal.LOGS, 1))
    await queue.put(batch(Signal.LOGS, 1))
    with pytest.raises(QueueFullError, match="2 of 2 requests") as info:
        await queue.put(batch(Signal.LOGS, 1))
    assert info.value.retry_after == 1.0
    with pytest.raises(RecordTooLargeError):
        await MemoryQueue(3, "items").put(batch(Signal.LOGS, 4))
    with pytest.raises(ValueError, match="capacity"):
        MemoryQueue(0)


async def test_memory_queue_blocks_on_overflow_until_room() -> None:
    queue = MemoryQueue(1, block_on_overflow=True)
    first = await queue.put(batch(Signal.LOGS, 1))
    waiting = asyncio.create_task(queue.put(batch(Signal.LOGS, 1)))
    await asyncio.sleep(0.01)
    assert not waiting.done()
    taken = await queue.get()
    assert taken is first
    queue.done(taken)
    second = await asyncio.wait_for(waiting, 5)
    assert await queue.get() is second
    blocked = asyncio.create_task(queue.put(batch(Signal.LOGS, 1)))
    await asyncio.sleep(0.01)
    await queue.close()
    with pytest.raises(QueueClosedError):
        await blocked


async def test_memory_queue_drains_after_close() -> None:
    queue = MemoryQueue(10)
    entries = [await queue.put(batch(Signal.LOGS, 1)) for _ in range(3)]
    await queue.close()
    with pytest.raises(QueueClosedError):
        await queue.put(batch(Signal.LOGS, 1))
    assert [await queue.get() for _ in range(3)] == entries
    assert await queue.get() is None
    waiting = MemoryQueue(1)
    getter = asyncio.create_task(waiting.get())
    await asyncio.sleep(0.01)
    await waiting.close()
    assert await asyncio.wait_for(getter, 5) is None


def test_batch_records_round_trip_and_refuse_garbage() -> None:
    for signal in Signal:
        original = batch(signal, 4)
        again = decode_record(encode_record(original))
        assert again.signal is signal
        assert again.raw == original.raw
        assert again.items == original.items
    for bad in (b"", b"\x09\x01\x00\x00\x00\x00", b"\x01\x07\x00\x00\x00\x00"):
        with pytest.raises(ValueError):
            decode_record(bad)


# -- the exporter with a memory queue ------------------------------------------------------


async def test_consume_returns_once_queued_and_senders_deliver() -> None:
    telemetry = SelfTelemetry()
    backend = Backend()
    backend.gate.clear()
    exporter = Exporter(settings(telemetry), backend.push, retry=FAST, queue=QueueConfig())
    await exporter.start(Host())
    for _ in range(3):
        await exporter.consume(batch(Signal.TRACES, 2))
    assert backend.received == []
    assert sample(telemetry, "otelcol_exporter_queue_size") == 3
    assert sample(telemetry, "otelcol_exporter_queue_capacity") == 1000
    backend.gate.set()
    await wait_until(lambda: backend.items == 6)
    await exporter.shutdown()
    assert sample(telemetry, "otelcol_exporter_sent_spans_total") == 6
    assert sample(telemetry, "otelcol_exporter_queue_size") == 0


async def test_a_full_queue_is_refused_counted_and_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    telemetry = SelfTelemetry()
    backend = Backend()
    backend.gate.clear()
    config = QueueConfig(queue_size=2, num_consumers=1)
    exporter = Exporter(settings(telemetry), backend.push, retry=FAST, queue=config)
    await exporter.start(Host())
    for _ in range(2):  # one being sent, one waiting: both count
        await exporter.consume(batch(Signal.LOGS, 1))
        await asyncio.sleep(0.01)
    with caplog.at_level(logging.WARNING):
        for _ in range(5):
            with pytest.raises(QueueFullError) as info:
                await exporter.consume(batch(Signal.LOGS, 3))
    assert info.value.retry_after
    assert sample(telemetry, "otelcol_exporter_enqueue_failed_log_records_total") == 15
    assert caplog.text.count("sending queue refused") == 1
    backend.gate.set()
    await exporter.shutdown()
    assert backend.items == 2


async def test_wait_for_result_reports_the_export_outcome() -> None:
    telemetry = SelfTelemetry()
    backend = Backend()
    config = QueueConfig(wait_for_result=True)
    exporter = Exporter(settings(telemetry), backend.push, retry=FAST, queue=config)
    await exporter.start(Host())
    await exporter.consume(batch(Signal.METRICS, 2))
    assert backend.items == 2
    backend.error = PermanentError("schema violation")
    with pytest.raises(PermanentError, match="schema"):
        await exporter.consume(batch(Signal.METRICS, 2))
    backend.error = PartialSuccess(1, "one bad point")
    await exporter.consume(batch(Signal.METRICS, 3))
    await exporter.shutdown()
    assert sample(telemetry, "otelcol_exporter_sent_metric_points_total") == 4
    assert sample(telemetry, "otelcol_exporter_send_failed_metric_points_total") == 3


async def test_a_permanent_error_is_dropped_once_and_counted() -> None:
    telemetry = SelfTelemetry()
    backend = Backend()
    backend.error = PermanentError("400 bad request")
    exporter = Exporter(settings(telemetry), backend.push, retry=FAST, queue=QueueConfig())
    await exporter.start(Host())
    await exporter.consume(batch(Signal.TRACES, 4))
    await wait_until(lambda: sample(telemetry, "otelcol_exporter_send_failed_spans_total") == 4)
    await exporter.shutdown()
    assert backend.calls == 1
    assert exporter.queue is None


async def test_retryable_errors_are_retried_in_the_background() -> None:
    telemetry = SelfTelemetry()
    backend = Backend()
    backend.error = RetryableError("503")
    exporter = Exporter(settings(telemetry), backend.push, retry=FAST, queue=QueueConfig())
    await exporter.start(Host())
    await exporter.consume(batch(Signal.TRACES, 4))
    await wait_until(lambda: backend.calls >= 3)
    backend.error = None
    await wait_until(lambda: backend.items == 4)
    await exporter.shutdown()
    assert sample(telemetry, "otelcol_exporter_send_failed_spans_total") == 0


async def test_a_bug_in_push_is_counted_and_the_sender_survives() -> None:
    telemetry = SelfTelemetry()
    backend = Backend()
    backend.error = ZeroDivisionError("oops")
    exporter = Exporter(
        settings(telemetry), backend.push, retry=FAST, queue=QueueConfig(num_consumers=1)
    )
    await exporter.start(Host())
    await exporter.consume(batch(Signal.TRACES, 1))
    await wait_until(lambda: sample(telemetry, "otelcol_exporter_send_failed_spans_total") == 1)
    backend.error = None
    await exporter.consume(batch(Signal.TRACES, 2))
    await wait_until(lambda: backend.items == 2)
    await exporter.shutdown()


async def test_consume_before_start_is_refused_as_retryable() -> None:
    telemetry = SelfTelemetry()
    exporter = Exporter(settings(telemetry), Backend().push, queue=QueueConfig())
    with pytest.raises(QueueClosedError):
        await exporter.consume(batch(Signal.LOGS, 2))
    assert sample(telemetry, "otelcol_exporter_enqueue_failed_log_records_total") == 2
    await exporter.shutdown()


async def test_shutdown_drains_the_memory_queue() -> None:
    telemetry = SelfTelemetry()
    backend = Backend()
    backend.gate.clear()
    exporter = Exporter(settings(telemetry), backend.push, retry=SLOW, queue=QueueConfig())
    await exporter.start(Host())
    for _ in range(50):
        await exporter.consume(batch(Signal.TRACES, 2))
    stopping = asyncio.create_task(exporter.shutdown())
    await asyncio.sleep(0.01)
    assert not stopping.done()
    backend.gate.set()
    await asyncio.wait_for(stopping, 10)
    assert backend.items == 100


async def test_shutdown_stops_retrying_first_and_counts_what_cannot_be_sent() -> None:
    telemetry = SelfTelemetry()
    backend = Backend()
    backend.error = RetryableError("backend down")
    config = QueueConfig(num_consumers=2)
    exporter = Exporter(settings(telemetry), backend.push, retry=SLOW, queue=config)
    await exporter.start(Host())
    for _ in range(10):
        await exporter.consume(batch(Signal.TRACES, 1))
    await wait_until(lambda: backend.calls >= 2)  # both senders are in a 30 s backoff
    await asyncio.wait_for(exporter.shutdown(), 10)
    # every batch got an attempt, none waited out a backoff, all are accounted for
    assert backend.calls == 10
    assert sample(telemetry, "otelcol_exporter_send_failed_spans_total") == 10


async def test_a_shutdown_deadline_counts_what_is_left_as_failed() -> None:
    telemetry = SelfTelemetry()
    backend = Backend()
    backend.gate.clear()  # the backend hangs
    config = QueueConfig(num_consumers=1)
    exporter = Exporter(settings(telemetry), backend.push, timeout=0, retry=SLOW, queue=config)
    await exporter.start(Host())
    for _ in range(5):
        await exporter.consume(batch(Signal.LOGS, 1))
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(exporter.shutdown(), 0.05)
    assert sample(telemetry, "otelcol_exporter_send_failed_log_records_total") == 5


# -- the exporter with a persistent queue --------------------------------------------------


async def test_persistent_queue_keeps_undelivered_batches_for_the_next_start(
    tmp_path: Path,
) -> None:
    telemetry = SelfTelemetry()
    ext = storage(tmp_path, telemetry)
    host = Host({ComponentID("file_storage"): ext})
    backend = Backend()
    backend.error = RetryableError("backend down")
    config = QueueConfig(storage="file_storage", num_consumers=2)
    exporter = Exporter(settings(telemetry), backend.push, retry=SLOW, queue=config)
    await ext.start(host)  # type: ignore[arg-type]
    await exporter.start(host)  # type: ignore[arg-type]
    sent = [batch(Signal.TRACES, 3) for _ in range(6)]
    for b in sent:
        await exporter.consume(b)
    assert sample(telemetry, "otelcol_exporter_queue_size") == 6
    await wait_until(lambda: backend.calls >= 2)
    await asyncio.wait_for(exporter.shutdown(), 10)
    await ext.shutdown()
    assert sample(telemetry, "otelcol_exporter_send_failed_spans_total") == 0  # kept, not failed
    assert (tmp_path / "storage" / "exporter_otlp_x").is_dir()

    telemetry2 = SelfTelemetry()
    ext2 = storage(tmp_path, telemetry2)
    host2 = Host({ComponentID("file_storage"): ext2})
    backend2 = Backend()
    exporter2 = Exporter(settings(telemetry2), backend2.push, retry=FAST, queue=config)
    await ext2.start(host2)  # type: ignore[arg-type]
    await exporter2.start(host2)  # type: ignore[arg-type]
    await wait_until(lambda: backend2.items == 18)
    await exporter2.shutdown()
    await ext2.shutdown()
    assert sorted(b.raw for b in backend2.received) == sorted(b.raw for b in sent)


async def test_persistent_queue_refuses_when_full_and_can_block(tmp_path: Path) -> None:
    telemetry = SelfTelemetry()
    ext = storage(tmp_path, telemetry)
    host = Host({ComponentID("file_storage"): ext})
    backend = Backend()
    backend.gate.clear()
    config = QueueConfig(storage="file_storage", queue_size=5, sizer="items", num_consumers=1)
    exporter = Exporter(settings(telemetry), backend.push, retry=FAST, queue=config)
    await exporter.start(host)  # type: ignore[arg-type]
    assert sample(telemetry, "otelcol_exporter_queue_capacity") == 5
    await exporter.consume(batch(Signal.TRACES, 3))
    with pytest.raises(QueueFullError) as info:
        await exporter.consume(batch(Signal.TRACES, 3))
    assert info.value.retry_after
    assert sample(telemetry, "otelcol_exporter_enqueue_failed_spans_total") == 3
    backend.gate.set()
    await wait_until(lambda: backend.items == 3)
    await exporter.shutdown()

    blocking = QueueConfig(
        storage="file_storage", queue_size=1, num_consumers=1, block_on_overflow=True
    )
    backend.gate.clear()
    exporter = Exporter(settings(telemetry), backend.push, retry=FAST, queue=blocking)
    await exporter.start(host)  # type: ignore[arg-type]
    await exporter.consume(batch(Signal.TRACES, 1))
    waiting = asyncio.create_task(exporter.consume(batch(Signal.TRACES, 1)))
    await asyncio.sleep(0.02)
    assert not waiting.done()
    backend.gate.set()
    await asyncio.wait_for(waiting, 10)
    await wait_until(lambda: backend.items == 5)
    await exporter.shutdown()
    await ext.shutdown()


async def test_persistent_queue_with_wait_for_result(tmp_path: Path) -> None:
    telemetry = SelfTelemetry()
    ext = storage(tmp_path, telemetry, fsync="always")
    host = Host({ComponentID("file_storage"): ext})
    backend = Backend()
    config = QueueConfig(storage="file_storage", wait_for_result=True)
    exporter = Exporter(settings(telemetry), backend.push, retry=FAST, queue=config)
    await exporter.start(host)  # type: ignore[arg-type]
    await exporter.consume(batch(Signal.LOGS, 2))
    assert backend.items == 2
    backend.error = PermanentError("nope")
    with pytest.raises(PermanentError):
        await exporter.consume(batch(Signal.LOGS, 2))
    await exporter.shutdown()
    await ext.shutdown()


async def test_a_missing_or_unsuitable_storage_extension_fails_the_start(tmp_path: Path) -> None:
    telemetry = SelfTelemetry()
    config = QueueConfig(storage="file_storage/missing")
    stopped: list[bool] = []

    async def on_stop() -> None:
        stopped.append(True)

    exporter = Exporter(settings(telemetry), Backend().push, queue=config, shutdown=on_stop)
    with pytest.raises(PermanentError, match="file_storage/missing is not configured"):
        await exporter.start(Host())
    assert stopped == [True]  # what the start hook opened is closed again
    config = QueueConfig(storage="health_check")
    exporter = Exporter(settings(telemetry), Backend().push, queue=config)
    with pytest.raises(PermanentError, match="cannot hold a persistent queue"):
        await exporter.start(Host({ComponentID("health_check"): Host()}))  # type: ignore[dict-item]


async def test_a_record_this_version_cannot_read_is_dropped_and_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pq = PersistentQueue.open(tmp_path)
    pq.put(b"\x07garbage")
    good = batch(Signal.LOGS, 2)
    pq.put(encode_record(good))
    queue = PersistentBatchQueue(pq, "requests")
    with caplog.at_level(logging.ERROR):
        entry = await queue.get()
    assert entry is not None and entry.batch.raw == good.raw
    assert "unknown batch record version" in caplog.text
    queue.done(entry)
    assert queue.size() == 0
    await queue.close()
