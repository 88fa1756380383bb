"""Histogram arithmetic: buckets of explicit and exponential histograms, increases between
cumulative points, merging, and percentile estimates."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence

__all__ = [
    "Buckets",
    "explicit_buckets",
    "exponential_buckets",
    "increase",
    "quantile",
]

# Bucket counts keyed by (lower, upper) bound; bounds may be infinite.
Buckets = Counter[tuple[float, float]]


def explicit_buckets(bounds: Sequence[float], counts: Sequence[int]) -> Buckets:
    """Buckets of an explicit-bounds histogram point: ``(-inf, b0], (b0, b1], ... (bn, inf)``."""
    edges = [-math.inf, *bounds, math.inf]
    out: Buckets = Counter()
    for i, count in enumerate(counts[: len(edges) - 1]):
        if count:
            out[(edges[i], edges[i + 1])] += count
    return out


def exponential_buckets(
    scale: int,
    zero_count: int,
    zero_threshold: float,
    positive: tuple[int, Sequence[int]],
    negative: tuple[int, Sequence[int]],
    target_scale: int,
) -> Buckets:
    """Buckets of an exponential histogram point, downscaled to ``target_scale`` (at most
    ``scale``) so that points of different scales can be merged."""
    shift = scale - target_scale
    base = 2.0 ** (2.0**-target_scale)
    out: Buckets = Counter()
    if zero_count:
        out[(-zero_threshold, zero_threshold)] += zero_count
    for sign, (offset, counts) in ((1, positive), (-1, negative)):
        for i, count in enumerate(counts):
            if not count:
                continue
            index = (offset + i) >> shift
            lower, upper = base**index, base ** (index + 1)
            if sign > 0:
                out[(lower, upper)] += count
            else:
                out[(-upper, -lower)] += count
    return out


def increase(previous: Buckets | None, current: Buckets) -> Buckets:
    """What a cumulative point added since ``previous``; all of it after a reset."""
    if previous is None:
        return current
    out: Buckets = Counter()
    for key, count in current.items():
        delta = count - previous.get(key, 0)
        if delta < 0:
            return current
        if delta:
            out[key] = delta
    if any(key not in current for key in previous):
        return current
    return out


def merge(parts: Iterable[Buckets]) -> Buckets:
    """The sum of several bucket sets."""
    out: Buckets = Counter()
    for part in parts:
        out.update(part)
    return out


def quantile(
    buckets: Buckets, q: float, *, low: float | None = None, high: float | None = None
) -> float | None:
    """Estimate the ``q`` quantile (0..1) by linear interpolation inside the bucket that
    holds it, as Prometheus's ``histogram_quantile`` does. None when there are no observations.

    ``low``/``high`` are the observed min and max, when known. They narrow the bucket that is
    interpolated in (an open bucket gets them as its bounds; a bucket that reaches past them
    is cut at them), so the estimate stays inside what was observed without piling up on
    the max. Without them an open first bucket starts at 0 (when its upper bound is
    positive) and an open last bucket answers its lower bound.

    >>> quantile(Counter({(0.0, 10.0): 4}), 0.5)
    5.0
    >>> quantile(Counter({(0.0, 10.0): 4}), 0.5, high=6.0)
    3.0
    """
    total = sum(buckets.values())
    if total <= 0:
        return None
    rank = q * total
    seen = 0.0
    ordered = sorted(buckets.items(), key=lambda item: (item[0][1], item[0][0]))
    estimate = ordered[-1][0][0]
    for (lower, upper), count in ordered:
        if seen + count >= rank:
            # the observed extremes bound the bucket when they fall inside it
            bottom = low if low is not None and lower < low < upper else lower
            top = high if high is not None and lower < high < upper else upper
            if math.isinf(bottom):
                bottom = 0.0 if top > 0 else top
            if math.isinf(top):
                top = bottom
            estimate = bottom + (top - bottom) * ((rank - seen) / count)
            break
        seen += count
    if low is not None:
        estimate = max(estimate, low)
    if high is not None:
        estimate = min(estimate, high)
    return estimate
