"""Failures the exporters must handle as the OTLP specification says, against real servers."""

from __future__ import annotations

import logging
import threading
from typing import Any

import grpc
import pytest
from google.protobuf.any_pb2 import Any as AnyProto
from google.protobuf.duration_pb2 import Duration
from google.rpc.error_details_pb2 import RetryInfo
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTracePartialSuccess,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.trace.export import SpanExportResult

from otlpy.sdk import OTLPSpanExporter, RetryPolicy

from .otlp_servers import GrpcOtlpServer, HttpOtlpServer, Reply, free_port

FAST = RetryPolicy(initial_interval=0.05, max_interval=0.2, jitter=0)
# A backoff so long that a test only passes if the server's requested delay was used instead.
PATIENT = RetryPolicy(initial_interval=60, max_interval=60, jitter=0)


def grpc_exporter(server: GrpcOtlpServer, **kw: Any) -> OTLPSpanExporter:
    kw.setdefault("retry_policy", FAST)
    return OTLPSpanExporter(server.endpoint, **kw)


def http_exporter(server: HttpOtlpServer, **kw: Any) -> OTLPSpanExporter:
    kw.setdefault("retry_policy", FAST)
    kw.setdefault("protocol", "http/protobuf")
    return OTLPSpanExporter(server.url("traces"), **kw)


def retry_info_status(seconds: float) -> bytes:
    info = RetryInfo(
        retry_delay=Duration(seconds=int(seconds), nanos=int((seconds % 1) * 1e9))
    ).SerializeToString()
    detail = AnyProto(type_url="type.googleapis.com/google.rpc.RetryInfo", value=info)
    return Status(code=8, message="later", details=[detail]).SerializeToString()


def partial(rejected: int, message: str) -> bytes:
    return ExportTraceServiceResponse(
        partial_success=ExportTracePartialSuccess(rejected_spans=rejected, error_message=message)
    ).SerializeToString()


class TestServerDownThenUp:
    def test_grpc(self, spans: list[Any]) -> None:
        port = free_port()
        server = GrpcOtlpServer(port)
        exporter = OTLPSpanExporter(f"http://127.0.0.1:{port}", timeout=20, retry_policy=FAST)
        starter = threading.Timer(0.5, server.start)
        starter.start()
        try:
            assert exporter.export(spans) is SpanExportResult.SUCCESS
            assert len(server.received["traces"]) == 1
            assert exporter.stats().retries >= 1
        finally:
            starter.join()
            exporter.shutdown()
            server.stop()

    def test_http(self, spans: list[Any]) -> None:
        port = free_port()
        server = HttpOtlpServer(port)
        exporter = OTLPSpanExporter(
            f"http://127.0.0.1:{port}/v1/traces",
            protocol="http/protobuf",
            timeout=20,
            retry_policy=FAST,
        )
        starter = threading.Timer(0.5, server.start)
        starter.start()
        try:
            assert exporter.export(spans) is SpanExportResult.SUCCESS
            assert len(server.received["traces"]) == 1
            assert exporter.stats().retries >= 1
        finally:
            starter.join()
            exporter.shutdown()
            server.stop()


class TestServerAskedDelay:
    def test_http_503_retry_after(self, http_server: HttpOtlpServer, spans: list[Any]) -> None:
        http_server.script(Reply(status=503, headers={"Retry-After": "0"}))
        exporter = http_exporter(http_server, retry_policy=PATIENT, timeout=10)
        assert exporter.export(spans) is SpanExportResult.SUCCESS
        assert http_server.attempts["traces"] == 2
        exporter.shutdown()

    def test_http_429_retry_after_too_long(
        self, http_server: HttpOtlpServer, spans: list[Any]
    ) -> None:
        http_server.script(Reply(status=429, headers={"Retry-After": "3600"}))
        exporter = http_exporter(http_server, retry_policy=FAST, timeout=5)
        # The server asks for more time than the export has: give up now, do not sleep.
        assert exporter.export(spans) is SpanExportResult.FAILURE
        assert http_server.attempts["traces"] == 1
        assert exporter.stats().failed_items == len(spans)

    @pytest.mark.parametrize(
        "code", [grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED]
    )
    def test_grpc_retry_info(
        self, grpc_server: GrpcOtlpServer, spans: list[Any], code: grpc.StatusCode
    ) -> None:
        trailers = (("grpc-status-details-bin", retry_info_status(0.05)),)
        grpc_server.script(Reply(code=code, details="busy", trailers=trailers))
        exporter = grpc_exporter(grpc_server, retry_policy=PATIENT, timeout=10)
        assert exporter.export(spans) is SpanExportResult.SUCCESS
        assert grpc_server.attempts["traces"] == 2
        exporter.shutdown()

    def test_grpc_resource_exhausted_without_retry_info(
        self, grpc_server: GrpcOtlpServer, spans: list[Any]
    ) -> None:
        grpc_server.script(Reply(code=grpc.StatusCode.RESOURCE_EXHAUSTED, details="full"))
        exporter = grpc_exporter(grpc_server)
        assert exporter.export(spans) is SpanExportResult.FAILURE
        assert grpc_server.attempts["traces"] == 1


