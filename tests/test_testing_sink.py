"""otlpy.testing.SinkConsumer: stores batches, refuses on demand."""

from __future__ import annotations

import pytest

from otlpy.errors import PartialSuccess, RetryableError
from otlpy.pdata import Batch, Signal
from otlpy.testing import SinkConsumer


async def test_sink_stores_and_fails_on_demand() -> None:
    sink = SinkConsumer(mutates_data=True)
    assert sink.capabilities.mutates_data
    traces, logs = Batch.empty(Signal.TRACES), Batch.empty(Signal.LOGS)
    await sink.consume(traces)
    sink.fail_with(RetryableError("down"), times=2)
    for _ in range(2):
        with pytest.raises(RetryableError):
            await sink.consume(logs)
    await sink.consume(logs)
    assert sink.batches == [traces, logs]
    assert sink.of(Signal.LOGS) == [logs]
    assert sink.calls == 4
    assert sink.item_count == 0
    sink.fail_with(PartialSuccess(1, "one dropped"))
    with pytest.raises(PartialSuccess):
        await sink.consume(traces)
    assert len(sink.batches) == 3  # a partial success still accepted the batch
    sink.fail_with(None)
    sink.clear()
    sink.calls = 0
    await sink.consume(traces)
    assert (sink.batches, sink.calls) == ([traces], 1)
