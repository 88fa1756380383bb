"""Real OTLP servers (grpcio and aiohttp) on 127.0.0.1 for the exporter tests, and sample data.

Imported by the tests of this folder (and the fixtures in its conftest).
"""

from __future__ import annotations

import asyncio
import gzip
import logging
import socket
import ssl
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
import grpc.aio
import zstandard
from aiohttp import web
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from otlpy.component import ComponentID, Kind, Settings
from otlpy.exporterhelper import RetryConfig
from otlpy.pdata import Batch, Signal
from otlpy.telemetry import SelfTelemetry

FAST_RETRY = RetryConfig(
    initial_interval=0.01, max_interval=0.05, max_elapsed_time=1.0, randomization_factor=0
)
NO_RETRY = RetryConfig(enabled=False)

SERVICES = {
    "opentelemetry.proto.collector.trace.v1.TraceService": Signal.TRACES,
    "opentelemetry.proto.collector.metrics.v1.MetricsService": Signal.METRICS,
    "opentelemetry.proto.collector.logs.v1.LogsService": Signal.LOGS,
}
PATHS = {"/v1/traces": Signal.TRACES, "/v1/metrics": Signal.METRICS, "/v1/logs": Signal.LOGS}


def decompress_body(raw: bytes, encoding: str) -> bytes:
    """Undo a request's Content-Encoding, independently of the code under test."""
    if encoding == "gzip":
        return gzip.decompress(raw)
    if encoding == "deflate":
        return zlib.decompress(raw)
    if encoding == "zstd":
        return bytes(zstandard.ZstdDecompressor().decompressobj().decompress(raw))
    return raw


def make_settings(type_: str = "otlp", telemetry: SelfTelemetry | None = None) -> Settings:
    return Settings(
        id=ComponentID(type_),
        kind=Kind.EXPORTER,
        telemetry=telemetry or SelfTelemetry(),
        logger=logging.getLogger(f"test.{type_}"),
    )


def counter(telemetry: SelfTelemetry, name: str, exporter: str) -> float:
    value = telemetry.registry.get_sample_value(f"otelcol_{name}_total", {"exporter": exporter})
    return value or 0.0


def traces_request(spans: int = 3, service: str = "svc", attribute_size: int = 8) -> Any:
    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    kv = rs.resource.attributes.add()
    kv.key, kv.value.string_value = "service.name", service
    ss = rs.scope_spans.add()
    ss.scope.name = "tests"
    for i in range(spans):
        span = ss.spans.add()
        span.trace_id = bytes(range(16))
        span.span_id = (i + 1).to_bytes(8, "big")
        span.name = f"op-{i}"
        span.kind = 2
        span.start_time_unix_nano = 1_700_000_000_000_000_000 + i
        span.end_time_unix_nano = 1_700_000_000_000_001_000 + i
        attr = span.attributes.add()
        attr.key, attr.value.string_value = "payload", "x" * attribute_size
    return request


def metrics_request(points: int = 2) -> Any:
    request = ExportMetricsServiceRequest()
    rm = request.resource_metrics.add()
    kv = rm.resource.attributes.add()
    kv.key, kv.value.string_value = "service.name", "svc"
    metric = rm.scope_metrics.add().metrics.add()
    metric.name = "requests"
    metric.sum.aggregation_temporality = 2
    metric.sum.is_monotonic = True
    for i in range(points):
        point = metric.sum.data_points.add()
        point.as_int = i
        point.time_unix_nano = 1_700_000_000_000_000_000 + i
    return request


def logs_request(records: int = 2) -> Any:
    request = ExportLogsServiceRequest()
    rl = request.resource_logs.add()
    kv = rl.resource.attributes.add()
    kv.key, kv.value.string_value = "service.name", "svc"
    sl = rl.scope_logs.add()
    for i in range(records):
        record = sl.log_records.add()
        record.body.string_value = f"line {i}"
        record.severity_number = 9
        record.trace_id = bytes(range(16))
        record.span_id = (i + 1).to_bytes(8, "big")
    return request


def batch_of(signal: Signal, message: Any) -> Batch:
    return Batch(signal, raw=message.SerializeToString())


