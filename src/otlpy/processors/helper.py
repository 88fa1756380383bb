"""The processor helper: a processor author writes one function, the helper does the rest.

``process`` takes a batch and returns the batch to pass on, or ``None`` to drop it (all its items
were filtered out). A processor that changes data must say so (``mutates_data=True``) and change
it through :meth:`Batch.mutable`, so the fan-out in front of it gives it its own copy::

    async def drop_health(batch: Batch) -> Batch | None:
        ...
    processor = FunctionProcessor(drop_health, next_consumer, mutates_data=True)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from otlpy.component import Host
from otlpy.consumer import Capabilities, Consumer
from otlpy.pdata import Batch

__all__ = ["FunctionProcessor", "ProcessFn"]

ProcessFn = Callable[[Batch], Awaitable[Batch | None]]


class FunctionProcessor:
    """A processor component made from one ``process`` coroutine function."""

    __slots__ = ("_capabilities", "_next", "_process")

    def __init__(self, process: ProcessFn, next_consumer: Consumer, *, mutates_data: bool) -> None:
        self._process = process
        self._next = next_consumer
        self._capabilities = Capabilities(mutates_data=mutates_data)

    @property
    def capabilities(self) -> Capabilities:
        return self._capabilities

    async def consume(self, batch: Batch) -> None:
        result = await self._process(batch)
        if result is not None and result.items:
            await self._next.consume(result)

    async def start(self, host: Host) -> None:
        return None

    async def shutdown(self) -> None:
        return None
