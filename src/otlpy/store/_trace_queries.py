"""Trace queries: services, operations, traces by id and by search, service dependencies."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypedDict

from otlpy.store._anyvalue import PROTO_CONTAINS, attribute_patterns
from otlpy.store._records import (
    SPAN_COLUMNS,
    TraceRecord,
    load_resources,
    span_record,
)
from otlpy.store._store import Store

__all__ = [
    "SPAN_KINDS",
    "DependencyLink",
    "Operation",
    "OperationStats",
    "TraceQuery",
    "dependencies",
    "find_trace_ids",
    "find_traces",
    "get_trace",
    "get_traces",
    "operation_stats",
    "operations",
    "parse_trace_id",
    "services",
]

# OTLP span kind numbers by the names Jaeger uses for them
SPAN_KINDS = {
    "unspecified": 0,
    "internal": 1,
    "server": 2,
    "client": 3,
    "producer": 4,
    "consumer": 5,
}
KIND_NAMES = {number: name for name, number in SPAN_KINDS.items()}
KIND_NAMES[0] = ""

_SPAN_ATTRIBUTES_FIELD = 9
_HEX = re.compile(r"[0-9a-fA-F]{1,32}")


class Operation(TypedDict):
    """An operation (span name) of a service, with its span kind name ("" if unspecified)."""

    name: str
    span_kind: str


class OperationStats(TypedDict):
    """Span count, error count and duration percentiles (ns) of one operation."""

    service: str
    operation: str
    span_kind: str
    count: int
    errors: int
    durations: dict[str, float]


class DependencyLink(TypedDict):
    """Calls from spans of ``parent`` to child spans of ``child``."""

    parent: str
    child: str
    call_count: int


@dataclass(frozen=True, kw_only=True, slots=True)
class TraceQuery:
    """What :func:`find_traces` looks for: traces with a span matching every given field.

    ``tags`` match span attributes or resource attributes by their text value, and the
    span fields Jaeger exposes as tags (``error``, ``span.kind``, ``otel.status_code``,
    ``otel.status_description``, ``otel.scope.name``, ``otel.scope.version``). Times are unix
    nanoseconds; ``start_*`` bounds the span's start time. ``limit`` counts traces.
    """

    service: str | None = None
    operation: str | None = None
    span_kind: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    start_min: int | None = None
    start_max: int | None = None
    duration_min: int | None = None
    duration_max: int | None = None
    limit: int = 20

    def __post_init__(self) -> None:
        if self.limit <= 0:
            raise ValueError("limit must be positive")
        if self.span_kind is not None and self.span_kind not in SPAN_KINDS:
            raise ValueError(f"unknown span kind {self.span_kind!r}")
        if (
            self.duration_min is not None
            and self.duration_max is not None
            and self.duration_max < self.duration_min
        ):
            raise ValueError("duration_max must not be below duration_min")


def parse_trace_id(trace_id: str | bytes) -> bytes:
    """A trace id from 16 bytes or up to 32 hex digits (shorter ids are zero-padded, as
    Jaeger does). Raises ValueError for anything else."""
    if isinstance(trace_id, bytes):
        if len(trace_id) != 16:
            raise ValueError("a trace id is 16 bytes")
        return trace_id
    if not _HEX.fullmatch(trace_id):
        raise ValueError(f"malformed trace id {trace_id!r}: expected up to 32 hex digits")
    return bytes.fromhex(trace_id.rjust(32, "0"))


def services(store: Store) -> list[str]:
    """The names of the services that sent spans, sorted."""
    rows = store.query("SELECT DISTINCT service_name FROM operations ORDER BY 1")
    return [r[0] for r in rows]


def operations(store: Store, service: str, span_kind: str | None = None) -> list[Operation]:
    """The operations of ``service``, optionally only those of ``span_kind`` ("server"...)."""
    sql = "SELECT DISTINCT name, kind FROM operations WHERE service_name = ?"
    params: list[Any] = [service]
    if span_kind:
        if span_kind not in SPAN_KINDS:
            raise ValueError(f"unknown span kind {span_kind!r}")
        sql += " AND kind = ?"
        params.append(SPAN_KINDS[span_kind])
    rows = store.query(sql + " ORDER BY name, kind", params)
    return [{"name": name, "span_kind": KIND_NAMES.get(kind, "")} for name, kind in rows]


def _traces(store: Store, where: str, params: list[Any]) -> list[TraceRecord]:
    rows = store.query(
        f"SELECT trace_id, {SPAN_COLUMNS} FROM spans WHERE {where} "  # noqa: S608
        "ORDER BY start_time",
        params,
    )
    resources = load_resources(store.query, (r[3] for r in rows))
    traces: dict[bytes, TraceRecord] = {}
    for row in rows:
        trace = traces.get(row[0])
        if trace is None:
            trace = traces[row[0]] = {"trace_id": row[0].hex(), "spans": []}
        trace["spans"].append(span_record(row[1:], resources))
    return list(traces.values())


def get_trace(
    store: Store,
    trace_id: str | bytes,
    *,
    start_min: int | None = None,
    start_max: int | None = None,
) -> TraceRecord | None:
    """The trace with ``trace_id`` (all its spans), or None. ``start_*`` optionally bound
    the spans' start times (unix nanoseconds)."""
    where = "trace_id = ?"
    params: list[Any] = [parse_trace_id(trace_id)]
    if start_min is not None:
        where += " AND start_time >= ?"
        params.append(start_min)
    if start_max is not None:
        where += " AND start_time <= ?"
        params.append(start_max)
    found = _traces(store, where, params)
    return found[0] if found else None


