from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import orjson
import pytest
from google.protobuf import json_format
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.metrics.v1.metrics_pb2 import HistogramDataPoint, SummaryDataPoint
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from wire_strategies import base64_ids_to_hex, hex_ids_to_base64, messages

from otlpy.errors import PermanentError
from otlpy.pdata import Signal, request_type
from otlpy.wire.otlp_json import (
    decode_request,
    encode_request,
    encode_request_to_dict,
    json_to_protobuf,
)

# the workspace's shared/otlp-examples, found from here (in the main checkout or a worktree)
EXAMPLES = next(
    parent / "shared" / "otlp-examples"
    for parent in Path(__file__).resolve().parents
    if (parent / "shared" / "otlp-examples").is_dir()
)
EXAMPLE_SIGNALS = {
    "trace.json": Signal.TRACES,
    "metrics.json": Signal.METRICS,
    "logs.json": Signal.LOGS,
    "events.json": Signal.LOGS,
}
TRACE_ID = "5b8efff798038103d269b633813fc60c"
SPAN_ID = "eee19b7ec3c1b174"


def reference_parse(signal: Signal, document: Any) -> Any:
    """What protobuf's own JSON parser makes of an OTLP JSON document (ids converted)."""
    return json_format.Parse(json.dumps(hex_ids_to_base64(document)), request_type(signal)())


def spans_request(**span: Any) -> dict[str, Any]:
    return {"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}


def first_span(message: Any) -> Any:
    return message.resource_spans[0].scope_spans[0].spans[0]


@pytest.mark.parametrize("name", sorted(EXAMPLE_SIGNALS))
def test_spec_examples_decode_like_json_format(name: str) -> None:
    signal = EXAMPLE_SIGNALS[name]
    text = (EXAMPLES / name).read_bytes()
    ours = decode_request(signal, text)
    assert ours == reference_parse(signal, json.loads(text))
    assert ours.ByteSize() > 0
    assert decode_request(signal, encode_request(ours)) == ours
    assert decode_request(signal, text.decode()) == ours  # str input too


@pytest.mark.parametrize("signal", list(Signal))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_round_trip_and_agreement_with_json_format(signal: Signal, data: st.DataObject) -> None:
    message = data.draw(messages(request_type(signal).DESCRIPTOR))
    encoded = encode_request(message)
    assert decode_request(signal, encoded) == message
    # our JSON is proto3 JSON apart from hex ids: protobuf's parser agrees
    assert reference_parse(signal, orjson.loads(encoded)) == message
    # and we read what protobuf's printer writes: enum names, camelCase or original names
    for original_names in (False, True):
        printed = json_format.MessageToDict(message, preserving_proto_field_name=original_names)
        assert decode_request(signal, orjson.dumps(base64_ids_to_hex(printed))) == message


def test_encoding_matches_otlp_conventions() -> None:
    span = {
        "traceId": TRACE_ID.upper(),
        "spanId": SPAN_ID,
        "parentSpanId": "",
        "name": "op",
        "kind": "SPAN_KIND_SERVER",
        "startTimeUnixNano": 1544712660000000000,
        "endTimeUnixNano": "1544712661000000000",
        "droppedAttributesCount": "3",
        "flags": 257,
        "status": {"code": 2},
        "attributes": [{"key": "n", "value": {"intValue": 7}}],
    }
    message = decode_request(Signal.TRACES, orjson.dumps(spans_request(**span)))
    decoded = first_span(message)
    assert decoded.trace_id == bytes.fromhex(TRACE_ID)
    assert decoded.parent_span_id == b""
    assert decoded.kind == Span.SPAN_KIND_SERVER
    assert decoded.start_time_unix_nano == 1544712660000000000
    out = orjson.loads(encode_request(message))
    span_out = out["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    assert span_out == {
        "traceId": TRACE_ID,
        "spanId": SPAN_ID,
        "name": "op",
        "kind": 2,
        "startTimeUnixNano": "1544712660000000000",
        "endTimeUnixNano": "1544712661000000000",
        "droppedAttributesCount": 3,
        "flags": 257,
        "status": {"code": 2},
        "attributes": [{"key": "n", "value": {"intValue": "7"}}],
    }
    assert encode_request_to_dict(message) == out


def test_snake_case_keys_nulls_and_unknown_fields() -> None:
    document = {
        "resource_spans": [
            {
                "schema_url": "https://example.com/s",
                "future_field": {"anything": [1, 2]},
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "trace_id": TRACE_ID,
                                "name": None,
                                "attributes": None,
                                "dropped_events_count": 2,
                                "somethingNew": 5,
                            }
                        ]
                    }
                ],
            }
        ]
    }
    message = decode_request(Signal.TRACES, orjson.dumps(document))
    assert message.resource_spans[0].schema_url == "https://example.com/s"
    span = first_span(message)
    assert span.trace_id == bytes.fromhex(TRACE_ID)
    assert span.dropped_events_count == 2
    assert span.name == ""


