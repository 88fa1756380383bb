"""Rarer shapes the SDK encoders must still encode exactly as the official encoders do."""

from __future__ import annotations

import enum

import pytest
from opentelemetry.exporter.otlp.proto.common._internal.metrics_encoder import (
    encode_metrics as official_encode_metrics,
)
from opentelemetry.exporter.otlp.proto.common._internal.trace_encoder import (
    encode_spans as official_encode_spans,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.metrics import Exemplar
from opentelemetry.sdk.metrics.export import (
    Gauge,
    Metric,
    MetricsData,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext
from opentelemetry.trace.span import TraceState

from otlpy.wire import sdk_attributes, sdk_traces
from otlpy.wire.sdk_metrics import encode_metrics
from otlpy.wire.sdk_traces import encode_spans


class Color(enum.StrEnum):
    RED = "red"


class Size(enum.IntEnum):
    BIG = 3


class Ratio(float):
    pass


class MyContext(SpanContext):
    """A SpanContext subclass: read through properties, not tuple positions."""


class MyEvent(Event):
    @property
    def name(self) -> str:
        return "renamed"


def _span(**overrides: object) -> ReadableSpan:
    fields: dict[str, object] = {
        "name": "s",
        "context": SpanContext(1, 2, False, trace_state=TraceState([("k", "v")])),
        "resource": Resource({"service.name": "x"}),
    }
    fields.update(overrides)
    return ReadableSpan(**fields)  # type: ignore[arg-type]


def test_subclassed_values_and_long_strings() -> None:
    span = _span(
        attributes={
            "enum.str": Color.RED,
            "enum.int": Size.BIG,
            "float.sub": Ratio(0.5),
            "long": "x" * 300,
            "negative": -5,
            "bytes": b"\x00\x01",
            "nested": {"a": [1, "b"], 2: None},
        }
    )
    for _ in range(2):  # the second time, from the caches
        assert encode_spans([span]) == official_encode_spans([span]).SerializeToString()


def test_context_subclass_parent_and_trace_state() -> None:
    parent = MyContext(1, 9, True)
    spans = [
        _span(context=MyContext(1, 2, False, trace_state=TraceState([("a", "b")])), parent=parent),
        _span(parent=SpanContext(1, 9, True)),
        _span(parent=parent),
    ]
    ours = encode_spans(spans)
    assert ours == official_encode_spans(spans).SerializeToString()
    decoded = ExportTraceServiceRequest.FromString(ours).resource_spans[0].scope_spans[0].spans
    assert [span.trace_state for span in decoded] == ["a=b", "k=v", "k=v"]
    assert [span.flags for span in decoded] == [0x300, 0x300, 0x300]


def test_event_subclass_uses_its_properties() -> None:
    span = _span(events=(MyEvent("original", {"k": 1}, timestamp=5), Event("", None, 0)))
    ours = encode_spans([span])
    assert ours == official_encode_spans([span]).SerializeToString()
    decoded = ExportTraceServiceRequest.FromString(ours).resource_spans[0].scope_spans[0].spans[0]
    assert decoded.events[0].name == "renamed"


def test_name_caches_are_bounded() -> None:
    spans = [_span(name=f"op-{i}", events=(Event(f"e-{i}", None, 1),)) for i in range(5000)]
    assert encode_spans(spans) == official_encode_spans(spans).SerializeToString()
    assert len(sdk_traces._SPAN_NAMES) <= 4096
    # ended spans without a trace state take the one-pack path, with a packer per name
    ended = [
        _span(name=f"op-{i}", context=SpanContext(1, 2, False), start_time=5, end_time=9)
        for i in range(1500)
    ]
    assert encode_spans(ended) == official_encode_spans(ended).SerializeToString()
    assert len(sdk_traces._SPAN_HEADS) <= 1024
    assert len(sdk_traces._EVENT_NAMES) <= 1024


def test_exemplar_with_a_value_that_is_not_a_number() -> None:
    exemplar = Exemplar({}, "1", 0)  # type: ignore[arg-type]
    point = NumberDataPoint({}, 0, 1, 2, exemplars=[exemplar])
    metric = Metric("m", None, None, Gauge([point]))
    data = MetricsData(
        [ResourceMetrics(Resource({}), [ScopeMetrics(InstrumentationScope("s"), [metric], "")], "")]
    )
    with pytest.raises(ValueError, match="int or float"):
        encode_metrics(data)
    with pytest.raises(Exception, match="int or float"):
        official_encode_metrics(data)


def test_grouping_follows_hash_and_equality_like_the_official_encoder() -> None:
    # equal (0 == False) but hashed differently: two resources, each keeping its own attributes
    zero, false = Resource({"n": 0}), Resource({"n": False})
    # same name and version (same hash) but different attributes: unequal, two scopes
    plain, tagged = (
        InstrumentationScope("lib", "1"),
        InstrumentationScope("lib", "1", None, {"a": 1}),
    )
    spans = [
        _span(resource=zero, instrumentation_scope=plain),
        _span(resource=false, instrumentation_scope=tagged),
        _span(resource=Resource({"n": 0}), instrumentation_scope=InstrumentationScope("lib", "1")),
    ]
    ours = encode_spans(spans)
    assert ours == official_encode_spans(spans).SerializeToString()
    message = ExportTraceServiceRequest.FromString(ours)
    values = [rs.resource.attributes[0].value for rs in message.resource_spans]
    assert [value.WhichOneof("value") for value in values] == ["int_value", "bool_value"]
    assert [len(rs.scope_spans[0].spans) for rs in message.resource_spans] == [2, 1]


def test_equal_values_of_different_types_are_cached_apart() -> None:
    # True == 1 == 1.0 and 0.0 == -0.0, with different encodings each
    values = [True, 1, 1.0, False, 0, 0.0, -0.0, "1", Size.BIG, 3]
    spans = [_span(attributes={"v": value}) for value in values]
    for _ in range(2):  # the second time, from the caches
        assert encode_spans(spans) == official_encode_spans(spans).SerializeToString()


def test_unhashable_values_in_a_plain_mapping() -> None:
    # a ReadableSpan made by hand keeps its dict as given: a list cannot be a cache key
    span = _span(attributes={"a": "x", "list": [1, "b"], "z": 2, "map": {"k": [True]}})
    for _ in range(2):
        assert encode_spans([span]) == official_encode_spans([span]).SerializeToString()


def test_keys_whose_values_never_repeat_stop_being_cached() -> None:
    encoder = sdk_attributes.AttributeEncoder(9)
    limit = sdk_attributes._CACHE_LIMIT
    for i in range(limit + 10):
        out: list[bytes] = []
        encoder.encode({"id": f"item-{i}", "route": f"/r/{i % 3}"}, out)
        assert out[0].endswith(f"item-{i}".encode()) and out[1].endswith(f"/r/{i % 3}".encode())
    # the cache filled up with ids once: now they are encoded every time, never cached
    assert encoder._uncached == {"id"}
    assert len(encoder._strings) < 10
    assert ("route", "/r/1") in encoder._strings
    assert not any(key == "id" for key, _ in encoder._strings)
