"""The ``health_check`` extension: an HTTP endpoint that says whether the collector is up.

``GET /`` (or the configured ``path``) answers 200 with the Collector's JSON body once every
pipeline has started, and 503 before that and while stopping, so load balancers and
orchestrators stop routing to a collector that is going away.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from aiohttp import web

from otlpy.component import Factory, Host, Kind, Settings
from otlpy.config.tls import TLSServerConfig
from otlpy.errors import ConfigProblem

__all__ = ["HealthCheckConfig", "HealthCheckExtension", "factory"]


@dataclass(frozen=True, kw_only=True)
class CheckCollectorPipelineConfig:
    enabled: bool = False
    interval: str = "5m"
    exporter_failure_threshold: int = 5


@dataclass(frozen=True, kw_only=True)
class HealthCheckConfig:
    endpoint: str = "localhost:13133"
    path: str = "/"
    tls: TLSServerConfig | None = None
    check_collector_pipeline: CheckCollectorPipelineConfig = field(
        default_factory=CheckCollectorPipelineConfig
    )
    response_body: dict[str, str] | None = None

    def validate(self) -> list[ConfigProblem]:
        problems = []
        _, sep, port = self.endpoint.rpartition(":")
        if not sep or not port.isdigit():
            problems.append(ConfigProblem("endpoint", "expected host:port"))
        if not self.path.startswith("/"):
            problems.append(ConfigProblem("path", "must start with '/'"))
        return problems


class HealthCheckExtension:
    """Serves the health endpoint; the collector calls :meth:`ready` and :meth:`not_ready`."""

    def __init__(self, settings: Settings, config: HealthCheckConfig) -> None:
        self._settings = settings
        self._config = config
        self._ready = False
        self._since = datetime.now(UTC)
        self._started = time.monotonic()
        self._runner: web.AppRunner | None = None
        self.port = 0

    def ready(self) -> None:
        self._ready = True
        self._since = datetime.now(UTC)
        self._started = time.monotonic()

    def not_ready(self) -> None:
        self._ready = False

    async def _handle(self, _: web.Request) -> web.Response:
        custom = self._config.response_body or {}
        if self._ready:
            body = custom.get("healthy") or None
            payload = {
                "status": "Server available",
                "upSince": self._since.isoformat().replace("+00:00", "Z"),
                "uptime": f"{time.monotonic() - self._started:.3f}s",
            }
            if body is not None:
                return web.Response(text=body, status=200)
            return web.json_response(payload, status=200)
        body = custom.get("unhealthy") or None
        if body is not None:
            return web.Response(text=body, status=503)
        return web.json_response({"status": "Server not available"}, status=503)

    async def start(self, host: Host) -> None:
        app = web.Application()
        app.router.add_get(self._config.path, self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        host_name, _, port = self._config.endpoint.rpartition(":")
        ssl_context = self._config.tls.ssl_context() if self._config.tls else None
        site = web.TCPSite(
            self._runner, host_name.strip("[]") or None, int(port), ssl_context=ssl_context
        )
        await site.start()
        sockets = getattr(site._server, "sockets", None) or ()
        self.port = next((s.getsockname()[1] for s in sockets), int(port))
        self._settings.logger.info("health check on %s%s", self._config.endpoint, self._config.path)

    async def shutdown(self) -> None:
        self._ready = False
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


def _create(settings: Settings, config: HealthCheckConfig) -> HealthCheckExtension:
    return HealthCheckExtension(settings, config)


factory = Factory(
    type="health_check",
    kind=Kind.EXTENSION,
    config=HealthCheckConfig,
    create=_create,
    description="HTTP health endpoint for load balancers and orchestrators",
)
