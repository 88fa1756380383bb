"""The file_storage extension: config, opening queues, locking, recreate and compaction."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from otlpy.component import ComponentID, Kind, Settings
from otlpy.config.decode import decode
from otlpy.config.loader import expand
from otlpy.exporterhelper import FsyncPolicy, StorageError
from otlpy.exporterhelper.persistent_queue import QueueLockedError
from otlpy.extensions.file_storage import FileStorage, FileStorageConfig, factory
from otlpy.telemetry import SelfTelemetry

TESTDATA = Path(__file__).parent / "testdata"


def make(config: FileStorageConfig) -> FileStorage:
    settings = Settings(
        id=ComponentID("file_storage"),
        kind=Kind.EXTENSION,
        telemetry=SelfTelemetry(),
        logger=logging.getLogger("test.file_storage"),
    )
    ext = factory.create(settings, config)
    assert isinstance(ext, FileStorage)
    return ext


def load(name: str, **env: str) -> tuple[Any, list[str]]:
    data = yaml.safe_load((TESTDATA / name).read_text())
    data, expand_problems = expand(data, env)
    assert expand_problems == []
    config, problems = decode(FileStorageConfig, data)
    return config, [f"{p.path}: {p.message}" for p in problems]


def test_a_full_config_decodes(tmp_path: Path) -> None:
    config, problems = load("file_storage_good.yaml", QUEUE_DIR=str(tmp_path))
    assert problems == []
    assert config.directory == str(tmp_path)
    assert config.fsync_policy is FsyncPolicy.ALWAYS
    assert config.max_size == 64 << 20
    assert config.compaction.on_rebound and config.compaction.check_interval == 1.0


def test_every_bad_value_is_reported_with_its_path() -> None:
    _, problems = load("file_storage_bad.yaml")
    text = "\n".join(problems)
    for where in (
        "directory:",
        "timeout:",
        "fsync:",
        "fsync_interval:",
        "max_size:",
        "segment_size:",
        "directory_permissions:",
        "colour: unknown key",
        "compaction.check_interval:",
        "compaction.rebound_needed_threshold_mib:",
        "compaction.rebound_trigger_threshold_mib:",
    ):
        assert where in text, where


def test_fsync_accepts_the_collectors_booleans_and_policies() -> None:
    assert FileStorageConfig(fsync=False).fsync_policy is FsyncPolicy.NEVER
    assert FileStorageConfig().fsync_policy is FsyncPolicy.BATCH
    assert FileStorageConfig(fsync="never").fsync_policy is FsyncPolicy.NEVER


async def test_nothing_touches_the_disk_until_a_queue_is_opened(tmp_path: Path) -> None:
    ext = make(FileStorageConfig(directory=str(tmp_path / "q")))
    await ext.start(None)  # type: ignore[arg-type]
    await ext.shutdown()
    assert not (tmp_path / "q").exists()


async def test_open_queue_creates_the_directory_and_names_queues_safely(tmp_path: Path) -> None:
    ext = make(FileStorageConfig(directory=str(tmp_path / "a" / "b"), directory_permissions="0700"))
    queue = ext.open_queue("exporter_otlp_my/odd name", max_records=3)
    assert queue.directory == tmp_path / "a" / "b" / "exporter_otlp_my_odd_name"
    assert (tmp_path / "a" / "b").stat().st_mode & 0o777 == 0o700
    assert queue.max_records == 3
    queue.put(b"kept")
    with pytest.raises(QueueLockedError, match="already open"):
        ext.open_queue("exporter_otlp_my/odd name")
    await ext.shutdown()
    assert queue.closed


def test_a_missing_directory_without_create_directory_is_a_clear_error(tmp_path: Path) -> None:
    ext = make(FileStorageConfig(directory=str(tmp_path / "missing"), create_directory=False))
    with pytest.raises(StorageError, match="does not exist"):
        ext.open_queue("q")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    ext = make(FileStorageConfig(directory=str(blocker / "sub")))
    with pytest.raises(StorageError, match="cannot create"):
        ext.open_queue("q")


HOLDER = """
import sys, time
from otlpy.exporterhelper.persistent_queue import PersistentQueue
q = PersistentQueue.open(sys.argv[1])
print("held", flush=True)
time.sleep(float(sys.argv[2]))
"""


def hold(path: Path, seconds: float) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline() == "held\n"
    return proc


def test_waits_for_a_previous_process_to_let_go_within_the_timeout(tmp_path: Path) -> None:
    ext = make(FileStorageConfig(directory=str(tmp_path), timeout=10.0))
    proc = hold(tmp_path / "q", 0.3)
    started = time.monotonic()
    queue = ext.open_queue("q")
    assert time.monotonic() - started > 0.1  # it did wait
    queue.close()
    proc.wait()


def test_gives_up_when_the_queue_stays_held(tmp_path: Path) -> None:
    ext = make(FileStorageConfig(directory=str(tmp_path), timeout=0.2))
    proc = hold(tmp_path / "q", 30)
    try:
        with pytest.raises(QueueLockedError, match=f"held by process {proc.pid}"):
            ext.open_queue("q")
    finally:
        proc.kill()
        proc.wait()


async def test_recreate_puts_the_old_queue_aside(tmp_path: Path) -> None:
    first = make(FileStorageConfig(directory=str(tmp_path)))
    first.open_queue("q").put(b"old")
    await first.shutdown()
    second = make(FileStorageConfig(directory=str(tmp_path), recreate=True))
    queue = second.open_queue("q")
    assert len(queue) == 0
    await second.shutdown()
    backups = [p for p in os.listdir(tmp_path) if p.startswith("q.backup-")]
    assert len(backups) == 1


async def test_compaction_on_start_and_on_rebound(tmp_path: Path) -> None:
    config = FileStorageConfig(directory=str(tmp_path), segment_size=4096)
    ext = make(config)
    queue = ext.open_queue("q")
    for _ in range(40):
        queue.put(b"x" * 1000)
    pinned = queue.get(timeout=0)
    while (got := queue.get(timeout=0)) is not None:
        queue.ack(got[0])
    assert pinned is not None
    assert queue.bytes_used > 4096
    # not due: the thresholds are far above this queue's size
    assert await ext.compact_rebound() == 0
    await ext.shutdown()

    config2, problems = decode(
        FileStorageConfig,
        {
            "directory": str(tmp_path),
            "segment_size": 4096,
            "compaction": {
                "on_rebound": True,
                "rebound_needed_threshold_mib": 0,
                "rebound_trigger_threshold_mib": 1,
                "check_interval": "10ms",
            },
        },
    )
    assert problems == []
    ext2 = make(config2)
    await ext2.start(None)  # type: ignore[arg-type]
    queue2 = ext2.open_queue("q")
    before = queue2.bytes_used
    deadline = time.monotonic() + 10
    while queue2.bytes_used >= before and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    assert queue2.bytes_used < before
    assert len(queue2) == 1
    await ext2.shutdown()

    on_start, _ = decode(
        FileStorageConfig, {"directory": str(tmp_path), "compaction": {"on_start": True}}
    )
    ext3 = make(on_start)
    queue3 = ext3.open_queue("q")
    assert len(queue3) == 1
    await ext3.shutdown()
