"""Mapping outcomes to answers, and logging failures once per burst."""

from __future__ import annotations

import logging

import grpc
import pytest
from otlp_requests import retry_delay

from otlpy.errors import PartialSuccess, PermanentError, RetryableError, ThrottledError
from otlpy.pdata import Signal
from otlpy.receivers.otlp._outcome import (
    FailureLog,
    classify,
    export_response,
    grpc_code_for_http,
    rpc_status,
)


def test_classify() -> None:
    throttled = classify(ThrottledError("busy", retry_after=0.25))
    assert (throttled.grpc_code, throttled.http_status) == (grpc.StatusCode.RESOURCE_EXHAUSTED, 429)
    assert throttled.retry_after_header == "1"  # rounded up: never sooner than asked
    assert retry_delay(throttled.status()) == 0.25
    retryable = classify(RetryableError("later"))
    assert retryable.retry_after_header is None
    assert retry_delay(retryable.status()) is None
    permanent = classify(PermanentError("no"))
    assert (permanent.grpc_code, permanent.http_status) == (grpc.StatusCode.INVALID_ARGUMENT, 400)
    bug = classify(KeyError())
    assert bug.unexpected
    assert bug.message == "internal error: KeyError"


def test_rpc_status_delay_precision() -> None:
    status = rpc_status(14, "x", 2.5)
    assert status.code == 14
    assert retry_delay(status) == 2.5
    assert retry_delay(rpc_status(14, "x", None, retry_info=True)) == 0.0


@pytest.mark.parametrize(
    ("status", "code"), [(400, 3), (401, 16), (403, 7), (404, 12), (413, 2), (415, 2), (503, 14)]
)
def test_grpc_code_for_http(status: int, code: int) -> None:
    assert grpc_code_for_http(status) == code


def test_export_response_clamps_negative_rejections() -> None:
    response = export_response(Signal.LOGS, PartialSuccess(-3, "odd"))
    assert response.partial_success.rejected_log_records == 0
    assert response.partial_success.error_message == "odd"
    assert not export_response(Signal.METRICS).HasField("partial_success")


def test_failure_log_bursts(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("otlpy.test.failures")
    failures = FailureLog(logger, interval=3600)
    caplog.set_level(logging.INFO, logger=logger.name)
    assert failures.log("a", logging.WARNING, "failed %s", "once")
    assert not failures.log("a", logging.WARNING, "failed %s", "again")
    assert failures.log("b", logging.INFO, "other kind")
    assert [r.getMessage() for r in caplog.records] == ["failed once", "other kind"]
    now_due = FailureLog(logger, interval=0)
    now_due._suppressed["a"] = 4
    now_due.log("a", logging.WARNING, "failed")
    assert caplog.records[-1].getMessage() == "failed (4 more since the last report)"
