"""A full or read-only disk gives a clear, retryable error and damages nothing.

These tests mount a small tmpfs (a real file system that really fills up); they are skipped
where mounting is not permitted.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from otlpy.exporterhelper.persistent_queue import PersistentQueue, scan
from otlpy.exporterhelper.queue import StorageError


def _mount(path: Path, options: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
        capture_output=True,
        check=False,
    )
    return done.returncode == 0


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mnt = tmp_path / "disk"
    if not _mount(mnt, "size=256k"):
        pytest.skip("mounting a tmpfs is not permitted here")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_a_full_disk_is_a_clear_retryable_error_and_loses_nothing(small_disk: Path) -> None:
    q = PersistentQueue.open(small_disk / "q", max_bytes=10 << 20, segment_bytes=64 << 10)
    record = b"r" * 10_000
    stored = 0
    with pytest.raises(StorageError, match="disk is full") as info:
        for _ in range(1000):
            q.put(record)
            stored += 1
    assert str(small_disk) in str(info.value)
    assert 0 < stored < 1000
    assert len(q) == stored
    # what was stored is intact and readable; taking some out makes room again
    for _ in range(5):
        got = q.get(timeout=0)
        assert got is not None and got[1] == record
        q.ack(got[0])
    q.close()
    report = scan(small_disk / "q")
    assert report.live_records == stored - 5
    assert all(s.corrupt_bytes == 0 and s.torn_tail == 0 for s in report.segments)
    with PersistentQueue.open(small_disk / "q") as q2:
        assert len(q2) == stored - 5


def test_a_read_only_disk_is_a_clear_error_at_open(tmp_path: Path) -> None:
    mnt = tmp_path / "ro"
    if not _mount(mnt, "size=64k,ro"):
        pytest.skip("mounting a tmpfs is not permitted here")
    try:
        with pytest.raises(StorageError, match="read-only"):
            PersistentQueue.open(mnt / "q")
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_a_missing_parent_that_cannot_be_created_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StorageError, match="persistent queue cannot open"):
        PersistentQueue.open(blocker / "q")
