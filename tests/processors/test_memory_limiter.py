"""The memory_limiter processor: limits, refusal above the soft limit, headroom between checks."""

from __future__ import annotations

import asyncio
import logging

import psutil
import pytest

from builders import batch
from otlpy.component import ComponentID, Kind, Settings
from otlpy.config.decode import decode
from otlpy.errors import RetryableError
from otlpy.pdata import Signal
from otlpy.processors.memory_limiter import (
    MemoryLimiter,
    MemoryLimiterConfig,
    MemoryLimiterProcessor,
    available_memory,
    factory,
)
from otlpy.telemetry import SelfTelemetry
from otlpy.testing import SinkConsumer

MIB = 1 << 20


class FakeRss:
    """A settable RSS reading, for the admission logic; the real one is tested below."""

    def __init__(self, value: int) -> None:
        self.value = value
        self.reads = 0

    def __call__(self) -> int:
        self.reads += 1
        return self.value


def settings(telemetry: SelfTelemetry, name: str = "") -> Settings:
    return Settings(
        id=ComponentID("memory_limiter", name),
        kind=Kind.PROCESSOR,
        telemetry=telemetry,
        logger=logging.getLogger("test.memory_limiter"),
        signal=Signal.TRACES,
        pipeline="traces",
    )


def test_config_validation_reports_every_problem() -> None:
    _, problems = decode(
        MemoryLimiterConfig,
        {
            "check_interval": "0s",
            "limit_mib": 100,
            "spike_limit_mib": 100,
            "limit_percentage": 101,
            "spike_limit_percentage": -1,
            "min_gc_interval_when_soft_limited": "-1s",
        },
    )
    paths = {p.path for p in problems}
    assert paths == {
        "check_interval",
        "spike_limit_mib",
        "limit_percentage",
        "spike_limit_percentage",
        "min_gc_interval_when_soft_limited",
    }
    _, problems = decode(MemoryLimiterConfig, {"limit_mib": -1, "spike_limit_mib": -2})
    assert {p.path for p in problems} == {"limit_mib", "spike_limit_mib"}
    _, problems = decode(
        MemoryLimiterConfig, {"limit_percentage": 50, "spike_limit_percentage": 60}
    )
    assert [p.path for p in problems] == ["spike_limit_percentage"]


def test_limits_from_mib_percentage_and_defaults() -> None:
    gib = 1 << 30
    assert MemoryLimiterConfig(limit_mib=200, spike_limit_mib=50).limits(gib) == (
        200 * MIB,
        150 * MIB,
    )
    assert MemoryLimiterConfig(limit_mib=200).limits(gib) == (200 * MIB, 160 * MIB)
    assert MemoryLimiterConfig(limit_percentage=50, spike_limit_percentage=10).limits(
        1000 * MIB
    ) == (500 * MIB, 400 * MIB)
    hard, soft = MemoryLimiterConfig().limits(1000 * MIB)
    assert hard == 800 * MIB and soft == hard - int(hard * 0.2)


def test_available_memory_is_at_most_the_machines() -> None:
    assert 0 < available_memory() <= psutil.virtual_memory().total


