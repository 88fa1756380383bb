"""Collector throughput: ``otlpy send`` -> ``otlpy run`` (one core) -> a counting gRPC sink.

The collector under test runs ``otlp`` receiver -> [processors] -> ``otlp`` exporter, pinned to
core 1 with ``taskset``; the sender (``otlpy send``) and the sink (a grpcio server in this process
that counts the spans it receives) share core 0. Spans are realistic: about 10 attributes and one
event each, 512 per request. For each scenario the script reports the spans per second that reach
the sink, the collector's CPU use (share of its core, and microseconds per span) and its resident
memory (RSS).

Scenarios (``--scenarios``, default all):

- ``passthrough``: no processor; every request is forwarded as the bytes it arrived in;
- ``batch``: the ``batch`` processor (defaults: 8192 spans or 200 ms), merging requests by
  concatenating their bytes;
- ``reencode``: ``batch`` followed by ``touch``, a processor defined here that changes every
  resource (upserts one attribute), so the exporter must encode the request again: the CPU
  difference with ``batch`` is what zero-copy forwarding saves;
- ``reencode_first``: ``touch`` then ``batch``: the same work on each 512-span request
  before batching (the batch processor then encodes each touched request once, to merge it);
- ``steady``: ``batch`` at a steady 10,000 spans/s, for memory and CPU at a typical load;
- ``direct``: no collector, the sender straight into the sink: what the harness itself can do
  (the CPU and memory figures are then the sender's).

Run from the repository root::

    .venv/bin/python benchmarks/bench_collector.py --repeat 2   # all scenarios, ~5 minutes
    .venv/bin/python benchmarks/bench_collector.py --scenarios batch --profile /tmp/prof

The collector is started as ``bench_collector.py collector CONFIG``, which is ``otlpy run
--config CONFIG`` with the ``touch`` processor registered. ``--profile DIR`` records the
collector with py-spy during each measured window and prints the functions where it spends the
most time. Needs Linux with two cores and ``taskset``.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import orjson
import psutil

ROOT = Path(__file__).resolve().parents[1]
COLLECTOR_CORE = 1
OTHER_CORE = 0
_TRACE_SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"


# -- the collector process -------------------------------------------------------------------


def _touch_factory() -> Any:
    """A processor that changes every resource, forcing the exporter to re-encode."""
    from dataclasses import dataclass as frozen_dataclass

    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

    from otlpy.component import Factory, Kind
    from otlpy.processors.helper import FunctionProcessor

    @frozen_dataclass(frozen=True, kw_only=True)
    class TouchConfig:
        def validate(self) -> list[Any]:
            return []

    async def touch(batch: Any) -> Any:
        message = batch.mutable()  # decode now, drop the bytes: the exporter must encode
        for resource_spans in message.resource_spans:
            resource_spans.resource.attributes.append(
                KeyValue(key="bench.touched", value=AnyValue(bool_value=True))
            )
        return batch

    def create(settings: Any, config: Any, next_consumer: Any) -> Any:
        return FunctionProcessor(touch, next_consumer, mutates_data=True)

    return Factory(
        type="touch",
        kind=Kind.PROCESSOR,
        config=TouchConfig,
        create=create,
        description="benchmark only: upserts a resource attribute",
    )


def collector_main(config_path: str) -> int:
    """``bench_collector.py collector CONFIG``: ``otlpy run`` with the ``touch`` processor."""
    from otlpy import cli
    from otlpy.component import register

    register(_touch_factory())
    return cli.dispatch(["run", "--config", config_path])


def collector_config(receiver_port: int, sink_port: int, processors: list[str]) -> str:
    """The collector's YAML: OTLP/gRPC in, [processors], OTLP/gRPC out, no compression."""
    procs = ", ".join(processors)
    return f"""\
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{receiver_port}
processors:
  batch: {{}}
  touch: {{}}
exporters:
  otlp:
    endpoint: http://127.0.0.1:{sink_port}
    compression: none
service:
  telemetry:
    logs:
      level: warn
    metrics:
      level: none
  pipelines:
    traces:
      receivers: [otlp]
      processors: [{procs}]
      exporters: [otlp]
"""


# -- the sink ------------------------------------------------------------------------------


def _shallow_request_type() -> Any:
    """A message type that reads an export request down to each span's bytes, and no further.

    Counting spans this way costs the sink a fifth of a full decode, so that the sink, which
    shares a core with the sender, holds the sender back as little as possible.
    """
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    proto = descriptor_pb2.FileDescriptorProto(
        name="bench_shallow.proto", package="bench", syntax="proto3"
    )
    field_type = descriptor_pb2.FieldDescriptorProto
    for name, field_name, number, kind, type_name in (
        ("Request", "resource_spans", 1, field_type.TYPE_MESSAGE, ".bench.ResourceSpans"),
        ("ResourceSpans", "scope_spans", 2, field_type.TYPE_MESSAGE, ".bench.ScopeSpans"),
        ("ScopeSpans", "spans", 2, field_type.TYPE_BYTES, ""),
    ):
        message = proto.message_type.add(name=name)
        added = message.field.add(
            name=field_name, number=number, label=field_type.LABEL_REPEATED, type=kind
        )
        if type_name:
            added.type_name = type_name
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("bench.Request"))


