"""A small real OTLP server (grpcio and aiohttp) that records what ``otlpy send`` sends.

The server runs in its own thread with its own event loop, so a test can call the synchronous
``otlpy send`` entry point (which runs its own loop) as well as ``await`` the sender directly.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import gzip
import ipaddress
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import orjson
import pytest
import zstandard
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

from otlpy.pdata import Signal, request_type

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
_ID_KEYS = {"traceId", "spanId", "parentSpanId"}


@dataclass
class Received:
    """One request as the server got it."""

    signal: Signal
    protocol: str  # grpc, http/protobuf, http/json
    body: bytes  # decompressed
    headers: dict[str, str]

    def message(self) -> Any:
        """The request decoded (OTLP/JSON ids turned back to base64 for json_format)."""
        message = request_type(self.signal)()
        if self.protocol == "http/json":
            json_format.ParseDict(_unhex(orjson.loads(self.body)), message)
        else:
            message.ParseFromString(self.body)
        return message


def _unhex(node: Any) -> Any:
    if isinstance(node, list):
        return [_unhex(item) for item in node]
    if isinstance(node, dict):
        return {
            k: base64.b64encode(bytes.fromhex(v)).decode()
            if k in _ID_KEYS and isinstance(v, str)
            else _unhex(v)
            for k, v in node.items()
        }
    return node


def _decompress(body: bytes) -> bytes:
    if body[:2] == b"\x1f\x8b":
        return gzip.decompress(body)
    if body[:4] == b"\x28\xb5\x2f\xfd":
        return zstandard.ZstdDecompressor().decompressobj().decompress(body)
    return body


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
        body = _decompress(await request.read())
        is_json = request.content_type == "application/json"
        protocol = "http/json" if is_json else "http/protobuf"
        sink.received.append(Received(signal, protocol, body, dict(request.headers)))
        if sink.delay:
            await asyncio.sleep(sink.delay)
        if sink.http_status is not None:
            status = status_pb2.Status(code=14, message="told to fail")
            if is_json:
                return web.json_response({"code": 14, "message": "told to fail"}, status=sink.http_status)
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
        return web.Response(body=response.SerializeToString(), content_type="application/x-protobuf")

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_post("/v1/{signal}", export)
    app.router.add_post("/custom/{signal}", export)
    return app


@dataclass
class Tls:
    """A self-signed certificate for 127.0.0.1 and localhost, and where it is on disk."""

    cert_file: str
    key_file: str
    cert: bytes
    key: bytes


def make_tls(directory: Path) -> Tls:
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    cert_file = directory / "cert.pem"
    key_file = directory / "key.pem"
    cert_file.write_bytes(cert_pem)
    key_file.write_bytes(key_pem)
    return Tls(str(cert_file), str(key_file), cert_pem, key_pem)


class ServerThread:
    """Runs the gRPC and HTTP servers on 127.0.0.1 (ports chosen by the OS) in a thread."""

    def __init__(self, sink: Sink, tls: Tls | None = None) -> None:
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
        server = grpc.aio.server(
            options=[("grpc.max_receive_message_length", 64 * 1024 * 1024)]
        )
        server.add_generic_rpc_handlers(_grpc_handler(self.sink))
        ssl_context = None
        if self.tls is not None:
            credentials = grpc.ssl_server_credentials([(self.tls.key, self.tls.cert)])
            self.sink.grpc_port = server.add_secure_port("127.0.0.1:0", credentials)
            import ssl

            ssl_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ssl_context.load_cert_chain(self.tls.cert_file, self.tls.key_file)
        else:
            self.sink.grpc_port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        runner = web.AppRunner(_http_app(self.sink), access_log=None)
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
def tls_sink(tmp_path: Path) -> Iterator[tuple[Sink, Tls]]:
    tls = make_tls(tmp_path)
    with ServerThread(Sink(), tls) as running:
        yield running, tls
