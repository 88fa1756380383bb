"""The consumer protocol: how telemetry moves from one component to the next.

A consumer is anything with a ``capabilities`` attribute and an ``async consume(batch)``
method. One protocol serves all three signals: the :class:`~otlpy.pdata.Batch` says which
signal it carries. ``consume`` returns once the data is accepted; it raises
:class:`~otlpy.errors.RetryableError` or :class:`~otlpy.errors.PermanentError` when it is
not, and :class:`~otlpy.errors.PartialSuccess` when part of it was refused.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from otlpy.pdata import Batch

__all__ = [
    "Capabilities",
    "Consumer",
    "FuncConsumer",
    "LogsConsumer",
    "MetricsConsumer",
    "TracesConsumer",
]


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a consumer does to the data it is given.

    ``mutates_data``: the consumer changes batches in place, so a fan-out must hand it a copy.
    """

    mutates_data: bool = False


@runtime_checkable
class Consumer(Protocol):
    """Receives batches of telemetry."""

    @property
    def capabilities(self) -> Capabilities: ...

    async def consume(self, batch: Batch) -> None: ...


# The Collector has one interface per signal; here the batch carries its signal, so the three
# names are the same protocol, kept for readers who know the Collector's vocabulary.
TracesConsumer = Consumer
MetricsConsumer = Consumer
LogsConsumer = Consumer


class FuncConsumer:
    """A consumer made from one coroutine function: ``FuncConsumer(fn)``."""

    __slots__ = ("_capabilities", "_fn")

    def __init__(
        self,
        fn: Callable[[Batch], Awaitable[None]],
        *,
        mutates_data: bool = False,
    ) -> None:
        self._fn = fn
        self._capabilities = Capabilities(mutates_data=mutates_data)

    @property
    def capabilities(self) -> Capabilities:
        return self._capabilities

    async def consume(self, batch: Batch) -> None:
        await self._fn(batch)
