"""Real processes on 127.0.0.1 for the fault-injection suite and its benchmark.

- :class:`Backend`: an OTLP/HTTP traces endpoint that counts spans by identity (span id) in the
  requests it answered 200, and can be taken down, made slow, or told to answer 400/429/503.
- :class:`Sender`: posts numbered spans to a collector's OTLP/HTTP receiver the way an SDK with
  retries does (waits ``Retry-After`` or backs off on 429/503 and connection errors, gives up on
  400) and records which spans were acknowledged (answered 200).
- :class:`CollectorProcess`: ``python -m otlpy run --config ...`` as a child process, with its
  metrics endpoint, its RSS, SIGKILL and SIGTERM.

Identity: a span id is 2 bytes of sender number and 6 bytes of sequence number, so every span
sent in a run is distinct and the backend's count per id shows losses and duplicates.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import yaml
from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from prometheus_client.parser import text_string_to_metric_families

PROTOBUF = "application/x-protobuf"
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A port that was free a moment ago (bind port 0, read it, release it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def span_id(sender: int, seq: int) -> bytes:
    return sender.to_bytes(2, "big") + seq.to_bytes(6, "big")


_TRACE_ID = bytes(range(16))


def build_request(ids: list[bytes], attributes: int = 4) -> bytes:
    """An export request with one span per id (a few attributes each, like real spans)."""
    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    attr = rs.resource.attributes.add()
    attr.key = "service.name"
    attr.value.string_value = "fault-injection"
    scope = rs.scope_spans.add()
    scope.scope.name = "harness"
    start = time.time_ns()
    for i, sid in enumerate(ids):
        span = scope.spans.add()
        span.trace_id = _TRACE_ID
        span.span_id = sid
        span.name = f"operation-{i % 17}"
        span.kind = 2
        span.start_time_unix_nano = start
        span.end_time_unix_nano = start + 1_000_000
        for a in range(attributes):
            kv = span.attributes.add()
            kv.key = f"attribute.{a}"
            kv.value.string_value = f"value-{a}-{i}"
    return bytes(request.SerializeToString())


# -- the backend -----------------------------------------------------------------------------


@dataclass
class Answer:
    """How the backend answers: a status, an optional Retry-After, and a delay before it."""

    status: int = 200
    retry_after: float | None = None
    delay: float = 0.0


class Backend:
    """An OTLP/HTTP traces endpoint that counts delivered spans by id."""

    def __init__(self) -> None:
        self.port = free_port()
        self.delivered: Counter[bytes] = Counter()
        self.requests: list[tuple[float, int]] = []  # (monotonic time, status answered)
        self.answer: Callable[[int], Answer] = lambda n: Answer()
        #: throughput runs: every request holds this many spans; count them without decoding
        self.count_only = 0
        self.spans = 0
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        answer = self.answer(len(self.requests))
        if answer.delay:
            await asyncio.sleep(answer.delay)
        self.requests.append((time.monotonic(), answer.status))
        if answer.status != 200:
            headers = {}
            if answer.retry_after is not None:
                headers["Retry-After"] = str(int(answer.retry_after))
            return web.Response(status=answer.status, headers=headers)
        if self.count_only:
            self.spans += self.count_only
            return web.Response(body=b"", content_type=PROTOBUF)
        message = ExportTraceServiceRequest()
        message.ParseFromString(body)
        for rs in message.resource_spans:
            for ss in rs.scope_spans:
                self.spans += len(ss.spans)
                self.delivered.update(span.span_id for span in ss.spans)
        return web.Response(body=b"", content_type=PROTOBUF)

    async def up(self) -> None:
        """Listen (again) on the backend's port."""
        if self._runner is not None:
            return
        app = web.Application(client_max_size=64 << 20)
        app.router.add_post("/v1/traces", self._handle)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", self.port, reuse_address=True).start()
        self._runner = runner

    async def down(self) -> None:
        """Stop listening and drop connections: the collector sees connection refused."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    @property
    def statuses(self) -> Counter[int]:
        return Counter(status for _, status in self.requests)


# -- the sender ------------------------------------------------------------------------------


@dataclass
class Sender:
    """Sends numbered spans, retrying as an SDK would; remembers what was acknowledged."""

    url: str
    sender: int = 1
    spans_per_request: int = 100
    acked: set[bytes] = field(default_factory=set)
    refused_permanently: set[bytes] = field(default_factory=set)
    answers: Counter[int] = field(default_factory=Counter)
    connection_errors: int = 0
    #: requests given up unacknowledged after the run's grace period (never counted as acked)
    abandoned: int = 0
    next_seq: int = 0
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    def _take(self) -> list[bytes]:
        ids = [span_id(self.sender, self.next_seq + i) for i in range(self.spans_per_request)]
        self.next_seq += self.spans_per_request
        return ids

    async def send_one(
        self, session: aiohttp.ClientSession, ids: list[bytes], give_up: float | None = None
    ) -> None:
        """Deliver one request, retrying until acknowledged, refused for good, or ``give_up``
        (a monotonic time) has passed."""
        body = build_request(ids)
        backoff = 0.05
        while True:
            if give_up is not None and time.monotonic() > give_up:
                self.abandoned += 1
                return
            try:
                async with session.post(
                    self.url + "/v1/traces", data=body, headers={"Content-Type": PROTOBUF}
                ) as response:
                    await response.read()
                    status = response.status
                    self.answers[status] += 1
                    if status == 200:
                        self.acked.update(ids)
                        return
                    if status in (429, 502, 503, 504):
                        delay = response.headers.get("Retry-After")
                        wait = float(delay) if delay else backoff
                    else:
                        self.refused_permanently.update(ids)
                        return
            except (TimeoutError, aiohttp.ClientError, OSError):
                self.connection_errors += 1
                wait = backoff
            if self.stop.is_set() and wait > 0:
                wait = min(wait, 0.2)
            await asyncio.sleep(wait * random.uniform(0.8, 1.2))
            backoff = min(backoff * 2, 1.0)

    async def run(
        self,
        *,
        requests: int | None = None,
        rate: float | None = None,
        concurrency: int = 1,
        duration: float | None = None,
        grace: float | None = None,
    ) -> None:
        """Send ``requests`` requests (or until ``duration`` / :attr:`stop`), ``rate`` per second
        at most, from ``concurrency`` tasks. With ``grace``, a request still unacknowledged
        ``grace`` seconds after the end of ``duration`` is given up (and counted in
        :attr:`abandoned`), so an overloaded collector cannot keep the run going for ever."""
        deadline = None if duration is None else time.monotonic() + duration
        give_up = None if deadline is None or grace is None else deadline + grace
        started = time.monotonic()
        sent = 0
        timeout = aiohttp.ClientTimeout(total=30)
        connector = aiohttp.TCPConnector(limit=concurrency)
        async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:

            async def worker() -> None:
                nonlocal sent
                while not self.stop.is_set():
                    if requests is not None and sent >= requests:
                        return
                    if deadline is not None and time.monotonic() >= deadline:
                        return
                    if rate is not None:
                        due = started + sent / rate
                        if due > time.monotonic():
                            await asyncio.sleep(due - time.monotonic())
                    sent += 1
                    await self.send_one(session, self._take(), give_up)

            await asyncio.gather(*(worker() for _ in range(concurrency)))


# -- the collector ---------------------------------------------------------------------------


class CollectorProcess:
    """``otlpy run`` in a child process, configured by a dict written as YAML."""

    def __init__(
        self,
        workdir: Path,
        config: dict[str, Any],
        *,
        name: str = "collector",
        traced: bool = True,
    ) -> None:
        self.workdir = workdir
        self.config = config
        self.name = name
        self.traced = traced
        self.config_path = workdir / f"{name}.yaml"
        self.log_path = workdir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.metrics_port = free_port()
        config.setdefault("service", {}).setdefault("telemetry", {})["metrics"] = {
            "address": f"127.0.0.1:{self.metrics_port}"
        }

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, *, wait_port: int, shutdown_timeout: float = 30.0) -> None:
        self.config_path.write_text(yaml.safe_dump(self.config))
        env = dict(os.environ)
        if not self.traced:
            # Coverage tracing in the child inflates its memory and CPU: scenarios that measure
            # memory run the collector as users do.
            env = {k: v for k, v in env.items() if not k.startswith(("COV_CORE", "COVERAGE_"))}
        env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", "")
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "otlpy",
                    "run",
                    "--config",
                    str(self.config_path),
                    "--shutdown-timeout",
                    str(shutdown_timeout),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=self.workdir,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"collector exited at start:\n{self.log()}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", wait_port), timeout=0.2),
            ):
                return
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"collector did not start listening:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self) -> None:
        """SIGKILL: no chance to flush anything."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)

    def terminate(self, timeout: float = 60.0) -> int:
        """SIGTERM and wait; the exit code."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)

    def rss(self) -> int:
        return int(psutil.Process(self.pid).memory_info().rss)

    async def metrics(self) -> dict[str, float]:
        """The collector's own metrics, ``name{label="v",...}`` -> value."""
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{self.metrics_port}/metrics") as response,
        ):
            text = await response.text()
        values: dict[str, float] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
                values[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
        return values

    async def metric(self, name: str) -> float:
        """Sum of every series of ``name`` (whatever its labels)."""
        values = await self.metrics()
        return sum(v for k, v in values.items() if k == name or k.startswith(name + "{"))


class RssSampler:
    """Samples a process's RSS from a thread; ``peak`` is the highest seen."""

    def __init__(self, pid: int, every: float = 0.01) -> None:
        self._process = psutil.Process(pid)
        self._every = every
        self.peak = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                rss = int(self._process.memory_info().rss)
            except psutil.Error:
                return
            self.peak = max(self.peak, rss)
            self.samples += 1
            self._stop.wait(self._every)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def pipeline_config(
    *,
    receiver_port: int,
    backend: Backend,
    exporter: dict[str, Any] | None = None,
    processors: dict[str, Any] | None = None,
    storage_dir: Path | None = None,
) -> dict[str, Any]:
    """A traces pipeline: otlp receiver (HTTP) -> processors -> otlphttp exporter -> backend."""
    exporter_config: dict[str, Any] = {
        "endpoint": backend.url,
        "compression": "none",
        "timeout": "10s",
    }
    exporter_config.update(exporter or {})
    config: dict[str, Any] = {
        "receivers": {"otlp": {"protocols": {"http": {"endpoint": f"127.0.0.1:{receiver_port}"}}}},
        "exporters": {"otlphttp": exporter_config},
        "service": {
            "pipelines": {
                "traces": {
                    "receivers": ["otlp"],
                    "processors": list(processors or {}),
                    "exporters": ["otlphttp"],
                }
            },
        },
    }
    if processors:
        config["processors"] = processors
    if storage_dir is not None:
        config["extensions"] = {"file_storage": {"directory": str(storage_dir)}}
        config["service"]["extensions"] = ["file_storage"]
    return config


@dataclass
class Outcome:
    """What happened to the spans of one scenario."""

    acknowledged: int
    delivered: int
    lost: int
    duplicates: int
    refused_permanently: int

    @classmethod
    def of(cls, senders: list[Sender], backend: Backend) -> Outcome:
        acked: set[bytes] = set()
        refused: set[bytes] = set()
        for sender in senders:
            acked |= sender.acked
            refused |= sender.refused_permanently
        delivered = set(backend.delivered)
        return cls(
            acknowledged=len(acked),
            delivered=len(delivered),
            lost=len(acked - delivered),
            duplicates=sum(n - 1 for n in backend.delivered.values() if n > 1),
            refused_permanently=len(refused),
        )


async def wait_for(condition: Callable[[], bool], timeout: float, every: float = 0.05) -> bool:
    """Poll ``condition`` until true or ``timeout``; whether it became true."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        await asyncio.sleep(every)
    return condition()
