"""The ``batch`` processor: gather items into batches by size or time, as the Collector does.

Batches are merged by concatenating their bytes (no decoding: two serialized export requests
concatenated are one valid request), split when they exceed ``send_batch_max_size``, and sent
by one worker per pipeline. Unlike the Collector's, this processor never drops data silently:
when the next consumer fails, the failure is counted (``otelcol_processor_batch_send_failed_*``)
and logged once per burst; and its buffer is bounded, so a slow downstream slows the senders
(backpressure) instead of growing memory without limit.

By default, as in the Collector, a batch is acknowledged to the sender as soon as it is buffered.
With ``wait_for_result: true`` the sender's request waits until the batch holding its items has
been taken by the next component (e.g. written to a persistent sending queue) and gets its error
if not: nothing acknowledged is then held only in memory, at the price of up to ``timeout`` of
extra latency per request.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field

from otlpy.component import Factory, Host, Kind, Settings
from otlpy.config.decode import Duration
from otlpy.consumer import Capabilities, Consumer
from otlpy.errors import ConfigProblem
from otlpy.pdata import Batch, Signal
from otlpy.processors.batch_split import split_batch

__all__ = ["BatchConfig", "BatchProcessor", "factory"]

_SIZE_BUCKETS = (
    10,
    25,
    50,
    75,
    100,
    250,
    500,
    750,
    1000,
    2000,
    3000,
    4000,
    5000,
    6000,
    7000,
    8000,
    9000,
    10000,
    20000,
    30000,
    50000,
    100000,
)
_LOG_EVERY = 10.0


@dataclass(frozen=True, kw_only=True)
class BatchConfig:
    """The Collector's batch processor settings and defaults."""

    timeout: Duration = 0.2
    send_batch_size: int = 8192
    send_batch_max_size: int = 0
    metadata_keys: list[str] = field(default_factory=list)
    metadata_cardinality_limit: int = 1000
    #: otlpy: acknowledge a request only once its batch was accepted downstream.
    wait_for_result: bool = False

    def validate(self) -> list[ConfigProblem]:
        problems = []
        if self.send_batch_size < 0:
            problems.append(ConfigProblem("send_batch_size", "must not be negative"))
        if self.send_batch_max_size < 0:
            problems.append(ConfigProblem("send_batch_max_size", "must not be negative"))
        if self.send_batch_max_size and self.send_batch_max_size < self.send_batch_size:
            problems.append(
                ConfigProblem(
                    "send_batch_max_size", "must be greater than or equal to send_batch_size"
                )
            )
        if self.timeout < 0:
            problems.append(ConfigProblem("timeout", "must not be negative"))
        if self.metadata_keys:
            problems.append(
                ConfigProblem("metadata_keys", "batching by client metadata is not supported yet")
            )
        return problems


