"""The requests Grafana's Jaeger data source makes, exactly as it makes them, against otlpy.

There is no Grafana here; these are the URLs its frontend (``datasource.ts``) and backend
(``pkg/tsdb/jaeger``: ``client.go``, ``grpc_client.go``) build, including their quirks: the
frontend sends ``lookback=custom`` with microsecond ``start``/``end``, the backend sends trace
lookups' bounds in milliseconds, and its v3 client appends RFC 3339 times to the URL without
encoding them (so a ``+`` in an offset arrives as a space). Each response is checked against
the types Grafana decodes it into, field by field.
"""

from __future__ import annotations

import time
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson

from otlpy_process import SERVICES, DemoApp, OtlpyProcess

Demo = tuple[OtlpyProcess, DemoApp]


def raw_get(otlpy: OtlpyProcess, path_and_query: str) -> tuple[int, Any]:
    """GET a URL exactly as written (no re-encoding), as Go's http client sends RawQuery."""
    request = urllib.request.Request(otlpy.url + path_and_query)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, orjson.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, orjson.loads(exc.read())


def check_v1_envelope(body: Any) -> None:
    # ServicesResponse / TracesResponse: data, errors, limit, offset, total
    assert isinstance(body["limit"], int) and isinstance(body["offset"], int)
    assert isinstance(body["total"], int)
    assert body["errors"] is None or isinstance(body["errors"], list)


def check_jaeger_trace(trace: Any) -> None:
    """TraceResponse as Grafana's Go backend and its frontend transform read it."""
    assert isinstance(trace["traceID"], str)
    for process in trace["processes"].values():
        assert isinstance(process["serviceName"], str)
        for tag in process["tags"]:
            assert set(tag) == {"key", "type", "value"}
    for span in trace["spans"]:
        assert span["processID"] in trace["processes"]
        for key in ("traceID", "spanID", "processID", "operationName"):
            assert isinstance(span[key], str)
        for key in ("startTime", "duration"):
            assert isinstance(span[key], int) and not isinstance(span[key], bool)
        assert isinstance(span.get("flags", 0), int)
        assert span["warnings"] is None or isinstance(span["warnings"], list)
        for ref in span["references"]:
            assert set(ref) == {"refType", "spanID", "traceID"}
            assert ref["refType"] in ("CHILD_OF", "FOLLOWS_FROM")
        for log in span["logs"]:
            assert isinstance(log["timestamp"], int)
            assert all(set(f) == {"key", "type", "value"} for f in log["fields"])
        for tag in span["tags"]:
            assert tag["type"] in ("string", "bool", "int64", "float64", "binary")


def test_frontend_requests(demo: Demo) -> None:
    otlpy, app = demo
    # testDatasource: services found means "Data source connected and services found."
    status, body = raw_get(otlpy, "/api/services")
    assert status == 200 and body["data"] == sorted(SERVICES)
    check_v1_envelope(body)
    # the query editor's operation list: metadataRequest, encodeURIComponent(service)
    status, body = raw_get(
        otlpy, f"/api/services/{urllib.parse.quote('checkout', safe='')}/operations"
    )
    assert body["data"] == ["Charge", "PlaceOrder"]
    # search: serializeParams of service, operation, tags (logfmt turned JSON), durations,
    # limit, the time range in microseconds and lookback=custom
    now = time.time()
    params = urllib.parse.urlencode(
        {
            "service": "frontend",
            "operation": "GET /checkout",
            "tags": '{"user.id":"u1"}',
            "minDuration": "1us",
            "maxDuration": "10s",
            "limit": "20",
            "start": int((now - 3600) * 1e6),
            "end": int((now + 60) * 1e6),
            "lookback": "custom",
        }
    )
    status, body = raw_get(otlpy, f"/api/traces?{params}")
    assert status == 200
    check_v1_envelope(body)
    assert [t["traceID"] for t in body["data"]] == [app.trace_ids()[1]]
    check_jaeger_trace(body["data"][0])
    # trace by id: encodeURIComponent(id), then data[0]
    status, body = raw_get(otlpy, f"/api/traces/{app.trace_ids()[0]}")
    assert status == 200
    check_jaeger_trace(body["data"][0])
    assert len(body["data"][0]["spans"]) == 5


