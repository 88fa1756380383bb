"""Hypothesis strategies building real OpenTelemetry SDK objects: spans, log records, metrics."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st
from opentelemetry.attributes import BoundedAttributes
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
