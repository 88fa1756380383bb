"""The SDK's telemetry read back from a real ``otlpy run`` through every query API.

What the SDK made (kept in memory by the demo app) is the oracle: each span, event, link,
attribute and log record is compared with what the Jaeger v1 and v3 APIs and otlpy's own API
return, field by field.
"""

from __future__ import annotations

import io
import threading
import time
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource

from otlpy.store import cli
from otlpy_process import SERVICES, DemoApp, OtlpyProcess, parent_hex, span_hex

Demo = tuple[OtlpyProcess, DemoApp]

V1_ENVELOPE = {"data", "total", "limit", "offset", "errors"}
V1_SPAN_KEYS = {
    "traceID", "spanID", "operationName", "references", "startTime", "duration", "tags",
    "logs", "processID", "warnings",
}  # fmt: skip
KINDS = {1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}


def _rfc3339(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _window() -> dict[str, str]:
    now = time.time()
    return {
        "query.start_time_min": _rfc3339(now - 3600),
        "query.start_time_max": _rfc3339(now + 60),
    }


def _jaeger_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int64"
    if isinstance(value, float):
        return "float64"
    return "string"


def _tags(tags: list[dict[str, Any]]) -> dict[str, tuple[str, Any]]:
    return {t["key"]: (t["type"], t["value"]) for t in tags}


# -- Jaeger v1 --------------------------------------------------------------------------------


def test_services_and_operations(demo: Demo) -> None:
    otlpy, _ = demo
    body = otlpy.json("/api/services")
    assert body == {"data": sorted(SERVICES), "total": 3, "limit": 0, "offset": 0, "errors": None}
    body = otlpy.json("/api/services/checkout/operations")
    assert body["data"] == ["Charge", "PlaceOrder"]
    assert set(body) == V1_ENVELOPE
    body = otlpy.json("/api/operations", {"service": "checkout"})
    assert body["data"] == [
        {"name": "Charge", "spanKind": "client"},
        {"name": "PlaceOrder", "spanKind": "server"},
    ]
    assert body["total"] == 2
    body = otlpy.json("/api/operations", {"service": "checkout", "spanKind": "server"})
    assert body["data"] == [{"name": "PlaceOrder", "spanKind": "server"}]
    status, body = otlpy.get("/api/operations")
    assert status == 400
    assert body["errors"] == [{"code": 400, "msg": "parameter 'service' is required"}]
    assert otlpy.json("/api/v3/services") == {"services": sorted(SERVICES)}
    assert otlpy.json("/api/v3/operations", {"service": "payment"}) == {
        "operations": [{"name": "Charge", "spanKind": "server"}]
    }


def test_every_trace_reads_back_as_the_sdk_made_it(demo: Demo) -> None:
    otlpy, app = demo
    sdk_spans = {span_hex(s): s for s in app.spans}
    for trace_id in app.trace_ids():
        body = otlpy.json(f"/api/traces/{trace_id}")
        assert set(body) == V1_ENVELOPE
        assert body["errors"] is None
        (trace,) = body["data"]
        assert trace["traceID"] == trace_id
        expected = [s for s in app.spans if f"{s.context.trace_id:032x}" == trace_id]
        assert len(trace["spans"]) == len(expected) == 5
        for got in trace["spans"]:
            sdk = sdk_spans[got["spanID"]]
            assert V1_SPAN_KEYS <= set(got) <= V1_SPAN_KEYS | {"flags"}
            assert got["traceID"] == trace_id
            assert got["operationName"] == sdk.name
            assert got["startTime"] == sdk.start_time // 1000
            assert got["duration"] == (sdk.end_time - sdk.start_time) // 1000
            assert got["warnings"] is None
            refs = got["references"]
            if sdk.parent:
                assert refs[0] == {
                    "refType": "CHILD_OF",
                    "traceID": trace_id,
                    "spanID": parent_hex(sdk),
                }
            for link, ref in zip(sdk.links, refs[1 if sdk.parent else 0 :], strict=True):
                assert ref == {
                    "refType": "FOLLOWS_FROM",
                    "traceID": f"{link.context.trace_id:032x}",
                    "spanID": f"{link.context.span_id:016x}",
                }
            tags = _tags(got["tags"])
            for key, value in (sdk.attributes or {}).items():
                assert tags[key] == (_jaeger_type(value), value), key
            assert tags["span.kind"] == ("string", KINDS[sdk.kind.value + 1])
            assert tags["otel.scope.name"] == ("string", "demo.tracer")
            assert tags["otel.scope.version"] == ("string", "0.1")
            if sdk.status.is_ok:
                assert "error" not in tags
            else:
                assert tags["error"] == ("bool", True)
                assert tags["otel.status_code"] == ("string", "ERROR")
                assert tags["otel.status_description"] == ("string", "card declined")
            assert len(got["logs"]) == len(sdk.events)
            for log, event in zip(got["logs"], sdk.events, strict=True):
                assert log["timestamp"] == event.timestamp // 1000
                fields = _tags(log["fields"])
                assert fields["event"] == ("string", event.name)
                for key, value in (event.attributes or {}).items():
                    assert fields[key] == (_jaeger_type(value), value)
            process = trace["processes"][got["processID"]]
            assert process["serviceName"] == sdk.resource.attributes["service.name"]
            ptags = _tags(process["tags"])
            assert "service.name" not in ptags
            for key, value in sdk.resource.attributes.items():
                if key != "service.name":
                    assert ptags[key] == (_jaeger_type(value), value)


def test_trace_search(demo: Demo) -> None:
    otlpy, app = demo
    ids = app.trace_ids()

    def found(params: dict[str, Any]) -> list[str]:
        body = otlpy.json("/api/traces", params)
        assert set(body) == V1_ENVELOPE
        return [t["traceID"] for t in body["data"]]

    assert sorted(found({"service": "frontend"})) == sorted(ids)
    # newest first, and the limit counts traces
    assert found({"service": "frontend", "limit": 2}) == ids[:-3:-1]
    assert found({"service": "frontend", "tags": '{"user.id":"u2"}'}) == [ids[2]]
    assert found({"service": "frontend", "tags": "user.id=u2"}) == [ids[2]]
    assert found({"service": "frontend", "tag": "user.id:u2"}) == [ids[2]]
    assert found({"service": "frontend", "tags": '{"demo.run": 3}'}) == [ids[3]]
    assert found({"service": "payment", "tags": '{"error":"true"}'}) == [ids[0]]
    # resource attributes are tags too
    assert sorted(found({"service": "payment", "tags": '{"service.version":"1.4.2"}'})) == sorted(
        ids
    )
    assert sorted(found({"service": "checkout", "operation": "PlaceOrder"})) == sorted(ids)
    assert found({"service": "checkout", "operation": "Nope"}) == []
    assert found({"service": "frontend", "minDuration": "1h"}) == []
    assert sorted(
        found({"service": "frontend", "maxDuration": "1h", "minDuration": "1us"})
    ) == sorted(ids)
    # microsecond time bounds: an empty window in the past, then one that holds everything
    now_us = int(time.time() * 1e6)
    assert (
        found({"service": "frontend", "start": now_us - 7200 * 10**6, "end": now_us - 3600 * 10**6})
        == []
    )
    assert len(found({"service": "frontend", "start": now_us - 3600 * 10**6, "end": now_us})) == 4
    assert len(found({"service": "frontend", "lookback": "1h"})) == 4
    by_id = otlpy.json("/api/traces", {"traceID": [ids[1], "f" * 32]})
    assert [t["traceID"] for t in by_id["data"]] == [ids[1]]
    assert by_id["errors"] == [{"code": 404, "msg": "trace not found", "traceID": "f" * 32}]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "parameter 'service' is required"),
        ({"service": "a", "minDuration": "abc"}, "unable to parse param 'minDuration'"),
        (
            {"service": "a", "minDuration": "2s", "maxDuration": "1s"},
            "'maxDuration' should be greater than 'minDuration'",
        ),
        ({"service": "a", "limit": "many"}, "unable to parse param 'limit'"),
        ({"service": "a", "start": "yesterday"}, "unable to parse param 'start'"),
        ({"service": "a", "tags": "{not json"}, "malformed 'tags' parameter"),
        ({"service": "a", "tag": "novalue"}, "malformed 'tag' parameter"),
        ({"service": "a", "lookback": "forever"}, "unable to parse param 'lookback'"),
        ({"service": "a", "spanKind": "sideways"}, "unsupported span kind"),
        ({"traceID": "xyz"}, "cannot parse traceID"),
    ],
)
def test_bad_search_parameters_answer_400(demo: Demo, params: dict[str, Any], message: str) -> None:
    otlpy, _ = demo
    status, body = otlpy.get("/api/traces", params)
    assert status == 400
    assert body["data"] is None and body["total"] == 0
    (error,) = body["errors"]
    assert error["code"] == 400
    assert message in error["msg"]


