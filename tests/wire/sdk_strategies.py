"""Hypothesis strategies building real OpenTelemetry SDK objects: spans, log records, metrics."""

from __future__ import annotations

import warnings
from typing import Any

from hypothesis import strategies as st
from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk.metrics import Exemplar
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Buckets,
    ExponentialHistogram,
    ExponentialHistogramDataPoint,
    Gauge,
    Histogram,
    HistogramDataPoint,
    Metric,
    MetricsData,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
    Sum,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util import BoundedList
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.trace.span import TraceState

INT64 = st.integers(-(1 << 63), (1 << 63) - 1)
UINT64 = st.integers(0, (1 << 64) - 1)
TIMESTAMPS = st.none() | st.just(0) | st.integers(1, (1 << 63) - 1)
# keys repeat across items, as in real data, so the encoders' caches see hits and misses
KEYS = st.sampled_from(["service.name", "http.method", "k", "", "ключ", "a.b.c"]) | st.text(
    max_size=8
)
FLOATS = st.floats(allow_nan=False) | st.sampled_from([0.0, -0.0, 1.0, float("inf")])
SCALARS = (
    st.text(max_size=10)
    | st.booleans()
    | INT64
    | st.integers(-3, 300)
    | FLOATS
    | st.sampled_from(["GET", "POST", "", True, False, 1, 0, 1.0, 0.0])
)
HOMOGENEOUS = (
    st.tuples(st.text(max_size=4), st.text(max_size=4))
    | st.lists(st.booleans(), max_size=3).map(tuple)
    | st.lists(INT64, max_size=3).map(tuple)
    | st.lists(FLOATS, max_size=3).map(tuple)
)
ATTRIBUTE_VALUES = SCALARS | HOMOGENEOUS | st.binary(max_size=8)

# log bodies and log attributes may nest maps and sequences
ANY_VALUES = st.recursive(
    st.none() | SCALARS | st.binary(max_size=6),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)


def attributes(values: st.SearchStrategy[Any] = ATTRIBUTE_VALUES) -> st.SearchStrategy[Any]:
    """Plain dicts, or BoundedAttributes that dropped some (a dropped count to encode)."""
    plain = st.dictionaries(KEYS, values, max_size=5)
    # BoundedAttributes drops (and logs) empty keys itself: give it valid ones
    valid = st.dictionaries(KEYS.filter(bool), values, max_size=5)
    bounded = st.builds(
        lambda items, limit: BoundedAttributes(maxlen=limit, attributes=items, immutable=True),
        valid,
        st.integers(0, 4),
    )
    return st.none() | plain | bounded


def _resource(attrs: dict[str, Any], schema_url: str) -> Resource:
    return Resource(attrs, schema_url)


RESOURCES = st.sampled_from(
    [
        Resource({"service.name": "a"}),
        Resource({"service.name": "a"}),  # equal to the first, another object
        Resource({"service.name": "b", "n": 3}, "https://opentelemetry.io/schemas/1.21.0"),
        Resource({}),
    ]
) | st.builds(
    _resource, st.dictionaries(KEYS, SCALARS, max_size=3), st.sampled_from(["", "https://s/1"])
)
SCOPES = st.sampled_from(
    [
        InstrumentationScope("lib"),
        InstrumentationScope("lib"),
        InstrumentationScope("lib", "1.0", "https://s/2", {"scope.attr": "x"}),
        InstrumentationScope("other", None, None, {}),
        InstrumentationScope(""),
    ]
) | st.builds(
    InstrumentationScope,
    st.text(max_size=5),
    st.none() | st.text(max_size=3),
    st.none() | st.text(max_size=3),
    st.none() | st.dictionaries(KEYS, SCALARS, max_size=2),
)

TRACE_STATES = st.sampled_from(
    [TraceState(), TraceState([("vendor", "value")]), TraceState([("a", "1"), ("b", "2")])]
)
CONTEXTS = st.builds(
    SpanContext,
    trace_id=st.integers(1, (1 << 128) - 1),
    span_id=st.integers(1, (1 << 64) - 1),
    is_remote=st.booleans(),
    trace_flags=st.sampled_from([TraceFlags(0), TraceFlags(1)]),
    trace_state=TRACE_STATES,
)
EVENTS = st.builds(
    Event,
    name=st.text(max_size=6),
    attributes=attributes(),
    timestamp=st.integers(0, (1 << 63) - 1),
)
LINKS = st.builds(Link, context=CONTEXTS, attributes=attributes())
STATUSES = st.sampled_from(
    [
        Status(StatusCode.UNSET),
        Status(StatusCode.OK),
        Status(StatusCode.ERROR),
        Status(StatusCode.ERROR, "boom"),
        Status(StatusCode.ERROR, "ünïcode " * 30),
    ]
)


def _bounded(items: list[Any], limit: int | None) -> Any:
    bounded: BoundedList = BoundedList(limit)
    for item in items:
        bounded.append(item)
    return bounded


