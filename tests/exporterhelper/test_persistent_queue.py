"""The persistent queue: ordering, acknowledgement, bounds, recovery, damage and compaction."""

from __future__ import annotations

import asyncio
import logging
import threading
from pathlib import Path

import pytest

from otlpy.exporterhelper._wal import HEADER_SIZE, encode_frame
from otlpy.exporterhelper.persistent_queue import (
    AsyncPersistentQueue,
    FsyncPolicy,
    PersistentQueue,
    QueueLockedError,
    iter_records,
    scan,
)
from otlpy.exporterhelper.queue import QueueClosedError, QueueFullError, RecordTooLargeError


def drain(q: PersistentQueue) -> list[bytes]:
    out = []
    while (got := q.get(timeout=0)) is not None:
        out.append(got[1])
        q.ack(got[0])
    return out


def segments(d: Path) -> list[Path]:
    return sorted(d.glob("*.seg"))


def test_records_come_out_in_order_with_their_weights(tmp_path: Path) -> None:
    with PersistentQueue.open(tmp_path) as q:
        ids = [q.put(f"r{i}".encode(), items=i) for i in range(5)]
        assert ids == sorted(ids)
        assert len(q) == 5
        assert q.items == 0 + 1 + 2 + 3 + 4
        assert q.payload_bytes == 10
        assert q.bytes_used == 5 * HEADER_SIZE + 10
        got = q.get(timeout=0)
        assert got == (ids[0], b"r0")
        assert q.in_flight == 1
        assert len(q) == 5  # handed out is still held until acknowledged
        q.ack(ids[0])
        q.ack(ids[0])  # twice is harmless
        q.ack(12345)  # unknown is harmless
        assert len(q) == 4
        assert q.items == 10
        assert drain(q) == [b"r1", b"r2", b"r3", b"r4"]
        assert len(q) == 0
        assert q.get(timeout=0) is None


def test_nack_hands_the_record_out_again_first(tmp_path: Path) -> None:
    with PersistentQueue.open(tmp_path) as q:
        for i in range(3):
            q.put(bytes([i]))
        first = q.get(timeout=0)
        second = q.get(timeout=0)
        assert first is not None and second is not None
        q.nack(second[0])
        q.nack(second[0])  # no longer in flight: ignored
        q.nack(first[0])
        assert [q.get(timeout=0) for _ in range(3)] == [first, second, (second[0] + 1, b"\x02")]


def test_unacknowledged_records_survive_a_restart(tmp_path: Path) -> None:
    q = PersistentQueue.open(tmp_path)
    for i in range(10):
        q.put(f"{i}".encode(), items=2)
    taken = [q.get(timeout=0) for _ in range(4)]
    assert all(t is not None for t in taken)
    q.ack(taken[0][0])  # type: ignore[index]
    q.ack(taken[2][0])  # type: ignore[index]
    q.close()
    with PersistentQueue.open(tmp_path) as q2:
        assert q2.recovered == 8
        assert q2.items == 16
        # in-flight-but-unacknowledged records come back, in id order
        assert drain(q2) == [b"1", b"3", b"4", b"5", b"6", b"7", b"8", b"9"]


def test_ids_are_never_reused_after_everything_was_acknowledged(tmp_path: Path) -> None:
    with PersistentQueue.open(tmp_path, segment_bytes=64, max_bytes=1 << 20) as q:
        last = max(q.put(b"x" * 50) for _ in range(20))
        drain(q)
    assert segments(tmp_path) == []
    with PersistentQueue.open(tmp_path) as q:
        assert q.put(b"new") > last
    with PersistentQueue.open(tmp_path) as q:
        # the new record is not mistaken for an acknowledged old one
        assert drain(q) == [b"new"]


def test_acknowledged_segments_are_deleted(tmp_path: Path) -> None:
    with PersistentQueue.open(tmp_path, segment_bytes=200, max_bytes=1 << 20) as q:
        for _ in range(20):
            q.put(b"y" * 100)
        assert len(segments(tmp_path)) == 20
        drain(q)
        # only the segment being written is left
        assert len(segments(tmp_path)) == 1
        assert q.bytes_used == 100 + HEADER_SIZE


