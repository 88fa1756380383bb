"""The Jaeger query APIs: v1 (``/api/...``, Jaeger's JSON model) and v3 (``/api/v3/...``,
OTLP JSON), with Jaeger's parameter names, parsing rules and error shapes.

v1 parameters (Jaeger's ``query_parser``): ``start``/``end`` in unix microseconds (default:
the last two days), ``minDuration``/``maxDuration`` as Go durations (``1.2s``), ``limit``
(default 100), ``tags`` as a JSON object, or logfmt, and ``tag=key:value`` (repeatable),
``traceID`` (repeatable) to fetch traces by id, ``lookback`` (``1h``, ``2d``; ``custom`` or
absent when ``start`` is given). Bad parameters answer 400 with
``{"data": null, ..., "errors": [{"code": 400, "msg": ...}]}``; a missing trace 404.

v3 parameters: camelCase names (``query.serviceName``, ``query.startTimeMin``...) and the older
snake_case ones (``query.service_name``...), RFC 3339 times; errors are
``{"error": {"httpCode": ..., "message": ...}}`` and an empty result is a 404
``No traces found``, as Jaeger answers.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from aiohttp import web

from otlpy.extensions.ui._http import QUERIES, Queries, json_response
from otlpy.extensions.ui._params import (
    NS_PER_MS,
    NS_PER_US,
    ParamError,
    now_ns,
    parse_attributes,
    parse_bool,
    parse_go_duration_ns,
    parse_int,
    parse_lookback_ns,
    parse_rfc3339_ns,
)
from otlpy.store import jaeger, queries
from otlpy.store.queries import SPAN_KINDS, TraceQuery, parse_trace_id

__all__ = ["add_routes"]

_DAY_NS = 86400 * 10**9
DEFAULT_LOOKBACK_NS = 2 * _DAY_NS  # Jaeger's default trace search window
DEFAULT_DEPENDENCY_LOOKBACK_NS = _DAY_NS
DEFAULT_LIMIT = 100
DEFAULT_SEARCH_DEPTH = 100

Handler = Callable[[web.Request], Coroutine[Any, Any, web.StreamResponse]]


def _queries(request: web.Request) -> Queries:
    return request.app[QUERIES]


# -- v1 --------------------------------------------------------------------------------------


def _v1_error(request: web.Request, status: int, message: str) -> web.Response:
    return json_response(request, jaeger.error_response(status, message), status=status)


def _v1(handler: Handler) -> Handler:
    """Answer a :class:`ParamError` raised by ``handler`` as Jaeger's 400."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except ParamError as exc:
            return _v1_error(request, 400, str(exc))

    return wrapped


def _micros(request: web.Request, param: str) -> int | None:
    value = request.query.get(param, "")
    if not value:
        return None
    try:
        return int(value) * NS_PER_US
    except ValueError:
        raise ParamError(
            param, f"unable to parse param '{param}': expected unix microseconds, got {value!r}"
        ) from None


def _tags(request: web.Request) -> dict[str, str]:
    tags: dict[str, str] = {}
    for item in request.query.getall("tag", []):
        key, sep, value = item.partition(":")
        if not sep:
            raise ParamError(
                "tag", f"malformed 'tag' parameter, expecting key:value, received: {item}"
            )
        tags[key] = value
    for item in request.query.getall("tags", []):
        tags.update(parse_attributes(item, "tags"))
    return tags


def _durations(request: web.Request, low: str, high: str) -> tuple[int | None, int | None]:
    values = []
    for param in (low, high):
        text = request.query.get(param, "")
        values.append(parse_go_duration_ns(text, param) if text else None)
    minimum, maximum = values
    if minimum and maximum and maximum < minimum:
        raise ParamError(high, f"'{high}' should be greater than '{low}'")
    return minimum, maximum


def _trace_id(text: str, param: str) -> bytes:
    try:
        return parse_trace_id(text)
    except ValueError as exc:
        raise ParamError(param, f"cannot parse {param}: {exc}") from None


def trace_query_v1(request: web.Request, *, max_traces: int) -> TraceQuery:
    """A v1 ``/api/traces`` search as a :class:`TraceQuery` (no service check)."""
    end = _micros(request, "end")
    start = _micros(request, "start")
    if end is None:
        end = now_ns()
    if start is None:
        lookback = parse_lookback_ns(request.query.get("lookback", ""))
        start = end - (lookback or DEFAULT_LOOKBACK_NS)
    limit_text = request.query.get("limit", "")
    limit = parse_int(limit_text, "limit") if limit_text else DEFAULT_LIMIT
    if limit <= 0:
        limit = DEFAULT_LIMIT
    kind = request.query.get("spanKind", "") or None
    if kind is not None and kind not in SPAN_KINDS:
        raise ParamError("spanKind", f"unsupported span kind: {kind!r}")
    duration_min, duration_max = _durations(request, "minDuration", "maxDuration")
    return TraceQuery(
        service=request.query.get("service", "") or None,
        operation=request.query.get("operation", "") or None,
        span_kind=kind,
        tags=_tags(request),
        start_min=start,
        start_max=end,
        duration_min=duration_min,
        duration_max=duration_max,
        limit=min(limit, max_traces),
    )


