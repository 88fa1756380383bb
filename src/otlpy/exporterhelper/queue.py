"""What every sending queue shares: its errors, its entries, how it measures size.

``QueueFullError`` is retryable on purpose: a full queue is overload, and the right answer to the
sender is "try again later" (gRPC UNAVAILABLE / HTTP 503 with a retry hint), not "this data is
bad". ``StorageError`` reports a disk problem of a persistent queue (full, read-only,
permissions) with the path and the operating system's reason.

A sending queue (:class:`BatchQueue`) holds batches between an exporter's ``consume`` and its
senders: ``put`` takes a batch (or refuses it), ``get`` hands the oldest out, and the sender
finishes each entry with ``done`` (delivered, or given up and counted) or ``keep`` (not
delivered; a persistent queue keeps it for the next start, a memory queue cannot).
"""

from __future__ import annotations

import asyncio
import enum
from dataclasses import dataclass
from typing import Protocol

from otlpy.errors import PermanentError, RetryableError
from otlpy.pdata import Batch

__all__ = [
    "FULL_RETRY_AFTER",
    "BatchQueue",
    "QueueClosedError",
    "QueueEntry",
    "QueueFullError",
    "RecordTooLargeError",
    "Sizer",
    "StorageError",
]

#: Seconds a refused sender is asked to wait: long enough for the senders to make room.
FULL_RETRY_AFTER = 1.0


class Sizer(enum.StrEnum):
    """What ``queue_size`` counts: export requests, telemetry items, or serialized bytes."""

    REQUESTS = "requests"
    ITEMS = "items"
    BYTES = "bytes"

    def measure(self, batch: Batch) -> int:
        """The size of ``batch`` in this sizer's unit."""
        if self is Sizer.REQUESTS:
            return 1
        if self is Sizer.ITEMS:
            return batch.items
        return len(batch.raw)


class QueueFullError(RetryableError):
    """The sending queue has no room for this request now; it may have room later."""


class QueueClosedError(RetryableError):
    """The queue is shutting down and takes nothing more (another instance may)."""


class RecordTooLargeError(PermanentError):
    """The request is larger than the whole queue: it can never be accepted."""


class StorageError(RetryableError):
    """The disk behind a persistent queue failed: full, read-only, missing or not permitted."""


@dataclass(slots=True, eq=False)
class QueueEntry:
    """One batch in a sending queue; ``result`` is set when the producer waits for the export."""

    batch: Batch
    size: int
    id: int = 0
    result: asyncio.Future[None] | None = None


class BatchQueue(Protocol):
    """A bounded FIFO of batches with acknowledgement (memory or persistent)."""

    @property
    def persistent(self) -> bool: ...

    @property
    def capacity(self) -> int: ...

    def size(self) -> int: ...

    async def put(self, batch: Batch, *, wait_for_result: bool = False) -> QueueEntry: ...

    async def get(self) -> QueueEntry | None: ...

    def done(self, entry: QueueEntry) -> None: ...

    def keep(self, entry: QueueEntry) -> None: ...

    async def close(self) -> None: ...
