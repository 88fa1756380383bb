"""Processors: the ``transform`` processor per batch and in a running collector, beside its peer.

Part 1, in this process, one core: 512-span batches (10 attributes and one event per span, the
batches of ``bench_ottl.py``) through

- ``transform`` with the five typical statements of ``bench_ottl.py``;
- the peer: the ``python`` processor running the same five operations hand-written in Python
  over the protobuf messages (``bench_ottl.hand_written``);
- the other processors of this package with typical configs, for scale.

Each is measured three ways: ``run`` is the processor's own work on the decoded message,
``consume`` adds decoding the request it receives as bytes, ``+encode`` adds encoding the
changed request as an exporter must. Spans per second of CPU time (``time.process_time``, so
that other work on a shared machine counts less), best of ``--rounds`` batches.

Part 2, end to end: ``otlpy send`` -> ``otlpy run`` (pinned to one core) -> a counting gRPC
sink, as in ``bench_collector.py``, with ``otlp -> transform -> otlp`` against ``otlp -> otlp``
(bytes forwarded as they came) and ``otlp -> python (hand-written) -> otlp``, and the same
transform with a resource statement after the five (a second statement group, the common
shape of a config's plain statements). Reported: spans per second reaching the sink and the
collector's CPU microseconds per span.

``--breakdown`` (part 2) starts the collector as ``bench_processors.py collector CONFIG FILE``,
which is ``otlpy run`` with the receiver's decode, the transform statements and the exporter's
encode timed by the thread CPU time they take (``time.thread_time``), and adds those per span
to the table; the rest is the gRPC server and client, the event loop and the pipeline.

Usage (from the repository root)::

    .venv/bin/python benchmarks/bench_processors.py                 # both parts, ~1.5 minutes
    .venv/bin/python benchmarks/bench_processors.py --part 1 --rounds 60
    .venv/bin/python benchmarks/bench_processors.py --part 2 --breakdown
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import psutil
from bench_collector import OTHER_CORE, SinkThread, free_port, wait_for_port
from bench_ottl import STATEMENTS, hand_written, make_batch
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from otlpy.component import ComponentID, Factory, Kind, Settings, find_factory
from otlpy.config.decode import decode
from otlpy.ottl import parse_statements
from otlpy.pdata import Batch, Signal
from otlpy.telemetry import SelfTelemetry
from otlpy.testing import SinkConsumer

ROOT = Path(__file__).resolve().parents[1]
COLLECTOR_CORE = 1
SPANS = 512


def peer(batch: Any) -> None:
    """The python processor's function: the five statements, hand-written."""
    hand_written(batch.message)


PROCESSORS: dict[str, tuple[str, dict[str, Any]]] = {
    "transform (5 statements)": (
        "transform",
        {"trace_statements": [{"context": "span", "statements": STATEMENTS}]},
    ),
    "python (hand-written peer)": ("python", {"function": "bench_processors:peer"}),
    "filter (2 conditions)": (
        "filter",
        {"traces": {"span": ['attributes["http.status_code"] == 500', 'name == "health"']}},
    ),
    "attributes (3 actions)": (
        "attributes",
        {
            "actions": [
                {"action": "upsert", "key": "deployment.environment", "value": "production"},
                {"action": "delete", "key": "http.request.header.authorization"},
                {"action": "hash", "key": "net.peer.name"},
            ]
        },
    ),
    "redaction (allow all, 1 blocked value)": (
        "redaction",
        {"allow_all_keys": True, "blocked_values": ["token=[^&]*"], "summary": "info"},
    ),
    "probabilistic_sampler (25%)": ("probabilistic_sampler", {"sampling_percentage": 25}),
}


def create(type_name: str, data: dict[str, Any], sink: SinkConsumer) -> Any:
    factory = find_factory(Kind.PROCESSOR, type_name)
    assert isinstance(factory, Factory)
    config, problems = decode(factory.config, data)
    assert not problems, problems
    settings = Settings(
        id=ComponentID(type_name),
        kind=Kind.PROCESSOR,
        telemetry=SelfTelemetry(level="none"),
        logger=__import__("logging").getLogger("bench"),
        signal=Signal.TRACES,
        pipeline="traces",
    )
    return factory.create(settings, config, sink)


def best_rate(rounds: int, run: Callable[[], float]) -> float:
    """Spans per second of the fastest of ``rounds`` timed batches."""
    best = min(run() for _ in range(rounds))
    return SPANS / best


