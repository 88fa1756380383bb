"""Metric queries against a real store: catalog, series, rates, histograms, the SDK's data."""

from __future__ import annotations

import math

import pytest
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    AggregationTemporality,
    ExponentialHistogramDataPoint,
    HistogramDataPoint,
    Metric,
    NumberDataPoint,
    SummaryDataPoint,
)
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource

from otlpy.pdata import Signal
from otlpy.store import Store
from otlpy.store.queries import metric_histogram, metric_names, metric_series
from store_builders import NOW, SECOND, attrs, metrics_request, sid, tid

MINUTE = 60 * SECOND
T0 = NOW - 10 * MINUTE
CUMULATIVE = AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE
DELTA = AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA


def _gauge() -> Metric:
    metric = Metric(name="temp", unit="Cel", description="room temperature")
    for minute in range(10):
        for room, base in (("a", 20.0), ("b", 10.0)):
            point = NumberDataPoint(time_unix_nano=T0 + minute * MINUTE, as_double=base + minute)
            point.attributes.extend(attrs({"room": room, "floor": 1}))
            metric.gauge.data_points.append(point)
    return metric


def _counter() -> Metric:
    """Cumulative: +10 a minute, reset to 0 (new start time) at minute 5."""
    metric = Metric(name="requests", unit="1")
    metric.sum.aggregation_temporality = CUMULATIVE
    metric.sum.is_monotonic = True
    for minute in range(10):
        start = T0 - MINUTE if minute < 5 else T0 + 5 * MINUTE - 1
        total = 10 * (minute + 1) if minute < 5 else 10 * (minute - 4)
        point = NumberDataPoint(
            start_time_unix_nano=start, time_unix_nano=T0 + minute * MINUTE, as_int=total
        )
        point.attributes.extend(attrs({"route": "/x"}))
        metric.sum.data_points.append(point)
    return metric


def _delta_sum() -> Metric:
    metric = Metric(name="bytes", unit="By")
    metric.sum.aggregation_temporality = DELTA
    metric.sum.is_monotonic = True
    for minute in range(10):
        point = NumberDataPoint(time_unix_nano=T0 + minute * MINUTE, as_int=600)
        point.exemplars.add(
            time_unix_nano=T0, as_int=7, trace_id=tid(1), span_id=sid(2)
        ).filtered_attributes.extend(attrs({"user": "u"}))
        metric.sum.data_points.append(point)
    return metric


def _histogram() -> Metric:
    """Cumulative, bounds 10/100/1000; each minute adds 1 below 10, 2 in (10, 100], 1 in
    (100, 1000]."""
    metric = Metric(name="latency", unit="ms")
    metric.histogram.aggregation_temporality = CUMULATIVE
    for minute in range(10):
        n = minute + 1
        point = HistogramDataPoint(
            start_time_unix_nano=T0 - MINUTE,
            time_unix_nano=T0 + minute * MINUTE,
            count=4 * n,
            sum=400.0 * n,
            explicit_bounds=[10, 100, 1000],
            bucket_counts=[n, 2 * n, n, 0],
            min=1.0,
            max=900.0,
        )
        metric.histogram.data_points.append(point)
    return metric


def _exponential() -> Metric:
    """Delta points: scale 0 (buckets (1,2], (2,4], (4,8]...) and one at scale 1."""
    metric = Metric(name="size", unit="By")
    metric.exponential_histogram.aggregation_temporality = DELTA
    first = ExponentialHistogramDataPoint(
        time_unix_nano=T0, count=10, sum=30.0, scale=0, zero_count=2, zero_threshold=0.5
    )
    first.positive.offset = 0
    first.positive.bucket_counts.extend([4, 4])  # (1,2]: 4, (2,4]: 4
    second = ExponentialHistogramDataPoint(time_unix_nano=T0 + MINUTE, count=2, sum=5.0, scale=1)
    second.positive.offset = 2  # at scale 1: (2, 2.83], (2.83, 4]
    second.positive.bucket_counts.extend([1, 1])
    second.negative.offset = 0
    second.negative.bucket_counts.extend([0])
    metric.exponential_histogram.data_points.extend([first, second])
    return metric


