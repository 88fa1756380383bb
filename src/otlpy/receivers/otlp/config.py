"""Configuration of the otlp receiver, with the OpenTelemetry Collector's keys.

A protocol is on when its key is present under ``protocols``, also with a null value::

    receivers:
      otlp:
        protocols:
          grpc:                      # on, with the defaults (localhost:4317)
          http:
            endpoint: 0.0.0.0:4318
            cors:
              allowed_origins: ["https://*.example.com"]

``otlp:`` with no settings at all turns both protocols on with their defaults; ``protocols:``
present but empty is an error, as in the Collector.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from otlpy.config.decode import ByteSize, Duration
from otlpy.config.tls import TLSServerConfig
from otlpy.errors import ConfigProblem

__all__ = [
    "DEFAULT_GRPC_ENDPOINT",
    "DEFAULT_HTTP_ENDPOINT",
    "DEFAULT_MAX_REQUEST_BODY_SIZE",
    "SUPPORTED_HTTP_COMPRESSION",
    "CORSConfig",
    "Config",
    "GRPCConfig",
    "HTTPConfig",
    "KeepaliveConfig",
    "KeepaliveEnforcementPolicy",
    "KeepaliveServerParameters",
    "ProtocolsConfig",
    "parse_endpoint",
]

DEFAULT_GRPC_ENDPOINT = "localhost:4317"
DEFAULT_HTTP_ENDPOINT = "localhost:4318"
#: 20 MiB: what the OTLP specification recommends and the Collector uses.
DEFAULT_MAX_REQUEST_BODY_SIZE = 20 * 1024 * 1024

#: ``compression_algorithms`` values accepted for HTTP request bodies ("" means uncompressed).
SUPPORTED_HTTP_COMPRESSION = frozenset(
    {"", "none", "identity", "gzip", "x-gzip", "zstd", "zlib", "deflate"}
)
# Names the Collector accepts that otlpy cannot decode (no codec installed by default).
_UNSUPPORTED_HTTP_COMPRESSION = frozenset({"snappy", "x-snappy-framed", "lz4"})

_AUTH_MESSAGE = (
    "authenticator extensions are not supported by otlpy yet; remove the key, or put an "
    "authenticating proxy in front of the receiver"
)
_PORT_RE = re.compile(r"^\d{1,5}$")


def parse_endpoint(endpoint: str) -> tuple[str, int]:
    """Split ``host:port`` (``[::1]:4317``, ``:4317``) into host and port; raises ValueError.

    An empty host means every interface, as in Go.
    """
    host, sep, port = endpoint.strip().rpartition(":")
    if not sep or not _PORT_RE.match(port):
        raise ValueError(f"expected host:port, got {endpoint!r}")
    number = int(port)
    if number > 65535:
        raise ValueError(f"port {number} is out of range (0-65535)")
    if host.startswith("["):
        if not host.endswith("]"):
            raise ValueError(f"unbalanced brackets in {endpoint!r}")
        host = host[1:-1]
    elif ":" in host:
        raise ValueError(f"an IPv6 address needs brackets, e.g. [::1]:4317; got {endpoint!r}")
    return host, number


def _endpoint_problems(endpoint: str) -> list[ConfigProblem]:
    try:
        parse_endpoint(endpoint)
    except ValueError as exc:
        return [ConfigProblem("endpoint", str(exc))]
    return []


def _tls_problems(tls: TLSServerConfig | None) -> list[ConfigProblem]:
    if tls is None:
        return []
    if not tls.cert_file or not tls.key_file:
        return [ConfigProblem("tls", "a server needs cert_file and key_file")]
    return []


def _non_negative(problems: list[ConfigProblem], path: str, value: float) -> None:
    if value < 0:
        problems.append(ConfigProblem(path, "must not be negative"))


@dataclass(frozen=True, kw_only=True)
class KeepaliveServerParameters:
    """gRPC keepalive server parameters; zero leaves grpc's own default."""

    max_connection_idle: Duration = 0.0
    max_connection_age: Duration = 0.0
    max_connection_age_grace: Duration = 0.0
    time: Duration = 0.0
    timeout: Duration = 0.0

    def validate(self) -> list[ConfigProblem]:
        problems: list[ConfigProblem] = []
        for name in ("max_connection_idle", "max_connection_age", "max_connection_age_grace"):
            _non_negative(problems, name, getattr(self, name))
        _non_negative(problems, "time", self.time)
        _non_negative(problems, "timeout", self.timeout)
        return problems