class BatchProcessor:
    """One pipeline's batcher: buffer, trigger on size or timeout, send from one worker."""

    def __init__(self, settings: Settings, config: BatchConfig, next_consumer: Consumer) -> None:
        self._settings = settings
        self._config = config
        self._next = next_consumer
        self._signal = settings.signal or Signal.TRACES
        self._pending: list[Batch] = []
        self._waiters: list[asyncio.Future[None]] = []
        self._pending_items = 0
        self._deadline: float | None = None
        self._wakeup = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self._closing = False
        self._worker: asyncio.Task[None] | None = None
        # Backpressure: hold at most this many items before making senders wait.
        base = max(config.send_batch_size, config.send_batch_max_size, 512)
        self._max_pending = base * 4
        telemetry = settings.telemetry
        label = str(settings.id)
        self._size_hist = telemetry.histogram(
            "processor_batch_batch_send_size",
            "Number of units in the batch",
            ("processor",),
            _SIZE_BUCKETS,
        ).labels(label)
        self._size_trigger = telemetry.counter(
            "processor_batch_batch_size_trigger_send",
            "Number of times the batch was sent due to a size trigger",
            ("processor",),
        ).labels(label)
        self._timeout_trigger = telemetry.counter(
            "processor_batch_timeout_trigger_send",
            "Number of times the batch was sent due to a timeout trigger",
            ("processor",),
        ).labels(label)
        self._failed = telemetry.counter(
            f"processor_batch_send_failed_{self._signal.item_name}",
            "Items the batch processor could not hand to the next component",
            ("processor",),
        ).labels(label)
        self._failures = 0
        self._last_log = 0.0

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(mutates_data=False)

    async def start(self, host: Host) -> None:
        self._closing = False
        self._worker = asyncio.get_running_loop().create_task(self._run())

    async def shutdown(self) -> None:
        """Send everything held, then stop."""
        self._closing = True
        self._wakeup.set()
        if self._worker is not None:
            await self._worker
            self._worker = None
        if self._pending:  # shut down without start, or data arrived while closing
            await self._send(*self._take_all(), by_timeout=True)

    async def consume(self, batch: Batch) -> None:
        items = batch.items
        if not items:
            return
        if self._config.send_batch_size == 0 and self._config.send_batch_max_size == 0:
            # Size triggers off: pass through unchanged (the timeout only bounds latency).
            await self._next.consume(batch)
            return
        while self._pending_items >= self._max_pending and not self._closing:
            self._room.clear()
            await self._room.wait()
        self._pending.append(batch)
        self._pending_items += items
        waiter: asyncio.Future[None] | None = None
        if self._config.wait_for_result:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
        if self._deadline is None:
            self._deadline = time.monotonic() + self._config.timeout
        if self._pending_items >= self._config.send_batch_size:
            self._wakeup.set()
        elif len(self._pending) == 1:
            self._wakeup.set()  # the worker arms the timer
        if waiter is not None:
            await waiter

    def _take_all(self) -> tuple[Batch, list[asyncio.Future[None]]]:
        batch = Batch.concat(self._signal, self._pending)
        waiters = self._waiters
        self._waiters = []
        self._pending = []
        self._pending_items = 0
        self._deadline = None
        self._room.set()
        return batch, waiters

    async def _run(self) -> None:
        while True:
            if self._closing:
                if self._pending:
                    await self._send(*self._take_all(), by_timeout=True)
                return
            size = self._config.send_batch_size
            if self._pending_items >= size and self._pending:
                await self._send(*self._take_all(), by_timeout=False)
                continue
            timeout = None
            if self._deadline is not None:
                timeout = max(0.0, self._deadline - time.monotonic())
            self._wakeup.clear()
            if timeout == 0.0:
                if self._pending:
                    await self._send(*self._take_all(), by_timeout=True)
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), timeout)

    async def _send(
        self, batch: Batch, waiters: list[asyncio.Future[None]], *, by_timeout: bool
    ) -> None:
        (self._timeout_trigger if by_timeout else self._size_trigger).inc()
        error: Exception | None = None
        for part in split_batch(batch, self._config.send_batch_max_size):
            self._size_hist.observe(part.items)
            try:
                await self._next.consume(part)
            except Exception as exc:
                self._failed.inc(part.items)
                self._note_failure(part.items, exc)
                error = error or exc
        # Senders waiting for the result learn it; when part of a merged batch failed, every
        # sender in it gets the error and resends (at-least-once: some items may arrive twice).
        for waiter in waiters:
            if waiter.done():
                continue
            if error is None:
                waiter.set_result(None)
            else:
                waiter.set_exception(error)

    def _note_failure(self, items: int, exc: Exception) -> None:
        self._failures += 1
        now = time.monotonic()
        if now - self._last_log >= _LOG_EVERY:
            self._settings.logger.warning(
                "could not send %d %s downstream: %s (%d failures since last report)",
                items,
                self._signal.item_name,
                exc,
                self._failures,
            )
            self._failures = 0
            self._last_log = now


def _create(settings: Settings, config: BatchConfig, next_consumer: Consumer) -> BatchProcessor:
    return BatchProcessor(settings, config, next_consumer)


factory = Factory(
    type="batch",
    kind=Kind.PROCESSOR,
    config=BatchConfig,
    create=_create,
    description="groups items into batches by size or time",
    stability="stable",
)