class TestNotRetried:
    def test_http_400(
        self, http_server: HttpOtlpServer, spans: list[Any], caplog: pytest.LogCaptureFixture
    ) -> None:
        body = Status(code=3, message="span 3 has no name").SerializeToString()
        http_server.script(
            Reply(status=400, body=body, headers={"Content-Type": "application/x-protobuf"})
        )
        exporter = http_exporter(http_server)
        with caplog.at_level(logging.ERROR, logger="otlpy.sdk"):
            assert exporter.export(spans) is SpanExportResult.FAILURE
        assert http_server.attempts["traces"] == 1
        assert "span 3 has no name" in caplog.text
        assert exporter.stats().failed_items == len(spans)

    def test_http_400_json_and_text_bodies(
        self, http_server: HttpOtlpServer, spans: list[Any], caplog: pytest.LogCaptureFixture
    ) -> None:
        http_server.script(
            Reply(
                status=400,
                body=b'{"code": 3, "message": "json says no"}',
                headers={"Content-Type": "application/json"},
            ),
            Reply(status=403, body=b"forbidden here", headers={"Content-Type": "text/plain"}),
        )
        exporter = http_exporter(http_server, protocol="http/json")
        with caplog.at_level(logging.ERROR, logger="otlpy.sdk"):
            assert exporter.export(spans) is SpanExportResult.FAILURE
            exporter._otlpy.delivery._log._last.clear()  # let the second error be logged too
            assert exporter.export(spans) is SpanExportResult.FAILURE
        assert "json says no" in caplog.text
        assert "forbidden here" in caplog.text
        assert http_server.attempts["traces"] == 2

    def test_grpc_invalid_argument(self, grpc_server: GrpcOtlpServer, spans: list[Any]) -> None:
        grpc_server.script(Reply(code=grpc.StatusCode.INVALID_ARGUMENT, details="bad"))
        exporter = grpc_exporter(grpc_server)
        assert exporter.export(spans) is SpanExportResult.FAILURE
        assert grpc_server.attempts["traces"] == 1


class TestPartialSuccess:
    def test_grpc(
        self, grpc_server: GrpcOtlpServer, spans: list[Any], caplog: pytest.LogCaptureFixture
    ) -> None:
        grpc_server.script(Reply(body=partial(3, "3 spans too old")))
        exporter = grpc_exporter(grpc_server)
        with caplog.at_level(logging.WARNING, logger="otlpy.sdk"):
            assert exporter.export(spans) is SpanExportResult.SUCCESS
        stats = exporter.stats()
        assert (stats.rejected_items, stats.sent_items) == (3, len(spans) - 3)
        assert "refused 3 items: 3 spans too old" in caplog.text

    def test_http_protobuf(self, http_server: HttpOtlpServer, spans: list[Any]) -> None:
        http_server.script(Reply(body=partial(2, "dup")))
        exporter = http_exporter(http_server)
        assert exporter.export(spans) is SpanExportResult.SUCCESS
        assert exporter.stats().rejected_items == 2

    def test_http_json(self, http_server: HttpOtlpServer, spans: list[Any]) -> None:
        http_server.script(
            Reply(body=b'{"partialSuccess": {"rejectedSpans": "4", "errorMessage": "nope"}}')
        )
        exporter = http_exporter(http_server, protocol="http/json")
        assert exporter.export(spans) is SpanExportResult.SUCCESS
        assert exporter.stats().rejected_items == 4

    def test_message_without_rejections_is_logged(
        self, grpc_server: GrpcOtlpServer, spans: list[Any], caplog: pytest.LogCaptureFixture
    ) -> None:
        grpc_server.script(Reply(body=partial(0, "deprecated field used")))
        exporter = grpc_exporter(grpc_server)
        with caplog.at_level(logging.WARNING, logger="otlpy.sdk"):
            assert exporter.export(spans) is SpanExportResult.SUCCESS
        assert "deprecated field used" in caplog.text
        assert exporter.stats().rejected_items == 0


