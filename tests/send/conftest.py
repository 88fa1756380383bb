"""A small real OTLP server (grpcio and aiohttp) that records what ``otlpy send`` sends.

The server runs in its own thread with its own event loop, so a test can call the synchronous
``otlpy send`` entry point (which runs its own loop) as well as ``await`` the sender directly.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
from aiohttp import web
from google.protobuf import json_format
from google.rpc import status_pb2
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsPartialSuccess,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsPartialSuccess,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTracePartialSuccess,
    ExportTraceServiceResponse,
)

from certs import CertFiles, make_certs
from otlpy.pdata import Signal, request_type
from otlpy.wire import decode_request, decompress

_SERVICES = {
    "opentelemetry.proto.collector.trace.v1.TraceService": Signal.TRACES,
    "opentelemetry.proto.collector.metrics.v1.MetricsService": Signal.METRICS,
    "opentelemetry.proto.collector.logs.v1.LogsService": Signal.LOGS,
}
_RESPONSES: dict[Signal, tuple[Any, Any, str]] = {
    Signal.TRACES: (ExportTraceServiceResponse, ExportTracePartialSuccess, "rejected_spans"),
    Signal.METRICS: (
        ExportMetricsServiceResponse,
        ExportMetricsPartialSuccess,
        "rejected_data_points",
    ),
    Signal.LOGS: (ExportLogsServiceResponse, ExportLogsPartialSuccess, "rejected_log_records"),
}


@dataclass
class Received:
    """One request as the server got it."""

    signal: Signal
    protocol: str  # grpc, http/protobuf, http/json
    body: bytes  # decompressed
    headers: dict[str, str]

    def message(self) -> Any:
        """The request decoded."""
        if self.protocol == "http/json":
            return decode_request(self.signal, self.body)
        return request_type(self.signal).FromString(self.body)


@dataclass
class Sink:
    """What the server received, and how it should answer."""

    grpc_port: int = 0
    http_port: int = 0
    received: list[Received] = field(default_factory=list)
    #: answer every request with this gRPC status (None: OK)
    grpc_status: grpc.StatusCode | None = None
    #: answer every HTTP request with this status (None: 200)
    http_status: int | None = None
    #: (rejected, message) to report as a partial success
    partial: tuple[int, str] | None = None
    #: seconds to wait before answering
    delay: float = 0.0
    #: answer with these bytes instead of an export response
    raw_response: bytes | None = None

    @property
    def grpc_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.grpc_port}"

    @property
    def http_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def response(self, signal: Signal) -> Any:
        response_type, partial_type, field_name = _RESPONSES[signal]
        response = response_type()
        if self.partial is not None:
            rejected, message = self.partial
            response.partial_success.CopyFrom(
                partial_type(**{field_name: rejected, "error_message": message})
            )
        return response

    def messages(self) -> list[Any]:
        return [r.message() for r in self.received]


def _grpc_handler(sink: Sink) -> grpc.GenericRpcHandler:
    def make(service: str, signal: Signal) -> grpc.GenericRpcHandler:
        async def export(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
            headers = {k: v for k, v in context.invocation_metadata() or ()}
            sink.received.append(Received(signal, "grpc", request, headers))
            if sink.delay:
                await asyncio.sleep(sink.delay)
            if sink.grpc_status is not None:
                await context.abort(sink.grpc_status, "told to fail")
            if sink.raw_response is not None:
                return sink.raw_response
            return bytes(sink.response(signal).SerializeToString())

        return grpc.method_handlers_generic_handler(
            service, {"Export": grpc.unary_unary_rpc_method_handler(export)}
        )

    return [make(service, signal) for service, signal in _SERVICES.items()]  # type: ignore[return-value]


def _http_app(sink: Sink) -> web.Application:
    async def export(request: web.Request) -> web.Response:
        signal = Signal(request.match_info["signal"])
        encoding = request.headers.get("Content-Encoding", "identity")
        body = decompress(await request.read(), encoding, max_size=64 * 1024 * 1024)
        is_json = request.content_type == "application/json"
        protocol = "http/json" if is_json else "http/protobuf"
        sink.received.append(Received(signal, protocol, body, dict(request.headers)))
        if sink.delay:
            await asyncio.sleep(sink.delay)
        if sink.http_status is not None:
            status = status_pb2.Status(code=14, message="told to fail")
            if is_json:
                return web.json_response(
                    {"code": 14, "message": "told to fail"}, status=sink.http_status
                )
            return web.Response(
                body=status.SerializeToString(),
                status=sink.http_status,
                content_type="application/x-protobuf",
            )
        if sink.raw_response is not None:
            return web.Response(body=sink.raw_response, content_type=request.content_type)
        response = sink.response(signal)
        if is_json:
            return web.Response(
                body=json_format.MessageToJson(response), content_type="application/json"
            )
        return web.Response(
            body=response.SerializeToString(), content_type="application/x-protobuf"
        )

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_post("/v1/{signal}", export)
    app.router.add_post("/custom/{signal}", export)
    return app


class ServerThread:
    """Runs the gRPC and HTTP servers on 127.0.0.1 (ports chosen by the OS) in a thread."""

    def __init__(self, sink: Sink, tls: CertFiles | None = None, *, mtls: bool = False) -> None:
        self.mtls = mtls
        self.sink = sink
        self.tls = tls
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, daemon=True)

    def __enter__(self) -> Sink:
        self._thread.start()
        self._ready.wait(10)
        if self._error is not None:
            raise self._error
        return self.sink

    def __exit__(self, *exc: object) -> None:
        if self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._serve())
        except BaseException as exc:  # surfaced to the test through __enter__
            self._error = exc
            self._ready.set()
        finally:
            self.loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        server = grpc.aio.server(options=[("grpc.max_receive_message_length", 64 * 1024 * 1024)])
        server.add_generic_rpc_handlers(_grpc_handler(self.sink))
        ssl_context = None
        if self.tls is not None:
            pair = (self.tls.server_key.read_bytes(), self.tls.server_cert.read_bytes())
            credentials = grpc.ssl_server_credentials(
                [pair],
                root_certificates=self.tls.ca.read_bytes() if self.mtls else None,
                require_client_auth=self.mtls,
            )
            self.sink.grpc_port = server.add_secure_port("127.0.0.1:0", credentials)
            ssl_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ssl_context.load_cert_chain(self.tls.server_cert, self.tls.server_key)
            if self.mtls:
                ssl_context.load_verify_locations(self.tls.ca)
                ssl_context.verify_mode = ssl.CERT_REQUIRED
        else:
            self.sink.grpc_port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        # the body is decompressed here, by Content-Encoding, as an OTLP receiver does
        runner = web.AppRunner(_http_app(self.sink), access_log=None, auto_decompress=False)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
        await site.start()
        self.sink.http_port = runner.addresses[0][1]
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await runner.cleanup()
            await server.stop(grace=None)


@pytest.fixture
def sink() -> Iterator[Sink]:
    with ServerThread(Sink()) as running:
        yield running


@pytest.fixture
def tls_sink(tmp_path: Path) -> Iterator[tuple[Sink, CertFiles]]:
    certs = make_certs(tmp_path)
    with ServerThread(Sink(), certs) as running:
        yield running, certs


@pytest.fixture
def mtls_sink(tmp_path: Path) -> Iterator[tuple[Sink, CertFiles]]:
    certs = make_certs(tmp_path)
    with ServerThread(Sink(), certs, mtls=True) as running:
        yield running, certs
