"""Real OTLP servers for the SDK tests: grpcio and aiohttp, on 127.0.0.1, any free port.

Both record every export request they accept (decompressed bytes, per signal) and can be told
what to answer next (``script``): a gRPC status with trailers, an HTTP status with headers, a
partial success, or a delay. What is not scripted is accepted with an empty response.
"""

from __future__ import annotations

import asyncio
import gzip
import socket
import threading
import time
import zlib
from collections import defaultdict
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any

import grpc
import zstandard
from aiohttp import web

SIGNALS = {"traces": "TraceService", "metrics": "MetricsService", "logs": "LogsService"}
SERVICES = {
    "traces": "opentelemetry.proto.collector.trace.v1.TraceService",
    "metrics": "opentelemetry.proto.collector.metrics.v1.MetricsService",
    "logs": "opentelemetry.proto.collector.logs.v1.LogsService",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Reply:
    """One scripted answer. gRPC: ``code`` (None = OK) and ``trailers``; HTTP: ``status``."""

    code: grpc.StatusCode | None = None
    details: str = ""
    trailers: tuple[tuple[str, Any], ...] = ()
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    delay: float = 0.0


class _Recorder:
    def __init__(self) -> None:
        self.received: dict[str, list[bytes]] = defaultdict(list)
        self.content_types: dict[str, list[str]] = defaultdict(list)
        self.headers: dict[str, list[dict[str, str]]] = defaultdict(list)
        self.attempts: dict[str, int] = defaultdict(int)
        self._script: list[Reply] = []
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)

    def script(self, *replies: Reply) -> None:
        with self._lock:
            self._script.extend(replies)

    def _next(self, signal: str) -> Reply | None:
        with self._lock:
            self.attempts[signal] += 1
            return self._script.pop(0) if self._script else None

    def _record(self, signal: str, body: bytes, content_type: str, headers: dict[str, str]) -> None:
        with self._cond:
            self.received[signal].append(body)
            self.content_types[signal].append(content_type)
            self.headers[signal].append(headers)
            self._cond.notify_all()

    def wait_for(self, signal: str, count: int, timeout: float = 10.0) -> list[bytes]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.received[signal]) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            return list(self.received[signal])


class GrpcOtlpServer(_Recorder):
    """A grpcio server with the three OTLP Export methods, taking requests as raw bytes."""

    def __init__(self, port: int = 0, credentials: grpc.ServerCredentials | None = None) -> None:
        super().__init__()
        self._port = port
        self._credentials = credentials
        self._server: grpc.Server | None = None
        self.port = 0

    def _handler(self, signal: str) -> Callable[[bytes, grpc.ServicerContext], bytes]:
        def export(request: bytes, context: grpc.ServicerContext) -> bytes:
            reply = self._next(signal)
            metadata = {k: v for k, v in context.invocation_metadata() if isinstance(v, str)}
            if reply is not None and reply.delay:
                time.sleep(reply.delay)
            if reply is not None and reply.code is not None:
                if reply.trailers:
                    context.set_trailing_metadata(reply.trailers)
                context.abort(reply.code, reply.details)
            self._record(signal, request, "application/grpc", metadata)
            return reply.body if reply is not None else b""

        return export

    def start(self) -> GrpcOtlpServer:
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        for signal, service in SERVICES.items():
            handler = grpc.unary_unary_rpc_method_handler(
                self._handler(signal), request_deserializer=None, response_serializer=None
            )
            server.add_generic_rpc_handlers(
                (grpc.method_handlers_generic_handler(service, {"Export": handler}),)
            )
        address = f"127.0.0.1:{self._port}"
        if self._credentials is None:
            self.port = server.add_insecure_port(address)
        else:
            self.port = server.add_secure_port(address, self._credentials)
        server.start()
        self._server = server
        return self

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop(grace=None).wait()
            self._server = None


def _decompress(body: bytes, encoding: str) -> bytes:
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "deflate":
        return zlib.decompress(body)
    if encoding == "zstd":
        return zstandard.ZstdDecompressor().decompressobj().decompress(body)
    return body


class HttpOtlpServer(_Recorder):
    """An aiohttp server with ``POST /v1/{traces,metrics,logs}``, run in its own thread."""

    def __init__(self, port: int = 0, ssl_context: Any = None) -> None:
        super().__init__()
        self._port = port
        self._ssl = ssl_context
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    async def _handle(self, request: web.Request) -> web.Response:
        signal = request.match_info["signal"]
        body = await request.read()
        reply = self._next(signal)
        if reply is not None and reply.delay:
            await asyncio.sleep(reply.delay)
        if reply is not None and reply.status != 200:
            return web.Response(status=reply.status, headers=reply.headers, body=reply.body)
        data = _decompress(body, request.headers.get("Content-Encoding", ""))
        self._record(signal, data, request.headers.get("Content-Type", ""), dict(request.headers))
        content_type = request.headers.get("Content-Type", "application/x-protobuf")
        return web.Response(
            status=200,
            body=reply.body if reply is not None else b"",
            headers={"Content-Type": content_type},
        )

    def start(self) -> HttpOtlpServer:
        started = threading.Event()
        self._loop = asyncio.new_event_loop()

        async def boot() -> None:
            app = web.Application(client_max_size=64 << 20)
            app.router.add_post("/v1/{signal}", self._handle)
            runner = web.AppRunner(app, access_log=None, auto_decompress=False)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", self._port, ssl_context=self._ssl)
            await site.start()
            self._runner = runner
            sockets = site._server.sockets  # type: ignore[union-attr]
            self.port = sockets[0].getsockname()[1]

        def run() -> None:
            assert self._loop is not None
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(boot())
            started.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        started.wait(10)
        return self

    @property
    def endpoint(self) -> str:
        scheme = "https" if self._ssl is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    def url(self, signal: str) -> str:
        return f"{self.endpoint}/v1/{signal}"

    def stop(self) -> None:
        if self._loop is None:
            return
        loop = self._loop
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        loop.close()
        self._loop = None
