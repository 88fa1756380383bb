"""The attribute scanner reads the same keys and string lengths from bytes as upb from messages."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from wire_strategies import encode_tag, encode_varint, messages

from otlpy.wire.protobuf_scan import scan_attributes, scan_items

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def expected(kvs: Any) -> tuple[list[str], list[int]]:
    """What upb says: each key, and its string value's UTF-8 length or -1."""
    keys = [kv.key for kv in kvs]
    sizes = [
        len(kv.value.string_value.encode())
        if kv.value.WhichOneof("value") == "string_value"
        else -1
        for kv in kvs
    ]
    return keys, sizes


@SETTINGS
@given(messages(Span.DESCRIPTOR))
def test_any_span_scans_like_upb(span: Any) -> None:
    assert scan_attributes(span.SerializeToString(), 9) == expected(span.attributes)


@SETTINGS
@given(messages(LogRecord.DESCRIPTOR))
def test_any_log_record_scans_like_upb(record: Any) -> None:
    assert scan_attributes(record.SerializeToString(), 6) == expected(record.attributes)


values = st.one_of(
    st.text(max_size=300),
    st.integers(-(2**63), 2**63 - 1),
    st.booleans(),
    st.floats(allow_nan=False),
    st.binary(max_size=10),
    st.none(),
)


@SETTINGS
@given(st.lists(st.tuples(st.text(max_size=200), values), max_size=20))
def test_any_key_value_list_scans_like_upb(pairs: list[tuple[str, Any]]) -> None:
    span = Span(name="s", events=[Span.Event(name="e")])
    for key, value in pairs:
        target = span.attributes.add(key=key).value
        if isinstance(value, str):
            target.string_value = value
        elif isinstance(value, bool):
            target.bool_value = value
        elif isinstance(value, int):
            target.int_value = value
        elif isinstance(value, float):
            target.double_value = value
        elif isinstance(value, bytes):
            target.bytes_value = value
    assert scan_attributes(span.SerializeToString(), 9) == expected(span.attributes)


@SETTINGS
@given(messages(ExportTraceServiceRequest.DESCRIPTOR))
def test_any_trace_request_scans_item_by_item(request: Any) -> None:
    spans = [s for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans]
    got = scan_items(request.SerializeToString(), [1, 2, 2, 9])
    assert got == [expected(span.attributes) for span in spans]


def test_log_requests_and_concatenated_requests() -> None:
    request = ExportLogsServiceRequest()
    logs = request.resource_logs.add().scope_logs.add().log_records
    logs.add().attributes.add(key="a").value.string_value = "héllo"
    logs.add()
    logs.add().attributes.add(key="n").value.int_value = 3
    raw = request.SerializeToString()
    one = [(["a"], [6]), ([], []), (["n"], [-1])]
    assert scan_items(raw, [1, 2, 2, 6]) == one
    # two requests' bytes back to back hold both, in order, as protobuf's parser reads them
    assert scan_items(raw + raw, [1, 2, 2, 6]) == one + one


def test_the_member_set_last_decides_and_a_missing_key_is_empty() -> None:
    # written by hand: upb never writes a value twice, but a parser merges them
    string = AnyValue(string_value="abc").SerializeToString()
    other = AnyValue(int_value=5).SerializeToString()

    def pair(*values: bytes, key: bytes | None = None) -> bytes:
        body = b""
        if key is not None:
            body += encode_tag(1, 2) + encode_varint(len(key)) + key
        for value in values:
            body += encode_tag(2, 2) + encode_varint(len(value)) + value
        # an unknown field inside the pair is skipped
        body += encode_tag(7, 0) + encode_varint(300)
        return encode_tag(9, 2) + encode_varint(len(body)) + body

    data = pair(string, other, key=b"k") + pair(other, string) + pair(key=b"e")
    assert scan_attributes(data, 9) == (["k", "", "e"], [-1, 3, -1])
    parsed = Span.FromString(data)
    assert expected(parsed.attributes) == (["k", "", "e"], [-1, 3, -1])


@pytest.mark.parametrize(
    "data",
    [
        encode_tag(9, 2) + encode_varint(10) + b"\x0a",  # the pair runs past the end
        encode_tag(9, 2) + encode_varint(3) + b"\x0a\x05a",  # the key runs past the pair
        encode_tag(9, 2) + encode_varint(2) + b"\x0a\x01",  # the key is cut short
        encode_tag(9, 2) + encode_varint(3) + b"\x0a\x01\xff",  # the key is not UTF-8
        encode_tag(3, 3),  # a group
        encode_tag(1, 1) + b"\x00\x00",  # a fixed64 cut short
        encode_tag(1, 0) + b"\xff" * 11,  # a varint past 64 bits
        encode_tag(1, 0) + b"\xff",  # a varint cut short
        b"\x80",  # a tag cut short
        encode_tag(9, 2) + encode_varint(6) + encode_tag(2, 2) + b"\x04\x0a\x05ab",  # the
        # value's string runs past the value
    ],
)
def test_bytes_protobuf_would_refuse_raise_value_error(data: bytes) -> None:
    with pytest.raises(ValueError):
        scan_attributes(data, 9)
    with pytest.raises(ValueError):
        scan_items(encode_tag(1, 2) + encode_varint(len(data)) + data, [1, 9])


def test_other_fields_of_every_wire_type_are_skipped() -> None:
    span = Span(
        name="s",
        start_time_unix_nano=2**60,  # fixed64
        dropped_attributes_count=7,  # varint
        flags=1,  # fixed32
        events=[Span.Event(name="e")],
    )
    span.attributes.add(key="k").value.double_value = 1.5
    data = span.SerializeToString()
    assert scan_attributes(data, 9) == (["k"], [-1])
    with pytest.raises(ValueError, match="path"):
        scan_items(data, [9])


def test_tags_past_one_byte_and_items_past_their_request() -> None:
    span = Span(name="s")
    span.attributes.add(key="k").value.string_value = "v"
    pair = span.attributes[0].SerializeToString()
    # field 20 (a two-byte tag) before the list, inside the pair, and in the request
    two_byte = encode_tag(20, 0) + encode_varint(1)
    inside = two_byte + pair
    data = two_byte + encode_tag(9, 2) + encode_varint(len(inside)) + inside
    assert scan_attributes(data, 9) == (["k"], [1])
    assert scan_items(two_byte + encode_tag(1, 2) + encode_varint(len(data)) + data, [1, 9]) == [
        (["k"], [1])
    ]
    with pytest.raises(ValueError, match="truncated"):
        scan_items(encode_tag(1, 2) + encode_varint(5) + b"\x00", [1, 9])