def test_admission_follows_the_soft_limit_and_the_headroom(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rss = FakeRss(100 * MIB)
    config = MemoryLimiterConfig(limit_mib=200, spike_limit_mib=40)  # soft limit 160 MiB
    limiter = MemoryLimiter(config, read_rss=rss, logger=logging.getLogger("test.ml"))
    limiter.measure()
    assert not limiter.refusing
    # 60 MiB of headroom: batches are charged three times their size
    assert limiter.admit(10 * MIB)
    assert limiter.admit(10 * MIB)
    reads = rss.reads
    assert not limiter.admit(1 * MIB)  # headroom spent: re-read at most every few ms
    assert rss.reads <= reads + 1
    with caplog.at_level(logging.INFO, logger="test.ml"):
        rss.value = 170 * MIB
        limiter.measure()
        assert limiter.refusing
        assert not limiter.admit(1)
        rss.value = 120 * MIB
        limiter.measure()
        assert not limiter.refusing
        assert limiter.admit(1)
    assert "above the soft limit of 160 MiB: refusing data" in caplog.text
    assert "back under the soft limit" in caplog.text


def test_memory_the_allocator_keeps_counts_against_the_hard_limit_only(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rss = FakeRss(100 * MIB)
    heap = FakeRss(40 * MIB)  # the rest of the process: 60 MiB
    config = MemoryLimiterConfig(limit_mib=200, spike_limit_mib=40)  # soft limit 160 MiB
    limiter = MemoryLimiter(config, read_rss=rss, read_heap=heap, logger=logging.getLogger("t"))
    limiter.measure()
    assert limiter.in_use == 100 * MIB
    with caplog.at_level(logging.INFO, logger="t"):
        rss.value, heap.value = 190 * MIB, 130 * MIB  # a burst, live
        limiter.measure()
        assert limiter.refusing and limiter.in_use == 190 * MIB
        heap.value = 50 * MIB  # drained; RSS stays
        limiter.measure()
        assert not limiter.refusing
        assert limiter.in_use == 110 * MIB
        # between readings: half the way to the hard limit (5 MiB, charged three times the
        # size), not the 50 MiB left under the soft limit
        assert limiter.admit(1 * MIB)
        assert not limiter.admit(2 * MIB)
        rss.value = 210 * MIB  # past the hard limit, whatever the heap says
        limiter.measure()
        assert limiter.refusing and not limiter.admit(1)
    assert "only about 110 MiB is in use" in caplog.text
    assert "above the hard limit of 200 MiB: refusing data" in caplog.text


def test_rss_alone_decides_without_a_heap_reading() -> None:
    config = MemoryLimiterConfig(limit_mib=200, spike_limit_mib=40)
    # no mallinfo2 (not glibc): RSS alone
    rss = FakeRss(190 * MIB)
    limiter = MemoryLimiter(config, read_rss=rss, read_heap=lambda: None)
    limiter.measure()
    assert limiter.refusing
    # above the soft limit from the first reading: the rest of the process is not known yet
    heap = FakeRss(10 * MIB)
    limiter = MemoryLimiter(config, read_rss=rss, read_heap=heap)
    limiter.measure()
    assert limiter.refusing and limiter.in_use == 190 * MIB
    # the real reader answers with a plausible size
    real = MemoryLimiter(config)
    real.measure()
    assert 0 < real.in_use <= real.rss


def test_gc_above_the_limits_is_rate_limited() -> None:
    rss = FakeRss(190 * MIB)
    config = MemoryLimiterConfig(
        limit_mib=200,
        spike_limit_mib=40,
        min_gc_interval_when_soft_limited=3600,
        min_gc_interval_when_hard_limited=0,
    )
    limiter = MemoryLimiter(config, read_rss=rss)
    limiter.measure()
    assert rss.reads == 2  # read, collect, read again
    limiter.measure()
    assert rss.reads == 3  # soft-limited: no second collection within the hour
    rss.value = 250 * MIB
    limiter.measure()
    assert rss.reads == 5  # hard-limited: collect at every check
    limiter.measure(collect=False)
    assert rss.reads == 6


def test_the_real_resident_memory_is_what_counts() -> None:
    before = psutil.Process().memory_info().rss
    config = MemoryLimiterConfig(limit_mib=(before >> 20) + 100, spike_limit_mib=50)
    limiter = MemoryLimiter(config)
    limiter.measure()
    assert not limiter.refusing
    ballast = bytearray(b"\x01") * (120 * MIB)  # touched pages: really resident
    limiter.measure()
    assert limiter.refusing
    del ballast
    limiter.measure()
    assert not limiter.refusing


async def test_the_processor_passes_data_and_refuses_retryably(
    caplog: pytest.LogCaptureFixture,
) -> None:
    telemetry = SelfTelemetry()
    sink = SinkConsumer()
    rss = FakeRss(10 * MIB)
    limiter = MemoryLimiter(MemoryLimiterConfig(limit_mib=100, check_interval=0.01), read_rss=rss)
    processor = MemoryLimiterProcessor(settings(telemetry), limiter, sink)
    assert processor.capabilities.mutates_data is False
    assert processor.limiter is limiter
    await processor.start(None)  # type: ignore[arg-type]
    await processor.start(None)  # type: ignore[arg-type]
    await processor.consume(batch(Signal.TRACES, 4))
    assert sink.item_count == 4
    rss.value = 95 * MIB
    reads = rss.reads
    while rss.reads < reads + 2:  # the periodic check runs
        await asyncio.sleep(0.01)
    with pytest.raises(RetryableError, match="high memory usage") as info:
        await processor.consume(batch(Signal.TRACES, 3))
    assert info.value.retry_after == 1.0
    refused = telemetry.registry.get_sample_value(
        "otelcol_processor_refused_spans_total", {"processor": "memory_limiter"}
    )
    assert refused == 3
    assert sink.item_count == 4
    await processor.shutdown()
    await processor.shutdown()
    reads = rss.reads
    await asyncio.sleep(0.05)
    assert rss.reads == reads  # stopped checking


async def test_instances_with_one_id_share_one_limiter() -> None:
    telemetry = SelfTelemetry()
    config = MemoryLimiterConfig(limit_mib=100_000)
    a = factory.create(settings(telemetry, "shared"), config, SinkConsumer())
    b = factory.create(settings(telemetry, "shared"), config, SinkConsumer())
    c = factory.create(settings(telemetry, "other"), config, SinkConsumer())
    assert a.limiter is b.limiter
    assert a.limiter is not c.limiter
    await a.start(None)
    await b.start(None)
    await a.shutdown()
    assert a.limiter._task is not None  # b still uses it
    await b.shutdown()
    assert a.limiter._task is None
    # batches that arrive decoded (no bytes at hand) are estimated from their item count
    await c.start(None)
    message_only = batch(Signal.LOGS, 2)
    assert not message_only.has_raw
    await c.consume(message_only)
    await c.shutdown()


def small_objects(count: int) -> list[tuple[str, int]]:
    """Many small Python objects: they live in pymalloc's arenas, as decoded telemetry does."""
    return [(f"span-{i}", i * 1000) for i in range(count)]


async def test_a_drained_burst_does_not_lock_the_limiter_out(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """After a burst drains, CPython keeps its arenas (RSS stays high), yet data flows again.

    Keeping one object in 256 of the burst leaves most of pymalloc's arenas partly used, so the
    memory is not returned to the system even after a collection and ``malloc_trim``: the
    resident size stays above the soft limit with almost nothing live. Memory that is really in
    use above the soft limit, and anything above the hard limit, is still refused.
    """
    base = psutil.Process().memory_info().rss
    # soft limit 40 MiB above the current size, hard limit 250 MiB above it
    config = MemoryLimiterConfig(
        check_interval=0.02,
        limit_mib=(base >> 20) + 250,
        spike_limit_mib=210,
        min_gc_interval_when_soft_limited=0,
    )
    limiter = MemoryLimiter(config, logger=logging.getLogger("test.ml"))
    sink = SinkConsumer()
    processor = MemoryLimiterProcessor(settings(SelfTelemetry()), limiter, sink)
    await processor.start(None)  # type: ignore[arg-type]
    try:
        assert not limiter.refusing
        burst = small_objects(1_000_000)
        limiter.measure()
        assert limiter.refusing
        with pytest.raises(RetryableError):
            await processor.consume(batch(Signal.TRACES, 2))
        kept = burst[::256]
        del burst
        with caplog.at_level(logging.INFO, logger="test.ml"):
            # within a few regular checks (each collects and trims) data flows again
            for _ in range(10):
                if not limiter.refusing:
                    break
                await asyncio.sleep(config.check_interval)
            assert not limiter.refusing
        # the allocator really kept the memory: RSS is still above the soft limit
        assert limiter.rss > limiter.soft_limit
        await processor.consume(batch(Signal.TRACES, 2))
        assert sink.item_count == 2
        assert "accepting data" in caplog.text

        # memory really in use above the soft limit is still refused...
        live = bytearray(b"\x01") * (60 * MIB)
        limiter.measure()
        assert limiter.refusing
        # ...and so is a process over the hard limit
        live += bytearray(b"\x01") * max(0, limiter.hard_limit - limiter.rss + 20 * MIB)
        limiter.measure()
        assert limiter.rss > limiter.hard_limit
        assert limiter.refusing
        with pytest.raises(RetryableError):
            await processor.consume(batch(Signal.TRACES, 2))
        del live, kept
    finally:
        await processor.shutdown()
