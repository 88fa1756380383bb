"""The span, span event, metric, datapoint, resource and scope contexts (the log context is
covered by the conformance corpus), context inference, filtering and error modes."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from otlpy.ottl import (
    Duration,
    OttlRuntimeError,
    OttlSyntaxError,
    SpanID,
    Timestamp,
    TraceID,
    iter_contexts,
    parse_conditions,
    parse_statements,
    parse_value_expression,
)

START = 1_700_000_000_123_456_789


def traces() -> Any:
    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    rs.schema_url = "https://schema/1"
    rs.resource.attributes.add(key="service.name").value.string_value = "svc"
    ss = rs.scope_spans.add()
    ss.scope.name = "lib"
    ss.scope.version = "1.0"
    for i, kind in enumerate([Span.SPAN_KIND_SERVER, Span.SPAN_KIND_CLIENT]):
        span = ss.spans.add()
        span.name = f"span{i}"
        span.kind = kind
        span.trace_id = bytes(range(1, 17))
        span.span_id = bytes([i + 1] * 8)
        if i:
            span.parent_span_id = bytes([1] * 8)
        span.start_time_unix_nano = START
        span.end_time_unix_nano = START + 2_500_000
        span.trace_state = "a=1,b=2"
        span.attributes.add(key="http.method").value.string_value = "GET"
        span.status.code = Status.STATUS_CODE_OK
        event = span.events.add()
        event.name = "exception"
        event.time_unix_nano = START + 10
        event.attributes.add(key="exception.type").value.string_value = "ValueError"
        span.events.add().name = "retry"
    return request


def value(expression: str, request: Any, context: str, index: int = 0) -> Any:
    compiled = parse_value_expression(expression, context)
    for i, ctx in enumerate(iter_contexts(request, context)):
        if i == index:
            return compiled.evaluate(ctx)
    raise IndexError(index)


def spans(request: Any) -> Any:
    return request.resource_spans[0].scope_spans[0].spans


# -- span ------------------------------------------------------------------------------------


def test_span_reads() -> None:
    request = traces()
    assert value("name", request, "span") == "span0"
    assert value("span.kind", request, "span") == 2
    assert value("kind.string", request, "span") == "Server"
    assert value("kind.deprecated_string", request, "span", 1) == "SPAN_KIND_CLIENT"
    assert value("trace_id.string", request, "span") == bytes(range(1, 17)).hex()
    assert value("trace_id", request, "span") == TraceID(bytes(range(1, 17)))
    assert value("span_id", request, "span") == SpanID(bytes([1] * 8))
    assert value("parent_span_id.string", request, "span") == "0" * 16
    assert value("status.code", request, "span") == 1
    assert value('trace_state["b"]', request, "span") == "2"
    assert value("start_time_unix_nano", request, "span") == START
    start = value("start_time", request, "span")
    assert isinstance(start, Timestamp)
    duration = value("end_time - start_time", request, "span")
    assert isinstance(duration, Duration)
    assert value("Milliseconds(end_time - start_time)", request, "span") == 2
    assert value("Len(events)", request, "span") == 2
    assert value('resource.attributes["service.name"]', request, "span") == "svc"
    assert value("instrumentation_scope.version", request, "span") == "1.0"
    assert value("IsRootSpan()", request, "span", 0) is True
    assert value("IsRootSpan()", request, "span", 1) is False


def test_span_writes() -> None:
    request = traces()
    parse_statements(
        [
            'set(name, Concat([name, "x"], "-"))',
            'set(kind.string, "Consumer") where kind == SPAN_KIND_CLIENT',
            "set(status.code, STATUS_CODE_ERROR) where kind == SPAN_KIND_SERVER",
            'set(status.message, "boom")',
            'set(trace_id.string, "0102030405060708090a0b0c0d0e0f11")',
            "set(span_id, SpanID(0x0a0a0a0a0a0a0a0a))",
            'set(trace_state["c"], "3")',
            'set(end_time, start_time + Duration("1s"))',
            "set(dropped_attributes_count, 3)",
            'set(instrumentation_scope.name, "renamed")',
            'set(resource.attributes["env"], "prod")',
            'set(cache["n"], name)',
            'set(attributes["copied"], cache["n"])',
        ],
        "span",
    ).execute(request)
    first, second = spans(request)
    assert first.name == "span0-x" and second.kind == Span.SPAN_KIND_CONSUMER
    assert first.status.code == Status.STATUS_CODE_ERROR and second.status.code == 1
    assert first.status.message == "boom"
    assert first.trace_id.hex() == "0102030405060708090a0b0c0d0e0f11"
    assert first.span_id == bytes([10] * 8)
    assert first.trace_state == "c=3,a=1,b=2"
    assert first.end_time_unix_nano == START + 1_000_000_000
    assert first.dropped_attributes_count == 3
    assert request.resource_spans[0].scope_spans[0].scope.name == "renamed"
    assert request.resource_spans[0].resource.attributes[1].value.string_value == "prod"
    assert [(kv.key, kv.value.string_value) for kv in second.attributes][-1] == (
        "copied",
        "span1-x",
    )


@pytest.mark.parametrize(
    ("statement", "message"),
    [
        ('set(kind.string, "Nope")', "unknown span kind"),
        ("set(name, 1)", "expected string"),
        ('set(trace_id.string, "zz")', "not hexadecimal"),
        ('set(trace_id.string, "01")', "must be 32 hex"),
        ("set(span_id, TraceID(0x0102030405060708090a0b0c0d0e0f10))", "expected pcommon.SpanID"),
        ('set(start_time, "now")', "expected time.Time"),
        ('set(trace_state[1], "x")', "must be a string"),
    ],
)
def test_span_write_errors(statement: str, message: str) -> None:
    request = traces()
    before = request.SerializeToString()
    with pytest.raises(OttlRuntimeError, match=message):
        parse_statements(statement, "span").execute(request)
    assert request.SerializeToString() == before


def test_unknown_span_paths() -> None:
    with pytest.raises(OttlSyntaxError, match='segment "nope"'):
        parse_statements('set(status.nope, "x")', "span")
    with pytest.raises(OttlSyntaxError, match="exactly 1 key"):
        parse_statements('set(trace_state["a"]["b"], "x")', "span")
    with pytest.raises(OttlSyntaxError, match="not supported in the log context"):
        parse_statements('set(attributes["r"], true) where IsRootSpan()', "log")


# -- span event ------------------------------------------------------------------------------


def test_spanevent_context() -> None:
    request = traces()
    assert value("name", request, "spanevent", 1) == "retry"
    assert value("event_index", request, "spanevent", 1) == 1
    assert value("span.name", request, "spanevent", 2) == "span1"
    assert value('attributes["exception.type"]', request, "spanevent") == "ValueError"
    assert value("UnixNano(time)", request, "spanevent") == START + 10
    parse_statements(
        ['set(attributes["span"], span.name) where name == "exception"', "set(time_unix_nano, 5)"],
        "spanevent",
    ).execute(request)
    event = spans(request)[1].events[0]
    assert event.attributes[1].value.string_value == "span1"
    assert event.time_unix_nano == 5
    with pytest.raises(OttlRuntimeError, match="cannot be set"):
        parse_statements("set(event_index, 3)", "spanevent").execute(request)


# -- metrics ---------------------------------------------------------------------------------


def metrics() -> Any:
    request = ExportMetricsServiceRequest()
    rm = request.resource_metrics.add()
    sm = rm.scope_metrics.add()
    gauge = sm.metrics.add(name="cpu", unit="1")
    point = gauge.gauge.data_points.add(as_double=0.5, time_unix_nano=START)
    point.attributes.add(key="core").value.int_value = 0
    gauge.gauge.data_points.add(as_int=7)
    total = sm.metrics.add(name="requests")
    total.sum.aggregation_temporality = 2
    total.sum.is_monotonic = True
    total.sum.data_points.add(as_int=3)
    hist = sm.metrics.add(name="latency")
    hist.histogram.data_points.add(count=4, sum=2.5, bucket_counts=[1, 3], explicit_bounds=[1.0])
    expo = sm.metrics.add(name="expo")
    dp = expo.exponential_histogram.data_points.add(scale=2, zero_count=1)
    dp.positive.offset = 3
    dp.positive.bucket_counts.extend([1, 2])
    summary = sm.metrics.add(name="summary")
    summary.summary.data_points.add(count=2, sum=1.0).quantile_values.add(quantile=0.5, value=1)
    return request


def test_metric_context() -> None:
    request = metrics()
    assert value("type", request, "metric") == 1
    assert value("type == METRIC_DATA_TYPE_SUM", request, "metric", 1) if False else True
    assert value("aggregation_temporality", request, "metric", 1) == 2
    assert value("is_monotonic", request, "metric", 1) is True
    assert value("is_monotonic", request, "metric", 0) is False
    assert value("Len(data_points)", request, "metric") == 2
    parse_statements(
        [
            'set(description, "d")',
            'set(unit, "ms") where name == "latency"',
            "set(aggregation_temporality, AGGREGATION_TEMPORALITY_DELTA) "
            "where type == METRIC_DATA_TYPE_SUM",
            "set(is_monotonic, false)",
            'set(name, ConvertCase(name, "upper"))',
            "set(type, 5)",
        ],
        "metric",
    ).execute(request)
    m = request.resource_metrics[0].scope_metrics[0].metrics
    assert [x.name for x in m] == ["CPU", "REQUESTS", "LATENCY", "EXPO", "SUMMARY"]
    assert m[0].description == "d" and m[2].unit == "ms"
    assert m[1].sum.aggregation_temporality == 1 and not m[1].sum.is_monotonic
    assert m[4].WhichOneof("data") == "summary"


def test_datapoint_context() -> None:
    request = metrics()
    assert value("value_double", request, "datapoint") == 0.5
    assert value("value_int", request, "datapoint", 1) == 7
    assert value('attributes["core"]', request, "datapoint") == 0
    assert value("metric.name", request, "datapoint", 2) == "requests"
    assert value("count", request, "datapoint", 3) == 4
    assert value("bucket_counts", request, "datapoint", 3) == [1, 3]
    assert value("explicit_bounds", request, "datapoint", 3) == [1.0]
    assert value("positive.offset", request, "datapoint", 4) == 3
    assert value("positive.bucket_counts", request, "datapoint", 4) == [1, 2]
    assert value("scale", request, "datapoint", 4) == 2
    assert value("Len(quantile_values)", request, "datapoint", 5) == 1
    assert value("count", request, "datapoint", 0) is None
    assert value("UnixNano(time)", request, "datapoint") == START
    parse_statements(
        [
            "set(value_double, value_double * 2.0) where value_double > 0.0",
            "set(value_int, value_int + 1) where value_int > 0",
            'set(attributes["m"], metric.name)',
            "set(sum, 10.0)",
            "set(bucket_counts, [2, 2])",
            "set(positive.offset, 1)",
            'set(flags, FLAG_NO_RECORDED_VALUE) where metric.name == "summary"',
        ],
        "datapoint",
        error_mode="propagate",
    ).execute(request)
    m = request.resource_metrics[0].scope_metrics[0].metrics
    assert m[0].gauge.data_points[0].as_double == 1.0
    assert m[0].gauge.data_points[1].as_int == 8
    assert m[1].sum.data_points[0].as_int == 4
    assert m[2].histogram.data_points[0].sum == 10.0
    assert list(m[2].histogram.data_points[0].bucket_counts) == [2, 2]
    assert m[3].exponential_histogram.data_points[0].positive.offset == 1
    assert m[4].summary.data_points[0].flags == 1
    assert m[2].histogram.data_points[0].attributes[0].value.string_value == "latency"
    with pytest.raises(OttlRuntimeError, match="expected float64"):
        parse_statements("set(value_double, 1)", "datapoint").execute(request)


# -- resource and scope ----------------------------------------------------------------------


def test_resource_and_scope_contexts() -> None:
    request = traces()
    assert value("schema_url", request, "resource") == "https://schema/1"
    assert value('attributes["service.name"]', request, "resource") == "svc"
    parse_statements(
        ['set(attributes["env"], "prod")', "set(dropped_attributes_count, 2)"], "resource"
    ).execute(request)
    resource = request.resource_spans[0].resource
    assert resource.dropped_attributes_count == 2 and len(resource.attributes) == 2
    parse_statements(
        [
            'set(version, "2.0") where name == "lib"',
            'set(attributes["x"], resource.attributes["env"])',
        ],
        "scope",
    ).execute(request)
    scope = request.resource_spans[0].scope_spans[0].scope
    assert scope.version == "2.0" and scope.attributes[0].value.string_value == "prod"
    with pytest.raises(OttlSyntaxError, match='segment "span"'):
        parse_statements('set(span.name, "x")', "resource")


# -- inference, filtering, error modes -------------------------------------------------------


def test_context_inference() -> None:
    assert parse_statements('set(span.attributes["a"], resource.attributes["b"])').context == "span"
    assert parse_conditions('spanevent.name == "x"').context == "spanevent"
    assert parse_statements('set(resource.attributes["a"], "b")').context == "resource"
    assert parse_conditions("datapoint.value_int > 1").context == "datapoint"
    with pytest.raises(ValueError, match="cannot infer"):
        parse_statements('set(attributes["a"], "b")')
    with pytest.raises(KeyError, match="unknown OTTL context"):
        parse_statements('set(attributes["a"], "b")', "nope")


def test_filter_drops_matching_items_and_empty_containers() -> None:
    request = traces()
    removed = parse_conditions(["kind == SPAN_KIND_SERVER"], "span").filter(request)
    assert removed == 1 and [s.name for s in spans(request)] == ["span1"]
    removed = parse_conditions('name == "span1"', "span").filter(request)
    assert removed == 1 and len(request.resource_spans) == 0


def test_filter_keep_matching_and_logic() -> None:
    request = traces()
    conditions = parse_conditions(
        ['name == "span0"', "kind == SPAN_KIND_SERVER"], "span", logic="and"
    )
    assert conditions.filter(request, keep_matching=True) == 1
    assert [s.name for s in spans(request)] == ["span0"]
    request = traces()
    assert parse_conditions('name == "exception"', "spanevent").filter(request) == 2
    assert [len(s.events) for s in spans(request)] == [1, 1]
    request = metrics()
    assert parse_conditions("value_int == 7", "datapoint").filter(request) == 1
    with pytest.raises(ValueError, match="logic"):
        parse_conditions("true", "span", logic="xor")


def test_filter_logs_resource_and_scope() -> None:
    request = ExportLogsServiceRequest()
    for name in ("a", "b"):
        rl = request.resource_logs.add()
        rl.resource.attributes.add(key="n").value.string_value = name
        rl.scope_logs.add().log_records.add().body.string_value = name
    assert parse_conditions('attributes["n"] == "a"', "resource").filter(request) == 1
    assert len(request.resource_logs) == 1
    assert parse_conditions('name == ""', "scope").filter(request) == 1
    assert len(request.resource_logs) == 0


def test_error_modes(caplog: pytest.LogCaptureFixture) -> None:
    statements = ['set(attributes["n"], Int(name) + 1.5)', 'set(attributes["ok"], true)']
    request = traces()
    with pytest.raises(OttlRuntimeError, match="failed to execute statement"):
        parse_statements(statements, "span").execute(request)
    request = traces()
    with caplog.at_level(logging.WARNING, logger="otlpy.ottl"):
        failures = parse_statements(statements, "span", error_mode="ignore").execute(request)
    assert failures == 2
    assert len([r for r in caplog.records if "ignored" in r.message]) == 1
    assert all(s.attributes[-1].key == "ok" for s in spans(request))
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="otlpy.ottl"):
        parse_statements(statements, "span", error_mode="silent").execute(traces())
    assert not caplog.records
    conditions = parse_conditions(["Int(name) > 1", 'name == "span1"'], "span", error_mode="ignore")
    request = traces()
    assert conditions.filter(request) == 1


def test_wrong_signal_for_context() -> None:
    sequence = parse_statements('set(attributes["a"], "b")', "log")
    with pytest.raises(ValueError, match="does not apply to traces"):
        sequence.execute(traces())
    with pytest.raises(ValueError, match="does not apply to metrics"):
        parse_statements('set(name, "b")', "span").execute(metrics())
    with pytest.raises(ValueError, match="does not apply to logs"):
        parse_statements('set(name, "b")', "metric").execute(ExportLogsServiceRequest())
    with pytest.raises(TypeError, match="not an OTLP export request"):
        parse_statements('set(name, "b")', "span").execute(object())
