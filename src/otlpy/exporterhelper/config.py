"""The settings every exporter shares, with the Collector's keys and defaults."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from otlpy.config.decode import Duration
from otlpy.errors import ConfigProblem

__all__ = ["QueueConfig", "RetryConfig"]


@dataclass(frozen=True, kw_only=True)
class RetryConfig:
    """``retry_on_failure``: exponential backoff; ``max_elapsed_time: 0`` retries forever."""

    enabled: bool = True
    initial_interval: Duration = 5.0
    randomization_factor: float = 0.5
    multiplier: float = 1.5
    max_interval: Duration = 30.0
    max_elapsed_time: Duration = 300.0

    def validate(self) -> list[ConfigProblem]:
        problems = []
        if self.initial_interval < 0:
            problems.append(ConfigProblem("initial_interval", "must not be negative"))
        if not 0 <= self.randomization_factor <= 1:
            problems.append(ConfigProblem("randomization_factor", "must be between 0 and 1"))
        if self.multiplier < 1:
            problems.append(ConfigProblem("multiplier", "must be at least 1"))
        if self.max_interval < self.initial_interval:
            problems.append(ConfigProblem("max_interval", "must not be less than initial_interval"))
        if self.max_elapsed_time < 0:
            problems.append(ConfigProblem("max_elapsed_time", "must not be negative"))
        return problems


@dataclass(frozen=True, kw_only=True)
class QueueConfig:
    """``sending_queue``: a bounded queue in front of the senders."""

    enabled: bool = True
    num_consumers: int = 10
    queue_size: int = 1000
    sizer: Literal["requests", "items", "bytes"] = "requests"
    block_on_overflow: bool = False
    blocking: bool = False
    wait_for_result: bool = False
    storage: str = ""

    def validate(self) -> list[ConfigProblem]:
        problems = []
        if self.num_consumers < 1:
            problems.append(ConfigProblem("num_consumers", "must be at least 1"))
        if self.queue_size < 1:
            problems.append(ConfigProblem("queue_size", "must be at least 1"))
        return problems