def test_backend_requests(demo: Demo) -> None:
    otlpy, app = demo
    ids = app.trace_ids()
    # Services() and Operations(s): url.JoinPath escapes a service name with a space
    assert raw_get(otlpy, "/api/services")[1]["data"] == sorted(SERVICES)
    status, body = raw_get(otlpy, "/api/services/no%20such%20service/operations")
    assert (status, body["data"]) == (200, [])
    # Search(query, start, end): limit, start/end in microseconds, then the other params
    now = time.time()
    query = urllib.parse.urlencode(
        {
            "limit": "20",
            "start": int((now - 3600) * 1e6),
            "end": int(now * 1e6),
            "service": "payment",
            "tags": '{"error":"true"}',
        }
    )
    status, body = raw_get(otlpy, f"/api/traces?{query}")
    assert [t["traceID"] for t in body["data"]] == [ids[0]]
    # Trace(id, start, end) with traceIdTimeParams: the dashboard range in MILLISECONDS
    query = urllib.parse.urlencode({"end": int(now * 1000), "start": int((now - 60) * 1000)})
    status, body = raw_get(otlpy, f"/api/traces/{ids[2]}?{query}")
    assert status == 200 and body["data"][0]["traceID"] == ids[2]
    check_jaeger_trace(body["data"][0])
    # Dependencies(start, end): endTs and lookback = end - start, in milliseconds
    end_ms = int(now * 1000)
    status, body = raw_get(otlpy, f"/api/dependencies?endTs={end_ms}&lookback={3600_000}")
    assert status == 200
    for link in body["data"]:
        assert set(link) == {"parent", "child", "callCount"}
        assert isinstance(link["callCount"], int)
    assert {(d["parent"], d["child"]) for d in body["data"]} == {
        ("frontend", "checkout"),
        ("checkout", "payment"),
    }


def _go_rfc3339nano(moment: datetime) -> str:
    """Go's time.Format(time.RFC3339Nano): trailing zeros of the fraction dropped."""
    text = moment.isoformat(timespec="microseconds")
    head, _, rest = text.partition(".")
    fraction, offset = rest[:6].rstrip("0"), rest[6:]
    offset = "Z" if offset in ("+00:00", "") else offset
    return f"{head}{'.' + fraction if fraction else ''}{offset}"


def test_backend_v3_requests(demo: Demo) -> None:
    otlpy, app = demo
    ids = app.trace_ids()
    now = datetime.now(UTC)
    # GrpcSearch: encoded params, then the times appended unencoded; in a UTC+2 zone the
    # '+' of the offset becomes a space on the server
    zone = timezone(timedelta(hours=2))
    encoded = urllib.parse.urlencode(
        {
            "query.service_name": "frontend",
            "query.operation_name": "GET /checkout",
            "query.attributes": '{"user.id":"u3"}',
            "query.duration_min": "1us",
        }
    )
    for start, end in (
        (now - timedelta(hours=1), now + timedelta(minutes=1)),
        (
            (now - timedelta(hours=1)).astimezone(zone),
            (now + timedelta(minutes=1)).astimezone(zone),
        ),
    ):
        url = (
            f"/api/v3/traces?{encoded}"
            f"&query.start_time_min={_go_rfc3339nano(start)}"
            f"&query.start_time_max={_go_rfc3339nano(end)}"
        )
        status, body = raw_get(otlpy, url)
        assert status == 200, body
        check_grpc_traces(body)
        trace_ids = {
            span["traceId"]
            for rs in body["result"]["resourceSpans"]
            for ss in rs["scopeSpans"]
            for span in ss["spans"]
        }
        assert trace_ids == {ids[3]}
    # GrpcTrace with traceIdTimeParams: start_time/end_time appended unencoded
    url = (
        f"/api/v3/traces/{ids[0]}?start_time={_go_rfc3339nano(now - timedelta(hours=1))}"
        f"&end_time={_go_rfc3339nano(now)}"
    )
    status, body = raw_get(otlpy, url)
    assert status == 200
    check_grpc_traces(body)


def check_grpc_traces(body: Any) -> None:
    """GrpcTracesResponse: result.resourceSpans, numbers where Grafana's types have them."""
    assert set(body) == {"result"}
    for rs in body["result"]["resourceSpans"]:
        assert isinstance(rs["resource"]["attributes"], list)
        for ss in rs["scopeSpans"]:
            assert isinstance(ss["scope"].get("name", ""), str)
            for span in ss["spans"]:
                assert isinstance(span["kind"], int)
                assert isinstance(span.get("flags", 0), int)
                assert isinstance(span["startTimeUnixNano"], str)
                assert isinstance(span["endTimeUnixNano"], str)
                assert isinstance(span["status"].get("code", 0), int)
                for event in span.get("events", []):
                    assert isinstance(event["timeUnixNano"], str)
