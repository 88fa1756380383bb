"""Exporter settings: constructor arguments first, then ``OTEL_EXPORTER_OTLP_*`` variables.

Every variable the official OTLP exporters read is read here, per signal first
(``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) then generic (``OTEL_EXPORTER_OTLP_ENDPOINT``), with the
units of the specification: timeouts are milliseconds (the official Python exporters read
seconds). Resolution touches no file or socket.

An invalid constructor argument is a :class:`~otlpy.errors.ConfigError` listing every problem; an
invalid environment variable is logged and its default used, as the specification asks of SDKs.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from otlpy.errors import ConfigError, ConfigProblem
from otlpy.pdata import Signal

__all__ = [
    "COMPRESSIONS",
    "PROTOCOLS",
    "ExporterSettings",
    "HeadersArg",
    "env_value",
    "parse_headers",
    "resolve_settings",
]

log = logging.getLogger("otlpy.sdk")

PROTOCOLS = ("grpc", "http/protobuf", "http/json")
#: Compression each protocol can send. gRPC compresses in its C core; zstd is HTTP only.
COMPRESSIONS = {
    "grpc": frozenset({"none", "gzip", "deflate"}),
    "http": frozenset({"none", "gzip", "deflate", "zstd"}),
}
# The Python SDK's "otlp" exporter defaults to gRPC; a drop-in replacement does the same.
_DEFAULT_PROTOCOL = "grpc"
_DEFAULT_GRPC_ENDPOINT = "http://localhost:4317"
_DEFAULT_HTTP_ENDPOINT = "http://localhost:4318"
_DEFAULT_TIMEOUT = 10.0
_HTTP_PATHS = {Signal.TRACES: "v1/traces", Signal.METRICS: "v1/metrics", Signal.LOGS: "v1/logs"}
# Below this many milliseconds a timeout was most likely meant in seconds (the official
# exporters' unit); it is still honoured as milliseconds, but with a warning.
_SUSPICIOUS_TIMEOUT_MS = 100.0

HeadersArg = Mapping[str, str] | Sequence[tuple[str, str]] | str | None


@dataclass(frozen=True, kw_only=True, slots=True)
class ExporterSettings:
    """Where and how one signal's exporter sends its requests."""

    signal: Signal
    protocol: str
    #: gRPC: the channel target (``host:port``); HTTP: the full URL of the signal's path.
    endpoint: str
    #: gRPC only: plaintext instead of TLS.
    insecure: bool
    headers: tuple[tuple[str, str], ...]
    compression: str
    #: seconds; the bound of one attempt, and of a synchronous export with its retries.
    timeout: float
    certificate_file: str | None = None
    client_key_file: str | None = None
    client_certificate_file: str | None = None

    @property
    def is_grpc(self) -> bool:
        return self.protocol == "grpc"


def env_value(environ: Mapping[str, str], signal: Signal | None, key: str) -> str | None:
    """``OTEL_EXPORTER_OTLP_<SIGNAL>_<key>``, else ``OTEL_EXPORTER_OTLP_<key>``; blank is unset."""
    names = [f"OTEL_EXPORTER_OTLP_{key}"]
    if signal is not None:
        names.insert(0, f"OTEL_EXPORTER_OTLP_{signal.value.upper()}_{key}")
    for name in names:
        value = environ.get(name)
        if value is not None and value.strip():
            return value.strip()
    return None


def _env_name(environ: Mapping[str, str], signal: Signal, key: str) -> str:
    specific = f"OTEL_EXPORTER_OTLP_{signal.value.upper()}_{key}"
    value = environ.get(specific)
    return specific if value is not None and value.strip() else f"OTEL_EXPORTER_OTLP_{key}"


def parse_headers(text: str) -> tuple[tuple[str, str], ...]:
    """Parse ``key=value,key2=value2`` (values URL-encoded) into lowercase-keyed pairs.

    Raises ``ValueError`` naming the first malformed entry.
    """
    pairs: list[tuple[str, str]] = []
    for entry in text.split(","):
        if not entry.strip():
            continue
        key, sep, value = entry.partition("=")
        key = unquote(key).strip().lower()
        if not sep or not key or any(c.isspace() for c in key):
            raise ValueError(f"malformed header entry {entry.strip()!r} (expected key=value)")
        pairs.append((key, unquote(value).strip()))
    return tuple(pairs)


