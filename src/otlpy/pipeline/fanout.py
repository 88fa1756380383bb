"""Fan-out: hand one batch to several consumers, copying only for those that mutate data."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from otlpy.consumer import Capabilities, Consumer
from otlpy.errors import PartialSuccess, PermanentError, RetryableError
from otlpy.pdata import Batch

__all__ = ["Fanout", "fanout"]


class Fanout:
    """Sends each batch to every consumer, concurrently.

    Read-only consumers share the batch; each consumer that mutates data gets its own copy, so
    no consumer sees another's changes. Errors are combined by what the sender should do: a
    retryable error wins (the sender retries; consumers that took the data may see it twice,
    which is at-least-once delivery), then a permanent error, then a partial success.
    """

    __slots__ = ("_consumers", "_mutating")

    def __init__(self, consumers: Sequence[Consumer]) -> None:
        self._consumers = tuple(consumers)
        self._mutating = tuple(c.capabilities.mutates_data for c in self._consumers)

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(mutates_data=False)

    async def consume(self, batch: Batch) -> None:
        results = await asyncio.gather(
            *(
                consumer.consume(batch.copy() if mutating else batch)
                for consumer, mutating in zip(self._consumers, self._mutating, strict=True)
            ),
            return_exceptions=True,
        )
        errors = [r for r in results if isinstance(r, BaseException)]
        if not errors:
            return
        for error in errors:
            if not isinstance(error, Exception):
                raise error  # cancellation and the like are not consumer failures
        for error in errors:
            if isinstance(error, RetryableError):
                raise error
        for error in errors:
            if isinstance(error, PermanentError):
                raise error
        partials = [e for e in errors if isinstance(e, PartialSuccess)]
        if partials:
            worst = max(partials, key=lambda e: e.rejected)
            raise worst
        raise errors[0]


def fanout(consumers: Sequence[Consumer]) -> Consumer:
    """One consumer for many: the consumer itself when there is only one."""
    if len(consumers) == 1:
        return consumers[0]
    return Fanout(consumers)
