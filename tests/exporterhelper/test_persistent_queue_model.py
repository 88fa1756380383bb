"""The persistent queue behaves like a simple in-memory model, across reopen and compaction."""

from __future__ import annotations

import shutil
import tempfile
from collections import deque

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from otlpy.exporterhelper._wal import HEADER_SIZE
from otlpy.exporterhelper.persistent_queue import PersistentQueue, scan
from otlpy.exporterhelper.queue import QueueFullError

MAX_BYTES = 4000
SEGMENT = 600


class QueueModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = tempfile.mkdtemp(prefix="otlpy-pq-model-")
        self.q = self._open()
        self.records: dict[int, tuple[bytes, int]] = {}
        self.ready: deque[int] = deque()
        self.in_flight: set[int] = set()

    def _open(self) -> PersistentQueue:
        return PersistentQueue.open(
            self.dir, max_bytes=MAX_BYTES, segment_bytes=SEGMENT, fsync="never"
        )

    def _live_frames(self) -> int:
        return sum(HEADER_SIZE + len(data) for data, _ in self.records.values())

    @rule(data=st.binary(max_size=300), items=st.integers(0, 50))
    def put(self, data: bytes, items: int) -> None:
        try:
            rid = self.q.put(data, items=items)
        except QueueFullError:
            # Full only when the live records really leave no room (dead space is reclaimed).
            assert self._live_frames() + HEADER_SIZE + len(data) > MAX_BYTES - SEGMENT
            return
        assert rid not in self.records
        assert all(rid > other for other in self.records)
        self.records[rid] = (data, items)
        self.ready.append(rid)

    @rule()
    def get(self) -> None:
        got = self.q.get(timeout=0)
        if not self.ready:
            assert got is None
            return
        expected = self.ready.popleft()
        assert got == (expected, self.records[expected][0])
        self.in_flight.add(expected)

    @precondition(lambda self: self.in_flight)
    @rule(pick=st.randoms(use_true_random=False))
    def ack(self, pick: object) -> None:
        rid = pick.choice(sorted(self.in_flight))  # type: ignore[attr-defined]
        self.q.ack(rid)
        self.in_flight.discard(rid)
        del self.records[rid]

    @precondition(lambda self: self.in_flight)
    @rule(pick=st.randoms(use_true_random=False))
    def nack(self, pick: object) -> None:
        rid = pick.choice(sorted(self.in_flight))  # type: ignore[attr-defined]
        self.q.nack(rid)
        self.in_flight.discard(rid)
        self.ready.appendleft(rid)

    @rule()
    def compact(self) -> None:
        self.q.compact()

    @rule()
    def reopen(self) -> None:
        self.q.close()
        self.q = self._open()
        self.ready = deque(sorted(self.records))
        self.in_flight.clear()
        assert self.q.recovered == len(self.records)

    @invariant()
    def sizes_match(self) -> None:
        assert len(self.q) == len(self.records)
        assert self.q.items == sum(items for _, items in self.records.values())
        assert self.q.payload_bytes == sum(len(data) for data, _ in self.records.values())
        assert self.q.in_flight == len(self.in_flight)
        # the disk bound holds, give or take one segment being compacted into
        assert self.q.bytes_used <= MAX_BYTES + SEGMENT

    def teardown(self) -> None:
        self.q.close()
        report = scan(self.dir)
        assert report.live_records == len(self.records)
        assert all(s.corrupt_bytes == 0 for s in report.segments)
        shutil.rmtree(self.dir, ignore_errors=True)


QueueModel.TestCase.settings = settings(max_examples=40, stateful_step_count=40, deadline=None)
TestQueueModel = QueueModel.TestCase
