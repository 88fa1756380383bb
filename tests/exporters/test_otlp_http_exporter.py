"""The otlphttp exporter against a real aiohttp server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import email.utils
import logging
import ssl
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from aiohttp import web
from exporter_testkit import (
    FAST_RETRY,
    NO_RETRY,
    HttpCall,
    HttpSink,
    batch_of,
    counter,
    free_port,
    logs_request,
    make_settings,
    sample_batches,
    start_http_sink,
    traces_request,
)
from google.rpc import status_pb2
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from certs import CertFiles as Certs
from otlpy.component import Kind, find_factory
from otlpy.config.decode import decode
from otlpy.config.tls import TLSClientConfig
from otlpy.errors import PartialSuccess, PermanentError, RetryableError, ThrottledError
from otlpy.exporterhelper import Exporter, QueueConfig
from otlpy.exporters.otlp_http import OTLPHttpConfig, OTLPHttpExporter, factory, retry_after
from otlpy.pdata import Signal
from otlpy.telemetry import SelfTelemetry
from otlpy.wire.otlp_json import decode_request


def config(endpoint: str, **overrides: Any) -> OTLPHttpConfig:
    overrides.setdefault("retry_on_failure", FAST_RETRY)
    # These tests look at each export's outcome: send directly, not through a queue.
    overrides.setdefault("sending_queue", QueueConfig(enabled=False))
    return OTLPHttpConfig(endpoint=endpoint, **overrides)


@pytest.fixture
async def make_exporter() -> AsyncIterator[Any]:
    made: list[Exporter] = []

    async def make(cfg: OTLPHttpConfig, telemetry: SelfTelemetry | None = None) -> Exporter:
        exporter: Exporter = factory.create(make_settings("otlphttp", telemetry), cfg)
        await exporter.start(None)  # type: ignore[arg-type]
        made.append(exporter)
        return exporter

    yield make
    for exporter in made:
        await exporter.shutdown()


@pytest.fixture
async def client() -> AsyncIterator[Any]:
    """A bare client (push without the helper), to see exactly what push raises."""
    made: list[OTLPHttpExporter] = []

    async def make(cfg: OTLPHttpConfig) -> OTLPHttpExporter:
        exporter = OTLPHttpExporter(cfg, make_settings("otlphttp"))
        await exporter.start(None)  # type: ignore[arg-type]
        made.append(exporter)
        return exporter

    yield make
    for exporter in made:
        await exporter.shutdown()


def problems_of(data: dict[str, Any]) -> list[str]:
    _, problems = decode(OTLPHttpConfig, data)
    return [str(p) for p in problems]


def respond(status: int, body: bytes = b"", **headers: str) -> Any:
    async def responder(call: HttpCall) -> web.StreamResponse:
        return web.Response(status=status, body=body, headers=headers)

    return responder


# --- configuration ---------------------------------------------------------------------------


def test_registered_under_both_names() -> None:
    assert find_factory(Kind.EXPORTER, "otlphttp") is factory
    assert find_factory(Kind.EXPORTER, "otlp_http") is factory


def test_defaults_match_the_collector() -> None:
    cfg = OTLPHttpConfig()
    assert (cfg.compression, cfg.encoding, cfg.timeout) == ("gzip", "proto", 30.0)
    assert cfg.endpoint == "http://localhost:4318"  # the spec's default; the Collector has none
    assert problems_of({}) == []
    assert problems_of({"endpoint": ""}) == ["at least one endpoint must be specified"]


def test_signal_urls() -> None:
    cfg = OTLPHttpConfig(endpoint="https://b:4318/", logs_endpoint="http://l:1/custom")
    assert cfg.url(Signal.TRACES) == "https://b:4318/v1/traces"
    assert cfg.url(Signal.METRICS) == "https://b:4318/v1/metrics"
    assert cfg.url(Signal.LOGS) == "http://l:1/custom"
    only_traces = OTLPHttpConfig(endpoint="", traces_endpoint="http://t:1/x")
    assert only_traces.url(Signal.LOGS) == ""


def test_every_problem_is_reported() -> None:
    found = problems_of(
        {
            "endpoint": "b:4318",
            "traces_endpoint": "http://:80/x",
            "metrics_endpoint": "http://m:99999/x",
            "compression": "br",
            "encoding": "xml",
            "proxy_url": "socks5://p:1",
            "timeout": "-1s",
            "max_conns_per_host": -1,
            "unknown": True,
        }
    )
    for prefix in (
        "endpoint: expected an http:// or https:// URL",
        "traces_endpoint:",
        "metrics_endpoint:",
        "compression: unsupported compression 'br'",
        "encoding: must be one of",
        "proxy_url:",
        "timeout:",
        "max_conns_per_host:",
        "unknown: unknown key",
    ):
        assert any(p.startswith(prefix) for p in found), (prefix, found)


def test_retry_after_header_forms() -> None:
    assert retry_after(None) is None
    assert retry_after("7") == 7.0
    now = 1_700_000_000.0
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert retry_after(date, now=now) == pytest.approx(30.0)
    assert retry_after(email.utils.formatdate(now - 30, usegmt=True), now=now) == 0.0
    assert retry_after("soon") is None


# --- sending ---------------------------------------------------------------------------------


async def test_sends_each_signal_as_protobuf(http_sink: HttpSink, make_exporter: Any) -> None:
    telemetry = SelfTelemetry()
    exporter = await make_exporter(
        config(http_sink.endpoint, headers={"X-Tenant": "acme"}), telemetry
    )
    batches = sample_batches()
    for batch in batches.values():
        await exporter.consume(batch)
    assert [c.path for c in http_sink.calls] == ["/v1/traces", "/v1/metrics", "/v1/logs"]
    for call in http_sink.calls:
        assert call.body == batches[call.signal].raw
        assert call.headers["Content-Type"] == "application/x-protobuf"
        assert call.headers["Content-Encoding"] == "gzip"
        assert call.headers["X-Tenant"] == "acme"
        assert call.headers["User-Agent"].startswith("otlpy/")
    # one connection carried every request
    assert len({c.peer for c in http_sink.calls}) == 1
    assert counter(telemetry, "exporter_sent_spans", "otlphttp") == 3
    assert counter(telemetry, "exporter_sent_log_records", "otlphttp") == 2


async def test_disable_keep_alives_opens_a_connection_per_request(
    http_sink: HttpSink, make_exporter: Any
) -> None:
    exporter = await make_exporter(config(http_sink.endpoint, disable_keep_alives=True))
    for _ in range(3):
        await exporter.consume(batch_of(Signal.TRACES, traces_request()))
    assert len({c.peer for c in http_sink.calls}) == 3


@pytest.mark.parametrize("compression", ["gzip", "zstd", "deflate", "zlib", "none", ""])
async def test_compressions(http_sink: HttpSink, make_exporter: Any, compression: str) -> None:
    exporter = await make_exporter(
        config(http_sink.endpoint, compression=compression),
    )
    batch = batch_of(Signal.TRACES, traces_request(spans=20, attribute_size=400_000))
    await exporter.consume(batch)
    (call,) = http_sink.calls
    assert call.body == batch.raw
    expected = {"zlib": "deflate", "none": None, "": None}.get(compression, compression)
    assert call.headers.get("Content-Encoding") == expected


async def test_json_encoding(http_sink: HttpSink, make_exporter: Any) -> None:
    exporter = await make_exporter(config(http_sink.endpoint, encoding="json", compression="none"))
    batches = sample_batches()
    for batch in batches.values():
        await exporter.consume(batch)
    for call in http_sink.calls:
        assert call.headers["Content-Type"] == "application/json"
        assert decode_request(call.signal, call.body) == batches[call.signal].message
    document = orjson.loads(http_sink.calls[0].body)
    span = document["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    assert span["traceId"] == bytes(range(16)).hex()
    assert span["spanId"] == "0000000000000001"
    assert span["kind"] == 2  # enums are integers in OTLP JSON


async def test_partial_success_protobuf(http_sink: HttpSink, make_exporter: Any) -> None:
    response = ExportTraceServiceResponse()
    response.partial_success.rejected_spans = 1
    response.partial_success.error_message = "dropped one"
    http_sink.responder = respond(
        200, response.SerializeToString(), **{"Content-Type": "application/x-protobuf"}
    )
    telemetry = SelfTelemetry()
    exporter = await make_exporter(config(http_sink.endpoint), telemetry)
    await exporter.consume(batch_of(Signal.TRACES, traces_request(spans=4)))
    assert len(http_sink.calls) == 1
    assert counter(telemetry, "exporter_sent_spans", "otlphttp") == 3
    assert counter(telemetry, "exporter_send_failed_spans", "otlphttp") == 1


async def test_partial_success_json(http_sink: HttpSink, client: Any) -> None:
    body = orjson.dumps({"partialSuccess": {"rejectedLogRecords": "2", "errorMessage": "bad"}})
    http_sink.responder = respond(200, body, **{"Content-Type": "application/json"})
    exporter = await client(config(http_sink.endpoint, encoding="json"))
    with pytest.raises(PartialSuccess) as info:
        await exporter.push(batch_of(Signal.LOGS, logs_request(records=3)))
    assert (info.value.rejected, info.value.message) == (2, "bad")


async def test_full_success_bodies_are_not_partial(http_sink: HttpSink, client: Any) -> None:
    exporter = await client(config(http_sink.endpoint))
    empty = ExportLogsServiceResponse().SerializeToString()
    for content_type, body in [
        ("application/x-protobuf", empty),
        ("application/x-protobuf", b"\xff\xff not protobuf"),
        ("application/json", b"{}"),
        ("application/json", b"not json"),
        ("text/plain", b"ok"),
    ]:
        http_sink.responder = respond(200, body, **{"Content-Type": content_type})
        await exporter.push(batch_of(Signal.LOGS, logs_request()))
    assert len(http_sink.calls) == 5


@pytest.mark.parametrize(
    ("status", "error"),
    [(429, ThrottledError), (502, RetryableError), (503, RetryableError), (504, RetryableError)],
)
async def test_retryable_statuses(
    http_sink: HttpSink, client: Any, status: int, error: type[Exception]
) -> None:
    http_sink.responder = respond(status)
    exporter = await client(config(http_sink.endpoint))
    with pytest.raises(error) as info:
        await exporter.push(batch_of(Signal.TRACES, traces_request()))
    assert type(info.value) is error
    assert f"HTTP {status}" in str(info.value)


async def test_retry_after_is_read_from_503_and_429(http_sink: HttpSink, client: Any) -> None:
    exporter = await client(config(http_sink.endpoint))
    http_sink.responder = respond(503, **{"Retry-After": "3"})
    with pytest.raises(ThrottledError) as info:
        await exporter.push(batch_of(Signal.TRACES, traces_request()))
    assert info.value.retry_after == 3.0
    http_sink.responder = respond(429, **{"Retry-After": email.utils.formatdate(usegmt=True)})
    with pytest.raises(ThrottledError) as info:
        await exporter.push(batch_of(Signal.TRACES, traces_request()))
    assert info.value.retry_after is not None
    assert 0.0 <= info.value.retry_after <= 1.0


async def test_503_with_retry_after_is_retried_then_accepted(
    http_sink: HttpSink, make_exporter: Any
) -> None:
    answers = [respond(503, **{"Retry-After": "0"}), respond(200)]

    async def responder(call: HttpCall) -> web.StreamResponse:
        return await answers.pop(0)(call)  # type: ignore[no-any-return]

    http_sink.responder = responder
    telemetry = SelfTelemetry()
    exporter = await make_exporter(config(http_sink.endpoint), telemetry)
    await exporter.consume(batch_of(Signal.TRACES, traces_request()))
    assert len(http_sink.calls) == 2
    assert counter(telemetry, "exporter_sent_spans", "otlphttp") == 3


async def test_400_is_permanent_and_not_retried(http_sink: HttpSink, make_exporter: Any) -> None:
    status = status_pb2.Status(code=3, message="span name missing")
    http_sink.responder = respond(
        400, status.SerializeToString(), **{"Content-Type": "application/x-protobuf"}
    )
    telemetry = SelfTelemetry()
    exporter = await make_exporter(config(http_sink.endpoint), telemetry)
    with pytest.raises(PermanentError, match=r"HTTP 400 .*span name missing"):
        await exporter.consume(batch_of(Signal.TRACES, traces_request()))
    assert len(http_sink.calls) == 1
    assert counter(telemetry, "exporter_send_failed_spans", "otlphttp") == 3


@pytest.mark.parametrize(
    ("content_type", "body", "message"),
    [
        ("application/json", b'{"code": 3, "message": "bad json"}', "bad json"),
        ("text/plain", b"plain words", "plain words"),
        ("application/json", b"[1]", ""),
        ("application/x-protobuf", b"\xff\xff", ""),
    ],
)
async def test_error_messages_are_read_from_the_body(
    http_sink: HttpSink, client: Any, content_type: str, body: bytes, message: str
) -> None:
    http_sink.responder = respond(415, body, **{"Content-Type": content_type})
    exporter = await client(config(http_sink.endpoint))
    with pytest.raises(PermanentError) as info:
        await exporter.push(batch_of(Signal.TRACES, traces_request()))
    assert str(info.value).endswith(f": {message}" if message else "/v1/traces")


async def test_redirects_are_not_followed(http_sink: HttpSink, client: Any) -> None:
    http_sink.responder = respond(307, Location="/elsewhere")
    exporter = await client(config(http_sink.endpoint))
    with pytest.raises(PermanentError, match="HTTP 307"):
        await exporter.push(batch_of(Signal.TRACES, traces_request()))
    assert len(http_sink.calls) == 1


async def test_missing_signal_endpoint_is_permanent(http_sink: HttpSink, client: Any) -> None:
    exporter = await client(OTLPHttpConfig(endpoint="", traces_endpoint=http_sink.endpoint + "/t"))
    await exporter.push(batch_of(Signal.TRACES, traces_request()))
    assert http_sink.calls[0].path == "/t"
    with pytest.raises(PermanentError, match="no endpoint for logs"):
        await exporter.push(batch_of(Signal.LOGS, logs_request()))


async def test_push_before_start_is_retryable() -> None:
    exporter = OTLPHttpExporter(config("http://127.0.0.1:1"), make_settings("otlphttp"))
    with pytest.raises(RetryableError, match="not started"):
        await exporter.push(batch_of(Signal.TRACES, traces_request()))


async def test_an_outage_is_logged_while_it_lasts_and_when_it_ends(
    http_sink: HttpSink, make_exporter: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A backend answering 503 three times: a warning when retrying starts, a line at the end."""
    answers = [respond(503, b"overloaded")] * 3 + [respond(200)]

    async def responder(call: HttpCall) -> web.StreamResponse:
        return await answers.pop(0)(call)  # type: ignore[no-any-return]

    http_sink.responder = responder
    exporter = await make_exporter(config(http_sink.endpoint))
    with caplog.at_level(logging.INFO, logger="test.otlphttp"):
        await exporter.consume(batch_of(Signal.TRACES, traces_request()))
    assert len(http_sink.calls) == 4
    records = [(r.levelno, r.getMessage()) for r in caplog.records]
    level, first = records[0]
    assert level == logging.WARNING
    assert first.startswith("exporter otlphttp: export failed, retrying:")
    assert "503" in first and "(attempt 1, next in" in first
    level, last = records[-1]
    assert level == logging.INFO
    assert last.startswith("exporter otlphttp: delivering again after")
    assert "(this batch took 4 attempts)" in last