def part1(rounds: int) -> list[tuple[str, float, float, float]]:
    raw = make_batch(SPANS)
    rows = []
    loop = asyncio.new_event_loop()
    for label, (type_name, data) in PROCESSORS.items():
        sink = SinkConsumer()
        processor = create(type_name, data, sink)

        def run_only(processor: Any = processor, sink: SinkConsumer = sink) -> float:
            batch = Batch(Signal.TRACES, message=ExportTraceServiceRequest.FromString(raw))
            start = time.process_time()
            loop.run_until_complete(processor.consume(batch))
            elapsed = time.process_time() - start
            sink.clear()  # keeping every decoded batch would grow the heap round after round
            return elapsed

        def consume(
            processor: Any = processor, sink: SinkConsumer = sink, encode: bool = False
        ) -> float:
            batch = Batch(Signal.TRACES, raw=raw)
            start = time.process_time()
            loop.run_until_complete(processor.consume(batch))
            if encode and sink.batches:
                _ = sink.batches[-1].raw
            elapsed = time.process_time() - start
            sink.clear()
            return elapsed

        rows.append(
            (
                label,
                best_rate(rounds, run_only),
                best_rate(rounds, consume),
                best_rate(rounds, lambda: consume(encode=True)),
            )
        )
        sink.clear()
    loop.close()
    # the engine alone, as bench_ottl.py measures it
    sequence = parse_statements(STATEMENTS, "span", error_mode="ignore")

    def engine() -> float:
        request = ExportTraceServiceRequest.FromString(raw)
        start = time.process_time()
        sequence.execute(request)
        return time.process_time() - start

    rows.insert(0, ("ottl engine only (execute)", best_rate(rounds, engine), 0.0, 0.0))
    return rows


# -- part 2: in a collector -------------------------------------------------------------------


def collector_config(receiver: int, sink: int, processors: str) -> str:
    statements = "\n".join(f"          - {orjson.dumps(s).decode()}" for s in STATEMENTS)
    return f"""\
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{receiver}
processors:
  transform:
    trace_statements:
      - context: span
        statements:
{statements}
  transform/resource:
    trace_statements:
      - context: span
        statements:
{statements}
      - set(resource.attributes["team"], "checkout")
  python:
    function: bench_processors:peer
exporters:
  otlp:
    endpoint: http://127.0.0.1:{sink}
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
      processors: [{processors}]
      exporters: [otlp]
"""


STAGES = ("decode", "transform", "encode")


def timed_collector_main(config_path: str, stats_path: str) -> int:
    """``bench_processors.py collector CONFIG FILE``: ``otlpy run``, writing to ``FILE`` the
    thread CPU seconds spent in each of :data:`STAGES` and how many batches each saw."""
    from otlpy import cli
    from otlpy.processors import transform

    totals = {stage: [0.0, 0] for stage in STAGES}

    def timed(stage: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any) -> Any:
            start = time.thread_time()
            try:
                return fn(*args)
            finally:
                totals[stage][0] += time.thread_time() - start
                totals[stage][1] += 1

        return run

    decode = Batch.decode.__func__  # type: ignore[attr-defined]
    Batch.decode = classmethod(timed("decode", decode))  # type: ignore[method-assign,assignment]
    raw = Batch.raw.fget
    assert raw is not None
    encode = timed("encode", raw)
    # only the first read encodes; later ones return the cached bytes
    Batch.raw = property(  # type: ignore[method-assign,assignment]
        lambda batch: raw(batch) if batch.has_raw else encode(batch)
    )
    transform.TransformGroup.run = timed(  # type: ignore[method-assign]
        "transform", transform.TransformGroup.run
    )
    # statements that run on the request's bytes (otlpy.ottl.onbytes) count as statements
    if hasattr(transform.TransformGroup, "run_bytes"):  # not in older trees
        transform.TransformGroup.run_bytes = timed(  # type: ignore[method-assign]
            "transform", transform.TransformGroup.run_bytes
        )
    try:
        return cli.dispatch(["run", "--config", config_path])
    finally:
        Path(stats_path).write_bytes(orjson.dumps(totals))


