"""The otlp receiver in a collector built from a YAML-shaped config, as ``otlpy run`` does."""

from __future__ import annotations

from typing import Any

import aiohttp
import grpc
import pytest
from otlp_requests import PROTOBUF, logs, traces

from otlpy.config.model import build
from otlpy.pdata import Signal
from otlpy.pipeline import Collector
from otlpy.receivers.otlp.grpc import SERVICES
from otlpy.testing import SinkConsumer

pytestmark = pytest.mark.usefixtures("test_components")


async def test_collector_pipelines_through_the_otlp_receiver() -> None:
    config = build(
        {
            "receivers": {
                "otlp": {
                    "protocols": {
                        "grpc": {"endpoint": "127.0.0.1:0"},
                        "http": {"endpoint": "127.0.0.1:0"},
                    }
                }
            },
            "exporters": {"sink": {}},
            "service": {
                "telemetry": {"metrics": {"level": "none"}},
                "pipelines": {
                    "traces": {"receivers": ["otlp"], "exporters": ["sink"]},
                    "logs": {"receivers": ["otlp"], "exporters": ["sink"]},
                },
            },
        }
    )
    collector = Collector(config)
    await collector.start()
    try:
        receiver: Any = next(iter(collector.graph.receivers.values()))
        sink: SinkConsumer = next(iter(collector.graph.exporters.values()))
        async with grpc.aio.insecure_channel(f"127.0.0.1:{receiver.grpc_port}") as channel:
            export = channel.unary_unary(f"/{SERVICES[Signal.TRACES]}/Export")
            assert await export(traces(2).SerializeToString()) == b""
            metrics_export = channel.unary_unary(f"/{SERVICES[Signal.METRICS]}/Export")
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await metrics_export(b"")
            assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED  # no metrics pipeline
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                f"http://127.0.0.1:{receiver.http_port}/v1/logs",
                data=logs(3).SerializeToString(),
                headers={"Content-Type": PROTOBUF},
            ) as response,
        ):
            assert response.status == 200
        assert [b.items for b in sink.batches] == [2, 3]
        assert (
            collector.telemetry.registry.get_sample_value(
                "otelcol_receiver_accepted_spans_total", {"receiver": "otlp", "transport": "grpc"}
            )
            == 2
        )
    finally:
        await collector.shutdown()
