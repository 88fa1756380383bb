"""What every handler shares: running store queries off the event loop, and JSON responses."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import orjson
from aiohttp import web

from otlpy.store import Store

__all__ = ["QUERIES", "Queries", "json_response"]

T = TypeVar("T")

# Responses above this size are compressed when the client accepts it (traces can be large).
_COMPRESS_ABOVE = 64 * 1024


class Queries:
    """Runs blocking store queries on a small thread pool; each thread has its own cursor."""

    def __init__(
        self,
        store: Store,
        executor: ThreadPoolExecutor,
        *,
        max_traces: int,
        otlp_endpoints: Callable[[], Mapping[str, Any]] = dict,
    ) -> None:
        self.store = store
        self.max_traces = max_traces
        #: where the collector's otlp receiver listens (asked when the UI asks: it starts
        #: after the UI)
        self.otlp_endpoints = otlp_endpoints
        self._executor = executor

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(store, *args, **kwargs)`` on a query thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: fn(self.store, *args, **kwargs))


#: Where the application keeps its :class:`Queries`.
QUERIES: web.AppKey[Queries] = web.AppKey("queries", Queries)


def json_response(request: web.Request, body: Any, *, status: int = 200) -> web.Response:
    """``body`` as JSON (orjson: fast, and exact for 64-bit integers)."""
    data = orjson.dumps(body, option=orjson.OPT_NON_STR_KEYS)
    response = web.Response(body=data, status=status, content_type="application/json")
    if len(data) > _COMPRESS_ABOVE and "gzip" in request.headers.get("Accept-Encoding", ""):
        response.enable_compression(web.ContentCoding.gzip)
    return response
