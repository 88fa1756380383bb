"""The error tree: every error answers "should the caller try again?".

``PermanentError`` means the data can never be accepted (retrying is pointless),
``RetryableError`` means a later attempt may succeed (``retry_after`` says when, if known),
``ThrottledError`` is a retryable refusal caused by load (HTTP 429 / gRPC RESOURCE_EXHAUSTED).
``PartialSuccess`` is not a failure: the data was accepted except ``rejected`` items.
``ConfigError`` carries every problem found in a configuration, each with its dotted path.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "ConfigError",
    "ConfigProblem",
    "OtlpyError",
    "PartialSuccess",
    "PermanentError",
    "RetryableError",
    "ThrottledError",
]


class OtlpyError(Exception):
    """Base class of every error otlpy raises on purpose."""


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One problem in a configuration: where (dotted path) and what."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ConfigError(OtlpyError):
    """A configuration has one or more problems; ``problems`` lists all of them."""

    def __init__(self, problems: Iterable[ConfigProblem]) -> None:
        self.problems: tuple[ConfigProblem, ...] = tuple(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        count = len(self.problems)
        super().__init__(
            f"invalid configuration ({count} error{'s' if count != 1 else ''}):\n{lines}"
        )


class PermanentError(OtlpyError):
    """The data was refused and must not be sent again (HTTP 400, gRPC INVALID_ARGUMENT)."""

    def __init__(self, message: str, *, rejected: int | None = None) -> None:
        super().__init__(message)
        self.rejected = rejected


class RetryableError(OtlpyError):
    """A temporary failure: try again later (HTTP 503, gRPC UNAVAILABLE).

    ``retry_after`` is the delay in seconds a server asked for, when it asked.
    """

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ThrottledError(RetryableError):
    """Refused because of load: try again after ``retry_after`` (HTTP 429, RESOURCE_EXHAUSTED)."""


class PartialSuccess(OtlpyError):
    """Accepted, except ``rejected`` items; ``message`` says why they were refused."""

    def __init__(self, rejected: int, message: str) -> None:
        super().__init__(message)
        self.rejected = rejected
        self.message = message