@dataclass
class Sink:
    """A gRPC trace service that counts requests, bytes and spans."""

    port: int = 0
    requests: int = 0
    spans: int = 0
    bytes: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def snapshot(self) -> tuple[int, int, int]:
        with self._lock:
            return self.requests, self.spans, self.bytes


class SinkThread:
    """Runs the sink's grpcio server on its own event loop in a thread."""

    def __init__(self) -> None:
        self.sink = Sink()
        self._ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._main, daemon=True)

    def start(self) -> Sink:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the sink did not start")
        return self.sink

    def stop(self) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def _main(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._serve())

    async def _serve(self) -> None:
        sink = self.sink
        shallow = _shallow_request_type()

        async def export(request: bytes, context: Any) -> bytes:
            message = shallow.FromString(request)
            spans = sum(len(ss.spans) for rs in message.resource_spans for ss in rs.scope_spans)
            with sink._lock:
                sink.requests += 1
                sink.spans += spans
                sink.bytes += len(request)
            return b""

        server = grpc.aio.server(options=[("grpc.max_receive_message_length", 256 << 20)])
        server.add_generic_rpc_handlers(
            [
                grpc.method_handlers_generic_handler(
                    _TRACE_SERVICE, {"Export": grpc.unary_unary_rpc_method_handler(export)}
                )
            ]
        )
        sink.port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        self._stop = asyncio.Event()
        self._ready.set()
        await self._stop.wait()
        await server.stop(grace=None)


# -- measuring ----------------------------------------------------------------------------


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout: float = 20.0) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port}")


@dataclass
class Result:
    scenario: str
    spans_per_s: float
    cpu_share: float  # of one core, over the window
    us_per_span: float
    rss_mib_max: float
    rss_mib_end: float
    sender: dict[str, Any]
    window_s: float
    lost: int  # accepted by the collector but never reached the sink
    profile: list[tuple[str, float]] = field(default_factory=list)


