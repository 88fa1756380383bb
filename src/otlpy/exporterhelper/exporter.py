"""The exporter helper: an exporter author writes ``push(batch)``; the helper adds the rest.

:class:`Exporter` composes a push coroutine with sending queue -> retry -> timeout, as the
Collector's exporterhelper does, and counts what was sent, what failed and what the queue
refused under the Collector's metric names. ``push`` raises
:class:`~otlpy.errors.PermanentError` (never retried) or :class:`~otlpy.errors.RetryableError`
(retried with backoff, waiting at least ``retry_after``); a :class:`~otlpy.errors.PartialSuccess`
is counted, never retried::

    async def push(batch: Batch) -> None:
        ...  # send batch.raw somewhere
    exporter = Exporter(settings, push, timeout=5.0, retry=RetryConfig(), queue=QueueConfig())

With a queue, ``consume`` returns once the batch is queued (written to disk when the queue is
persistent) and ``num_consumers`` senders deliver it; without one (``enabled: false``),
``consume`` returns when the backend has the data. On shutdown the retries stop first (each
queued batch still gets an attempt), the memory queue drains and the persistent queue keeps on
disk whatever was not delivered.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, runtime_checkable

from otlpy.component import ComponentID, Host, Settings
from otlpy.consumer import Capabilities
from otlpy.errors import PartialSuccess, PermanentError, RetryableError
from otlpy.exporterhelper.config import QueueConfig, RetryConfig
from otlpy.exporterhelper.memory_queue import MemoryQueue
from otlpy.exporterhelper.persistent_batch_queue import PersistentBatchQueue
from otlpy.exporterhelper.persistent_queue import PersistentQueue
from otlpy.exporterhelper.queue import BatchQueue, QueueClosedError, QueueEntry, Sizer
from otlpy.exporterhelper.retry import RetryLog, retry
from otlpy.pdata import Batch

__all__ = ["Exporter", "PushFn", "QueueStorage"]

PushFn = Callable[[Batch], Awaitable[None]]
LifecycleFn = Callable[[], Awaitable[None]]

# Failures, and retries while they go on, are logged at most once per this many seconds per
# exporter, with a count.
_LOG_EVERY = 10.0


@runtime_checkable
class QueueStorage(Protocol):
    """A storage extension that can hold persistent sending queues (``file_storage``)."""

    def open_queue(
        self,
        name: str,
        *,
        max_records: int | None = None,
        max_items: int | None = None,
        max_payload_bytes: int | None = None,
    ) -> PersistentQueue: ...


class Exporter:
    """A consumer and component composed around one ``push`` function."""

    def __init__(
        self,
        settings: Settings,
        push: PushFn,
        *,
        timeout: float = 5.0,
        retry: RetryConfig | None = None,
        queue: QueueConfig | None = None,
        start: Callable[[Host], Awaitable[None]] | None = None,
        shutdown: LifecycleFn | None = None,
    ) -> None:
        self.settings = settings
        self._push = push
        self._timeout = timeout
        self._retry = retry or RetryConfig()
        self._queue_config = queue if queue is not None and queue.enabled else None
        self._start = start
        self._shutdown = shutdown
        self._obs = settings.telemetry.exporter(str(settings.id))
        self._stopping = asyncio.Event()
        self._failures = 0
        self._last_log = 0.0
        self._retry_log = RetryLog(settings.logger, str(settings.id), every=_LOG_EVERY)
        self._queue: BatchQueue | None = None
        self._workers: list[asyncio.Task[None]] = []

    @classmethod
    def for_client(cls, settings: Settings, client: Any, config: Any) -> Exporter:
        """The exporter of a network ``client`` (its ``push``, ``start`` and ``shutdown``) with
        the standard settings of its ``config``: ``timeout``, ``retry_on_failure`` and
        ``sending_queue``, as the Collector's exporters share them."""
        return cls(
            settings,
            client.push,
            timeout=config.timeout,
            retry=config.retry_on_failure,
            queue=config.sending_queue,
            start=client.start,
            shutdown=client.shutdown,
        )

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(mutates_data=False)

    @property
    def queue(self) -> BatchQueue | None:
        """The sending queue, while started with one."""
        return self._queue

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self, host: Host) -> None:
        self._stopping.clear()
        if self._start is not None:
            await self._start(host)
        config = self._queue_config
        if config is None:
            return
        try:
            queue = await self._open_queue(config, host)
        except BaseException:
            # The collector stops only what started: undo the start hook ourselves.
            if self._shutdown is not None:
                await self._shutdown()
            raise
        self._queue = queue
        self._watch_queue(queue)
        self._workers = [
            asyncio.create_task(self._sender(queue), name=f"{self.settings.id}-sender-{i}")
            for i in range(config.num_consumers)
        ]

    async def _open_queue(self, config: QueueConfig, host: Host) -> BatchQueue:
        sizer = Sizer(config.sizer)
        block = config.block_on_overflow or config.blocking
        if not config.storage:
            return MemoryQueue(config.queue_size, sizer, block_on_overflow=block)
        storage_id = ComponentID.parse(config.storage)
        extension = host.get_extension(storage_id)
        if extension is None:
            raise PermanentError(
                f"sending_queue.storage: extension {storage_id} is not configured and listed "
                "in service.extensions"
            )
        if not isinstance(extension, QueueStorage):
            raise PermanentError(
                f"sending_queue.storage: extension {storage_id} cannot hold a persistent queue"
            )
        bound = {
            Sizer.REQUESTS: "max_records",
            Sizer.ITEMS: "max_items",
            Sizer.BYTES: "max_payload_bytes",
        }[sizer]
        own = self.settings.id
        name = f"exporter_{own.type}_{own.name}" if own.name else f"exporter_{own.type}"
        # Opening reads the whole log back (recovery): not on the event loop.
        persistent = await asyncio.to_thread(
            extension.open_queue, name, **{bound: config.queue_size}
        )
        return PersistentBatchQueue(persistent, sizer, block_on_overflow=block)

    def _watch_queue(self, queue: BatchQueue) -> None:
        telemetry = self.settings.telemetry
        exporter = str(self.settings.id)
        telemetry.gauge(
            "exporter_queue_size", "Current size of the sending queue.", ("exporter",)
        ).labels(exporter).set_function(queue.size)
        telemetry.gauge(
            "exporter_queue_capacity", "Fixed capacity of the sending queue.", ("exporter",)
        ).labels(exporter).set(queue.capacity)

    async def shutdown(self) -> None:
        """Stop retrying, drain (memory) or keep (persistent) the queue, then stop ``push``."""
        self._stopping.set()
        queue, self._queue = self._queue, None
        try:
            if queue is not None:
                await self._stop_queue(queue)
        finally:
            if self._shutdown is not None:
                await self._shutdown()

    async def _stop_queue(self, queue: BatchQueue) -> None:
        workers, self._workers = self._workers, []
        try:
            # Memory: the senders drain what is left, one attempt each. Persistent: the batches
            # being sent are finished and the rest stays on disk.
            await queue.close()
            await asyncio.gather(*workers)
        finally:
            # Out of time (the collector's shutdown deadline): account for what is left.
            for task in workers:
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(*workers, return_exceptions=True)
            if isinstance(queue, MemoryQueue):
                for entry in queue.drop_waiting():
                    self._count_failed(entry.batch, "the shutdown deadline passed")
                    _settle(entry, QueueClosedError("dropped at shutdown"))
            elif isinstance(queue, PersistentBatchQueue) and not queue.queue.closed:
                await asyncio.to_thread(queue.queue.close)

    # -- consuming ---------------------------------------------------------------------------

    async def consume(self, batch: Batch) -> None:
        config = self._queue_config
        if config is None:
            await self._send_now(batch)
            return
        queue = self._queue
        if queue is None:
            self._obs.enqueue_failed(batch.signal, batch.items)
            raise QueueClosedError(f"exporter {self.settings.id} is not running")
        try:
            entry = await queue.put(batch, wait_for_result=config.wait_for_result)
        except (PermanentError, RetryableError) as exc:
            self._obs.enqueue_failed(batch.signal, batch.items)
            self._note_failure(
                f"sending queue refused {batch.items} {batch.signal.item_name}: {exc}"
            )
            raise
        if entry.result is not None:
            await entry.result

    async def _send_now(self, batch: Batch) -> None:
        items = batch.items
        try:
            await self._export(batch)
        except PartialSuccess as exc:
            self._count_partial(batch, exc)
            return
        except (PermanentError, RetryableError) as exc:
            self._count_failed(batch, str(exc))
            raise
        self._obs.sent(batch.signal, items)

    async def _attempt(self, batch: Batch) -> None:
        if self._timeout > 0:
            try:
                await asyncio.wait_for(self._push(batch), self._timeout)
            except TimeoutError as exc:
                raise RetryableError(f"export timed out after {self._timeout:g}s") from exc
        else:
            await self._push(batch)

    async def _export(self, batch: Batch) -> None:
        await retry(
            lambda: self._attempt(batch),
            self._retry,
            stopping=self._stopping,
            log=self._retry_log,
        )

    async def _sender(self, queue: BatchQueue) -> None:
        while (entry := await queue.get()) is not None:
            await self._deliver(queue, entry)

    async def _deliver(self, queue: BatchQueue, entry: QueueEntry) -> None:
        batch = entry.batch
        try:
            await self._export(batch)
        except PartialSuccess as exc:
            self._count_partial(batch, exc)
            queue.done(entry)
            _settle(entry, None)
        except RetryableError as exc:
            if queue.persistent and self._stopping.is_set():
                queue.keep(entry)  # on disk for the next start: not lost, not failed
            else:
                self._count_failed(batch, str(exc))
                queue.done(entry)
            _settle(entry, exc)
        except PermanentError as exc:
            self._count_failed(batch, str(exc))
            queue.done(entry)
            _settle(entry, exc)
        except asyncio.CancelledError:
            if queue.persistent:
                queue.keep(entry)
            else:
                self._count_failed(batch, "the shutdown deadline passed")
                queue.done(entry)
            _settle(entry, QueueClosedError("cancelled at shutdown"))
            raise
        except Exception as exc:  # a bug in push: count and log, keep the sender alive
            self._count_failed(batch, f"{type(exc).__name__}: {exc}")
            queue.done(entry)
            _settle(entry, PermanentError(f"export failed: {exc}"))
        else:
            self._obs.sent(batch.signal, batch.items)
            queue.done(entry)
            _settle(entry, None)

    # -- accounting --------------------------------------------------------------------------

    def _count_failed(self, batch: Batch, reason: str) -> None:
        self._obs.failed(batch.signal, batch.items)
        self._note_failure(f"dropped {batch.items} {batch.signal.item_name}: {reason}")

    def _count_partial(self, batch: Batch, exc: PartialSuccess) -> None:
        self._obs.sent(batch.signal, batch.items - exc.rejected)
        self._obs.failed(batch.signal, exc.rejected)
        self._note_failure(f"{exc.rejected} {batch.signal.item_name} rejected: {exc.message}")

    def _note_failure(self, message: str) -> None:
        self._failures += 1
        now = time.monotonic()
        if now - self._last_log >= _LOG_EVERY:
            suffix = f" ({self._failures} failures since last report)" if self._failures > 1 else ""
            self.settings.logger.warning("export failed: %s%s", message, suffix)
            self._failures = 0
            self._last_log = now


def _settle(entry: QueueEntry, error: BaseException | None) -> None:
    """Tell a producer waiting for the result (``wait_for_result``) how the export went."""
    future = entry.result
    if future is None or future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)
