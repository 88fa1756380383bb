"""The retry policy: which failures are retried, and after how long."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime

import pytest
from google.protobuf.any_pb2 import Any as AnyProto
from google.protobuf.duration_pb2 import Duration
from google.rpc.error_details_pb2 import RetryInfo
from google.rpc.status_pb2 import Status
from hypothesis import given, settings
from hypothesis import strategies as st

from otlpy.errors import PermanentError, RetryableError, ThrottledError
from otlpy.sdk._retry import (
    RETRYABLE_GRPC_CODES,
    RetryPolicy,
    grpc_failure,
    grpc_retry_delay,
    http_failure,
    parse_retry_after,
    retry_info_delay,
)


def retry_info(seconds: int, nanos: int = 0) -> bytes:
    return RetryInfo(retry_delay=Duration(seconds=seconds, nanos=nanos)).SerializeToString()


def status_details(delay: bytes) -> bytes:
    detail = AnyProto(type_url="type.googleapis.com/google.rpc.RetryInfo", value=delay)
    return Status(code=8, message="slow down", details=[detail]).SerializeToString()


class TestPolicy:
    def test_exponential_without_jitter(self) -> None:
        policy = RetryPolicy(initial_interval=1, multiplier=2, max_interval=5, jitter=0)
        assert [policy.delay(n) for n in range(5)] == [1, 2, 4, 5, 5]

    def test_server_delay_wins(self) -> None:
        assert RetryPolicy().delay(3, retry_after=0.25) == 0.25
        assert RetryPolicy().delay(0, retry_after=-3) == 0.0

    @settings(max_examples=50)
    @given(attempt=st.integers(0, 200), jitter=st.floats(0.01, 0.9))
    def test_jitter_stays_in_bounds(self, attempt: int, jitter: float) -> None:
        policy = RetryPolicy(initial_interval=0.5, multiplier=1.5, max_interval=30, jitter=jitter)
        base = min(0.5 * 1.5 ** min(attempt, 64), 30)
        delay = policy.delay(attempt)
        assert base * (1 - jitter) - 1e-9 <= delay <= base * (1 + jitter) + 1e-9

    def test_jitter_is_applied(self) -> None:
        policy = RetryPolicy(jitter=0.5)
        assert policy.delay(1, uniform=lambda lo, hi: lo) == 1.0
        assert policy.delay(1, uniform=lambda lo, hi: hi) == 3.0

    def test_gives_up_after_max_elapsed(self) -> None:
        policy = RetryPolicy(max_elapsed=10)
        assert not policy.gives_up(first_attempt=100, delay=4, now=105)
        assert policy.gives_up(first_attempt=100, delay=6, now=105)
        assert not RetryPolicy(max_elapsed=None).gives_up(0, 1e9, now=1e9)


class TestRetryAfter:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [("3", 3.0), (" 0.5 ", 0.5), ("-2", 0.0), ("", None), (None, None), ("soon", None)],
    )
    def test_seconds(self, value: str | None, expected: float | None) -> None:
        assert parse_retry_after(value) == expected

    def test_infinite_is_ignored(self) -> None:
        assert parse_retry_after("inf") is None

    def test_http_date(self) -> None:
        now = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)
        later = datetime(2030, 1, 1, 12, 0, 30, tzinfo=UTC)
        value = format_datetime(later, usegmt=True)
        assert parse_retry_after(value, now=now.timestamp()) == pytest.approx(30.0)
        assert parse_retry_after(value, now=later.timestamp() + 60) == 0.0

    def test_http_date_without_zone_is_utc(self) -> None:
        now = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC).timestamp()
        value = "Tue, 01 Jan 2030 12:00:10 -0000"
        assert parse_retry_after(value, now=now) == pytest.approx(10.0)


class TestRetryInfo:
    def test_delay(self) -> None:
        assert retry_info_delay(retry_info(2, 500_000_000)) == 2.5

    def test_missing_or_corrupt(self) -> None:
        assert retry_info_delay(RetryInfo().SerializeToString()) is None
        assert retry_info_delay(b"\xff\xff\xff") is None

    def test_from_status_details_trailer(self) -> None:
        trailers = [("other", "x"), ("grpc-status-details-bin", status_details(retry_info(4)))]
        assert grpc_retry_delay(trailers) == 4.0

    def test_from_retryinfo_trailer(self) -> None:
        assert grpc_retry_delay([("google.rpc.retryinfo-bin", retry_info(1))]) == 1.0

    def test_no_trailers(self) -> None:
        assert grpc_retry_delay(None) is None
        assert grpc_retry_delay([("grpc-status-details-bin", b"\xff\xff")]) is None
        assert grpc_retry_delay([("grpc-status-details-bin", "text")]) is None


class TestGrpcFailure:
    @pytest.mark.parametrize("code", sorted(RETRYABLE_GRPC_CODES))
    def test_retryable_codes(self, code: str) -> None:
        error = grpc_failure(code, "down")
        assert isinstance(error, RetryableError)
        assert error.retry_after is None

    @pytest.mark.parametrize(
        "code",
        [
            "UNKNOWN",
            "INVALID_ARGUMENT",
            "NOT_FOUND",
            "PERMISSION_DENIED",
            "UNAUTHENTICATED",
            "UNIMPLEMENTED",
            "INTERNAL",
            "FAILED_PRECONDITION",
            "ALREADY_EXISTS",
        ],
    )
    def test_permanent_codes(self, code: str) -> None:
        assert isinstance(grpc_failure(code, "no"), PermanentError)

    def test_resource_exhausted_needs_retry_info(self) -> None:
        assert isinstance(grpc_failure("RESOURCE_EXHAUSTED", "full"), PermanentError)
        trailers = [("grpc-status-details-bin", status_details(retry_info(3)))]
        error = grpc_failure("RESOURCE_EXHAUSTED", "full", trailers)
        assert isinstance(error, ThrottledError)
        assert error.retry_after == 3.0

    def test_retry_info_on_unavailable(self) -> None:
        error = grpc_failure("UNAVAILABLE", "", [("google.rpc.retryinfo-bin", retry_info(7))])
        assert isinstance(error, RetryableError)
        assert error.retry_after == 7.0
        assert "no details" in str(error)

    def test_custom_retryable_codes(self) -> None:
        codes = frozenset({"INTERNAL"})
        assert isinstance(grpc_failure("INTERNAL", "", retryable_codes=codes), RetryableError)
        assert isinstance(grpc_failure("UNAVAILABLE", "", retryable_codes=codes), PermanentError)


class TestHttpFailure:
    @pytest.mark.parametrize("status", [429, 503])
    def test_throttling(self, status: int) -> None:
        error = http_failure(status, "busy", "2")
        assert isinstance(error, ThrottledError)
        assert error.retry_after == 2.0

    @pytest.mark.parametrize("status", [502, 504])
    def test_retryable(self, status: int) -> None:
        error = http_failure(status, "", None)
        assert isinstance(error, RetryableError)
        assert not isinstance(error, ThrottledError)
        assert error.retry_after is None

    @pytest.mark.parametrize("status", [400, 401, 403, 404, 413, 500, 501, 301])
    def test_permanent(self, status: int) -> None:
        error = http_failure(status, "bad request body", None)
        assert isinstance(error, PermanentError)
        assert f"HTTP {status}: bad request body" == str(error)
