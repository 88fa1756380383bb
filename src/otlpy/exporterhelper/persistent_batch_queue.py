"""The persistent sending queue: batches kept in a :class:`PersistentQueue` on disk.

Each batch is stored as its serialized request behind a 6-byte header (format version, signal,
item count), so what comes back after a restart is forwarded without decoding. ``put`` returns
once the record is written (``kill -9`` loses nothing acknowledged; the fsync policy covers power
loss). On :meth:`PersistentBatchQueue.close` the queue stops handing records out, waits for the
ones being sent to be finished, and leaves everything not delivered on disk for the next start.
"""

from __future__ import annotations

import asyncio
import logging
import struct

from otlpy.exporterhelper.persistent_queue import AsyncPersistentQueue, PersistentQueue
from otlpy.exporterhelper.queue import (
    FULL_RETRY_AFTER,
    QueueClosedError,
    QueueEntry,
    QueueFullError,
    Sizer,
)
from otlpy.pdata import Batch, Signal

__all__ = ["PersistentBatchQueue", "decode_record", "encode_record"]

log = logging.getLogger(__name__)

_HEADER = struct.Struct("<BBI")  # format version, signal, items
_VERSION = 1
_SIGNAL_CODES = {Signal.TRACES: 1, Signal.METRICS: 2, Signal.LOGS: 3}
_CODE_SIGNALS = {code: signal for signal, code in _SIGNAL_CODES.items()}


def encode_record(batch: Batch) -> bytes:
    """The bytes a batch is stored as."""
    return _HEADER.pack(_VERSION, _SIGNAL_CODES[batch.signal], batch.items) + batch.raw


def decode_record(record: bytes) -> Batch:
    """The batch stored in ``record``; ``ValueError`` when it is not one this version wrote."""
    if len(record) < _HEADER.size:
        raise ValueError("record too short for a batch header")
    version, code, items = _HEADER.unpack_from(record)
    if version != _VERSION:
        raise ValueError(f"unknown batch record version {version}")
    signal = _CODE_SIGNALS.get(code)
    if signal is None:
        raise ValueError(f"unknown signal code {code}")
    return Batch(signal, raw=record[_HEADER.size :], items=items)


class PersistentBatchQueue:
    """A :class:`~otlpy.exporterhelper.queue.BatchQueue` on a :class:`PersistentQueue`.

    The queue's bound is the persistent queue's own: ``max_records`` for the ``requests``
    sizer, ``max_items`` for ``items``, ``max_payload_bytes`` for ``bytes`` (plus its disk
    bound, ``max_bytes``).
    """

    persistent = True

    def __init__(
        self, queue: PersistentQueue, sizer: Sizer | str, *, block_on_overflow: bool = False
    ) -> None:
        self.queue = queue
        self.sizer = Sizer(sizer)
        self.block_on_overflow = block_on_overflow
        self._async = AsyncPersistentQueue(queue)
        self._waiters: dict[int, asyncio.Future[None]] = {}
        self._handed_out = 0
        self._closing = False
        self._room = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def capacity(self) -> int:
        bound = {
            Sizer.REQUESTS: self.queue.max_records,
            Sizer.ITEMS: self.queue.max_items,
            Sizer.BYTES: self.queue.max_payload_bytes,
        }[self.sizer]
        return bound if bound is not None else 0

    def size(self) -> int:
        if self.sizer is Sizer.REQUESTS:
            return len(self.queue)
        if self.sizer is Sizer.ITEMS:
            return self.queue.items
        return self.queue.payload_bytes

    def _measure(self, batch: Batch) -> int:
        return self.sizer.measure(batch)

    async def put(self, batch: Batch, *, wait_for_result: bool = False) -> QueueEntry:
        """Write ``batch`` to the queue; refuse (or wait, with ``block_on_overflow``) when full."""
        record = encode_record(batch)
        future: asyncio.Future[None] | None = None
        on_id = None
        if wait_for_result:
            future = asyncio.get_running_loop().create_future()
            waiters, waiter = self._waiters, future

            def on_id(rid: int) -> None:
                # Registered before a sender can take the record (it may run in a thread).
                waiters[rid] = waiter

        while True:
            if self._closing:
                raise QueueClosedError("the sending queue is shutting down")
            try:
                rid = await self._async.put(record, items=batch.items, on_id=on_id)
                break
            except QueueFullError as exc:
                if not self.block_on_overflow:
                    exc.retry_after = exc.retry_after or FULL_RETRY_AFTER
                    raise
            self._room.clear()
            await self._room.wait()
        return QueueEntry(batch, self._measure(batch), id=rid, result=future)

    async def get(self) -> QueueEntry | None:
        """The oldest record as an entry; ``None`` once closing (the rest stays on disk)."""
        while not self._closing:
            got = await self._async.get()
            if got is None:
                return None
            rid, record = got
            if self._closing:
                self.queue.nack(rid)  # taken as the queue closed: it stays for the next start
                return None
            try:
                batch = decode_record(record)
            except ValueError as exc:
                log.error(
                    "persistent queue %s: record %d dropped: %s", self.queue.directory, rid, exc
                )
                self.queue.ack(rid)
                continue
            self._handed_out += 1
            self._idle.clear()
            waiter = self._waiters.pop(rid, None)
            return QueueEntry(batch, self._measure(batch), id=rid, result=waiter)
        return None

    def _finish(self) -> None:
        self._handed_out -= 1
        if self._handed_out == 0:
            self._idle.set()

    def done(self, entry: QueueEntry) -> None:
        """Delivered, or given up and counted: remove it from the disk."""
        self.queue.ack(entry.id)
        self._finish()
        self._room.set()

    def keep(self, entry: QueueEntry) -> None:
        """Not delivered: leave it on disk; it is handed out again after the next open."""
        self._finish()

    async def close(self) -> None:
        """Stop handing records out, wait for those being sent, then close the queue on disk."""
        self._closing = True
        self._async.interrupt()
        self._room.set()
        try:
            await self._idle.wait()
        finally:
            for future in self._waiters.values():
                if not future.done():
                    future.set_exception(QueueClosedError("kept on disk for the next start"))
            self._waiters.clear()
            await asyncio.to_thread(self.queue.close)
