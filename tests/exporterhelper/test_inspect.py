"""``otlpy queue inspect``: reports a queue (or a file_storage directory) without changing it."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from builders import batch
from otlpy.cli import dispatch
from otlpy.exporterhelper._wal import HEADER_SIZE
from otlpy.exporterhelper.inspect import find_queues, run
from otlpy.exporterhelper.persistent_batch_queue import encode_record
from otlpy.exporterhelper.persistent_queue import PersistentQueue
from otlpy.pdata import Signal


def fill(directory: Path) -> None:
    with PersistentQueue.open(directory) as q:
        q.put(encode_record(batch(Signal.TRACES, 3)), items=3)
        q.put(encode_record(batch(Signal.LOGS, 2)), items=2)
        q.put(b"\x09not a batch", items=1)
        got = q.get(timeout=0)
        assert got is not None
        q.ack(got[0])


def test_text_report_of_one_queue(tmp_path: Path) -> None:
    fill(tmp_path / "q")
    out = io.StringIO()
    assert run(["inspect", str(tmp_path / "q"), "--records", "5"], out) == 0
    text = out.getvalue()
    assert f"queue {tmp_path / 'q'}" in text
    assert "waiting: 2 records, 3 items" in text
    assert "ids: 1 .. 2" in text
    assert "record 1: logs, 2 items" in text
    assert "record 2: unreadable" in text


def test_json_report_of_a_file_storage_directory(tmp_path: Path) -> None:
    fill(tmp_path / "exporter_otlp")
    fill(tmp_path / "exporter_otlphttp_b")
    (tmp_path / "unrelated").mkdir()
    assert find_queues(tmp_path) == [tmp_path / "exporter_otlp", tmp_path / "exporter_otlphttp_b"]
    out = io.StringIO()
    assert run(["inspect", str(tmp_path), "--json", "--records", "1"], out) == 0
    reports = json.loads(out.getvalue())
    assert [r["live_records"] for r in reports] == [2, 2]
    assert reports[0]["records"] == [
        {"id": 1, "items": 2, "bytes": reports[0]["records"][0]["bytes"], "signal": "logs"}
    ]


def test_damage_is_reported_with_exit_status_1(tmp_path: Path) -> None:
    fill(tmp_path / "q")
    seg = sorted((tmp_path / "q").glob("*.seg"))[0]
    data = bytearray(seg.read_bytes())
    data[HEADER_SIZE + 10] ^= 0xFF
    seg.write_bytes(bytes(data))
    with (seg.parent / "state").open("ab") as fh:
        fh.write(b"junk")
    out = io.StringIO()
    assert run(["inspect", str(tmp_path / "q")], out) == 1
    assert "damaged bytes" in out.getvalue()
    assert "checkpoint damaged" in out.getvalue()


def test_usage_errors_exit_with_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["inspect", str(tmp_path / "missing")]) == 2
    assert run(["inspect", str(tmp_path)]) == 2  # a directory with no queue
    assert "no persistent queue" in capsys.readouterr().err
    assert run([]) == 2
    assert run(["--help"]) == 0


def test_reachable_from_the_otlpy_command(tmp_path: Path) -> None:
    fill(tmp_path / "q")
    assert dispatch(["queue", "inspect", str(tmp_path / "q")]) == 0
    done = subprocess.run(
        [sys.executable, "-m", "otlpy", "queue", "inspect", str(tmp_path / "q")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "waiting: 2 records" in done.stdout
