"""The embedded store: ingest throughput, query latency with a million spans, bytes per span.

Run from the repository root:

    .venv/bin/python benchmarks/bench_store.py              # 200k ingest, 1M for queries
    .venv/bin/python benchmarks/bench_store.py --spans 100000 --ingest 50000   # quick look

Ingest is timed from decoded ``ExportTraceServiceRequest`` messages (what a pipeline hands the
store exporter), with and without the request bytes they were decoded from, to flushed, durable
rows, on one Python thread with DuckDB limited to one thread; CPU time counts every thread.
Side by side, the conversion alone is timed for the layout the store uses (the span kept whole,
attributes not walked) and for the layout it rejected (every attribute walked into MAP
columns), on the same messages.

Query latencies use the public query functions on a store holding ``--spans`` spans spread
over six hours, written through the store in arrival order: trace by id, search by service +
operation + attribute + last hour, and p99 duration per service and operation.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

sys.path.insert(0, str(Path(__file__).parent))
from _store_data import generate

from otlpy.pdata import Signal
from otlpy.store import Store
from otlpy.store._anyvalue import any_value_text
from otlpy.store._columns import ResourceRegistry, spans_table
from otlpy.store.queries import (
    TraceQuery,
    attributes_dict,
    find_trace_ids,
    find_traces,
    get_trace,
    operation_stats,
)

HOUR = 3600 * 10**9


def decode(requests: list[bytes]) -> tuple[list[Any], int]:
    messages = [ExportTraceServiceRequest.FromString(r) for r in requests]
    spans = sum(len(ss.spans) for m in messages for rs in m.resource_spans for ss in rs.scope_spans)
    return messages, spans


def map_layout(message: Any) -> Any:
    """The rejected layout: span attributes walked into MAP(VARCHAR, VARCHAR) columns."""
    offsets = [0]
    keys: list[str] = []
    values: list[str] = []
    names: list[str] = []
    for rs in message.resource_spans:
        for ss in rs.scope_spans:
            for span in ss.spans:
                names.append(span.name)
                for kv in span.attributes:
                    keys.append(kv.key)
                    values.append(any_value_text(kv.value))
                offsets.append(len(keys))
    return pa.table(
        {
            "name": names,
            "attributes": pa.MapArray.from_arrays(
                pa.array(offsets, pa.int32()), pa.array(keys), pa.array(values)
            ),
        }
    )


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def timed_both(fn: Callable[[], Any]) -> tuple[float, float]:
    """Wall and CPU seconds (all threads, DuckDB's included) of one call."""
    cpu = time.process_time()
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start, time.process_time() - cpu


def bench_ingest(n: int, workdir: Path) -> None:
    now = time.time_ns()
    start = time.perf_counter()
    requests = generate(n, start_ns=now - HOUR, end_ns=now, seed=2)
    gen_s = time.perf_counter() - start
    messages, spans = decode(requests)
    print(f"ingest: {spans} spans in {len(messages)} requests (generated in {gen_s:.1f} s)")

    def convert_store() -> None:
        registry = ResourceRegistry()
        for m in messages:
            spans_table(m, registry)

    def convert_sliced() -> None:
        registry = ResourceRegistry()
        for m, raw in zip(messages, requests, strict=True):
            spans_table(m, registry, raw)

    def convert_map() -> None:
        for m in messages:
            map_layout(m)

    for label, fn in (
        ("store layout, spans serialized", convert_store),
        ("store layout, spans sliced from the request bytes", convert_sliced),
        ("MAP layout (rejected)", convert_map),
    ):
        seconds = min(timed(fn) for _ in range(2))
        print(f"  convert only, {label}: {seconds / spans * 1e6:.2f} us/span")

    for threads, with_raw in ((1, False), (1, True), (2, True)):
        directory = workdir / f"ingest-{threads}-{with_raw}"
        store = Store.open(directory, threads=threads)

        def write_all(store: Store = store, with_raw: bool = with_raw) -> None:
            for m, raw in zip(messages, requests, strict=True):
                store.write(Signal.TRACES, m, raw=raw if with_raw else None)
            store.flush()

        cpu = time.process_time()
        seconds = timed(write_all)
        cpu = time.process_time() - cpu
        store.close()
        shutil.rmtree(directory)
        source = "request bytes" if with_raw else "messages only"
        print(
            f"  write + flush, {source}, DuckDB threads={threads}: "
            f"{spans / seconds:9,.0f} spans/s wall, {spans / cpu:9,.0f} spans/s of CPU "
            f"({cpu / spans * 1e6:.2f} us CPU/span)"
        )


def percentiles(samples: list[tuple[float, float]]) -> str:
    wall = sorted(w for w, _ in samples)
    p99 = wall[min(len(wall) - 1, int(len(wall) * 0.99))] * 1000
    cpu = statistics.median(c for _, c in samples) * 1000
    return (
        f"wall median {statistics.median(wall) * 1000:7.2f} ms, p99 {p99:7.2f} ms; "
        f"CPU median {cpu:7.2f} ms"
    )


def bench_queries(n: int, workdir: Path) -> None:
    now = time.time_ns()
    start = time.perf_counter()
    requests = generate(n, start_ns=now - 6 * HOUR, end_ns=now, seed=3)
    messages, spans = decode(requests)
    print(f"queries: {spans} spans over 6 h (generated in {time.perf_counter() - start:.1f} s)")
    store = Store.open(workdir / "queries")
    start = time.perf_counter()
    cpu = time.process_time()
    for m, raw in zip(messages, requests, strict=True):
        store.write(Signal.TRACES, m, raw=raw)
    store.flush()
    seconds = time.perf_counter() - start
    cpu = time.process_time() - cpu
    del messages, requests
    print(
        f"  write + flush, DuckDB default threads: {spans / seconds:9,.0f} spans/s wall, "
        f"{cpu / spans * 1e6:.2f} us CPU/span"
    )
    store.enforce_retention()  # checkpoints
    used = store.used_bytes()
    size = store.path.stat().st_size
    print(f"  storage: {used / spans:.0f} bytes/span used, file {size / spans:.0f} bytes/span")

    ids = [r[0].hex() for r in store.query("SELECT trace_id FROM spans USING SAMPLE 300 ROWS")]
    recent = [
        r[0].hex()
        for r in store.query(
            # the sample is taken before WHERE applies, hence the subquery
            "SELECT trace_id FROM (SELECT trace_id FROM spans WHERE start_time > ?) "
            "USING SAMPLE 30 ROWS",
            [now - HOUR],
        )
    ]
    samples = [timed_both(lambda t=t: get_trace(store, t)) for t in ids]
    spans_per_trace = len(get_trace(store, ids[0])["spans"])  # type: ignore[index]
    print(f"  trace by id ({spans_per_trace} spans, whole records): {percentiles(samples)}")

    users = []
    for trace_id in recent:
        trace = get_trace(store, trace_id)
        assert trace is not None
        users.append(attributes_dict(trace["spans"][0]["attributes"])["user.id"])

    def search(user: str, since: int, ids_only: bool) -> list[Any]:
        query = TraceQuery(
            service="checkout",
            operation="PlaceOrder",
            tags={"user.id": user},
            start_min=since,
            start_max=now,
            limit=20,
        )
        return find_trace_ids(store, query) if ids_only else find_traces(store, query)

    for label, since in (("last hour", now - HOUR), ("all 6 h", now - 6 * HOUR)):
        found = [len(search(u, since, True)) for u in users]
        assert all(found), "every searched user has a trace"
        for ids_only in (True, False):
            samples = [timed_both(lambda u=u, s=since, i=ids_only: search(u, s, i)) for u in users]
            what = "trace ids" if ids_only else "whole traces"
            print(f"  search svc+op+attr, {label:9s}, {what:12s}: {percentiles(samples)}")

    samples = [timed_both(lambda: operation_stats(store, quantiles=(0.99,))) for _ in range(10)]
    groups = len(operation_stats(store, quantiles=(0.99,)))
    print(f"  p99 duration per service+operation ({groups} groups): {percentiles(samples)}")
    store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ingest", type=int, default=200_000, help="spans for the ingest test")
    parser.add_argument("--spans", type=int, default=1_000_000, help="spans for the queries")
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus")
    workdir = Path(tempfile.mkdtemp(prefix="otlpy-bench-store-"))
    try:
        bench_ingest(args.ingest, workdir)
        bench_queries(args.spans, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
