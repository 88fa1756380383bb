"""Crash safety: a writer killed with SIGKILL loses at most its unflushed batch."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from otlpy.store import Store

# Writes batches of BATCH spans, flushing each and saying so; runs retention now and then so
# that kills also land in deletes and checkpoints.
WRITER = """
import sys
from datetime import timedelta
from pathlib import Path
sys.path.insert(0, sys.argv[2])
from store_builders import NOW, SECOND, make_span, trace_request
from otlpy.pdata import Signal
from otlpy.store import RetentionPolicy, Store

BATCH = int(sys.argv[3])
store = Store.open(Path(sys.argv[1]), retention=RetentionPolicy(max_age=timedelta(days=3650)))
n = 0
while True:
    spans = [make_span(n, i, start=NOW + n * SECOND + i) for i in range(BATCH)]
    store.write(Signal.TRACES, trace_request(f"svc{n % 3}", spans))
    store.flush()
    n += 1
    print(n, flush=True)
    if n % 7 == 0:
        store.enforce_retention(now_ns=NOW)
"""


@pytest.mark.parametrize(
    ("batch", "kill_after", "delay"),
    [(500, 3, 0.0), (500, 11, 0.0), (500, 40, 0.0), (20_000, 2, 0.05), (20_000, 2, 0.2)],
)
def test_sigkill_loses_at_most_the_unflushed_batch(
    tmp_path: Path, batch: int, kill_after: int, delay: float
) -> None:
    """Big batches take DuckDB's path that writes them into the database file before the
    commit; the delays aim the kill into such a flush."""
    tests_dir = Path(__file__).resolve().parents[1]
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(tmp_path), str(tests_dir), str(batch)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert writer.stdout is not None
    flushed = 0
    try:
        while flushed < kill_after:
            line = writer.stdout.readline()
            assert line, "the writer died on its own"
            flushed = int(line)
        time.sleep(delay)
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=30)
    with Store.open(tmp_path) as store:
        spans, traces = store.query("SELECT count(*), count(DISTINCT trace_id) FROM spans")[0]
        # every flush that returned is there, whole; one more may have committed meanwhile
        assert spans % batch == 0
        assert flushed <= traces <= flushed + 1
        assert spans == traces * batch
        resources = store.query("SELECT count(*) FROM resources")[0][0]
        assert resources == min(traces, 3)
        found = store.query("SELECT count(*) FROM spans WHERE trace_id = ?", [(0).to_bytes(16)])
        assert found == [(batch,)]  # the index survived the crash
