"""The on-disk format of the persistent queue: frames, the ack log, the checkpoint, recovery.

Kept apart from the queue itself so that recovery and ``otlpy queue inspect`` read a directory
the same way, and so that the format can be read in one place. See
:mod:`otlpy.exporterhelper.persistent_queue` for the layout.
"""

from __future__ import annotations

import bisect
import mmap
import os
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

MAGIC = 0x4C51544F  # b"OTQL" little-endian: where a frame starts, used to resynchronise
MAGIC_BYTES = struct.pack("<I", MAGIC)
FRAME = struct.Struct("<IIIQI")  # magic, crc, length, id, items
HEADER_SIZE = FRAME.size
ACK = struct.Struct("<QI")  # id, crc32 of the id
STATE_MAGIC = b"OTQS"
STATE_VERSION = 1
STATE_HEAD = struct.Struct("<4sIQQI")  # magic, version, next_id, watermark, range count
RANGE = struct.Struct("<QQ")
CRC = struct.Struct("<I")
SEGMENT_SUFFIX = ".seg"
MAX_RECORD = 0xFFFF_FFFF
MAX_ID = 0xFFFF_FFFF_FFFF_FFFF


def frame_crc(fields: memoryview | bytes, payload: memoryview | bytes) -> int:
    # Payload first: put() computes that part outside the queue's lock.
    return zlib.crc32(fields, zlib.crc32(payload))


def encode_header(rid: int, items: int, length: int, payload_crc: int) -> bytes:
    fields = struct.pack("<IQI", length, rid, items)
    return MAGIC_BYTES + CRC.pack(zlib.crc32(fields, payload_crc)) + fields


def encode_frame(rid: int, items: int, record: bytes) -> bytes:
    """One frame holding ``record`` with id ``rid`` and weight ``items``."""
    return encode_header(rid, items, len(record), zlib.crc32(record)) + record


@dataclass(frozen=True, slots=True)
class Frame:
    offset: int
    id: int
    items: int
    length: int  # of the record, without the header


@dataclass(slots=True)
class SegmentScan:
    frames: list[Frame] = field(default_factory=list)
    corrupt: list[tuple[int, int]] = field(default_factory=list)  # (offset, length) skipped
    valid_end: int = 0
    size: int = 0

    @property
    def torn_tail(self) -> int:
        """Bytes after the last valid frame that form no valid frame (an interrupted write)."""
        if self.corrupt and self.corrupt[-1][0] + self.corrupt[-1][1] == self.size:
            return self.size - self.valid_end
        return 0


