"""The in-memory sending queue: bounded by requests, items or bytes.

The bound counts everything the queue holds, including entries the senders have taken and not
finished, so ``queue_size`` with the ``bytes`` sizer really bounds the memory the queue keeps.
When full, ``put`` refuses at once with :class:`~otlpy.exporterhelper.queue.QueueFullError`
(retryable: the receiver answers 503 / UNAVAILABLE), or with ``block_on_overflow`` waits for
room. After :meth:`MemoryQueue.close`, ``get`` still hands out what is left and then ``None``, so
the senders drain the queue.

Example::

    queue = MemoryQueue(1000, Sizer.REQUESTS)
    await queue.put(batch)
    entry = await queue.get()
    ... send entry.batch ...
    queue.done(entry)
"""

from __future__ import annotations

import asyncio
from collections import deque

from otlpy.exporterhelper.queue import (
    FULL_RETRY_AFTER,
    QueueClosedError,
    QueueEntry,
    QueueFullError,
    RecordTooLargeError,
    Sizer,
)
from otlpy.pdata import Batch

__all__ = ["MemoryQueue"]


class MemoryQueue:
    """A bounded asyncio queue of batches (see the module doc)."""

    persistent = False

    def __init__(
        self, capacity: int, sizer: Sizer | str = Sizer.REQUESTS, *, block_on_overflow: bool = False
    ) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self._capacity = capacity
        self.sizer = Sizer(sizer)
        self.block_on_overflow = block_on_overflow
        self._entries: deque[QueueEntry] = deque()
        self._used = 0
        self._closed = False
        self._not_empty = asyncio.Event()
        self._room = asyncio.Event()

    @property
    def capacity(self) -> int:
        return self._capacity

    def size(self) -> int:
        """What the queue holds (waiting and being sent), in the sizer's unit."""
        return self._used

    def __len__(self) -> int:
        """Entries waiting to be handed out."""
        return len(self._entries)

    async def put(self, batch: Batch, *, wait_for_result: bool = False) -> QueueEntry:
        """Add ``batch``; refuse (or wait, with ``block_on_overflow``) when there is no room."""
        size = self.sizer.measure(batch)
        if size > self._capacity:
            raise RecordTooLargeError(
                f"a request of {size} {self.sizer.value} is larger than the whole sending queue "
                f"({self._capacity} {self.sizer.value})"
            )
        while True:
            if self._closed:
                raise QueueClosedError("the sending queue is shutting down")
            if self._used + size <= self._capacity:
                break
            if not self.block_on_overflow:
                raise QueueFullError(
                    f"sending queue is full ({self._used} of {self._capacity} {self.sizer.value})",
                    retry_after=FULL_RETRY_AFTER,
                )
            self._room.clear()
            await self._room.wait()
        future = asyncio.get_running_loop().create_future() if wait_for_result else None
        entry = QueueEntry(batch, size, result=future)
        self._entries.append(entry)
        self._used += size
        self._not_empty.set()
        return entry

    async def get(self) -> QueueEntry | None:
        """The oldest waiting entry; ``None`` once closed and empty."""
        while not self._entries:
            if self._closed:
                return None
            self._not_empty.clear()
            await self._not_empty.wait()
        return self._entries.popleft()

    def done(self, entry: QueueEntry) -> None:
        """The entry is finished (sent, or given up and counted): free its room."""
        self._used -= entry.size
        self._room.set()

    def keep(self, entry: QueueEntry) -> None:
        """A memory queue cannot keep anything past its life: same as :meth:`done`."""
        self.done(entry)

    def drop_waiting(self) -> list[QueueEntry]:
        """Take every waiting entry out (to count them as dropped when time runs out)."""
        dropped = list(self._entries)
        self._entries.clear()
        for entry in dropped:
            self.done(entry)
        return dropped

    async def close(self) -> None:
        """Take nothing more; ``get`` drains what is left and then returns ``None``."""
        self._closed = True
        self._not_empty.set()
        self._room.set()