def get_traces(store: Store, trace_ids: Sequence[str | bytes]) -> list[TraceRecord]:
    """The traces with these ids that exist, in the order asked."""
    ids = [parse_trace_id(t) for t in trace_ids]
    if not ids:
        return []
    found = {
        t["trace_id"]: t for t in _traces(store, "trace_id IN (SELECT unnest(?::BLOB[]))", [ids])
    }
    return [found[i.hex()] for i in ids if i.hex() in found]


def _tag_condition(key: str, value: str, params: list[Any]) -> str:
    """SQL matching spans whose attribute, resource attribute or tag-like field ``key`` is
    ``value``."""
    alternatives = []
    for pattern in attribute_patterns(_SPAN_ATTRIBUTES_FIELD, key, value):
        alternatives.append(PROTO_CONTAINS)
        params.append(pattern)
    alternatives.append(
        "resource_id IN (SELECT resource_id FROM resources WHERE attributes[?] = ?)"
    )
    params += [key, value]
    lowered = value.lower()
    if key == "error" and lowered in ("true", "false"):
        alternatives.append("status_code = 2" if lowered == "true" else "status_code <> 2")
    elif key == "span.kind" and lowered in SPAN_KINDS:
        alternatives.append("kind = ?")
        params.append(SPAN_KINDS[lowered])
    elif key == "otel.status_code" and value in ("OK", "ERROR"):
        alternatives.append("status_code = ?")
        params.append(1 if value == "OK" else 2)
    else:
        column = {
            "otel.status_description": "status_message",
            "otel.scope.name": "scope_name",
            "otel.scope.version": "scope_version",
            "w3c.tracestate": "trace_state",
        }.get(key)
        if column is not None:
            alternatives.append(f"{column} = ?")
            params.append(value)
    return "(" + " OR ".join(alternatives) + ")"