def sequences(items: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Tuples, or BoundedLists that dropped some items."""
    return st.lists(items, max_size=3).map(tuple) | st.builds(
        _bounded, st.lists(items, max_size=3), st.none() | st.integers(0, 2)
    )


SPANS = st.builds(
    ReadableSpan,
    name=st.text(max_size=10) | st.just("x" * 200),
    context=CONTEXTS,
    parent=st.none() | CONTEXTS,
    resource=RESOURCES,
    attributes=attributes(),
    events=sequences(EVENTS),
    links=sequences(LINKS),
    kind=st.sampled_from(list(SpanKind)),
    status=STATUSES,
    start_time=TIMESTAMPS,
    end_time=TIMESTAMPS,
    instrumentation_scope=st.none() | SCOPES,
)


def _log_record(
    timestamp: int | None,
    observed: int | None,
    trace_id: int,
    span_id: int,
    flags: int,
    severity: SeverityNumber | None,
    text: str | None,
    body: Any,
    attrs: Any,
    event_name: str | None,
    resource: Resource,
    scope: InstrumentationScope | None,
) -> ReadableLogRecord:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        record = LogRecord(
            timestamp=timestamp,
            observed_timestamp=observed,
            trace_id=trace_id,
            span_id=span_id,
            trace_flags=TraceFlags(flags),
            severity_number=severity,
            severity_text=text,
            body=body,
            attributes=attrs,
        )
    record.event_name = event_name
    return ReadableLogRecord(log_record=record, resource=resource, instrumentation_scope=scope)


LOG_RECORDS = st.builds(
    _log_record,
    timestamp=TIMESTAMPS,
    observed=st.integers(0, (1 << 64) - 1),
    trace_id=st.just(0) | st.integers(1, (1 << 128) - 1),
    span_id=st.just(0) | st.integers(1, (1 << 64) - 1),
    flags=st.sampled_from([0, 1]),
    severity=st.none() | st.sampled_from(list(SeverityNumber)),
    text=st.none() | st.sampled_from(["INFO", "", "ERROR"]),
    body=ANY_VALUES,
    attrs=attributes(ANY_VALUES),
    event_name=st.none() | st.sampled_from(["", "browser.page_view", "e"]),
    resource=RESOURCES,
    scope=st.none() | SCOPES,
)


NUMBERS = INT64 | FLOATS
EXEMPLARS = st.builds(
    Exemplar,
    filtered_attributes=attributes(SCALARS),
    value=NUMBERS,
    time_unix_nano=st.integers(0, (1 << 64) - 1),
    span_id=st.none() | st.just(0) | st.integers(1, (1 << 64) - 1),
    trace_id=st.none() | st.just(0) | st.integers(1, (1 << 128) - 1),
)
_POINT_COMMON = {
    "attributes": attributes(SCALARS),
    "start_time_unix_nano": st.integers(0, (1 << 64) - 1),
    "time_unix_nano": st.integers(0, (1 << 64) - 1),
    "exemplars": st.lists(EXEMPLARS, max_size=2),
}
NUMBER_POINTS = st.builds(NumberDataPoint, value=NUMBERS, **_POINT_COMMON)
OPTIONAL_FLOATS = st.none() | FLOATS
HISTOGRAM_POINTS = st.builds(
    HistogramDataPoint,
    count=UINT64,
    sum=st.none() | NUMBERS,
    bucket_counts=st.lists(UINT64, max_size=4),
    explicit_bounds=st.lists(FLOATS, max_size=3),
    min=OPTIONAL_FLOATS,
    max=OPTIONAL_FLOATS,
    **_POINT_COMMON,
)
BUCKETS = st.builds(
    Buckets,
    offset=st.integers(-(1 << 31), (1 << 31) - 1),
    bucket_counts=st.lists(UINT64, max_size=4),
)
EXPONENTIAL_POINTS = st.builds(
    ExponentialHistogramDataPoint,
    count=UINT64,
    sum=st.none() | NUMBERS,
    scale=st.integers(-10, 20),
    zero_count=UINT64,
    positive=BUCKETS,
    negative=BUCKETS,
    flags=st.integers(0, 1),
    min=OPTIONAL_FLOATS,
    max=OPTIONAL_FLOATS,
    **_POINT_COMMON,
)
TEMPORALITIES = st.sampled_from(list(AggregationTemporality))
METRIC_DATA = (
    st.builds(Gauge, data_points=st.lists(NUMBER_POINTS, max_size=3))
    | st.builds(
        Sum,
        data_points=st.lists(NUMBER_POINTS, max_size=3),
        aggregation_temporality=TEMPORALITIES,
        is_monotonic=st.booleans(),
    )
    | st.builds(
        Histogram,
        data_points=st.lists(HISTOGRAM_POINTS, max_size=2),
        aggregation_temporality=TEMPORALITIES,
    )
    | st.builds(
        ExponentialHistogram,
        data_points=st.lists(EXPONENTIAL_POINTS, max_size=2),
        aggregation_temporality=TEMPORALITIES,
    )
)
METRICS = st.builds(
    Metric,
    name=st.text(max_size=8),
    description=st.none() | st.text(max_size=5),
    unit=st.none() | st.sampled_from(["", "ms", "By", "{request}"]),
    data=METRIC_DATA,
)
SCOPE_METRICS = st.builds(
    ScopeMetrics,
    scope=SCOPES.filter(lambda scope: scope is not None),
    metrics=st.lists(METRICS, max_size=3),
    schema_url=st.sampled_from(["", "https://s/3"]),
)
METRICS_DATA = st.builds(
    MetricsData,
    resource_metrics=st.lists(
        st.builds(
            ResourceMetrics,
            resource=RESOURCES,
            scope_metrics=st.lists(SCOPE_METRICS, max_size=2, unique_by=lambda sm: sm.scope),
            schema_url=st.sampled_from(["", "https://s/4"]),
        ),
        max_size=3,
        unique_by=lambda rm: rm.resource,
    ),
)