def part2(
    warmup: float, window: float, workers: int, breakdown: bool
) -> list[tuple[str, float, float, dict[str, float]]]:
    rows = []
    for label, processors in (
        ("otlp -> otlp (forwarded bytes)", ""),
        ("otlp -> transform -> otlp", "transform"),
        ("  ... and a resource statement", "transform/resource"),
        ("otlp -> python (peer) -> otlp", "python"),
    ):
        sink_thread = SinkThread()
        sink = sink_thread.start()
        port = free_port()
        workdir = Path(tempfile.mkdtemp(prefix="otlpy-bench-"))
        config = workdir / "collector.yaml"
        config.write_text(collector_config(port, sink.port, processors))
        env = {**os.environ, "PYTHONPATH": str(ROOT / "benchmarks")}
        stats = workdir / "stages.json"
        command = (
            [__file__, "collector", str(config), str(stats)]
            if breakdown
            else ["-m", "otlpy", "run", "--config", str(config)]
        )
        collector = subprocess.Popen(
            ["taskset", "-c", str(COLLECTOR_CORE), sys.executable, *command], cwd=ROOT, env=env
        )
        sender = None
        try:
            wait_for_port(port)
            proc = psutil.Process(collector.pid)
            sender = subprocess.Popen(
                ["taskset", "-c", str(OTHER_CORE), sys.executable, "-m", "otlpy", "send",
                 "--endpoint", f"http://127.0.0.1:{port}", "--duration",
                 f"{warmup + window + 2:.1f}", "--workers", str(workers), "--batch-size", "512",
                 "--json"],
                cwd=ROOT, stdout=subprocess.PIPE,
            )  # fmt: skip
            time.sleep(warmup)
            times = proc.cpu_times()
            cpu0 = times.user + times.system
            requests0, spans0, _ = sink.snapshot()
            start = time.monotonic()
            time.sleep(window)
            elapsed = time.monotonic() - start
            times = proc.cpu_times()
            cpu = times.user + times.system - cpu0
            requests, spans, _ = sink.snapshot()
            requests, spans = requests - requests0, spans - spans0
            sender.communicate(timeout=60)
        finally:
            if sender is not None and sender.poll() is None:
                sender.kill()
            collector.send_signal(signal.SIGTERM)
            try:
                collector.wait(timeout=20)
            except subprocess.TimeoutExpired:
                collector.kill()
            sink_thread.stop()
            per_span: dict[str, float] = {}
            if breakdown and stats.is_file():
                # whole-run averages per request received (warm-up included; a transform
                # with two statement groups is called twice per request), as us per span
                totals = orjson.loads(stats.read_bytes())
                received = totals["decode"][1]
                for stage, (seconds, calls) in totals.items():
                    if calls and received and requests:
                        per_span[stage] = seconds / received / (spans / requests) * 1e6
            shutil.rmtree(workdir, ignore_errors=True)
        us = cpu / spans * 1e6 if spans else float("nan")
        rows.append((label, spans / elapsed, us, per_span))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=["1", "2", "both"], default="both")
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--window", type=float, default=8.0)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument(
        "--breakdown", action="store_true", help="part 2: time decode, statements, encode"
    )
    if len(sys.argv) >= 4 and sys.argv[1] == "collector":
        sys.exit(timed_collector_main(sys.argv[2], sys.argv[3]))
    args = parser.parse_args()
    if args.part in ("1", "both"):
        print(f"512-span batches, best of {args.rounds}, spans/s on one core")
        print(f"{'processor':42} {'run':>10} {'consume':>10} {'+encode':>10}")
        for label, run, consume, encoded in part1(args.rounds):
            cells = [f"{v:>10,.0f}" if v else f"{'':>10}" for v in (run, consume, encoded)]
            print(f"{label:42} {' '.join(cells)}")
    if args.part in ("2", "both"):
        os.sched_setaffinity(0, {OTHER_CORE})
        print("\nin a collector (one core), otlpy send -> otlpy run -> gRPC sink")
        header = f"{'pipeline':36} {'spans/s':>10} {'CPU us/span':>12}"
        if args.breakdown:
            header += "".join(f" {stage:>10}" for stage in STAGES) + f" {'rest':>8}"
        print(header)
        for label, rate, us, stages in part2(
            args.warmup, args.window, args.workers, args.breakdown
        ):
            line = f"{label:36} {rate:>10,.0f} {us:>12.2f}"
            if args.breakdown:
                line += "".join(
                    f" {stages[s]:>10.2f}" if s in stages else f" {'':>10}" for s in STAGES
                )
                line += f" {us - sum(stages.values()):>8.2f}"
            print(line)


if __name__ == "__main__":
    main()
