"""Trace queries against a real store: every field read back, searches, dependencies."""

from __future__ import annotations

from typing import Any

import pytest
from google.protobuf.json_format import MessageToDict
from opentelemetry import trace as trace_api
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otlpy.pdata import Signal
from otlpy.store import Store
from otlpy.store.queries import (
    SpanRecord,
    TraceQuery,
    attributes_dict,
    dependencies,
    find_trace_ids,
    find_traces,
    get_trace,
    get_traces,
    operation_stats,
    operations,
    parse_trace_id,
    services,
)
from store_builders import HOUR, MS, NOW, make_span, rich_trace_request, trace_request


def _by_span_id(spans: list[SpanRecord]) -> dict[str, SpanRecord]:
    return {s["span_id"]: s for s in spans}


def _check_span(record: SpanRecord, span: Any) -> None:
    """``record`` holds exactly what the protobuf ``span`` holds."""
    oracle = MessageToDict(span)
    assert record["trace_id"] == span.trace_id.hex()
    assert record["span_id"] == span.span_id.hex()
    assert record["parent_span_id"] == span.parent_span_id.hex()
    assert record["trace_state"] == span.trace_state
    assert record["name"] == span.name
    assert record["kind"] == span.kind
    assert record["start_time_unix_nano"] == span.start_time_unix_nano
    assert record["end_time_unix_nano"] == span.end_time_unix_nano
    assert record["duration_nano"] == span.end_time_unix_nano - span.start_time_unix_nano
    assert record["attributes"] == oracle.get("attributes", [])
    assert record["dropped_attributes_count"] == span.dropped_attributes_count
    assert record["dropped_events_count"] == span.dropped_events_count
    assert record["dropped_links_count"] == span.dropped_links_count
    assert record["status"] == {"code": span.status.code, "message": span.status.message}
    assert record["flags"] == span.flags
    assert len(record["events"]) == len(span.events)
    for got, ev, ev_oracle in zip(
        record["events"], span.events, oracle.get("events", []), strict=True
    ):
        assert got["time_unix_nano"] == ev.time_unix_nano
        assert got["name"] == ev.name
        assert got["attributes"] == ev_oracle.get("attributes", [])
        assert got["dropped_attributes_count"] == ev.dropped_attributes_count
    assert len(record["links"]) == len(span.links)
    for got, link, link_oracle in zip(
        record["links"], span.links, oracle.get("links", []), strict=True
    ):
        assert got["trace_id"] == link.trace_id.hex()
        assert got["span_id"] == link.span_id.hex()
        assert got["trace_state"] == link.trace_state
        assert got["attributes"] == link_oracle.get("attributes", [])
        assert got["dropped_attributes_count"] == link.dropped_attributes_count
        assert got["flags"] == link.flags


def test_get_trace_returns_every_field(store: Store) -> None:
    request = rich_trace_request()
    store.write(Signal.TRACES, request)
    store.flush()
    trace = get_trace(store, (1).to_bytes(16, "big").hex())
    assert trace is not None
    assert trace["trace_id"] == "00000000000000000000000000000001"
    assert [s["span_id"] for s in trace["spans"]] == [
        "0000000000000001",
        "0000000000000002",
        "0000000000000003",
    ]  # by start time
    spans = _by_span_id(trace["spans"])
    for rs in request.resource_spans:
        resource_oracle = MessageToDict(rs.resource)
        for ss in rs.scope_spans:
            for span in ss.spans:
                record = spans[span.span_id.hex()]
                _check_span(record, span)
                assert record["scope"] == {"name": ss.scope.name, "version": ss.scope.version}
                assert record["resource"]["attributes"] == resource_oracle["attributes"]
                assert record["resource"]["dropped_attributes_count"] == (
                    rs.resource.dropped_attributes_count
                )
                assert record["resource"]["schema_url"] == rs.schema_url
                assert record["service_name"] == record["resource"]["service_name"]
    assert spans["0000000000000003"]["service_name"] == "db"
    root = spans["0000000000000001"]
    assert attributes_dict(root["attributes"]) == {
        "http.method": "GET",
        "http.status_code": 200,
        "ratio": 0.5,
        "cached": True,
        "blob": b"\x00\x01\xff",
        "tags": ["a", 1, False],
        "nested": {"k": "v", "n": 2},
        "big": 2**60,
    }


def test_get_trace_by_short_or_raw_id_and_time_bounds(store: Store) -> None:
    store.write(Signal.TRACES, rich_trace_request())
    store.flush()
    assert get_trace(store, "1") is not None  # zero-padded, as Jaeger does
    assert get_trace(store, (1).to_bytes(16, "big")) is not None
    assert get_trace(store, "2") is None
    start = NOW - HOUR // 2
    bounded = get_trace(store, "1", start_min=start + MS, start_max=start + 2 * MS)
    assert bounded is not None
    assert [s["span_id"][-1] for s in bounded["spans"]] == ["2", "3"]
    assert get_trace(store, "1", start_max=start - 1) is None