def test_missing_and_malformed_trace_ids(demo: Demo) -> None:
    otlpy, _ = demo
    status, body = otlpy.get(f"/api/traces/{'ab' * 16}")
    assert (status, body["errors"]) == (404, [{"code": 404, "msg": "trace not found"}])
    status, body = otlpy.get("/api/traces/not-hex")
    assert status == 400 and "cannot parse traceID" in body["errors"][0]["msg"]
    status, body = otlpy.get(f"/api/traces/{'1' * 33}")
    assert status == 400
    status, body = otlpy.get(f"/api/v3/traces/{'ab' * 16}")
    assert (status, body) == (404, {"error": {"httpCode": 404, "message": "No traces found"}})


def test_dependencies(demo: Demo) -> None:
    otlpy, _ = demo
    body = otlpy.json("/api/dependencies", {"endTs": int(time.time() * 1000), "lookback": 3600_000})
    assert set(body) == V1_ENVELOPE
    assert body["data"] == [
        {"parent": "checkout", "child": "payment", "callCount": 4},
        {"parent": "frontend", "child": "checkout", "callCount": 4},
    ]
    assert otlpy.json("/api/dependencies", {"service": "payment"})["data"] == [
        {"parent": "checkout", "child": "payment", "callCount": 4}
    ]
    old = otlpy.json(
        "/api/dependencies", {"endTs": int(time.time() * 1000) - 7200_000, "lookback": 60_000}
    )
    assert old["data"] == []
    status, body = otlpy.get("/api/dependencies", {"lookback": "1h"})
    assert status == 400 and "lookback" in body["errors"][0]["msg"]


