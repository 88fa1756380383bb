"""The OTLP/gRPC server: the three ``Export`` services on a grpcio asyncio server.

Requests arrive as raw bytes (no deserializer): :meth:`Batch.decode` validates and counts them
and the bytes travel on, so a pipeline that only forwards never re-encodes. Responses are the
serialized ``Export*ServiceResponse``. A signal with no pipeline has no service, so grpc answers
UNIMPLEMENTED. Refusals carry a ``google.rpc.Status`` in ``grpc-status-details-bin`` with a
``RetryInfo`` when the client should wait (see :mod:`._outcome`).

Compression: grpc core decodes ``gzip`` and ``deflate`` messages itself, before the size limit
is checked on the decompressed message (RESOURCE_EXHAUSTED when larger). grpc core has no zstd
or snappy: such calls are refused by grpc before they reach the receiver.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from typing import Any

import grpc
from grpc import aio

from otlpy import client
from otlpy.consumer import Consumer
from otlpy.errors import PartialSuccess, PermanentError
from otlpy.pdata import Batch, Signal
from otlpy.receivers.otlp._intake import Intake
from otlpy.receivers.otlp._outcome import Failure, classify, export_response
from otlpy.receivers.otlp.config import GRPCConfig, parse_endpoint

__all__ = ["SERVICES", "GRPCServer"]

#: The fully qualified gRPC service of each signal; each has one method, ``Export``.
SERVICES = {
    Signal.TRACES: "opentelemetry.proto.collector.trace.v1.TraceService",
    Signal.METRICS: "opentelemetry.proto.collector.metrics.v1.MetricsService",
    Signal.LOGS: "opentelemetry.proto.collector.logs.v1.LogsService",
}

_EMPTY_RESPONSE = b""  # a successful Export*ServiceResponse has no fields set
_STATUS_DETAILS_KEY = "grpc-status-details-bin"


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


def server_options(config: GRPCConfig) -> list[tuple[str, Any]]:
    """grpc core channel arguments for ``config`` (the Collector's keys, grpc's names)."""
    options: list[tuple[str, Any]] = [
        # grpc sets SO_REUSEPORT by default, which would let a second server silently share
        # the port; a busy port must be an error at start.
        ("grpc.so_reuseport", 0),
        ("grpc.max_receive_message_length", config.max_recv_msg_size),
    ]
    if config.max_concurrent_streams:
        options.append(("grpc.max_concurrent_streams", config.max_concurrent_streams))
    if config.read_buffer_size:
        options.append(("grpc.experimental.tcp_read_chunk_size", config.read_buffer_size))
    if config.write_buffer_size:
        options.append(("grpc.http2.write_buffer_size", config.write_buffer_size))
    keepalive = config.keepalive
    if keepalive is not None and keepalive.server_parameters is not None:
        params = keepalive.server_parameters
        for key, value in (
            ("grpc.max_connection_idle_ms", params.max_connection_idle),
            ("grpc.max_connection_age_ms", params.max_connection_age),
            ("grpc.max_connection_age_grace_ms", params.max_connection_age_grace),
            ("grpc.keepalive_time_ms", params.time),
            ("grpc.keepalive_timeout_ms", params.timeout),
        ):
            if value > 0:
                options.append((key, _ms(value)))
    if keepalive is not None and keepalive.enforcement_policy is not None:
        policy = keepalive.enforcement_policy
        if policy.min_time > 0:
            options.append(("grpc.http2.min_ping_interval_without_data_ms", _ms(policy.min_time)))
        options.append(("grpc.keepalive_permit_without_calls", int(policy.permit_without_stream)))
    return options


def listen_address(config: GRPCConfig) -> str:
    """The address string grpc binds for ``config`` (``host:port`` or ``unix:path``)."""
    if config.transport == "unix":
        return f"unix:{config.endpoint}"
    host, port = parse_endpoint(config.endpoint)
    if config.transport in ("tcp4", "tcp6"):
        family = socket.AF_INET if config.transport == "tcp4" else socket.AF_INET6
        default = "0.0.0.0" if family == socket.AF_INET else "::"
        infos = socket.getaddrinfo(host or default, port, family, socket.SOCK_STREAM)
        host = str(infos[0][4][0])
    elif not host:
        host = "::"  # every interface, IPv4 included (dual stack)
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _bind_failure(config: GRPCConfig) -> str | None:
    """Why binding the TCP endpoint fails ("Address already in use"), found by trying it:
    grpc's own message only says that it failed."""
    if config.transport == "unix":
        return None
    host, port = parse_endpoint(config.endpoint)
    try:
        infos = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
        for family, kind, proto, _, address in infos:
            with socket.socket(family, kind, proto) as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as grpc does
                probe.bind(address)
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