class TestTimeout:
    def test_grpc_deadline(self, grpc_server: GrpcOtlpServer, spans: list[Any]) -> None:
        grpc_server.script(Reply(delay=2.0))
        exporter = grpc_exporter(grpc_server, timeout=0.3)
        assert exporter.export(spans) is SpanExportResult.FAILURE
        assert exporter.stats().failed_items == len(spans)

    def test_http_read_timeout(self, http_server: HttpOtlpServer, spans: list[Any]) -> None:
        http_server.script(Reply(delay=2.0))
        exporter = http_exporter(http_server, timeout=0.3)
        assert exporter.export(spans) is SpanExportResult.FAILURE
        assert exporter.stats().failed_items == len(spans)

    def test_retry_after_timeout(self, grpc_server: GrpcOtlpServer, spans: list[Any]) -> None:
        # One attempt times out, the next succeeds: from the queue, the request is not lost.
        grpc_server.script(Reply(delay=1.0))
        exporter = grpc_exporter(grpc_server, timeout=0.3)
        delivery = exporter._otlpy.delivery
        assert delivery.submit(b"", len(spans))
        assert exporter.force_flush(10_000)
        stats = exporter.stats()
        assert (stats.sent_items, stats.retries) == (len(spans), 1)
        exporter.shutdown()


class TestQueuedRetries:
    def test_retries_run_out(self, grpc_server: GrpcOtlpServer) -> None:
        grpc_server.script(*[Reply(code=grpc.StatusCode.UNAVAILABLE)] * 100)
        policy = RetryPolicy(initial_interval=0.02, max_interval=0.05, jitter=0, max_elapsed=0.2)
        exporter = grpc_exporter(grpc_server, retry_policy=policy)
        assert exporter._otlpy.delivery.submit(b"", 7)
        assert exporter.force_flush(10_000)
        assert exporter.stats().failed_items == 7
        exporter.shutdown()

    def test_shutdown_stops_retrying(self, grpc_server: GrpcOtlpServer) -> None:
        grpc_server.script(*[Reply(code=grpc.StatusCode.UNAVAILABLE)] * 1000)
        exporter = grpc_exporter(grpc_server, retry_policy=PATIENT)
        assert exporter._otlpy.delivery.submit(b"", 5)
        assert exporter._otlpy.delivery.submit(b"", 6)
        # The first request waits 60 s to be retried; shutdown must not.
        finished = threading.Event()
        threading.Thread(target=lambda: (exporter.shutdown(200), finished.set())).start()
        assert finished.wait(5)
        stats = exporter.stats()
        assert stats.failed_items == 11
        assert stats.queued_items == 0


class TestOddResponses:
    """Servers that answer with something unreadable: the answer decides nothing beyond status."""

    def test_grpc_garbage_response_is_a_success(
        self, grpc_server: GrpcOtlpServer, spans: list[Any]
    ) -> None:
        grpc_server.script(Reply(body=b"\xff\xff\xff"))
        exporter = grpc_exporter(grpc_server)
        assert exporter.export(spans) is SpanExportResult.SUCCESS
        assert exporter.stats().sent_items == len(spans)

    @pytest.mark.parametrize(
        "body",
        [
            b"not json",
            b"[1, 2]",
            b'{"partialSuccess": "no"}',
            b'{"partialSuccess": {"rejectedSpans": "many"}}',
        ],
    )
    def test_http_json_odd_bodies(
        self, http_server: HttpOtlpServer, spans: list[Any], body: bytes
    ) -> None:
        http_server.script(Reply(body=body))
        exporter = http_exporter(http_server, protocol="http/json")
        assert exporter.export(spans) is SpanExportResult.SUCCESS
        assert exporter.stats().rejected_items == 0

    def test_http_protobuf_garbage_error_body(
        self, http_server: HttpOtlpServer, spans: list[Any], caplog: pytest.LogCaptureFixture
    ) -> None:
        http_server.script(
            Reply(
                status=400,
                body=b"\xff\xff\xff",
                headers={"Content-Type": "application/x-protobuf"},
            )
        )
        exporter = http_exporter(http_server)
        with caplog.at_level(logging.ERROR, logger="otlpy.sdk"):
            assert exporter.export(spans) is SpanExportResult.FAILURE
        assert "HTTP 400: no details" in caplog.text

    def test_send_on_a_closed_channel_is_retryable(self, grpc_server: GrpcOtlpServer) -> None:
        from otlpy.errors import RetryableError

        exporter = grpc_exporter(grpc_server)
        transport = exporter._otlpy.delivery._get_transport()
        transport.close()
        with pytest.raises(RetryableError, match="unusable"):
            transport.send(b"", 1.0)
