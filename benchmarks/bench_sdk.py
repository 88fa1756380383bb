"""End to end cost of tracing with the official OTLP pipeline and with otlpy's, side by side.

One command runs everything::

    .venv/bin/python benchmarks/bench_sdk.py

A no-op OTLP server (gRPC and HTTP, counting the spans it receives) runs in its own process.
Each pipeline runs in a fresh process of its own: one busy application thread creates spans
(10 attributes and one event each, as a typical instrumented request would) as fast as it can,
then flushes and shuts the provider down. Measured per span:

- ``CPU``: CPU of the whole process (every thread) from the first span to the end of shutdown;
  ``added`` is that minus the same for a TracerProvider with no processor, measured in the same
  process just before or after (alternately), so that both see the same machine load;
- ``app thread``: the application thread's own CPU, and the wall time of its loop; ``slowdown``
  is that wall time over the bare run's (the exporting threads take the GIL from it);
- ``lost``: spans the server did not receive.

Two scenarios: ``throughput`` gives every processor a queue as large as the run (nothing can be
dropped, so every pipeline does all the work) to compare costs; ``burst`` uses default settings
(queue of 2048) to compare how much of a 20,480-span burst each pipeline loses.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
import urllib.request
from typing import Any

PIPELINES = {
    "official-grpc": "SDK BatchSpanProcessor + official gRPC exporter",
    "otlpy-grpc": "otlpy BatchSpanProcessor + otlpy exporter (gRPC)",
    "sdk-bsp+otlpy-grpc": (
        "SDK BatchSpanProcessor + otlpy exporter (gRPC), what OTEL_TRACES_EXPORTER=otlpy gives"
    ),
    "official-http": "SDK BatchSpanProcessor + official HTTP exporter",
    "otlpy-http": "otlpy BatchSpanProcessor + otlpy exporter (HTTP/protobuf)",
}
SCENARIOS = ("throughput", "burst")


# -- the no-op server ---------------------------------------------------------------------------


def serve() -> None:
    """Run the no-op OTLP server; print its ports as JSON on stdout, serve until killed."""
    import asyncio
    import threading
    from concurrent import futures

    import grpc
    from aiohttp import web
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    lock = threading.Lock()
    counts = {"spans": 0, "requests": 0}

    def count(data: bytes) -> None:
        request = ExportTraceServiceRequest()
        request.ParseFromString(data)
        spans = sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)
        with lock:
            counts["spans"] += spans
            counts["requests"] += 1

    def export(request: bytes, context: Any) -> bytes:
        count(request)
        return b""

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    handler = grpc.unary_unary_rpc_method_handler(
        export, request_deserializer=None, response_serializer=None
    )
    server.add_generic_rpc_handlers(
        (
            grpc.method_handlers_generic_handler(
                "opentelemetry.proto.collector.trace.v1.TraceService", {"Export": handler}
            ),
        )
    )
    grpc_port = server.add_insecure_port("127.0.0.1:0")
    server.start()

    async def traces(request: web.Request) -> web.Response:
        count(await request.read())
        return web.Response(body=b"", content_type="application/x-protobuf")

    async def stats(request: web.Request) -> web.Response:
        with lock:
            return web.json_response(dict(counts))

    async def main() -> None:
        app = web.Application(client_max_size=64 << 20)
        app.router.add_post("/v1/traces", traces)
        app.router.add_get("/stats", stats)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        http_port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        print(json.dumps({"grpc": grpc_port, "http": http_port}), flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


def server_spans(http_port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/stats", timeout=10) as response:
        return int(json.load(response)["spans"])


# -- one pipeline, in its own process -----------------------------------------------------------


def make_processor(pipeline: str, ports: dict[str, int], queue: int | None) -> Any:
    from opentelemetry.sdk.trace.export import BatchSpanProcessor as SdkBatchSpanProcessor

    import otlpy.sdk

    grpc_url = f"http://127.0.0.1:{ports['grpc']}"
    http_url = f"http://127.0.0.1:{ports['http']}/v1/traces"
    sizes = {} if queue is None else {"max_queue_size": queue}
    if pipeline == "official-grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        return SdkBatchSpanProcessor(OTLPSpanExporter(endpoint=grpc_url, insecure=True), **sizes)
    if pipeline == "official-http":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
            OTLPSpanExporter as HttpSpanExporter,
        )

        return SdkBatchSpanProcessor(HttpSpanExporter(endpoint=http_url), **sizes)
    if pipeline == "otlpy-grpc":
        return otlpy.sdk.BatchSpanProcessor(otlpy.sdk.OTLPSpanExporter(grpc_url), **sizes)
    if pipeline == "otlpy-http":
        exporter = otlpy.sdk.OTLPSpanExporter(http_url, protocol="http/protobuf")
        return otlpy.sdk.BatchSpanProcessor(exporter, **sizes)
    if pipeline == "sdk-bsp+otlpy-grpc":
        return SdkBatchSpanProcessor(otlpy.sdk.OTLPSpanExporter(grpc_url), **sizes)
    raise SystemExit(f"unknown pipeline {pipeline}")


def measure(provider: Any, spans: int, http_port: int | None) -> dict[str, float]:
    """Make ``spans`` spans as fast as one thread can, then flush and shut down; per span."""
    tracer = provider.get_tracer("bench", "1.0")
    attributes = {f"http.attribute.{i}": f"value-{i}" for i in range(10)}
    event_attributes = {"event.id": 1}

    def workload(n: int) -> None:
        for _ in range(n):
            with tracer.start_as_current_span("GET /items", attributes=attributes) as span:
                span.add_event("handled", event_attributes)

    # Warm up (imports, connection, caches), then measure from a clean server count.
    workload(512)
    provider.force_flush(30_000)
    before = server_spans(http_port) if http_port else 0
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    thread0 = time.thread_time()
    workload(spans)
    app_cpu = time.thread_time() - thread0
    app = time.perf_counter() - start
    provider.force_flush(60_000)
    provider.shutdown()
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    received = server_spans(http_port) - before if http_port else spans
    return {
        "app_us": app / spans * 1e6,
        "app_cpu_us": app_cpu / spans * 1e6,
        "cpu_us": cpu / spans * 1e6,
        "lost": spans - received,
    }


def child(
    pipeline: str, scenario: str, spans: int, ports: dict[str, int], bare_first: bool
) -> dict[str, float]:
    """The pipeline and, in the same process just before or after, the bare baseline."""
    import logging

    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider

    logging.disable(logging.WARNING)  # a dropped-span warning per span would be measured too
    service = Resource.create({"service.name": "bench"})

    def bare() -> dict[str, float]:
        return measure(TracerProvider(resource=service), spans, None)

    def with_pipeline() -> dict[str, float]:
        provider = TracerProvider(resource=service)
        queue = spans if scenario == "throughput" else None
        provider.add_span_processor(make_processor(pipeline, ports, queue))
        return measure(provider, spans, ports["http"])

    if bare_first:
        baseline = bare()
        result = with_pipeline()
    else:
        result = with_pipeline()
        baseline = bare()
    result["bare_cpu_us"] = baseline["cpu_us"]
    result["bare_app_us"] = baseline["app_us"]
    return result


# -- the driver ---------------------------------------------------------------------------------


def run_child(
    pipeline: str, scenario: str, spans: int, ports: dict[str, int], bare_first: bool
) -> dict[str, Any]:
    command = [
        sys.executable,
        __file__,
        "--child",
        pipeline,
        "--scenario",
        scenario,
        "--spans",
        str(spans),
        "--ports",
        json.dumps(ports),
        *(["--bare-first"] if bare_first else []),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, check=True)
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def summarize(runs: list[dict[str, float]]) -> dict[str, float]:
    """Medians over the runs; differences and ratios to the bare run are taken run by run."""

    def median(values: Any) -> float:
        return float(statistics.median(values))

    added = sorted(r["cpu_us"] - r["bare_cpu_us"] for r in runs)
    quartiles = statistics.quantiles(added, n=4) if len(added) >= 2 else [added[0]] * 3
    return {
        "cpu_us": median(r["cpu_us"] for r in runs),
        "added_us": median(added),
        "added_q1": quartiles[0],
        "added_q3": quartiles[2],
        "app_cpu_us": median(r["app_cpu_us"] for r in runs),
        "app_us": median(r["app_us"] for r in runs),
        "slowdown": median(r["app_us"] / r["bare_app_us"] for r in runs),
        "lost": median(r["lost"] for r in runs),
        "bare_cpu_us": median(r["bare_cpu_us"] for r in runs),
        "bare_app_us": median(r["bare_app_us"] for r in runs),
    }


def report(results: dict[str, dict[str, dict[str, float]]], spans: int, repeat: int) -> str:
    lines = [
        f"{spans} spans per run, {repeat} runs of each pipeline (interleaved), each paired with "
        "a run without any processor in the same process; medians, microseconds per span.",
        "",
    ]
    for scenario, rows in results.items():
        bare_cpu = statistics.median(r["bare_cpu_us"] for r in rows.values())
        bare_app = statistics.median(r["bare_app_us"] for r in rows.values())
        official = {
            proto: rows[f"official-{proto}"]["added_us"]
            for proto in ("grpc", "http")
            if f"official-{proto}" in rows
        }
        lines += [
            f"### {scenario}",
            "",
            "| pipeline | CPU | added CPU (quartiles) | vs official | app thread CPU "
            "| app thread wall | slowdown | lost |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
            f"| no processor | {bare_cpu:.1f} | 0 | | {bare_cpu:.1f} | {bare_app:.1f} "
            "| 1.00x | 0 |",
        ]
        for pipeline, r in rows.items():
            proto = "http" if pipeline.endswith("http") else "grpc"
            versus = f"{r['added_us'] / official[proto]:.2f}x" if proto in official else ""
            lines.append(
                f"| {pipeline} | {r['cpu_us']:.1f} | {r['added_us']:.1f} "
                f"({r['added_q1']:.1f}-{r['added_q3']:.1f}) | {versus} | "
                f"{r['app_cpu_us']:.1f} | {r['app_us']:.1f} | {r['slowdown']:.2f}x | "
                f"{int(r['lost'])} ({r['lost'] / spans:.1%}) |"
            )
        lines.append("")
    lines += ["Pipelines:", ""] + [f"- `{name}`: {text}" for name, text in PIPELINES.items()]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--spans", type=int, default=20_480)
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--pipelines", default=",".join(PIPELINES))
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--scenario", help=argparse.SUPPRESS)
    parser.add_argument("--ports", help=argparse.SUPPRESS)
    parser.add_argument("--bare-first", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve()
        return
    if args.child:
        ports = json.loads(args.ports)
        print(json.dumps(child(args.child, args.scenario, args.spans, ports, args.bare_first)))
        return
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        ports = json.loads(server.stdout.readline())
        pipelines = args.pipelines.split(",")
        scenarios = args.scenarios.split(",")
        runs: dict[str, dict[str, list[dict[str, float]]]] = {
            scenario: {pipeline: [] for pipeline in pipelines} for scenario in scenarios
        }
        # Interleaved, so that a change in the machine's load touches every pipeline alike.
        for attempt in range(args.repeat):
            for scenario in scenarios:
                for pipeline in pipelines:
                    result = run_child(pipeline, scenario, args.spans, ports, attempt % 2 == 0)
                    runs[scenario][pipeline].append(result)
                    print(f"{attempt} {scenario:10} {pipeline:20} {result}", file=sys.stderr)
        results = {
            scenario: {pipeline: summarize(runs[scenario][pipeline]) for pipeline in pipelines}
            for scenario in scenarios
        }
        print(report(results, args.spans, args.repeat))
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
