"""Edge cases of the query APIs, served by the extension in this process over a small store."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from otlpy.component import ComponentID, Kind, Settings
from otlpy.extensions.ui import UIConfig, UIExtension
from otlpy.extensions.ui._params import parse_logfmt
from otlpy.pdata import Signal
from otlpy.store import shared
from otlpy.telemetry import SelfTelemetry
from store_builders import MS, make_span, trace_request


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Any]:
    now = time.time_ns()
    store = shared.acquire(tmp_path / "data")
    spans = [make_span(1, 1, name="a", start=now - 5 * MS), make_span(1, 2, parent=1, start=now)]
    store.write(Signal.TRACES, trace_request("svc", spans))
    store.flush()
    settings = Settings(
        id=ComponentID("otlpy_ui"),
        kind=Kind.EXTENSION,
        telemetry=SelfTelemetry(),
        logger=logging.getLogger("test.ui"),
    )
    ext = UIExtension(
        settings,
        UIConfig(endpoint="127.0.0.1:0", directory=str(tmp_path / "data"), max_traces=3),
    )
    await ext.start(None)  # type: ignore[arg-type]
    session = aiohttp.ClientSession(f"http://127.0.0.1:{ext.port}")

    async def get(path: str, **params: Any) -> tuple[int, Any]:
        async with session.get(path, params=params) as response:
            return response.status, await response.json()

    try:
        yield get
    finally:
        await session.close()
        await ext.shutdown()
        shared.release(store)


V3_WINDOW = {
    "query.startTimeMin": "2000-01-01T00:00:00Z",
    "query.startTimeMax": "2100-01-01T00:00:00Z",
}


@pytest.mark.parametrize(
    ("path", "params", "param"),
    [
        ("/api/otlpy/traces", {"spanKind": "sideways"}, "spanKind"),
        ("/api/otlpy/traces", {"minDuration": "2s", "maxDuration": "1s"}, "maxDuration"),
        ("/api/otlpy/traces", {"limit": "0"}, "limit"),
        ("/api/otlpy/traces/not-hex", {}, "trace_id"),
        ("/api/otlpy/logs", {"trace_id": "zz"}, "trace_id"),
        ("/api/otlpy/logs/tail", {"wait": "soon"}, "wait"),
        ("/api/otlpy/logs/tail", {"wait": "nan"}, "wait"),
        ("/api/otlpy/logs/tail", {"cursor": "-1"}, "cursor"),
        ("/api/otlpy/metrics/series", {"name": "m", "step": "0s"}, "step"),
        ("/api/otlpy/metrics/histogram", {"name": "m", "quantiles": "a,b"}, "quantiles"),
    ],
)
async def test_otlpy_api_errors(api: Any, path: str, params: dict[str, str], param: str) -> None:
    status, body = await api(path, **params)
    assert status == 400
    assert body["error"]["param"] == param
    assert body["error"]["status"] == 400


@pytest.mark.parametrize(
    ("path", "params", "message"),
    [
        ("/api/operations", {"service": "svc", "spanKind": "sideways"}, "unsupported span kind"),
        ("/api/dependencies", {"endTs": "later"}, "endTs"),
    ],
)
async def test_v1_errors(api: Any, path: str, params: dict[str, str], message: str) -> None:
    status, body = await api(path, **params)
    assert status == 400 and message in body["errors"][0]["msg"]


@pytest.mark.parametrize(
    ("path", "params", "message"),
    [
        ("/api/v3/traces", {"query.startTimeMin": "2100-01-01T00:00:00Z", "query.startTimeMax": "2000-01-01T00:00:00Z"}, "must be before"),
        ("/api/v3/traces", {**V3_WINDOW, "query.durationMin": "2s", "query.durationMax": "1s"}, "must not be below"),
        ("/api/v3/traces", {**V3_WINDOW, "query.rawTraces": "perhaps"}, "not a boolean"),
        ("/api/v3/traces", {**V3_WINDOW, "query.num_traces": "many"}, "query.num_traces"),
        ("/api/v3/traces/abc", {"raw_traces": "perhaps"}, "raw_traces"),
        ("/api/v3/traces/abc", {"startTime": "noon"}, "malformed parameter startTime"),
        ("/api/v3/operations", {"service": "svc", "span_kind": "sideways"}, "unsupported span kind"),
        ("/api/v3/dependencies", {"endTime": "2100-01-01T00:00:00Z"}, "missing required parameter: startTime"),
        ("/api/v3/dependencies", {"startTime": "2000-01-01T00:00:00Z"}, "missing required parameter: endTime"),
        ("/api/v3/dependencies", {"startTime": "2100-01-01T00:00:00Z", "endTime": "2000-01-01T00:00:00Z"}, "must be after"),
    ],
)  # fmt: skip
async def test_v3_errors(api: Any, path: str, params: dict[str, str], message: str) -> None:
    status, body = await api(path, **params)
    assert status == 400
    assert body["error"]["httpCode"] == 400 and message in body["error"]["message"]


async def test_limits(api: Any) -> None:
    # a limit of zero or less means Jaeger's default; any limit is capped at max_traces
    status, body = await api("/api/traces", service="svc", limit="0")
    assert status == 200 and len(body["data"]) == 1
    status, body = await api("/api/otlpy/traces", limit="1000")
    assert body["limit"] == 3
    status, body = await api("/api/v3/traces", **V3_WINDOW, **{"query.searchDepth": "1"})
    assert status == 200
    status, body = await api("/api/v3/traces/1", rawTraces="true", startTime="2000-01-01T00:00:00Z")
    assert status == 200 and body["result"]["resourceSpans"]
    status, body = await api("/api/otlpy/logs", severity="9")
    assert (status, body["logs"]) == (200, [])
    status, body = await api("/api/otlpy/logs/tail", cursor="0", wait="0.3")
    assert (status, body) == (200, {"logs": [], "cursor": 0})


def test_logfmt_trailing_space() -> None:
    assert parse_logfmt("a=1   ") == {"a": "1"}