def _cpu(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return float(times.user + times.system)


def _top_frames(raw_file: Path, count: int = 12) -> list[tuple[str, float]]:
    """Self time per function from py-spy's raw (collapsed) output, as shares of all samples."""
    totals: collections.Counter[str] = collections.Counter()
    samples = 0
    for line in raw_file.read_text().splitlines():
        stack, _, number = line.rpartition(" ")
        if not stack:
            continue
        n = int(number)
        samples += n
        leaf = stack.split(";")[-1]
        totals[leaf] += n
    return [(frame, n / samples) for frame, n in totals.most_common(count)] if samples else []


def run_scenario(
    name: str,
    processors: list[str] | None,
    *,
    rate: float,
    warmup: float,
    window: float,
    workers: int,
    python: str,
    profile_dir: Path | None,
) -> Result:
    sink_thread = SinkThread()
    sink = sink_thread.start()
    workdir = Path(tempfile.mkdtemp(prefix="otlpy-bench-"))
    collector = None
    if processors is None:  # no collector: the sender straight into the sink
        receiver_port = sink.port
    else:
        receiver_port = free_port()
        config_path = workdir / "collector.yaml"
        config_path.write_text(collector_config(receiver_port, sink.port, processors))
        collector = subprocess.Popen(
            ["taskset", "-c", str(COLLECTOR_CORE), python, __file__, "collector",
             str(config_path)],
            cwd=ROOT,
        )  # fmt: skip
    sender = None
    try:
        wait_for_port(receiver_port)
        send_args = [
            "taskset", "-c", str(OTHER_CORE), python, "-m", "otlpy", "send",
            "--endpoint", f"http://127.0.0.1:{receiver_port}",
            "--duration", f"{warmup + window + 2:.1f}",
            "--workers", str(workers),
            "--batch-size", "512",
            "--rate", str(rate),
            "--json",
        ]  # fmt: skip
        sender = subprocess.Popen(send_args, cwd=ROOT, stdout=subprocess.PIPE)
        # what is measured: the collector, or the sender when there is none
        measured = sender if collector is None else collector
        proc = psutil.Process(measured.pid)
        time.sleep(warmup)
        cpu0 = _cpu(proc)
        _, spans0, _ = sink.snapshot()
        t0 = time.monotonic()
        spy = None
        if profile_dir is not None and shutil.which("py-spy"):
            profile_dir.mkdir(parents=True, exist_ok=True)
            raw = profile_dir / f"{name}.txt"
            spy = subprocess.Popen(
                ["py-spy", "record", "--pid", str(measured.pid), "--duration", f"{window:.0f}",
                 "--format", "raw", "--output", str(raw), "--nonblocking", "--rate", "200"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
        rss_max = 0
        while time.monotonic() - t0 < window:
            rss_max = max(rss_max, proc.memory_info().rss)
            time.sleep(0.25)
        elapsed = time.monotonic() - t0
        cpu1 = _cpu(proc)
        _, spans1, _ = sink.snapshot()
        rss_end = proc.memory_info().rss
        out, _ = sender.communicate(timeout=60)
        summary = orjson.loads(out)
        time.sleep(1.0)  # let the batch processor and the exporter's queue drain
        _, spans_final, _ = sink.snapshot()
        top: list[tuple[str, float]] = []
        if spy is not None and profile_dir is not None:
            spy.wait(timeout=window + 30)
            top = _top_frames(profile_dir / f"{name}.txt")
    finally:
        if sender is not None and sender.poll() is None:
            sender.kill()
        if collector is not None:
            collector.send_signal(signal.SIGTERM)
            try:
                collector.wait(timeout=20)
            except subprocess.TimeoutExpired:
                collector.kill()
        sink_thread.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    spans = spans1 - spans0
    cpu = cpu1 - cpu0
    return Result(
        scenario=name,
        spans_per_s=spans / elapsed,
        cpu_share=cpu / elapsed,
        us_per_span=cpu / spans * 1e6 if spans else float("nan"),
        rss_mib_max=rss_max / 2**20,
        rss_mib_end=rss_end / 2**20,
        sender=summary,
        window_s=elapsed,
        lost=summary["items_accepted"] - spans_final,
        profile=top,
    )


SCENARIOS: dict[str, tuple[list[str] | None, float]] = {
    # name: (processors, or None for no collector; rate, 0 = as fast as possible)
    "direct": (None, 0.0),
    "passthrough": ([], 0.0),
    "batch": (["batch"], 0.0),
    "reencode": (["batch", "touch"], 0.0),
    "reencode_first": (["touch", "batch"], 0.0),
    "steady": (["batch"], 10_000.0),
}


def main() -> int:
    if len(sys.argv) >= 3 and sys.argv[1] == "collector":
        return collector_main(sys.argv[2])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma-separated")
    parser.add_argument("--warmup", type=float, default=4.0, help="seconds before measuring")
    parser.add_argument("--window", type=float, default=12.0, help="seconds measured")
    parser.add_argument("--workers", type=int, default=8, help="sender requests in flight")
    parser.add_argument("--repeat", type=int, default=1, help="runs per scenario (best kept)")
    parser.add_argument("--profile", type=Path, help="record the collector with py-spy here")
    parser.add_argument("--json", action="store_true", help="print results as JSON too")
    args = parser.parse_args()
    if not shutil.which("taskset"):
        print("taskset (util-linux) is needed to pin the collector to a core", file=sys.stderr)
        return 2
    if (os.cpu_count() or 1) < 2:
        print("this benchmark needs two cores", file=sys.stderr)
        return 2
    names = args.scenarios.split(",")
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenarios {unknown}; choose from {', '.join(SCENARIOS)}")
    # the sink (this process) stays off the collector's core
    os.sched_setaffinity(0, {OTHER_CORE})
    results = []
    for name in names:
        processors, rate = SCENARIOS[name]
        runs = [
            run_scenario(
                name,
                processors,
                rate=rate,
                warmup=args.warmup,
                window=args.window,
                workers=args.workers,
                python=sys.executable,
                profile_dir=args.profile,
            )
            for _ in range(args.repeat)
        ]
        best = max(runs, key=lambda r: r.spans_per_s) if rate == 0 else runs[-1]
        results.append(best)
        print(
            f"{name:12s} {best.spans_per_s:>9,.0f} spans/s at the sink | "
            f"{'sender' if processors is None else 'collector'}: "
            f"{best.cpu_share * 100:5.1f}% of its core, {best.us_per_span:4.2f} us CPU/span "
            f"(= {1e6 / best.us_per_span:>9,.0f} spans per CPU-second), RSS max "
            f"{best.rss_mib_max:5.1f} MiB, end {best.rss_mib_end:5.1f} MiB | sender: "
            f"{best.sender['accepted_per_s']:,.0f} accepted/s, {best.sender['items_failed']:,} "
            f"failed | lost {best.lost:,}",
            flush=True,
        )
        for frame, share in best.profile:
            print(f"    {share * 100:5.1f}%  {frame}")
    if args.json:
        print(orjson.dumps([r.__dict__ for r in results], option=orjson.OPT_INDENT_2).decode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