def test_special_doubles_and_presence() -> None:
    points = [
        {"sum": "NaN", "min": "-Infinity", "max": "Infinity", "count": 1},
        {"sum": 0, "explicitBounds": [1, "2.5", -0.0], "bucketCounts": ["1", 2]},
    ]
    document = {
        "resourceMetrics": [
            {"scopeMetrics": [{"metrics": [{"name": "h", "histogram": {"dataPoints": points}}]}]}
        ]
    }
    message = decode_request(Signal.METRICS, orjson.dumps(document))
    decoded = message.resource_metrics[0].scope_metrics[0].metrics[0].histogram.data_points
    assert math.isnan(decoded[0].sum)
    assert decoded[0].min == -math.inf
    assert decoded[0].max == math.inf
    assert decoded[1].HasField("sum")  # an explicit 0 of an optional field stays present
    assert not decoded[1].HasField("min")
    assert list(decoded[1].explicit_bounds) == [1.0, 2.5, -0.0]
    assert list(decoded[1].bucket_counts) == [1, 2]
    out = orjson.loads(encode_request(message))
    points_out = out["resourceMetrics"][0]["scopeMetrics"][0]["metrics"][0]["histogram"]
    assert points_out["dataPoints"][0]["sum"] == "NaN"
    assert points_out["dataPoints"][0]["min"] == "-Infinity"
    assert points_out["dataPoints"][0]["max"] == "Infinity"
    assert points_out["dataPoints"][1]["sum"] == 0


def test_negative_zero_survives() -> None:
    point = SummaryDataPoint(sum=-0.0)
    assert json_format.MessageToDict(point) == orjson.loads(encode_request(point))
    assert orjson.loads(encode_request(point)) == {"sum": -0.0}


def test_any_value_kinds() -> None:
    body = {
        "kvlistValue": {
            "values": [
                {"key": "s", "value": {"stringValue": "x"}},
                {"key": "b", "value": {"boolValue": False}},
                {"key": "i", "value": {"intValue": "-12"}},
                {"key": "big", "value": {"intValue": "9223372036854775807"}},
                {"key": "d", "value": {"doubleValue": 1.5}},
                {"key": "raw", "value": {"bytesValue": "AAEC"}},
                {"key": "url", "value": {"bytesValue": "-_8"}},
                {"key": "a", "value": {"arrayValue": {"values": [{"intValue": 1}, {}]}}},
                {"key": "empty"},
                {"key": "i2", "value": {"int_value": 3}},
            ]
        }
    }
    document = {"resourceLogs": [{"scopeLogs": [{"logRecords": [{"body": body}]}]}]}
    message = decode_request(Signal.LOGS, orjson.dumps(document))
    record = message.resource_logs[0].scope_logs[0].log_records[0]
    values = {kv.key: kv for kv in record.body.kvlist_value.values}
    assert values["s"].value.string_value == "x"
    assert values["b"].value.HasField("bool_value")
    assert values["i"].value.int_value == -12
    assert values["big"].value.int_value == (1 << 63) - 1
    assert values["raw"].value.bytes_value == b"\x00\x01\x02"
    assert values["url"].value.bytes_value == b"\xfb\xff"
    assert values["a"].value.array_value.values[1] == AnyValue()
    assert not values["empty"].HasField("value")
    assert values["i2"].value.int_value == 3
    assert reference_parse(Signal.LOGS, document) == message


def test_attribute_cache_keeps_types_apart() -> None:
    # {"intValue": 1} and {"intValue": true} hash alike: the cache must not confuse them
    good = spans_request(attributes=[{"key": "k", "value": {"intValue": 1}}])
    bad = spans_request(attributes=[{"key": "k", "value": {"intValue": True}}])
    assert (
        first_span(decode_request(Signal.TRACES, orjson.dumps(good))).attributes[0].value.int_value
        == 1
    )
    with pytest.raises(PermanentError, match=r"spans\[0\]\.attributes\[0\]\.value\.intValue"):
        decode_request(Signal.TRACES, orjson.dumps(bad))
    for _ in range(2):  # the second time comes from the cache
        message = decode_request(Signal.TRACES, orjson.dumps(good))
        assert first_span(message).attributes[0].value.int_value == 1


