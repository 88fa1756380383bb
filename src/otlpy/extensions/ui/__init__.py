"""The ``otlpy_ui`` extension: the web UI and the query APIs over the embedded store.

One HTTP server (aiohttp) serves:

- the Jaeger query API v1 (``/api/services``, ``/api/traces``...) and v3 (``/api/v3/...``),
  so Grafana's Jaeger data source and other Jaeger clients work against otlpy;
- otlpy's own JSON API (``/api/otlpy/...``): trace summaries, logs search, live tail, metrics;
- the web UI (plain ES modules, HTML and CSS shipped in this package; nothing from a CDN).

::

    extensions:
      otlpy_ui:
        endpoint: 0.0.0.0:16686   # Jaeger's port: Grafana's default Jaeger URL works as is
        directory: ./otlpy-data   # default: $OTLPY_DATA, else ./otlpy-data

It reads the store in ``directory``; the ``store`` exporter writing the same directory in the
same process shares it (see :mod:`otlpy.store.shared`), so the UI sees what is written.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from otlpy.component import ComponentID, Factory, Host, Kind, Settings
from otlpy.config.tls import TLSServerConfig
from otlpy.errors import ConfigProblem, PermanentError
from otlpy.extensions.ui import _api, _jaeger
from otlpy.extensions.ui._http import QUERIES, Queries
from otlpy.store import Store, StoreError
from otlpy.store.shared import acquire, default_directory, release

__all__ = ["STATIC_DIR", "UIConfig", "UIExtension", "build_app", "factory"]

STATIC_DIR = Path(__file__).parent / "static"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, kw_only=True)
class UIConfig:
    """The ``otlpy_ui`` extension's settings.

    ``max_traces`` caps how many traces one search returns (the ``limit`` a client asks for is
    lowered to it); ``query_threads`` is how many queries run at once.
    """

    endpoint: str = "0.0.0.0:16686"
    directory: str = ""
    max_traces: int = 1500
    query_threads: int = 4
    tls: TLSServerConfig | None = None

    def validate(self) -> list[ConfigProblem]:
        problems = []
        _, sep, port = self.endpoint.rpartition(":")
        if not sep or not port.isdigit() or int(port) > 65535:
            problems.append(ConfigProblem("endpoint", "expected host:port"))
        if self.max_traces < 1:
            problems.append(ConfigProblem("max_traces", "must be at least 1"))
        if not 1 <= self.query_threads <= 64:
            problems.append(ConfigProblem("query_threads", "must be between 1 and 64"))
        return problems

    @property
    def data_directory(self) -> Path:
        return Path(self.directory or default_directory()).expanduser()


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A store failure is a 500 in the shape the caller's API uses for errors."""
    try:
        return await handler(request)
    except StoreError as exc:
        message = f"store query failed: {exc}"
        path = request.path
        if path.startswith("/api/v3/"):
            body: object = {"error": {"httpCode": 500, "message": message}}
        elif path.startswith("/api/otlpy/"):
            body = {"error": {"status": 500, "param": "", "message": message}}
        else:
            body = {"data": None, "total": 0, "limit": 0, "offset": 0,
                    "errors": [{"code": 500, "msg": message}]}  # fmt: skip
        return web.json_response(body, status=500)


async def _index(_: web.Request) -> web.StreamResponse:
    response = web.FileResponse(STATIC_DIR / "index.html")
    # the page names its modules; revalidate it so an upgraded otlpy serves its own
    response.headers["Cache-Control"] = "no-cache"
    return response


async def _api_not_found(request: web.Request) -> web.StreamResponse:
    return web.json_response(
        {"error": {"status": 404, "param": "", "message": f"no API at {request.path}"}},
        status=404,
    )


def build_app(queries: Queries) -> web.Application:
    """The aiohttp application: APIs, static files, and the UI's page for its own paths."""
    app = web.Application(middlewares=[_errors])
    app[QUERIES] = queries
    _jaeger.add_routes(app)
    _api.add_routes(app)
    app.router.add_get("/api/{tail:.*}", _api_not_found)
    app.router.add_static("/static/", STATIC_DIR, append_version=False)
    # the UI routes in the browser (/search, /trace/<id>, /logs...): every other path is the page
    app.router.add_get("/{tail:.*}", _index)
    return app


def otlp_endpoints(host: Host | None) -> dict[str, Any]:
    """Where the collector's otlp receiver listens (see ``OTLPReceiver.endpoints``): the one
    named ``otlp`` first, else the first that tells; empty when none does."""
    # a host that is not the collector (a test's, or None) may know no receivers
    receivers: Mapping[ComponentID, Any] = getattr(host, "receivers", None) or {}
    for cid in sorted(receivers, key=lambda c: (c != ComponentID("otlp"), str(c))):
        found = getattr(receivers[cid], "endpoints", None)
        if isinstance(found, Mapping) and found:
            return dict(found)
    return {}


class UIExtension:
    """Serves the UI and the query APIs; holds a lease on the store while running."""

    def __init__(self, settings: Settings, config: UIConfig) -> None:
        self._settings = settings
        self._config = config
        self._executor: ThreadPoolExecutor | None = None
        self._store: Store | None = None
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def start(self, host: Host) -> None:
        config = self._config
        self._executor = ThreadPoolExecutor(
            max_workers=config.query_threads, thread_name_prefix="otlpy-ui"
        )
        loop = asyncio.get_running_loop()
        directory = config.data_directory
        try:
            self._store = await loop.run_in_executor(self._executor, acquire, directory)
        except StoreError as exc:
            await self.shutdown()
            raise PermanentError(str(exc)) from exc
        queries = Queries(
            self._store,
            self._executor,
            max_traces=config.max_traces,
            otlp_endpoints=lambda: otlp_endpoints(host),
        )
        app = build_app(queries)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        host_name, _, port = config.endpoint.rpartition(":")
        try:
            ssl_context = config.tls.ssl_context() if config.tls else None
            site = web.TCPSite(
                self._runner, host_name.strip("[]") or None, int(port), ssl_context=ssl_context
            )
            await site.start()
        except OSError as exc:
            await self.shutdown()
            raise PermanentError(f"cannot serve the UI on {config.endpoint}: {exc}") from exc
        sockets = getattr(site._server, "sockets", None) or ()
        self.port = next((s.getsockname()[1] for s in sockets), int(port))
        self._settings.logger.info(
            "UI and query API on %s://%s:%d/", "https" if ssl_context else "http",
            host_name or "0.0.0.0", self.port,
        )  # fmt: skip

    async def shutdown(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        store, self._store = self._store, None
        executor, self._executor = self._executor, None
        if executor is None:
            return
        try:
            if store is not None:
                with contextlib.suppress(StoreError):
                    await asyncio.get_running_loop().run_in_executor(executor, release, store)
        finally:
            executor.shutdown(wait=True)


def _create(settings: Settings, config: UIConfig) -> UIExtension:
    return UIExtension(settings, config)


factory = Factory(
    type="otlpy_ui",
    kind=Kind.EXTENSION,
    config=UIConfig,
    create=_create,
    description="web UI, Jaeger query API (v1, v3) and logs/metrics API over the store",
)
