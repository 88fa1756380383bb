"""otlpy's own JSON API under ``/api/otlpy/``: trace summaries, logs, live tail and metrics.

The web UI is built on it, and so is ``otlpy query``; ``docs/api.md`` documents every endpoint.
Times in responses are unix nanoseconds; in requests ``start``/``end`` take unix nanoseconds or
RFC 3339, and ``lookback`` (``15m``, ``1h``, ``2d``) counts back from ``end`` (default now).
Errors are ``{"error": {"status": 400, "param": "...", "message": "..."}}``.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from aiohttp import web

from otlpy._version import __version__
from otlpy.extensions.ui._http import QUERIES, Queries, json_response
from otlpy.extensions.ui._params import (
    NS_PER_S,
    ParamError,
    now_ns,
    parse_attributes,
    parse_go_duration_ns,
    parse_int,
    parse_lookback_ns,
    parse_time_ns,
)
from otlpy.store import queries
from otlpy.store.queries import (
    AGGREGATIONS,
    SPAN_KINDS,
    LogQuery,
    Series,
    TraceQuery,
    parse_trace_id,
)

__all__ = ["add_routes"]

_HOUR_NS = 3600 * NS_PER_S
DEFAULT_TRACE_LIMIT = 20
DEFAULT_LOG_LIMIT = 100
MAX_LOG_LIMIT = 1000
MAX_TAIL_WAIT = 30.0
_TAIL_POLL = 0.25
MAX_SERIES = 50
MAX_POINTS = 2000
TARGET_POINTS = 120
SEVERITIES = {
    "trace": 1,
    "debug": 5,
    "info": 9,
    "warn": 13,
    "warning": 13,
    "error": 17,
    "fatal": 21,
}
# Steps a chart's x axis reads well at, in seconds.
_NICE_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600)

Handler = Callable[[web.Request], Coroutine[Any, Any, web.StreamResponse]]


def _queries(request: web.Request) -> Queries:
    return request.app[QUERIES]


def _error(request: web.Request, status: int, message: str, param: str = "") -> web.Response:
    body = {"error": {"status": status, "param": param, "message": message}}
    return json_response(request, body, status=status)


def _api(handler: Handler) -> Handler:
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except ParamError as exc:
            return _error(request, 400, str(exc), exc.param)

    return wrapped


def window(query: Mapping[str, str], default_lookback: int) -> tuple[int, int]:
    """``(start, end)`` in unix ns from ``start``, ``end`` and ``lookback``."""
    text = query.get("end", "")
    end = parse_time_ns(text, "end") if text else now_ns()
    text = query.get("start", "")
    if text:
        start = parse_time_ns(text, "start")
    else:
        start = end - (parse_lookback_ns(query.get("lookback", "")) or default_lookback)
    if start > end:
        raise ParamError("start", "start must not be after end")
    return start, end


def _limit(query: Mapping[str, str], default: int, maximum: int) -> int:
    text = query.get("limit", "")
    return min(parse_int(text, "limit", minimum=1), maximum) if text else default


def _attributes(query: Mapping[str, str], param: str) -> dict[str, str]:
    text = query.get(param, "")
    return parse_attributes(text, param) if text else {}


@_api
async def info(request: web.Request) -> web.StreamResponse:
    q = _queries(request)
    counts = await q.run(queries.store_counts)
    body = {
        "version": __version__,
        "data_directory": str(q.store.path.parent),
        "counts": counts,
        "otlp": q.otlp_endpoints(),
    }
    return json_response(request, body)


def trace_search(query: Mapping[str, str], max_traces: int) -> TraceQuery:
    """``/api/otlpy/traces`` parameters as a :class:`TraceQuery`."""
    start, end = window(query, _HOUR_NS)
    kind = query.get("spanKind", "") or None
    if kind is not None and kind not in SPAN_KINDS:
        raise ParamError("spanKind", f"unknown span kind {kind!r}: use one of {list(SPAN_KINDS)}")
    bounds = []
    for param in ("minDuration", "maxDuration"):
        text = query.get(param, "")
        bounds.append(parse_go_duration_ns(text, param) if text else None)
    if bounds[0] is not None and bounds[1] is not None and bounds[1] < bounds[0]:
        raise ParamError("maxDuration", "maxDuration must not be below minDuration")
    return TraceQuery(
        service=query.get("service", "") or None,
        operation=query.get("operation", "") or None,
        span_kind=kind,
        tags=_attributes(query, "tags"),
        start_min=start,
        start_max=end,
        duration_min=bounds[0],
        duration_max=bounds[1],
        limit=_limit(query, DEFAULT_TRACE_LIMIT, max_traces),
    )


def _cursor(text: str) -> tuple[int, str] | None:
    if not text:
        return None
    latest, _, trace_id = text.partition(":")
    try:
        parse_trace_id(trace_id)
        return int(latest), trace_id
    except ValueError:
        raise ParamError("cursor", f"malformed cursor {text!r}: use a next_cursor") from None


@_api
async def traces(request: web.Request) -> web.StreamResponse:
    q = _queries(request)
    query = trace_search(request.query, q.max_traces)
    after = _cursor(request.query.get("cursor", ""))
    found = await q.run(queries.trace_summaries, query, after=after)
    more = len(found) == query.limit
    body = {
        "traces": found,
        "limit": query.limit,
        "start": query.start_min,
        "end": query.start_max,
        # the next page: the same search (same start and end) with cursor=this
        "next_cursor": f"{found[-1]['latest_match']}:{found[-1]['trace_id']}" if more else None,
    }
    return json_response(request, body)


@_api
async def trace(request: web.Request) -> web.StreamResponse:
    text = request.match_info["trace_id"]
    try:
        trace_id = parse_trace_id(text)
    except ValueError as exc:
        raise ParamError("trace_id", str(exc)) from None
    found = await _queries(request).run(queries.get_trace, trace_id)
    if found is None:
        return _error(request, 404, f"trace {trace_id.hex()} not found", "trace_id")
    return json_response(request, {"trace": found})


def _severity(query: Mapping[str, str]) -> int | None:
    text = query.get("severity", "").strip().lower()
    if not text:
        return None
    if text.isdigit():
        return int(text)
    if text not in SEVERITIES:
        raise ParamError(
            "severity", f"unknown severity {text!r}: use a number or one of {list(SEVERITIES)}"
        )
    return SEVERITIES[text]


def log_query(query: Mapping[str, str], *, start: int | None, end: int | None) -> LogQuery:
    """``/api/otlpy/logs`` parameters (but the time range) as a :class:`LogQuery`."""
    trace_id = query.get("trace_id", "") or None
    if trace_id is not None:
        try:
            parse_trace_id(trace_id)
        except ValueError as exc:
            raise ParamError("trace_id", str(exc)) from None
    return LogQuery(
        service=query.get("service", "") or None,
        min_severity=_severity(query),
        text=query.get("text", "") or None,
        attributes=_attributes(query, "attributes"),
        trace_id=trace_id,
        start=start,
        end=end,
        limit=_limit(query, DEFAULT_LOG_LIMIT, MAX_LOG_LIMIT),
    )


def log_window(query: Mapping[str, str]) -> tuple[int | None, int | None]:
    """The time range of a log search: none for a trace's logs (whenever they were written)
    unless one is asked for, else :func:`window` with an hour's lookback."""
    if query.get("trace_id") and not (query.get("start") or query.get("lookback")):
        return None, None
    return window(query, _HOUR_NS)


