from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from builders import batch, traces
from otlpy.component import ComponentID, Factory, Kind, register, unregister
from otlpy.config import build
from otlpy.consumer import Capabilities
from otlpy.errors import ConfigError, PartialSuccess, PermanentError, RetryableError
from otlpy.pdata import Batch, Signal
from otlpy.pipeline import Collector, Fanout, fanout
from otlpy.testing import SinkConsumer, SourceReceiver

pytestmark = pytest.mark.usefixtures("test_components")


def two_pipelines_config() -> dict[str, Any]:
    return {
        "receivers": {"source": {}, "source/b": {}},
        "exporters": {"sink": {}, "sink/mut": {"mutates_data": True}, "sink/logs": {}},
        "service": {
            "telemetry": {"metrics": {"level": "none"}},
            "pipelines": {
                "traces": {"receivers": ["source"], "exporters": ["sink", "sink/mut"]},
                "traces/copy": {"receivers": ["source", "source/b"], "exporters": ["sink"]},
                "logs": {"receivers": ["source/b"], "exporters": ["sink/logs"]},
            },
        },
    }


async def test_routes_batches_through_pipelines() -> None:
    collector = Collector(build(two_pipelines_config()))
    await collector.start()
    graph = collector.graph
    source: SourceReceiver = graph.receivers[ComponentID("source")]  # type: ignore[assignment]
    source_b: SourceReceiver = graph.receivers[ComponentID("source", "b")]  # type: ignore[assignment]
    sink: SinkConsumer = graph.exporters[ComponentID("sink")]
    mut: SinkConsumer = graph.exporters[ComponentID("sink", "mut")]
    logs_sink: SinkConsumer = graph.exporters[ComponentID("sink", "logs")]
    assert source.started and sink.started
    assert set(source.consumers) == {Signal.TRACES}
    assert set(source_b.consumers) == {Signal.TRACES, Signal.LOGS}

    sent = batch(Signal.TRACES, 4)
    await source.send(sent)
    # the shared exporter is reached through both trace pipelines; the mutating one gets a copy
    assert len(sink.batches) == 2
    assert all(b is sent for b in sink.batches)
    assert len(mut.batches) == 1 and mut.batches[0] is not sent
    assert mut.batches[0].message == sent.message

    await source_b.send(batch(Signal.LOGS, 2))
    assert logs_sink.item_count == 2
    await collector.shutdown()
    assert source.stopped and sink.stopped


async def test_start_order_is_downstream_first() -> None:
    events: list[str] = []

    class Recorder:
        def __init__(self, name: str) -> None:
            self.name = name

        @property
        def capabilities(self) -> Capabilities:
            return Capabilities()

        async def consume(self, batch: Batch) -> None:
            return None

        async def start(self, host: Any) -> None:
            events.append(f"start {self.name}")

        async def shutdown(self) -> None:
            events.append(f"stop {self.name}")

    from dataclasses import dataclass

    @dataclass(frozen=True, kw_only=True)
    class Empty:
        pass

    factories = [
        Factory(
            type="rec",
            kind=Kind.RECEIVER,
            config=Empty,
            create=lambda s, c, consumers: Recorder("receiver"),
        ),
        Factory(
            type="proc",
            kind=Kind.PROCESSOR,
            config=Empty,
            create=lambda s, c, nxt: Recorder("processor"),
        ),
        Factory(
            type="exp", kind=Kind.EXPORTER, config=Empty, create=lambda s, c: Recorder("exporter")
        ),
        Factory(
            type="ext", kind=Kind.EXTENSION, config=Empty, create=lambda s, c: Recorder("extension")
        ),
    ]
    for f in factories:
        register(f)
    try:
        config = build(
            {
                "receivers": {"rec": {}},
                "processors": {"proc": {}},
                "exporters": {"exp": {}},
                "extensions": {"ext": {}},
                "service": {
                    "extensions": ["ext"],
                    "telemetry": {"metrics": {"level": "none"}},
                    "pipelines": {
                        "logs": {"receivers": ["rec"], "processors": ["proc"], "exporters": ["exp"]}
                    },
                },
            }
        )
        collector = Collector(config)
        assert collector.get_extension(ComponentID("ext")) is not None
        assert list(collector.extensions) == [ComponentID("ext")]
        await collector.start()
        await collector.shutdown()
    finally:
        for f in factories:
            unregister(f)
    assert events == [
        "start extension",
        "start exporter",
        "start processor",
        "start receiver",
        "stop receiver",
        "stop processor",
        "stop exporter",
        "stop extension",
    ]