# -- Jaeger v3 --------------------------------------------------------------------------------


def _v3_spans(
    body: dict[str, Any],
) -> dict[str, tuple[dict[str, Any], dict[str, Any], dict[str, Any]]]:
    out = {}
    for rs in body["result"]["resourceSpans"]:
        for ss in rs["scopeSpans"]:
            for span in ss["spans"]:
                out[span["spanId"]] = (span, rs["resource"], ss["scope"])
    return out


def test_v3_search_and_trace(demo: Demo) -> None:
    otlpy, app = demo
    sdk_spans = {span_hex(s): s for s in app.spans}
    ids = app.trace_ids()
    for params in (
        {"query.service_name": "payment", **_window()},
        {
            "query.serviceName": "payment",
            "query.startTimeMin": _window()["query.start_time_min"],
            "query.startTimeMax": _window()["query.start_time_max"],
            "query.searchDepth": "10",
        },
    ):
        spans = _v3_spans(otlpy.json("/api/v3/traces", params))
        # whole traces come back, not only the matching spans
        assert len(spans) == len(app.spans)
    for span_id, (span, resource, scope) in spans.items():
        sdk = sdk_spans[span_id]
        assert span["traceId"] == f"{sdk.context.trace_id:032x}"
        assert span.get("parentSpanId", "") == parent_hex(sdk)
        assert span["name"] == sdk.name
        assert span["kind"] == sdk.kind.value + 1
        assert span["startTimeUnixNano"] == str(sdk.start_time)
        assert span["endTimeUnixNano"] == str(sdk.end_time)
        assert {kv["key"] for kv in span.get("attributes", [])} == set(sdk.attributes or {})
        assert scope == {"name": "demo.tracer", "version": "0.1"}
        service = [a for a in resource["attributes"] if a["key"] == "service.name"]
        assert service == [
            {
                "key": "service.name",
                "value": {"stringValue": sdk.resource.attributes["service.name"]},
            }
        ]
    one = otlpy.json(f"/api/v3/traces/{ids[0]}", {"start_time": _window()["query.start_time_min"]})
    assert {s["traceId"] for s, _, _ in _v3_spans(one).values()} == {ids[0]}
    limited = otlpy.json(
        "/api/v3/traces",
        {"query.service_name": "frontend", "query.attributes": '{"user.id":"u1"}', **_window()},
    )
    assert {s["traceId"] for s, _, _ in _v3_spans(limited).values()} == {ids[1]}
    status, body = otlpy.get("/api/v3/traces", {"query.service_name": "payment"})
    assert status == 400
    assert body["error"]["httpCode"] == 400 and "required" in body["error"]["message"]
    status, body = otlpy.get("/api/v3/traces", {**_window(), "query.duration_min": "1h"})
    assert (status, body["error"]["message"]) == (404, "No traces found")
    deps = otlpy.json(
        "/api/v3/dependencies",
        {
            "startTime": _window()["query.start_time_min"],
            "endTime": _window()["query.start_time_max"],
        },
    )
    assert {"parent": "frontend", "child": "checkout", "callCount": "4"} in deps["dependencies"]


