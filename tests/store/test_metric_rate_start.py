"""The rate of a cumulative counter whose series starts inside the queried window."""

from __future__ import annotations

import pytest
from opentelemetry.proto.metrics.v1.metrics_pb2 import Metric, NumberDataPoint

from otlpy.pdata import Signal
from otlpy.store import Store
from otlpy.store.queries import metric_series
from store_builders import NOW, SECOND, metrics_request

MINUTE = 60 * SECOND
CUMULATIVE = 2


def _counter(name: str, start: int, points: list[tuple[int, int]]) -> Metric:
    metric = Metric(name=name, unit="1")
    metric.sum.aggregation_temporality = CUMULATIVE
    metric.sum.is_monotonic = True
    for time, total in points:
        metric.sum.data_points.append(
            NumberDataPoint(start_time_unix_nano=start, time_unix_nano=time, as_int=total)
        )
    return metric


@pytest.mark.parametrize(
    ("series_start", "expected"),
    [
        # started within the window: everything it counted is new (12 in the first minute)
        (NOW - 90 * SECOND, {NOW - 2 * MINUTE: 12 / 60, NOW - MINUTE: 6 / 60}),
        # started long before: its first point in the window is only the baseline
        (NOW - 60 * MINUTE, {NOW - MINUTE: 6 / 60}),
    ],
)
def test_first_point_counts_when_the_series_started_in_the_window(
    store: Store, series_start: int, expected: dict[int, float]
) -> None:
    metric = _counter(
        "jobs", series_start, [(NOW - 2 * MINUTE + SECOND, 12), (NOW - MINUTE + SECOND, 18)]
    )
    store.write(Signal.METRICS, metrics_request("svc", [metric]))
    store.flush()
    (series,) = metric_series(
        store, "jobs", start=NOW - 2 * MINUTE, end=NOW, step=MINUTE, aggregation="rate"
    )
    assert {int(t): v for t, v in series["points"]} == pytest.approx(expected)
