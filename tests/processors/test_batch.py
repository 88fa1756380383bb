from __future__ import annotations

import asyncio
import logging

import pytest

from builders import batch, logs, metrics, traces
from otlpy.component import ComponentID, Kind, Settings
from otlpy.errors import RetryableError
from otlpy.pdata import Batch, Signal, count_items
from otlpy.processors.batch import BatchConfig, BatchProcessor
from otlpy.processors.batch_split import split_batch
from otlpy.telemetry import SelfTelemetry
from otlpy.testing import SinkConsumer


def make(
    config: BatchConfig, signal: Signal = Signal.TRACES
) -> tuple[BatchProcessor, SinkConsumer, SelfTelemetry]:
    telemetry = SelfTelemetry()
    sink = SinkConsumer()
    settings = Settings(
        id=ComponentID("batch"),
        kind=Kind.PROCESSOR,
        telemetry=telemetry,
        logger=logging.getLogger("test.batch"),
        signal=signal,
    )
    return BatchProcessor(settings, config, sink), sink, telemetry


def metric_value(telemetry: SelfTelemetry, name: str) -> float:
    value = telemetry.registry.get_sample_value(name, {"processor": "batch"})
    return value or 0.0


async def test_size_trigger_merges_raw_bytes() -> None:
    processor, sink, telemetry = make(BatchConfig(send_batch_size=10, timeout=60.0))
    await processor.start(None)  # type: ignore[arg-type]
    parts = [Batch(Signal.TRACES, raw=traces(5).SerializeToString()) for _ in range(2)]
    for part in parts:
        await processor.consume(part)
    await sink.wait_for_items(10)
    assert len(sink.batches) == 1
    merged = sink.batches[0]
    assert merged.has_raw and merged.raw == parts[0].raw + parts[1].raw
    assert merged.items == 10
    assert metric_value(telemetry, "otelcol_processor_batch_batch_size_trigger_send_total") == 1
    await processor.shutdown()


async def test_timeout_trigger_sends_partial_batch() -> None:
    processor, sink, telemetry = make(BatchConfig(send_batch_size=1000, timeout=0.05))
    await processor.start(None)  # type: ignore[arg-type]
    await processor.consume(batch(Signal.LOGS, 3))
    await sink.wait_for_items(3)
    assert metric_value(telemetry, "otelcol_processor_batch_timeout_trigger_send_total") == 1
    await processor.shutdown()


async def test_shutdown_flushes_everything() -> None:
    processor, sink, _ = make(BatchConfig(send_batch_size=1000, timeout=3600.0))
    await processor.start(None)  # type: ignore[arg-type]
    for _ in range(3):
        await processor.consume(batch(Signal.TRACES, 7))
    await processor.shutdown()
    assert sink.item_count == 21


async def test_shutdown_without_start_is_fine() -> None:
    processor, sink, _ = make(BatchConfig())
    await processor.shutdown()
    assert sink.batches == []


async def test_max_size_splits() -> None:
    processor, sink, _ = make(BatchConfig(send_batch_size=10, send_batch_max_size=10, timeout=60.0))
    await processor.start(None)  # type: ignore[arg-type]
    await processor.consume(batch(Signal.TRACES, 25))
    await processor.shutdown()
    assert [b.items for b in sink.batches] == [10, 10, 5]


async def test_pass_through_when_sizes_are_zero() -> None:
    processor, sink, _ = make(BatchConfig(send_batch_size=0, send_batch_max_size=0))
    sent = batch(Signal.TRACES, 2)
    await processor.consume(sent)
    await processor.consume(Batch.empty(Signal.TRACES))
    assert sink.batches == [sent]


async def test_downstream_failure_is_counted_not_silent(caplog: pytest.LogCaptureFixture) -> None:
    processor, sink, telemetry = make(BatchConfig(send_batch_size=4, timeout=60.0))
    sink.fail_with(RetryableError("backend down"))
    await processor.start(None)  # type: ignore[arg-type]
    with caplog.at_level(logging.WARNING, logger="test.batch"):
        await processor.consume(batch(Signal.TRACES, 4))
        await processor.shutdown()
    assert metric_value(telemetry, "otelcol_processor_batch_send_failed_spans_total") == 4
    assert "backend down" in caplog.text


