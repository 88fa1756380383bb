"""Jaeger shapes: the v1 JSON model and envelopes, the v3 OTLP JSON."""

from __future__ import annotations

import base64
import copy
from typing import Any

import orjson
import pytest
from google.protobuf.json_format import ParseDict
from opentelemetry.proto.trace.v1.trace_pb2 import TracesData

from otlpy.pdata import Signal
from otlpy.store import Store, jaeger
from otlpy.store.queries import TraceRecord, get_trace
from store_builders import make_span, rich_trace_request, trace_request

START_US = 1_749_998_200_000_000


@pytest.fixture
def rich(store: Store) -> TraceRecord:
    store.write(Signal.TRACES, rich_trace_request())
    store.flush()
    trace = get_trace(store, "1")
    assert trace is not None
    return trace


def _s(key: str, value: str) -> dict[str, Any]:
    return {"key": key, "type": "string", "value": value}


def test_v1_trace_model(rich: TraceRecord) -> None:
    got = jaeger.trace(rich)
    root, child, query = got["spans"]
    assert root == {
        "traceID": "00000000000000000000000000000001",
        "spanID": "0000000000000001",
        "operationName": "GET /checkout",
        "references": [
            {
                "refType": "FOLLOWS_FROM",
                "traceID": "00000000000000000000000000000063",
                "spanID": "0000000000000062",
            }
        ],
        "startTime": START_US,
        "duration": 10_000,
        "tags": [
            _s("otel.scope.name", "test.scope"),
            _s("otel.scope.version", "1.0"),
            _s("http.method", "GET"),
            {"key": "http.status_code", "type": "int64", "value": 200},
            {"key": "ratio", "type": "float64", "value": 0.5},
            {"key": "cached", "type": "bool", "value": True},
            {"key": "blob", "type": "binary", "value": "AAH/"},
            _s("tags", '["a",1,false]'),
            _s("nested", '{"k":"v","n":2}'),
            # beyond JavaScript's safe integers: a string
            {"key": "big", "type": "int64", "value": str(2**60)},
            _s("span.kind", "server"),
            _s("otel.status_code", "ERROR"),
            {"key": "error", "type": "bool", "value": True},
            _s("otel.status_description", "boom"),
            _s("w3c.tracestate", "vendor=1"),
        ],
        "logs": [
            {
                "timestamp": START_US + 5_000,
                "fields": [
                    _s("event", "exception"),
                    _s("exception.type", "ValueError"),
                    {"key": "count", "type": "int64", "value": 7},
                ],
            }
        ],
        "processID": "p1",
        "warnings": None,
        "flags": 257,
    }
    assert child["references"] == [
        {
            "refType": "CHILD_OF",
            "traceID": "00000000000000000000000000000001",
            "spanID": "0000000000000001",
        }
    ]
    assert child["tags"][-2:] == [_s("span.kind", "client"), _s("otel.status_code", "OK")]
    assert "flags" not in child
    assert child["processID"] == "p1"
    assert query["processID"] == "p2"
    assert query["tags"] == [_s("otel.scope.name", "db.instrumentation"), _s("span.kind", "server")]
    assert got["processes"] == {
        "p1": {
            "serviceName": "frontend",
            "tags": [_s("host.name", "web-1"), {"key": "pid", "type": "int64", "value": 42}],
        },
        "p2": {"serviceName": "db", "tags": []},
    }
    assert got["traceID"] == "00000000000000000000000000000001"
    orjson.dumps(got)  # plain data


def test_links_to_the_parent_set_its_reference_type(store: Store) -> None:
    span = make_span(1, 2, parent=1, kind=0)
    link = span.links.add(trace_id=span.trace_id, span_id=span.parent_span_id)
    link.attributes.add(key="opentracing.ref_type").value.string_value = "follows_from"
    other = span.links.add(trace_id=span.trace_id, span_id=(5).to_bytes(8, "big"))
    other.attributes.add(key="opentracing.ref_type").value.string_value = "child_of"
    event = span.events.add(name="named")
    event.attributes.add(key="event").value.string_value = "own"
    store.write(Signal.TRACES, trace_request("svc", [span], scope=("", "")))
    store.flush()
    trace = get_trace(store, "1")
    assert trace is not None
    got = jaeger.span(trace["spans"][0], "p9")
    assert [r["refType"] for r in got["references"]] == ["FOLLOWS_FROM", "CHILD_OF"]
    assert got["references"][1]["spanID"] == "0000000000000005"
    assert got["tags"] == []  # no scope, kind or status
    # an event with its own "event" attribute keeps it rather than its name
    assert got["logs"][0]["fields"] == [_s("event", "own")]
    assert got["processID"] == "p9"