@_api
async def logs(request: web.Request) -> web.StreamResponse:
    start, end = log_window(request.query)
    query = log_query(request.query, start=start, end=end)
    found = await _queries(request).run(queries.search_logs, query)
    more = len(found) == query.limit
    body = {
        "logs": found,
        "limit": query.limit,
        # the next page: end=this; records seen already (same seq) may come again
        "next_end": str(found[-1]["timestamp"]) if more else None,
    }
    return json_response(request, body)


@_api
async def tail(request: web.Request) -> web.StreamResponse:
    """Records that arrived after ``cursor``, oldest first; ``wait`` (seconds, up to 30)
    holds the request open until some arrive."""
    text = request.query.get("cursor", "")
    cursor = parse_int(text, "cursor", minimum=0) if text else None
    text = request.query.get("wait", "")
    try:
        wait = min(max(float(text), 0.0), MAX_TAIL_WAIT) if text else 0.0
    except ValueError:
        raise ParamError(
            "wait", f"param 'wait' must be a number of seconds, got {text!r}"
        ) from None
    if not math.isfinite(wait):
        raise ParamError("wait", "param 'wait' must be finite")
    query = log_query(request.query, start=None, end=None)
    q = _queries(request)
    deadline = asyncio.get_running_loop().time() + wait
    while True:
        page = await q.run(queries.logs_after, cursor, query)
        if page["logs"] or cursor is None or asyncio.get_running_loop().time() >= deadline:
            return json_response(request, page)
        await asyncio.sleep(_TAIL_POLL)


