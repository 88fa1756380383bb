"""What to answer a client: export responses, failures mapped to gRPC codes and HTTP statuses.

The mapping follows the OTLP specification and the Collector's otlp receiver:

============================  ==================  =====  ==========================
pipeline outcome              gRPC code           HTTP   retry hint
============================  ==================  =====  ==========================
accepted                      OK                  200    -
PartialSuccess                OK + partial_success 200   - (the client must not retry)
PermanentError                INVALID_ARGUMENT    400    -
ThrottledError                RESOURCE_EXHAUSTED  429    RetryInfo / Retry-After
RetryableError                UNAVAILABLE         503    RetryInfo / Retry-After if known
any other exception           UNAVAILABLE         503    - (as the Collector: retryable)
============================  ==================  =====  ==========================

A throttled refusal always carries a RetryInfo on gRPC, empty when the delay is unknown:
without one a client must treat RESOURCE_EXHAUSTED as permanent.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import error_details_pb2, status_pb2  # type: ignore[import-untyped]

from otlpy._export_services import EXPORT_SERVICES
from otlpy.errors import PartialSuccess, PermanentError, RetryableError, ThrottledError
from otlpy.pdata import Signal

__all__ = [
    "Failure",
    "FailureLog",
    "classify",
    "export_response",
    "grpc_code_for_http",
    "rpc_status",
]


def export_response(signal: Signal, partial: PartialSuccess | None = None) -> Any:
    """The ``Export*ServiceResponse`` message, with ``partial_success`` set when given."""
    service = EXPORT_SERVICES[signal]
    if partial is None:
        return service.response()
    detail = service.partial_success(error_message=partial.message)
    setattr(detail, service.rejected_field, max(0, partial.rejected))
    return service.response(partial_success=detail)


@dataclass(frozen=True, slots=True)
class Failure:
    """A refusal, in the terms of both transports."""

    grpc_code: grpc.StatusCode
    http_status: int
    message: str
    #: seconds the client should wait, when the server knows
    retry_after: float | None = None
    #: send a RetryInfo even without a delay (throttling must be marked retryable on gRPC)
    force_retry_info: bool = False
    #: the consumer failed in a way no error class explains (a bug): log it with a traceback
    unexpected: bool = False

    @property
    def retry_after_header(self) -> str | None:
        """The HTTP ``Retry-After`` value in whole seconds (rounded up), when known."""
        if self.retry_after is None:
            return None
        return str(max(0, math.ceil(self.retry_after)))

    def status(self) -> status_pb2.Status:
        """This failure as a ``google.rpc.Status``, with a RetryInfo detail when relevant."""
        code = self.grpc_code.value[0]
        with_retry = self.retry_after is not None or self.force_retry_info
        return rpc_status(code, self.message, self.retry_after if with_retry else None, with_retry)


def rpc_status(
    code: int, message: str, retry_after: float | None = None, retry_info: bool = False
) -> status_pb2.Status:
    """A ``google.rpc.Status``; ``retry_info`` adds a RetryInfo (delay ``retry_after``)."""
    status = status_pb2.Status(code=code, message=message)
    if retry_info or retry_after is not None:
        delay = duration_pb2.Duration()
        if retry_after is not None and retry_after > 0:
            whole = int(retry_after)
            delay.seconds = whole
            delay.nanos = round((retry_after - whole) * 1e9)
        detail = any_pb2.Any()
        detail.Pack(error_details_pb2.RetryInfo(retry_delay=delay))
        status.details.append(detail)
    return status


def classify(error: BaseException) -> Failure:
    """Map an error raised by the pipeline (or by decoding) to a refusal."""
    message = str(error) or type(error).__name__
    if isinstance(error, ThrottledError):
        return Failure(
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            429,
            message,
            error.retry_after,
            force_retry_info=True,
        )
    if isinstance(error, RetryableError):
        return Failure(grpc.StatusCode.UNAVAILABLE, 503, message, error.retry_after)
    if isinstance(error, PermanentError):
        status = getattr(error, "http_status", 400)
        return Failure(grpc.StatusCode.INVALID_ARGUMENT, status, message)
    return Failure(
        grpc.StatusCode.UNAVAILABLE,
        503,
        f"internal error: {message}",
        unexpected=True,
    )


def grpc_code_for_http(status: int) -> int:
    """The ``google.rpc.Status.code`` for an HTTP error status, as the Collector maps it."""
    code: int = _HTTP_TO_GRPC.get(status, grpc.StatusCode.UNKNOWN).value[0]
    return code


_HTTP_TO_GRPC = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.UNIMPLEMENTED,
    429: grpc.StatusCode.RESOURCE_EXHAUSTED,
    502: grpc.StatusCode.UNAVAILABLE,
    503: grpc.StatusCode.UNAVAILABLE,
    504: grpc.StatusCode.UNAVAILABLE,
}


class FailureLog:
    """Logs failures once per burst: the first one, then at most one line per ``interval``.

    A client sending bad data in a loop, or a pipeline refusing everything while its
    destination is down, must not write a log line per request.
    """

    __slots__ = ("_interval", "_last", "_logger", "_suppressed")

    def __init__(self, logger: logging.Logger, interval: float = 10.0) -> None:
        self._logger = logger
        self._interval = interval
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def log(
        self, key: str, level: int, message: str, *args: object, exc_info: bool = False
    ) -> bool:
        """Log unless a line with the same ``key`` was written less than ``interval`` ago.

        Returns True when the line was written.
        """
        now = time.monotonic()
        last = self._last.get(key)
        if last is not None and now - last < self._interval:
            self._suppressed[key] = self._suppressed.get(key, 0) + 1
            return False
        self._last[key] = now
        skipped = self._suppressed.pop(key, 0)
        if skipped:
            message += " (%d more since the last report)"
            args = (*args, skipped)
        self._logger.log(level, message, *args, exc_info=exc_info)
        return True
