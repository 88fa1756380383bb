"""The ``memory_limiter`` processor: refuse data (retryably) before the process runs out of memory.

Every ``check_interval`` the limiter reads the process's resident memory (RSS, what the kernel
and an OOM killer see). Above the soft limit (``limit - spike_limit``) it refuses data with a
retryable error (the receiver answers 503 / UNAVAILABLE with a retry hint, so senders back off
and retry; nothing is dropped silently) and asks the allocator to give freed memory back; below
it, data flows again.

Resident memory overstates what is in use once a burst has drained: CPython's small-object
allocator keeps an arena while any object in it lives, so the RSS of a process that held a burst
often stays high with almost nothing live, and a limiter that trusted RSS alone would refuse data
forever. So above the soft limit the limiter also estimates the memory in use: what glibc's
``malloc`` has handed out and not taken back (``mallinfo2``), plus pymalloc's live blocks at a
generous size each, plus the rest of the process (code, stacks, other allocators) as measured the
last time RSS was under the soft limit. The soft limit applies to the smaller of RSS and that
estimate; the hard limit always applies to RSS. When the estimate lets data in above the soft
limit, admitted data first reuses the memory the allocator kept; the limiter admits at most half
the distance to the hard limit between two readings, and refuses everything past the hard limit.

Between two readings the limiter does not trust its last one: it admits at most the headroom
that reading left under the soft limit, charging every batch it lets through (its serialized size
times a decoding allowance), and reads again as soon as the headroom is spent. So however fast
data arrives, the bytes admitted between readings cannot push the process past the soft limit by
more than what the spike allowance covers.

Instances with the same id share one limiter across pipelines, as in the Collector. Put it
first in each pipeline, right after the receivers.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import gc
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil

from otlpy.component import Factory, Host, Kind, Settings
from otlpy.config.decode import Duration
from otlpy.consumer import Capabilities, Consumer
from otlpy.errors import ConfigProblem, RetryableError
from otlpy.pdata import Batch, Signal

__all__ = ["MemoryLimiter", "MemoryLimiterConfig", "MemoryLimiterProcessor", "factory"]

log = logging.getLogger(__name__)

_MIB = 1 << 20
#: A batch costs about this many times its serialized size once decoded and in flight.
_DECODE_ALLOWANCE = 3
#: Without a configured limit: this share of the memory available to the process.
_DEFAULT_PERCENTAGE = 80
#: Spike allowance when none is configured: this share of the limit (the Collector's choice).
_DEFAULT_SPIKE_SHARE = 0.2
#: Re-read RSS at most this often when the headroom runs out between regular checks.
_MIN_REREAD = 0.005
#: Bytes charged per live pymalloc block: about twice a typical small object, so the estimate of
#: memory in use errs high (towards refusing) rather than low.
_PYMALLOC_BLOCK = 128


@dataclass(frozen=True, kw_only=True)
class MemoryLimiterConfig:
    """The Collector's ``memory_limiter`` settings.

    ``limit_mib`` wins over ``limit_percentage``; with neither, the limit is 80% of the memory
    available to the process (its cgroup limit, or the machine's).
    """

    check_interval: Duration = 1.0
    limit_mib: int = 0
    spike_limit_mib: int = 0
    limit_percentage: int = 0
    spike_limit_percentage: int = 0
    min_gc_interval_when_soft_limited: Duration = 10.0
    min_gc_interval_when_hard_limited: Duration = 0.0

    def validate(self) -> list[ConfigProblem]:
        problems = []
        if self.check_interval <= 0:
            problems.append(ConfigProblem("check_interval", "must be greater than zero"))
        for key in ("limit_mib", "spike_limit_mib"):
            if getattr(self, key) < 0:
                problems.append(ConfigProblem(key, "must not be negative"))
        for key in ("limit_percentage", "spike_limit_percentage"):
            if not 0 <= getattr(self, key) <= 100:
                problems.append(ConfigProblem(key, "must be between 0 and 100"))
        if self.limit_mib and self.spike_limit_mib >= self.limit_mib:
            problems.append(ConfigProblem("spike_limit_mib", "must be less than limit_mib"))
        if (
            not self.limit_mib
            and self.limit_percentage
            and self.spike_limit_percentage >= self.limit_percentage
        ):
            problems.append(
                ConfigProblem("spike_limit_percentage", "must be less than limit_percentage")
            )
        for key in ("min_gc_interval_when_soft_limited", "min_gc_interval_when_hard_limited"):
            if getattr(self, key) < 0:
                problems.append(ConfigProblem(key, "must not be negative"))
        return problems

    def limits(self, available: int) -> tuple[int, int]:
        """``(hard, soft)`` limits in bytes, given the memory available to the process."""
        if self.limit_mib:
            hard = self.limit_mib * _MIB
            spike = self.spike_limit_mib * _MIB or int(hard * _DEFAULT_SPIKE_SHARE)
        else:
            percentage = self.limit_percentage or _DEFAULT_PERCENTAGE
            hard = available * percentage // 100
            spike = (
                available * self.spike_limit_percentage // 100
                if self.spike_limit_percentage
                else int(hard * _DEFAULT_SPIKE_SHARE)
            )
        return hard, hard - spike


def available_memory() -> int:
    """The memory this process may use: its cgroup's limit when set, else the machine's."""
    total = int(psutil.virtual_memory().total)
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(path).read_text().strip()
        except OSError:
            continue
        if text.isdigit():
            total = min(total, int(text))
    return total


def _malloc_trim() -> Callable[[], None]:
    """Return glibc's ``malloc_trim(0)``: hands freed heap pages back, so RSS tells the truth."""
    name = ctypes.util.find_library("c")
    try:
        trim = ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        trim = None
    if trim is None:
        return lambda: None
    return lambda: trim(0)


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


def _heap_reader() -> Callable[[], int | None]:
    """Return a reader of the heap in use: glibc's allocated bytes plus pymalloc's live blocks.

    It answers ``None`` where glibc's ``mallinfo2`` (2.33 and later) is missing; the limiter then
    goes by RSS alone.
    """
    name = ctypes.util.find_library("c")
    try:
        mallinfo2 = ctypes.CDLL(name).mallinfo2 if name else None
    except (OSError, AttributeError):
        mallinfo2 = None
    if mallinfo2 is None:
        return lambda: None
    mallinfo2.restype = _MallInfo2
    mallinfo2.argtypes = []

    def read() -> int:
        info = mallinfo2()
        # uordblks: in use in the arenas (every thread's); hblkhd: in use in mmap'd chunks
        return int(info.uordblks + info.hblkhd + sys.getallocatedblocks() * _PYMALLOC_BLOCK)

    return read


def _no_heap() -> None:
    return None


class MemoryLimiter:
    """The shared state: last reading, headroom, and the checking task."""

    def __init__(
        self,
        config: MemoryLimiterConfig,
        *,
        logger: logging.Logger | None = None,
        read_rss: Callable[[], int] | None = None,
        read_heap: Callable[[], int | None] | None = None,
        available: int | None = None,
    ) -> None:
        self.config = config
        self.hard_limit, self.soft_limit = config.limits(
            available if available is not None else available_memory()
        )
        self._log = logger or log
        process = psutil.Process()
        self._read_rss = read_rss or (lambda: int(process.memory_info().rss))
        # A given RSS source (a test's) has no heap to match: go by it alone unless told.
        self._read_heap = read_heap or (_heap_reader() if read_rss is None else _no_heap)
        self._trim = _malloc_trim()
        self.rss = 0
        #: The memory taken as in use: RSS, or less when the allocators keep freed memory.
        self.in_use = 0
        self.refusing = False
        # RSS minus the heap in use, as last seen under the soft limit: code, stacks, other
        # allocators. None until a reading under the soft limit (or without mallinfo2).
        self._overhead: int | None = None
        self._headroom = 0
        self._read_at = 0.0
        self._gc_at = float("-inf")
        self._task: asyncio.Task[None] | None = None
        self._users = 0

    def measure(self, *, collect: bool = True) -> int:
        """Read RSS now, update the admission state; with ``collect``, free memory if above."""
        now = time.monotonic()
        rss = self._read_rss()
        if collect and rss > self.soft_limit:
            hard = rss > self.hard_limit
            wait = (
                self.config.min_gc_interval_when_hard_limited
                if hard
                else self.config.min_gc_interval_when_soft_limited
            )
            if now - self._gc_at >= wait:
                self._gc_at = now
                gc.collect()
                self._trim()
                rss = self._read_rss()
        in_use = self._in_use(rss)
        refusing = rss > self.hard_limit or in_use > self.soft_limit
        if refusing != self.refusing:
            self._log_change(refusing, rss, in_use)
        self.refusing = refusing
        self.rss = rss
        self.in_use = in_use
        headroom = self.soft_limit - in_use
        if in_use < rss:
            # Admitted data reuses kept memory first, but may not: stay well clear of the hard
            # limit until the next reading.
            headroom = min(headroom, (self.hard_limit - rss) // 2)
        self._headroom = max(0, headroom)
        self._read_at = now
        return rss

    def _in_use(self, rss: int) -> int:
        """The memory to hold against the soft limit: RSS, less what the allocators keep."""
        heap = self._read_heap()
        if heap is None:
            return rss
        if rss <= self.soft_limit:
            self._overhead = rss - heap
            return rss
        if self._overhead is None:
            return rss
        return max(0, min(rss, heap + self._overhead))

    def _log_change(self, refusing: bool, rss: int, in_use: int) -> None:
        if refusing and rss > self.hard_limit:
            self._log.warning(
                "memory usage %d MiB is above the hard limit of %d MiB: refusing data",
                rss // _MIB,
                self.hard_limit // _MIB,
            )
        elif refusing:
            self._log.warning(
                "memory usage %d MiB is above the soft limit of %d MiB: refusing data",
                in_use // _MIB,
                self.soft_limit // _MIB,
            )
        elif rss > self.soft_limit:
            self._log.info(
                "resident memory %d MiB is above the soft limit of %d MiB, but only about %d MiB "
                "is in use (the allocator keeps the rest): accepting data",
                rss // _MIB,
                self.soft_limit // _MIB,
                in_use // _MIB,
            )
        else:
            self._log.info(
                "memory usage %d MiB is back under the soft limit of %d MiB: accepting data",
                rss // _MIB,
                self.soft_limit // _MIB,
            )

    def admit(self, nbytes: int) -> bool:
        """Charge ``nbytes`` against the headroom; False when the data must be refused."""
        cost = nbytes * _DECODE_ALLOWANCE
        if not self.refusing and cost <= self._headroom:
            self._headroom -= cost
            return True
        if time.monotonic() - self._read_at >= _MIN_REREAD:
            self.measure(collect=False)  # a cheap re-read; collecting is for the regular check
            if not self.refusing and cost <= self._headroom:
                self._headroom -= cost
                return True
        return False

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.config.check_interval)
            self.measure()

    def acquire(self) -> None:
        """Start checking (the first user starts the task)."""
        self._users += 1
        if self._task is None:
            self.measure()
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def release(self) -> None:
        """Stop checking once the last user is gone."""
        self._users = max(0, self._users - 1)
        if self._users == 0 and self._task is not None:
            task, self._task = self._task, None
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


# One limiter per component id, shared by the pipelines that list it (as in the Collector).
_SHARED: dict[str, MemoryLimiter] = {}


class MemoryLimiterProcessor:
    """One pipeline's view of a shared :class:`MemoryLimiter`."""

    def __init__(self, settings: Settings, limiter: MemoryLimiter, next_consumer: Consumer) -> None:
        self._limiter = limiter
        self._next = next_consumer
        self._started = False
        signal = settings.signal or Signal.TRACES
        self._refused = settings.telemetry.counter(
            f"processor_refused_{signal.item_name}",
            "Number of items refused by the processor (memory limiter above its soft limit).",
            ("processor",),
        ).labels(str(settings.id))
        self._retry_after = max(1.0, limiter.config.check_interval)

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(mutates_data=False)

    @property
    def limiter(self) -> MemoryLimiter:
        return self._limiter

    async def consume(self, batch: Batch) -> None:
        size = len(batch.raw) if batch.has_raw else batch.items * 256
        if not self._limiter.admit(size):
            self._refused.inc(batch.items)
            raise RetryableError(
                "data refused due to high memory usage", retry_after=self._retry_after
            )
        await self._next.consume(batch)

    async def start(self, host: Host) -> None:
        if not self._started:
            self._started = True
            self._limiter.acquire()

    async def shutdown(self) -> None:
        if self._started:
            self._started = False
            await self._limiter.release()


def _create(
    settings: Settings, config: MemoryLimiterConfig, next_consumer: Consumer
) -> MemoryLimiterProcessor:
    key = str(settings.id)
    limiter = _SHARED.get(key)
    if limiter is None or limiter.config != config:
        limiter = MemoryLimiter(config, logger=settings.logger)
        _SHARED[key] = limiter
    return MemoryLimiterProcessor(settings, limiter, next_consumer)


factory = Factory(
    type="memory_limiter",
    kind=Kind.PROCESSOR,
    config=MemoryLimiterConfig,
    create=_create,
    description="refuses data retryably when the process's memory nears its limit",
    stability="beta",
)