@pytest.mark.parametrize(
    ("options", "record", "items", "message"),
    [
        ({"max_records": 2}, b"a", 1, "2 of 2 requests"),
        ({"max_items": 10}, b"a", 5, "10 of 10 items"),
        ({"max_payload_bytes": 8}, b"abcd", 1, "8 of 8 bytes"),
        ({"max_bytes": 2 * (HEADER_SIZE + 4)}, b"abcd", 1, "bytes on disk"),
    ],
)
def test_bounds_refuse_with_a_retryable_error(
    tmp_path: Path, options: dict[str, int], record: bytes, items: int, message: str
) -> None:
    with PersistentQueue.open(tmp_path, **options) as q:  # type: ignore[arg-type]
        q.put(record, items=items)
        q.put(record, items=items)
        with pytest.raises(QueueFullError, match=message):
            q.put(record, items=items)
        assert len(q) == 2
        got = q.get(timeout=0)
        assert got is not None
        q.ack(got[0])
        q.put(record, items=items)  # room again
        assert len(q) == 2


@pytest.mark.parametrize(
    ("options", "record", "items"),
    [
        ({"max_bytes": 100}, b"x" * 100, 1),
        ({"max_items": 10}, b"x", 11),
        ({"max_payload_bytes": 10}, b"x" * 11, 1),
    ],
)
def test_a_record_that_can_never_fit_is_a_permanent_error(
    tmp_path: Path, options: dict[str, int], record: bytes, items: int
) -> None:
    with PersistentQueue.open(tmp_path, **options) as q:  # type: ignore[arg-type]
        with pytest.raises(RecordTooLargeError):
            q.put(record, items=items)
        with pytest.raises(ValueError, match="32 bits"):
            q.put(b"", items=-1)


def test_bad_options_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="max_bytes"):
        PersistentQueue.open(tmp_path, max_bytes=0)
    with pytest.raises(ValueError, match="segment_bytes"):
        PersistentQueue.open(tmp_path, segment_bytes=10)
    with pytest.raises(ValueError, match="always"):
        PersistentQueue.open(tmp_path, fsync="sometimes")


def test_a_second_open_of_the_same_directory_is_refused(tmp_path: Path) -> None:
    with PersistentQueue.open(tmp_path), pytest.raises(QueueLockedError, match="already open"):
        PersistentQueue.open(tmp_path)
    PersistentQueue.open(tmp_path).close()  # released on close


def test_after_close_puts_fail_and_acks_are_ignored(tmp_path: Path) -> None:
    q = PersistentQueue.open(tmp_path)
    rid = q.put(b"kept")
    assert q.get(timeout=0) == (rid, b"kept")
    q.close()
    q.close()
    assert q.closed
    q.ack(rid)
    q.nack(rid)
    assert q.get(timeout=0) is None
    with pytest.raises(QueueClosedError):
        q.put(b"late")
    assert q.compact() == 0
    with PersistentQueue.open(tmp_path) as q2:
        assert drain(q2) == [b"kept"]


def test_get_waits_for_a_put_from_another_thread(tmp_path: Path) -> None:
    with PersistentQueue.open(tmp_path) as q:
        assert q.get(timeout=0.01) is None
        timer = threading.Timer(0.05, q.put, args=(b"late",))
        timer.start()
        got = q.get(timeout=10)
        timer.join()
        assert got is not None and got[1] == b"late"


def test_close_wakes_a_waiting_get(tmp_path: Path) -> None:
    q = PersistentQueue.open(tmp_path)
    result: list[object] = []
    waiter = threading.Thread(target=lambda: result.append(q.get()))
    waiter.start()
    q.close()
    waiter.join(timeout=10)
    assert result == [None]


@pytest.mark.parametrize("policy", list(FsyncPolicy))
def test_every_fsync_policy_keeps_the_records(tmp_path: Path, policy: FsyncPolicy) -> None:
    q = PersistentQueue.open(tmp_path, fsync=policy, fsync_interval=0.01, segment_bytes=256)
    for i in range(30):
        q.put(b"%03d" % i * 20)
    q.flush()
    q.close()
    with PersistentQueue.open(tmp_path, fsync=policy) as q2:
        assert drain(q2) == [b"%03d" % i * 20 for i in range(30)]


def test_batch_policy_syncs_in_the_background(tmp_path: Path) -> None:
    with PersistentQueue.open(tmp_path, fsync="batch", fsync_interval=0.01) as q:
        q.put(b"x")
        for _ in range(1000):
            if q._synced >= q._written:
                break
            threading.Event().wait(0.01)
        assert q._synced == q._written