@_v1
async def v1_services(request: web.Request) -> web.StreamResponse:
    names = await _queries(request).run(queries.services)
    return json_response(request, jaeger.services_response(names))


@_v1
async def v1_service_operations(request: web.Request) -> web.StreamResponse:
    service = request.match_info["service"]
    found = await _queries(request).run(queries.operations, service)
    return json_response(request, jaeger.operation_names_response(found))


@_v1
async def v1_operations(request: web.Request) -> web.StreamResponse:
    service = request.query.get("service", "")
    if not service:
        raise ParamError("service", "parameter 'service' is required")
    kind = request.query.get("spanKind", "") or None
    if kind is not None and kind not in SPAN_KINDS:
        raise ParamError("spanKind", f"unsupported span kind: {kind!r}")
    found = await _queries(request).run(queries.operations, service, kind)
    return json_response(request, jaeger.operations_response(found))


@_v1
async def v1_traces(request: web.Request) -> web.StreamResponse:
    q = _queries(request)
    ids = [_trace_id(t, "traceID") for t in request.query.getall("traceID", [])]
    query = trace_query_v1(request, max_traces=q.max_traces)
    if ids:
        found = await q.run(queries.get_traces, ids)
        present = {t["trace_id"] for t in found}
        errors = [
            {"code": 404, "msg": "trace not found", "traceID": i.hex()}
            for i in ids
            if i.hex() not in present
        ]
        return json_response(request, jaeger.traces_response(found, errors=errors or None))
    if query.service is None:
        raise ParamError("service", "parameter 'service' is required")
    found = await q.run(queries.find_traces, query)
    return json_response(request, jaeger.traces_response(found))


@_v1
async def v1_trace(request: web.Request) -> web.StreamResponse:
    trace_id = _trace_id(request.match_info["trace_id"], "traceID")
    # start/end are checked, then not used: the trace id index finds a trace at once, and a
    # window would cut long traces (Grafana even sends milliseconds here)
    _micros(request, "start")
    _micros(request, "end")
    found = await _queries(request).run(queries.get_trace, trace_id)
    if found is None:
        return _v1_error(request, 404, "trace not found")
    return json_response(request, jaeger.traces_response([found]))


@_v1
async def v1_dependencies(request: web.Request) -> web.StreamResponse:
    end_text = request.query.get("endTs", "")
    end = parse_int(end_text, "endTs") * NS_PER_MS if end_text else now_ns()
    lookback_text = request.query.get("lookback", "")
    lookback = (
        parse_int(lookback_text, "lookback", minimum=1) * NS_PER_MS
        if lookback_text
        else DEFAULT_DEPENDENCY_LOOKBACK_NS
    )
    links = await _queries(request).run(queries.dependencies, end, lookback)
    service = request.query.get("service", "")
    if service:
        links = [d for d in links if service in (d["parent"], d["child"])]
    return json_response(request, jaeger.dependencies_response(links))


# -- v3 --------------------------------------------------------------------------------------


def _v3_error(request: web.Request, status: int, message: str) -> web.Response:
    return json_response(request, jaeger.v3_error(status, message), status=status)


def _v3(handler: Handler) -> Handler:
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except ParamError as exc:
            return _v3_error(request, 400, str(exc))

    return wrapped


def _param(request: web.Request, canonical: str, deprecated: str) -> tuple[str, str]:
    """The value of ``canonical``, else of its older snake_case name, and the name used."""
    value = request.query.get(canonical, "")
    if value:
        return value, canonical
    return request.query.get(deprecated, ""), deprecated


def _v3_time(request: web.Request, canonical: str, deprecated: str) -> int | None:
    value, name = _param(request, canonical, deprecated)
    return parse_rfc3339_ns(value, name) if value else None


