"""The ``otlp`` receiver: OTLP over gRPC and HTTP (protobuf and JSON), as the Collector's.

::

    receivers:
      otlp:
        protocols:
          grpc:
            endpoint: 0.0.0.0:4317
          http:
            endpoint: 0.0.0.0:4318

Each request is handed to the pipeline of its signal and answered once the pipeline has
accepted or refused it: the client learns of throttling, temporary and permanent failures and
partial successes with the status codes the OTLP specification defines. The receiver does not
change data (it only creates batches), and protobuf requests travel on as the bytes received.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from otlpy.component import Factory, Host, Kind, Settings
from otlpy.consumer import Consumer
from otlpy.pdata import Signal
from otlpy.receivers.otlp._intake import Intake
from otlpy.receivers.otlp._outcome import FailureLog
from otlpy.receivers.otlp.config import Config
from otlpy.receivers.otlp.grpc import GRPCServer
from otlpy.receivers.otlp.http import HTTPServer

__all__ = ["Config", "OTLPReceiver", "factory"]

#: How long shutdown waits for requests in flight (each waits for its pipeline) per server.
SHUTDOWN_GRACE = 10.0


class OTLPReceiver:
    """The running receiver: a gRPC server, an HTTP server, or both."""

    def __init__(
        self, settings: Settings, config: Config, consumers: Mapping[Signal, Consumer]
    ) -> None:
        self._logger = settings.logger
        failures = FailureLog(settings.logger)
        receiver_id = str(settings.id)
        telemetry = settings.telemetry
        protocols = config.protocols
        self._grpc: GRPCServer | None = None
        self._http: HTTPServer | None = None
        if protocols.grpc is not None:
            intake = Intake(consumers, telemetry.receiver(receiver_id, "grpc"), failures, "grpc")
            self._grpc = GRPCServer(protocols.grpc, intake, consumers)
        if protocols.http is not None:
            intake = Intake(consumers, telemetry.receiver(receiver_id, "http"), failures, "http")
            self._http = HTTPServer(protocols.http, intake, settings.logger)
        self._config = config

    @property
    def grpc_port(self) -> int | None:
        """The bound OTLP/gRPC TCP port, once started (None without gRPC or on a unix socket)."""
        return self._grpc.port if self._grpc is not None else None

    @property
    def http_port(self) -> int | None:
        """The bound OTLP/HTTP port, once started (None without HTTP)."""
        return self._http.port if self._http is not None else None

    @property
    def endpoints(self) -> dict[str, dict[str, Any]]:
        """Where each protocol listens, once started: ``{"grpc": {"scheme": "http", "host":
        "0.0.0.0", "port": 4317}, "http": {...}}`` with the configured host and the bound
        port; the scheme is https with TLS. A protocol not configured, not started, or on a
        unix socket is left out."""
        found: dict[str, dict[str, Any]] = {}
        protocols = self._config.protocols
        for name, config, port in (
            ("grpc", protocols.grpc, self.grpc_port),
            ("http", protocols.http, self.http_port),
        ):
            if config is None or port is None:
                continue
            host = config.endpoint.rpartition(":")[0]
            scheme = "https" if config.tls is not None else "http"
            found[name] = {"scheme": scheme, "host": host, "port": port}
        return found

    async def start(self, host: Host) -> None:
        """Start the servers; if one cannot start, the other is stopped and the error raised."""
        try:
            if self._grpc is not None:
                await self._grpc.start()
                grpc_config = self._config.protocols.grpc
                assert grpc_config is not None
                self._logger.info(
                    "OTLP/gRPC listening on %s (port %s)", grpc_config.endpoint, self._grpc.port
                )
            if self._http is not None:
                await self._http.start(SHUTDOWN_GRACE)
                http_config = self._config.protocols.http
                assert http_config is not None
                self._logger.info(
                    "OTLP/HTTP listening on %s (port %s)", http_config.endpoint, self._http.port
                )
        except BaseException:
            await self.shutdown()
            raise

    async def shutdown(self) -> None:
        """Stop taking requests and let those in flight finish (bounded by a grace period)."""
        if self._http is not None:
            await self._http.stop()
        if self._grpc is not None:
            await self._grpc.stop(SHUTDOWN_GRACE)


def create(
    settings: Settings, config: Config, consumers: Mapping[Signal, Consumer]
) -> OTLPReceiver:
    """Create the otlp receiver feeding ``consumers`` (one per signal with a pipeline)."""
    return OTLPReceiver(settings, config, consumers)


factory = Factory(
    type="otlp",
    kind=Kind.RECEIVER,
    config=Config,
    create=create,
    signals=frozenset(Signal),
    description="receives OTLP over gRPC and HTTP (protobuf and JSON)",
    stability="beta",
)
