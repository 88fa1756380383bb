"""The ``otlp`` exporter: OTLP over gRPC, with the Collector's ``otlp`` exporter settings.

Requests are sent as the bytes they arrived in (``batch.raw``): the channel's methods take and
return raw bytes, so nothing is decoded or re-encoded on the way through. ::

    exporters:
      otlp:
        endpoint: backend:4317
        tls:
          insecure: true

Answers are sorted as the OTLP specification says: UNAVAILABLE, CANCELLED, DEADLINE_EXCEEDED,
ABORTED, OUT_OF_RANGE and DATA_LOSS are retried, RESOURCE_EXHAUSTED only when the server sent a
``google.rpc.RetryInfo`` (whose delay is then honoured), everything else is permanent. A
``partial_success`` in the response is reported as :class:`~otlpy.errors.PartialSuccess`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
from google.protobuf.message import DecodeError
from google.rpc import error_details_pb2, status_pb2  # type: ignore[import-untyped]

from otlpy._export_services import EXPORT_SERVICES
from otlpy._version import __version__
from otlpy.component import Factory, Host, Kind, Settings
from otlpy.config.decode import ByteSize, Duration
from otlpy.config.tls import TLSClientConfig
from otlpy.errors import ConfigProblem, PermanentError, RetryableError, ThrottledError
from otlpy.exporterhelper import Exporter, QueueConfig, RetryConfig
from otlpy.exporters._responses import partial_success_from_proto
from otlpy.pdata import Batch, Signal

__all__ = ["KeepaliveConfig", "OTLPGrpcConfig", "OTLPGrpcExporter", "factory", "grpc_error"]

# What grpcio can compress with; the Collector also offers snappy and zstd, which grpcio lacks.
_COMPRESSIONS = {
    "gzip": grpc.Compression.Gzip,
    "deflate": grpc.Compression.Deflate,
    "none": grpc.Compression.NoCompression,
    "": grpc.Compression.NoCompression,
}
_BALANCERS = ("pick_first", "round_robin")
_HEADER_RE = re.compile(r"^[0-9a-z_.-]+$")
_HOST_PORT_RE = re.compile(r"^(\[[0-9a-fA-F:.%a-zA-Z]+\]|[^:\[\]/]+):(\d+)$")

_RETRYABLE = frozenset(
    {
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.OUT_OF_RANGE,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DATA_LOSS,
    }
)


@dataclass(frozen=True, kw_only=True)
class KeepaliveConfig:
    """``keepalive``: HTTP/2 pings on an idle connection; ``time: 0`` turns them off."""

    time: Duration = 10.0
    timeout: Duration = 10.0
    permit_without_stream: bool = False

    def validate(self) -> list[ConfigProblem]:
        problems = []
        if self.time < 0:
            problems.append(ConfigProblem("time", "must not be negative"))
        if self.timeout < 0:
            problems.append(ConfigProblem("timeout", "must not be negative"))
        return problems


@dataclass(frozen=True, kw_only=True)
class OTLPGrpcConfig:
    """The ``otlp`` exporter's settings (the Collector's ``configgrpc`` client keys).

    ``tls`` left out means: TLS unless the endpoint says ``http://`` (``https://`` always
    means TLS); with ``tls`` given, ``tls.insecure`` decides unless the scheme is ``https``.
    ``endpoint`` defaults to ``http://localhost:4317``, the OTLP specification's default (the
    Collector has none and requires it).
    """

    endpoint: str = "http://localhost:4317"
    compression: str = "gzip"
    tls: TLSClientConfig | None = None
    headers: dict[str, str] = field(default_factory=dict)
    keepalive: KeepaliveConfig = field(default_factory=KeepaliveConfig)
    read_buffer_size: ByteSize = 0
    write_buffer_size: ByteSize = 0
    wait_for_ready: bool = False
    balancer_name: str = "round_robin"
    authority: str = ""
    timeout: Duration = 5.0
    retry_on_failure: RetryConfig = field(default_factory=RetryConfig)
    sending_queue: QueueConfig = field(default_factory=QueueConfig)

    def validate(self) -> list[ConfigProblem]:
        problems = []
        endpoint_problem = _check_endpoint(self.endpoint)
        if endpoint_problem:
            problems.append(ConfigProblem("endpoint", endpoint_problem))
        name = self.compression.strip().lower()
        if name in ("zstd", "snappy"):
            problems.append(
                ConfigProblem(
                    "compression",
                    f"{name} is not supported: grpcio implements only gzip and deflate "
                    "(use gzip, deflate or none)",
                )
            )
        elif name not in _COMPRESSIONS:
            problems.append(
                ConfigProblem(
                    "compression",
                    f"unknown compression {self.compression!r} (use gzip, deflate or none)",
                )
            )
        if self.balancer_name and self.balancer_name not in _BALANCERS:
            problems.append(
                ConfigProblem(
                    "balancer_name",
                    f"unknown balancer {self.balancer_name!r} (use pick_first or round_robin)",
                )
            )
        for key in self.headers:
            lowered = key.lower()
            if not _HEADER_RE.match(lowered) or lowered.startswith("grpc-"):
                problems.append(
                    ConfigProblem(
                        f"headers.{key}",
                        "not a valid gRPC metadata key (letters, digits, '-', '_', '.'; "
                        "not starting with 'grpc-')",
                    )
                )
        if self.tls is not None:
            if self.tls.min_version not in ("", "1.2"):
                problems.append(
                    ConfigProblem(
                        "tls.min_version",
                        "grpcio negotiates TLS 1.2 or 1.3 and cannot be limited further; "
                        "leave min_version at 1.2",
                    )
                )
            if self.tls.max_version not in ("", "1.3"):
                problems.append(
                    ConfigProblem("tls.max_version", "grpcio cannot cap the TLS version")
                )
        if self.timeout < 0:
            problems.append(ConfigProblem("timeout", "must not be negative"))
        if self.read_buffer_size < 0:
            problems.append(ConfigProblem("read_buffer_size", "must not be negative"))
        if self.write_buffer_size < 0:
            problems.append(ConfigProblem("write_buffer_size", "must not be negative"))
        return problems

    @property
    def target(self) -> str:
        """The gRPC target: the endpoint without an ``http(s)://`` scheme."""
        for scheme in ("http://", "https://"):
            if self.endpoint.startswith(scheme):
                return self.endpoint[len(scheme) :].rstrip("/")
        return self.endpoint

    @property
    def secure(self) -> bool:
        """Whether the channel uses TLS, decided as the Collector decides it."""
        if self.endpoint.startswith("https://"):
            return True
        if self.endpoint.startswith("http://") and self.tls is None:
            return False
        if self.endpoint.startswith("unix:") and self.tls is None:
            return False
        return not (self.tls or TLSClientConfig()).insecure


