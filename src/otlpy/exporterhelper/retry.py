"""Retry with exponential backoff and jitter, honouring the server's requested delay."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable

from otlpy.errors import RetryableError
from otlpy.exporterhelper.config import RetryConfig

__all__ = ["next_delay", "retry"]


def next_delay(config: RetryConfig, interval: float, rng: random.Random | None = None) -> float:
    """The randomized delay for the current ``interval`` (``interval * (1 ± factor)``)."""
    factor = config.randomization_factor
    if factor == 0:
        return interval
    r = (rng or random).random()
    return interval * (1 - factor + 2 * factor * r)


async def retry(
    attempt: Callable[[], Awaitable[None]],
    config: RetryConfig,
    *,
    stopping: asyncio.Event | None = None,
) -> None:
    """Run ``attempt`` until it succeeds, raises a non-retryable error, or time runs out.

    The wait before the next attempt is the larger of the backoff and the server's
    ``retry_after``. ``stopping`` cuts the waits short (on shutdown the last error is raised so
    the data is accounted for, not lost silently).
    """
    if not config.enabled:
        await attempt()
        return
    started = time.monotonic()
    interval = config.initial_interval
    while True:
        try:
            await attempt()
            return
        except RetryableError as exc:
            delay = max(next_delay(config, interval), exc.retry_after or 0.0)
            elapsed = time.monotonic() - started
            if config.max_elapsed_time and elapsed + delay > config.max_elapsed_time:
                raise
            if stopping is not None:
                if stopping.is_set():
                    raise
                try:
                    await asyncio.wait_for(stopping.wait(), delay)
                except TimeoutError:
                    pass
                else:
                    raise
            else:
                await asyncio.sleep(delay)
            interval = min(interval * config.multiplier, config.max_interval)
