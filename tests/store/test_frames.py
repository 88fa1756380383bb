"""Slicing serialized records out of serialized export requests."""

from __future__ import annotations

import struct

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

from otlpy.pdata import Batch, Signal
from otlpy.store import Store
from otlpy.store._frames import record_frames
from otlpy.store.queries import LogQuery, TraceQuery, find_trace_ids, get_trace, search_logs
from store_builders import NOW, log_request, make_span, rich_trace_request, trace_request


def _key(field: int, wire: int) -> bytes:
    number = field << 3 | wire
    out = bytearray()
    while number >= 0x80:
        out.append(number & 0x7F | 0x80)
        number >>= 7
    out.append(number)
    return bytes(out)


# one unknown field of each wire type, with a multi-byte key
UNKNOWN = (
    _key(1000, 0)
    + b"\x96\x01"
    + _key(1001, 1)
    + struct.pack("<d", 1.5)
    + _key(1002, 5)
    + b"\x00\x00\x80\x3f"
    + _key(1003, 2)
    + b"\x03abc"
)


def _spans(request: ExportTraceServiceRequest) -> list[bytes]:
    return [
        s.SerializeToString()
        for rs in request.resource_spans
        for ss in rs.scope_spans
        for s in ss.spans
    ]


def test_frames_are_the_serialized_spans() -> None:
    request = rich_trace_request()
    assert record_frames(request.SerializeToString()) == _spans(request)
    assert record_frames(b"") == []


def test_frames_skip_unknown_fields_at_every_level() -> None:
    request = rich_trace_request()
    # a long attribute makes a span need a two-byte length
    request.resource_spans[0].scope_spans[0].spans[0].name = "x" * 300
    for rs in request.resource_spans:
        rs.ParseFromString(rs.SerializeToString() + UNKNOWN)
        for ss in rs.scope_spans:
            ss.ParseFromString(ss.SerializeToString() + UNKNOWN)
    raw = request.SerializeToString() + UNKNOWN
    decoded = ExportTraceServiceRequest.FromString(raw)
    assert record_frames(raw) == _spans(decoded)


def test_frames_of_concatenated_requests_and_logs() -> None:
    first, second = rich_trace_request(), trace_request("b", [make_span(7, 1)])
    raw = first.SerializeToString() + second.SerializeToString()
    assert record_frames(raw) == _spans(first) + _spans(second)
    logs = log_request("svc", [LogRecord(time_unix_nano=NOW), LogRecord(severity_text="x")])
    frames = record_frames(logs.SerializeToString())
    assert frames == [
        r.SerializeToString() for r in logs.resource_logs[0].scope_logs[0].log_records
    ]


@pytest.mark.parametrize(
    "raw",
    [
        b"\x0a\x05\x12\x03",  # a length beyond the end
        b"\x0a",  # a key with nothing after it
        b"\x0b",  # wire type 3 (groups) is not used by OTLP
        b"\x0a\x02\x12\x05",  # a nested length beyond its parent
        b"\x08\x80",  # a varint cut short
    ],
)
def test_malformed_bytes(raw: bytes) -> None:
    with pytest.raises(ValueError):
        record_frames(raw)


def test_store_slices_spans_and_logs_from_raw_bytes(store: Store) -> None:
    batch = Batch.decode(Signal.TRACES, rich_trace_request().SerializeToString())
    assert store.write(Signal.TRACES, batch.message, raw=batch.raw) == 3
    logs = Batch.decode(
        Signal.LOGS, log_request("svc", [LogRecord(time_unix_nano=NOW)]).SerializeToString()
    )
    assert store.write(Signal.LOGS, logs.message, raw=logs.raw) == 1
    store.flush()
    stored = store.query("SELECT proto FROM spans ORDER BY start_time")
    assert [p.encode("latin-1") for (p,) in stored] == _spans(batch.message)
    trace = get_trace(store, "1")
    assert trace is not None and len(trace["spans"]) == 3
    assert find_trace_ids(store, TraceQuery(tags={"http.method": "GET"})) == [f"{1:032x}"]
    assert search_logs(store, LogQuery())[0]["time_unix_nano"] == NOW


def test_store_serializes_again_when_raw_does_not_fit(store: Store) -> None:
    request = rich_trace_request()
    # bytes of another request, and bytes that are no request at all
    store.write(
        Signal.TRACES, request, raw=trace_request("x", [make_span(9, 9)]).SerializeToString()
    )
    store.write(Signal.LOGS, ExportLogsServiceRequest(), raw=b"\x0b")
    store.write(Signal.TRACES, request, raw=b"\x0a\x05")
    store.flush()
    stored = store.query("SELECT proto FROM spans")
    assert sorted(p.encode("latin-1") for (p,) in stored) == sorted(_spans(request) * 2)
