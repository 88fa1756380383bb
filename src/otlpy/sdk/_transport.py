"""The two ways a request reaches an OTLP server: gRPC (grpcio) and HTTP (urllib3).

Both take the request as bytes and send it as is: the gRPC method is called with no serializer,
so no Python message is ever built; the HTTP body is compressed once in :meth:`prepare`. Each
translates its library's failures into :class:`~otlpy.errors.RetryableError` or
:class:`~otlpy.errors.PermanentError` (through :mod:`otlpy.sdk._retry`) and reads the server's
partial success from the response.

A transport is made in the process that uses it (channels and pooled connections do not
survive ``fork``); TLS material is read when the exporter is made, so a missing file is an error
at start-up, not at the first export.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from google.protobuf.message import DecodeError
from google.rpc.status_pb2 import Status  # type: ignore[import-untyped]

from otlpy._export_services import EXPORT_SERVICES
from otlpy._version import __version__
from otlpy.errors import ConfigError, ConfigProblem, RetryableError
from otlpy.pdata import Signal
from otlpy.sdk._config import ExporterSettings
from otlpy.sdk._delivery import Accepted
from otlpy.sdk._encoding import compress
from otlpy.sdk._retry import RETRYABLE_GRPC_CODES, grpc_failure, http_failure

__all__ = ["GrpcTransport", "HttpTransport", "TlsFiles", "load_tls"]

log = logging.getLogger("otlpy.sdk")

USER_AGENT = f"OTel-OTLP-Exporter-Python-otlpy/{__version__}"

_MAX_ERROR_TEXT = 300


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """The TLS files an exporter was configured with, read once at construction."""

    ca: bytes | None = None
    client_key: bytes | None = None
    client_cert: bytes | None = None
    ca_path: str | None = None
    client_key_path: str | None = None
    client_cert_path: str | None = None


def load_tls(settings: ExporterSettings) -> TlsFiles:
    """Read the certificate files of ``settings``; ConfigError names every unreadable one."""
    problems: list[ConfigProblem] = []
    contents: dict[str, bytes | None] = {}
    for field_name, path in (
        ("certificate_file", settings.certificate_file),
        ("client_key_file", settings.client_key_file),
        ("client_certificate_file", settings.client_certificate_file),
    ):
        contents[field_name] = None
        if path is None:
            continue
        try:
            contents[field_name] = Path(path).read_bytes()
        except OSError as exc:
            problems.append(ConfigProblem(field_name, f"cannot read {path!r}: {exc.strerror}"))
    if (settings.client_key_file is None) != (settings.client_certificate_file is None):
        problems.append(
            ConfigProblem(
                "client_certificate_file",
                "a client certificate and a client key go together: set both or neither",
            )
        )
    if problems:
        raise ConfigError(problems)
    return TlsFiles(
        ca=contents["certificate_file"],
        client_key=contents["client_key_file"],
        client_cert=contents["client_certificate_file"],
        ca_path=settings.certificate_file,
        client_key_path=settings.client_key_file,
        client_cert_path=settings.client_certificate_file,
    )


def _partial_from_protobuf(signal: Signal, data: bytes) -> Accepted:
    if not data:
        return Accepted()
    service = EXPORT_SERVICES[signal]
    response = service.response()
    try:
        response.ParseFromString(data)
    except DecodeError:
        log.debug("unreadable %s export response ignored", signal.value)
        return Accepted()
    if not response.HasField("partial_success"):
        return Accepted()
    partial = response.partial_success
    return Accepted(int(getattr(partial, service.rejected_field)), str(partial.error_message))


def _partial_from_json(signal: Signal, data: bytes) -> Accepted:
    if not data.strip():
        return Accepted()
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError:
        log.debug("unreadable %s export response ignored", signal.value)
        return Accepted()
    partial = document.get("partialSuccess") if isinstance(document, dict) else None
    if not isinstance(partial, dict):
        return Accepted()
    try:
        rejected = int(partial.get(EXPORT_SERVICES[signal].rejected_json) or 0)
    except (TypeError, ValueError):
        rejected = 0
    return Accepted(rejected, str(partial.get("errorMessage") or ""))


def _default_channel_options() -> tuple[tuple[str, Any], ...]:
    return (
        ("grpc.primary_user_agent", USER_AGENT),
        # gRPC's own reconnect backoff grows to 2 minutes; after an outage the exporter should
        # notice the server is back within seconds, its retry policy does the pacing.
        ("grpc.initial_reconnect_backoff_ms", 250),
        ("grpc.max_reconnect_backoff_ms", 5000),
    )


class GrpcTransport:
    """Calls the signal's ``Export`` method with the request bytes over one channel."""

    def __init__(
        self,
        settings: ExporterSettings,
        tls: TlsFiles,
        *,
        credentials: Any = None,
        channel_options: Sequence[tuple[str, Any]] = (),
        retryable_codes: frozenset[str] = RETRYABLE_GRPC_CODES,
    ) -> None:
        import grpc  # imported only by the processes that speak gRPC (~30 MiB)

        self._grpc = grpc
        self._signal = settings.signal
        self._retryable = retryable_codes
        compression = {
            "gzip": grpc.Compression.Gzip,
            "deflate": grpc.Compression.Deflate,
        }.get(settings.compression, grpc.Compression.NoCompression)
        given = {name for name, _ in channel_options}
        options = [
            *((k, v) for k, v in _default_channel_options() if k not in given),
            *channel_options,
        ]
        if settings.insecure:
            self._channel = grpc.insecure_channel(
                settings.endpoint, options=options, compression=compression
            )
        else:
            creds = credentials or grpc.ssl_channel_credentials(
                root_certificates=tls.ca,
                private_key=tls.client_key,
                certificate_chain=tls.client_cert,
            )
            self._channel = grpc.secure_channel(
                settings.endpoint, creds, options=options, compression=compression
            )
        # No serializers: the request goes out as the bytes it is, the response comes back raw.
        self._call = self._channel.unary_unary(
            EXPORT_SERVICES[settings.signal].grpc_method,
            request_serializer=None,
            response_deserializer=None,
        )
        self._metadata = tuple(settings.headers) or None

    def prepare(self, payload: bytes) -> bytes:
        # gRPC compresses in its C core, outside the GIL, per the channel's setting.
        return payload

    def send(self, body: bytes, timeout: float) -> Accepted:
        try:
            response = self._call(body, timeout=timeout, metadata=self._metadata)
        except self._grpc.RpcError as exc:
            code = exc.code() if hasattr(exc, "code") else None
            name = code.name if code is not None else "UNKNOWN"
            details = exc.details() if hasattr(exc, "details") else str(exc)
            trailers = exc.trailing_metadata() if hasattr(exc, "trailing_metadata") else None
            raise grpc_failure(name, details, trailers, retryable_codes=self._retryable) from exc
        except ValueError as exc:  # grpcio: "Cannot invoke RPC on closed channel!"
            raise RetryableError(f"gRPC channel unusable: {exc}") from exc
        return _partial_from_protobuf(self._signal, bytes(response or b""))

    def close(self) -> None:
        self._channel.close()