async def test_failed_start_stops_what_started() -> None:
    from dataclasses import dataclass

    @dataclass(frozen=True, kw_only=True)
    class Empty:
        pass

    class Broken(SinkConsumer):
        async def start(self, host: Any) -> None:
            raise OSError("port in use")

    factory = Factory(type="broken", kind=Kind.EXPORTER, config=Empty, create=lambda s, c: Broken())
    register(factory)
    try:
        config = build(
            {
                "receivers": {"source": {}},
                "exporters": {"sink": {}, "broken": {}},
                "service": {
                    "telemetry": {"metrics": {"level": "none"}},
                    "pipelines": {
                        "traces": {"receivers": ["source"], "exporters": ["sink", "broken"]}
                    },
                },
            }
        )
        collector = Collector(config)
        with pytest.raises(OSError, match="port in use"):
            await collector.start()
        sink: SinkConsumer = collector.graph.exporters[ComponentID("sink")]
        assert sink.started and sink.stopped
    finally:
        unregister(factory)


async def test_self_metrics_endpoint() -> None:
    config = build(
        {
            "receivers": {"source": {}},
            "exporters": {"sink": {}},
            "service": {
                "telemetry": {
                    "metrics": {
                        "readers": [
                            {"pull": {"exporter": {"prometheus": {"host": "127.0.0.1", "port": 0}}}}
                        ]
                    }
                },
                "pipelines": {"traces": {"receivers": ["source"], "exporters": ["sink"]}},
            },
        }
    )
    collector = Collector(config)
    await collector.start()
    try:
        collector.telemetry.receiver("source", "test").accepted(Signal.TRACES, 7)
        port = collector.metrics_ports[0]
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{port}/metrics") as response:
                assert response.status == 200
                text = await response.text()
        assert (
            'otelcol_receiver_accepted_spans_total{receiver="source",transport="test"} 7.0' in text
        )
        assert "otelcol_process_memory_rss" in text
        assert "otelcol_process_uptime_total" in text
    finally:
        await collector.shutdown()


class _Raiser:
    def __init__(self, error: Exception | None) -> None:
        self.error = error
        self.seen: list[Batch] = []

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities()

    async def consume(self, batch: Batch) -> None:
        self.seen.append(batch)
        if self.error:
            raise self.error


@pytest.mark.parametrize(
    ("errors", "expected"),
    [
        ([PermanentError("p"), RetryableError("r")], RetryableError),
        ([PermanentError("p"), PartialSuccess(1, "x")], PermanentError),
        ([PartialSuccess(1, "a"), PartialSuccess(3, "b")], PartialSuccess),
        ([ValueError("odd"), None], ValueError),
    ],
)
async def test_fanout_combines_errors(errors: list[Exception | None], expected: type) -> None:
    consumers = [_Raiser(e) for e in errors]
    out = fanout(consumers)
    assert isinstance(out, Fanout)
    with pytest.raises(expected) as info:
        await out.consume(batch(Signal.TRACES, 1))
    if expected is PartialSuccess:
        assert info.value.rejected == 3  # type: ignore[attr-defined]
    assert all(len(c.seen) == 1 for c in consumers)
    assert out.capabilities.mutates_data is False


async def test_fanout_of_one_is_the_consumer() -> None:
    only = _Raiser(None)
    assert fanout([only]) is only


async def test_connector_cycle_is_refused() -> None:
    from dataclasses import dataclass

    @dataclass(frozen=True, kw_only=True)
    class Empty:
        pass

    factory = Factory(
        type="loop",
        kind=Kind.CONNECTOR,
        config=Empty,
        create=lambda s, c, routes: SinkConsumer(),
        connects={Signal.TRACES: frozenset({Signal.TRACES})},
    )
    register(factory)
    try:
        config = build(
            {
                "receivers": {"source": {}},
                "exporters": {"sink": {}},
                "connectors": {"loop": {}},
                "service": {
                    "telemetry": {"metrics": {"level": "none"}},
                    "pipelines": {
                        "traces/a": {"receivers": ["source", "loop"], "exporters": ["loop"]},
                        "traces/b": {"receivers": ["loop"], "exporters": ["sink"]},
                    },
                },
            }
        )
        with pytest.raises(ConfigError, match="cycle"):
            Collector(config)
    finally:
        unregister(factory)


