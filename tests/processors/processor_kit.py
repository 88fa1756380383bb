"""Running one processor in a test: decode its config, create it, feed it, read the sink."""

from __future__ import annotations

import logging
from typing import Any

from otlpy.component import ComponentID, Factory, Kind, Settings
from otlpy.config.decode import decode
from otlpy.errors import ConfigProblem
from otlpy.pdata import Batch, Signal
from otlpy.telemetry import SelfTelemetry
from otlpy.testing import SinkConsumer


def config_of(factory: Factory, data: dict[str, Any]) -> Any:
    config, problems = decode(factory.config, data)
    assert problems == [], problems
    return config


def problems_of(factory: Factory, data: dict[str, Any]) -> dict[str, str]:
    """Validation problems by path."""
    _, problems = decode(factory.config, data)
    return {p.path: p.message for p in problems}


def paths(problems: list[ConfigProblem]) -> list[str]:
    return [p.path for p in problems]


class Harness:
    """A processor of ``factory`` on ``signal`` feeding a sink."""

    def __init__(
        self,
        factory: Factory,
        data: dict[str, Any],
        signal: Signal = Signal.TRACES,
        *,
        telemetry: SelfTelemetry | None = None,
        name: str = "",
    ) -> None:
        self.sink = SinkConsumer()
        self.telemetry = telemetry or SelfTelemetry()
        self.settings = Settings(
            id=ComponentID(factory.type, name),
            kind=Kind.PROCESSOR,
            telemetry=self.telemetry,
            logger=logging.getLogger(f"test.{factory.type}"),
            signal=signal,
            pipeline=signal.value,
        )
        self.signal = signal
        self.processor = factory.create(self.settings, config_of(factory, data), self.sink)

    async def run(self, message: Any) -> Any:
        """Process ``message`` (an export request); the message that came out, or None."""
        before = len(self.sink.batches)
        await self.processor.consume(Batch.from_message(self.signal, message))
        if len(self.sink.batches) == before:
            return None
        return self.sink.batches[-1].message

    def metric(self, name: str, labels: dict[str, str]) -> float | None:
        return self.telemetry.registry.get_sample_value(name, labels)