# -- otlpy's own API --------------------------------------------------------------------------


def test_trace_summaries_and_records(demo: Demo) -> None:
    otlpy, app = demo
    ids = app.trace_ids()
    body = otlpy.json("/api/otlpy/traces", {"lookback": "1h"})
    assert [t["trace_id"] for t in body["traces"]] == ids[::-1]
    failed = next(t for t in body["traces"] if t["trace_id"] == ids[0])
    assert failed["root_service"] == "frontend" and failed["root_name"] == "GET /checkout"
    assert failed["span_count"] == 5 and failed["error_count"] == 1
    assert failed["services"] == {"checkout": 2, "frontend": 2, "payment": 1}
    page = otlpy.json("/api/otlpy/traces", {"limit": 3})
    assert len(page["traces"]) == 3 and page["next_cursor"] is not None
    same = {"start": page["start"], "end": page["end"], "limit": 3}
    rest = otlpy.json("/api/otlpy/traces", {**same, "cursor": page["next_cursor"]})
    assert [t["trace_id"] for t in page["traces"] + rest["traces"]] == ids[::-1]
    assert rest["next_cursor"] is None
    status, body = otlpy.get("/api/otlpy/traces", {"cursor": "yesterday"})
    assert status == 400 and body["error"]["param"] == "cursor"
    record = otlpy.json(f"/api/otlpy/traces/{ids[0]}")["trace"]
    payment = next(s for s in record["spans"] if s["service_name"] == "payment")
    assert payment["status"] == {"code": 2, "message": "card declined"}
    (event,) = payment["events"]
    assert event["name"] == "exception"
    status, body = otlpy.get(f"/api/otlpy/traces/{'0' * 31}1")
    assert status == 404 and body["error"]["status"] == 404


