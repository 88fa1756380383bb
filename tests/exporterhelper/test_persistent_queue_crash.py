"""kill -9 at any moment loses no record that put() returned for, and corrupts nothing.

A child process appends numbered records (announcing each after put() returns), while a
consumer thread takes, sometimes hands back, and acknowledges them (announcing each before the
ack), and compaction runs now and then. The parent SIGKILLs it at a random moment, checks on disk
that every announced-and-not-consumed record is there intact, and starts it again on the same
directory; after the last round it drains the queue.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from otlpy.exporterhelper.persistent_queue import PersistentQueue, iter_records

CHILD = r"""
import random, sys, threading, time
from otlpy.exporterhelper.persistent_queue import PersistentQueue

directory, policy, start = sys.argv[1], sys.argv[2], int(sys.argv[3])
q = PersistentQueue.open(directory, fsync=policy, segment_bytes=64 << 10, max_bytes=64 << 20,
                         fsync_interval=0.005)
out_lock = threading.Lock()

def say(line):
    with out_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

def payload(seq):
    body = random.Random(seq).randbytes(50 + seq % 2000)
    return seq.to_bytes(8, "big") + body

def consume():
    rnd = random.Random(start)
    while True:
        got = q.get(timeout=1)
        if got is None:
            continue
        rid, data = got
        seq = int.from_bytes(data[:8], "big")
        if data != payload(seq):
            say(f"BAD {seq}")
            continue
        if rnd.random() < 0.1:
            q.nack(rid)
            continue
        if rnd.random() < 0.05:
            continue  # held for ever: pins its segment until the next run
        say(f"A {seq}")
        q.ack(rid)
        if rnd.random() < 0.02:
            q.compact()

say("READY")
threading.Thread(target=consume, daemon=True).start()
seq = start
while True:
    q.put(payload(seq), items=seq % 7)
    say(f"P {seq}")
    seq += 1
    if seq % 64 == 0:
        time.sleep(0.001)  # let the consumer keep up now and then
"""


def payload(seq: int) -> bytes:
    body = random.Random(seq).randbytes(50 + seq % 2000)
    return seq.to_bytes(8, "big") + body


def run_round(
    directory: Path, policy: str, start: int, kill_after: float
) -> tuple[set[int], set[int]]:
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(directory), policy, str(start)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout))  # type: ignore[arg-type]
    reader.start()
    deadline = time.monotonic() + 30
    while "READY\n" not in lines[:1] and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.01)
    if lines[:1] != ["READY\n"]:
        proc.kill()
        _, err = proc.communicate(timeout=30)
        pytest.fail(f"the child did not start: {lines[:3]} {err}")
    # Let it get going (a loaded machine may be slow to), then kill it at a random moment.
    while sum(line.startswith("P") for line in lines[-50:]) < 20 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(kill_after)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    reader.join(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    put: set[int] = set()
    acked: set[int] = set()
    for line in lines[1:]:
        if not line.endswith("\n"):
            continue  # cut by the kill
        kind, _, num = line.strip().partition(" ")
        assert kind != "BAD", f"record {num} came out damaged"
        (put if kind == "P" else acked).add(int(num))
    return put, acked


@pytest.mark.parametrize("policy", ["batch", "never", "always"])
def test_kill_9_loses_no_acknowledged_record(tmp_path: Path, policy: str) -> None:
    rnd = random.Random(policy)
    outstanding: set[int] = set()
    total_put = 0
    for round_no in range(4):
        put, acked = run_round(tmp_path, policy, round_no * 1_000_000, rnd.uniform(0.05, 0.4))
        assert put, "the child made no progress"
        total_put += len(put)
        outstanding = (outstanding | put) - acked
        on_disk = {}
        for _rid, items, data in iter_records(tmp_path):
            seq = int.from_bytes(data[:8], "big")
            assert data == payload(seq), f"record {seq} is damaged on disk"
            assert items == seq % 7
            on_disk[seq] = data
        lost = outstanding - on_disk.keys()
        assert not lost, f"round {round_no}: {len(lost)} acknowledged records lost"
    with PersistentQueue.open(tmp_path) as q:
        drained = set()
        while (got := q.get(timeout=0)) is not None:
            drained.add(int.from_bytes(got[1][:8], "big"))
            q.ack(got[0])
        assert outstanding <= drained
        assert q.corrupt_records == 0
    assert total_put > 100