def sample_batches() -> dict[Signal, Batch]:
    return {
        Signal.TRACES: batch_of(Signal.TRACES, traces_request()),
        Signal.METRICS: batch_of(Signal.METRICS, metrics_request()),
        Signal.LOGS: batch_of(Signal.LOGS, logs_request()),
    }


def free_port() -> int:
    """A port that was free a moment ago and has nothing listening on it now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# --- gRPC ---------------------------------------------------------------------------------


@dataclass
class GrpcCall:
    signal: Signal
    body: bytes
    metadata: dict[str, str]


GrpcResponder = Callable[[GrpcCall, grpc.aio.ServicerContext[Any, Any]], Awaitable[bytes]]


async def _ok(call: GrpcCall, context: Any) -> bytes:
    return b""


@dataclass
class GrpcSink:
    """A grpcio OTLP server that keeps every request's raw bytes."""

    port: int = 0
    calls: list[GrpcCall] = field(default_factory=list)
    responder: GrpcResponder = _ok

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def handlers(self) -> list[grpc.GenericRpcHandler]:
        handlers = []
        for service, signal in SERVICES.items():

            async def export(body: bytes, context: Any, signal: Signal = signal) -> bytes:
                metadata = {m.key: m.value for m in context.invocation_metadata() or ()}
                call = GrpcCall(signal, body, metadata)
                self.calls.append(call)
                return await self.responder(call, context)

            handlers.append(
                grpc.method_handlers_generic_handler(
                    service, {"Export": grpc.unary_unary_rpc_method_handler(export)}
                )
            )
        return handlers


async def start_grpc_sink(
    sink: GrpcSink, credentials: grpc.ServerCredentials | None = None
) -> grpc.aio.Server:
    server = grpc.aio.server()
    server.add_generic_rpc_handlers(sink.handlers())
    address = f"127.0.0.1:{sink.port}"
    if credentials is None:
        sink.port = server.add_insecure_port(address)
    else:
        sink.port = server.add_secure_port(address, credentials)
    await server.start()
    return server


# --- HTTP ---------------------------------------------------------------------------------


@dataclass
class HttpCall:
    signal: Signal
    path: str
    headers: dict[str, str]
    body: bytes  # decompressed
    peer: Any = None  # the client's address: the same one means the connection was reused


HttpResponder = Callable[[HttpCall], Awaitable[web.StreamResponse]]


async def _http_ok(call: HttpCall) -> web.StreamResponse:
    return web.Response(status=200)


@dataclass
class HttpSink:
    """An aiohttp OTLP server that keeps every request, decompressed."""

    port: int = 0
    scheme: str = "http"
    calls: list[HttpCall] = field(default_factory=list)
    responder: HttpResponder = _http_ok

    @property
    def endpoint(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    async def handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        body = decompress_body(raw, request.headers.get("Content-Encoding", ""))
        call = HttpCall(
            PATHS.get(request.path, Signal.TRACES),
            request.path,
            dict(request.headers),
            body,
            request.transport.get_extra_info("peername") if request.transport else None,
        )
        self.calls.append(call)
        return await self.responder(call)


async def start_http_sink(
    sink: HttpSink, ssl_context: ssl.SSLContext | None = None
) -> web.AppRunner:
    # The aiohttp server would inflate gzip/deflate bodies itself; the raw bytes are kept instead
    # so that the tests see what was sent.
    app = web.Application(client_max_size=64 << 20)
    app.router.add_post("/{tail:.*}", sink.handle)
    runner = web.AppRunner(app, access_log=None, auto_decompress=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", sink.port, ssl_context=ssl_context)
    await site.start()
    sink.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    if ssl_context is not None:
        sink.scheme = "https"
    return runner


class ByteCountingProxy:
    """A TCP proxy that counts the bytes clients send through it (to see compression work)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.upstream_bytes = 0
        self.port = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, count: bool
    ) -> None:
        try:
            while data := await reader.read(65536):
                if count:
                    self.upstream_bytes += len(data)
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        for task in (
            asyncio.create_task(self._pipe(reader, up_writer, True)),
            asyncio.create_task(self._pipe(up_reader, writer, False)),
        ):
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()
