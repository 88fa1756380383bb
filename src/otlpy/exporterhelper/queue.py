"""What every sending queue shares: its errors and how it measures its size.

``QueueFullError`` is retryable on purpose: a full queue is overload, and the right answer to the
sender is "try again later" (gRPC UNAVAILABLE / HTTP 503), not "this data is bad".
``StorageError`` reports a disk problem of a persistent queue (full, read-only, permissions) with
the path and the operating system's reason.
"""

from __future__ import annotations

import enum

from otlpy.errors import PermanentError, RetryableError

__all__ = ["QueueClosedError", "QueueFullError", "RecordTooLargeError", "Sizer", "StorageError"]


class Sizer(enum.StrEnum):
    """What ``queue_size`` counts: export requests, telemetry items, or serialized bytes."""

    REQUESTS = "requests"
    ITEMS = "items"
    BYTES = "bytes"


class QueueFullError(RetryableError):
    """The sending queue has no room for this request now; it may have room later."""


class QueueClosedError(RetryableError):
    """The queue is shutting down and takes nothing more (another instance may)."""


class RecordTooLargeError(PermanentError):
    """The request is larger than the whole queue: it can never be accepted."""


class StorageError(RetryableError):
    """The disk behind a persistent queue failed: full, read-only, missing or not permitted."""