@_api
async def metrics(request: web.Request) -> web.StreamResponse:
    found = await _queries(request).run(queries.metric_names)
    return json_response(request, {"metrics": found})


def _name(query: Mapping[str, str]) -> str:
    name = query.get("name", "")
    if not name:
        raise ParamError("name", "parameter 'name' is required")
    return name


def _step(query: Mapping[str, str], start: int, end: int) -> int:
    text = query.get("step", "")
    if text:
        step = parse_go_duration_ns(text, "step")
        if step <= 0:
            raise ParamError("step", "step must be positive")
    else:
        wanted = max((end - start) / TARGET_POINTS / NS_PER_S, 1)
        seconds = next((s for s in _NICE_STEPS if s >= wanted), None)
        step = (seconds if seconds is not None else math.ceil(wanted / 86400) * 86400) * NS_PER_S
    if (end - start) / step > MAX_POINTS:
        raise ParamError("step", f"step too small: more than {MAX_POINTS} points per series")
    return step


def series_args(query: Mapping[str, str]) -> dict[str, Any]:
    """``/api/otlpy/metrics/series`` parameters as :func:`~otlpy.store.queries.metric_series`
    keyword arguments (``name`` included)."""
    name = _name(query)
    start, end = window(query, _HOUR_NS)
    step = _step(query, start, end)
    aggregation = query.get("aggregation", "") or "avg"
    if aggregation not in AGGREGATIONS:
        raise ParamError("aggregation", f"unknown aggregation {aggregation!r}: use {AGGREGATIONS}")
    group_text = query.get("group_by", "").strip()
    if group_text == "none":
        # one total series: grouping by a key no point has puts every point in one group
        group_by: list[str] | None = ["\x00none"]
    else:
        group_by = [k.strip() for k in group_text.split(",") if k.strip()] or None
    return {
        "name": name,
        "start": start,
        "end": end,
        "step": step,
        "aggregation": aggregation,
        "attributes": _attributes(query, "attributes"),
        "group_by": group_by,
    }


def series_body(args: Mapping[str, Any], found: list[Series]) -> dict[str, Any]:
    """The ``/api/otlpy/metrics/series`` response for ``found``."""
    keys = ("name", "start", "end", "step", "aggregation")
    return {
        **{k: args[k] for k in keys},
        "series": found[:MAX_SERIES],
        "truncated": len(found) > MAX_SERIES,
    }


def histogram_args(query: Mapping[str, str]) -> dict[str, Any]:
    """``/api/otlpy/metrics/histogram`` parameters as
    :func:`~otlpy.store.queries.metric_histogram` keyword arguments (``name`` included)."""
    name = _name(query)
    start, end = window(query, _HOUR_NS)
    step = _step(query, start, end)
    text = query.get("quantiles", "")
    try:
        wanted = [float(v) for v in text.split(",")] if text else [0.5, 0.9, 0.99]
    except ValueError:
        raise ParamError("quantiles", f"quantiles must be numbers, got {text!r}") from None
    if any(not 0 <= v <= 1 for v in wanted):
        raise ParamError("quantiles", "quantiles must be between 0 and 1")
    return {
        "name": name,
        "start": start,
        "end": end,
        "step": step,
        "attributes": _attributes(query, "attributes"),
        "quantiles": wanted,
    }


@_api
async def series(request: web.Request) -> web.StreamResponse:
    args = series_args(request.query)
    found = await _queries(request).run(queries.metric_series, **args)
    return json_response(request, series_body(args, found))


@_api
async def histogram(request: web.Request) -> web.StreamResponse:
    args = histogram_args(request.query)
    found = await _queries(request).run(queries.metric_histogram, **args)
    return json_response(
        request, {**found, "start": args["start"], "end": args["end"], "step": args["step"]}
    )


def add_routes(app: web.Application) -> None:
    """Register ``/api/otlpy/...`` on ``app`` (which holds its ``QUERIES``)."""
    get = app.router.add_get
    get("/api/otlpy/info", info)
    get("/api/otlpy/traces", traces)
    get("/api/otlpy/traces/{trace_id}", trace)
    get("/api/otlpy/logs", logs)
    get("/api/otlpy/logs/tail", tail)
    get("/api/otlpy/metrics", metrics)
    get("/api/otlpy/metrics/series", series)
    get("/api/otlpy/metrics/histogram", histogram)