async def test_backend_down_is_retried_then_counted_as_failed(make_exporter: Any) -> None:
    telemetry = SelfTelemetry()
    exporter = await make_exporter(config(f"http://127.0.0.1:{free_port()}"), telemetry)
    with pytest.raises(RetryableError, match="cannot send"):
        await exporter.consume(batch_of(Signal.TRACES, traces_request()))
    assert counter(telemetry, "exporter_send_failed_spans", "otlphttp") == 3


async def test_slow_backend_times_out(http_sink: HttpSink, make_exporter: Any) -> None:
    release = asyncio.Event()

    async def stall(call: HttpCall) -> web.StreamResponse:
        await release.wait()
        return web.Response()

    http_sink.responder = stall
    exporter = await make_exporter(
        config(http_sink.endpoint, timeout=0.2, retry_on_failure=NO_RETRY)
    )
    with pytest.raises(RetryableError):
        await exporter.consume(batch_of(Signal.TRACES, traces_request()))
    release.set()


# --- TLS -------------------------------------------------------------------------------------


def server_context(certs: Certs, *, require_client: bool = False) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certs.server_cert, certs.server_key)
    if require_client:
        context.load_verify_locations(certs.ca)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


@pytest.fixture
async def https_sink(certs: Certs) -> AsyncIterator[HttpSink]:
    sink = HttpSink()
    runner = await start_http_sink(sink, server_context(certs))
    yield sink
    await runner.cleanup()


