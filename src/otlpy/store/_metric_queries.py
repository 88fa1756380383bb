"""Metric queries: the metric catalog, series over time, histogram buckets and percentiles."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from typing import Any, TypedDict

import orjson

from otlpy.store._columns import METRIC_TYPES
from otlpy.store._histograms import (
    Buckets,
    explicit_buckets,
    exponential_buckets,
    increase,
    merge,
    quantile,
)
from otlpy.store._store import Store

__all__ = [
    "AGGREGATIONS",
    "BucketCount",
    "HistogramResult",
    "MetricInfo",
    "Series",
    "metric_histogram",
    "metric_names",
    "metric_series",
]

TYPE_NAMES = {code: name for name, code in METRIC_TYPES.items()}
TEMPORALITY_NAMES = {0: "", 1: "delta", 2: "cumulative"}
_DELTA = 1
AGGREGATIONS = ("avg", "sum", "min", "max", "count", "rate")
_NUMBER_TYPES = (METRIC_TYPES["gauge"], METRIC_TYPES["sum"])
_HISTOGRAM_TYPES = (
    METRIC_TYPES["histogram"],
    METRIC_TYPES["exponential_histogram"],
    METRIC_TYPES["summary"],
)


class MetricInfo(TypedDict):
    """A metric in the catalog: ``type`` is gauge, sum, histogram, exponential_histogram or
    summary; ``temporality`` cumulative, delta or "" (gauges, summaries)."""

    name: str
    type: str
    unit: str
    description: str
    temporality: str
    monotonic: bool
    attribute_keys: list[str]


class Series(TypedDict):
    """One series: its labels and ``[time_ns, value]`` points, one per step."""

    labels: dict[str, str]
    points: list[list[float]]


class BucketCount(TypedDict):
    """Observations between ``lower`` and ``upper`` (None: unbounded)."""

    lower: float | None
    upper: float | None
    count: int


class StepQuantiles(TypedDict):
    """Percentile estimates of the observations in one step."""

    time: int
    count: int
    quantiles: dict[str, float | None]


class HistogramResult(TypedDict):
    """Observations of a histogram metric over a time range, merged over its series."""

    name: str
    type: str
    unit: str
    count: int
    sum: float | None
    min: float | None
    max: float | None
    buckets: list[BucketCount]
    quantiles: dict[str, float | None]
    series: list[StepQuantiles]


def metric_names(store: Store, *, start: int | None = None) -> list[MetricInfo]:
    """Every metric stored, sorted by name, with the attribute keys its points carry (seen
    since ``start``, unix nanoseconds, when given)."""
    where, params = ("WHERE time >= ?", [start]) if start is not None else ("", [])
    keys = dict(
        store.query(
            "SELECT name, list(DISTINCT key ORDER BY key) FROM (SELECT name, "  # noqa: S608
            f"unnest(map_keys(attributes)) AS key FROM metric_points {where}) GROUP BY name",
            params,
        )
    )
    rows = store.query(
        "SELECT name, type, unit, description, temporality, monotonic FROM metrics "
        "ORDER BY name, type, unit"
    )
    return [
        {
            "name": name,
            "type": TYPE_NAMES.get(kind, str(kind)),
            "unit": unit,
            "description": description,
            "temporality": TEMPORALITY_NAMES.get(temporality, str(temporality)),
            "monotonic": monotonic,
            "attribute_keys": keys.get(name, []),
        }
        for name, kind, unit, description, temporality, monotonic in rows
    ]


def _filters(
    name: str, types: Sequence[int], start: int, end: int, attributes: Mapping[str, str]
) -> tuple[str, list[Any]]:
    conditions = [
        "name = ?",
        f"type IN ({', '.join(str(t) for t in types)})",
        "time >= ?",
        "time <= ?",
    ]
    params: list[Any] = [name, start, end]
    for key, value in attributes.items():
        conditions.append(
            "(attributes[?] = ? OR resource_id IN "
            "(SELECT resource_id FROM resources WHERE attributes[?] = ?))"
        )
        params += [key, value, key, value]
    return " AND ".join(conditions), params


def _group_columns(group_by: Sequence[str] | None) -> tuple[list[str], list[Any]]:
    if group_by is None:
        return ["service_name", "attributes"], []
    columns = []
    params: list[Any] = []
    for key in group_by:
        if key == "service.name":
            columns.append("service_name")
        else:
            columns.append("attributes[?]")
            params.append(key)
    return columns, params


def _labels(group_by: Sequence[str] | None, values: Sequence[Any]) -> dict[str, str]:
    if group_by is None:
        service, attributes = values
        return {"service.name": service, **attributes}
    return {k: v for k, v in zip(group_by, values, strict=True) if v is not None}


def metric_series(
    store: Store,
    name: str,
    *,
    start: int,
    end: int,
    step: int,
    aggregation: str = "avg",
    attributes: Mapping[str, str] | None = None,
    group_by: Sequence[str] | None = None,
) -> list[Series]:
    """Values of a gauge or sum metric over ``[start, end]`` in steps of ``step`` ns.

    Each step aggregates the points in it with ``aggregation``: avg, sum, min, max, count,
    or rate (per second; sums only: the increase of monotonic cumulative sums, resets
    handled, or the total of delta sums). ``attributes`` filter by point or resource
    attribute. Series are split by service and attribute set, or by the ``group_by``
    attribute keys ("service.name" included) with the others aggregated together.
    A point at time t belongs to the step starting at ``start + k * step <= t``.
    """
    if aggregation not in AGGREGATIONS:
        raise ValueError(f"unknown aggregation {aggregation!r}: use one of {AGGREGATIONS}")
    if step <= 0:
        raise ValueError("step must be positive")
    if end < start:
        raise ValueError("end must not be before start")
    columns, group_params = _group_columns(group_by)
    bucket = "(? + (time - ?) // ? * ?)"
    bucket_params = [start, start, step, step]
    width = len(columns)
    groups = ", ".join(f"{c} AS g{i}" for i, c in enumerate(columns))
    group_names = ", ".join(f"g{i}" for i in range(width))
    if aggregation != "rate":
        where, params = _filters(name, _NUMBER_TYPES, start, end, attributes or {})
        sql = (
            f"SELECT {groups}, {bucket} AS step, {aggregation}(value) "  # noqa: S608
            "FROM metric_points "
            f"WHERE {where} GROUP BY ALL ORDER BY ALL"
        )
        rows = store.query(sql, [*group_params, *bucket_params, *params])
    else:
        # each point's increase over the previous point of its series; the first point of
        # a cumulative series only sets the baseline, so look one step back for it, unless
        # the series started in that window: then all it counted is new
        where, params = _filters(name, (METRIC_TYPES["sum"],), start - step, end, attributes or {})
        sql = (
            f"WITH points AS (SELECT {groups}, time, temporality, start_time, value, "  # noqa: S608
            "lag(value) OVER series AS previous, lag(start_time) OVER series AS previous_start "
            f"FROM metric_points WHERE {where} "
            "WINDOW series AS (PARTITION BY resource_id, scope_name, attributes_json "
            "ORDER BY time)) "
            f"SELECT {group_names}, {bucket} AS step, sum(CASE "
            f"WHEN temporality = {_DELTA} THEN value "
            "WHEN previous IS NULL THEN CASE WHEN start_time >= ? THEN value END "
            "WHEN value < previous OR start_time <> previous_start THEN value "
            "ELSE value - previous END) / ? FROM points WHERE time >= ? "
            "GROUP BY ALL ORDER BY ALL"
        )
        rows = store.query(
            sql, [*group_params, *params, *bucket_params, start - step, step / 1e9, start]
        )
    series: dict[tuple[Any, ...], Series] = {}
    for row in rows:
        key = tuple(orjson.dumps(v, option=orjson.OPT_SORT_KEYS) for v in row[:width])
        found = series.get(key)
        if found is None:
            found = series[key] = {"labels": _labels(group_by, row[:width]), "points": []}
        if row[width + 1] is not None:
            found["points"].append([row[width], row[width + 1]])
    return list(series.values())


def _quantile_names(quantiles: Sequence[float]) -> list[tuple[str, float]]:
    return [(f"p{q * 100:g}", q) for q in quantiles]


def metric_histogram(
    store: Store,
    name: str,
    *,
    start: int,
    end: int,
    step: int | None = None,
    attributes: Mapping[str, str] | None = None,
    quantiles: Sequence[float] = (0.5, 0.9, 0.99),
) -> HistogramResult:
    """The observations a histogram metric recorded over ``[start, end]``, merged across
    its series: bucket counts, count, sum, and percentile estimates (``p50``, ``p90``,
    ``p99`` by default), also per ``step`` when given.

    Cumulative points count by their increase over the previous point of their series
    (a series' first point in the range sets the baseline unless the series started in the
    range); delta points count whole. Exponential histograms are merged at their coarsest
    scale. Summaries have no buckets: their latest quantile values are averaged across series.
    """
    if step is not None and step <= 0:
        raise ValueError("step must be positive")
    if any(not 0 <= q <= 1 for q in quantiles):
        raise ValueError("quantiles must be between 0 and 1")
    where, params = _filters(name, _HISTOGRAM_TYPES, start, end, attributes or {})
    rows = store.query(
        "SELECT resource_id, scope_name, attributes_json, type, unit, "  # noqa: S608
        "temporality, start_time, "
        "time, count, sum, min, max, bounds, bucket_counts, scale, zero_count, zero_threshold, "
        "positive_offset, positive_counts, negative_offset, negative_counts, quantiles "
        f"FROM metric_points WHERE {where} ORDER BY time",
        params,
    )
    names = _quantile_names(quantiles)
    result: HistogramResult = {
        "name": name,
        "type": TYPE_NAMES[rows[0][3]] if rows else "histogram",
        "unit": rows[0][4] if rows else "",
        "count": 0,
        "sum": None,
        "min": None,
        "max": None,
        "buckets": [],
        "quantiles": dict.fromkeys((n for n, _ in names), None),
        "series": [],
    }
    if not rows:
        return result
    if rows[0][3] == METRIC_TYPES["summary"]:
        return _summary(result, rows, names)
    min_scale = min(
        (r[14] for r in rows if r[3] == METRIC_TYPES["exponential_histogram"]), default=0
    )
    previous: dict[tuple[Any, ...], tuple[int, Buckets, int, float]] = {}
    total: Buckets = Counter()
    per_step: dict[int, list[Buckets]] = defaultdict(list)
    count = 0
    total_sum: float | None = None
    low: float | None = None
    high: float | None = None
    for row in rows:
        (rid, scope, attrs, kind, _unit, temporality, start_time, time) = row[:8]
        (n, point_sum, point_min, point_max) = row[8:12]
        if kind == METRIC_TYPES["histogram"]:
            buckets = explicit_buckets(row[12] or [], row[13] or [])
        elif kind == METRIC_TYPES["exponential_histogram"]:
            buckets = exponential_buckets(
                row[14], row[15], row[16], (row[17], row[18]), (row[19], row[20]), min_scale
            )
        else:
            continue  # a summary mixed with histograms under one name: not comparable
        key = (rid, scope, attrs)
        if temporality != _DELTA:
            before = previous.get(key)
            previous[key] = (start_time, buckets, n, point_sum or 0.0)
            if before is None and start_time < start:
                continue  # the baseline: what it counted came before the range
            if before is not None and before[0] == start_time and n >= before[2]:
                buckets = increase(before[1], buckets)
                n -= before[2]
                point_sum = None if point_sum is None else point_sum - before[3]
        total.update(buckets)
        count += n
        if point_sum is not None:
            total_sum = point_sum if total_sum is None else total_sum + point_sum
        if point_min is not None:
            low = point_min if low is None else min(low, point_min)
        if point_max is not None:
            high = point_max if high is None else max(high, point_max)
        if step is not None:
            per_step[start + (time - start) // step * step].append(buckets)
    result["count"] = count
    result["sum"] = total_sum
    result["min"] = low
    result["max"] = high
    result["buckets"] = [
        {
            "lower": None if lower == float("-inf") else lower,
            "upper": None if upper == float("inf") else upper,
            "count": c,
        }
        for (lower, upper), c in sorted(total.items(), key=lambda i: (i[0][1], i[0][0]))
    ]
    result["quantiles"] = {n: quantile(total, q, low=low, high=high) for n, q in names}
    for at in sorted(per_step):
        merged = merge(per_step[at])
        result["series"].append(
            {
                "time": at,
                "count": sum(merged.values()),
                "quantiles": {n: quantile(merged, q, low=low, high=high) for n, q in names},
            }
        )
    return result


def _summary(
    result: HistogramResult, rows: list[tuple[Any, ...]], names: list[tuple[str, float]]
) -> HistogramResult:
    latest: dict[tuple[Any, ...], tuple[Any, ...]] = {}
    for row in rows:
        if row[3] == METRIC_TYPES["summary"]:
            latest[(row[0], row[1], row[2])] = row
    values: dict[float, list[float]] = defaultdict(list)
    for row in latest.values():
        for item in row[21] or []:
            values[item["quantile"]].append(item["value"])
    result["count"] = sum(int(r[8] or 0) for r in latest.values())
    result["sum"] = sum(float(r[9] or 0.0) for r in latest.values())
    result["quantiles"] = {
        n: (sum(values[q]) / len(values[q]) if values.get(q) else None) for n, q in names
    }
    return result