async def test_backpressure_bounds_pending_items() -> None:
    processor, sink, _ = make(BatchConfig(send_batch_size=512, timeout=60.0))
    gate = asyncio.Event()
    original = sink.consume

    async def slow(b: Batch) -> None:
        await gate.wait()
        await original(b)

    sink.consume = slow  # type: ignore[method-assign]
    await processor.start(None)  # type: ignore[arg-type]
    for _ in range(4):  # the first 512 go to the (blocked) worker
        await processor.consume(batch(Signal.TRACES, 512))
    for _ in range(4):  # fills the buffer to its bound of 4 x 512
        await processor.consume(batch(Signal.TRACES, 512))
    blocked = asyncio.create_task(processor.consume(batch(Signal.TRACES, 512)))
    await asyncio.sleep(0.05)
    assert not blocked.done()
    gate.set()
    await blocked
    await processor.shutdown()
    assert sink.item_count == 9 * 512


@pytest.mark.parametrize("n", [1, 2, 3, 7, 100])
def test_split_traces_and_logs_preserves_items(n: int) -> None:
    for signal, message in ((Signal.TRACES, traces(4, resources=3)), (Signal.LOGS, logs(9))):
        original = Batch.from_message(signal, message)
        parts = split_batch(original, n)
        assert all(p.items <= n for p in parts)
        assert sum(p.items for p in parts) == original.items
        names: list[str] = []
        for part in parts:
            if signal is Signal.TRACES:
                for rs in part.message.resource_spans:
                    assert rs.resource.attributes[0].key == "service.name"
                    names += [s.name for ss in rs.scope_spans for s in ss.spans]
            else:
                names += [
                    r.body.string_value
                    for rl in part.message.resource_logs
                    for sl in rl.scope_logs
                    for r in sl.log_records
                ]
        expected = (
            [s.name for rs in message.resource_spans for ss in rs.scope_spans for s in ss.spans]
            if signal is Signal.TRACES
            else [r.body.string_value for r in message.resource_logs[0].scope_logs[0].log_records]
        )
        assert names == expected


@pytest.mark.parametrize("n", [1, 2, 4, 50])
def test_split_metrics_divides_points(n: int) -> None:
    message = metrics((3, 0, 5))
    original = Batch.from_message(Signal.METRICS, message)
    parts = split_batch(original, n)
    assert all(p.items <= n for p in parts)
    assert sum(count_items(Signal.METRICS, p.message) for p in parts) == 8
    values = []
    for part in parts:
        for metric in part.message.resource_metrics[0].scope_metrics[0].metrics:
            kind = metric.WhichOneof("data")
            if kind:
                values += [(metric.name, p.as_int) for p in getattr(metric, kind).data_points]
    assert values == [("metric.0", i) for i in range(3)] + [("metric.2", i) for i in range(5)]


def test_config_validation() -> None:
    problems = BatchConfig(
        send_batch_size=10, send_batch_max_size=5, timeout=-1, metadata_keys=["tenant"]
    ).validate()
    assert {p.path for p in problems} == {"send_batch_max_size", "timeout", "metadata_keys"}
    assert {p.path for p in BatchConfig(send_batch_size=-1, send_batch_max_size=-1).validate()} == {
        "send_batch_size",
        "send_batch_max_size",
    }


async def test_wait_for_result_acknowledges_after_downstream() -> None:
    processor, sink, _ = make(BatchConfig(send_batch_size=10, timeout=60.0, wait_for_result=True))
    await processor.start(None)  # type: ignore[arg-type]
    first = asyncio.create_task(processor.consume(batch(Signal.TRACES, 4)))
    await asyncio.sleep(0.05)
    assert not first.done()  # held: its batch has not been sent yet
    assert sink.batches == []
    await processor.consume(batch(Signal.TRACES, 6))  # fills the batch; both are answered
    await first
    assert sink.item_count == 10
    await processor.shutdown()


async def test_wait_for_result_passes_the_error_to_every_sender() -> None:
    processor, sink, telemetry = make(
        BatchConfig(send_batch_size=6, timeout=60.0, wait_for_result=True), Signal.LOGS
    )
    sink.fail_with(RetryableError("queue full"))
    await processor.start(None)  # type: ignore[arg-type]
    results = await asyncio.gather(
        processor.consume(batch(Signal.LOGS, 3)),
        processor.consume(batch(Signal.LOGS, 3)),
        return_exceptions=True,
    )
    assert [type(r) for r in results] == [RetryableError, RetryableError]
    assert metric_value(telemetry, "otelcol_processor_batch_send_failed_log_records_total") == 6
    sink.fail_with(None)
    await processor.consume(batch(Signal.LOGS, 6))
    assert sink.item_count == 6
    await processor.shutdown()
