"""Sending OTLP: otlpy's otlp/otlphttp exporters beside the OpenTelemetry SDK's exporters.

Both sides send the same 512 spans, one request at a time, to a sink in another process that
answers at once (so the figures are the client's own cost). otlpy forwards the request bytes it
holds; the SDK exporters start from the SDK's span objects and encode them, which is what a
process exporting its own spans pays. A third row, "decode + re-encode", is what a forwarder that
does not keep the bytes would pay on top of otlpy's send.

    .venv/bin/python benchmarks/bench_exporters.py [--requests 200]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import multiprocessing
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import grpc.aio
from aiohttp import web
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpans
from opentelemetry.exporter.otlp.proto.http import Compression as HttpCompression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otlpy.component import ComponentID, Kind, Settings
from otlpy.exporterhelper import RetryConfig
from otlpy.exporters.otlp_grpc import OTLPGrpcConfig
from otlpy.exporters.otlp_grpc import factory as grpc_factory
from otlpy.exporters.otlp_http import OTLPHttpConfig
from otlpy.exporters.otlp_http import factory as http_factory
from otlpy.pdata import Batch, Signal, request_type
from otlpy.telemetry import SelfTelemetry

SPANS = 512
TRACE_SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"


def make_spans() -> Any:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "bench"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("bench")
    for i in range(SPANS):
        with tracer.start_as_current_span(f"op-{i % 16}") as span:
            for k in range(10):
                span.set_attribute(f"attr.{k}", f"value-{i}-{k}")
            span.add_event("event", {"n": i})
    return exporter.get_finished_spans()


# --- sinks in a child process ----------------------------------------------------------------


async def _serve(grpc_port: Any, http_port: Any, ready: Any) -> None:
    async def export(body: bytes, context: Any) -> bytes:
        return b""

    server = grpc.aio.server()
    server.add_generic_rpc_handlers(
        [
            grpc.method_handlers_generic_handler(
                TRACE_SERVICE, {"Export": grpc.unary_unary_rpc_method_handler(export)}
            )
        ]
    )
    grpc_port.value = server.add_insecure_port("127.0.0.1:0")
    await server.start()

    async def handle(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=200, content_type="application/x-protobuf")

    app = web.Application(client_max_size=64 << 20)
    app.router.add_post("/v1/traces", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    http_port.value = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    ready.set()
    await asyncio.Event().wait()


def _sink_main(grpc_port: Any, http_port: Any, ready: Any) -> None:
    asyncio.run(_serve(grpc_port, http_port, ready))


# --- measuring -------------------------------------------------------------------------------


def measure(name: str, requests: int, send: Callable[[], None]) -> tuple[str, float, float]:
    send()  # connect and warm up
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(requests):
        send()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return name, cpu / requests * 1e6, wall / requests * 1e6


async def measure_async(
    name: str, requests: int, send: Callable[[], Awaitable[None]]
) -> tuple[str, float, float]:
    await send()
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(requests):
        await send()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return name, cpu / requests * 1e6, wall / requests * 1e6


def settings(type_: str) -> Settings:
    return Settings(
        id=ComponentID(type_),
        kind=Kind.EXPORTER,
        telemetry=SelfTelemetry(),
        logger=logging.getLogger("bench"),
    )


async def otlpy_rows(
    requests: int, grpc_port: int, http_port: int, raw: bytes
) -> list[tuple[str, float, float]]:
    rows = []
    no_retry = RetryConfig(enabled=False)
    for compression in ("none", "gzip"):
        exporter = grpc_factory.create(
            settings("otlp"),
            OTLPGrpcConfig(
                endpoint=f"http://127.0.0.1:{grpc_port}",
                compression=compression,
                retry_on_failure=no_retry,
            ),
        )
        await exporter.start(None)

        async def forward(exporter: Any = exporter) -> None:
            await exporter.consume(Batch(Signal.TRACES, raw=raw, items=SPANS))

        rows.append(await measure_async(f"otlpy otlp, {compression}", requests, forward))
        if compression == "none":

            async def reencode(exporter: Any = exporter) -> None:
                message = request_type(Signal.TRACES)()
                message.ParseFromString(raw)
                await exporter.consume(
                    Batch(Signal.TRACES, raw=message.SerializeToString(), items=SPANS)
                )

            rows.append(
                await measure_async("otlpy otlp, decode + re-encode, none", requests, reencode)
            )
        await exporter.shutdown()
    for compression in ("none", "gzip"):
        exporter = http_factory.create(
            settings("otlphttp"),
            OTLPHttpConfig(
                endpoint=f"http://127.0.0.1:{http_port}",
                compression=compression,
                retry_on_failure=no_retry,
            ),
        )
        await exporter.start(None)

        async def forward_http(exporter: Any = exporter) -> None:
            await exporter.consume(Batch(Signal.TRACES, raw=raw, items=SPANS))

        rows.append(await measure_async(f"otlpy otlphttp, {compression}", requests, forward_http))
        await exporter.shutdown()
    return rows


def sdk_rows(requests: int, grpc_port: int, http_port: int, spans: Any) -> list[Any]:
    rows = []
    for label, compression in (
        ("none", grpc.Compression.NoCompression),
        ("gzip", grpc.Compression.Gzip),
    ):
        exporter = GrpcSpans(
            endpoint=f"127.0.0.1:{grpc_port}", insecure=True, compression=compression
        )
        rows.append(
            measure(
                f"SDK grpc exporter, {label}",
                requests,
                lambda exporter=exporter: exporter.export(spans),
            )
        )
        exporter.shutdown()
    for label, http_compression in (
        ("none", HttpCompression.NoCompression),
        ("gzip", HttpCompression.Gzip),
    ):
        http = HttpSpans(
            endpoint=f"http://127.0.0.1:{http_port}/v1/traces", compression=http_compression
        )
        rows.append(
            measure(f"SDK http exporter, {label}", requests, lambda http=http: http.export(spans))
        )
        http.shutdown()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    spans = make_spans()
    raw = encode_spans(spans).SerializeToString()

    grpc_port = multiprocessing.Value("i", 0)
    http_port = multiprocessing.Value("i", 0)
    ready = multiprocessing.Event()
    sink = multiprocessing.Process(
        target=_sink_main, args=(grpc_port, http_port, ready), daemon=True
    )
    sink.start()
    try:
        if not ready.wait(30):
            raise SystemExit("the sink did not start")
        rows = sdk_rows(args.requests, grpc_port.value, http_port.value, spans)
        rows += asyncio.run(otlpy_rows(args.requests, grpc_port.value, http_port.value, raw))
    finally:
        sink.terminate()
        sink.join()
    print(
        f"{SPANS} spans per request ({len(raw)} bytes), {args.requests} requests, pid {os.getpid()}"
    )
    print(f"{'sender':45} {'CPU us/req':>12} {'wall us/req':>12} {'CPU us/span':>12}")
    for name, cpu, wall in rows:
        print(f"{name:45} {cpu:12.0f} {wall:12.0f} {cpu / SPANS:12.2f}")


if __name__ == "__main__":
    main()
