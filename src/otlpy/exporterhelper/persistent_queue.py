"""A crash-safe queue of byte records kept in a write-ahead log on disk.

The queue is a directory::

    LOCK                        held (flock) by the one process that has the queue open
    00000000000000000000.seg    segment files: append-only frames, named by their first record id
    00000000000000004096.seg
    acks                        append-only log of acknowledged record ids
    state                       checkpoint, replaced atomically: next id and every acked id range

A frame is ``magic, crc32, length, id, items`` (24 bytes) followed by the record; the CRC covers
the header fields after it and the record, so a torn or damaged frame is recognised and skipped,
never delivered. ``put`` returns once the frame is written to the file (the kernel has it, so a
``kill -9`` of the process loses nothing that ``put`` returned for); the fsync policy says when it
also reaches the disk (``always``: before ``put`` returns; ``batch``: within ``fsync_interval``;
``never``: when the kernel decides). Records come out in id order; a record handed out by ``get``
stays in the queue until ``ack``; one still unacknowledged when the process stops (or dies) is
delivered again after the next open, so delivery is at least once. Segments whose records are all
acknowledged are deleted; :meth:`PersistentQueue.compact` moves the few live records out of
mostly-acknowledged segments so that one slow record cannot pin the disk.

Example::

    q = PersistentQueue.open("/var/lib/otlpy/queue", max_bytes=1 << 30)
    q.put(b"payload", items=3)
    rid, data = q.get(timeout=1.0)
    ... send data ...
    q.ack(rid)          # or q.nack(rid) to hand it out again
    q.close()
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import errno
import fcntl
import logging
import os
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from otlpy.exporterhelper._wal import (
    ACK,
    FRAME,
    HEADER_SIZE,
    MAGIC,
    MAX_RECORD,
    SEGMENT_SUFFIX,
    ScanReport,
    SegmentReport,
    State,
    encode_ack,
    encode_header,
    frame_crc,
    iter_records,
    recover,
    scan,
)
from otlpy.exporterhelper.queue import (
    QueueClosedError,
    QueueFullError,
    RecordTooLargeError,
    StorageError,
)

__all__ = [
    "AsyncPersistentQueue",
    "FsyncPolicy",
    "PersistentQueue",
    "QueueLockedError",
    "ScanReport",
    "SegmentReport",
    "iter_records",
    "scan",
]

log = logging.getLogger(__name__)

_NO_SPACE = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


class FsyncPolicy(enum.StrEnum):
    """When written records are forced to the disk (they survive a process crash regardless)."""

    ALWAYS = "always"  # before put() returns: survives power loss, slowest
    BATCH = "batch"  # at most fsync_interval after put(): loses at most that window on power loss
    NEVER = "never"  # left to the kernel


class QueueLockedError(StorageError):
    """Another process (or another open queue in this one) holds the queue directory."""


# ---------------------------------------------------------------------------------------------
# The queue.


@dataclass(slots=True, eq=False)
class _Segment:
    first_id: int
    path: Path
    fd: int
    size: int
    live: int = 0
    live_bytes: int = 0  # frame bytes of unacknowledged records


@dataclass(slots=True)
class _Loc:
    segment: _Segment
    offset: int
    length: int
    items: int


class _CorruptRecord(Exception):
    pass


def _describe_os_error(action: str, path: Path, exc: OSError) -> str:
    if exc.errno in _NO_SPACE:
        reason = "the disk is full (or a file size limit was reached)"
    elif exc.errno == errno.EROFS:
        reason = "the file system is read-only"
    elif exc.errno in (errno.EACCES, errno.EPERM):
        reason = "permission denied"
    else:
        reason = exc.strerror or str(exc)
    return f"persistent queue cannot {action} {path}: {reason} [errno {exc.errno}]"


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class PersistentQueue:
    """A crash-safe, bounded, thread-safe queue of byte records on disk (see the module doc)."""

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        max_bytes: int = 1 << 30,
        max_records: int | None = None,
        max_items: int | None = None,
        max_payload_bytes: int | None = None,
        fsync: FsyncPolicy | str = FsyncPolicy.BATCH,
        fsync_interval: float = 0.2,
        segment_bytes: int = 32 << 20,
        compact_on_open: bool = False,
        ack_log_limit: int = 1 << 20,
        logger: logging.Logger | None = None,
    ) -> None:
        if max_bytes <= 0:
            raise ValueError("max_bytes must be positive")
        if segment_bytes <= HEADER_SIZE:
            raise ValueError("segment_bytes is too small")
        self.directory = Path(directory)
        try:
            self.fsync = FsyncPolicy(fsync)
        except ValueError:
            choices = ", ".join(p.value for p in FsyncPolicy)
            raise ValueError(f"fsync must be one of {choices}, not {fsync!r}") from None
        self.max_bytes = max_bytes
        self.max_records = max_records
        self.max_items = max_items
        self.max_payload_bytes = max_payload_bytes
        self._fsync_interval = fsync_interval
        # At least four segments fit in the bound, so that deleting acknowledged segments (and
        # compaction) always has something to free before the queue reports itself full.
        self._segment_bytes = max(HEADER_SIZE + 1, min(segment_bytes, max_bytes // 4))
        self._ack_log_limit = ack_log_limit
        self._log = logger or log
        self._lock = threading.Lock()
        self._not_empty = threading.Condition(self._lock)
        self._sync_lock = threading.Lock()
        self._listeners: list[Callable[[], None]] = []
        self._segments: list[_Segment] = []
        self._active: _Segment | None = None
        self._index: dict[int, _Loc] = {}
        self._ready: deque[int] = deque()
        self._in_flight: set[int] = set()
        self._items = 0
        self._payload = 0
        self._disk = 0
        self._written = 0  # bytes written since open (all segments): the fsync cursor
        self._synced = 0
        self._acks_size = 0
        self._ack_failing = False
        self._closed = False
        #: records found unacknowledged at open (they are delivered again)
        self.recovered = 0
        #: damaged bytes skipped at open (not counting an interrupted last write)
        self.corrupt_bytes = 0
        #: records dropped because their bytes were damaged on disk when read
        self.corrupt_records = 0
        self._lock_fd = self._take_lock()
        try:
            self._acks_fd = -1
            self._open_files()
            if compact_on_open:
                self.compact()
        except BaseException:
            self._release_files()
            raise
        self._stop = threading.Event()
        self._syncer: threading.Thread | None = None
        if self.fsync is FsyncPolicy.BATCH:
            self._syncer = threading.Thread(
                target=self._sync_loop, name=f"otlpy-queue-fsync:{self.directory.name}", daemon=True
            )
            self._syncer.start()

    @classmethod
    def open(cls, directory: str | os.PathLike[str], **options: object) -> PersistentQueue:
        """Open (creating if needed) the queue in ``directory``; see :class:`PersistentQueue`."""
        return cls(directory, **options)  # type: ignore[arg-type]

    # -- opening -----------------------------------------------------------------------------

    def _take_lock(self) -> int:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.directory / "LOCK", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise StorageError(_describe_os_error("open", self.directory, exc)) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise QueueLockedError(
                f"persistent queue {self.directory} is already open (held by process {holder})"
            ) from exc
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return fd

    def _open_files(self) -> None:
        try:
            rec = recover(self.directory)
        except OSError as exc:
            raise StorageError(_describe_os_error("read", self.directory, exc)) from exc
        if not rec.state_ok:
            self._log.warning(
                "persistent queue %s: checkpoint damaged; unacknowledged-or-not is re-derived "
                "from the records, some may be delivered twice",
                self.directory,
            )
        self._next_id = rec.next_id
        try:
            for i, (first_id, path, scanned) in enumerate(rec.segments):
                last = i == len(rec.segments) - 1
                torn = scanned.torn_tail if last else 0
                damaged = sum(n for _, n in scanned.corrupt) - torn
                if torn:
                    # An interrupted write at the very end: nothing after it was acknowledged.
                    self._log.warning(
                        "persistent queue %s: dropped %d bytes of an interrupted write at the "
                        "end of %s",
                        self.directory,
                        torn,
                        path.name,
                    )
                    os.truncate(path, scanned.valid_end)
                    scanned.size = scanned.valid_end
                if damaged:
                    self.corrupt_bytes += damaged
                    self._log.error(
                        "persistent queue %s: %d damaged bytes in %s skipped",
                        self.directory,
                        damaged,
                        path.name,
                    )
                fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
                self._segments.append(_Segment(first_id, path, fd, scanned.size))
                self._disk += scanned.size
            for rid in sorted(rec.live):
                index, frame = rec.live[rid]
                seg = self._segments[index]
                self._index[rid] = _Loc(seg, frame.offset, frame.length, frame.items)
                seg.live += 1
                seg.live_bytes += HEADER_SIZE + frame.length
                self._items += frame.items
                self._payload += frame.length
                self._ready.append(rid)
            self.recovered = len(self._index)
            self._acks_fd = os.open(
                self.directory / "acks",
                os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC,
                0o644,
            )
            # A fresh checkpoint folds the ack log in; fully acknowledged segments then go.
            self._checkpoint_locked()
            self._retire_locked([s for s in self._segments if s.live == 0])
            for stale in self.directory.glob("state.tmp*"):
                stale.unlink()
        except OSError as exc:
            raise StorageError(_describe_os_error("open", self.directory, exc)) from exc
        if self.recovered:
            self._log.info(
                "persistent queue %s: %d unacknowledged records recovered (%d items)",
                self.directory,
                self.recovered,
                self._items,
            )

    def _release_files(self) -> None:
        for seg in self._segments:
            with contextlib.suppress(OSError):
                os.close(seg.fd)
        self._segments.clear()
        if self._acks_fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._acks_fd)
            self._acks_fd = -1
        if self._lock_fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._lock_fd)  # closing the descriptor releases the flock
            self._lock_fd = -1

    # -- sizes -------------------------------------------------------------------------------

    def __len__(self) -> int:
        """Records held: waiting or handed out and not yet acknowledged."""
        return len(self._index)

    @property
    def items(self) -> int:
        """Sum of the ``items`` weights of the records held."""
        return self._items

    @property
    def payload_bytes(self) -> int:
        """Bytes of the records held (without framing)."""
        return self._payload

    @property
    def bytes_used(self) -> int:
        """Bytes the segment files take on disk (what ``max_bytes`` bounds)."""
        return self._disk

    @property
    def in_flight(self) -> int:
        """Records handed out by :meth:`get` and not yet acknowledged."""
        return len(self._in_flight)

    @property
    def closed(self) -> bool:
        return self._closed

    def add_listener(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` (from any thread) whenever a record may have become available."""
        self._listeners.append(callback)

    def _notify(self) -> None:
        for callback in self._listeners:
            callback()

    # -- put ---------------------------------------------------------------------------------

    def put(
        self, record: bytes, *, items: int = 1, on_id: Callable[[int], None] | None = None
    ) -> int:
        """Append ``record`` (weighing ``items``) and return its id once the kernel has it.

        ``on_id(id)`` is called with the new id before any :meth:`get` can hand the record out
        (under the queue's lock: keep it to a dictionary assignment).

        Raises :class:`QueueFullError` (retryable) when a bound would be exceeded,
        :class:`RecordTooLargeError` when the record could never fit, :class:`StorageError` when
        the disk fails, :class:`QueueClosedError` after :meth:`close`.
        """
        if not 0 <= items <= 0xFFFF_FFFF:
            raise ValueError("items must fit in 32 bits")
        length = len(record)
        size = HEADER_SIZE + length
        if (
            length > MAX_RECORD
            or size > self.max_bytes
            or (self.max_payload_bytes is not None and length > self.max_payload_bytes)
            or (self.max_items is not None and items > self.max_items)
        ):
            raise RecordTooLargeError(
                f"record of {length} bytes and {items} items can never fit in persistent queue "
                f"{self.directory}"
            )
        payload_crc = zlib.crc32(record)
        with self._lock:
            if self._closed:
                raise QueueClosedError(f"persistent queue {self.directory} is closed")
            self._check_room_locked(length, items)
            if self._disk + size > self.max_bytes:
                self._compact_locked(need=size)
                if self._disk + size > self.max_bytes:
                    raise QueueFullError(
                        f"persistent queue {self.directory} is full: {self._disk} of "
                        f"{self.max_bytes} bytes on disk in use"
                    )
            self._writable_segment_locked(size)  # first, so a new segment is named by this id
            rid = self._next_id
            self._next_id += 1
            header = encode_header(rid, items, length, payload_crc)
            seg, offset = self._append_locked(header, record)
            self._index[rid] = _Loc(seg, offset, length, items)
            seg.live += 1
            seg.live_bytes += size
            self._items += items
            self._payload += length
            if on_id is not None:
                on_id(rid)
            self._ready.append(rid)
            target = self._written
            self._not_empty.notify()
        if self.fsync is FsyncPolicy.ALWAYS:
            self._sync(target)
        self._notify()
        return rid

    def _check_room_locked(self, length: int, items: int) -> None:
        if self.max_records is not None and len(self._index) + 1 > self.max_records:
            raise QueueFullError(
                f"persistent queue {self.directory} is full: {len(self._index)} of "
                f"{self.max_records} requests"
            )
        if self.max_items is not None and self._items + items > self.max_items:
            raise QueueFullError(
                f"persistent queue {self.directory} is full: {self._items} of {self.max_items} "
                "items"
            )
        if self.max_payload_bytes is not None and self._payload + length > self.max_payload_bytes:
            raise QueueFullError(
                f"persistent queue {self.directory} is full: {self._payload} of "
                f"{self.max_payload_bytes} bytes"
            )

    def _append_locked(self, header: bytes, record: bytes) -> tuple[_Segment, int]:
        total = len(header) + len(record)
        seg = self._writable_segment_locked(total)
        offset = seg.size
        try:
            # One writev: no copy of the record, and one system call in the common case.
            done = os.writev(seg.fd, (header, record))
            if done < total:
                rest = (header + record)[done:]
                while rest:
                    rest = rest[os.write(seg.fd, rest) :]
        except OSError as exc:
            # Take the partial frame back; if even that fails, leave this segment: its torn
            # tail is skipped on recovery and readers never look past seg.size.
            try:
                os.ftruncate(seg.fd, offset)
            except OSError:
                self._active = None
            raise StorageError(_describe_os_error("write to", seg.path, exc)) from exc
        seg.size += total
        self._disk += total
        self._written += total
        return seg, offset

    def _writable_segment_locked(self, size: int) -> _Segment:
        active = self._active
        if active is not None and (active.size == 0 or active.size + size <= self._segment_bytes):
            return active
        # Everything written so far is in the old segment or older ones, all synced after this.
        self._seal_active_locked()
        # Names only need to be unique and increasing: records moved by compaction do not use
        # up ids, so the next id alone could name two segments the same.
        first = max(self._next_id, self._segments[-1].first_id + 1 if self._segments else 0)
        path = self.directory / f"{first:020d}{SEGMENT_SUFFIX}"
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise StorageError(_describe_os_error("create", path, exc)) from exc
        seg = _Segment(first, path, fd, os.fstat(fd).st_size)
        self._disk += seg.size
        self._segments.append(seg)
        self._active = seg
        if self.fsync is not FsyncPolicy.NEVER:
            with contextlib.suppress(OSError):
                _fsync_dir(self.directory)
        if active is not None and active.live == 0:
            self._retire_locked([active])
        return seg

    # -- get / ack / nack --------------------------------------------------------------------

    def get(self, timeout: float | None = None) -> tuple[int, bytes] | None:
        """The oldest waiting record as ``(id, record)``; ``None`` on timeout or once closed.

        ``timeout=None`` waits for ever, ``0`` does not wait.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._not_empty:
            while True:
                if self._closed:
                    return None
                got = self._pop_locked()
                if got is not None:
                    return got
                if deadline is None:
                    self._not_empty.wait()
                else:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return None
                    self._not_empty.wait(remaining)

    def _pop_locked(self) -> tuple[int, bytes] | None:
        while self._ready:
            rid = self._ready.popleft()
            loc = self._index.get(rid)
            if loc is None or rid in self._in_flight:
                continue
            try:
                record = self._read_locked(rid, loc)
            except _CorruptRecord:
                self.corrupt_records += 1
                self._log.error(
                    "persistent queue %s: record %d in %s is damaged on disk and was dropped",
                    self.directory,
                    rid,
                    loc.segment.path.name,
                )
                self._forget_locked(rid)
                continue
            except OSError as exc:
                self._ready.appendleft(rid)
                raise StorageError(_describe_os_error("read", loc.segment.path, exc)) from exc
            self._in_flight.add(rid)
            return rid, record
        return None

    def _read_locked(self, rid: int, loc: _Loc) -> bytes:
        size = HEADER_SIZE + loc.length
        data = os.pread(loc.segment.fd, size, loc.offset)
        if len(data) != size:
            raise _CorruptRecord
        magic, crc, length, frame_id, _items = FRAME.unpack_from(data)
        view = memoryview(data)
        if (
            magic != MAGIC
            or length != loc.length
            or frame_id != rid
            or frame_crc(view[8:HEADER_SIZE], view[HEADER_SIZE:]) != crc
        ):
            raise _CorruptRecord
        return data[HEADER_SIZE:]

    def ack(self, rid: int) -> None:
        """The record was delivered: forget it.

        Acknowledging twice, an unknown id, or after :meth:`close` is a no-op (in the last case
        the record is delivered again after the next open).
        """
        with self._lock:
            if not self._closed:
                self._forget_locked(rid)

    def nack(self, rid: int) -> None:
        """The record was not delivered: hand it out again (first, before newer records)."""
        with self._lock:
            if self._closed or rid not in self._in_flight:
                return
            self._in_flight.discard(rid)
            self._ready.appendleft(rid)
            self._not_empty.notify()
        self._notify()

    def _forget_locked(self, rid: int) -> None:
        loc = self._index.pop(rid, None)
        if loc is None:
            return
        self._in_flight.discard(rid)
        self._items -= loc.items
        self._payload -= loc.length
        seg = loc.segment
        seg.live -= 1
        seg.live_bytes -= HEADER_SIZE + loc.length
        self._write_ack_locked(rid)
        if seg.live == 0 and seg is not self._active:
            self._retire_locked([seg])
        elif self._acks_size > self._ack_log_limit:
            self._checkpoint_quietly_locked()

    def _write_ack_locked(self, rid: int) -> None:
        try:
            os.write(self._acks_fd, encode_ack(rid))
        except OSError as exc:
            # A lost ack costs a duplicate after restart, never a loss: report, carry on.
            if not self._ack_failing:
                self._ack_failing = True
                self._log.error(
                    "%s; acknowledged records may be delivered again after restart",
                    _describe_os_error("write to", self.directory / "acks", exc),
                )
            return
        self._ack_failing = False
        self._acks_size += ACK.size

    # -- checkpoint, retirement, compaction --------------------------------------------------

    def _checkpoint_locked(self) -> None:
        live = sorted(self._index)
        watermark = live[0] if live else self._next_id
        ranges: list[tuple[int, int]] = []
        prev = watermark
        for rid in live:
            if rid > prev:
                ranges.append((prev, rid))
            prev = rid + 1
        if prev < self._next_id:
            ranges.append((prev, self._next_id))
        data = State(self._next_id, watermark, tuple(ranges)).encode()
        tmp = self.directory / f"state.tmp{os.getpid()}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
        try:
            os.write(fd, data)
            if self.fsync is not FsyncPolicy.NEVER:
                os.fsync(fd)
        finally:
            os.close(fd)
        tmp.replace(self.directory / "state")
        if self.fsync is not FsyncPolicy.NEVER:
            _fsync_dir(self.directory)
        # Every ack in the log is now in the checkpoint.
        os.ftruncate(self._acks_fd, 0)
        self._acks_size = 0

    def _checkpoint_quietly_locked(self) -> bool:
        try:
            self._checkpoint_locked()
        except OSError as exc:
            self._log.error(
                "%s; the ack log keeps growing until it succeeds",
                _describe_os_error("write a checkpoint in", self.directory, exc),
            )
            return False
        return True

    def _retire_locked(self, segments: list[_Segment]) -> None:
        """Delete segments holding no unacknowledged record (after a checkpoint covers them)."""
        segments = [s for s in segments if s.live == 0 and s is not self._active]
        if not segments or not self._checkpoint_quietly_locked():
            return
        for seg in segments:
            with contextlib.suppress(OSError):
                os.close(seg.fd)
            try:
                seg.path.unlink()
            except FileNotFoundError:
                pass
            except OSError as exc:
                self._log.error("%s", _describe_os_error("delete", seg.path, exc))
            self._segments.remove(seg)
            self._disk -= seg.size

    def compact(self) -> int:
        """Move live records out of mostly-acknowledged segments and delete them; bytes freed."""
        with self._lock:
            if self._closed:
                return 0
            return self._compact_locked(need=None)

    def _compact_locked(self, need: int | None) -> int:
        before = self._disk
        active = self._active
        if (
            need is not None
            and active is not None
            and active.size > 0
            and active.live_bytes * 2 <= active.size
        ):
            # Mostly acknowledged: seal it so that its live records can move and it can go.
            self._seal_active_locked()
        candidates = [s for s in self._segments if s is not self._active]
        if need is not None:
            reclaimable = sum(s.size - s.live_bytes for s in candidates)
            if self._disk + need - reclaimable > self.max_bytes:
                return 0  # moving records would not make enough room
        else:
            candidates = [s for s in candidates if s.live_bytes * 2 <= s.size]
        moved: list[_Segment] = []
        try:
            for seg in candidates:
                for rid in sorted(r for r, loc in self._index.items() if loc.segment is seg):
                    self._move_locked(rid, self._index[rid])
                moved.append(seg)
                if need is not None and self._disk - self._reclaimable(moved) + need <= (
                    self.max_bytes
                ):
                    break
        finally:
            if moved and self.fsync is not FsyncPolicy.NEVER and self._active is not None:
                # The copies must be on disk before the originals go.
                try:
                    os.fdatasync(self._active.fd)
                    self._synced = self._written
                except OSError as exc:
                    self._log.error("%s", _describe_os_error("sync", self._active.path, exc))
                    moved = []
            self._retire_locked(moved)
        freed = before - self._disk
        if freed > 0:
            self._log.info("persistent queue %s: compaction freed %d bytes", self.directory, freed)
        return max(freed, 0)

    def _seal_active_locked(self) -> None:
        active = self._active
        if active is None:
            return
        if self.fsync is not FsyncPolicy.NEVER:
            try:
                os.fdatasync(active.fd)
            except OSError as exc:
                raise StorageError(_describe_os_error("sync", active.path, exc)) from exc
            self._synced = self._written
        self._active = None

    @staticmethod
    def _reclaimable(segments: list[_Segment]) -> int:
        return sum(s.size for s in segments if s.live == 0)

    def _move_locked(self, rid: int, loc: _Loc) -> None:
        try:
            record = self._read_locked(rid, loc)
        except (OSError, _CorruptRecord):
            return  # left where it is; get() reports it if it is really damaged
        header = encode_header(rid, loc.items, loc.length, zlib.crc32(record))
        seg, offset = self._append_locked(header, record)
        size = len(header) + len(record)
        old = loc.segment
        old.live -= 1
        old.live_bytes -= size
        seg.live += 1
        seg.live_bytes += size
        loc.segment = seg
        loc.offset = offset

    # -- durability --------------------------------------------------------------------------

    def _sync(self, target: int) -> None:
        with self._sync_lock:
            if self._synced >= target:
                return
            with self._lock:
                if self._active is None or self._closed:
                    return
                fd = os.dup(self._active.fd)
                written = self._written
                path = self._active.path
            try:
                os.fdatasync(fd)
            except OSError as exc:
                raise StorageError(_describe_os_error("sync", path, exc)) from exc
            finally:
                os.close(fd)
            self._synced = max(self._synced, written)

    def _sync_loop(self) -> None:
        failing = False
        while not self._stop.wait(self._fsync_interval):
            if self._written <= self._synced:
                continue
            try:
                self._sync(self._written)
                failing = False
            except StorageError as exc:
                if not failing:
                    self._log.error("%s", exc)
                failing = True

    def flush(self) -> None:
        """Force everything written so far to the disk, whatever the fsync policy."""
        with self._sync_lock, self._lock:
            if self._active is not None and not self._closed:
                try:
                    os.fdatasync(self._active.fd)
                    os.fdatasync(self._acks_fd)
                except OSError as exc:
                    raise StorageError(_describe_os_error("sync", self._active.path, exc)) from exc
                self._synced = self._written

    def close(self) -> None:
        """Flush (unless the policy is ``never``), checkpoint and release the directory.

        Records handed out and not acknowledged stay in the queue for the next open. Waiting
        :meth:`get` calls return ``None``.
        """
        with self._not_empty:
            if self._closed:
                return
            self._closed = True
            self._not_empty.notify_all()
        self._stop.set()
        if self._syncer is not None:
            self._syncer.join()
        with self._sync_lock, self._lock:
            if self.fsync is not FsyncPolicy.NEVER and self._active is not None:
                try:
                    os.fdatasync(self._active.fd)
                except OSError as exc:
                    self._log.error("%s", _describe_os_error("sync", self._active.path, exc))
            self._active = None
            self._retire_locked([s for s in self._segments if s.live == 0])
            self._checkpoint_quietly_locked()
            self._release_files()
        self._notify()

    def __enter__(self) -> PersistentQueue:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"PersistentQueue({str(self.directory)!r}, records={len(self._index)}, "
            f"bytes_used={self._disk}, fsync={self.fsync.value})"
        )


class AsyncPersistentQueue:
    """An asyncio face of a :class:`PersistentQueue`; the queue stays usable from threads too.

    ``put`` runs in a worker thread only when the policy is ``always`` (it waits for the disk);
    otherwise a put is one ``write`` to the page cache and runs inline. ``get`` waits on an
    asyncio event that any thread's put wakes, so no thread is parked per waiting consumer.
    """

    def __init__(self, queue: PersistentQueue) -> None:
        self.queue = queue
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wakeup = asyncio.Event()
        self._interrupted = False
        queue.add_listener(self._on_change)

    def interrupt(self) -> None:
        """Make waiting and later :meth:`get` calls return ``None`` (the queue stays open)."""
        self._interrupted = True
        self._wakeup.set()

    def _on_change(self) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._wakeup.set()
        else:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._wakeup.set)

    async def put(
        self, record: bytes, *, items: int = 1, on_id: Callable[[int], None] | None = None
    ) -> int:
        """Append ``record``; see :meth:`PersistentQueue.put`."""
        self._loop = asyncio.get_running_loop()
        if self.queue.fsync is FsyncPolicy.ALWAYS:
            return await asyncio.to_thread(self.queue.put, record, items=items, on_id=on_id)
        return self.queue.put(record, items=items, on_id=on_id)

    async def get(self) -> tuple[int, bytes] | None:
        """The next record, waiting as long as needed; ``None`` once closed or interrupted."""
        self._loop = asyncio.get_running_loop()
        while not self._interrupted:
            self._wakeup.clear()
            got = self.queue.get(timeout=0)
            if got is not None:
                return got
            if self.queue.closed:
                return None
            await self._wakeup.wait()
        return None

    def ack(self, rid: int) -> None:
        self.queue.ack(rid)

    def nack(self, rid: int) -> None:
        self.queue.nack(rid)

    def __len__(self) -> int:
        return len(self.queue)

    async def close(self) -> None:
        await asyncio.to_thread(self.queue.close)
