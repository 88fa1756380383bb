"""How ``otlpy send`` puts bytes on the wire: OTLP/gRPC with grpcio, OTLP/HTTP with aiohttp.

Both send an already-encoded request as is (grpcio is given no serializer, so no message is built
per request) and turn the answer into an :class:`Outcome`. A load generator counts failures rather
than handling them: library exceptions are caught here, at the boundary, and become an outcome's
``error`` (a short kind such as ``UNAVAILABLE``, ``HTTP 503``, ``timeout``) and ``detail``. Nothing
is retried.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import grpc
import orjson
from google.protobuf.message import DecodeError
from google.rpc import status_pb2  # type: ignore[import-untyped]

from otlpy._export_services import EXPORT_SERVICES
from otlpy._version import __version__
from otlpy.config.tls import TLSClientConfig
from otlpy.pdata import Signal
from otlpy.send.options import SendOptions
from otlpy.wire import compress

__all__ = ["GrpcTransport", "HttpTransport", "Outcome", "Transport", "open_transport"]

_USER_AGENT = f"otlpy-send/{__version__}"
_DETAIL_LIMIT = 300


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one request: accepted (maybe partly), or failed with an error kind."""

    rejected: int = 0
    message: str = ""
    error: str | None = None
    detail: str = ""


ACCEPTED = Outcome()


class Transport(Protocol):
    """Sends one encoded export request and reports the outcome."""

    async def export(self, data: bytes) -> Outcome: ...

    async def close(self) -> None: ...


def _partial(signal: Signal, body: bytes) -> Outcome:
    """The outcome of a successful export, read from a protobuf response body."""
    if not body:
        return ACCEPTED
    service = EXPORT_SERVICES[signal]
    try:
        response = service.response.FromString(body)
    except DecodeError as exc:
        return Outcome(error="bad response", detail=f"cannot decode the response: {exc}")
    if not response.HasField("partial_success"):
        return ACCEPTED
    partial = response.partial_success
    return Outcome(
        rejected=int(getattr(partial, service.rejected_field)), message=partial.error_message
    )


def _partial_json(signal: Signal, body: bytes) -> Outcome:
    """The outcome of a successful export, read from an OTLP/JSON response body."""
    if not body.strip():
        return ACCEPTED
    service = EXPORT_SERVICES[signal]
    try:
        document = orjson.loads(body)
        partial = document.get("partialSuccess") or document.get("partial_success") or {}
        rejected = partial.get(service.rejected_json, partial.get(service.rejected_field, 0))
        return Outcome(
            rejected=int(rejected or 0),
            message=str(partial.get("errorMessage", partial.get("error_message", "")) or ""),
        )
    except (orjson.JSONDecodeError, AttributeError, TypeError, ValueError) as exc:
        return Outcome(error="bad response", detail=f"cannot read the JSON response: {exc}")


class GrpcTransport:
    """OTLP/gRPC over one grpcio aio channel shared by every worker."""

    def __init__(self, options: SendOptions) -> None:
        self._signal = options.signal
        self._timeout = options.timeout
        target = options.resolved_endpoint
        if "://" in target:
            target = urlsplit(target).netloc
        channel_options = [
            ("grpc.max_send_message_length", -1),
            ("grpc.max_receive_message_length", -1),
            ("grpc.primary_user_agent", _USER_AGENT),
        ]
        compression = grpc.Compression.Gzip if options.compression == "gzip" else None
        if options.uses_tls():
            credentials = grpc.ssl_channel_credentials(
                root_certificates=Path(options.ca_file).read_bytes() if options.ca_file else None,
                private_key=Path(options.key_file).read_bytes() if options.key_file else None,
                certificate_chain=(
                    Path(options.cert_file).read_bytes() if options.cert_file else None
                ),
            )
            self._channel = grpc.aio.secure_channel(
                target, credentials, options=channel_options, compression=compression
            )
        else:
            self._channel = grpc.aio.insecure_channel(
                target, options=channel_options, compression=compression
            )
        self._metadata = tuple((k.lower(), v) for k, v in options.headers) or None
        # no serializer: the request goes out as the bytes it is given, the answer comes as bytes
        self._call = self._channel.unary_unary(EXPORT_SERVICES[options.signal].grpc_method)

    async def export(self, data: bytes) -> Outcome:
        try:
            body = await self._call(data, timeout=self._timeout, metadata=self._metadata)
        except grpc.aio.AioRpcError as exc:
            code = exc.code()
            kind = "timeout" if code is grpc.StatusCode.DEADLINE_EXCEEDED else code.name
            return Outcome(error=kind, detail=(exc.details() or "")[:_DETAIL_LIMIT])
        return _partial(self._signal, body)

    async def close(self) -> None:
        await self._channel.close()


