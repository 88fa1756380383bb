"""The retry policy of the SDK exporters, as the OTLP specification describes it.

Which failures are worth another attempt, how long to wait before it, and what a server asked
for: the gRPC status codes and HTTP statuses the specification calls retryable, exponential
backoff with jitter, ``Retry-After`` (seconds or an HTTP date) and ``google.rpc.RetryInfo``
(in ``grpc-status-details-bin`` or, as some servers send it, ``google.rpc.retryinfo-bin``).

Nothing here does I/O: the transports call :func:`grpc_failure` and :func:`http_failure` to turn
a failed attempt into :class:`~otlpy.errors.RetryableError` (a later attempt may succeed) or
:class:`~otlpy.errors.PermanentError` (never send this request again), and the delivery loop
asks :meth:`RetryPolicy.delay` how long to wait.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime

from google.protobuf.message import DecodeError
from google.rpc.error_details_pb2 import RetryInfo  # type: ignore[import-untyped]
from google.rpc.status_pb2 import Status  # type: ignore[import-untyped]

from otlpy.errors import PermanentError, RetryableError, ThrottledError

__all__ = [
    "RETRYABLE_GRPC_CODES",
    "RETRYABLE_HTTP_STATUSES",
    "RetryPolicy",
    "grpc_failure",
    "http_failure",
    "parse_retry_after",
    "retry_info_delay",
]

#: gRPC codes after which the same request may succeed later. RESOURCE_EXHAUSTED is retryable
#: only when the server says when to come back (RetryInfo); see :func:`grpc_failure`.
RETRYABLE_GRPC_CODES = frozenset(
    {"CANCELLED", "DEADLINE_EXCEEDED", "ABORTED", "OUT_OF_RANGE", "UNAVAILABLE", "DATA_LOSS"}
)

#: HTTP statuses after which the same request may succeed later.
RETRYABLE_HTTP_STATUSES = frozenset({429, 502, 503, 504})

_THROTTLING_HTTP_STATUSES = frozenset({429, 503})
_RETRY_INFO_TYPE = "type.googleapis.com/google.rpc.RetryInfo"
_STATUS_DETAILS_KEY = "grpc-status-details-bin"
_RETRY_INFO_KEY = "google.rpc.retryinfo-bin"


@dataclass(frozen=True, kw_only=True, slots=True)
class RetryPolicy:
    """Exponential backoff with jitter, bounded per wait and in total.

    The n-th retry (``attempt`` counts from 0) waits ``initial * multiplier**attempt`` seconds,
    capped at ``max_interval`` and spread by +/- ``jitter`` (a fraction), unless the server asked
    for a delay, which is honoured as given. ``max_elapsed`` bounds the whole life of a request
    (``None``: retry for as long as the process lives, as the disk queue does).
    """

    initial_interval: float = 1.0
    multiplier: float = 2.0
    max_interval: float = 30.0
    jitter: float = 0.2
    max_elapsed: float | None = 300.0

    def delay(
        self,
        attempt: int,
        retry_after: float | None = None,
        *,
        uniform: Callable[[float, float], float] = random.uniform,
    ) -> float:
        """Seconds to wait before retry number ``attempt`` (0 for the first retry)."""
        if retry_after is not None:
            return max(retry_after, 0.0)
        # Cap the exponent so a long outage cannot overflow the float.
        base = self.initial_interval * self.multiplier ** min(attempt, 64)
        base = min(base, self.max_interval)
        if self.jitter <= 0:
            return base
        return base * uniform(1.0 - self.jitter, 1.0 + self.jitter)

    def gives_up(self, first_attempt: float, delay: float, now: float | None = None) -> bool:
        """True when waiting ``delay`` more seconds would exceed ``max_elapsed``."""
        if self.max_elapsed is None:
            return False
        current = time.monotonic() if now is None else now
        return current + delay - first_attempt > self.max_elapsed


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds a ``Retry-After`` header asks to wait (delay-seconds or HTTP-date), or None."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return max(seconds, 0.0) if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000" means UTC with no zone information
        when = when.replace(tzinfo=UTC)
    current = time.time() if now is None else now
    return max(when.timestamp() - current, 0.0)


def retry_info_delay(data: bytes) -> float | None:
    """The delay of a serialized ``google.rpc.RetryInfo``, or None when absent or corrupt."""
    info = RetryInfo()
    try:
        info.ParseFromString(data)
    except DecodeError:
        return None
    if not info.HasField("retry_delay"):
        return None
    delay: float = info.retry_delay.seconds + info.retry_delay.nanos / 1e9
    return max(delay, 0.0)


def _status_retry_delay(data: bytes) -> float | None:
    status = Status()
    try:
        status.ParseFromString(data)
    except DecodeError:
        return None
    for detail in status.details:
        if detail.type_url == _RETRY_INFO_TYPE:
            return retry_info_delay(detail.value)
    return None


def grpc_retry_delay(trailing_metadata: Iterable[tuple[str, str | bytes]] | None) -> float | None:
    """The RetryInfo delay a gRPC server put in its trailers, or None."""
    for key, value in trailing_metadata or ():
        if not isinstance(value, bytes):
            continue
        if key == _STATUS_DETAILS_KEY:
            delay = _status_retry_delay(value)
        elif key == _RETRY_INFO_KEY:
            delay = retry_info_delay(value)
        else:
            continue
        if delay is not None:
            return delay
    return None


def grpc_failure(
    code: str,
    details: str | None,
    trailing_metadata: Iterable[tuple[str, str | bytes]] | None = None,
    *,
    retryable_codes: frozenset[str] = RETRYABLE_GRPC_CODES,
) -> RetryableError | PermanentError:
    """The error a failed gRPC export (status ``code`` by name) amounts to."""
    delay = grpc_retry_delay(trailing_metadata)
    message = f"gRPC {code}: {details or 'no details'}"
    if code == "RESOURCE_EXHAUSTED":
        # Retryable only if the server signals that recovery is possible (with RetryInfo).
        if delay is not None or code in retryable_codes:
            return ThrottledError(message, retry_after=delay)
        return PermanentError(message)
    if code in retryable_codes:
        return RetryableError(message, retry_after=delay)
    return PermanentError(message)


def http_failure(
    status: int, reason: str, retry_after: str | None
) -> RetryableError | PermanentError:
    """The error an HTTP export answered with ``status`` amounts to."""
    message = f"HTTP {status}: {reason or 'no details'}"
    if status in RETRYABLE_HTTP_STATUSES:
        delay = parse_retry_after(retry_after)
        if status in _THROTTLING_HTTP_STATUSES:
            return ThrottledError(message, retry_after=delay)
        return RetryableError(message, retry_after=delay)
    return PermanentError(message)