async def test_connector_routes_to_downstream_pipelines() -> None:
    from dataclasses import dataclass

    @dataclass(frozen=True, kw_only=True)
    class Empty:
        pass

    class Forward:
        def __init__(self, routes: Any) -> None:
            self.routes = routes

        @property
        def capabilities(self) -> Capabilities:
            return Capabilities()

        async def consume(self, batch: Batch) -> None:
            for consumer in self.routes.values():
                await consumer.consume(batch)

        async def start(self, host: Any) -> None:
            return None

        async def shutdown(self) -> None:
            return None

    factory = Factory(
        type="fwd",
        kind=Kind.CONNECTOR,
        config=Empty,
        create=lambda s, c, routes: Forward(routes),
        connects={Signal.TRACES: frozenset({Signal.TRACES})},
    )
    register(factory)
    try:
        config = build(
            {
                "receivers": {"source": {}},
                "exporters": {"sink": {}},
                "connectors": {"fwd": {}},
                "service": {
                    "telemetry": {"metrics": {"level": "none"}},
                    "pipelines": {
                        "traces/in": {"receivers": ["source"], "exporters": ["fwd"]},
                        "traces/out": {"receivers": ["fwd"], "exporters": ["sink"]},
                    },
                },
            }
        )
        collector = Collector(config)
        await collector.start()
        await collector.graph.receivers[ComponentID("source")].send(batch(Signal.TRACES, 2))  # type: ignore[attr-defined]
        assert collector.graph.exporters[ComponentID("sink")].item_count == 2
        await collector.shutdown()
        with pytest.raises(ConfigError) as info:
            build(
                {
                    "receivers": {"source": {}},
                    "exporters": {"sink": {}},
                    "connectors": {"fwd": {}},
                    "service": {
                        "pipelines": {
                            "traces/in": {"receivers": ["source"], "exporters": ["fwd"]},
                            "logs/out": {"receivers": ["fwd"], "exporters": ["sink"]},
                        }
                    },
                }
            )
        paths = {p.path: p.message for p in info.value.problems}
        assert "cannot be a logs receiver" in paths["service.pipelines.logs/out.receivers[0]"]
        assert "connectors.fwd" not in paths
        with pytest.raises(ConfigError) as info:
            build(
                {
                    "receivers": {"source": {}},
                    "exporters": {"sink": {}},
                    "connectors": {"fwd": {}},
                    "service": {
                        "pipelines": {
                            "traces/in": {"receivers": ["source"], "exporters": ["fwd", "sink"]},
                        }
                    },
                }
            )
        paths = {p.path: p.message for p in info.value.problems}
        assert "never used as a receiver" in paths["connectors.fwd"]
    finally:
        unregister(factory)


def test_unused_helpers_are_covered() -> None:
    # traces() with several resources names services distinctly
    request = traces(1, resources=2)
    names = [rs.resource.attributes[0].value.string_value for rs in request.resource_spans]
    assert names == ["svc0", "svc1"]
    assert asyncio.iscoroutinefunction(SinkConsumer().consume)


async def test_a_start_failure_is_one_line_naming_the_component(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A busy port is an expected failure: its message, not a traceback."""
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
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
        collector = Collector(config)
        with caplog.at_level("ERROR", logger="otlpy.collector"), pytest.raises(OSError):
            await collector.start()
    (record,) = [r for r in caplog.records if r.name == "otlpy.collector"]
    assert record.exc_info is None
    message = record.getMessage()
    assert message.startswith("cannot start self-telemetry server: ")
    assert "address already in use" in message.lower() and str(port) in message


async def test_an_unexpected_start_failure_keeps_its_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Broken:
        async def start(self, host: object) -> None:
            raise ZeroDivisionError("a bug")

        async def shutdown(self) -> None:
            return None

    factory = Factory(
        type="broken_ext",
        kind=Kind.EXTENSION,
        config=dict,
        create=lambda settings, config: Broken(),
    )
    register(factory)
    try:
        config = build(
            {
                "receivers": {"source": {}},
                "exporters": {"sink": {}},
                "extensions": {"broken_ext": {}},
                "service": {
                    "extensions": ["broken_ext"],
                    "telemetry": {"metrics": {"level": "none"}},
                    "pipelines": {"logs": {"receivers": ["source"], "exporters": ["sink"]}},
                },
            }
        )
        with caplog.at_level("ERROR", logger="otlpy.collector"), pytest.raises(ZeroDivisionError):
            await Collector(config).start()
    finally:
        unregister(factory)
    (record,) = [r for r in caplog.records if r.name == "otlpy.collector"]
    assert record.getMessage() == "cannot start extension broken_ext"
    assert record.exc_info is not None