def _check_endpoint(endpoint: str) -> str | None:
    """Why ``endpoint`` is not a usable gRPC target, or None when it is."""
    if not endpoint.strip():
        return 'requires a non-empty "endpoint" (host:port)'
    if endpoint.startswith("unix:"):
        path = endpoint.removeprefix("unix://").removeprefix("unix:")
        return None if path else "unix socket path cannot be empty"
    rest = endpoint
    for prefix in ("http://", "https://"):
        rest = rest.removeprefix(prefix)
    rest = re.sub(r"^dns:(//[^/]*)?/", "", rest).rstrip("/")
    match = _HOST_PORT_RE.match(rest)
    if match is None:
        return f"expected host:port (optionally with http:// or https://), got {endpoint!r}"
    if not 0 < int(match.group(2)) < 65536:
        return f"invalid port {match.group(2)}"
    return None


def _read(path: str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise PermanentError(f"cannot read {what} {path!r}: {exc}") from exc


def _retry_delay(error: grpc.aio.AioRpcError) -> float | None:
    """The delay of a ``google.rpc.RetryInfo`` in the error's status details, if sent."""
    for key, value in error.trailing_metadata() or ():
        if key != "grpc-status-details-bin" or not isinstance(value, bytes):
            continue
        status = status_pb2.Status()
        try:
            status.ParseFromString(value)
        except DecodeError:
            return None
        for detail in status.details:
            if detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
                info = error_details_pb2.RetryInfo()
                detail.Unpack(info)
                delay = float(info.retry_delay.seconds) + float(info.retry_delay.nanos) / 1e9
                return max(0.0, delay)
    return None


def grpc_error(error: grpc.aio.AioRpcError) -> PermanentError | RetryableError:
    """Sort a failed call into retryable or permanent, as the OTLP specification says."""
    code = error.code()
    delay = _retry_delay(error)
    message = f"gRPC {code.name}: {error.details() or 'no details'}"
    if code is grpc.StatusCode.RESOURCE_EXHAUSTED:
        if delay is None:
            return PermanentError(message + " (no RetryInfo: the server cannot recover)")
        return ThrottledError(message, retry_after=delay)
    if code in _RETRYABLE:
        if delay:
            return ThrottledError(message, retry_after=delay)
        return RetryableError(message)
    return PermanentError(message)


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(OSError, ssl.SSLError):
        await writer.wait_closed()


async def _peer_certificate(host: str, port: int) -> tuple[bytes, str]:
    """The server's certificate (PEM) and a name in it, fetched without verifying anything.

    grpcio cannot turn verification off, so ``insecure_skip_verify`` trusts the certificate the
    server presents: it becomes the channel's only root, and the name is what grpcio checks.
    """
    loose = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    loose.check_hostname = False
    loose.verify_mode = ssl.CERT_NONE
    _, writer = await asyncio.open_connection(host, port, ssl=loose)
    try:
        der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
    finally:
        await _close(writer)
    pem = ssl.DER_cert_to_PEM_cert(der)
    # A second handshake trusting that certificate alone is how the ssl module will parse it.
    pinned = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    pinned.check_hostname = False
    pinned.load_verify_locations(cadata=pem)
    pinned.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    _, writer = await asyncio.open_connection(host, port, ssl=pinned)
    try:
        parsed = writer.get_extra_info("peercert") or {}
    finally:
        await _close(writer)
    names = [value for kind, value in parsed.get("subjectAltName", ()) if kind == "DNS"]
    for rdn in parsed.get("subject", ()):
        names += [value for key, value in rdn if key == "commonName"]
    names += [value for kind, value in parsed.get("subjectAltName", ()) if kind == "IP Address"]
    return pem.encode("ascii"), (names[0] if names else host)


def _split_host_port(target: str) -> tuple[str, int]:
    target = re.sub(r"^dns:(//[^/]*)?/", "", target)
    host, _, port = target.rpartition(":")
    return host.strip("[]"), int(port)


class OTLPGrpcExporter:
    """The gRPC client behind the ``otlp`` exporter: one channel shared by all signals."""

    def __init__(self, config: OTLPGrpcConfig, settings: Settings) -> None:
        self.config = config
        self.settings = settings
        self._channel: grpc.aio.Channel | None = None
        self._calls: dict[Signal, Any] = {}
        self._lock = asyncio.Lock()
        self._metadata = tuple(
            (key.lower(), value.encode() if key.lower().endswith("-bin") else value)
            for key, value in config.headers.items()
        )

    def _options(self, name_override: str = "") -> list[tuple[str, Any]]:
        cfg = self.config
        options: list[tuple[str, Any]] = [("grpc.primary_user_agent", f"otlpy/{__version__}")]
        if cfg.keepalive.time > 0:
            options += [
                ("grpc.keepalive_time_ms", int(cfg.keepalive.time * 1000)),
                ("grpc.keepalive_timeout_ms", int(cfg.keepalive.timeout * 1000)),
                ("grpc.keepalive_permit_without_calls", int(cfg.keepalive.permit_without_stream)),
            ]
        if cfg.balancer_name:
            service: dict[str, Any] = {"loadBalancingConfig": [{cfg.balancer_name: {}}]}
            options.append(("grpc.service_config", json.dumps(service)))
        if cfg.authority:
            options.append(("grpc.default_authority", cfg.authority))
        if cfg.write_buffer_size:
            options.append(("grpc.http2.write_buffer_size", cfg.write_buffer_size))
        if cfg.read_buffer_size:
            options.append(("grpc.experimental.tcp_read_chunk_size", cfg.read_buffer_size))
        name = name_override or (cfg.tls.server_name_override if cfg.tls else "")
        if name:
            options.append(("grpc.ssl_target_name_override", name))
        return options

    async def _open(self) -> grpc.aio.Channel:
        cfg = self.config
        compression = _COMPRESSIONS[cfg.compression.strip().lower()]
        if not cfg.secure:
            return grpc.aio.insecure_channel(
                cfg.target, options=self._options(), compression=compression
            )
        tls = cfg.tls or TLSClientConfig()
        roots = _read(tls.ca_file, "tls.ca_file") if tls.ca_file else None
        key = _read(tls.key_file, "tls.key_file") if tls.key_file else None
        chain = _read(tls.cert_file, "tls.cert_file") if tls.cert_file else None
        name = ""
        if tls.insecure_skip_verify:
            host, port = _split_host_port(cfg.target)
            try:
                roots, name = await _peer_certificate(host, port)
            except OSError as exc:
                raise RetryableError(f"cannot fetch the server certificate: {exc}") from exc
        credentials = grpc.ssl_channel_credentials(roots, key, chain)
        return grpc.aio.secure_channel(
            cfg.target, credentials, options=self._options(name), compression=compression
        )

    async def _ensure_channel(self) -> None:
        if self._channel is not None:
            return
        async with self._lock:
            if self._channel is None:
                channel = await self._open()
                self._calls = {
                    signal: channel.unary_unary(service.grpc_method)
                    for signal, service in EXPORT_SERVICES.items()
                }
                self._channel = channel

    async def start(self, host: Host) -> None:
        """Open the channel (connecting happens in the background, as in the Collector).

        With ``insecure_skip_verify`` the channel is opened at the first export instead, since
        that needs the server to be up.
        """
        tls = self.config.tls
        if not (self.config.secure and tls is not None and tls.insecure_skip_verify):
            await self._ensure_channel()

    async def shutdown(self) -> None:
        """Close the channel, letting calls in flight finish within the timeout."""
        channel, self._channel = self._channel, None
        if channel is not None:
            await channel.close(grace=self.config.timeout or None)

    async def push(self, batch: Batch) -> None:
        """Send one batch; raise what the server's answer means for a retry."""
        await self._ensure_channel()
        call = self._calls[batch.signal]
        try:
            body = await call(
                batch.raw,
                timeout=self.config.timeout or None,
                metadata=self._metadata,
                wait_for_ready=self.config.wait_for_ready,
            )
        except grpc.aio.AioRpcError as exc:
            raise grpc_error(exc) from exc
        partial = partial_success_from_proto(batch.signal, body)
        if partial is not None:
            raise partial


def _create(settings: Settings, config: OTLPGrpcConfig) -> Exporter:
    return Exporter.for_client(settings, OTLPGrpcExporter(config, settings), config)


factory = Factory(
    type="otlp",
    kind=Kind.EXPORTER,
    config=OTLPGrpcConfig,
    create=_create,
    aliases=("otlp_grpc",),
    description="sends OTLP over gRPC to another collector or a backend",
    stability="beta",
)
