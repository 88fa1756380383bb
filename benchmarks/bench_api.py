"""The query API's response times on a store of a million spans, side by side with the store
queries the endpoints run.

Run from the repository root:

    .venv/bin/python benchmarks/bench_api.py                 # 1M spans over 6 h
    .venv/bin/python benchmarks/bench_api.py --spans 200000  # quick look

A store is filled with ``--spans`` synthetic spans (eight-span traces across five services, ten
attributes each, spread over six hours). First the store query behind each endpoint is timed in
this process (the peer: what the endpoint costs without HTTP and JSON); then the store is served
by the ``otlpy_ui`` extension in a child process and each endpoint is timed from here over HTTP,
one request at a time, response body read whole. Times are wall clock, median and p95.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

sys.path.insert(0, str(Path(__file__).parent))
from _store_data import generate

from otlpy.pdata import Signal
from otlpy.store import Store
from otlpy.store.queries import (
    TraceQuery,
    attributes_dict,
    dependencies,
    find_traces,
    get_trace,
    operations,
    services,
    trace_summaries,
)

HOUR = 3600 * 10**9


def fill(directory: Path, n: int) -> int:
    now = time.time_ns()
    store = Store.open(directory)
    spans = 0
    # generated and written in slices: a million decoded spans at once need gigabytes
    step = 200_000
    for offset in range(0, n, step):
        count = min(step, n - offset)
        begin = now - 6 * HOUR + (6 * HOUR * offset) // n
        end = now - 6 * HOUR + (6 * HOUR * (offset + count)) // n
        for raw in generate(count, start_ns=begin, end_ns=end, seed=offset + 7):
            message = ExportTraceServiceRequest.FromString(raw)
            spans += store.write(Signal.TRACES, message)
    store.flush()
    store.enforce_retention()  # checkpoints
    store.close()
    return spans


def stats(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(len(ordered) * 0.95) - 1)]
    return statistics.median(ordered) * 1000, p95 * 1000


def timed(fn: Callable[[], Any], rounds: int) -> list[float]:
    fn()  # warm
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return samples


def cases(store: Store, now: int) -> list[tuple[str, str, dict[str, Any], Callable[[], Any]]]:
    """(label, path, params, the store call behind it) for each measured request."""
    middle = store.query(
        "SELECT trace_id FROM spans WHERE start_time < ? ORDER BY start_time DESC LIMIT 1",
        [now - 3 * HOUR],
    )[0][0].hex()
    recent = store.query(
        "SELECT trace_id FROM spans WHERE start_time > ? AND name = 'PlaceOrder' "
        "ORDER BY start_time LIMIT 1",
        [now - HOUR // 2],
    )[0][0]
    recent_trace = get_trace(store, recent)
    assert recent_trace is not None
    user = attributes_dict(recent_trace["spans"][0]["attributes"])["user.id"]
    hour = {"start_min": now - HOUR, "start_max": now}
    tagged = TraceQuery(
        service="checkout", operation="PlaceOrder", tags={"user.id": user}, limit=20, **hour
    )
    latest = TraceQuery(service="frontend", limit=20, **hour)
    six_hours = {"start_min": now - 6 * HOUR, "start_max": now}
    latest_100_all = TraceQuery(service="frontend", limit=100, **six_hours)
    untagged = TraceQuery(service="checkout", operation="PlaceOrder", limit=20, **hour)
    tag_json = f'{{"user.id":"{user}"}}'
    us = {"start": (now - HOUR) // 1000, "end": now // 1000}
    return [
        ("GET /api/services", "/api/services", {}, lambda: services(store)),
        (
            "GET /api/services/checkout/operations",
            "/api/services/checkout/operations",
            {},
            lambda: operations(store, "checkout"),
        ),
        (
            "GET /api/traces/{id} (8 spans)",
            f"/api/traces/{middle}",
            {},
            lambda: get_trace(store, middle),
        ),
        (
            "GET /api/traces service+operation+tag, 1 h, limit 20",
            "/api/traces",
            {"service": "checkout", "operation": "PlaceOrder", "tags": tag_json, "limit": 20, **us},
            lambda: find_traces(store, tagged),
        ),
        (
            "GET /api/traces service, 1 h, limit 20",
            "/api/traces",
            {"service": "frontend", "limit": 20, **us},
            lambda: find_traces(store, latest),
        ),
        (
            "GET /api/traces service, 6 h, limit 100",
            "/api/traces",
            {"service": "frontend", "limit": 100, "lookback": "6h"},
            lambda: find_traces(store, latest_100_all),
        ),
        (
            "GET /api/dependencies, last hour",
            "/api/dependencies",
            {"endTs": now // 10**6, "lookback": 3600_000},
            lambda: dependencies(store, now, HOUR),
        ),
        (
            "GET /api/v3/traces service+operation, 1 h, depth 20",
            "/api/v3/traces",
            {
                "query.service_name": "checkout",
                "query.operation_name": "PlaceOrder",
                "query.search_depth": 20,
                "query.start_time_min": _rfc3339(now - HOUR),
                "query.start_time_max": _rfc3339(now),
            },
            lambda: find_traces(store, untagged),
        ),
        (
            "GET /api/otlpy/traces (UI search: summaries), 1 h, limit 20",
            "/api/otlpy/traces",
            {"lookback": "1h", "limit": 20},
            lambda: trace_summaries(store, TraceQuery(limit=20, **hour)),
        ),
    ]  # fmt: skip


def _rfc3339(ns: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns / 1e9)) + f".{ns % 10**9:09d}Z"


def serve(directory: str, port_file: str) -> None:
    """The child process: the otlpy_ui extension over ``directory``."""
    import logging

    from otlpy.component import ComponentID, Kind, Settings
    from otlpy.extensions.ui import UIConfig, UIExtension
    from otlpy.telemetry import SelfTelemetry

    async def main() -> None:
        settings = Settings(
            id=ComponentID("otlpy_ui"),
            kind=Kind.EXTENSION,
            telemetry=SelfTelemetry(),
            logger=logging.getLogger("bench"),
        )
        ext = UIExtension(settings, UIConfig(endpoint="127.0.0.1:0", directory=directory))
        await ext.start(None)  # type: ignore[arg-type]
        await asyncio.to_thread(Path(port_file).write_text, str(ext.port))
        await asyncio.Event().wait()

    try:
        import uvloop

        uvloop.run(main())
    except ImportError:
        asyncio.run(main())


def get(url: str) -> int:
    with urllib.request.urlopen(url, timeout=60) as response:
        return len(response.read())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=30, help="requests per endpoint")
    parser.add_argument("--serve", nargs=2, metavar=("DIR", "PORTFILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(*args.serve)
        return
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus")
    workdir = Path(tempfile.mkdtemp(prefix="otlpy-bench-api-"))
    child = None
    try:
        start = time.perf_counter()
        spans = fill(workdir / "data", args.spans)
        print(f"store: {spans} spans over 6 h, written in {time.perf_counter() - start:.0f} s")
        now = time.time_ns()
        store = Store.open(workdir / "data")
        measured = cases(store, now)
        direct = {label: timed(fn, args.rounds) for label, _, _, fn in measured}
        store.close()
        port_file = workdir / "port"
        child = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(workdir / "data"), str(port_file)]
        )
        deadline = time.monotonic() + 60
        while not port_file.exists() or not port_file.read_text():
            if time.monotonic() > deadline or child.poll() is not None:
                raise RuntimeError("the API server did not start")
            time.sleep(0.1)
        base = f"http://127.0.0.1:{port_file.read_text()}"
        print(f"{'request':62s} {'store call':>20s} {'over HTTP':>20s} {'body':>9s}")
        print(f"{'':62s} {'median / p95 ms':>20s} {'median / p95 ms':>20s}")
        for label, path, params, _ in measured:
            url = base + path + ("?" + urllib.parse.urlencode(params) if params else "")
            size = get(url)
            body = orjson.loads(urllib.request.urlopen(url).read())
            assert "errors" not in body or not body["errors"], body
            over_http = timed(lambda url=url: get(url), args.rounds)
            d50, d95 = stats(direct[label])
            h50, h95 = stats(over_http)
            print(
                f"{label:62s} {d50:9.1f} / {d95:7.1f}  {h50:9.1f} / {h95:7.1f}  {size / 1024:7.0f}k"
            )
    finally:
        if child is not None:
            child.terminate()
            child.wait(30)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
