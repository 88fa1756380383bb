"""The exporter helper: an exporter author writes ``push(batch)``; the helper adds the rest.

:class:`Exporter` wraps a push coroutine in timeout -> retry and counts what was sent and what
failed under the Collector's metric names. ``push`` raises
:class:`~otlpy.errors.PermanentError` (never retried) or :class:`~otlpy.errors.RetryableError`
(retried with backoff, waiting at least ``retry_after``); a :class:`~otlpy.errors.PartialSuccess`
is logged and counted, never retried::

    async def push(batch: Batch) -> None:
        ...  # send batch.raw somewhere
    exporter = Exporter(settings, push, timeout=5.0, retry=RetryConfig())
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from otlpy.component import Host, Settings
from otlpy.consumer import Capabilities
from otlpy.errors import PartialSuccess, PermanentError, RetryableError
from otlpy.exporterhelper.config import QueueConfig, RetryConfig
from otlpy.exporterhelper.retry import retry
from otlpy.pdata import Batch

__all__ = ["Exporter", "PushFn", "QueueConfig", "RetryConfig"]

PushFn = Callable[[Batch], Awaitable[None]]
LifecycleFn = Callable[[], Awaitable[None]]

# Failures are logged at most once per this many seconds per exporter, with a count.
_LOG_EVERY = 10.0


class Exporter:
    """A consumer and component composed around one ``push`` function."""

    def __init__(
        self,
        settings: Settings,
        push: PushFn,
        *,
        timeout: float = 5.0,
        retry: RetryConfig | None = None,
        start: Callable[[Host], Awaitable[None]] | None = None,
        shutdown: LifecycleFn | None = None,
    ) -> None:
        self.settings = settings
        self._push = push
        self._timeout = timeout
        self._retry = retry or RetryConfig()
        self._start = start
        self._shutdown = shutdown
        self._obs = settings.telemetry.exporter(str(settings.id))
        self._stopping = asyncio.Event()
        self._failures = 0
        self._last_log = 0.0

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(mutates_data=False)

    async def start(self, host: Host) -> None:
        self._stopping.clear()
        if self._start is not None:
            await self._start(host)

    async def shutdown(self) -> None:
        self._stopping.set()
        if self._shutdown is not None:
            await self._shutdown()

    async def _attempt(self, batch: Batch) -> None:
        if self._timeout > 0:
            try:
                await asyncio.wait_for(self._push(batch), self._timeout)
            except TimeoutError as exc:
                raise RetryableError(f"export timed out after {self._timeout:g}s") from exc
        else:
            await self._push(batch)

    async def consume(self, batch: Batch) -> None:
        items = batch.items
        try:
            await retry(lambda: self._attempt(batch), self._retry, stopping=self._stopping)
        except PartialSuccess as exc:
            self._obs.sent(batch.signal, items - exc.rejected)
            self._obs.failed(batch.signal, exc.rejected)
            self._note_failure(f"{exc.rejected} {batch.signal.item_name} rejected: {exc.message}")
            return
        except (PermanentError, RetryableError) as exc:
            self._obs.failed(batch.signal, items)
            self._note_failure(f"dropped {items} {batch.signal.item_name}: {exc}")
            raise
        self._obs.sent(batch.signal, items)

    def _note_failure(self, message: str) -> None:
        self._failures += 1
        now = time.monotonic()
        if now - self._last_log >= _LOG_EVERY:
            suffix = f" ({self._failures} failures since last report)" if self._failures > 1 else ""
            self.settings.logger.warning("export failed: %s%s", message, suffix)
            self._failures = 0
            self._last_log = now