def test_logs_search(demo: Demo) -> None:
    otlpy, app = demo
    ids = app.trace_ids()
    body = otlpy.json("/api/otlpy/logs", {"lookback": "1h"})
    assert len(body["logs"]) == len(app.logs)
    (error,) = otlpy.json("/api/otlpy/logs", {"severity": "error"})["logs"]
    sdk_error = next(r for r in app.logs if r.log_record.severity_number == SeverityNumber.ERROR)
    assert error["body_text"] == "payment failed: card declined"
    assert error["service_name"] == "payment"
    assert error["trace_id"] == ids[0]
    assert error["span_id"] == f"{sdk_error.log_record.span_id:016x}"
    # the SDK's emit() sets only the observed time; the store orders by it then
    assert sdk_error.log_record.timestamp is None
    assert error["timestamp"] == sdk_error.log_record.observed_timestamp
    warn = otlpy.json("/api/otlpy/logs", {"severity": "warn"})["logs"]
    assert {r["body_text"] for r in warn} == {"payment failed: card declined", "cache is cold"}
    assert [r["body_text"] for r in otlpy.json("/api/otlpy/logs", {"text": "COLD"})["logs"]] == [
        "cache is cold"
    ]
    assert len(otlpy.json("/api/otlpy/logs", {"attributes": "user.id=u3"})["logs"]) == 1
    assert len(otlpy.json("/api/otlpy/logs", {"service": "frontend"})["logs"]) == 4
    trace_logs = otlpy.json("/api/otlpy/logs", {"trace_id": ids[0]})["logs"]
    assert {r["service_name"] for r in trace_logs} == {"frontend", "payment"}
    status, body = otlpy.get("/api/otlpy/logs", {"severity": "loud"})
    assert status == 400 and body["error"]["param"] == "severity"


def test_live_tail_returns_records_as_they_arrive(demo: Demo) -> None:
    otlpy, _ = demo
    start = otlpy.json("/api/otlpy/logs/tail", {"limit": 2})
    assert len(start["logs"]) == 2
    cursor = start["cursor"]
    assert start["logs"][-1]["seq"] == cursor
    assert otlpy.json("/api/otlpy/logs/tail", {"cursor": cursor})["logs"] == []
    result: dict[str, Any] = {}

    def wait_for_more() -> None:
        result["page"] = otlpy.json(
            "/api/otlpy/logs/tail", {"cursor": cursor, "wait": 20, "service": "tailer"}
        )

    waiter = threading.Thread(target=wait_for_more)
    waiter.start()
    provider = LoggerProvider(resource=Resource.create({"service.name": "tailer"}))
    exporter = OTLPLogExporter(endpoint=f"http://127.0.0.1:{otlpy.http_port}/v1/logs")
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    provider.get_logger("tail").emit(severity_number=SeverityNumber.INFO, body="hello, tail")
    provider.shutdown()
    waiter.join(30)
    assert [r["body_text"] for r in result["page"]["logs"]] == ["hello, tail"]
    assert result["page"]["cursor"] > cursor