def scan_segment(path: Path) -> SegmentScan:
    """Every valid frame of a segment file, and the damaged regions between them."""
    result = SegmentScan()
    with path.open("rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        result.size = size
        if size == 0:
            return result
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm, memoryview(mm) as view:
            pos = 0
            while pos < size:
                if pos + HEADER_SIZE <= size:
                    magic, crc, length, rid, items = FRAME.unpack_from(view, pos)
                    end = pos + HEADER_SIZE + length
                    if (
                        magic == MAGIC
                        and end <= size
                        and frame_crc(
                            view[pos + 8 : pos + HEADER_SIZE], view[pos + HEADER_SIZE : end]
                        )
                        == crc
                    ):
                        result.frames.append(Frame(pos, rid, items, length))
                        pos = end
                        result.valid_end = end
                        continue
                # Damaged or torn: look for the next frame start and check it on the next turn.
                nxt = mm.find(MAGIC_BYTES, pos + 1)
                stop = size if nxt < 0 else nxt
                result.corrupt.append((pos, stop - pos))
                pos = stop
    return result


def read_acks(path: Path) -> tuple[set[int], int]:
    """Acked ids in the ack log, and the length of its valid prefix (a torn tail is ignored)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return set(), 0
    ids: set[int] = set()
    pos = 0
    while pos + ACK.size <= len(data):
        rid, crc = ACK.unpack_from(data, pos)
        if zlib.crc32(data[pos : pos + 8]) != crc:
            break
        ids.add(rid)
        pos += ACK.size
    return ids, pos


@dataclass(frozen=True, slots=True)
class State:
    next_id: int = 0
    watermark: int = 0  # every id below is acknowledged
    acked: tuple[tuple[int, int], ...] = ()  # sorted [start, end) ranges of acked ids >= watermark

    def is_acked(self, rid: int) -> bool:
        if rid < self.watermark:
            return True
        i = bisect.bisect_right(self.acked, (rid, MAX_ID)) - 1
        return i >= 0 and self.acked[i][0] <= rid < self.acked[i][1]

    def encode(self) -> bytes:
        body = STATE_HEAD.pack(
            STATE_MAGIC, STATE_VERSION, self.next_id, self.watermark, len(self.acked)
        ) + b"".join(RANGE.pack(a, b) for a, b in self.acked)
        return body + CRC.pack(zlib.crc32(body))

    @classmethod
    def decode(cls, data: bytes) -> State | None:
        if len(data) < STATE_HEAD.size + CRC.size:
            return None
        body, (crc,) = data[: -CRC.size], CRC.unpack(data[-CRC.size :])
        if zlib.crc32(body) != crc:
            return None
        magic, version, next_id, watermark, count = STATE_HEAD.unpack_from(body)
        if magic != STATE_MAGIC or version != STATE_VERSION:
            return None
        if len(body) != STATE_HEAD.size + count * RANGE.size:
            return None
        ranges = tuple(
            RANGE.unpack_from(body, STATE_HEAD.size + i * RANGE.size) for i in range(count)
        )
        return cls(next_id, watermark, ranges)


def read_state(path: Path) -> tuple[State, bool]:
    """The checkpoint, and whether one was found intact."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return State(), True
    state = State.decode(data)
    if state is None:
        return State(), False
    return state, True


def segment_paths(directory: Path) -> list[tuple[int, Path]]:
    found = []
    for path in directory.iterdir():
        if path.suffix == SEGMENT_SUFFIX and path.stem.isdigit():
            found.append((int(path.stem), path))
    found.sort()
    return found


@dataclass(frozen=True, slots=True)
class SegmentReport:
    """What one segment file holds."""

    name: str
    size: int
    records: int
    live: int
    corrupt_bytes: int
    torn_tail: int


@dataclass(frozen=True, slots=True)
class ScanReport:
    """What a queue directory holds, read without changing anything."""

    directory: str
    segments: tuple[SegmentReport, ...]
    live_records: int
    live_items: int
    live_bytes: int
    acked_records: int
    duplicate_records: int
    next_id: int
    state_ok: bool
    disk_bytes: int
    first_live_id: int | None
    last_live_id: int | None


@dataclass(slots=True)
class Recovered:
    state: State
    state_ok: bool
    ack_ids: set[int]
    ack_valid: int
    segments: list[tuple[int, Path, SegmentScan]]
    live: dict[int, tuple[int, Frame]]  # id -> (index into segments, frame)
    acked_records: int
    duplicates: int
    next_id: int


def recover(directory: Path) -> Recovered:
    state, state_ok = read_state(directory / "state")
    ack_ids, ack_valid = read_acks(directory / "acks")
    segments: list[tuple[int, Path, SegmentScan]] = []
    live: dict[int, tuple[int, Frame]] = {}
    acked = duplicates = 0
    next_id = state.next_id
    if ack_ids:
        next_id = max(next_id, max(ack_ids) + 1)
    for first_id, path in segment_paths(directory):
        try:
            scanned = scan_segment(path)
        except FileNotFoundError:
            continue  # deleted meanwhile by the process that has the queue open
        index = len(segments)
        segments.append((first_id, path, scanned))
        next_id = max(next_id, first_id)
        for frame in scanned.frames:
            next_id = max(next_id, frame.id + 1)
            if frame.id in live:
                duplicates += 1  # a record copied by compaction before its old segment was removed
            elif state.is_acked(frame.id) or frame.id in ack_ids:
                acked += 1
            else:
                live[frame.id] = (index, frame)
    return Recovered(
        state, state_ok, ack_ids, ack_valid, segments, live, acked, duplicates, next_id
    )


def scan(directory: str | os.PathLike[str]) -> ScanReport:
    """Report what the queue in ``directory`` holds, without locking or changing it."""
    path = Path(directory)
    if not path.is_dir():
        raise FileNotFoundError(f"no queue directory at {path}")
    rec = recover(path)
    live_per_segment = [0] * len(rec.segments)
    for index, _frame in rec.live.values():
        live_per_segment[index] += 1
    segments = tuple(
        SegmentReport(
            name=p.name,
            size=s.size,
            records=len(s.frames),
            live=live_per_segment[i],
            corrupt_bytes=sum(n for _, n in s.corrupt),
            torn_tail=s.torn_tail,
        )
        for i, (_, p, s) in enumerate(rec.segments)
    )
    live_ids = sorted(rec.live)
    return ScanReport(
        directory=str(path),
        segments=segments,
        live_records=len(rec.live),
        live_items=sum(f.items for _, f in rec.live.values()),
        live_bytes=sum(f.length for _, f in rec.live.values()),
        acked_records=rec.acked_records,
        duplicate_records=rec.duplicates,
        next_id=rec.next_id,
        state_ok=rec.state_ok,
        disk_bytes=sum(s.size for _, _, s in rec.segments),
        first_live_id=live_ids[0] if live_ids else None,
        last_live_id=live_ids[-1] if live_ids else None,
    )


def iter_records(
    directory: str | os.PathLike[str], *, live_only: bool = True
) -> Iterator[tuple[int, int, bytes]]:
    """Yield ``(id, items, record)`` for the records in ``directory``, in id order, read-only."""
    rec = recover(Path(directory))
    if live_only:
        chosen = sorted(rec.live.items())
    else:
        chosen = sorted(
            (f.id, (i, f)) for i, (_, _, s) in enumerate(rec.segments) for f in s.frames
        )
    for rid, (index, frame) in chosen:
        path = rec.segments[index][1]
        with path.open("rb") as fh:
            fh.seek(frame.offset + HEADER_SIZE)
            yield rid, frame.items, fh.read(frame.length)


def encode_ack(rid: int) -> bytes:
    """One ack-log entry for record ``rid``."""
    packed = struct.pack("<Q", rid)
    return packed + CRC.pack(zlib.crc32(packed))
