"""The running collector: start in reverse topological order, stop in forward order.

Exporters start before the processors and receivers that feed them; on shutdown the receivers
stop first (no new data), then processors flush (the batch processor sends what it holds), then
exporters drain, then extensions stop. ``otlpy run`` wraps this in :func:`run_collector`, which
stops on SIGTERM or SIGINT within a deadline and returns the process exit code.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Mapping

from aiohttp import web

from otlpy.component import Component, ComponentID
from otlpy.config.model import CollectorConfig
from otlpy.errors import OtlpyError
from otlpy.pipeline.graph import Graph, build_graph
from otlpy.telemetry import SelfTelemetry

__all__ = ["Collector", "run_collector"]

log = logging.getLogger("otlpy.collector")


class Collector:
    """A collector built from a validated config; also the :class:`~otlpy.component.Host`."""

    def __init__(self, config: CollectorConfig, telemetry: SelfTelemetry | None = None) -> None:
        self.config = config
        self.telemetry = telemetry or SelfTelemetry(level=config.service.telemetry.metrics.level)
        self.graph: Graph = build_graph(config, self.telemetry)
        self._started: list[tuple[str, Component]] = []
        self._metrics_runners: list[web.AppRunner] = []
        self.metrics_ports: list[int] = []

    # Host protocol
    def get_extension(self, id: ComponentID) -> Component | None:
        return self.graph.extensions.get(id)

    @property
    def extensions(self) -> Mapping[ComponentID, Component]:
        return self.graph.extensions

    @property
    def receivers(self) -> Mapping[ComponentID, Component]:
        return self.graph.receivers

    async def start(self) -> None:
        """Start every component, downstream first; on failure, stop what started and raise."""
        name = "self-telemetry server"
        try:
            await self._start_metrics_server()
            for name, component in self.graph.start_order():
                await component.start(self)
                self._started.append((name, component))
        except Exception as exc:
            if isinstance(exc, OSError | OtlpyError):
                # expected failures (a port in use, a bad directory) carry a message that says
                # it all; a traceback would only bury it
                log.error("cannot start %s: %s", name, exc)
            else:
                log.exception("cannot start %s", name)
            await self.shutdown()
            raise
        self._notify("ready")
        count = len(self.config.service.pipelines)
        log.info("collector started: %d pipeline%s", count, "" if count == 1 else "s")

    async def shutdown(self) -> None:
        """Stop what started, upstream first, so that data in flight drains downstream."""
        self._notify("not_ready")
        while self._started:
            name, component = self._started.pop()
            try:
                await component.shutdown()
            except Exception:
                log.exception("error while stopping %s", name)
        for runner in self._metrics_runners:
            await runner.cleanup()
        self._metrics_runners.clear()

    def _notify(self, event: str) -> None:
        """Tell extensions that watch the pipelines (health_check) that they are up or down."""
        for extension in self.graph.extensions.values():
            hook = getattr(extension, event, None)
            if callable(hook):
                hook()

    async def _start_metrics_server(self) -> None:
        endpoints = self.config.service.telemetry.metrics.endpoints()
        if not endpoints:
            return
        app = web.Application()

        async def metrics(_: web.Request) -> web.Response:
            body = self.telemetry.exposition()
            return web.Response(body=body, content_type="text/plain", charset="utf-8")

        app.router.add_get("/metrics", metrics)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        self._metrics_runners.append(runner)
        for host, port in endpoints:
            site = web.TCPSite(runner, host, port)
            await site.start()
            sockets = getattr(site._server, "sockets", None) or ()
            self.metrics_ports.extend(s.getsockname()[1] for s in sockets)
            log.info("self-telemetry metrics on http://%s:%d/metrics", host, port)


async def run_collector(
    config: CollectorConfig,
    *,
    shutdown_timeout: float = 30.0,
    started: asyncio.Event | None = None,
) -> int:
    """Run until SIGTERM/SIGINT, then stop within ``shutdown_timeout``; return an exit code."""
    collector = Collector(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await collector.start()
    except Exception:
        log.error("collector did not start (see above); exiting")
        return 1
    if started is not None:
        started.set()
    await stop.wait()
    log.info("stopping (deadline %.0fs)", shutdown_timeout)
    try:
        await asyncio.wait_for(collector.shutdown(), shutdown_timeout)
    except TimeoutError:
        log.error("shutdown did not finish within %.0fs; exiting anyway", shutdown_timeout)
        return 1
    log.info("stopped")
    return 0