def _peer(context: aio.ServicerContext[Any, Any]) -> str:
    peer = context.peer() or ""
    kind, _, address = peer.partition(":")
    return address if kind in ("ipv4", "ipv6", "unix") else peer


def _metadata(context: aio.ServicerContext[Any, Any]) -> dict[str, tuple[str, ...]]:
    found: dict[str, list[str]] = {}
    for key, value in context.invocation_metadata() or ():
        if isinstance(value, str):  # binary (-bin) values are not text metadata
            found.setdefault(key.lower(), []).append(value)
    return {key: tuple(values) for key, values in found.items()}


class GRPCServer:
    """One grpcio asyncio server exposing the Export service of each signal with a pipeline."""

    def __init__(self, config: GRPCConfig, intake: Intake, consumers: Mapping[Signal, Consumer]):
        self._config = config
        self._intake = intake
        self._signals = [s for s in Signal if s in consumers]
        self._server: aio.Server | None = None
        #: the bound TCP port (None before start, or for a unix socket)
        self.port: int | None = None

    async def start(self) -> None:
        """Bind and start serving; raises OSError when the address cannot be bound."""
        config = self._config
        server = aio.server(options=server_options(config))
        for signal in self._signals:
            handler = grpc.unary_unary_rpc_method_handler(self._exporter(signal))
            server.add_registered_method_handlers(SERVICES[signal], {"Export": handler})
        address = listen_address(config)
        try:
            if config.tls is not None:
                key, cert, client_ca = config.tls.grpc_credentials_parts()
                credentials = grpc.ssl_server_credentials(
                    [(key, cert)],
                    root_certificates=client_ca,
                    require_client_auth=client_ca is not None,
                )
                port = server.add_secure_port(address, credentials)
            else:
                port = server.add_insecure_port(address)
        except RuntimeError as exc:
            reason = _bind_failure(config) or str(exc)
            raise OSError(f"cannot listen for OTLP/gRPC on {address}: {reason}") from exc
        await server.start()
        self._server = server
        self.port = None if config.transport == "unix" else port

    async def stop(self, grace: float) -> None:
        """Stop accepting calls and wait up to ``grace`` seconds for calls in flight."""
        server, self._server = self._server, None
        if server is not None:
            await server.stop(grace)

    def _exporter(self, signal: Signal) -> Any:
        intake = self._intake
        include_metadata = self._config.include_metadata

        async def export(request: bytes, context: aio.ServicerContext[Any, Any]) -> bytes:
            peer = _peer(context)
            outcome: Failure | PartialSuccess | None
            try:
                batch = Batch.decode(signal, request)
            except PermanentError as exc:
                outcome = intake.bad_request(classify(exc), peer)
            else:
                info = client.ClientInfo(
                    addr=peer, metadata=_metadata(context) if include_metadata else {}
                )
                outcome = await intake.deliver(batch, info)
            if outcome is None:
                return _EMPTY_RESPONSE
            if isinstance(outcome, PartialSuccess):
                return bytes(export_response(signal, outcome).SerializeToString())
            # abort() raises: it must stay outside any handler that catches exceptions.
            await context.abort(
                outcome.grpc_code,
                outcome.message,
                trailing_metadata=((_STATUS_DETAILS_KEY, outcome.status().SerializeToString()),),
            )
            raise AssertionError("unreachable: abort() raises")  # pragma: no cover

        return export