def test_metrics(demo: Demo) -> None:
    otlpy, _ = demo
    metrics = {m["name"]: m for m in otlpy.json("/api/otlpy/metrics")["metrics"]}
    assert metrics["demo.orders"] | {"attribute_keys": None} == {
        "name": "demo.orders",
        "type": "sum",
        "unit": "1",
        "description": "orders placed",
        "temporality": "cumulative",
        "monotonic": True,
        "attribute_keys": None,
    }
    assert metrics["demo.orders"]["attribute_keys"] == ["region"]
    assert metrics["demo.checkout.duration"]["type"] == "histogram"
    assert metrics["demo.queue.depth"]["monotonic"] is False
    series = otlpy.json(
        "/api/otlpy/metrics/series",
        {"name": "demo.orders", "aggregation": "max", "group_by": "region", "lookback": "1h"},
    )
    values = {s["labels"]["region"]: [p[1] for p in s["points"]] for s in series["series"]}
    assert values == {"us": [4.0], "eu": [6.0]}
    total = otlpy.json(
        "/api/otlpy/metrics/series",
        {"name": "demo.orders", "aggregation": "max", "group_by": "none"},
    )
    assert [s["labels"] for s in total["series"]] == [{}]
    histogram = otlpy.json("/api/otlpy/metrics/histogram", {"name": "demo.checkout.duration"})
    # observations 5, 20, 45 and 80 ms in the SDK's default buckets
    assert (histogram["count"], histogram["sum"], histogram["min"], histogram["max"]) == (
        4,
        150.0,
        5.0,
        80.0,
    )
    assert [(b["lower"], b["upper"], b["count"]) for b in histogram["buckets"] if b["count"]] == [
        (0.0, 5.0, 1),
        (10.0, 25.0, 1),
        (25.0, 50.0, 1),
        (75.0, 100.0, 1),
    ]
    for params, param in (
        ({}, "name"),
        ({"name": "demo.orders", "aggregation": "median"}, "aggregation"),
        ({"name": "demo.orders", "step": "1ms"}, "step"),
        ({"name": "demo.orders", "start": "2030-01-01T00:00:00Z"}, "start"),
    ):
        status, body = otlpy.get("/api/otlpy/metrics/series", params)
        assert status == 400 and body["error"]["param"] == param, body
    status, body = otlpy.get("/api/otlpy/metrics/histogram", {"name": "x", "quantiles": "2"})
    assert status == 400 and body["error"]["param"] == "quantiles"


def test_info_and_unknown_api(demo: Demo) -> None:
    otlpy, app = demo
    info = otlpy.json("/api/otlpy/info")
    assert info["counts"]["spans"] == len(app.spans)
    assert info["counts"]["services"] == 3
    assert info["data_directory"] == str(otlpy.data_dir.resolve())
    status, body = otlpy.get("/api/nothing/here")
    assert status == 404 and "no API" in body["error"]["message"]


# -- otlpy query ------------------------------------------------------------------------------


def _query(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = cli.run(list(argv), out=out)
    return code, out.getvalue()


def test_query_cli_over_http(demo: Demo, capsys: pytest.CaptureFixture[str]) -> None:
    otlpy, app = demo
    ids = app.trace_ids()
    assert _query("services", "--url", otlpy.url) == (0, "checkout\nfrontend\npayment\n")
    code, text = _query("traces", "--url", otlpy.url, "--service", "payment", "--tag", "error=true")
    assert code == 0
    (line,) = text.splitlines()
    assert line.endswith(f"frontend: GET /checkout  {ids[0]}") and "1 error" in line
    code, text = _query("traces", "--url", otlpy.url, "--json", "-n", "2")
    assert [orjson.loads(x)["trace_id"] for x in text.splitlines()] == ids[:-3:-1]
    code, text = _query("trace", ids[0], "--url", otlpy.url)
    lines = text.splitlines()
    assert lines[0].startswith(f"trace {ids[0]}") and "5 spans  1 error" in lines[0]
    assert "frontend: GET /checkout [server]" in lines[1]
    assert lines[5].endswith("payment: Charge [server]  ✗ card declined")
    assert "└─" in lines[5]
    code, text = _query("logs", "--url", otlpy.url, "--severity", "warn")
    assert code == 0
    assert [line.split()[2:4] for line in text.splitlines()] == [
        ["ERROR", "payment"],
        ["WARN", "checkout"],
    ]
    code, text = _query("logs", "--url", otlpy.url, "--trace-id", ids[0], "--json")
    assert {orjson.loads(x)["trace_id"] for x in text.splitlines()} == {ids[0]}
    assert _query("trace", "f" * 32, "--url", otlpy.url)[0] == 1
    assert "not found" in capsys.readouterr().err
    assert _query("logs", "--url", otlpy.url, "--severity", "loud")[0] == 2
    assert "argument --severity: unknown severity" in capsys.readouterr().err