def test_attribute_cache_is_bounded() -> None:
    from otlpy.wire import json_decoder

    attributes = [{"key": f"k{i}", "value": {"stringValue": "v"}} for i in range(9000)]
    message = decode_request(Signal.TRACES, orjson.dumps(spans_request(attributes=attributes)))
    assert len(first_span(message).attributes) == 9000
    assert len(json_decoder._kv_cache) <= json_decoder._KV_CACHE_LIMIT


def test_json_to_protobuf_gives_bytes() -> None:
    raw = json_to_protobuf(Signal.TRACES, orjson.dumps(spans_request(name="x")))
    message = request_type(Signal.TRACES).FromString(raw)
    assert first_span(message).name == "x"


def test_empty_documents() -> None:
    assert decode_request(Signal.METRICS, b"{}") == request_type(Signal.METRICS)()
    assert encode_request(request_type(Signal.LOGS)()) == b"{}"
    assert (
        first_span(
            decode_request(Signal.TRACES, b'{"resourceSpans":[{"scopeSpans":[{"spans":[{}]}]}]}')
        )
        == Span()
    )


@pytest.mark.parametrize(
    ("body", "where", "what"),
    [
        (b"{", "", "invalid JSON"),
        (b"[]", "", "must be a JSON object"),
        (b'{"resourceSpans": {}}', "resourceSpans", "expected an array, got an object"),
        (b'{"resourceSpans": [3]}', r"resourceSpans\[0\]", "expected an object, got a number"),
        (
            orjson.dumps(spans_request(traceId="abc")),
            r"resourceSpans\[0\]\.scopeSpans\[0\]\.spans\[0\]\.traceId",
            "expected 32 hex digits",
        ),
        (orjson.dumps(spans_request(spanId="zz" * 8)), r"spans\[0\]\.spanId", "invalid hex id"),
        (orjson.dumps(spans_request(spanId="0011 2233 445566")), "spanId", "invalid hex id"),
        (orjson.dumps(spans_request(spanId=5)), "spanId", "expected a string, got a number"),
        (orjson.dumps(spans_request(name=5)), r"spans\[0\]\.name", "expected a string"),
        (orjson.dumps(spans_request(kind="SPAN_KIND_NOPE")), "kind", "unknown SpanKind"),
        (orjson.dumps(spans_request(kind=1.5)), "kind", "expected an integer"),
        (orjson.dumps(spans_request(kind=1 << 40)), "kind", "out of range"),
        (orjson.dumps(spans_request(droppedLinksCount=-1)), "droppedLinksCount", "out of range"),
        (orjson.dumps(spans_request(droppedLinksCount="1e3")), "droppedLinksCount", "integer"),
        (orjson.dumps(spans_request(startTimeUnixNano="-5")), "startTimeUnixNano", "range"),
        (orjson.dumps(spans_request(startTimeUnixNano=str(1 << 64))), "startTime", "range"),
        (orjson.dumps(spans_request(startTimeUnixNano=True)), "startTimeUnixNano", "boolean"),
        (orjson.dumps(spans_request(flags=1 << 33)), "flags", "out of range"),
        (orjson.dumps(spans_request(status=[])), "status", "expected an object, got an array"),
        (orjson.dumps(spans_request(events=[None])), r"events\[0\]", "got null"),
        (
            orjson.dumps(spans_request(attributes=[{"key": "k", "value": {"boolValue": 1}}])),
            r"attributes\[0\]\.value\.boolValue",
            "expected true or false",
        ),
        (
            orjson.dumps(spans_request(attributes=[{"key": 1, "value": {"stringValue": "v"}}])),
            r"attributes\[0\]\.key",
            "expected a string",
        ),
        (
            orjson.dumps(spans_request(attributes=[["key", "value"]])),
            r"attributes\[0\]",
            "expected an object, got an array",
        ),
        (
            orjson.dumps(spans_request(attributes=[{"key": "k", "value": {"bytesValue": "%%"}}])),
            "bytesValue",
            "invalid base64",
        ),
        (
            orjson.dumps(spans_request(attributes=[{"key": "k", "value": {"doubleValue": "x"}}])),
            "doubleValue",
            "expected a number, got a string",
        ),
        (
            orjson.dumps(spans_request(attributes=[{"key": "k", "value": {"intValue": "1.5"}}])),
            "intValue",
            "expected an integer",
        ),
        (
            orjson.dumps(
                spans_request(attributes=[{"key": "k", "value": {"intValue": str(1 << 63)}}])
            ),
            "intValue",
            "out of range",
        ),
        (
            b'{"resourceSpans":[{"scopeSpans":[{"spans":[{"name":"\\ud800"}]}]}]}',
            "",
            "invalid JSON.*surrogate",
        ),
    ],
)
def test_errors_name_the_path(body: bytes, where: str, what: str) -> None:
    with pytest.raises(PermanentError, match=f"{where}.*{what}|{what}") as info:
        decode_request(Signal.TRACES, body)
    assert where.replace("\\", "") in str(info.value)


