"""Where encoded export requests wait for the sender: in memory, or on disk.

A :class:`RequestQueue` holds serialized records (bytes) and hands them out one at a time; the
sender acknowledges a record once it is delivered (or given up on) and returns it with ``nack``
when it must be tried again later. The in-memory queue is bounded by bytes; the disk queue is
:class:`otlpy.exporterhelper.persistent_queue.PersistentQueue`, opened in a directory that no
other process uses at the same time (see :func:`open_disk_queue`).
"""

from __future__ import annotations

import collections
import fcntl
import importlib
import itertools
import os
import threading
import time
from pathlib import Path
from typing import Any, Protocol

from otlpy.errors import ConfigError, ConfigProblem

__all__ = ["MemoryQueue", "RequestQueue", "open_disk_queue"]


class RequestQueue(Protocol):
    """A FIFO of byte records with acknowledgement."""

    def put(self, record: bytes) -> bool:
        """Take ``record``; False (and the record not taken) when the queue is full."""
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

    def put(self, record: bytes) -> bool:
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


class _LockedQueue:
    """A disk queue plus the slot lock that keeps other processes out of its directory."""

    __slots__ = ("_lock_fd", "_queue", "path")

    def __init__(self, queue: Any, lock_fd: int, path: Path) -> None:
        self._queue = queue
        self._lock_fd = lock_fd
        self.path = path

    def put(self, record: bytes) -> bool:
        try:
            self._queue.put(record)
        except Exception:  # the disk queue refuses when full or failing: the caller counts a drop
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
        try:
            self._queue.close()
        finally:
            os.close(self._lock_fd)


def _persistent_queue_class() -> Any:
    try:
        module = importlib.import_module("otlpy.exporterhelper.persistent_queue")
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
    return module.PersistentQueue


def open_disk_queue(directory: Path, *, max_bytes: int, fsync: bool) -> _LockedQueue:
    """Open a disk queue in the first free slot under ``directory``.

    Each process takes ``slot-N`` (the lowest N whose lock file no live process holds), so the
    workers of a pre-forking server each get their own queue, and after a restart each slot, with
    whatever it still holds, is picked up again by a new process.
    """
    queue_class = _persistent_queue_class()
    directory.mkdir(parents=True, exist_ok=True)
    for n in itertools.count():
        slot = directory / f"slot-{n}"
        slot.mkdir(exist_ok=True)
        fd = os.open(slot / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        try:
            queue = queue_class.open(slot, max_bytes=max_bytes, fsync=fsync)
        except BaseException:
            os.close(fd)
            raise
        return _LockedQueue(queue, fd, slot)
    raise AssertionError("unreachable")  # pragma: no cover
