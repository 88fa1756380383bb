"""Pipeline data, consumers, self-telemetry, logging and the collector's run loop."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import signal
from collections.abc import Iterator

import pytest

from builders import batch, logs, metrics, traces
from otlpy._logging import setup_logging
from otlpy.config import build
from otlpy.consumer import Consumer, FuncConsumer
from otlpy.errors import ConfigError, ConfigProblem, PermanentError
from otlpy.pdata import Batch, Signal, count_items, request_type
from otlpy.pipeline import run_collector
from otlpy.processors.helper import FunctionProcessor
from otlpy.telemetry import SelfTelemetry
from otlpy.testing import SinkConsumer


def test_batch_raw_and_message_views() -> None:
    message = traces(3)
    raw = message.SerializeToString()
    b = Batch.decode(Signal.TRACES, raw)
    assert b.has_raw and b.raw is raw and b.items == 3 and len(b) == 3
    assert "traces" in repr(b)
    lazy = Batch(Signal.TRACES, raw=raw)
    assert lazy.message == message
    changed = lazy.mutable()
    changed.resource_spans[0].scope_spans[0].spans[0].name = "renamed"
    assert not lazy.has_raw
    assert (
        Batch.decode(Signal.TRACES, lazy.raw).message.resource_spans[0].scope_spans[0].spans[0].name
        == "renamed"
    )


def test_batch_copy_is_independent() -> None:
    original = Batch.from_message(Signal.LOGS, logs(2))
    copy = original.copy()
    copy.mutable().resource_logs[0].scope_logs[0].log_records[0].body.string_value = "x"
    assert (
        original.message.resource_logs[0].scope_logs[0].log_records[0].body.string_value == "line 0"
    )
    raw_copy = Batch(Signal.LOGS, raw=original.raw).copy()
    assert raw_copy.raw == original.raw


def test_batch_concat_and_empty() -> None:
    parts = [Batch.from_message(Signal.METRICS, metrics((2, 1))) for _ in range(3)]
    merged = Batch.concat(Signal.METRICS, parts)
    assert merged.items == 9
    assert count_items(Signal.METRICS, Batch.decode(Signal.METRICS, merged.raw).message) == 9
    assert Batch.concat(Signal.METRICS, parts[:1]) is parts[0]
    empty = Batch.empty(Signal.TRACES)
    assert empty.items == 0 and empty.raw == b""
    assert request_type(Signal.LOGS).__name__ == "ExportLogsServiceRequest"
    message = request_type(Signal.METRICS)()
    message.resource_metrics.add().scope_metrics.add().metrics.add().name = "no data"
    assert count_items(Signal.METRICS, message) == 0


def test_batch_decode_errors_are_permanent() -> None:
    with pytest.raises(PermanentError, match="cannot decode traces"):
        Batch.decode(Signal.TRACES, b"\xff\xff\xff")
    with pytest.raises(PermanentError):
        _ = Batch(Signal.LOGS, raw=b"\x0a\x05\x01").message
    with pytest.raises(ValueError):
        Batch(Signal.LOGS)


async def test_func_consumer_and_function_processor() -> None:
    seen: list[Batch] = []

    async def keep(b: Batch) -> None:
        seen.append(b)

    consumer = FuncConsumer(keep, mutates_data=True)
    assert isinstance(consumer, Consumer)
    assert consumer.capabilities.mutates_data

    async def drop_odd(b: Batch) -> Batch | None:
        spans = b.mutable().resource_spans[0].scope_spans[0].spans
        keep_spans = [s for i, s in enumerate(spans) if i % 2 == 0]
        del spans[:]
        spans.extend(keep_spans)
        return b

    async def drop_all(b: Batch) -> Batch | None:
        return None

    processor = FunctionProcessor(drop_odd, consumer, mutates_data=True)
    await processor.start(None)  # type: ignore[arg-type]
    await processor.consume(batch(Signal.TRACES, 5))
    await FunctionProcessor(drop_all, consumer, mutates_data=False).consume(batch(Signal.TRACES, 5))
    await processor.shutdown()
    assert [b.items for b in seen] == [3]
    assert processor.capabilities.mutates_data


def test_telemetry_helpers() -> None:
    telemetry = SelfTelemetry()
    gauge = telemetry.gauge("queue_size", "items queued", ("exporter",))
    assert telemetry.gauge("queue_size", "items queued", ("exporter",)) is gauge
    gauge.labels("x").set(4)
    hist = telemetry.histogram("sizes", "sizes", ("p",), (1, 10))
    assert telemetry.histogram("sizes", "sizes", ("p",), (1, 10)) is hist
    hist.labels("p").observe(5)
    rec = telemetry.receiver("otlp", "http")
    rec.refused(Signal.LOGS, 2)
    rec.accepted(Signal.LOGS, 0)
    exp = telemetry.exporter("otlp")
    exp.failed(Signal.TRACES, 1)
    exp.enqueue_failed(Signal.TRACES, 3)
    exp.sent(Signal.TRACES, 0)
    text = telemetry.exposition().decode()
    assert 'otelcol_queue_size{exporter="x"} 4.0' in text
    assert (
        'otelcol_receiver_refused_log_records_total{receiver="otlp",transport="http"} 2.0' in text
    )
    assert 'otelcol_exporter_enqueue_failed_spans_total{exporter="otlp"} 3.0' in text
    assert "_created" not in text


@pytest.fixture
def restore_otlpy_logger() -> Iterator[None]:
    logger = logging.getLogger("otlpy")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    yield
    logger.handlers[:], logger.level, logger.propagate = saved[0], saved[1], saved[2]


@pytest.mark.usefixtures("restore_otlpy_logger")
@pytest.mark.parametrize("encoding", ["json", "console"])
def test_structured_logging(encoding: str, monkeypatch: pytest.MonkeyPatch) -> None:
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    setup_logging("debug", encoding)
    log = logging.getLogger("otlpy.test")
    log.debug("hello %s", "world", extra={"component": "otlp"})
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        log.exception("failed")
    lines = stream.getvalue().splitlines()
    if encoding == "json":
        first = json.loads(lines[0])
        assert first["msg"] == "hello world" and first["level"] == "debug"
        assert first["component"] == "otlp" and first["ts"].endswith("Z")
        assert "boom" in json.loads(lines[1])["error"]
    else:
        assert "debug otlpy.test: hello world  component=otlp" in lines[0]
        assert "RuntimeError: boom" in stream.getvalue()


def test_config_error_message_lists_everything() -> None:
    error = ConfigError([ConfigProblem("a.b", "bad"), ConfigProblem("", "general")])
    assert str(error) == "invalid configuration (2 errors):\n  - a.b: bad\n  - general"
    assert "(1 error)" in str(ConfigError([ConfigProblem("x", "y")]))


@pytest.mark.usefixtures("test_components")
async def test_run_collector_stops_on_sigterm() -> None:
    config = build(
        {
            "receivers": {"source": {}},
            "processors": {"batch": {"timeout": "1h"}},
            "exporters": {"sink": {}},
            "service": {
                "telemetry": {"metrics": {"level": "none"}},
                "pipelines": {
                    "logs": {
                        "receivers": ["source"],
                        "processors": ["batch"],
                        "exporters": ["sink"],
                    }
                },
            },
        }
    )
    started = asyncio.Event()
    task = asyncio.create_task(run_collector(config, shutdown_timeout=10, started=started))
    await asyncio.wait_for(started.wait(), 10)
    os.kill(os.getpid(), signal.SIGTERM)
    assert await asyncio.wait_for(task, 10) == 0
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.remove_signal_handler(sig)


@pytest.mark.usefixtures("test_components")
async def test_run_collector_returns_1_when_a_port_is_taken() -> None:
    import socket

    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    try:
        config = build(
            {
                "receivers": {"source": {}},
                "exporters": {"sink": {}},
                "service": {
                    "telemetry": {"metrics": {"address": f"127.0.0.1:{port}"}},
                    "pipelines": {"logs": {"receivers": ["source"], "exporters": ["sink"]}},
                },
            }
        )
        assert await run_collector(config, shutdown_timeout=5) == 1
    finally:
        holder.close()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


def test_sink_helpers() -> None:
    sink = SinkConsumer()
    asyncio.run(sink.consume(batch(Signal.LOGS, 2)))
    assert sink.messages(Signal.LOGS)[0] == sink.batches[0].message
    assert sink.messages(Signal.TRACES) == []
    sink.clear()
    assert sink.item_count == 0
