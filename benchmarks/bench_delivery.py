"""Delivery guarantees at full size, and the persistent queue's throughput beside the memory queue.

Runs the fault-injection scenarios of ``tests/faults`` with their full parameters (a 60 s
outage, a 1 s/request backend under 20k spans/s offered, ...) against ``otlpy run`` child
processes on 127.0.0.1, counting spans end to end by identity, and prints one table row per
scenario: spans acknowledged to the senders, delivered, lost (acknowledged, never delivered and
not counted as dropped), duplicates, and the collector's peak RSS.

Then the throughput of the sending queue:

- ``e2e``: sender -> ``otlpy run`` (pinned to one core) -> fast backend, with the exporter's
  memory queue and with the persistent queue (fsync ``batch``, the default, and ``always``);
- ``helper``: the exporter helper in this process with a no-op ``push``: how fast batches go
  through each queue (the queue's own cost, nothing else).

Run from the repository root::

    .venv/bin/python benchmarks/bench_delivery.py                   # everything, ~8 minutes
    .venv/bin/python benchmarks/bench_delivery.py --only throughput # ~1 minute
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "faults"))

from harness import (  # noqa: E402
    PROTOBUF,
    Answer,
    Backend,
    CollectorProcess,
    Outcome,
    RssSampler,
    Sender,
    build_request,
    free_port,
    pipeline_config,
    span_id,
    wait_for,
)

from otlpy.component import ComponentID, Kind, Settings  # noqa: E402
from otlpy.exporterhelper import Exporter, QueueConfig, RetryConfig  # noqa: E402
from otlpy.exporterhelper._wal import scan  # noqa: E402
from otlpy.extensions.file_storage import FileStorage, FileStorageConfig  # noqa: E402
from otlpy.pdata import Batch, Signal  # noqa: E402
from otlpy.telemetry import SelfTelemetry  # noqa: E402

MIB = 1 << 20
ROWS: list[str] = []


def row(name: str, outcome: Outcome, peak: int | None, note: str) -> None:
    peak_text = f"{peak / MIB:.0f}" if peak else "-"
    line = (
        f"| {name} | {outcome.acknowledged:,} | {outcome.delivered:,} | {outcome.lost:,} | "
        f"{outcome.duplicates:,} | {peak_text} | {note} |"
    )
    ROWS.append(line)
    print(line, flush=True)


async def scenario_outage(work: Path) -> None:
    backend = Backend()
    port = free_port()
    collector = CollectorProcess(work, pipeline_config(receiver_port=port, backend=backend))
    collector.start(wait_port=port)
    sender = Sender(f"http://127.0.0.1:{port}", spans_per_request=100)
    with RssSampler(collector.pid) as rss:
        await sender.run(rate=15, duration=60)  # 900 requests, 90,000 spans, backend down
        down_for = 60.0
        await backend.up()
        started = time.monotonic()
        ok = await wait_for(lambda: set(backend.delivered) >= sender.acked, timeout=180)
        took = time.monotonic() - started
    failed = await collector.metric("otelcol_exporter_send_failed_spans_total")
    collector.kill()
    await backend.down()
    outcome = Outcome.of([sender], backend)
    row(
        "1. backend down 60 s, then up (default retry and queue)",
        outcome,
        rss.peak,
        f"outage {down_for:.0f} s; all delivered {took:.0f} s after recovery: {ok}; "
        f"dropped and counted {failed:.0f}",
    )


async def scenario_retry_after(work: Path, status: int, seconds: int) -> None:
    backend = Backend()
    backend.answer = lambda n: Answer(status, retry_after=seconds) if n < 2 else Answer()
    await backend.up()
    port = free_port()
    config = pipeline_config(receiver_port=port, backend=backend)
    collector = CollectorProcess(work, config, name=f"retry{status}")
    collector.start(wait_port=port)
    sender = Sender(f"http://127.0.0.1:{port}", spans_per_request=100)
    await sender.run(requests=1)
    await wait_for(lambda: len(backend.delivered) == 100, timeout=60)
    times = [t for t, _ in backend.requests[:3]]
    gaps = [round(b - a, 2) for a, b in itertools.pairwise(times)]
    collector.kill()
    await backend.down()
    row(
        f"2. backend answers {status} with Retry-After: {seconds} twice",
        Outcome.of([sender], backend),
        None,
        f"waits between attempts {gaps} s (asked {seconds} s; the backoff alone: 5 s, then "
        "7.5 s, each ±50%)",
    )


async def scenario_bad_request(work: Path) -> None:
    backend = Backend()
    backend.answer = lambda n: Answer(400)
    await backend.up()
    port = free_port()
    collector = CollectorProcess(work, pipeline_config(receiver_port=port, backend=backend))
    collector.start(wait_port=port, shutdown_timeout=5)
    sender = Sender(f"http://127.0.0.1:{port}", spans_per_request=100)
    await sender.run(requests=500, concurrency=4)
    await wait_for(lambda: len(backend.requests) >= 500, timeout=60)
    await asyncio.sleep(2)
    failed = await collector.metric("otelcol_exporter_send_failed_spans_total")
    lines = collector.log().count("export failed")
    collector.kill()
    await backend.down()
    outcome = Outcome.of([sender], backend)
    row(
        "3. backend answers 400",
        outcome,
        None,
        f"{len(backend.requests)} requests for 500 batches (never retried); dropped and counted "
        f"{failed:.0f}; unaccounted {outcome.lost - failed:.0f}; {lines} log lines",
    )


async def scenario_sigkill(work: Path) -> None:
    backend = Backend()
    backend.answer = lambda n: Answer(delay=0.05)
    await backend.up()
    port = free_port()
    storage = work / "storage"
    config = pipeline_config(
        receiver_port=port,
        backend=backend,
        exporter={"sending_queue": {"storage": "file_storage"}},
        storage_dir=storage,
    )
    collector = CollectorProcess(work, config, name="sigkill")
    collector.start(wait_port=port)
    sender = Sender(f"http://127.0.0.1:{port}", spans_per_request=100)
    sending = asyncio.create_task(sender.run(rate=200, concurrency=8, duration=120))
    queued = []
    peak = 0
    for _ in range(3):
        with RssSampler(collector.pid) as rss:
            await asyncio.sleep(8)
        peak = max(peak, rss.peak)
        collector.kill()
        queued.append(scan(storage / "exporter_otlphttp").live_records)
        collector.start(wait_port=port)
    await asyncio.sleep(5)
    sender.stop.set()
    await sending
    ok = await wait_for(lambda: set(backend.delivered) >= sender.acked, timeout=120)
    collector.kill()
    await backend.down()
    row(
        "4. SIGKILL mid-stream x3, persistent queue, restart",
        Outcome.of([sender], backend),
        peak,
        f"records on disk at each kill {queued}; all acknowledged delivered: {ok}",
    )


async def scenario_slow_backend(work: Path) -> None:
    backend = Backend()
    backend.answer = lambda n: Answer(delay=1.0)
    await backend.up()
    port = free_port()
    collector = CollectorProcess(work, pipeline_config(receiver_port=port, backend=backend))
    collector.start(wait_port=port)
    baseline = collector.rss()
    senders = [
        Sender(f"http://127.0.0.1:{port}", sender=i, spans_per_request=100) for i in range(20)
    ]
    with RssSampler(collector.pid) as rss:
        started = time.monotonic()
        await asyncio.gather(*(s.run(rate=10, duration=30) for s in senders))  # 20k spans/s
        offered_for = time.monotonic() - started
        refusals = sum(s.answers[503] for s in senders)
        acked = set().union(*(s.acked for s in senders))
        ok = await wait_for(lambda: set(backend.delivered) >= acked, timeout=240, every=0.5)
    collector.kill()
    await backend.down()
    row(
        "5. backend takes 1 s per request, 20k spans/s offered for 30 s",
        Outcome.of(senders, backend),
        rss.peak,
        f"baseline {baseline / MIB:.0f} MiB; {refusals} answers 503 to the senders in "
        f"{offered_for:.0f} s; all acknowledged delivered: {ok}",
    )


async def scenario_memory_limiter(work: Path, limiter: bool) -> None:
    backend = Backend()
    backend.answer = lambda n: Answer(delay=0.25)
    await backend.up()
    port = free_port()
    processors = (
        {"memory_limiter": {"check_interval": "100ms", "limit_mib": 200, "spike_limit_mib": 40}}
        if limiter
        else None
    )
    config = pipeline_config(
        receiver_port=port,
        backend=backend,
        processors=processors,
        exporter={"sending_queue": {"queue_size": 100_000}},
    )
    collector = CollectorProcess(work, config, name=f"limiter{int(limiter)}")
    collector.start(wait_port=port)
    senders = [
        Sender(f"http://127.0.0.1:{port}", sender=i, spans_per_request=500) for i in range(50)
    ]
    with RssSampler(collector.pid, every=0.005) as rss:
        await asyncio.gather(*(s.run(duration=30) for s in senders))
    refusals = sum(s.answers[503] for s in senders)
    acked = set().union(*(s.acked for s in senders))
    ok = await wait_for(lambda: set(backend.delivered) >= acked, timeout=300, every=0.5)
    collector.kill()
    await backend.down()
    name = (
        "6. memory_limiter 200 MiB (spike 40), 50 senders, 30 s"
        if limiter
        else "6'. same load without memory_limiter (queue_size 100,000)"
    )
    row(
        name,
        Outcome.of(senders, backend),
        rss.peak,
        f"{refusals} answers 503; all acknowledged delivered: {ok}",
    )


async def scenario_sigterm(work: Path, persistent: bool) -> None:
    backend = Backend()
    backend.answer = lambda n: Answer(delay=0.05)
    if not persistent:
        await backend.up()
    port = free_port()
    storage = work / "storage-term"
    queue: dict[str, Any] = {"storage": "file_storage"} if persistent else {}
    config = pipeline_config(
        receiver_port=port,
        backend=backend,
        exporter={"sending_queue": queue},
        storage_dir=storage if persistent else None,
    )
    collector = CollectorProcess(work, config, name=f"sigterm{int(persistent)}")
    collector.start(wait_port=port, shutdown_timeout=30)
    sender = Sender(f"http://127.0.0.1:{port}", spans_per_request=100)
    await sender.run(requests=500, concurrency=8)
    with RssSampler(collector.pid) as rss:
        started = time.monotonic()
        code = await asyncio.to_thread(collector.terminate, 60)
        stopped_in = time.monotonic() - started
    note = f"exit {code} in {stopped_in:.1f} s"
    if persistent:
        kept = scan(storage / "exporter_otlphttp").live_records
        await backend.up()
        collector.start(wait_port=port)
        ok = await wait_for(lambda: set(backend.delivered) >= sender.acked, timeout=120)
        collector.kill()
        note += f"; {kept} requests kept on disk, delivered after restart: {ok}"
        name = "7b. SIGTERM with 500 requests queued, backend down, persistent queue"
    else:
        name = "7a. SIGTERM with 500 requests queued, memory queue (deadline 30 s)"
    await backend.down()
    row(name, Outcome.of([sender], backend), rss.peak, note)


# -- throughput ------------------------------------------------------------------------------


async def _blast(url: str, bodies: list[bytes], duration: float, concurrency: int) -> int:
    """Post prebuilt requests as fast as the collector takes them; spans acknowledged."""
    import aiohttp

    acked = 0
    deadline = time.monotonic() + duration
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:

        async def worker(offset: int) -> None:
            nonlocal acked
            i = offset
            while time.monotonic() < deadline:
                body = bodies[i % len(bodies)]
                i += concurrency
                async with session.post(
                    url + "/v1/traces", data=body, headers={"Content-Type": PROTOBUF}
                ) as response:
                    await response.read()
                    if response.status == 200:
                        acked += SPANS_PER_REQUEST
                    else:
                        await asyncio.sleep(0.01)

        await asyncio.gather(*(worker(i) for i in range(concurrency)))
    return acked


SPANS_PER_REQUEST = 500
CONCURRENCY = 16


async def e2e_throughput(work: Path, label: str, queue: dict[str, Any], fsync: str | None) -> str:
    backend = Backend()
    backend.count_only = SPANS_PER_REQUEST
    await backend.up()
    port = free_port()
    slug = re.sub(r"\W+", "-", label)
    storage = work / f"storage-{slug}"
    config = pipeline_config(
        receiver_port=port,
        backend=backend,
        exporter={"sending_queue": queue},
        storage_dir=storage if fsync else None,
    )
    if fsync:
        config["extensions"]["file_storage"]["fsync"] = fsync
    collector = CollectorProcess(work, config, name=f"tput-{slug}")
    collector.start(wait_port=port)
    os.sched_setaffinity(collector.pid, {1})  # the collector alone on core 1
    bodies = [
        build_request([span_id(7, n * SPANS_PER_REQUEST + i) for i in range(SPANS_PER_REQUEST)])
        for n in range(50)
    ]
    url = f"http://127.0.0.1:{port}"
    await _blast(url, bodies, 3, CONCURRENCY)  # warm up
    await wait_for(lambda: False, timeout=1)
    before = backend.spans
    cpu_before = _cpu(collector.pid)
    own_before = _cpu(os.getpid())
    started = time.monotonic()
    acked = await _blast(url, bodies, 10, CONCURRENCY)
    # Sustained rate: until the backend has everything acknowledged in the window.
    await wait_for(lambda: backend.spans - before >= acked, timeout=120, every=0.01)
    elapsed = time.monotonic() - started
    cpu = _cpu(collector.pid) - cpu_before
    own = _cpu(os.getpid()) - own_before
    rss = collector.rss()
    collector.kill()
    await backend.down()
    per_span = cpu / acked * 1e6
    return (
        f"| e2e | {label} | {acked / elapsed:,.0f} | {cpu / elapsed * 100:.0f}% | "
        f"{per_span:.2f} | {1e6 / per_span:,.0f} | {rss / MIB:.0f} MiB | "
        f"{own / elapsed * 100:.0f}% |"
    )


def _cpu(pid: int) -> float:
    import psutil

    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


async def helper_throughput(work: Path, label: str, queue: QueueConfig, fsync: str | None) -> str:
    telemetry = SelfTelemetry()
    settings = Settings(
        id=ComponentID("bench"),
        kind=Kind.EXPORTER,
        telemetry=telemetry,
        logger=logging.getLogger("bench"),
    )

    class Host:
        def __init__(self, extensions: dict[ComponentID, Any]) -> None:
            self.extensions = extensions

        def get_extension(self, id: ComponentID) -> Any:
            return self.extensions.get(id)

    extensions: dict[ComponentID, Any] = {}
    if fsync:
        directory = work / ("helper-" + re.sub(r"\W+", "-", label))
        config = FileStorageConfig(directory=str(directory), fsync=fsync)  # type: ignore[arg-type]
        extensions[ComponentID("file_storage")] = FileStorage(settings, config)
    pushed = 0
    done = asyncio.Event()
    total = 4000

    async def push(batch: Batch) -> None:
        nonlocal pushed
        pushed += 1
        if pushed == total:
            done.set()

    exporter = Exporter(settings, push, retry=RetryConfig(), queue=queue)
    await exporter.start(Host(extensions))  # type: ignore[arg-type]
    raw = build_request([span_id(9, i) for i in range(100)])
    batches = [Batch(Signal.TRACES, raw=raw, items=100) for _ in range(total)]
    started = time.perf_counter()
    for b in batches:
        await exporter.consume(b)
    await done.wait()
    elapsed = time.perf_counter() - started
    await exporter.shutdown()
    for ext in extensions.values():
        await ext.shutdown()
    return f"| helper | {label} | {total * 100 / elapsed:,.0f} | - | - | - | - | - |"


async def throughput(work: Path) -> None:
    os.sched_setaffinity(0, {0})  # this process (senders, backend) on core 0
    print(
        "\n| path | queue | spans/s | collector CPU | collector CPU us/span | spans/s per core "
        "| collector RSS | harness CPU |\n|---|---|---|---|---|---|---|---|",
        flush=True,
    )
    persistent = {"storage": "file_storage"}
    for label, queue, fsync in (
        ("memory", {}, None),
        ("persistent, fsync batch (default)", persistent, "batch"),
        ("persistent, fsync always", persistent, "always"),
    ):
        print(await e2e_throughput(work, label, queue, fsync), flush=True)
    for label, fsync in (
        ("memory", None),
        ("persistent, fsync batch (default)", "batch"),
        ("persistent, fsync never", "never"),
        ("persistent, fsync always", "always"),
    ):
        queue_config = QueueConfig(storage="file_storage" if fsync else "", queue_size=10_000)
        print(await helper_throughput(work, label, queue_config, fsync), flush=True)


SCENARIOS: dict[str, Callable[[Path], Awaitable[None]]] = {
    "outage": scenario_outage,
    "retry_after": lambda w: _both(
        scenario_retry_after(w, 503, 8), scenario_retry_after(w, 429, 8)
    ),
    "bad_request": scenario_bad_request,
    "sigkill": scenario_sigkill,
    "slow": scenario_slow_backend,
    "limiter": lambda w: _both(scenario_memory_limiter(w, True), scenario_memory_limiter(w, False)),
    "sigterm": lambda w: _both(scenario_sigterm(w, False), scenario_sigterm(w, True)),
    "throughput": throughput,
}


async def _both(first: Awaitable[None], second: Awaitable[None]) -> None:
    await first
    await second


async def main(only: list[str]) -> None:
    work = Path(tempfile.mkdtemp(prefix="otlpy-delivery-"))
    try:
        print(
            "| scenario | acknowledged | delivered | lost | duplicates | peak RSS MiB | notes |\n"
            "|---|---|---|---|---|---|---|",
            flush=True,
        )
        for name, run in SCENARIOS.items():
            if only and name not in only:
                continue
            await run(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", default=[], choices=list(SCENARIOS))
    asyncio.run(main(parser.parse_args().only))