def test_malformed_trace_ids() -> None:
    for bad in ("xyz", "", "0" * 33, b"short"):
        with pytest.raises(ValueError):
            parse_trace_id(bad)


def test_get_traces_keeps_the_asked_order(store: Store) -> None:
    store.write(Signal.TRACES, trace_request("a", [make_span(1, 1), make_span(2, 1)]))
    store.flush()
    found = get_traces(store, ["2", "3", "1"])
    assert [t["trace_id"][-1] for t in found] == ["2", "1"]
    assert get_traces(store, []) == []


def test_sdk_encoded_spans_round_trip(store: Store) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "sdk-app", "n": 3}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("my.lib", "2.0")
    with tracer.start_as_current_span("parent", kind=trace_api.SpanKind.SERVER) as parent:
        parent.set_attribute("list", [1, 2, 3])
        parent.add_event("went", {"where": "there"})
        with tracer.start_as_current_span("child") as child:
            child.set_status(trace_api.Status(trace_api.StatusCode.ERROR, "bad"))
    request = encode_spans(exporter.get_finished_spans())
    store.write(Signal.TRACES, request)
    store.flush()
    trace_id = format(parent.get_span_context().trace_id, "032x")
    trace = get_trace(store, trace_id)
    assert trace is not None
    spans = _by_span_id(trace["spans"])
    for rs in request.resource_spans:
        for ss in rs.scope_spans:
            for span in ss.spans:
                _check_span(spans[span.span_id.hex()], span)
    child_record = spans[format(child.get_span_context().span_id, "016x")]
    assert child_record["parent_span_id"] == format(parent.get_span_context().span_id, "016x")
    assert child_record["status"] == {"code": 2, "message": "bad"}
    assert child_record["scope"] == {"name": "my.lib", "version": "2.0"}
    assert child_record["service_name"] == "sdk-app"
    assert services(store) == ["sdk-app"]
    assert operations(store, "sdk-app") == [
        {"name": "child", "span_kind": "internal"},
        {"name": "parent", "span_kind": "server"},
    ]


def test_services_and_operations(store: Store) -> None:
    store.write(Signal.TRACES, rich_trace_request())
    store.write(
        Signal.TRACES,
        trace_request("frontend", [make_span(5, 1, name="GET /checkout", kind=0)]),
    )
    store.flush()
    assert services(store) == ["db", "frontend"]
    assert operations(store, "frontend") == [
        {"name": "GET /checkout", "span_kind": ""},
        {"name": "GET /checkout", "span_kind": "server"},
        {"name": "SELECT orders", "span_kind": "client"},
    ]
    assert operations(store, "frontend", "client") == [
        {"name": "SELECT orders", "span_kind": "client"}
    ]
    assert operations(store, "nobody") == []
    with pytest.raises(ValueError, match="span kind"):
        operations(store, "frontend", "sideways")


@pytest.fixture
def searchable(store: Store) -> Store:
    """Ten traces of two spans, one a minute apart, newest last; every third has an error."""
    for i in range(10):
        start = NOW - HOUR + i * 60 * 10**9
        root = make_span(
            100 + i,
            1,
            name="GET /item",
            start=start,
            duration=(i + 1) * 10 * MS,
            attributes={"user": f"u{i % 2}", "code": 200 + i, "ok": i % 2 == 0, "w": i / 2},
            status=2 if i % 3 == 0 else 0,
        )
        child = make_span(
            100 + i,
            2,
            parent=1,
            name="load",
            kind=3,
            start=start + MS,
            duration=MS,
        )
        store.write(Signal.TRACES, trace_request("web", [root], resource={"zone": f"z{i % 2}"}))
        store.write(Signal.TRACES, trace_request("api", [child], scope=("api.lib", "3")))
    store.flush()
    return store


def _ids(store: Store, **query: Any) -> list[int]:
    return [int(t, 16) - 100 for t in find_trace_ids(store, TraceQuery(**query))]


def test_find_traces_newest_first_with_limit(searchable: Store) -> None:
    assert _ids(searchable, service="web") == [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]
    assert _ids(searchable, service="web", limit=3) == [9, 8, 7]
    traces = find_traces(searchable, TraceQuery(service="web", limit=2))
    assert [len(t["spans"]) for t in traces] == [2, 2]  # whole traces, not only the match
    assert {s["service_name"] for s in traces[0]["spans"]} == {"web", "api"}


def test_find_traces_by_fields(searchable: Store) -> None:
    assert _ids(searchable, service="api", operation="load", limit=2) == [9, 8]
    assert _ids(searchable, service="web", operation="load") == []
    assert _ids(searchable, service="api", span_kind="client", limit=1) == [9]
    assert _ids(searchable, service="api", span_kind="server") == []
    first = NOW - HOUR
    minute = 60 * 10**9
    assert _ids(searchable, service="web", start_min=first + 3 * minute) == [9, 8, 7, 6, 5, 4, 3]
    assert _ids(searchable, service="web", start_max=first + minute) == [1, 0]
    assert _ids(searchable, service="web", duration_min=80 * MS) == [9, 8, 7]
    assert _ids(searchable, service="web", duration_max=20 * MS) == [1, 0]
    assert _ids(searchable, service="web", duration_min=30 * MS, duration_max=40 * MS) == [3, 2]
    assert _ids(searchable, operation="load", limit=1) == [9]  # no service: all of them