def _headers_arg(value: HeadersArg) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return parse_headers(value)
    items = value.items() if isinstance(value, Mapping) else value
    return tuple((str(k).strip().lower(), str(v)) for k, v in items)


def normalize_compression(value: Any) -> str:
    """``"gzip"``, ``grpc.Compression.Gzip``, ``Compression.Gzip`` (HTTP) ... -> ``"gzip"``."""
    if isinstance(value, str):
        text = value
    elif hasattr(value, "name"):  # grpc.Compression or the official HTTP Compression enum
        text = str(value.name)
    else:
        raise ValueError(f"unsupported compression {value!r}")
    text = text.strip().lower()
    if text in ("", "nocompression", "identity"):
        return "none"
    return text


@dataclass(slots=True)
class _Collector:
    """Problems of explicit arguments (raised together) and of environment variables (logged)."""

    problems: list[ConfigProblem]

    def env_warning(self, name: str, value: str, reason: str, default: object) -> None:
        log.warning("ignoring %s=%r: %s; using %s", name, value, reason, default)


def _resolve_protocol(
    signal: Signal, protocol: str | None, environ: Mapping[str, str], c: _Collector
) -> str:
    if protocol is not None:
        if protocol.strip().lower() not in PROTOCOLS:
            c.problems.append(
                ConfigProblem("protocol", f"{protocol!r} is not one of {', '.join(PROTOCOLS)}")
            )
            return _DEFAULT_PROTOCOL
        return protocol.strip().lower()
    value = env_value(environ, signal, "PROTOCOL")
    if value is None:
        return _DEFAULT_PROTOCOL
    if value.lower() not in PROTOCOLS:
        c.env_warning(_env_name(environ, signal, "PROTOCOL"), value, "unknown protocol", "grpc")
        return _DEFAULT_PROTOCOL
    return value.lower()


def _grpc_endpoint(
    signal: Signal,
    endpoint: str | None,
    insecure: bool | None,
    environ: Mapping[str, str],
    c: _Collector,
) -> tuple[str, bool]:
    url = endpoint or env_value(environ, signal, "ENDPOINT") or _DEFAULT_GRPC_ENDPOINT
    parts = urlsplit(url)
    # "host:port" parses with the host as scheme and no netloc: the target is used as written.
    has_scheme = parts.scheme in ("http", "https") and bool(parts.netloc)
    target = parts.netloc if has_scheme else url
    if has_scheme and parts.scheme == "https":
        return target, False
    if insecure is None:
        env = env_value(environ, signal, "INSECURE")
        if env is not None:
            if env.lower() not in ("true", "false"):
                c.env_warning(
                    _env_name(environ, signal, "INSECURE"), env, "not true or false", "false"
                )
            insecure = env.lower() == "true"
        else:
            # http:// means plaintext; without a scheme the specification's default is TLS.
            insecure = has_scheme and parts.scheme == "http"
    if parts.scheme in ("http", "https") and not parts.netloc:
        c.problems.append(ConfigProblem("endpoint", f"{url!r} names no host"))
    return target, insecure


def _http_endpoint(
    signal: Signal, endpoint: str | None, environ: Mapping[str, str], c: _Collector
) -> str:
    specific = f"OTEL_EXPORTER_OTLP_{signal.value.upper()}_ENDPOINT"
    if endpoint is not None:
        url, where = endpoint, "endpoint"
    elif environ.get(specific, "").strip():
        # A per-signal endpoint is the full URL, used as is.
        url, where = environ[specific].strip(), specific
    else:
        base = env_value(environ, None, "ENDPOINT") or _DEFAULT_HTTP_ENDPOINT
        url, where = f"{base.rstrip('/')}/{_HTTP_PATHS[signal]}", "OTEL_EXPORTER_OTLP_ENDPOINT"
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        reason = f"{url!r} is not an http:// or https:// URL"
        if where == "endpoint":
            c.problems.append(ConfigProblem("endpoint", reason))
        else:
            default = f"{_DEFAULT_HTTP_ENDPOINT}/{_HTTP_PATHS[signal]}"
            c.env_warning(where, url, reason, default)
            return default
    return url


