"""Summaries for browsing: one row per matching trace, and what the store holds.

A search result list needs, per trace, its root span, duration, span and error counts and the
services it crosses, not its spans: :func:`trace_summaries` computes them in SQL, so a page of
results costs the same whether the traces hold ten spans or ten thousand.
"""

from __future__ import annotations

from typing import Any, TypedDict

from otlpy.store._store import Store
from otlpy.store._trace_queries import TraceQuery, _search_sql, parse_trace_id

__all__ = ["StoreCounts", "TraceSummary", "store_counts", "trace_summaries"]


class TraceSummary(TypedDict):
    """One trace in a search result.

    ``root_service``/``root_name`` are those of the earliest span without a parent
    (``has_root`` False: no such span was stored, and they are the earliest span's).
    ``services`` counts spans per service. ``latest_match`` is the start time of the newest
    span that matched the search: results are ordered by it, newest first, then by trace id;
    the last result's ``(latest_match, trace_id)`` asks for the next page.
    """

    trace_id: str
    root_service: str
    root_name: str
    has_root: bool
    start_time_unix_nano: int
    duration_nano: int
    span_count: int
    error_count: int
    services: dict[str, int]
    latest_match: int


class StoreCounts(TypedDict):
    """How much the store holds, and the time (unix ns) of the newest item of each signal
    (None when there is none)."""

    spans: int
    logs: int
    metric_points: int
    services: int
    metrics: int
    newest_span: int | None
    newest_log: int | None
    newest_metric_point: int | None


def trace_summaries(
    store: Store, query: TraceQuery, *, after: tuple[int, str] | None = None
) -> list[TraceSummary]:
    """The traces matching ``query`` (as :func:`~otlpy.store.queries.find_traces` finds
    them), summarized, newest matching span first (then by trace id).

    ``after``: the ``(latest_match, trace_id)`` of the last trace of the previous page, to get
    the next page of the same search.
    """
    cursor = None if after is None else (after[0], parse_trace_id(after[1]))
    search, params = _search_sql(query, cursor)
    rows = store.query(
        f"WITH found AS ({search}) "  # noqa: S608
        "SELECT s.trace_id, f.latest, min(s.start_time), max(s.end_time), count(*), "
        "count(*) FILTER (s.status_code = 2), "
        "arg_min(s.service_name, [(s.parent_span_id <> ''::BLOB)::BIGINT, s.start_time]), "
        "arg_min(s.name, [(s.parent_span_id <> ''::BLOB)::BIGINT, s.start_time]), "
        "bool_or(s.parent_span_id = ''::BLOB), histogram(s.service_name) "
        "FROM spans s JOIN found f ON s.trace_id = f.trace_id "
        "GROUP BY s.trace_id, f.latest ORDER BY f.latest DESC, s.trace_id",
        params,
    )
    return [_summary(row) for row in rows]


def _summary(row: tuple[Any, ...]) -> TraceSummary:
    trace_id, latest, start, end, count, errors, service, name, has_root, services = row
    return {
        "trace_id": trace_id.hex(),
        "root_service": service,
        "root_name": name,
        "has_root": bool(has_root),
        "start_time_unix_nano": start,
        "duration_nano": max(end - start, 0),
        "span_count": count,
        "error_count": errors,
        "services": dict(sorted(services.items(), key=lambda kv: (-kv[1], kv[0]))),
        "latest_match": latest,
    }


def store_counts(store: Store) -> StoreCounts:
    """Rows per signal, services and metric names, and the newest time of each signal."""
    row = store.query(
        "SELECT (SELECT count(*) FROM spans), (SELECT count(*) FROM logs), "
        "(SELECT count(*) FROM metric_points), "
        "(SELECT count(DISTINCT service_name) FROM operations), "
        "(SELECT count(DISTINCT name) FROM metrics), "
        "(SELECT max(start_time) FROM spans), (SELECT max(timestamp) FROM logs), "
        "(SELECT max(time) FROM metric_points)"
    )[0]
    spans, logs, points, services, metrics, newest_span, newest_log, newest_point = row
    return {
        "spans": spans,
        "logs": logs,
        "metric_points": points,
        "services": services,
        "metrics": metrics,
        "newest_span": newest_span,
        "newest_log": newest_log,
        "newest_metric_point": newest_point,
    }
