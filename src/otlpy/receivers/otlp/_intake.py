"""The part both servers share: hand a batch to its pipeline, count and log the outcome."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from otlpy import client
from otlpy.consumer import Consumer
from otlpy.errors import PartialSuccess
from otlpy.pdata import Batch, Signal
from otlpy.receivers.otlp._outcome import Failure, FailureLog, classify
from otlpy.telemetry import ReceiverTelemetry

__all__ = ["Intake"]


class Intake:
    """Delivers batches received over one transport to the consumer of their signal.

    Self-telemetry counts items per request (accepted or refused), never per item; failures
    are logged once per burst.
    """

    __slots__ = ("_consumers", "_failures", "_telemetry", "transport")

    def __init__(
        self,
        consumers: Mapping[Signal, Consumer],
        telemetry: ReceiverTelemetry,
        failures: FailureLog,
        transport: str,
    ) -> None:
        self._consumers = dict(consumers)
        self._telemetry = telemetry
        self._failures = failures
        self.transport = transport

    @property
    def signals(self) -> frozenset[Signal]:
        """The signals that have a pipeline."""
        return frozenset(self._consumers)

    async def deliver(
        self, batch: Batch, info: client.ClientInfo
    ) -> Failure | PartialSuccess | None:
        """Consume ``batch``; returns None when accepted, else the partial success or failure."""
        items = batch.items
        if items == 0:
            # An empty request is a success that the pipeline need not see (as the Collector).
            return None
        try:
            with client.using(info):
                await self._consumers[batch.signal].consume(batch)
        except PartialSuccess as partial:
            rejected = min(max(partial.rejected, 0), items)
            self._telemetry.accepted(batch.signal, items - rejected)
            self._telemetry.refused(batch.signal, rejected)
            return partial
        except Exception as exc:
            self._telemetry.refused(batch.signal, items)
            failure = classify(exc)
            if failure.unexpected:
                self._failures.log(
                    f"{self.transport}:unexpected",
                    logging.ERROR,
                    "the %s pipeline failed unexpectedly on %d %s received over %s: %s",
                    batch.signal.value,
                    items,
                    batch.signal.item_name,
                    self.transport,
                    exc,
                    exc_info=True,
                )
            else:
                self._failures.log(
                    f"{self.transport}:refused",
                    logging.WARNING,
                    "the %s pipeline refused %d %s received over %s (%s): %s",
                    batch.signal.value,
                    items,
                    batch.signal.item_name,
                    self.transport,
                    failure.http_status,
                    failure.message,
                )
            return failure
        self._telemetry.accepted(batch.signal, items)
        return None

    def bad_request(self, failure: Failure, peer: str) -> Failure:
        """Log (once per burst) a request refused before it reached a pipeline."""
        self._failures.log(
            f"{self.transport}:bad-request",
            logging.INFO,
            "refused a request over %s from %s (%s): %s",
            self.transport,
            peer or "unknown peer",
            failure.http_status,
            failure.message,
        )
        return failure