def _summary() -> Metric:
    metric = Metric(name="rpc", unit="s")
    for minute, p50 in ((0, 1.0), (1, 2.0)):
        point = SummaryDataPoint(time_unix_nano=T0 + minute * MINUTE, count=10 + minute, sum=20.0)
        point.quantile_values.add(quantile=0.5, value=p50)
        point.quantile_values.add(quantile=0.99, value=9.0)
        metric.summary.data_points.append(point)
    return metric


@pytest.fixture
def metrics(store: Store) -> Store:
    metric_list = [_gauge(), _counter(), _delta_sum(), _histogram(), _exponential(), _summary()]
    store.write(Signal.METRICS, metrics_request("svc", metric_list))
    store.flush()
    return store


def test_metric_names(metrics: Store) -> None:
    assert metric_names(metrics) == [
        {
            "name": "bytes",
            "type": "sum",
            "unit": "By",
            "description": "",
            "temporality": "delta",
            "monotonic": True,
            "attribute_keys": [],
        },
        {
            "name": "latency",
            "type": "histogram",
            "unit": "ms",
            "description": "",
            "temporality": "cumulative",
            "monotonic": False,
            "attribute_keys": [],
        },
        {
            "name": "requests",
            "type": "sum",
            "unit": "1",
            "description": "",
            "temporality": "cumulative",
            "monotonic": True,
            "attribute_keys": ["route"],
        },
        {
            "name": "rpc",
            "type": "summary",
            "unit": "s",
            "description": "",
            "temporality": "",
            "monotonic": False,
            "attribute_keys": [],
        },
        {
            "name": "size",
            "type": "exponential_histogram",
            "unit": "By",
            "description": "",
            "temporality": "delta",
            "monotonic": False,
            "attribute_keys": [],
        },
        {
            "name": "temp",
            "type": "gauge",
            "unit": "Cel",
            "description": "room temperature",
            "temporality": "",
            "monotonic": False,
            "attribute_keys": ["floor", "room"],
        },
    ]
    recent = {m["name"]: m["attribute_keys"] for m in metric_names(metrics, start=NOW)}
    assert recent["temp"] == []


def test_points_keep_their_values(metrics: Store) -> None:
    rows = metrics.query(
        "SELECT int_value, value, exemplars FROM metric_points WHERE name = 'bytes' LIMIT 1"
    )
    assert rows[0][:2] == (600, 600.0)
    assert '"traceId":"00000000000000000000000000000001"' in rows[0][2]
    assert '"filteredAttributes":[{"key":"user"' in rows[0][2]


def test_gauge_series_per_attribute_set(metrics: Store) -> None:
    series = metric_series(metrics, "temp", start=T0, end=T0 + 9 * MINUTE, step=5 * MINUTE)
    assert series == [
        {
            "labels": {"service.name": "svc", "room": "a", "floor": "1"},
            "points": [[T0, 22.0], [T0 + 5 * MINUTE, 27.0]],
        },
        {
            "labels": {"service.name": "svc", "room": "b", "floor": "1"},
            "points": [[T0, 12.0], [T0 + 5 * MINUTE, 17.0]],
        },
    ]


@pytest.mark.parametrize(
    ("aggregation", "first", "second"),
    [("avg", 17.0, 22.0), ("sum", 170.0, 220.0), ("min", 10.0, 15.0), ("max", 24.0, 29.0)],
)
def test_gauge_aggregations_grouped(
    metrics: Store, aggregation: str, first: float, second: float
) -> None:
    series = metric_series(
        metrics,
        "temp",
        start=T0,
        end=T0 + 9 * MINUTE,
        step=5 * MINUTE,
        aggregation=aggregation,
        group_by=["floor"],
    )
    assert series == [
        {"labels": {"floor": "1"}, "points": [[T0, first], [T0 + 5 * MINUTE, second]]}
    ]