def _resolve_timeout(
    signal: Signal, timeout: float | None, environ: Mapping[str, str], c: _Collector
) -> float:
    if timeout is not None:
        if not timeout > 0:
            c.problems.append(ConfigProblem("timeout", f"must be > 0 seconds, got {timeout!r}"))
            return _DEFAULT_TIMEOUT
        return float(timeout)
    value = env_value(environ, signal, "TIMEOUT")
    if value is None:
        return _DEFAULT_TIMEOUT
    name = _env_name(environ, signal, "TIMEOUT")
    try:
        millis = float(value)
    except ValueError:
        c.env_warning(name, value, "not a number of milliseconds", "10000 ms")
        return _DEFAULT_TIMEOUT
    if not millis > 0:
        c.env_warning(name, value, "must be > 0 milliseconds", "10000 ms")
        return _DEFAULT_TIMEOUT
    if millis < _SUSPICIOUS_TIMEOUT_MS:
        log.warning(
            "%s=%s is read as milliseconds, as the OTLP specification says (the official Python "
            "exporters read seconds); set %s to mean %s seconds",
            name,
            value,
            int(millis * 1000),
            value,
        )
    return millis / 1000.0


def _resolve_compression(
    signal: Signal, protocol: str, compression: Any, environ: Mapping[str, str], c: _Collector
) -> str:
    allowed = COMPRESSIONS["grpc" if protocol == "grpc" else "http"]
    if compression is not None:
        try:
            value = normalize_compression(compression)
        except ValueError as exc:
            c.problems.append(ConfigProblem("compression", str(exc)))
            return "none"
        if value not in allowed:
            c.problems.append(
                ConfigProblem(
                    "compression",
                    f"{value!r} is not supported over {protocol} "
                    f"(use one of {', '.join(sorted(allowed))})",
                )
            )
            return "none"
        return value
    env = env_value(environ, signal, "COMPRESSION")
    if env is None:
        return "none"
    value = normalize_compression(env)
    if value not in allowed:
        c.env_warning(
            _env_name(environ, signal, "COMPRESSION"), env, f"not supported over {protocol}", "none"
        )
        return "none"
    return value


def _resolve_headers(
    signal: Signal, headers: HeadersArg, environ: Mapping[str, str], c: _Collector
) -> tuple[tuple[str, str], ...]:
    if headers is not None:
        try:
            return _headers_arg(headers)
        except ValueError as exc:
            c.problems.append(ConfigProblem("headers", str(exc)))
            return ()
    env = env_value(environ, signal, "HEADERS")
    if env is None:
        return ()
    try:
        return parse_headers(env)
    except ValueError as exc:
        c.env_warning(_env_name(environ, signal, "HEADERS"), env, str(exc), "no headers")
        return ()


def resolve_settings(
    signal: Signal,
    *,
    protocol: str | None = None,
    endpoint: str | None = None,
    insecure: bool | None = None,
    headers: HeadersArg = None,
    compression: Any = None,
    timeout: float | None = None,
    certificate_file: str | None = None,
    client_key_file: str | None = None,
    client_certificate_file: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> ExporterSettings:
    """Resolve one signal's exporter settings; raises ConfigError listing every bad argument."""
    env = os.environ if environ is None else environ
    c = _Collector([])
    proto = _resolve_protocol(signal, protocol, env, c)
    if proto == "grpc":
        target, plaintext = _grpc_endpoint(signal, endpoint, insecure, env, c)
    else:
        target, plaintext = _http_endpoint(signal, endpoint, env, c), False
    settings = ExporterSettings(
        signal=signal,
        protocol=proto,
        endpoint=target,
        insecure=plaintext,
        headers=_resolve_headers(signal, headers, env, c),
        compression=_resolve_compression(signal, proto, compression, env, c),
        timeout=_resolve_timeout(signal, timeout, env, c),
        certificate_file=certificate_file or env_value(env, signal, "CERTIFICATE"),
        client_key_file=client_key_file or env_value(env, signal, "CLIENT_KEY"),
        client_certificate_file=(
            client_certificate_file or env_value(env, signal, "CLIENT_CERTIFICATE")
        ),
    )
    if c.problems:
        raise ConfigError(c.problems)
    return settings