@dataclass(frozen=True, kw_only=True)
class KeepaliveEnforcementPolicy:
    """How often clients may ping; zero ``min_time`` leaves grpc's default (5 minutes)."""

    min_time: Duration = 0.0
    permit_without_stream: bool = False

    def validate(self) -> list[ConfigProblem]:
        problems: list[ConfigProblem] = []
        _non_negative(problems, "min_time", self.min_time)
        return problems


@dataclass(frozen=True, kw_only=True)
class KeepaliveConfig:
    server_parameters: KeepaliveServerParameters | None = None
    enforcement_policy: KeepaliveEnforcementPolicy | None = None


@dataclass(frozen=True, kw_only=True)
class GRPCConfig:
    """``protocols.grpc``: the OTLP/gRPC server."""

    endpoint: str = DEFAULT_GRPC_ENDPOINT
    #: tcp, tcp4, tcp6 (host:port) or unix (endpoint is a socket path)
    transport: Literal["tcp", "tcp4", "tcp6", "unix"] = "tcp"
    tls: TLSServerConfig | None = None
    #: largest request accepted, after decompression; 0 keeps grpc's default of 4 MiB
    max_recv_msg_size_mib: int = 0
    #: concurrent streams (requests) per connection; 0 means no limit
    max_concurrent_streams: int = 0
    read_buffer_size: ByteSize = 512 * 1024
    write_buffer_size: ByteSize = 0
    keepalive: KeepaliveConfig | None = None
    include_metadata: bool = False
    auth: Any = None

    def validate(self) -> list[ConfigProblem]:
        problems: list[ConfigProblem] = []
        if self.transport == "unix":
            if not self.endpoint.strip():
                problems.append(ConfigProblem("endpoint", "a unix transport needs a socket path"))
        else:
            problems += _endpoint_problems(self.endpoint)
        problems += _tls_problems(self.tls)
        if self.tls is not None:
            # grpcio offers no way to choose TLS versions; it speaks TLS 1.2 and 1.3.
            if self.tls.min_version not in ("", "1.2"):
                problems.append(
                    ConfigProblem(
                        "tls.min_version",
                        "grpcio cannot set TLS versions (it accepts TLS 1.2 and 1.3); "
                        "leave min_version at 1.2 for gRPC",
                    )
                )
            if self.tls.max_version not in ("", "1.3"):
                problems.append(
                    ConfigProblem(
                        "tls.max_version",
                        "grpcio cannot set TLS versions (it accepts TLS 1.2 and 1.3); "
                        "leave max_version unset for gRPC",
                    )
                )
        _non_negative(problems, "max_recv_msg_size_mib", self.max_recv_msg_size_mib)
        if self.max_recv_msg_size_mib >= 2048:
            problems.append(
                ConfigProblem(
                    "max_recv_msg_size_mib", "must be less than 2048 (grpc's int32 limit)"
                )
            )
        _non_negative(problems, "max_concurrent_streams", self.max_concurrent_streams)
        _non_negative(problems, "read_buffer_size", self.read_buffer_size)
        _non_negative(problems, "write_buffer_size", self.write_buffer_size)
        if self.auth is not None:
            problems.append(ConfigProblem("auth", _AUTH_MESSAGE))
        return problems

    @property
    def max_recv_msg_size(self) -> int:
        """The request size limit in bytes."""
        return (self.max_recv_msg_size_mib or 4) * 1024 * 1024


@dataclass(frozen=True, kw_only=True)
class CORSConfig:
    """``protocols.http.cors``: cross-origin requests from browsers (as the Collector's)."""

    #: origins allowed, with ``*`` standing for any run of characters (``*`` alone: any origin)
    allowed_origins: tuple[str, ...] = ()
    #: request headers allowed besides Accept, Accept-Language, Content-Type, Content-Language
    allowed_headers: tuple[str, ...] = ()
    #: seconds a browser may cache a preflight answer; 0 sends no Access-Control-Max-Age
    max_age: int = 0

    def validate(self) -> list[ConfigProblem]:
        problems: list[ConfigProblem] = []
        for i, origin in enumerate(self.allowed_origins):
            if not origin.strip():
                problems.append(ConfigProblem(f"allowed_origins[{i}]", "must not be empty"))
        _non_negative(problems, "max_age", self.max_age)
        return problems