def test_find_traces_by_tags(searchable: Store) -> None:
    def tags(**kv: str) -> list[int]:
        return _ids(searchable, service="web", tags=kv)

    assert tags(user="u1") == [9, 7, 5, 3, 1]
    assert tags(code="204") == [4]  # an int attribute
    assert tags(ok="true") == [8, 6, 4, 2, 0]  # a bool attribute
    assert tags(w="1.5") == [3]  # a double attribute
    assert tags(w="2") == [4]  # a whole double matches its integer spelling
    assert tags(zone="z0") == [8, 6, 4, 2, 0]  # a resource attribute
    assert tags(user="u1", zone="z1", code="203") == [3]
    assert tags(user="u1", zone="z0") == []
    assert tags(user="u") == []  # equality, not prefix
    assert tags(error="true") == [9, 6, 3, 0]
    assert tags(error="false") == [8, 7, 5, 4, 2, 1]
    assert tags(**{"span.kind": "server"}) == list(range(9, -1, -1))
    assert tags(**{"otel.status_code": "ERROR"}) == [9, 6, 3, 0]
    assert _ids(searchable, tags={"otel.scope.name": "api.lib"}, limit=1) == [9]
    assert _ids(searchable, tags={"otel.scope.version": "3"}, limit=1) == [9]
    assert tags(**{"otel.status_description": "x"}) == []
    assert tags(**{"w3c.tracestate": "x"}) == []


def test_trace_query_validation() -> None:
    with pytest.raises(ValueError, match="limit"):
        TraceQuery(limit=0)
    with pytest.raises(ValueError, match="span kind"):
        TraceQuery(span_kind="up")
    with pytest.raises(ValueError, match="duration_max"):
        TraceQuery(duration_min=5, duration_max=4)


def test_dependencies(store: Store) -> None:
    start = NOW - HOUR
    spans = {
        "web": [make_span(1, 1, start=start), make_span(1, 2, parent=1, start=start)],
        "api": [make_span(1, 3, parent=2, start=start), make_span(1, 4, parent=3, start=start)],
        "db": [make_span(1, 5, parent=4, start=start), make_span(1, 6, parent=3, start=start)],
    }
    # a second trace an hour earlier: api -> db once more
    spans["api"].append(make_span(2, 1, start=start - HOUR))
    spans["db"].append(make_span(2, 2, parent=1, start=start - HOUR))
    for service, items in spans.items():
        store.write(Signal.TRACES, trace_request(service, items))
    store.flush()
    assert dependencies(store, NOW, HOUR) == [
        {"parent": "api", "child": "db", "call_count": 2},
        {"parent": "web", "child": "api", "call_count": 1},
    ]
    assert dependencies(store, NOW, 3 * HOUR)[0] == {
        "parent": "api",
        "child": "db",
        "call_count": 3,
    }
    assert dependencies(store, NOW - 3 * HOUR, HOUR) == []


def test_operation_stats(searchable: Store) -> None:
    stats = operation_stats(searchable, quantiles=(0.5, 1.0))
    assert stats == [
        {
            "service": "api",
            "operation": "load",
            "span_kind": "client",
            "count": 10,
            "errors": 0,
            "durations": {"p50": MS, "p100": MS},
        },
        {
            "service": "web",
            "operation": "GET /item",
            "span_kind": "server",
            "count": 10,
            "errors": 4,
            "durations": {"p50": 55 * MS, "p100": 100 * MS},
        },
    ]
    first = NOW - HOUR
    recent = operation_stats(searchable, service="web", start=first + 8 * 60 * 10**9, end=NOW)
    assert [(s["count"], s["durations"]["p99"]) for s in recent] == [(2, pytest.approx(99.9 * MS))]
    with pytest.raises(ValueError, match="quantiles"):
        operation_stats(searchable, quantiles=(-1.0,))


def test_tag_search_is_exact_for_awkward_bytes(store: Store) -> None:
    awkward = ["back\\slash", 'quote"s', "it's", "ümlaut ✓", "\\x4A", "tab\tnew\nline"]
    spans = [make_span(i + 1, 1, attributes={"v": text}) for i, text in enumerate(awkward)]
    spans.append(make_span(99, 1, attributes={"v": "J"}))  # the text form of a tag byte
    store.write(Signal.TRACES, trace_request("svc", spans))
    store.flush()
    for i, text in enumerate(awkward):
        assert find_trace_ids(store, TraceQuery(tags={"v": text})) == [f"{i + 1:032x}"]
    assert find_trace_ids(store, TraceQuery(tags={"v": "back"})) == []