def _error_detail(body: bytes, content_type: str) -> str:
    """The message of an OTLP/HTTP error body (a google.rpc.Status), or its text."""
    if not body:
        return ""
    if "json" in content_type:
        try:
            document = orjson.loads(body)
            if isinstance(document, dict) and document.get("message"):
                return str(document["message"])[:_DETAIL_LIMIT]
        except orjson.JSONDecodeError:
            pass
    elif "protobuf" in content_type:
        try:
            return str(status_pb2.Status.FromString(body).message)[:_DETAIL_LIMIT]
        except DecodeError:
            pass
    return body[:_DETAIL_LIMIT].decode("utf-8", "replace")


def _http_url(options: SendOptions) -> str:
    endpoint = options.resolved_endpoint
    if "://" not in endpoint:
        endpoint = ("https://" if options.uses_tls() else "http://") + endpoint
    parts = urlsplit(endpoint)
    path = parts.path if parts.path not in ("", "/") else f"/v1/{options.signal.value}"
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


class HttpTransport:
    """OTLP/HTTP (protobuf or JSON) over one aiohttp session with keep-alive connections."""

    def __init__(self, options: SendOptions) -> None:
        self._signal = options.signal
        self._json = options.encoding == "json"
        self.url = _http_url(options)
        self._timeout = aiohttp.ClientTimeout(total=options.timeout)
        headers = {
            "Content-Type": "application/json" if self._json else "application/x-protobuf",
            "User-Agent": _USER_AGENT,
        }
        self._compression = options.compression if options.compression != "none" else None
        if self._compression is not None:
            headers["Content-Encoding"] = self._compression
        headers.update(options.headers)
        self._headers = headers
        ssl_context: ssl.SSLContext | bool = False
        if urlsplit(self.url).scheme == "https":
            ssl_context = TLSClientConfig(
                ca_file=options.ca_file,
                cert_file=options.cert_file,
                key_file=options.key_file,
                insecure_skip_verify=options.insecure_skip_verify,
            ).ssl_context()
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, ssl=ssl_context),
            timeout=self._timeout,
            auto_decompress=True,
        )

    async def export(self, data: bytes) -> Outcome:
        if self._compression is not None:
            # level 1: a load generator should spend its CPU on sending, not on squeezing
            data = compress(data, self._compression, level=1)
        try:
            async with self._session.post(self.url, data=data, headers=self._headers) as response:
                body = await response.read()
                status = response.status
                content_type = response.headers.get("Content-Type", "")
        except TimeoutError:
            return Outcome(error="timeout", detail=f"no answer within {self._timeout.total:g}s")
        except aiohttp.ClientConnectorError as exc:
            return Outcome(error="connection", detail=str(exc)[:_DETAIL_LIMIT])
        except aiohttp.ClientError as exc:
            return Outcome(error=type(exc).__name__, detail=str(exc)[:_DETAIL_LIMIT])
        if 200 <= status < 300:
            if "json" in content_type:
                return _partial_json(self._signal, body)
            return _partial(self._signal, body)
        return Outcome(error=f"HTTP {status}", detail=_error_detail(body, content_type))

    async def close(self) -> None:
        await self._session.close()
        # let the connector's transports finish closing before the loop goes away
        await asyncio.sleep(0)


def open_transport(options: SendOptions) -> Transport:
    """The transport ``options`` ask for (call inside the event loop that will use it)."""
    if options.is_grpc:
        return GrpcTransport(options)
    return HttpTransport(options)