def test_series_filters_and_count(metrics: Store) -> None:
    series = metric_series(
        metrics,
        "temp",
        start=T0 + MINUTE,
        end=T0 + 3 * MINUTE,
        step=MINUTE,
        aggregation="count",
        attributes={"room": "b"},
        group_by=["service.name", "missing"],
    )
    assert series == [
        {
            "labels": {"service.name": "svc"},
            "points": [[T0 + MINUTE, 1], [T0 + 2 * MINUTE, 1], [T0 + 3 * MINUTE, 1]],
        }
    ]
    assert (
        metric_series(metrics, "temp", start=T0, end=NOW, step=MINUTE, attributes={"room": "c"})
        == []
    )
    # a resource attribute filters too
    by_service = metric_series(
        metrics, "temp", start=T0, end=T0, step=MINUTE, attributes={"service.name": "svc"}
    )
    assert len(by_service) == 2


def test_rate_of_a_cumulative_counter_with_a_reset(metrics: Store) -> None:
    series = metric_series(
        metrics, "requests", start=T0 + MINUTE, end=T0 + 9 * MINUTE, step=MINUTE, aggregation="rate"
    )
    (only,) = series
    rates = dict((int(t), v) for t, v in only["points"])
    # +10 a minute everywhere; at the reset (minute 5) the new total (10) is the increase
    assert rates == {T0 + m * MINUTE: pytest.approx(10 / 60) for m in range(1, 10)}


def test_rate_of_a_delta_sum(metrics: Store) -> None:
    (only,) = metric_series(
        metrics, "bytes", start=T0, end=T0 + 9 * MINUTE, step=5 * MINUTE, aggregation="rate"
    )
    assert only["points"] == [[T0, 10.0], [T0 + 5 * MINUTE, 10.0]]  # 5 x 600 B per 300 s


def test_series_argument_errors(metrics: Store) -> None:
    with pytest.raises(ValueError, match="aggregation"):
        metric_series(metrics, "temp", start=T0, end=NOW, step=MINUTE, aggregation="median")
    with pytest.raises(ValueError, match="step"):
        metric_series(metrics, "temp", start=T0, end=NOW, step=0)
    with pytest.raises(ValueError, match="end"):
        metric_series(metrics, "temp", start=NOW, end=T0, step=MINUTE)
    with pytest.raises(ValueError, match="step"):
        metric_histogram(metrics, "latency", start=T0, end=NOW, step=-1)
    with pytest.raises(ValueError, match="quantiles"):
        metric_histogram(metrics, "latency", start=T0, end=NOW, quantiles=(2.0,))


def test_explicit_histogram_over_a_range(metrics: Store) -> None:
    # minutes 2..9 of a series that started before: minute 2 is the baseline, 7 increases
    result = metric_histogram(metrics, "latency", start=T0 + 2 * MINUTE, end=T0 + 9 * MINUTE)
    assert result["type"] == "histogram"
    assert result["unit"] == "ms"
    assert result["count"] == 28
    assert result["sum"] == pytest.approx(2800.0)
    assert (result["min"], result["max"]) == (1.0, 900.0)
    assert result["buckets"] == [
        {"lower": None, "upper": 10.0, "count": 7},
        {"lower": 10.0, "upper": 100.0, "count": 14},
        {"lower": 100.0, "upper": 1000.0, "count": 7},
    ]
    q = result["quantiles"]
    # p50: rank 14 of 28 lies in (10, 100] at 7/14 -> 55
    assert q["p50"] == pytest.approx(55.0)
    # p90, p99: ranks 25.2 and 27.72 lie in (100, 1000], which the observed max cuts to
    # (100, 900]: interpolated there, not clamped to the max
    assert q["p90"] == pytest.approx(100 + 800 * (25.2 - 21) / 7)
    assert q["p99"] == pytest.approx(100 + 800 * (27.72 - 21) / 7)
    assert result["series"] == []