def test_a_torn_tail_is_cut_and_the_rest_kept(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with PersistentQueue.open(tmp_path) as q:
        for i in range(3):
            q.put(b"rec%d" % i)
        seg = segments(tmp_path)[-1]
    whole = seg.stat().st_size
    torn = encode_frame(99, 1, b"never finished")[:-5]
    with seg.open("ab") as fh:
        fh.write(torn)
    report = scan(tmp_path)
    assert report.segments[-1].torn_tail == len(torn)
    assert report.live_records == 3
    with caplog.at_level(logging.WARNING), PersistentQueue.open(tmp_path) as q:
        assert "interrupted write" in caplog.text
        assert seg.stat().st_size == whole
        assert q.corrupt_bytes == 0
        assert drain(q) == [b"rec0", b"rec1", b"rec2"]


def test_damage_inside_a_segment_loses_only_the_damaged_record(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with PersistentQueue.open(tmp_path, segment_bytes=1 << 20) as q:
        for i in range(3):
            q.put(bytes([65 + i]) * 100)
    seg = segments(tmp_path)[0]
    data = bytearray(seg.read_bytes())
    data[HEADER_SIZE + 100 + HEADER_SIZE + 50] ^= 0xFF  # inside the second record
    seg.write_bytes(bytes(data))
    report = scan(tmp_path)
    assert report.segments[0].corrupt_bytes == HEADER_SIZE + 100
    assert report.live_records == 2
    with caplog.at_level(logging.ERROR), PersistentQueue.open(tmp_path) as q:
        assert q.corrupt_bytes == HEADER_SIZE + 100
        assert "damaged bytes" in caplog.text
        assert drain(q) == [b"A" * 100, b"C" * 100]


def test_damage_found_when_reading_drops_the_record_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with PersistentQueue.open(tmp_path) as q:
        q.put(b"good one")
        q.put(b"bad one!")
        q.put(b"good two")
        seg = segments(tmp_path)[0]
        with seg.open("r+b") as fh:
            fh.seek(2 * HEADER_SIZE + 8 + 2)
            fh.write(b"X")
        with caplog.at_level(logging.ERROR):
            assert drain(q) == [b"good one", b"good two"]
        assert q.corrupt_records == 1
        assert "damaged on disk" in caplog.text
        assert len(q) == 0


def test_a_damaged_checkpoint_costs_duplicates_not_losses(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with PersistentQueue.open(tmp_path, segment_bytes=1 << 20) as q:
        for i in range(4):
            q.put(b"%d" % i)
        for _ in range(2):
            got = q.get(timeout=0)
            assert got is not None
            q.ack(got[0])
    (tmp_path / "state").write_bytes(b"garbage that is not a checkpoint")
    assert not scan(tmp_path).state_ok
    with caplog.at_level(logging.WARNING), PersistentQueue.open(tmp_path) as q:
        assert "checkpoint damaged" in caplog.text
        out = drain(q)
    assert {b"2", b"3"} <= set(out)


def test_the_ack_log_is_folded_into_the_checkpoint(tmp_path: Path) -> None:
    with PersistentQueue.open(tmp_path, ack_log_limit=120, segment_bytes=1 << 20) as q:
        for i in range(40):
            q.put(b"%d" % i)
        for _ in range(30):
            got = q.get(timeout=0)
            assert got is not None
            q.ack(got[0])
        assert (tmp_path / "acks").stat().st_size <= 120 + 12
    with PersistentQueue.open(tmp_path) as q:
        assert drain(q) == [b"%d" % i for i in range(30, 40)]


def test_a_torn_ack_log_tail_is_ignored(tmp_path: Path) -> None:
    q = PersistentQueue.open(tmp_path, segment_bytes=1 << 20)
    for i in range(3):
        q.put(b"%d" % i)
    got = q.get(timeout=0)
    assert got is not None
    q.ack(got[0])
    # simulate a crash: the ack log is all there is (no close, so no checkpoint)
    acks = (tmp_path / "acks").read_bytes()
    q.close()
    (tmp_path / "state").unlink()
    (tmp_path / "acks").write_bytes(acks + b"\x01\x02\x03")
    with PersistentQueue.open(tmp_path) as q2:
        assert drain(q2) == [b"1", b"2"]


def test_compaction_moves_live_records_out_of_mostly_acked_segments(tmp_path: Path) -> None:
    q = PersistentQueue.open(tmp_path, segment_bytes=1000, max_bytes=1 << 20)
    ids = [q.put(b"%04d" % i * 25, items=i) for i in range(40)]  # 100-byte records
    taken = {}
    while (got := q.get(timeout=0)) is not None:
        taken[got[0]] = got[1]
    pinned = ids[0]  # one slow record pins the first segment
    for rid in ids[1:]:
        q.ack(rid)
    used = q.bytes_used
    freed = q.compact()
    assert freed > 0
    assert q.bytes_used == used - freed
    assert str(segments(tmp_path)[0].name) != f"{0:020d}.seg"
    q.nack(pinned)
    got = q.get(timeout=0)
    assert got == (pinned, taken[pinned])
    q.close()
    with PersistentQueue.open(tmp_path) as q2:
        assert q2.recovered == 1
        assert q2.items == 0
        assert q2.get(timeout=0) == (pinned, taken[pinned])


def test_a_full_queue_compacts_before_refusing(tmp_path: Path) -> None:
    record = b"z" * 76  # 100 bytes with the header
    q = PersistentQueue.open(tmp_path, max_bytes=2000, segment_bytes=500)
    first = q.put(record)
    for _ in range(18):
        q.put(record)
    while (got := q.get(timeout=0)) is not None:
        if got[0] != first:
            q.ack(got[0])
    # only `first` is live; it pins its segment, the rest are acknowledged
    for _ in range(15):
        q.put(record)
    assert q.bytes_used <= 2000
    assert len(q) == 16
    q.close()
    with PersistentQueue.open(tmp_path, max_bytes=2000) as q2:
        assert len(q2) == 16


def test_compact_on_open(tmp_path: Path) -> None:
    q = PersistentQueue.open(tmp_path, segment_bytes=1000, max_bytes=1 << 20)
    for _ in range(30):
        q.put(b"p" * 76)
    q.get(timeout=0)
    while (got := q.get(timeout=0)) is not None:
        q.ack(got[0])
    q.close()
    before = sum(p.stat().st_size for p in segments(tmp_path))
    with PersistentQueue.open(tmp_path, compact_on_open=True) as q2:
        assert q2.bytes_used < before
        assert len(q2) == 1


def test_a_record_copied_twice_is_delivered_once(tmp_path: Path) -> None:
    with PersistentQueue.open(tmp_path) as q:
        rid = q.put(b"moved")
    # as if compaction copied it and the process died before deleting the original
    (tmp_path / f"{rid + 100:020d}.seg").write_bytes(encode_frame(rid, 1, b"moved"))
    assert scan(tmp_path).duplicate_records == 1
    with PersistentQueue.open(tmp_path) as q:
        assert drain(q) == [b"moved"]


def test_scan_and_iter_records_read_without_changing_anything(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        scan(tmp_path / "missing")
    with PersistentQueue.open(tmp_path) as q:
        for i in range(3):
            q.put(b"%d" % i, items=i + 1)
        got = q.get(timeout=0)
        assert got is not None
        q.ack(got[0])
        report = scan(tmp_path)  # while open
        assert report.live_records == 2
        assert report.live_items == 5
        assert report.acked_records == 1
        assert report.first_live_id == got[0] + 1
        assert [r for _, _, r in iter_records(tmp_path)] == [b"1", b"2"]
        assert [r for _, _, r in iter_records(tmp_path, live_only=False)] == [b"0", b"1", b"2"]


async def test_async_face_wakes_on_puts_from_threads(tmp_path: Path) -> None:
    q = PersistentQueue.open(tmp_path)
    aq = AsyncPersistentQueue(q)
    waiter = asyncio.create_task(aq.get())
    await asyncio.sleep(0.01)
    assert not waiter.done()
    await asyncio.to_thread(q.put, b"from a thread")
    got = await asyncio.wait_for(waiter, 10)
    assert got is not None and got[1] == b"from a thread"
    aq.ack(got[0])
    await aq.put(b"inline", items=3)
    assert len(aq) == 1
    got = await aq.get()
    assert got is not None
    aq.nack(got[0])
    assert await aq.get() == got
    closing = asyncio.create_task(aq.get())
    await asyncio.sleep(0.01)
    await aq.close()
    assert await asyncio.wait_for(closing, 10) is None


async def test_async_put_with_fsync_always_runs_off_the_loop(tmp_path: Path) -> None:
    aq = AsyncPersistentQueue(PersistentQueue.open(tmp_path, fsync="always"))
    ids = await asyncio.gather(*(aq.put(b"%d" % i) for i in range(20)))
    assert sorted(ids) == list(range(20))
    await aq.close()
