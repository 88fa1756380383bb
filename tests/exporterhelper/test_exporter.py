from __future__ import annotations

import asyncio
import logging
import random

import pytest

from builders import batch
from otlpy.component import ComponentID, Kind, Settings
from otlpy.errors import PartialSuccess, PermanentError, RetryableError, ThrottledError
from otlpy.exporterhelper import Exporter, QueueConfig, RetryConfig
from otlpy.exporterhelper.retry import RetryLog, next_delay, retry
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


class Clock:
    """A clock the test moves by hand, so the 10 s cadence needs no 10 s wait."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def messages(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == level]


async def test_the_exporter_says_when_it_starts_retrying_and_when_it_recovers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls = 0

    async def push(b: Batch) -> None:
        nonlocal calls
        calls += 1
        if calls <= 4:
            raise RetryableError("connection refused")

    exporter = Exporter(settings(SelfTelemetry()), push, retry=FAST)
    with caplog.at_level(logging.INFO, logger="test.exporter"):
        await exporter.consume(batch(Signal.TRACES, 2))
    warnings = messages(caplog, logging.WARNING)
    assert warnings[0].startswith("exporter otlp/x: export failed, retrying: connection refused")
    assert "(attempt 1, next in 0.0s)" in warnings[0]
    assert not any("still retrying" in w for w in warnings[1:])
    assert messages(caplog, logging.INFO) == [
        "exporter otlp/x: delivering again after 0s of retrying (this batch took 5 attempts)"
    ]


async def test_retrying_logs_at_most_one_line_per_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    log = RetryLog(logging.getLogger("test.retry"), "otlp/backend", clock=clock)
    calls = 0

    async def attempt() -> None:
        nonlocal calls
        calls += 1
        clock.now += 3  # each failed attempt takes three (simulated) seconds
        if calls < 10:
            raise RetryableError(f"503 Service Unavailable #{calls}")

    with caplog.at_level(logging.INFO, logger="test.retry"):
        await retry(attempt, FAST, log=log)
    assert not log.retrying
    warnings = messages(caplog, logging.WARNING)
    assert len(warnings) == 3  # at 3 s, then at 15 s and 27 s: never two within 10 s
    assert "retrying: 503 Service Unavailable #1 (attempt 1, next in" in warnings[0]
    assert warnings[1].startswith(
        "exporter otlp/backend: still retrying after 12s: 503 Service Unavailable #5 "
        "(attempt 5 of this batch, 4 failed attempts since the last report, next in"
    )
    third = warnings[2]
    assert "after 24s: 503 Service Unavailable #9 (attempt 9 of this batch, 4 failed" in third
    assert messages(caplog, logging.INFO) == [
        "exporter otlp/backend: delivering again after 27s of retrying "
        "(this batch took 10 attempts)"
    ]


async def test_a_batch_given_up_on_ends_the_spell_within_the_rate_limit(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    log = RetryLog(logging.getLogger("test.retry"), "otlp/backend", clock=clock)

    async def attempt() -> None:
        raise RetryableError("down")

    config = RetryConfig(initial_interval=0.001, randomization_factor=0, max_elapsed_time=0.05)
    with caplog.at_level(logging.INFO, logger="test.retry"):
        with pytest.raises(RetryableError):
            await retry(attempt, config, log=log)
        assert not log.retrying
        assert len(messages(caplog, logging.WARNING)) == 1
        log.failed(RetryableError("down"), 1, 1.0)  # a new spell, at once: not announced
        assert log.retrying
        assert len(messages(caplog, logging.WARNING)) == 1
        clock.now += 10
        log.failed(RetryableError("down"), 2, 1.0)
        assert messages(caplog, logging.INFO) == []
        log.delivered(1)
        log.delivered(1)  # a delivery with no retrying going on says nothing
    warnings = messages(caplog, logging.WARNING)
    assert len(warnings) == 2 and "still retrying after 10s: down" in warnings[1]
    assert len(messages(caplog, logging.INFO)) == 1


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
