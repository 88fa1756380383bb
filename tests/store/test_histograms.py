"""Histogram arithmetic: buckets, increases, merging, percentile estimates."""

from __future__ import annotations

import math
from collections import Counter

import pytest

from otlpy.store._histograms import (
    explicit_buckets,
    exponential_buckets,
    increase,
    merge,
    quantile,
)

INF = math.inf


def test_explicit_buckets_skip_empty_and_extra_counts() -> None:
    assert explicit_buckets([1.0, 2.0], [3, 0, 1, 99]) == Counter({(-INF, 1.0): 3, (2.0, INF): 1})
    assert explicit_buckets([], [5]) == Counter({(-INF, INF): 5})


def test_exponential_buckets_downscale() -> None:
    at_1 = exponential_buckets(1, 0, 0.0, (0, [1, 2, 3, 4]), (0, []), 1)
    base = 2**0.5
    assert at_1[(1.0, base)] == 1
    at_0 = exponential_buckets(1, 0, 0.0, (0, [1, 2, 3, 4]), (0, []), 0)
    assert at_0 == Counter({(1.0, 2.0): 3, (2.0, 4.0): 7})
    negative = exponential_buckets(0, 3, 0.0, (0, []), (1, [0, 5]), 0)
    assert negative == Counter({(0.0, 0.0): 3, (-8.0, -4.0): 5})


def test_increase() -> None:
    before = Counter({(0.0, 1.0): 2, (1.0, 2.0): 3})
    after = Counter({(0.0, 1.0): 5, (1.0, 2.0): 3})
    assert increase(before, after) == Counter({(0.0, 1.0): 3})
    assert increase(None, after) == after
    # a count went down: a reset, so the new point counts whole
    assert increase(after, before) == before
    # a bucket disappeared: the layout changed, count the new point whole
    assert increase(before, Counter({(0.0, 1.0): 9})) == Counter({(0.0, 1.0): 9})


def test_merge() -> None:
    assert merge([Counter({(0.0, 1.0): 1}), Counter({(0.0, 1.0): 2, (1.0, 2.0): 1})]) == Counter(
        {(0.0, 1.0): 3, (1.0, 2.0): 1}
    )


def test_quantiles() -> None:
    buckets = Counter({(-INF, 10.0): 10, (10.0, 20.0): 10, (20.0, INF): 10})
    assert quantile(Counter(), 0.5) is None
    # the first bucket's open bound is taken as 0 when its upper bound is positive
    assert quantile(buckets, 0.1) == pytest.approx(3.0)
    assert quantile(buckets, 0.5) == pytest.approx(15.0)
    # the last bucket's open bound: its lower bound, or the observed max
    assert quantile(buckets, 0.9) == pytest.approx(20.0)
    assert quantile(buckets, 0.9, high=50.0) == pytest.approx(20.0 + 30.0 * 0.7)
    assert quantile(buckets, 0.1, low=5.0) == pytest.approx(5.0 + 5.0 * 0.3)
    assert quantile(buckets, 0.0, low=7.0) == pytest.approx(7.0)
    assert quantile(Counter({(-INF, -5.0): 4}), 0.5) == -5.0
    assert quantile(buckets, 1.0, high=25.0) == 25.0


def test_quantile_interpolates_inside_the_bucket_cut_at_the_observed_extremes() -> None:
    """Five observations in the SDK's (250, 500] bucket, the largest 300.

    Prometheus interpolates in (250, 500]; knowing nothing went past 300 narrows that to
    (250, 300]. Rank q * 5 of 5 observations is q of the way through it: p50 = 250 + 50 *
    0.5 = 275, p90 = 250 + 50 * 0.9 = 295, p99 = 250 + 50 * 0.99 = 299.5. (Interpolating in
    the whole bucket and clamping to the max gave 300 for all three.)
    """
    bounds = [0.0, 5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 250.0, 500.0, 750.0, 1000.0]
    counts = [0] * 8 + [5, 0, 0, 0]
    buckets = explicit_buckets(bounds, counts)
    assert buckets == Counter({(250.0, 500.0): 5})
    assert quantile(buckets, 0.5, high=300.0) == pytest.approx(275.0)
    assert quantile(buckets, 0.9, high=300.0) == pytest.approx(295.0)
    assert quantile(buckets, 0.99, high=300.0) == pytest.approx(299.5)
    # without the extremes: Prometheus's answer, 250 + 250 * q
    assert quantile(buckets, 0.5) == pytest.approx(375.0)
    assert quantile(buckets, 0.9) == pytest.approx(475.0)
    # the observed min narrows the bottom: (270, 300] for values 270..300
    assert quantile(buckets, 0.2, low=270.0, high=300.0) == pytest.approx(276.0)
    # two buckets, 4 and 6 observations, min 2, max 12: rank 0.25 * 10 = 2.5 is 2.5 of 4
    # through (2, 5] -> 2 + 3 * 2.5 / 4 = 3.875; rank 9 is 5 of 6 through (5, 12] -> 5 + 7 *
    # 5 / 6 = 10.8333...
    two = explicit_buckets([5.0, 20.0], [4, 6, 0])
    assert quantile(two, 0.25, low=2.0, high=12.0) == pytest.approx(3.875)
    assert quantile(two, 0.9, low=2.0, high=12.0) == pytest.approx(5.0 + 7.0 * 5.0 / 6.0)
