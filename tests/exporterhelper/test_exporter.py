from __future__ import annotations

import asyncio
import logging
import random

import pytest

from builders import batch
from otlpy.component import ComponentID, Kind, Settings
from otlpy.errors import PartialSuccess, PermanentError, RetryableError, ThrottledError
from otlpy.exporterhelper import Exporter, QueueConfig, RetryConfig
from otlpy.exporterhelper.retry import next_delay, retry
from otlpy.pdata import Batch, Signal
from otlpy.telemetry import SelfTelemetry

FAST = RetryConfig(initial_interval=0.001, max_interval=0.004, max_elapsed_time=5.0)


def settings(telemetry: SelfTelemetry) -> Settings:
    return Settings(
        id=ComponentID("otlp", "x"),
        kind=Kind.EXPORTER,
        telemetry=telemetry,
        logger=logging.getLogger("test.exporter"),
    )


def sample(telemetry: SelfTelemetry, name: str) -> float:
    return telemetry.registry.get_sample_value(name, {"exporter": "otlp/x"}) or 0.0


async def test_retries_until_success_and_counts_sent() -> None:
    telemetry = SelfTelemetry()
    attempts: list[Batch] = []

    async def push(b: Batch) -> None:
        attempts.append(b)
        if len(attempts) < 3:
            raise RetryableError("busy")

    started: list[object] = []
    stopped: list[bool] = []

    async def on_start(host: object) -> None:
        started.append(host)

    async def on_stop() -> None:
        stopped.append(True)

    exporter = Exporter(settings(telemetry), push, retry=FAST, start=on_start, shutdown=on_stop)
    await exporter.start("host")  # type: ignore[arg-type]
    await exporter.consume(batch(Signal.TRACES, 5))
    await exporter.shutdown()
    assert len(attempts) == 3
    assert all(a is attempts[0] for a in attempts)  # the same batch: encoded once
    assert sample(telemetry, "otelcol_exporter_sent_spans_total") == 5
    assert sample(telemetry, "otelcol_exporter_send_failed_spans_total") == 0
    assert started == ["host"] and stopped == [True]
    assert exporter.capabilities.mutates_data is False


async def test_permanent_error_is_not_retried(caplog: pytest.LogCaptureFixture) -> None:
    telemetry = SelfTelemetry()
    calls = 0

    async def push(b: Batch) -> None:
        nonlocal calls
        calls += 1
        raise PermanentError("bad data")

    exporter = Exporter(settings(telemetry), push, retry=FAST)
    with caplog.at_level(logging.WARNING), pytest.raises(PermanentError):
        await exporter.consume(batch(Signal.LOGS, 4))
    assert calls == 1
    assert sample(telemetry, "otelcol_exporter_send_failed_log_records_total") == 4
    assert "bad data" in caplog.text


async def test_partial_success_is_counted_not_retried() -> None:
    telemetry = SelfTelemetry()
    calls = 0

    async def push(b: Batch) -> None:
        nonlocal calls
        calls += 1
        raise PartialSuccess(2, "two were invalid")

    exporter = Exporter(settings(telemetry), push, retry=FAST)
    await exporter.consume(batch(Signal.METRICS, 5))
    assert calls == 1
    assert sample(telemetry, "otelcol_exporter_sent_metric_points_total") == 3
    assert sample(telemetry, "otelcol_exporter_send_failed_metric_points_total") == 2


async def test_timeout_is_retryable_and_gives_up_after_max_elapsed() -> None:
    telemetry = SelfTelemetry()

    async def push(b: Batch) -> None:
        await asyncio.sleep(10)

    config = RetryConfig(initial_interval=0.001, max_interval=0.001, max_elapsed_time=0.05)
    exporter = Exporter(settings(telemetry), push, timeout=0.01, retry=config)
    with pytest.raises(RetryableError, match="timed out"):
        await exporter.consume(batch(Signal.TRACES, 1))
    assert sample(telemetry, "otelcol_exporter_send_failed_spans_total") == 1


async def test_retry_after_is_honoured_as_a_minimum() -> None:
    waits: list[float] = []
    loop = asyncio.get_running_loop()
    last = loop.time()

    async def attempt() -> None:
        nonlocal last
        now = loop.time()
        waits.append(now - last)
        last = now
        if len(waits) == 1:
            raise ThrottledError("slow down", retry_after=0.2)

    await retry(attempt, FAST)
    assert waits[1] >= 0.2


async def test_shutdown_cuts_retry_short() -> None:
    stopping = asyncio.Event()

    async def attempt() -> None:
        raise RetryableError("down", retry_after=30)

    task = asyncio.create_task(retry(attempt, RetryConfig(max_elapsed_time=0), stopping=stopping))
    await asyncio.sleep(0.01)
    stopping.set()
    with pytest.raises(RetryableError):
        await asyncio.wait_for(task, 5)
    stopping_already = asyncio.Event()
    stopping_already.set()
    with pytest.raises(RetryableError):
        await retry(attempt, RetryConfig(max_elapsed_time=0), stopping=stopping_already)


async def test_disabled_retry_tries_once() -> None:
    calls = 0

    async def attempt() -> None:
        nonlocal calls
        calls += 1
        raise RetryableError("x")

    with pytest.raises(RetryableError):
        await retry(attempt, RetryConfig(enabled=False))
    assert calls == 1


async def test_no_timeout_pushes_directly() -> None:
    telemetry = SelfTelemetry()
    seen: list[Batch] = []

    async def push(b: Batch) -> None:
        seen.append(b)

    await Exporter(settings(telemetry), push, timeout=0).consume(batch(Signal.TRACES, 1))
    assert len(seen) == 1


def test_backoff_jitter_bounds() -> None:
    config = RetryConfig(randomization_factor=0.5)
    rng = random.Random(1)
    delays = [next_delay(config, 2.0, rng) for _ in range(200)]
    assert min(delays) >= 1.0 and max(delays) <= 3.0
    assert next_delay(RetryConfig(randomization_factor=0), 2.0) == 2.0


def test_config_validation() -> None:
    bad = RetryConfig(
        initial_interval=-1,
        randomization_factor=2,
        multiplier=0.5,
        max_interval=-2,
        max_elapsed_time=-1,
    )
    assert {p.path for p in bad.validate()} == {
        "initial_interval",
        "randomization_factor",
        "multiplier",
        "max_interval",
        "max_elapsed_time",
    }
    assert {p.path for p in QueueConfig(num_consumers=0, queue_size=0).validate()} == {
        "num_consumers",
        "queue_size",
    }
    assert RetryConfig().validate() == [] and QueueConfig().validate() == []
