"""Where encoded export requests wait for the sender: in memory, or on disk.

A :class:`RequestQueue` holds serialized records (bytes) and hands them out one at a time; the
sender acknowledges a record once it is delivered (or given up on) and returns it with ``nack``
when it must be tried again later. The in-memory queue is bounded by bytes; the disk queue is
:class:`otlpy.exporterhelper.persistent_queue.PersistentQueue`, opened in a directory that no
other process uses at the same time (see :func:`open_disk_queue`).
"""

from __future__ import annotations

import collections
import importlib
import itertools
import logging
import threading
import time
from pathlib import Path
from typing import Any, Protocol

from otlpy.errors import ConfigError, ConfigProblem

__all__ = ["MemoryQueue", "RequestQueue", "open_disk_queue"]

log = logging.getLogger("otlpy.sdk")


class RequestQueue(Protocol):
    """A FIFO of byte records with acknowledgement."""

    def put(self, record: bytes, items: int = 1) -> bool:
        """Take ``record`` (``items`` telemetry items); False, record not taken, when full."""
        ...

    def get(self, timeout: float) -> tuple[int, bytes] | None:
        """The oldest record not handed out yet, waiting up to ``timeout`` seconds for one."""
        ...

    def ack(self, record_id: int) -> None:
        """Forget a record handed out by :meth:`get`: it is done with."""
        ...

    def nack(self, record_id: int) -> None:
        """Hand a record out again, before any other."""
        ...

    def close(self) -> None:
        """Release resources; records not acknowledged stay (disk) or are lost (memory)."""
        ...


class MemoryQueue:
    """A byte-bounded in-memory :class:`RequestQueue`."""

    __slots__ = ("_bytes", "_closed", "_cond", "_ids", "_inflight", "_items", "max_bytes")

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: collections.deque[tuple[int, bytes]] = collections.deque()
        self._inflight: dict[int, bytes] = {}
        self._bytes = 0
        self._ids = itertools.count(1)
        self._cond = threading.Condition(threading.Lock())
        self._closed = False

    def put(self, record: bytes, items: int = 1) -> bool:
        with self._cond:
            if self._closed or self._bytes + len(record) > self.max_bytes:
                return False
            self._items.append((next(self._ids), record))
            self._bytes += len(record)
            self._cond.notify()
            return True

    def get(self, timeout: float) -> tuple[int, bytes] | None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self._items:
                remaining = deadline - time.monotonic()
                if self._closed or remaining <= 0:
                    return None
                self._cond.wait(remaining)
            record_id, record = self._items.popleft()
            self._inflight[record_id] = record
            return record_id, record

    def ack(self, record_id: int) -> None:
        with self._cond:
            record = self._inflight.pop(record_id, None)
            if record is not None:
                self._bytes -= len(record)

    def nack(self, record_id: int) -> None:
        with self._cond:
            record = self._inflight.pop(record_id, None)
            if record is not None:
                self._items.appendleft((record_id, record))
                self._cond.notify()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._items.clear()
            self._inflight.clear()
            self._bytes = 0
            self._cond.notify_all()

    def __len__(self) -> int:
        return len(self._items) + len(self._inflight)


class _DiskQueue:
    """Adapts a ``PersistentQueue`` to :class:`RequestQueue` (refusal is a False, not an error)."""

    __slots__ = ("_queue", "path")

    def __init__(self, queue: Any, path: Path) -> None:
        self._queue = queue
        self.path = path

    def put(self, record: bytes, items: int = 1) -> bool:
        try:
            self._queue.put(record, items=items)
        except Exception as exc:  # full, closed or failing disk: the caller counts a drop
            log.warning("disk queue %s refused a record: %s", self.path, exc)
            return False
        return True

    def get(self, timeout: float) -> tuple[int, bytes] | None:
        result: tuple[int, bytes] | None = self._queue.get(timeout)
        return result

    def ack(self, record_id: int) -> None:
        self._queue.ack(record_id)

    def nack(self, record_id: int) -> None:
        self._queue.nack(record_id)

    def close(self) -> None:
        self._queue.close()

    def __len__(self) -> int:
        return len(self._queue)


def _persistent_queue_module() -> Any:
    try:
        return importlib.import_module("otlpy.exporterhelper.persistent_queue")
    except ImportError as exc:
        raise ConfigError(
            [
                ConfigProblem(
                    "queue_dir",
                    "the disk queue needs otlpy.exporterhelper.persistent_queue, "
                    "which this otlpy build does not have",
                )
            ]
        ) from exc


def open_disk_queue(directory: Path, *, max_bytes: int, fsync: str | None) -> _DiskQueue:
    """Open a disk queue in the first free slot under ``directory``.

    A queue directory is held by one process at a time, so each process takes ``slot-N``, the
    lowest N no live process holds: the workers of a pre-forking server each get their own
    queue, and after a restart each slot, with whatever it still holds, is taken up again.
    """
    module = _persistent_queue_module()
    options: dict[str, Any] = {"max_bytes": max_bytes}
    if fsync is not None:
        options["fsync"] = fsync
    for n in itertools.count():
        slot = directory / f"slot-{n}"
        try:
            queue = module.PersistentQueue.open(slot, **options)
        except module.QueueLockedError:
            continue
        return _DiskQueue(queue, slot)
    raise AssertionError("unreachable")  # pragma: no cover