@dataclass(frozen=True, kw_only=True)
class HTTPConfig:
    """``protocols.http``: the OTLP/HTTP server (protobuf and JSON)."""

    endpoint: str = DEFAULT_HTTP_ENDPOINT
    traces_url_path: str = "/v1/traces"
    metrics_url_path: str = "/v1/metrics"
    logs_url_path: str = "/v1/logs"
    cors: CORSConfig | None = None
    tls: TLSServerConfig | None = None
    #: largest body accepted, before and after decompression; 0 means the default, 20 MiB
    max_request_body_size: ByteSize = DEFAULT_MAX_REQUEST_BODY_SIZE
    include_metadata: bool = False
    #: Content-Encodings accepted (None: all supported, i.e. "", gzip, zstd, zlib, deflate)
    compression_algorithms: tuple[str, ...] | None = None
    auth: Any = None

    def validate(self) -> list[ConfigProblem]:
        problems = _endpoint_problems(self.endpoint)
        paths: dict[str, str] = {}
        for key in ("traces_url_path", "metrics_url_path", "logs_url_path"):
            raw = getattr(self, key)
            if not raw.strip() or any(c in raw for c in " \t\r\n?#"):
                problems.append(
                    ConfigProblem(key, f"invalid URL path {raw!r} (no spaces, '?' or '#')")
                )
                continue
            path = _url_path(raw)
            if path in paths:
                problems.append(ConfigProblem(key, f"same path as {paths[path]}: {path}"))
            paths[path] = key
        problems += _tls_problems(self.tls)
        _non_negative(problems, "max_request_body_size", self.max_request_body_size)
        for i, name in enumerate(self.compression_algorithms or ()):
            where = f"compression_algorithms[{i}]"
            lowered = name.strip().lower()
            if lowered in _UNSUPPORTED_HTTP_COMPRESSION:
                problems.append(
                    ConfigProblem(where, f"{name!r} is not supported by otlpy (use gzip or zstd)")
                )
            elif lowered not in SUPPORTED_HTTP_COMPRESSION:
                supported = ", ".join(repr(n) for n in sorted(SUPPORTED_HTTP_COMPRESSION))
                problems.append(
                    ConfigProblem(where, f"unknown compression {name!r} (supported: {supported})")
                )
        if self.auth is not None:
            problems.append(ConfigProblem("auth", _AUTH_MESSAGE))
        return problems

    @property
    def body_limit(self) -> int:
        """The effective ``max_request_body_size`` in bytes."""
        return self.max_request_body_size or DEFAULT_MAX_REQUEST_BODY_SIZE

    def url_paths(self) -> dict[str, str]:
        """Signal name -> URL path, each starting with '/' (the Collector adds a missing one)."""
        return {
            "traces": _url_path(self.traces_url_path),
            "metrics": _url_path(self.metrics_url_path),
            "logs": _url_path(self.logs_url_path),
        }


def _url_path(path: str) -> str:
    path = path.strip()
    return path if path.startswith("/") else "/" + path


@dataclass(frozen=True, kw_only=True)
class ProtocolsConfig:
    """``protocols``: which servers run; a missing key turns a protocol off."""

    # A protocol is on when its key is present, also with a null value (``grpc:``).
    grpc: GRPCConfig | None = field(default=None, metadata={"null": "defaults"})
    http: HTTPConfig | None = field(default=None, metadata={"null": "defaults"})


def _both_protocols() -> ProtocolsConfig:
    return ProtocolsConfig(grpc=GRPCConfig(), http=HTTPConfig())


@dataclass(frozen=True, kw_only=True)
class Config:
    """The otlp receiver's configuration."""

    protocols: ProtocolsConfig = field(default_factory=_both_protocols)

    def validate(self) -> list[ConfigProblem]:
        if self.protocols.grpc is None and self.protocols.http is None:
            return [
                ConfigProblem(
                    "protocols",
                    "must specify at least one protocol (grpc or http) when using the otlp "
                    "receiver",
                )
            ]
        return []
