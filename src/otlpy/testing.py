"""Helpers for testing pipelines, for otlpy's tests and for users' own.

- :class:`SinkConsumer` keeps every batch it is given and can be told to fail.
- :func:`sink_exporter_factory` and :func:`source_receiver_factory` make components for a
  config-built collector: register them with :func:`otlpy.component.register`, name them in a
  config (``exporters: {sink: {}}``), and reach the instances through ``Collector.graph``.

Example::

    register(sink_exporter_factory())
    collector = Collector(build({... "exporters": {"sink": {}} ...}))
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from otlpy.component import Factory, Host, Kind, Settings
from otlpy.consumer import Capabilities, Consumer
from otlpy.errors import PartialSuccess
from otlpy.pdata import Batch, Signal

__all__ = [
    "SinkConsumer",
    "SourceReceiver",
    "sink_exporter_factory",
    "source_receiver_factory",
]


class SinkConsumer:
    """Stores the batches it consumes; raises ``error`` instead when one is set."""

    def __init__(self, *, mutates_data: bool = False) -> None:
        self.batches: list[Batch] = []
        self.error: BaseException | None = None
        self.calls = 0
        self._times: int | None = None
        self._capabilities = Capabilities(mutates_data=mutates_data)
        self._arrived = asyncio.Event()
        self.started = False
        self.stopped = False

    @property
    def capabilities(self) -> Capabilities:
        return self._capabilities

    async def consume(self, batch: Batch) -> None:
        self.calls += 1
        error = self.error
        if error is not None:
            if self._times is not None:
                self._times -= 1
                if self._times <= 0:
                    self.error = None
            if not isinstance(error, PartialSuccess):
                raise error
        self.batches.append(batch)
        self._arrived.set()
        if error is not None:
            raise error  # a partial success: the batch was accepted, except the rejected items

    def fail_with(self, error: BaseException | None, *, times: int | None = None) -> None:
        """Raise ``error`` from the next ``times`` calls to ``consume`` (all when ``None``).

        ``None`` stops failing. A :class:`~otlpy.errors.PartialSuccess` is raised after the
        batch is stored, since the data was accepted except the rejected items.
        """
        self.error = error
        self._times = times

    @property
    def item_count(self) -> int:
        return sum(b.items for b in self.batches)

    def of(self, signal: Signal) -> list[Batch]:
        """The stored batches of ``signal``."""
        return [b for b in self.batches if b.signal is signal]

    def messages(self, signal: Signal | None = None) -> list[Any]:
        return [b.message for b in self.batches if signal is None or b.signal is signal]

    async def wait_for_items(self, count: int, timeout: float = 10.0) -> None:
        """Wait until at least ``count`` items arrived; raises ``TimeoutError`` otherwise."""
        async with asyncio.timeout(timeout):
            while self.item_count < count:
                self._arrived.clear()
                await self._arrived.wait()

    def clear(self) -> None:
        self.batches.clear()

    async def start(self, host: Host) -> None:
        self.started = True

    async def shutdown(self) -> None:
        self.stopped = True


@dataclass(frozen=True, kw_only=True)
class SinkConfig:
    mutates_data: bool = False


def sink_exporter_factory(type_name: str = "sink") -> Factory:
    """An exporter type whose instances are :class:`SinkConsumer` objects."""

    def create(settings: Settings, config: SinkConfig) -> SinkConsumer:
        return SinkConsumer(mutates_data=config.mutates_data)

    return Factory(
        type=type_name,
        kind=Kind.EXPORTER,
        config=SinkConfig,
        create=create,
        description="keeps batches in memory (testing)",
    )


class SourceReceiver:
    """A receiver that sends what a test gives it: ``await receiver.send(batch)``."""

    def __init__(self, consumers: Mapping[Signal, Consumer]) -> None:
        self.consumers = consumers
        self.started = False
        self.stopped = False

    async def send(self, batch: Batch) -> None:
        await self.consumers[batch.signal].consume(batch)

    async def start(self, host: Host) -> None:
        self.started = True

    async def shutdown(self) -> None:
        self.stopped = True


@dataclass(frozen=True, kw_only=True)
class SourceConfig:
    pass


def source_receiver_factory(type_name: str = "source") -> Factory:
    """A receiver type whose instances are :class:`SourceReceiver` objects."""

    def create(
        settings: Settings, config: SourceConfig, consumers: Mapping[Signal, Consumer]
    ) -> SourceReceiver:
        return SourceReceiver(consumers)

    return Factory(
        type=type_name,
        kind=Kind.RECEIVER,
        config=SourceConfig,
        create=create,
        description="sends what a test gives it (testing)",
    )
