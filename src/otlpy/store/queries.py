"""Queries over the store, returning plain Python data (dicts, lists, str, int, float).

Traces: :func:`services`, :func:`operations`, :func:`get_trace`, :func:`find_traces`,
:func:`trace_summaries`, :func:`dependencies`, :func:`operation_stats`, :func:`trace_logs`.
Overview: :func:`store_counts`.
Logs: :func:`search_logs`, :func:`logs_after` (live tail).
Metrics: :func:`metric_names`, :func:`metric_series`, :func:`metric_histogram`.

Every function takes the :class:`~otlpy.store.Store` first, blocks, and is safe to call from
any thread while the store is being written. Times are unix nanoseconds, ids lowercase hex.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from otlpy.store._anyvalue import any_value_plain
from otlpy.store._log_queries import (
    LogPage,
    LogQuery,
    latest_log_cursor,
    logs_after,
    search_logs,
    trace_logs,
)
from otlpy.store._metric_queries import (
    AGGREGATIONS,
    BucketCount,
    HistogramResult,
    MetricInfo,
    Series,
    metric_histogram,
    metric_names,
    metric_series,
)
from otlpy.store._overview import StoreCounts, TraceSummary, store_counts, trace_summaries
from otlpy.store._records import (
    EventRecord,
    LinkRecord,
    LogRecordDict,
    ResourceRecord,
    ScopeRecord,
    SpanRecord,
    TraceRecord,
)
from otlpy.store._trace_queries import (
    SPAN_KINDS,
    DependencyLink,
    Operation,
    OperationStats,
    TraceQuery,
    dependencies,
    find_trace_ids,
    find_traces,
    get_trace,
    get_traces,
    operation_stats,
    operations,
    parse_trace_id,
    services,
)

__all__ = [
    "AGGREGATIONS",
    "SPAN_KINDS",
    "BucketCount",
    "DependencyLink",
    "EventRecord",
    "HistogramResult",
    "LinkRecord",
    "LogPage",
    "LogQuery",
    "LogRecordDict",
    "MetricInfo",
    "Operation",
    "OperationStats",
    "ResourceRecord",
    "ScopeRecord",
    "Series",
    "SpanRecord",
    "StoreCounts",
    "TraceQuery",
    "TraceRecord",
    "TraceSummary",
    "attributes_dict",
    "dependencies",
    "find_trace_ids",
    "find_traces",
    "get_trace",
    "get_traces",
    "latest_log_cursor",
    "logs_after",
    "metric_histogram",
    "metric_names",
    "metric_series",
    "operation_stats",
    "operations",
    "parse_trace_id",
    "search_logs",
    "services",
    "store_counts",
    "trace_logs",
    "trace_summaries",
]


def attributes_dict(attributes: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """An OTLP JSON attribute list as a dict of plain values (first of duplicate keys wins).

    >>> attributes_dict([{"key": "n", "value": {"intValue": "3"}}])
    {'n': 3}
    """
    out: dict[str, Any] = {}
    for kv in attributes:
        if kv["key"] not in out:
            out[kv["key"]] = any_value_plain(kv["value"])
    return out
