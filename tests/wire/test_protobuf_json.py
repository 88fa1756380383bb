"""The byte reader behind OTLP/JSON encoding agrees with protobuf's parser and the field reader."""

from __future__ import annotations

import math
import struct
from typing import Any

import orjson
import pytest
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    ExponentialHistogramDataPoint,
    HistogramDataPoint,
    Metric,
    NumberDataPoint,
    SummaryDataPoint,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status
from wire_strategies import encode_tag, encode_varint, messages, wire_bytes

from otlpy.errors import PermanentError
from otlpy.pdata import Signal, request_type
from otlpy.wire import _compiled, otlp_json, protobuf_json
from otlpy.wire.json_encoder import converter_for
from otlpy.wire.otlp_json import encode_request, encode_request_to_dict, protobuf_to_json
from otlpy.wire.protobuf_json import MAX_DEPTH, schema_for, to_json_dict

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# the message types worth reading on their own, besides the three export requests
PARTS = [AnyValue, KeyValue, Span, Metric, HistogramDataPoint, ExponentialHistogramDataPoint]


def read(message_type: Any, data: bytes) -> dict[str, Any]:
    return to_json_dict(schema_for(message_type.DESCRIPTOR), data)


def reference(message_type: Any, data: bytes) -> dict[str, Any]:
    """What the field-by-field converter makes of protobuf's parse of ``data``."""
    return converter_for(message_type.DESCRIPTOR)(message_type.FromString(data))


def test_form_under_test() -> None:
    # the suite runs once compiled and once with OTLPY_PURE_PYTHON=1: say which, and be right
    compiled = _compiled.is_compiled("otlpy.wire.protobuf_json")
    assert compiled == protobuf_json.__file__.endswith(".so")
    if _compiled._pure_python_asked():
        assert not compiled
    assert compiled == otlp_json._BYTE_READER_COMPILED


@pytest.mark.parametrize("signal", list(Signal))
@SETTINGS
@given(data=st.data())
def test_same_as_the_field_reader(signal: Signal, data: st.DataObject) -> None:
    message_type = request_type(signal)
    message = data.draw(messages(message_type.DESCRIPTOR))
    raw = message.SerializeToString()
    expected = converter_for(message_type.DESCRIPTOR)(message)
    assert read(message_type, raw) == expected
    assert orjson.loads(protobuf_to_json(signal, raw)) == orjson.loads(orjson.dumps(expected))
    # otlp_json picks one reader by the form that runs: both give the same
    assert otlp_json._dict_by_reading_bytes(message) == otlp_json._dict_by_reading_fields(message)
    by_bytes = otlp_json._json_by_reading_bytes(signal, raw)
    assert orjson.loads(by_bytes) == orjson.loads(otlp_json._json_by_reading_fields(signal, raw))
    # and it is proto3 JSON but for hex ids and integer enums: protobuf's printer agrees
    printed = json_format.MessageToDict(message, use_integers_for_enums=True)
    assert _ids_to_base64(read(message_type, raw)) == _normalize_printed(printed)


@pytest.mark.parametrize("message_type", [*(request_type(s) for s in Signal), *PARTS])
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_bytes_read_as_protobuf_reads_them(message_type: Any, data: st.DataObject) -> None:
    raw = data.draw(wire_bytes(message_type.DESCRIPTOR))
    try:
        expected = reference(message_type, raw)
    except DecodeError:
        with pytest.raises(PermanentError, match="malformed protobuf"):
            read(message_type, raw)
        return
    assert read(message_type, raw) == expected


def _ids_to_base64(node: Any) -> Any:
    import base64

    if isinstance(node, dict):
        return {
            key: base64.b64encode(bytes.fromhex(value)).decode()
            if key in ("traceId", "spanId", "parentSpanId")
            else _ids_to_base64(value)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_ids_to_base64(item) for item in node]
    return node


