"""Log queries: search, the logs of a trace, and live tail by arrival cursor."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypedDict

from otlpy.store._anyvalue import PROTO_CONTAINS, attribute_patterns
from otlpy.store._records import LOG_COLUMNS, LogRecordDict, load_resources, log_record
from otlpy.store._store import Store
from otlpy.store._trace_queries import parse_trace_id

__all__ = ["LogPage", "LogQuery", "latest_log_cursor", "logs_after", "search_logs", "trace_logs"]

_LOG_ATTRIBUTES_FIELD = 6


class LogPage(TypedDict):
    """Log records in arrival order and the cursor to ask for the next ones with."""

    logs: list[LogRecordDict]
    cursor: int


@dataclass(frozen=True, kw_only=True, slots=True)
class LogQuery:
    """What :func:`search_logs` and :func:`logs_after` look for; every given field must match.

    ``min_severity`` is an OTLP severity number (9 INFO, 13 WARN, 17 ERROR). ``text`` is
    searched in the body, ignoring case. ``attributes`` match record or resource attributes
    by their text value. Times are unix nanoseconds on the record's time (its observed time
    when it has none).
    """

    service: str | None = None
    min_severity: int | None = None
    text: str | None = None
    attributes: Mapping[str, str] = field(default_factory=dict)
    trace_id: str | bytes | None = None
    start: int | None = None
    end: int | None = None
    limit: int = 100

    def __post_init__(self) -> None:
        if self.limit <= 0:
            raise ValueError("limit must be positive")


def _where(query: LogQuery) -> tuple[str, list[Any]]:
    conditions = []
    params: list[Any] = []
    if query.service is not None:
        conditions.append("service_name = ?")
        params.append(query.service)
    if query.min_severity is not None:
        conditions.append("severity_number >= ?")
        params.append(query.min_severity)
    if query.text:
        conditions.append("contains(lower(body), ?)")
        params.append(query.text.lower())
    if query.trace_id is not None:
        conditions.append("trace_id = ?")
        params.append(parse_trace_id(query.trace_id))
    if query.start is not None:
        conditions.append("timestamp >= ?")
        params.append(query.start)
    if query.end is not None:
        conditions.append("timestamp <= ?")
        params.append(query.end)
    for key, value in query.attributes.items():
        alternatives = []
        for pattern in attribute_patterns(_LOG_ATTRIBUTES_FIELD, key, value):
            alternatives.append(PROTO_CONTAINS)
            params.append(pattern)
        alternatives.append(
            "resource_id IN (SELECT resource_id FROM resources WHERE attributes[?] = ?)"
        )
        params += [key, value]
        conditions.append("(" + " OR ".join(alternatives) + ")")
    return " AND ".join(conditions) or "TRUE", params


def _records(store: Store, sql: str, params: list[Any]) -> list[LogRecordDict]:
    rows = store.query(sql, params)
    resources = load_resources(store.query, (r[5] for r in rows))
    return [log_record(row, resources) for row in rows]


def search_logs(store: Store, query: LogQuery) -> list[LogRecordDict]:
    """The log records matching ``query``, newest first."""
    where, params = _where(query)
    return _records(
        store,
        f"SELECT {LOG_COLUMNS} FROM logs WHERE {where} "  # noqa: S608
        "ORDER BY timestamp DESC, seq DESC LIMIT ?",
        [*params, query.limit],
    )


def trace_logs(store: Store, trace_id: str | bytes, *, limit: int = 1000) -> list[LogRecordDict]:
    """The log records of a trace, oldest first."""
    records = search_logs(store, LogQuery(trace_id=trace_id, limit=limit))
    records.reverse()
    return records


def latest_log_cursor(store: Store) -> int:
    """The cursor of the newest stored log record (0 when there is none)."""
    return int(store.query("SELECT coalesce(max(seq), 0) FROM logs")[0][0])


def logs_after(store: Store, cursor: int | None, query: LogQuery | None = None) -> LogPage:
    """Live tail: records that arrived after ``cursor``, oldest first, at most
    ``query.limit``; pass the returned cursor next time.

    ``cursor=None`` starts a tail: the newest ``limit`` records, oldest first.
    """
    query = LogQuery() if query is None else query
    where, params = _where(query)
    if cursor is None:
        # the cursor is taken first so that records arriving meanwhile are not skipped
        top = latest_log_cursor(store)
        records = _records(
            store,
            f"SELECT {LOG_COLUMNS} FROM logs WHERE seq <= ? AND {where} "  # noqa: S608
            "ORDER BY seq DESC LIMIT ?",
            [top, *params, query.limit],
        )
        records.reverse()
        return {"logs": records, "cursor": top}
    records = _records(
        store,
        f"SELECT {LOG_COLUMNS} FROM logs WHERE seq > ? AND {where} "  # noqa: S608
        "ORDER BY seq LIMIT ?",
        [cursor, *params, query.limit],
    )
    return {"logs": records, "cursor": records[-1]["seq"] if records else cursor}
