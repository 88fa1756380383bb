"""The exporter helper: an exporter author writes ``push(batch)``; the helper adds the rest.

:class:`Exporter` wraps a push coroutine in sending queue -> retry -> timeout, with the
Collector's settings (:class:`QueueConfig`, :class:`RetryConfig`, ``timeout``) and metric names.
The queue is in memory (:class:`MemoryQueue`) or, with ``sending_queue.storage`` naming a
``file_storage`` extension, on disk (:class:`PersistentQueue`, crash-safe)::

    async def push(batch: Batch) -> None:
        ...  # send batch.raw somewhere
    exporter = Exporter(settings, push, timeout=5.0, retry=RetryConfig(), queue=QueueConfig())
"""

from __future__ import annotations

from otlpy.exporterhelper.config import QueueConfig, RetryConfig
from otlpy.exporterhelper.exporter import Exporter, PushFn, QueueStorage
from otlpy.exporterhelper.memory_queue import MemoryQueue
from otlpy.exporterhelper.persistent_queue import FsyncPolicy, PersistentQueue
from otlpy.exporterhelper.queue import (
    QueueClosedError,
    QueueFullError,
    RecordTooLargeError,
    Sizer,
    StorageError,
)

__all__ = [
    "Exporter",
    "FsyncPolicy",
    "MemoryQueue",
    "PersistentQueue",
    "PushFn",
    "QueueClosedError",
    "QueueConfig",
    "QueueFullError",
    "QueueStorage",
    "RecordTooLargeError",
    "RetryConfig",
    "Sizer",
    "StorageError",
]