def test_tag_types() -> None:
    assert jaeger.tag("d", {"doubleValue": "NaN"}) == {
        "key": "d",
        "type": "float64",
        "value": "NaN",
    }
    assert jaeger.tag("e", {}) == _s("e", "")
    assert jaeger.tag("n", {"intValue": str(-(2**53))}) == {
        "key": "n",
        "type": "int64",
        "value": str(-(2**53)),
    }


def test_v1_envelopes(rich: TraceRecord) -> None:
    body = jaeger.traces_response([rich])
    assert body["data"] == [jaeger.trace(rich)]
    assert (body["total"], body["limit"], body["offset"], body["errors"]) == (0, 0, 0, None)
    assert jaeger.services_response(["a", "b"]) == {
        "data": ["a", "b"],
        "total": 2,
        "limit": 0,
        "offset": 0,
        "errors": None,
    }
    ops = [
        {"name": "b", "span_kind": "server"},
        {"name": "a", "span_kind": ""},
        {"name": "b", "span_kind": "client"},
    ]
    assert jaeger.operations_response(ops)["data"] == [
        {"name": "b", "spanKind": "server"},
        {"name": "a", "spanKind": ""},
        {"name": "b", "spanKind": "client"},
    ]
    assert jaeger.operations_response(ops)["total"] == 3
    assert jaeger.operation_names_response(ops)["data"] == ["a", "b"]
    assert jaeger.operation_names_response(ops)["total"] == 2
    deps = jaeger.dependencies_response([{"parent": "a", "child": "b", "call_count": 3}])
    assert deps["data"] == [{"parent": "a", "child": "b", "callCount": 3}]
    assert jaeger.error_response(404, "trace not found", trace_id="ab") == {
        "data": None,
        "total": 0,
        "limit": 0,
        "offset": 0,
        "errors": [{"code": 404, "msg": "trace not found", "traceID": "ab"}],
    }
    assert jaeger.error_response(400, "bad")["errors"] == [{"code": 400, "msg": "bad"}]


def _hex_ids_to_base64(node: Any) -> Any:
    """OTLP JSON writes ids in hex; protobuf's JSON parser wants base64."""
    if isinstance(node, list):
        return [_hex_ids_to_base64(n) for n in node]
    if isinstance(node, dict):
        return {
            k: (
                base64.b64encode(bytes.fromhex(v)).decode()
                if k in ("traceId", "spanId", "parentSpanId")
                else _hex_ids_to_base64(v)
            )
            for k, v in node.items()
        }
    return node


def test_v3_otlp_json_is_the_request_again(rich: TraceRecord) -> None:
    request = rich_trace_request()
    body = jaeger.v3_traces([rich])
    assert list(body) == ["result"]
    parsed = ParseDict(_hex_ids_to_base64(copy.deepcopy(body["result"])), TracesData())
    assert parsed == TracesData(resource_spans=request.resource_spans)
    span = body["result"]["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    assert span["traceId"] == "00000000000000000000000000000001"
    assert span["startTimeUnixNano"] == str(START_US * 1000)
    assert span["kind"] == 2
    assert span["status"] == {"message": "boom", "code": 2}
    orjson.dumps(body)


def test_v3_other_bodies() -> None:
    assert jaeger.v3_services(["a"]) == {"services": ["a"]}
    assert jaeger.v3_operations([{"name": "x", "span_kind": "client"}]) == {
        "operations": [{"name": "x", "spanKind": "client"}]
    }
    assert jaeger.v3_error(404, "No traces found") == {
        "error": {"httpCode": 404, "message": "No traces found"}
    }
    assert jaeger.v3_traces([]) == {"result": {"resourceSpans": []}}