def test_metrics_error_path() -> None:
    document = {
        "resourceMetrics": [
            {
                "scopeMetrics": [
                    {
                        "metrics": [
                            {"name": "ok"},
                            {"name": "h", "histogram": {"dataPoints": [{"bucketCounts": ["x"]}]}},
                        ]
                    }
                ]
            }
        ]
    }
    with pytest.raises(PermanentError) as info:
        decode_request(Signal.METRICS, orjson.dumps(document))
    assert (
        "resourceMetrics[0].scopeMetrics[0].metrics[1].histogram.dataPoints[0].bucketCounts[0]"
        in str(info.value)
    )
    document["resourceMetrics"][0]["scopeMetrics"][0]["metrics"][1] = {
        "histogram": {"dataPoints": [{"explicitBounds": [True]}]}
    }
    with pytest.raises(PermanentError, match=r"explicitBounds\[0\]: expected a number"):
        decode_request(Signal.METRICS, orjson.dumps(document))


def test_packed_edge_cases() -> None:
    def histogram(**point: Any) -> bytes:
        metric = {"name": "h", "histogram": {"dataPoints": [point]}}
        return orjson.dumps({"resourceMetrics": [{"scopeMetrics": [{"metrics": [metric]}]}]})

    message = decode_request(Signal.METRICS, histogram(bucketCounts=[], explicitBounds=[]))
    point = message.resource_metrics[0].scope_metrics[0].metrics[0].histogram.data_points[0]
    assert point == HistogramDataPoint()
    with pytest.raises(PermanentError, match="bucketCounts: expected an array, got a number"):
        decode_request(Signal.METRICS, histogram(bucketCounts=5))


def test_long_values_take_multi_byte_lengths() -> None:
    name = "n" * 300
    attributes = [{"key": "k" * 200, "value": {"stringValue": "v" * 20000}}]
    document = spans_request(name=name, attributes=attributes, events=[{"name": name}])
    message = decode_request(Signal.TRACES, orjson.dumps(document))
    span = first_span(message)
    assert span.name == name
    assert span.events[0].name == name
    assert span.attributes[0].value.string_value == "v" * 20000
    assert message == reference_parse(Signal.TRACES, document)


def test_repeated_strings_and_their_errors() -> None:
    resource = {"entityRefs": [{"type": "service", "idKeys": ["service.name", "x"]}]}
    document = {"resourceSpans": [{"resource": resource}]}
    message = decode_request(Signal.TRACES, orjson.dumps(document))
    assert list(message.resource_spans[0].resource.entity_refs[0].id_keys) == ["service.name", "x"]
    resource["entityRefs"][0]["idKeys"] = ["ok", 3]
    with pytest.raises(PermanentError, match=r"idKeys\[1\]: expected a string"):
        decode_request(Signal.TRACES, orjson.dumps(document))


def _nested_logs(levels: int) -> bytes:
    body = '{"stringValue":"leaf"}'
    for _ in range(levels):
        body = '{"arrayValue":{"values":[' + body + "]}}"
    return ('{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":' + body + "}]}]}]}").encode()


@pytest.mark.parametrize(
    ("levels", "what"),
    [
        (150, "cannot decode"),  # deeper than protobuf's own limit of 100 messages
        (300, "nested too deeply"),  # deeper than Python's recursion limit
        (400, "invalid JSON"),  # deeper than orjson's limit
    ],
)
def test_too_deeply_nested(levels: int, what: str) -> None:
    with pytest.raises(PermanentError, match=what):
        decode_request(Signal.LOGS, _nested_logs(levels))
    assert decode_request(Signal.LOGS, _nested_logs(20)).ByteSize() > 0


def test_encoder_attribute_cache_is_bounded() -> None:
    from otlpy.wire import json_encoder

    attributes = [{"key": f"k{i}", "value": {"intValue": i}} for i in range(9000)]
    message = decode_request(Signal.TRACES, orjson.dumps(spans_request(attributes=attributes)))
    out = orjson.loads(encode_request(message))
    encoded = out["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["attributes"]
    assert encoded[8999] == {"key": "k8999", "value": {"intValue": "8999"}}
    assert json_encoder._KV_CACHE_LIMIT < 9000


def test_encode_any_message_type() -> None:
    point = HistogramDataPoint(count=3, sum=1.5, bucket_counts=[1, 2], explicit_bounds=[0.5])
    assert orjson.loads(encode_request(point)) == {
        "count": "3",
        "sum": 1.5,
        "bucketCounts": ["1", "2"],
        "explicitBounds": [0.5],
    }
