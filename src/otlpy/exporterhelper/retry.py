"""Retry with exponential backoff and jitter, honouring the server's requested delay."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable

from otlpy.errors import RetryableError
from otlpy.exporterhelper.config import RetryConfig

__all__ = ["RetryLog", "next_delay", "retry"]


def next_delay(config: RetryConfig, interval: float, rng: random.Random | None = None) -> float:
    """The randomized delay for the current ``interval`` (``interval * (1 ± factor)``)."""
    factor = config.randomization_factor
    if factor == 0:
        return interval
    r = (rng or random).random()
    return interval * (1 - factor + 2 * factor * r)


class RetryLog:
    """What one exporter says while it retries: a line to start, one per ``every`` s, one to end.

    An exporter shares one across its senders, so a backend that is down for a minute gives a
    handful of lines however many batches are waiting, and an operator sees the outage while it
    lasts rather than only when the data is given up on::

        log = RetryLog(logger, "otlp/backend")
        await retry(attempt, config, log=log)
    """

    def __init__(
        self,
        logger: logging.Logger,
        name: str,
        *,
        every: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._logger = logger
        self._name = name
        self._every = every
        self._clock = clock
        self._retrying = False
        self._since = 0.0
        self._last = float("-inf")
        self._failed = 0  # failed attempts since the last line

    @property
    def retrying(self) -> bool:
        """True from the first failed attempt until a delivery succeeds."""
        return self._retrying

    def failed(self, error: RetryableError, attempts: int, delay: float) -> None:
        """A retryable failure; the batch's next attempt is in ``delay`` seconds."""
        now = self._clock()
        self._failed += 1
        if not self._retrying:
            self._retrying = True
            self._since = now
            if now - self._last < self._every:
                return  # a new spell right after a batch was given up on: within the limit
            self._logger.warning(
                "exporter %s: export failed, retrying: %s (attempt %d, next in %.1fs)",
                self._name,
                error,
                attempts,
                delay,
            )
        elif now - self._last >= self._every:
            self._logger.warning(
                "exporter %s: still retrying after %.0fs: %s "
                "(attempt %d of this batch, %d failed attempts since the last report, "
                "next in %.1fs)",
                self._name,
                now - self._since,
                error,
                attempts,
                self._failed,
                delay,
            )
        else:
            return
        self._last = now
        self._failed = 0

    def delivered(self, attempts: int) -> None:
        """A successful attempt (the ``attempts``-th for its batch) ends a spell of retrying."""
        if not self._retrying:
            return
        self._retrying = False
        self._logger.info(
            "exporter %s: delivering again after %.0fs of retrying (this batch took %d attempts)",
            self._name,
            self._clock() - self._since,
            attempts,
        )

    def gave_up(self) -> None:
        """A batch's retries ran out (the exporter logs the loss): the next failure starts a new
        spell, announced unless a line went out less than ``every`` seconds ago."""
        self._retrying = False


async def retry(
    attempt: Callable[[], Awaitable[None]],
    config: RetryConfig,
    *,
    stopping: asyncio.Event | None = None,
    log: RetryLog | None = None,
) -> None:
    """Run ``attempt`` until it succeeds, raises a non-retryable error, or time runs out.

    The wait before the next attempt is the larger of the backoff and the server's
    ``retry_after``. ``stopping`` cuts the waits short (on shutdown the last error is raised so
    the data is accounted for, not lost silently). ``log`` hears of each failure and of the
    recovery.
    """
    if not config.enabled:
        await attempt()
        return
    started = time.monotonic()
    interval = config.initial_interval
    attempts = 0
    while True:
        attempts += 1
        try:
            await attempt()
        except RetryableError as exc:
            delay = max(next_delay(config, interval), exc.retry_after or 0.0)
            elapsed = time.monotonic() - started
            if config.max_elapsed_time and elapsed + delay > config.max_elapsed_time:
                if log is not None:
                    log.gave_up()
                raise
            if stopping is not None and stopping.is_set():
                raise
            if log is not None:
                log.failed(exc, attempts, delay)
            if stopping is not None:
                try:
                    await asyncio.wait_for(stopping.wait(), delay)
                except TimeoutError:
                    pass
                else:
                    raise
            else:
                await asyncio.sleep(delay)
            interval = min(interval * config.multiplier, config.max_interval)
        else:
            if log is not None:
                log.delivered(attempts)
            return