def _search_sql(query: TraceQuery, after: tuple[int, bytes] | None = None) -> tuple[str, list[Any]]:
    """The search as SQL: matching trace ids with their newest matching span's start
    (``latest``), ordered by it (newest first), then by id. ``after`` (a ``(latest,
    trace_id)`` from a previous page) keeps only the traces that follow it in that order."""
    conditions = []
    params: list[Any] = []
    if query.service is not None:
        conditions.append("service_name = ?")
        params.append(query.service)
    if query.operation is not None:
        conditions.append("name = ?")
        params.append(query.operation)
    if query.span_kind is not None:
        conditions.append("kind = ?")
        params.append(SPAN_KINDS[query.span_kind])
    if query.start_min is not None:
        conditions.append("start_time >= ?")
        params.append(query.start_min)
    if query.start_max is not None:
        conditions.append("start_time <= ?")
        params.append(query.start_max)
    if query.duration_min is not None:
        conditions.append("duration >= ?")
        params.append(query.duration_min)
    if query.duration_max is not None:
        conditions.append("duration <= ?")
        params.append(query.duration_max)
    for key, value in query.tags.items():
        conditions.append(_tag_condition(key, value, params))
    where = " AND ".join(conditions) or "TRUE"
    having = ""
    if after is not None:
        having = "HAVING max(start_time) < ? OR (max(start_time) = ? AND trace_id > ?) "
        params += [after[0], after[0], after[1]]
    sql = (
        f"SELECT trace_id, max(start_time) AS latest FROM spans WHERE {where} "  # noqa: S608
        f"GROUP BY trace_id {having}ORDER BY latest DESC, trace_id LIMIT ?"
    )
    params.append(query.limit)
    return sql, params


def find_trace_ids(store: Store, query: TraceQuery) -> list[str]:
    """Ids (hex) of the traces matching ``query``, newest matching span first."""
    sql, params = _search_sql(query)
    return [r[0].hex() for r in store.query(sql, params)]


def find_traces(store: Store, query: TraceQuery) -> list[TraceRecord]:
    """The traces matching ``query``, whole, newest matching span first."""
    sql, params = _search_sql(query)
    ids = [r[0] for r in store.query(sql, params)]
    return get_traces(store, ids)


def dependencies(store: Store, end_ns: int, lookback_ns: int) -> list[DependencyLink]:
    """Calls between services: child spans starting in ``[end - lookback, end]`` whose parent
    span belongs to another service, counted per (parent service, child service)."""
    start = end_ns - lookback_ns
    rows = store.query(
        "SELECT p.service_name, c.service_name, count(*) FROM spans c "
        "JOIN spans p ON c.trace_id = p.trace_id AND c.parent_span_id = p.span_id "
        "WHERE c.start_time BETWEEN ? AND ? AND p.start_time <= ? "
        "AND c.parent_span_id <> ''::BLOB AND p.service_name <> c.service_name "
        "GROUP BY ALL ORDER BY 1, 2",
        [start, end_ns, end_ns],
    )
    return [{"parent": p, "child": c, "call_count": n} for p, c, n in rows]


def operation_stats(
    store: Store,
    *,
    service: str | None = None,
    start: int | None = None,
    end: int | None = None,
    quantiles: Sequence[float] = (0.5, 0.9, 0.99),
) -> list[OperationStats]:
    """Per service, operation and span kind: span count, errors and duration percentiles
    (``p50``... in nanoseconds, interpolated) of the spans starting in ``[start, end]``."""
    if any(not 0 <= q <= 1 for q in quantiles):
        raise ValueError("quantiles must be between 0 and 1")
    conditions = []
    params: list[Any] = [list(quantiles)]
    for column, op, bound in (
        ("service_name", "=", service),
        ("start_time", ">=", start),
        ("start_time", "<=", end),
    ):
        if bound is not None:
            conditions.append(f"{column} {op} ?")
            params.append(bound)
    where = " AND ".join(conditions) or "TRUE"
    rows = store.query(
        "SELECT service_name, name, kind, count(*), count(*) FILTER (status_code = 2), "  # noqa: S608
        f"quantile_cont(duration, ?::DOUBLE[]) FROM spans WHERE {where} "
        "GROUP BY ALL ORDER BY 1, 2, 3",
        params,
    )
    names = [f"p{q * 100:g}" for q in quantiles]
    return [
        {
            "service": service_name,
            "operation": name,
            "span_kind": KIND_NAMES.get(kind, ""),
            "count": n,
            "errors": errors,
            "durations": dict(zip(names, values, strict=True)),
        }
        for service_name, name, kind, n, errors, values in rows
    ]
