"""Fixtures for the otlp receiver tests: a receiver on 127.0.0.1 feeding an in-memory sink."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from otlp_requests import NoHost, make_config

from otlpy.component import ComponentID, Kind, Settings
from otlpy.consumer import Consumer
from otlpy.pdata import Signal
from otlpy.receivers.otlp import OTLPReceiver, factory
from otlpy.telemetry import SelfTelemetry
from otlpy.testing import SinkConsumer

GRPC = {"endpoint": "127.0.0.1:0"}
HTTP = {"endpoint": "127.0.0.1:0"}


@dataclass
class Running:
    receiver: OTLPReceiver
    sink: SinkConsumer
    telemetry: SelfTelemetry

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.receiver.http_port}"

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.receiver.grpc_port}"

    def counter(self, name: str, transport: str) -> float:
        value = self.telemetry.registry.get_sample_value(
            f"otelcol_receiver_{name}_total", {"receiver": "otlp", "transport": transport}
        )
        return value or 0.0


Start = Callable[..., Awaitable[Running]]


@pytest.fixture
async def start_receiver() -> AsyncIterator[Start]:
    started: list[OTLPReceiver] = []

    async def start(
        protocols: Any = None,
        *,
        signals: Sequence[Signal] = tuple(Signal),
        sink: SinkConsumer | None = None,
        consumer: Consumer | None = None,
    ) -> Running:
        config = make_config(protocols if protocols is not None else {"grpc": GRPC, "http": HTTP})
        sink = sink or SinkConsumer()
        telemetry = SelfTelemetry()
        settings = Settings(
            id=ComponentID("otlp"),
            kind=Kind.RECEIVER,
            telemetry=telemetry,
            logger=logging.getLogger("otlpy.receiver.otlp.test"),
        )
        receiver = factory.create(settings, config, {s: consumer or sink for s in signals})
        await receiver.start(NoHost())
        started.append(receiver)
        return Running(receiver, sink, telemetry)

    yield start
    for receiver in started:
        await receiver.shutdown()
