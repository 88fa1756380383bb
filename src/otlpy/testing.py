"""Helpers for testing pipelines and components: consumers that keep what they are given.

:class:`SinkConsumer` stores every batch it accepts and can be told to refuse with a given
error, so a test can check both what a component forwards and how it reacts to a refusal::

    sink = SinkConsumer()
    sink.fail_with(RetryableError("disk full", retry_after=5), times=1)
    ...                      # the first batch is refused, the next ones are stored
    assert sink.items == 3
"""

from __future__ import annotations

from otlpy.consumer import Capabilities
from otlpy.errors import PartialSuccess
from otlpy.pdata import Batch, Signal

__all__ = ["SinkConsumer"]


class SinkConsumer:
    """A consumer that stores the batches it accepts, or refuses them with a chosen error.

    A :class:`~otlpy.errors.PartialSuccess` error is raised *after* the batch is stored, since
    a partial success means the data was accepted except the rejected items.
    """

    def __init__(self, *, mutates_data: bool = False) -> None:
        self._capabilities = Capabilities(mutates_data=mutates_data)
        self.batches: list[Batch] = []
        self.calls = 0
        self._error: BaseException | None = None
        self._times: int | None = None

    @property
    def capabilities(self) -> Capabilities:
        return self._capabilities

    def fail_with(self, error: BaseException | None, *, times: int | None = None) -> None:
        """Refuse the next ``times`` batches (every batch when ``None``) with ``error``.

        ``fail_with(None)`` accepts again.
        """
        self._error = error
        self._times = times

    async def consume(self, batch: Batch) -> None:
        self.calls += 1
        error = self._error
        if error is not None:
            if self._times is not None:
                self._times -= 1
                if self._times <= 0:
                    self._error = None
            if isinstance(error, PartialSuccess):
                self.batches.append(batch)
            raise error
        self.batches.append(batch)

    @property
    def items(self) -> int:
        """Spans, data points or log records stored, over every batch."""
        return sum(b.items for b in self.batches)

    def of(self, signal: Signal) -> list[Batch]:
        """The stored batches of one signal."""
        return [b for b in self.batches if b.signal is signal]

    def reset(self) -> None:
        """Forget the stored batches and any pending failure."""
        self.batches.clear()
        self.calls = 0
        self._error = None
        self._times = None
