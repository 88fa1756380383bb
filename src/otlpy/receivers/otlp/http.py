"""The OTLP/HTTP server: ``POST /v1/{traces,metrics,logs}`` with protobuf or JSON bodies.

One aiohttp handler serves every path so that each refusal gets a ``google.rpc.Status`` body in
the request's format (protobuf or JSON; JSON when the request's type is unknown, as the
Collector falls back to):

- 404 for a path that is not an endpoint of a signal with a pipeline,
- 405 (with ``Allow: POST``) for another method,
- 415 for a Content-Type other than ``application/x-protobuf`` or ``application/json`` (media
  type parameters such as ``charset`` are ignored) or an unsupported Content-Encoding,
- 413 when the body passes ``max_request_body_size``, counted both on the wire and after
  decompression; the body is read as a stream and never inflated past the limit,
- 400 for a body that cannot be decompressed or decoded, and for a permanent pipeline error,
- 429 / 503 with ``Retry-After`` for throttling and temporary pipeline errors.

Successful answers carry the ``Export*ServiceResponse`` in the request's format: empty
protobuf or ``{}`` on full success, ``partial_success`` when the pipeline rejected part.
"""

from __future__ import annotations

import logging
import socket
from typing import Any

import orjson
from aiohttp import web
from google.protobuf import json_format
from multidict import CIMultiDictProxy

from otlpy import client
from otlpy.errors import PartialSuccess, PermanentError
from otlpy.pdata import Batch, Signal
from otlpy.receivers.otlp._cors import CORSPolicy
from otlpy.receivers.otlp._intake import Intake
from otlpy.receivers.otlp._outcome import (
    Failure,
    classify,
    export_response,
    grpc_code_for_http,
    rpc_status,
)
from otlpy.receivers.otlp.config import HTTPConfig, parse_endpoint
from otlpy.wire.compression import (
    BodyTooLargeError,
    UnsupportedEncodingError,
    decompress,
    normalize_encoding,
)
from otlpy.wire.otlp_json import json_to_protobuf

__all__ = ["HTTPServer", "listen_socket"]

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
_FORMATS = {PROTOBUF: PROTOBUF, JSON: JSON}
_SUPPORTED_TYPES = f"{PROTOBUF} or {JSON}"


def listen_socket(endpoint: str) -> socket.socket:
    """A listening TCP socket for ``host:port`` (the first address the host resolves to).

    An empty host listens on every interface, IPv6 and IPv4 together where possible.
    """
    host, port = parse_endpoint(endpoint)
    try:
        if not host:
            if socket.has_dualstack_ipv6():
                return socket.create_server(("", port), family=socket.AF_INET6, dualstack_ipv6=True)
            return socket.create_server(("", port))
        family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        return socket.create_server(address[:2], family=family)
    except OSError as exc:
        raise OSError(f"cannot listen for OTLP/HTTP on {endpoint}: {exc}") from exc


def _media_type(content_type: str) -> str:
    return content_type.partition(";")[0].strip().lower()


def _peer(request: web.Request) -> str:
    transport = request.transport
    peername = transport.get_extra_info("peername") if transport is not None else None
    if isinstance(peername, tuple) and len(peername) >= 2:
        host = str(peername[0])
        return f"[{host}]:{peername[1]}" if ":" in host else f"{host}:{peername[1]}"
    return str(peername or "")


def _metadata(headers: CIMultiDictProxy[str]) -> dict[str, tuple[str, ...]]:
    found: dict[str, list[str]] = {}
    for key, value in headers.items():
        found.setdefault(key.lower(), []).append(value)
    return {key: tuple(values) for key, values in found.items()}


