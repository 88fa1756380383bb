"""The ``store`` exporter in a real collector: config, start errors, writes, flushes and
retention enforced while running."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from exporter_testkit import make_settings
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

from otlpy.component import ComponentID
from otlpy.config import build
from otlpy.config.decode import decode
from otlpy.errors import PermanentError, RetryableError
from otlpy.exporters.store import StoreExporter, StoreExporterConfig
from otlpy.pdata import Batch, Signal
from otlpy.pipeline import Collector
from otlpy.store import Store, shared
from otlpy.store.queries import LogQuery, TraceQuery, find_trace_ids, search_logs
from otlpy.testing import SourceReceiver
from store_builders import HOUR, MS, log_request, make_span, trace_request

pytestmark = pytest.mark.usefixtures("test_components")


def config(directory: Path, **store: Any) -> dict[str, Any]:
    return {
        "receivers": {"source": {}},
        "exporters": {"store": {"directory": str(directory), **store}},
        "service": {
            "telemetry": {"metrics": {"level": "none"}},
            "pipelines": {
                signal: {"receivers": ["source"], "exporters": ["store"]}
                for signal in ("traces", "logs", "metrics")
            },
        },
    }


def source(collector: Collector) -> SourceReceiver:
    receiver = collector.graph.receivers[ComponentID("source")]
    assert isinstance(receiver, SourceReceiver)
    return receiver


async def eventually(check: Any, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"still {result!r} after {timeout}s")
        await asyncio.sleep(0.05)


def test_config_defaults_and_validation(monkeypatch: pytest.MonkeyPatch) -> None:
    default = StoreExporterConfig()
    assert default.retention.max_age == 7 * 86400
    assert default.retention.policy().max_bytes is None
    monkeypatch.setenv("OTLPY_DATA", "/srv/telemetry")
    assert default.data_directory == Path("/srv/telemetry")
    monkeypatch.delenv("OTLPY_DATA")
    assert default.data_directory == Path("otlpy-data")
    parsed, problems = decode(
        StoreExporterConfig,
        {"retention": {"max_age": "1h", "max_size": "2GiB", "check_interval": "10s"}},
    )
    assert problems == []
    policy = parsed.retention.policy()
    assert policy.max_age is not None and policy.max_age.total_seconds() == 3600
    assert policy.max_bytes == 2 * 1024**3
    assert parsed.retention.policy() == parsed.retention.policy()
    forever, _ = decode(StoreExporterConfig, {"retention": {"max_age": 0}})
    assert forever.retention.policy().max_age is None
    _, problems = decode(
        StoreExporterConfig,
        {
            "flush_interval": "0s",
            "directory": "a\x00b",
            "retention": {"max_age": "-1h", "max_size": -1, "check_interval": "0s"},
            "colour": "blue",
        },
    )
    assert sorted(p.path for p in problems) == [
        "colour",
        "directory",
        "flush_interval",
        "retention.check_interval",
        "retention.max_age",
        "retention.max_size",
    ]


async def test_writes_every_signal_and_shutdown_flushes(tmp_path: Path) -> None:
    collector = Collector(build(config(tmp_path / "data", flush_interval="1h")))
    await collector.start()
    try:
        spans = [make_span(1, 1, name="root"), make_span(1, 2, parent=1, name="child")]
        await source(collector).send(Batch.from_message(Signal.TRACES, trace_request("a", spans)))
        logs = log_request("a", [LogRecord(time_unix_nano=time.time_ns(), severity_number=9)])
        await source(collector).send(Batch.from_message(Signal.LOGS, logs))
    finally:
        await collector.shutdown()
    # flush_interval is an hour: only the flush at shutdown can have stored them
    with Store.open(tmp_path / "data") as store:
        assert find_trace_ids(store, TraceQuery(service="a")) == [f"{1:032x}"]
        assert len(search_logs(store, LogQuery(service="a"))) == 1


async def test_flush_interval_makes_data_visible_while_running(tmp_path: Path) -> None:
    collector = Collector(build(config(tmp_path / "data", flush_interval="50ms")))
    await collector.start()
    store = shared.acquire(tmp_path / "data")
    try:
        request = trace_request("b", [make_span(7, 1)])
        await source(collector).send(Batch.from_message(Signal.TRACES, request))
        await eventually(lambda: find_trace_ids(store, TraceQuery(service="b")))
    finally:
        shared.release(store)
        await collector.shutdown()


async def test_retention_is_enforced_while_running(tmp_path: Path) -> None:
    retention = {"max_age": "1h", "check_interval": "50ms"}
    collector = Collector(
        build(config(tmp_path / "data", flush_interval="50ms", retention=retention))
    )
    await collector.start()
    store = shared.acquire(tmp_path / "data")
    try:
        now = time.time_ns()
        old = trace_request("c", [make_span(1, 1, start=now - 3 * HOUR)])
        new = trace_request("c", [make_span(2, 1, start=now - 10 * MS)])
        await source(collector).send(Batch.from_message(Signal.TRACES, old))
        await source(collector).send(Batch.from_message(Signal.TRACES, new))
        found = await eventually(
            lambda: find_trace_ids(store, TraceQuery(service="c", start_min=0)) == [f"{2:032x}"]
        )
        assert found
        # the policy is the exporter's, though the store may have been opened by another
        assert store.retention.max_age is not None
        assert store.retention.max_age.total_seconds() == 3600
    finally:
        shared.release(store)
        await collector.shutdown()


async def test_unusable_directory_stops_the_start(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    collector = Collector(build(config(tmp_path / "file")))
    with pytest.raises(PermanentError, match=r"^data directory \S+ is not a directory$"):
        await collector.start()


async def test_locked_directory_stops_the_start(tmp_path: Path) -> None:
    # another process holds the store: DuckDB's lock; simulated by holding it in this one
    # through a plain Store (not a shared lease), which is refused the same way
    with Store.open(tmp_path / "data"):
        exporter = StoreExporter(
            make_settings("store"), StoreExporterConfig(directory=str(tmp_path / "data"))
        )
        with pytest.raises(PermanentError, match="already open"):
            await exporter.start(None)  # type: ignore[arg-type]
        await exporter.shutdown()


async def test_push_before_start_and_bad_data(tmp_path: Path) -> None:
    exporter = StoreExporter(
        make_settings("store"), StoreExporterConfig(directory=str(tmp_path / "d"))
    )
    batch = Batch.from_message(Signal.TRACES, trace_request("d", [make_span(1, 1)]))
    with pytest.raises(RetryableError, match="not started"):
        await exporter.push(batch)
    await exporter.start(None)  # type: ignore[arg-type]
    try:
        # a logs request in a traces batch cannot be stored: refused for good
        wrong = Batch(Signal.TRACES, message=log_request("d", [LogRecord()]))
        with pytest.raises(PermanentError):
            await exporter.push(wrong)
        await exporter.push(batch)
    finally:
        await exporter.shutdown()
    # a store closed under the exporter (the process is stopping) is a retryable refusal
    exporter = StoreExporter(
        make_settings("store"), StoreExporterConfig(directory=str(tmp_path / "d"))
    )
    await exporter.start(None)  # type: ignore[arg-type]
    assert exporter.store is not None
    exporter.store.close()
    with pytest.raises(RetryableError, match="store unavailable"):
        await exporter.push(batch)
    await exporter.shutdown()


async def test_housekeeping_failures_are_logged_and_retried(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    exporter = StoreExporter(
        make_settings("store"),
        StoreExporterConfig(directory=str(tmp_path / "e"), flush_interval=0.02),
    )
    await exporter.start(None)  # type: ignore[arg-type]
    assert exporter.store is not None
    exporter.store.close()
    await eventually(lambda: "store housekeeping failed" in caplog.text)
    await exporter.shutdown()
    assert "could not write the last data" in caplog.text or exporter.store is None