def trace_query_v3(request: web.Request, *, max_traces: int) -> TraceQuery:
    """A v3 ``/api/v3/traces`` search as a :class:`TraceQuery`."""
    start = _v3_time(request, "query.startTimeMin", "query.start_time_min")
    end = _v3_time(request, "query.startTimeMax", "query.start_time_max")
    if start is None or end is None:
        raise ParamError(
            "query.startTimeMin", "query.startTimeMin and query.startTimeMax are required"
        )
    if start >= end:
        raise ParamError(
            "query.startTimeMin", "query.startTimeMin must be before query.startTimeMax"
        )
    depth, depth_name = _param(request, "query.searchDepth", "query.search_depth")
    if not depth:
        depth, depth_name = request.query.get("query.num_traces", ""), "query.num_traces"
    limit = parse_int(depth, depth_name, minimum=1) if depth else DEFAULT_SEARCH_DEPTH
    bounds = []
    for canonical, deprecated in (
        ("query.durationMin", "query.duration_min"),
        ("query.durationMax", "query.duration_max"),
    ):
        value, name = _param(request, canonical, deprecated)
        bounds.append(parse_go_duration_ns(value, name) if value else None)
    duration_min, duration_max = bounds
    if duration_min and duration_max and duration_max < duration_min:
        raise ParamError(
            "query.durationMax", "query.durationMax must not be below query.durationMin"
        )
    raw, raw_name = _param(request, "query.rawTraces", "query.raw_traces")
    if raw:
        parse_bool(raw, raw_name)
    attributes = request.query.get("query.attributes", "")
    service, _ = _param(request, "query.serviceName", "query.service_name")
    operation, _ = _param(request, "query.operationName", "query.operation_name")
    return TraceQuery(
        service=service or None,
        operation=operation or None,
        tags=parse_attributes(attributes, "query.attributes") if attributes else {},
        start_min=start,
        start_max=end,
        duration_min=duration_min,
        duration_max=duration_max,
        limit=min(limit, max_traces),
    )


@_v3
async def v3_services(request: web.Request) -> web.StreamResponse:
    names = await _queries(request).run(queries.services)
    return json_response(request, jaeger.v3_services(names))


@_v3
async def v3_operations(request: web.Request) -> web.StreamResponse:
    service = request.query.get("service", "")
    kind, kind_name = _param(request, "spanKind", "span_kind")
    if kind and kind not in SPAN_KINDS:
        raise ParamError(kind_name, f"unsupported span kind: {kind!r}")
    found = await _queries(request).run(queries.operations, service, kind or None)
    return json_response(request, jaeger.v3_operations(found))


@_v3
async def v3_traces(request: web.Request) -> web.StreamResponse:
    q = _queries(request)
    found = await q.run(queries.find_traces, trace_query_v3(request, max_traces=q.max_traces))
    if not found:
        return _v3_error(request, 404, "No traces found")
    return json_response(request, jaeger.v3_traces(found))


@_v3
async def v3_trace(request: web.Request) -> web.StreamResponse:
    trace_id = _trace_id(request.match_info["trace_id"], "trace_id")
    _v3_time(request, "startTime", "start_time")
    _v3_time(request, "endTime", "end_time")
    raw, raw_name = _param(request, "rawTraces", "raw_traces")
    if raw:
        parse_bool(raw, raw_name)
    found = await _queries(request).run(queries.get_trace, trace_id)
    if found is None:
        return _v3_error(request, 404, "No traces found")
    return json_response(request, jaeger.v3_traces([found]))


@_v3
async def v3_dependencies(request: web.Request) -> web.StreamResponse:
    start = _v3_time(request, "startTime", "start_time")
    end = _v3_time(request, "endTime", "end_time")
    if start is None:
        raise ParamError("startTime", "missing required parameter: startTime")
    if end is None:
        raise ParamError("endTime", "missing required parameter: endTime")
    if end <= start:
        raise ParamError("endTime", "endTime must be after startTime")
    links = await _queries(request).run(queries.dependencies, end, end - start)
    body = {
        "dependencies": [
            # proto3 JSON writes 64-bit integers as strings
            {"parent": d["parent"], "child": d["child"], "callCount": str(d["call_count"])}
            for d in links
        ]
    }
    return json_response(request, body)


def add_routes(app: web.Application) -> None:
    """Register the v1 and v3 endpoints on ``app`` (which holds its ``QUERIES``)."""
    get = app.router.add_get
    get("/api/services", v1_services)
    get("/api/services/{service:.+}/operations", v1_service_operations)
    get("/api/operations", v1_operations)
    get("/api/traces", v1_traces)
    get("/api/traces/{trace_id}", v1_trace)
    get("/api/dependencies", v1_dependencies)
    get("/api/v3/services", v3_services)
    get("/api/v3/operations", v3_operations)
    get("/api/v3/traces", v3_traces)
    get("/api/v3/traces/{trace_id}", v3_trace)
    get("/api/v3/dependencies", v3_dependencies)