class HTTPServer:
    """One aiohttp server exposing the OTLP/HTTP endpoint of each signal with a pipeline."""

    def __init__(self, config: HTTPConfig, intake: Intake, logger: logging.Logger) -> None:
        self._config = config
        self._intake = intake
        self._logger = logger
        self._paths = {
            path: Signal(name)
            for name, path in config.url_paths().items()
            if Signal(name) in intake.signals
        }
        self._limit = config.body_limit
        self._encodings: frozenset[str] | None = None
        if config.compression_algorithms is not None:
            self._encodings = frozenset(
                normalize_encoding(name) for name in config.compression_algorithms
            )
        self._cors: CORSPolicy | None = None
        if config.cors is not None:
            policy = CORSPolicy(config.cors)
            if policy.enabled:
                self._cors = policy
        self._runner: web.AppRunner | None = None
        #: the bound port (None before start)
        self.port: int | None = None

    async def start(self, shutdown_timeout: float) -> None:
        """Bind and start serving; raises OSError when the address cannot be bound."""
        config = self._config
        if config.cors is not None and self._cors is None and config.cors.allowed_headers:
            self._logger.warning(
                "cors.allowed_headers is set but cors.allowed_origins is empty: CORS stays off"
            )
        ssl_context = config.tls.ssl_context() if config.tls is not None else None
        sock = listen_socket(config.endpoint)
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        # aiohttp would inflate compressed bodies itself, unbounded and before the size check:
        # the handler must see the bytes as sent.
        runner = web.AppRunner(
            app,
            access_log=None,
            handle_signals=False,
            shutdown_timeout=shutdown_timeout,
            auto_decompress=False,
        )
        try:
            await runner.setup()
            site = web.SockSite(runner, sock, ssl_context=ssl_context)
            await site.start()
        except BaseException:
            sock.close()
            await runner.cleanup()
            raise
        self._runner = runner
        self.port = int(sock.getsockname()[1])

    async def stop(self) -> None:
        """Stop accepting requests; requests in flight finish within the shutdown timeout."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        headers = request.headers
        extra: dict[str, str] = {}
        if self._cors is not None:
            if CORSPolicy.is_preflight(request.method, headers):
                return web.Response(status=204, headers=self._cors.preflight(headers))
            extra = self._cors.actual(request.method, headers)
        body_format = _FORMATS.get(_media_type(headers.get("Content-Type", "")))
        reply_format = body_format or JSON
        signal = self._paths.get(request.path)
        if signal is None:
            message = f"{request.path} is not an OTLP endpoint of this receiver"
            return self._status_response(404, message, reply_format, extra)
        if request.method != "POST":
            allow = "POST, OPTIONS" if self._cors is not None else "POST"
            message = f"method {request.method} is not allowed on {request.path}; use POST"
            return self._status_response(405, message, reply_format, {**extra, "Allow": allow})
        peer = _peer(request)
        if body_format is None:
            content_type = headers.get("Content-Type", "")
            failure = classify(
                UnsupportedEncodingError(
                    f"unsupported content type {content_type!r}; use {_SUPPORTED_TYPES}"
                )
            )
            return self._failure_response(self._intake.bad_request(failure, peer), JSON, extra)
        try:
            batch = await self._read_batch(request, signal, body_format)
        except PermanentError as exc:
            failure = self._intake.bad_request(classify(exc), peer)
            response = self._failure_response(failure, body_format, extra)
            if isinstance(exc, BodyTooLargeError):
                response.force_close()  # do not wait for the rest of an oversized body
            return response
        metadata = _metadata(headers) if self._config.include_metadata else {}
        outcome = await self._intake.deliver(batch, client.ClientInfo(peer, metadata))
        if isinstance(outcome, Failure):
            return self._failure_response(outcome, body_format, extra)
        return self._export_response(signal, outcome, body_format, extra)

    async def _read_batch(self, request: web.Request, signal: Signal, body_format: str) -> Batch:
        encoding = normalize_encoding(request.headers.get("Content-Encoding", ""))
        if self._encodings is not None and encoding not in self._encodings:
            raise UnsupportedEncodingError(
                f"content encoding {encoding!r} is not enabled on this receiver "
                f"(compression_algorithms)"
            )
        raw = await self._read_body(request)
        body = decompress(raw, encoding, max_size=self._limit)
        if body_format == JSON:
            body = json_to_protobuf(signal, body)
        return Batch.decode(signal, body)

    async def _read_body(self, request: web.Request) -> bytes:
        """The body as sent, refusing it as soon as it passes the limit."""
        limit = self._limit
        length = request.content_length
        if length is not None and length > limit:
            raise BodyTooLargeError(limit)
        chunks: list[bytes] = []
        total = 0
        while chunk := await request.content.readany():
            total += len(chunk)
            if total > limit:
                raise BodyTooLargeError(limit)
            chunks.append(chunk)
        return b"".join(chunks)

    @staticmethod
    def _encode(message: Any, body_format: str) -> bytes:
        if body_format == PROTOBUF:
            return bytes(message.SerializeToString())
        # Responses and statuses are tiny: the generic proto3 JSON mapping is fast enough.
        return orjson.dumps(json_format.MessageToDict(message, use_integers_for_enums=True))

    def _status_response(
        self, status: int, message: str, body_format: str, headers: dict[str, str]
    ) -> web.Response:
        body = self._encode(rpc_status(grpc_code_for_http(status), message), body_format)
        return web.Response(status=status, body=body, content_type=body_format, headers=headers)

    def _failure_response(
        self, failure: Failure, body_format: str, headers: dict[str, str]
    ) -> web.Response:
        status = failure.status()
        if failure.http_status not in (429, 503):
            status.code = grpc_code_for_http(failure.http_status)
        retry_after = failure.retry_after_header
        if retry_after is not None and failure.http_status in (429, 503):
            headers = {**headers, "Retry-After": retry_after}
        return web.Response(
            status=failure.http_status,
            body=self._encode(status, body_format),
            content_type=body_format,
            headers=headers,
        )

    def _export_response(
        self,
        signal: Signal,
        partial: PartialSuccess | None,
        body_format: str,
        headers: dict[str, str],
    ) -> web.Response:
        if partial is None and body_format == JSON:
            body = b"{}"
        else:
            body = self._encode(export_response(signal, partial), body_format)
        return web.Response(status=200, body=body, content_type=body_format, headers=headers)