def test_explicit_histogram_whole_series_and_steps(metrics: Store) -> None:
    # the range covers the series' start: its first point counts whole
    result = metric_histogram(
        metrics,
        "latency",
        start=T0 - MINUTE,
        end=T0 + 9 * MINUTE,
        step=5 * MINUTE,
        quantiles=(0.5,),
    )
    assert result["count"] == 40
    # steps [T0 - 1m, T0 + 4m), [T0 + 4m, T0 + 9m), [T0 + 9m, ...): 4, 5 and 1 points
    assert [s["count"] for s in result["series"]] == [16, 20, 4]
    assert [s["time"] for s in result["series"]] == [
        T0 - MINUTE,
        T0 + 4 * MINUTE,
        T0 + 9 * MINUTE,
    ]
    assert result["series"][0]["quantiles"] == {"p50": pytest.approx(55.0)}


def test_exponential_histogram(metrics: Store) -> None:
    result = metric_histogram(metrics, "size", start=T0, end=T0 + MINUTE)
    assert result["type"] == "exponential_histogram"
    assert result["count"] == 12
    assert result["sum"] == pytest.approx(35.0)
    # merged at scale 0: zero bucket, (1,2]: 4, (2,4]: 4 + 2
    assert result["buckets"] == [
        {"lower": -0.5, "upper": 0.5, "count": 2},
        {"lower": 1.0, "upper": 2.0, "count": 4},
        {"lower": 2.0, "upper": 4.0, "count": 6},
    ]
    assert result["quantiles"]["p50"] == pytest.approx(1.0 + (6 - 2) / 4)


def test_summary(metrics: Store) -> None:
    result = metric_histogram(metrics, "rpc", start=T0, end=NOW, quantiles=(0.5, 0.99, 0.9))
    assert result["type"] == "summary"
    assert result["count"] == 11
    assert result["sum"] == 20.0
    assert result["quantiles"] == {"p50": 2.0, "p99": 9.0, "p90": None}


def test_histogram_of_nothing(metrics: Store) -> None:
    result = metric_histogram(metrics, "latency", start=NOW + MINUTE, end=NOW + 2 * MINUTE)
    assert result["count"] == 0
    assert result["buckets"] == []
    assert result["quantiles"] == {"p50": None, "p90": None, "p99": None}


def test_sdk_encoded_metrics(store: Store) -> None:
    reader = InMemoryMetricReader()
    provider = MeterProvider(
        resource=Resource.create({"service.name": "py-app"}), metric_readers=[reader]
    )
    meter = provider.get_meter("my.meter")
    counter = meter.create_counter("jobs", unit="1", description="jobs done")
    histogram = meter.create_histogram("duration", unit="s")
    counter.add(3, {"queue": "q1"})
    counter.add(4, {"queue": "q1"})
    for value in (0.002, 0.3, 7.0):
        histogram.record(value, {"queue": "q1"})
    data = reader.get_metrics_data()
    assert data is not None
    store.write(Signal.METRICS, encode_metrics(data))
    store.flush()
    names = {m["name"]: m for m in metric_names(store)}
    assert names["jobs"]["type"] == "sum"
    assert names["jobs"]["monotonic"] is True
    assert names["jobs"]["description"] == "jobs done"
    assert names["jobs"]["attribute_keys"] == ["queue"]
    assert names["duration"]["type"] == "histogram"
    now = store.query("SELECT max(time) FROM metric_points")[0][0]
    (series,) = metric_series(store, "jobs", start=now, end=now, step=SECOND, aggregation="max")
    assert series["points"] == [[now, 7.0]]
    result = metric_histogram(store, "duration", start=0, end=now)
    assert result["count"] == 3
    assert result["sum"] == pytest.approx(7.302)
    assert sum(b["count"] for b in result["buckets"]) == 3
    assert not math.isnan(result["quantiles"]["p50"] or math.nan)