@pytest.fixture
async def mtls_sink(certs: Certs) -> AsyncIterator[HttpSink]:
    sink = HttpSink()
    runner = await start_http_sink(sink, server_context(certs, require_client=True))
    yield sink
    await runner.cleanup()


async def test_https_with_a_private_ca(https_sink: HttpSink, certs: Certs, client: Any) -> None:
    exporter = await client(config(https_sink.endpoint, tls=TLSClientConfig(ca_file=str(certs.ca))))
    await exporter.push(batch_of(Signal.TRACES, traces_request()))
    assert len(https_sink.calls) == 1


async def test_https_refuses_an_unknown_ca(https_sink: HttpSink, client: Any) -> None:
    exporter = await client(config(https_sink.endpoint))
    with pytest.raises(RetryableError, match="certificate"):
        await exporter.push(batch_of(Signal.TRACES, traces_request()))


async def test_https_insecure_skip_verify(https_sink: HttpSink, client: Any) -> None:
    exporter = await client(
        config(https_sink.endpoint, tls=TLSClientConfig(insecure_skip_verify=True))
    )
    await exporter.push(batch_of(Signal.TRACES, traces_request()))
    assert len(https_sink.calls) == 1


async def test_https_server_name_override(https_sink: HttpSink, certs: Certs, client: Any) -> None:
    tls = TLSClientConfig(ca_file=str(certs.ca), server_name_override="other.example")
    exporter = await client(config(https_sink.endpoint, tls=tls))
    with pytest.raises(RetryableError):
        await exporter.push(batch_of(Signal.TRACES, traces_request()))
    assert https_sink.calls == []


async def test_mutual_tls(mtls_sink: HttpSink, certs: Certs, client: Any) -> None:
    without = await client(config(mtls_sink.endpoint, tls=TLSClientConfig(ca_file=str(certs.ca))))
    with pytest.raises(RetryableError):
        await without.push(batch_of(Signal.TRACES, traces_request()))
    tls = TLSClientConfig(
        ca_file=str(certs.ca), cert_file=str(certs.client_cert), key_file=str(certs.client_key)
    )
    exporter = await client(config(mtls_sink.endpoint, tls=tls))
    await exporter.push(batch_of(Signal.TRACES, traces_request()))
    assert len(mtls_sink.calls) == 1


async def test_unreadable_tls_files_fail_start(tmp_path: Any) -> None:
    cfg = config("https://127.0.0.1:1", tls=TLSClientConfig(ca_file=str(tmp_path / "no.pem")))
    exporter = factory.create(make_settings("otlphttp"), cfg)
    with pytest.raises(PermanentError, match="TLS"):
        await exporter.start(None)
    await exporter.shutdown()
