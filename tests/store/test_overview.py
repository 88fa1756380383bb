"""Trace summaries and store counts, and the store shared between components of a process."""

from __future__ import annotations

from pathlib import Path

import pytest
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

from otlpy.pdata import Signal
from otlpy.store import Store, StoreError, shared
from otlpy.store.queries import TraceQuery, store_counts, trace_summaries
from store_builders import MS, NOW, log_request, make_span, trace_request


def _fill(store: Store) -> None:
    # trace 1: root in frontend, two children in backend (one failed)
    store.write(
        Signal.TRACES,
        trace_request("frontend", [make_span(1, 1, name="GET /", start=NOW - 100 * MS)]),
    )
    store.write(
        Signal.TRACES,
        trace_request(
            "backend",
            [
                make_span(1, 2, parent=1, name="db", start=NOW - 99 * MS, duration=5 * MS),
                make_span(1, 3, parent=1, name="cache", start=NOW - 90 * MS, status=2),
            ],
        ),
    )
    # trace 2: newer, no root stored (partial trace)
    store.write(
        Signal.TRACES,
        trace_request("backend", [make_span(2, 9, parent=8, name="late", start=NOW - 10 * MS)]),
    )
    store.flush()


def test_summaries_describe_each_trace(store: Store) -> None:
    _fill(store)
    found = trace_summaries(store, TraceQuery(limit=10))
    assert [s["trace_id"] for s in found] == [f"{2:032x}", f"{1:032x}"]
    partial, whole = found
    assert partial["has_root"] is False
    assert (partial["root_service"], partial["root_name"]) == ("backend", "late")
    assert whole == {
        "trace_id": f"{1:032x}",
        "root_service": "frontend",
        "root_name": "GET /",
        "has_root": True,
        "start_time_unix_nano": NOW - 100 * MS,
        # the root starts first; the cache span ends last (10 ms from NOW - 90 ms)
        "duration_nano": 20 * MS,
        "span_count": 3,
        "error_count": 1,
        "services": {"backend": 2, "frontend": 1},
        "latest_match": NOW - 90 * MS,
    }


def test_summaries_follow_the_search(store: Store) -> None:
    _fill(store)
    found = trace_summaries(store, TraceQuery(service="backend", operation="db"))
    assert [s["trace_id"] for s in found] == [f"{1:032x}"]
    # the summary covers the whole trace, not only the matching span
    assert found[0]["span_count"] == 3
    assert found[0]["latest_match"] == NOW - 99 * MS
    page = trace_summaries(store, TraceQuery(limit=1))
    last = page[-1]
    rest = trace_summaries(
        store, TraceQuery(limit=5), after=(last["latest_match"], last["trace_id"])
    )
    assert [s["trace_id"] for s in page + rest] == [f"{2:032x}", f"{1:032x}"]
    assert trace_summaries(store, TraceQuery(service="nobody")) == []


def test_pages_do_not_repeat_or_skip_traces(store: Store) -> None:
    # three traces whose newest spans start at the same time, and older spans in each
    for trace in (5, 6, 7):
        store.write(
            Signal.TRACES,
            trace_request(
                "svc",
                [make_span(trace, 1, start=NOW - 50 * MS), make_span(trace, 2, start=NOW)],
            ),
        )
    store.flush()
    seen = []
    after = None
    while True:
        page = trace_summaries(store, TraceQuery(limit=2), after=after)
        if not page:
            break
        seen += [s["trace_id"] for s in page]
        after = (page[-1]["latest_match"], page[-1]["trace_id"])
    assert seen == [f"{t:032x}" for t in (5, 6, 7)]


def test_counts(store: Store) -> None:
    empty = store_counts(store)
    assert empty == {
        "spans": 0,
        "logs": 0,
        "metric_points": 0,
        "services": 0,
        "metrics": 0,
        "newest_span": None,
        "newest_log": None,
        "newest_metric_point": None,
    }
    _fill(store)
    store.write(Signal.LOGS, log_request("frontend", [LogRecord(time_unix_nano=NOW, body=None)]))
    store.flush()
    counts = store_counts(store)
    assert (counts["spans"], counts["logs"], counts["services"]) == (4, 1, 2)
    assert counts["newest_span"] == NOW - 10 * MS
    assert counts["newest_log"] == NOW


def test_shared_store_is_opened_once_and_closed_by_the_last_lease(tmp_path: Path) -> None:
    first = shared.acquire(tmp_path / "d")
    second = shared.acquire(tmp_path / "d" / ".." / "d")
    assert first is second
    shared.release(first)
    assert not second.closed
    shared.release(second)
    assert second.closed
    # a new lease after the last release opens the store again
    again = shared.acquire(tmp_path / "d")
    assert again is not first and not again.closed
    shared.release(again)
    # releasing a store that is not leased just closes it
    loose = Store.open(tmp_path / "loose")
    shared.release(loose)
    assert loose.closed


def test_shared_store_reports_unusable_directories(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(StoreError, match="not a directory"):
        shared.acquire(tmp_path / "file")


def test_default_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTLPY_DATA", raising=False)
    assert shared.default_directory() == "./otlpy-data"
    monkeypatch.setenv("OTLPY_DATA", "/srv/otlpy")
    assert shared.default_directory() == "/srv/otlpy"