def _normalize_printed(node: Any) -> Any:
    """MessageToDict writes non-finite doubles as strings already; nothing else differs."""
    if isinstance(node, dict):
        return {key: _normalize_printed(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_normalize_printed(item) for item in node]
    return node


def test_empty_messages() -> None:
    assert read(request_type(Signal.TRACES), b"") == {}
    assert protobuf_to_json(Signal.LOGS, b"") == b"{}"
    assert read(Span, encode_tag(15, 2) + b"\x00") == {"status": {}}  # present, though empty
    assert read(AnyValue, encode_tag(1, 2) + b"\x00") == {"stringValue": ""}  # a oneof member


def test_signed_and_fixed_numbers() -> None:
    point = ExponentialHistogramDataPoint(scale=-3, zero_count=7, sum=-0.0, flags=1)
    point.positive.offset = -5
    point.negative.offset = 2147483647
    point.exemplars.add(as_int=-9, time_unix_nano=(1 << 64) - 1)
    assert read(ExponentialHistogramDataPoint, point.SerializeToString()) == {
        "scale": -3,
        "zeroCount": "7",
        "sum": -0.0,
        "positive": {"offset": -5},
        "negative": {"offset": 2147483647},
        "flags": 1,
        "exemplars": [{"asInt": "-9", "timeUnixNano": "18446744073709551615"}],
    }
    negative_kind = encode_tag(6, 0) + encode_varint(-2)  # int32 enums take 10 bytes when < 0
    assert read(Span, negative_kind) == {"kind": -2}
    assert read(AnyValue, AnyValue(int_value=-(1 << 63)).SerializeToString()) == {
        "intValue": "-9223372036854775808"
    }
    assert read(Span, encode_tag(12, 0) + encode_varint((1 << 40) + 3)) == {
        "droppedEventsCount": 3  # uint32 keeps the low 32 bits, as protobuf does
    }


def test_special_doubles() -> None:
    point = HistogramDataPoint(sum=math.nan, min=-math.inf, max=math.inf, explicit_bounds=[0.0])
    out = read(HistogramDataPoint, point.SerializeToString())
    assert out == {"sum": "NaN", "min": "-Infinity", "max": "Infinity", "explicitBounds": [0.0]}
    zero = HistogramDataPoint(sum=0.0)  # explicit presence: a set 0 is written
    assert read(HistogramDataPoint, zero.SerializeToString()) == {"sum": 0}
    zero_sum = encode_tag(5, 1) + struct.pack("<d", 0.0)  # no presence: 0 is left out
    assert read(SummaryDataPoint, zero_sum) == {} == reference(SummaryDataPoint, zero_sum)
    zero_member = encode_tag(4, 1) + struct.pack("<d", 0.0)  # a oneof member is kept
    assert read(NumberDataPoint, zero_member) == {"asDouble": 0.0}


def test_what_protobuf_merges_or_replaces() -> None:
    first = Status(message="a", code=1).SerializeToString()
    second = Status(code=2).SerializeToString()
    twice = encode_tag(15, 2) + bytes([len(first)]) + first
    twice += encode_tag(15, 2) + bytes([len(second)]) + second
    assert read(Span, twice) == {"status": {"message": "a", "code": 2}}
    assert read(Span, twice) == reference(Span, twice)
    # a later default value of a singular field clears the earlier one
    named = encode_tag(5, 2) + b"\x01x" + encode_tag(5, 2) + b"\x00"
    assert read(Span, named) == {} == reference(Span, named)
    # a oneof keeps its last member; a message member read again after another starts afresh
    array = AnyValue()
    array.array_value.values.add(int_value=1)
    body = array.SerializeToString()
    mixed = body + AnyValue(string_value="s").SerializeToString() + body + body
    assert read(AnyValue, mixed) == reference(AnyValue, mixed)
    assert read(AnyValue, mixed) == {
        "arrayValue": {"values": [{"intValue": "1"}, {"intValue": "1"}]}
    }
    # a member number with an unexpected wire type is an unknown field: the merge goes on
    odd_string = encode_tag(1, 5) + bytes(4)
    merged = body + odd_string + body
    assert read(AnyValue, merged) == reference(AnyValue, merged)
    assert len(read(AnyValue, merged)["arrayValue"]["values"]) == 2


def test_packed_and_unpacked_repeated_numbers() -> None:
    packed = HistogramDataPoint(bucket_counts=[1, 2], explicit_bounds=[0.5]).SerializeToString()
    unpacked = encode_tag(6, 1) + struct.pack("<Q", 3) + encode_tag(7, 1) + struct.pack("<d", 1.0)
    out = read(HistogramDataPoint, packed + unpacked)
    assert out == {"bucketCounts": ["1", "2", "3"], "explicitBounds": [0.5, 1.0]}
    assert out == reference(HistogramDataPoint, packed + unpacked)
    empty_packed = encode_tag(6, 2) + b"\x00"
    assert read(HistogramDataPoint, empty_packed) == {}


def test_unknown_fields_are_skipped() -> None:
    known = Span(name="op").SerializeToString()
    unknown = (
        encode_tag(99, 0)
        + encode_varint(5)
        + encode_tag(100, 1)
        + bytes(8)
        + encode_tag(101, 2)
        + b"\x02ab"
        + encode_tag(102, 5)
        + bytes(4)
        + encode_tag(103, 3)
        + encode_tag(1, 0)
        + b"\x01"
        + encode_tag(103, 4)
        + encode_tag(5, 0)  # the name with a wire type it cannot have
        + b"\x07"
    )
    assert read(Span, unknown + known) == {"name": "op"} == reference(Span, unknown + known)


@pytest.mark.parametrize(
    ("data", "what"),
    [
        (encode_tag(5, 2) + b"\x05ab", "truncated"),
        (encode_tag(5, 2), "truncated"),
        (encode_tag(6, 0) + b"\x80", "truncated"),
        (encode_tag(6, 0) + b"\xff" * 10 + b"\x01", "longer than 10 bytes"),
        (encode_tag(99, 1) + b"\x00", "truncated"),
        (encode_tag(7, 1) + b"\x00" * 7, "truncated"),
        (encode_tag(99, 6), "wire type 6"),
        (encode_tag(99, 4), "wire type 4"),
        (b"\x00\x00", "field number 0"),
        (encode_tag(99, 3) + encode_tag(98, 4), "closed by the wrong field number"),
        (encode_tag(99, 3) + encode_tag(0, 0) + b"\x00", "field number 0"),
        (b"\xff\xff\xff\xff\xff\x01", "longer than 32 bits"),
        (encode_tag(5, 2) + b"\x02\xc3\x28", "invalid UTF-8"),
        (encode_tag(15, 2) + b"\x02" + encode_tag(2, 2) + b"\x05", "truncated"),
    ],
)
def test_malformed_bytes(data: bytes, what: str) -> None:
    with pytest.raises(DecodeError):
        Span.FromString(data)
    with pytest.raises(PermanentError, match=f"malformed protobuf: .*{what}"):
        read(Span, data)


@pytest.mark.parametrize(
    "encode", [otlp_json._json_by_reading_bytes, otlp_json._json_by_reading_fields]
)
def test_malformed_request_names_the_signal(encode: Any) -> None:
    with pytest.raises(PermanentError, match="cannot encode logs export request as JSON"):
        encode(Signal.LOGS, encode_tag(1, 2) + b"\x09")


def _nested(levels: int) -> AnyValue:
    value = AnyValue(string_value="leaf")
    for _ in range(levels):
        outer = AnyValue()
        outer.array_value.values.add().CopyFrom(value)
        value = outer
    return value


def test_nesting_limit_is_protobufs() -> None:
    # two messages per level (AnyValue -> ArrayValue): 50 levels are 100 nested messages
    deepest = _nested(MAX_DEPTH // 2).SerializeToString()
    assert read(AnyValue, deepest) == reference(AnyValue, deepest)
    too_deep = _nested(MAX_DEPTH // 2 + 1).SerializeToString()
    with pytest.raises(DecodeError):
        AnyValue.FromString(too_deep)
    with pytest.raises(PermanentError, match="nested more than 100 deep"):
        read(AnyValue, too_deep)
    groups = encode_tag(99, 3) * (MAX_DEPTH + 1) + encode_tag(99, 4) * (MAX_DEPTH + 1)
    with pytest.raises(PermanentError, match="groups nested more than 100 deep"):
        read(Span, groups)


def test_a_message_built_deeper_than_the_limit_still_encodes() -> None:
    message = _nested(80)  # protobuf would not parse its bytes; the field reader takes over
    assert otlp_json._dict_by_reading_bytes(message) == converter_for(AnyValue.DESCRIPTOR)(message)
    assert encode_request_to_dict(message) == converter_for(AnyValue.DESCRIPTOR)(message)
    assert orjson.loads(encode_request(message))["arrayValue"]["values"][0]


def test_bytearray_and_memoryview_input() -> None:
    raw = Span(name="x", trace_id=bytes(range(16))).SerializeToString()
    expected = {"name": "x", "traceId": bytes(range(16)).hex()}
    assert read(Span, bytearray(raw)) == expected
    assert read(Span, memoryview(raw)) == expected


def test_attribute_cache_is_bounded_and_keyed_by_bytes() -> None:
    span = Span()
    for index in range(protobuf_json._KV_CACHE_LIMIT + 10):
        span.attributes.add(key=f"k{index}", value=AnyValue(int_value=index))
    span.attributes.add(key="long", value=AnyValue(string_value="v" * 500))  # never cached
    out = read(Span, span.SerializeToString())
    assert out["attributes"][-2] == {"key": f"k{index}", "value": {"intValue": str(index)}}
    assert out["attributes"][-1]["value"] == {"stringValue": "v" * 500}
    assert len(protobuf_json._kv_cache) <= protobuf_json._KV_CACHE_LIMIT
    again = read(Span, span.SerializeToString())
    assert again == out


def test_schema_tables_are_shared() -> None:
    assert schema_for(Span.DESCRIPTOR) is schema_for(Span.DESCRIPTOR)
    assert schema_for(AnyValue.DESCRIPTOR).name == "opentelemetry.proto.common.v1.AnyValue"