def _error_text(content_type: str, data: bytes) -> str:
    """The message of an error response body (google.rpc.Status as protobuf or JSON, or text)."""
    if not data:
        return ""
    if "protobuf" in content_type:
        status = Status()
        try:
            status.ParseFromString(data)
        except DecodeError:
            return ""
        return str(status.message)
    if "json" in content_type:
        try:
            document = orjson.loads(data)
        except orjson.JSONDecodeError:
            document = None
        if isinstance(document, dict) and isinstance(document.get("message"), str):
            return str(document["message"])
    return data[:_MAX_ERROR_TEXT].decode("utf-8", "replace").strip()


class HttpTransport:
    """POSTs the request to the signal's URL over a kept-alive urllib3 connection pool."""

    def __init__(
        self,
        settings: ExporterSettings,
        tls: TlsFiles,
        *,
        session: Any = None,
    ) -> None:
        import urllib3

        self._urllib3 = urllib3
        self._signal = settings.signal
        self._url = settings.endpoint
        self._json = settings.protocol == "http/json"
        self._compression = settings.compression
        headers = {
            "content-type": "application/json" if self._json else "application/x-protobuf",
            "user-agent": USER_AGENT,
        }
        if self._compression != "none":
            headers["content-encoding"] = self._compression
        headers.update(settings.headers)
        self._headers = headers
        self._session = session
        tls_args: dict[str, Any] = {}
        if tls.ca_path is not None:
            tls_args["ca_certs"] = tls.ca_path
        if tls.client_cert_path is not None:
            tls_args["cert_file"] = tls.client_cert_path
            tls_args["key_file"] = tls.client_key_path
        # One host, one connection kept alive between requests; no retries or redirects inside
        # urllib3: retrying is the delivery's job, and a POST must not turn into a GET.
        self._pool = urllib3.PoolManager(num_pools=1, maxsize=1, retries=False, **tls_args)

    def prepare(self, payload: bytes) -> bytes:
        return compress(payload, self._compression)

    def send(self, body: bytes, timeout: float) -> Accepted:
        if self._session is not None:
            return self._send_with_session(body, timeout)
        urllib3 = self._urllib3
        try:
            response = self._pool.request(
                "POST",
                self._url,
                body=body,
                headers=self._headers,
                timeout=urllib3.Timeout(total=timeout),
                retries=False,
                redirect=False,
            )
        except urllib3.exceptions.HTTPError as exc:
            raise RetryableError(f"cannot reach {self._url}: {exc}") from exc
        return self._answer(
            response.status,
            response.headers.get("content-type", ""),
            response.headers.get("retry-after"),
            response.data,
        )

    def _send_with_session(self, body: bytes, timeout: float) -> Accepted:
        import requests

        try:
            response = self._session.post(
                self._url, data=body, headers=self._headers, timeout=timeout, allow_redirects=False
            )
        except requests.RequestException as exc:
            raise RetryableError(f"cannot reach {self._url}: {exc}") from exc
        return self._answer(
            int(response.status_code),
            response.headers.get("content-type", ""),
            response.headers.get("retry-after"),
            bytes(response.content or b""),
        )

    def _answer(
        self, status: int, content_type: str, retry_after: str | None, data: bytes
    ) -> Accepted:
        if 200 <= status < 300:
            if "json" in content_type or (self._json and "protobuf" not in content_type):
                return _partial_from_json(self._signal, data)
            return _partial_from_protobuf(self._signal, data)
        failure = http_failure(status, _error_text(content_type, data), retry_after)
        raise failure

    def close(self) -> None:
        self._pool.clear()
        if self._session is not None:
            self._session.close()
