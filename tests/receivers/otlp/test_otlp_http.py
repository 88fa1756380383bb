"""OTLP/HTTP over real sockets: statuses, bodies, compression, limits and metadata."""

from __future__ import annotations

import functools
import gzip
import logging
import tracemalloc
import zlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest
import zstandard
from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceResponse,
)
from otlp_requests import JSON, PROTOBUF, logs, metrics, read_status, retry_delay, traces

from otlpy import client
from otlpy.consumer import FuncConsumer
from otlpy.errors import PartialSuccess, PermanentError, RetryableError, ThrottledError
from otlpy.pdata import Batch, Signal
from otlpy.wire.otlp_json import encode_request

HTTP = {"endpoint": "127.0.0.1:0"}


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    # Compressed bodies are sent as such and answers read raw: no automatic (de)compression.
    async with aiohttp.ClientSession(auto_decompress=False) as http:
        yield http


async def post(
    session: aiohttp.ClientSession,
    url: str,
    body: bytes,
    *,
    content_type: str | None = PROTOBUF,
    headers: dict[str, str] | None = None,
    method: str = "POST",
) -> tuple[int, Any, bytes]:
    all_headers = dict(headers or {})
    skip: tuple[str, ...] = ()
    if content_type is None:
        skip = ("Content-Type",)
    else:
        all_headers["Content-Type"] = content_type
    async with session.request(
        method, url, data=body, headers=all_headers, skip_auto_headers=skip
    ) as response:
        return response.status, response.headers, await response.read()


# --- success ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "request_message", "response_type", "signal"),
    [
        ("/v1/traces", traces(3), ExportTraceServiceResponse, Signal.TRACES),
        ("/v1/metrics", metrics(4), ExportMetricsServiceResponse, Signal.METRICS),
        ("/v1/logs", logs(2), ExportLogsServiceResponse, Signal.LOGS),
    ],
)
async def test_protobuf_requests_are_forwarded_as_received(
    start_receiver: Any,
    session: aiohttp.ClientSession,
    path: str,
    request_message: Any,
    response_type: Any,
    signal: Signal,
) -> None:
    running = await start_receiver({"http": HTTP})
    raw = request_message.SerializeToString()
    status, headers, body = await post(session, running.http_url + path, raw)
    assert status == 200
    assert headers["Content-Type"] == PROTOBUF
    response = response_type.FromString(body)
    assert not response.HasField("partial_success")
    (batch,) = running.sink.of(signal)
    assert batch.raw == raw  # zero copy: the bytes received travel on
    assert batch.message == request_message


async def test_json_request_gets_json_answer(
    start_receiver: Any, session: aiohttp.ClientSession
) -> None:
    running = await start_receiver({"http": HTTP})
    message = traces(2)
    status, headers, body = await post(
        session,
        running.http_url + "/v1/traces",
        encode_request(message),
        content_type="application/json; charset=utf-8",
    )
    assert status == 200
    assert headers["Content-Type"] == JSON
    assert body == b"{}"
    assert running.sink.batches[0].message == message


async def test_empty_request_succeeds_without_reaching_the_pipeline(
    start_receiver: Any, session: aiohttp.ClientSession
) -> None:
    running = await start_receiver({"http": HTTP})
    for content_type, body in ((PROTOBUF, b""), (JSON, b"{}")):
        status, _, _ = await post(
            session, running.http_url + "/v1/logs", body, content_type=content_type
        )
        assert status == 200
    assert running.sink.calls == 0


async def test_configured_url_paths(start_receiver: Any, session: aiohttp.ClientSession) -> None:
    running = await start_receiver(
        {"http": {**HTTP, "traces_url_path": "custom/traces", "logs_url_path": "/l"}}
    )
    raw = traces(1).SerializeToString()
    assert (await post(session, running.http_url + "/custom/traces", raw))[0] == 200
    assert (await post(session, running.http_url + "/v1/traces", raw))[0] == 404
    assert (await post(session, running.http_url + "/l", logs(1).SerializeToString()))[0] == 200


# --- refusals before the pipeline -----------------------------------------------------------


@pytest.mark.parametrize("content_type", [PROTOBUF, JSON])
async def test_unknown_path_is_404_with_a_status_body(
    start_receiver: Any, session: aiohttp.ClientSession, content_type: str
) -> None:
    running = await start_receiver({"http": HTTP})
    status, headers, body = await post(
        session, running.http_url + "/v1/spans", b"", content_type=content_type
    )
    assert status == 404
    assert headers["Content-Type"] == content_type
    rpc = read_status(body, content_type)
    assert rpc.code == 12  # UNIMPLEMENTED, as the Collector maps 404
    assert "/v1/spans" in rpc.message


async def test_signal_without_pipeline_is_404(
    start_receiver: Any, session: aiohttp.ClientSession
) -> None:
    running = await start_receiver({"http": HTTP}, signals=[Signal.TRACES])
    status, _, _ = await post(session, running.http_url + "/v1/logs", logs(1).SerializeToString())
    assert status == 404
    status, _, _ = await post(
        session, running.http_url + "/v1/traces", traces(1).SerializeToString()
    )
    assert status == 200


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "OPTIONS"])
async def test_wrong_method_is_405_with_allow(
    start_receiver: Any, session: aiohttp.ClientSession, method: str
) -> None:
    running = await start_receiver({"http": HTTP})
    status, headers, body = await post(
        session, running.http_url + "/v1/traces", b"", method=method, content_type=None
    )
    assert status == 405
    assert headers["Allow"] == "POST"
    assert headers["Content-Type"] == JSON  # no request type: JSON, as the Collector falls back
    assert "POST" in read_status(body, JSON).message


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/protobuf", "json"])
async def test_unsupported_content_type_is_415(
    start_receiver: Any, session: aiohttp.ClientSession, content_type: str | None
) -> None:
    running = await start_receiver({"http": HTTP})
    status, headers, body = await post(
        session,
        running.http_url + "/v1/traces",
        traces(1).SerializeToString(),
        content_type=content_type,
    )
    assert status == 415
    rpc = read_status(body, headers["Content-Type"])
    assert "application/x-protobuf" in rpc.message
    assert running.sink.calls == 0


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        (PROTOBUF, b"\xff\xff\xff"),
        (JSON, b"{not json"),
        (JSON, b"[1, 2]"),
        (JSON, b'{"resourceSpans": 3}'),
        (JSON, b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz"}]}]}]}'),
        (JSON, b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"spanId": "abcd"}]}]}]}'),
    ],
)
async def test_undecodable_body_is_400(
    start_receiver: Any, session: aiohttp.ClientSession, content_type: str, body: bytes
) -> None:
    running = await start_receiver({"http": HTTP})
    status, headers, answer = await post(
        session, running.http_url + "/v1/traces", body, content_type=content_type
    )
    assert status == 400
    assert headers["Content-Type"] == content_type
    assert read_status(answer, content_type).code == 3  # INVALID_ARGUMENT
    assert running.sink.calls == 0


async def test_unsupported_content_encoding_is_415(
    start_receiver: Any, session: aiohttp.ClientSession
) -> None:
    running = await start_receiver({"http": HTTP})
    status, _, body = await post(
        session,
        running.http_url + "/v1/traces",
        traces(1).SerializeToString(),
        headers={"Content-Encoding": "br"},
    )
    assert status == 415
    assert "br" in read_status(body, PROTOBUF).message


async def test_encoding_not_enabled_by_compression_algorithms_is_415(
    start_receiver: Any, session: aiohttp.ClientSession
) -> None:
    running = await start_receiver({"http": {**HTTP, "compression_algorithms": ["", "gzip"]}})
    raw = traces(1).SerializeToString()
    url = running.http_url + "/v1/traces"
    zstd_body = zstandard.ZstdCompressor().compress(raw)
    assert (await post(session, url, zstd_body, headers={"Content-Encoding": "zstd"}))[0] == 415
    assert (await post(session, url, gzip.compress(raw), headers={"Content-Encoding": "gzip"}))[
        0
    ] == 200
    assert (await post(session, url, raw))[0] == 200


async def test_corrupt_compressed_body_is_400(
    start_receiver: Any, session: aiohttp.ClientSession
) -> None:
    running = await start_receiver({"http": HTTP})
    body = gzip.compress(traces(1).SerializeToString())[:-12]
    status, _, answer = await post(
        session, running.http_url + "/v1/traces", body, headers={"Content-Encoding": "gzip"}
    )
    assert status == 400
    assert read_status(answer, PROTOBUF).message


# --- compression ----------------------------------------------------------------------------


def _raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush()


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [
        ("identity", lambda b: b),
        ("gzip", gzip.compress),
        ("GZIP", gzip.compress),
        ("x-gzip", gzip.compress),
        ("gzip", lambda b: gzip.compress(b[:10]) + gzip.compress(b[10:])),  # two members
        ("deflate", zlib.compress),
        ("deflate", _raw_deflate),
        ("zlib", zlib.compress),
        ("zstd", lambda b: zstandard.ZstdCompressor(level=3).compress(b)),
    ],
)
async def test_compressed_bodies(
    start_receiver: Any, session: aiohttp.ClientSession, encoding: str, compress: Any
) -> None:
    running = await start_receiver({"http": HTTP})
    message = traces(5)
    for content_type, raw in (
        (PROTOBUF, message.SerializeToString()),
        (JSON, encode_request(message)),
    ):
        status, _, _ = await post(
            session,
            running.http_url + "/v1/traces",
            compress(raw),
            content_type=content_type,
            headers={"Content-Encoding": encoding},
        )
        assert status == 200
    assert [b.message for b in running.sink.batches] == [message, message]


# --- size limits ----------------------------------------------------------------------------


async def test_body_over_the_limit_is_413(
    start_receiver: Any, session: aiohttp.ClientSession
) -> None:
    running = await start_receiver({"http": {**HTTP, "max_request_body_size": "64KiB"}})
    url = running.http_url + "/v1/traces"
    small = traces(10).SerializeToString()
    assert (await post(session, url, small))[0] == 200
    big = traces(100, attribute_size=1000).SerializeToString()
    assert len(big) > 64 * 1024
    status, _headers, body = await post(session, url, big)
    assert status == 413
    assert "65536" in read_status(body, PROTOBUF).message


async def test_streamed_body_over_the_limit_is_413(
    start_receiver: Any, session: aiohttp.ClientSession
) -> None:
    running = await start_receiver({"http": {**HTTP, "max_request_body_size": "64KiB"}})

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(4):
            yield b"\x0a" * 20_000  # no Content-Length: chunked transfer encoding

    async with session.post(
        running.http_url + "/v1/traces", data=chunks(), headers={"Content-Type": PROTOBUF}
    ) as response:
        assert response.status == 413
        assert "limit" in read_status(await response.read(), PROTOBUF).message


@functools.cache
def _bomb(encoding: str) -> bytes:
    """Zeros compressed: gzip 128 MiB into ~0.6 MB, zstd 1 GiB into ~32 KB."""
    block = bytes(1 << 20)
    if encoding == "gzip":
        gz = zlib.compressobj(1, zlib.DEFLATED, 31)
        return b"".join(gz.compress(block) for _ in range(128)) + gz.flush()
    zstd = zstandard.ZstdCompressor(level=1).compressobj()
    return b"".join(zstd.compress(block) for _ in range(1024)) + zstd.flush()


@pytest.mark.parametrize("encoding", ["gzip", "zstd"])
async def test_compression_bomb_is_refused_with_bounded_memory(
    start_receiver: Any, session: aiohttp.ClientSession, encoding: str
) -> None:
    bomb = _bomb(encoding)
    running = await start_receiver({"http": {**HTTP, "max_request_body_size": "4MiB"}})
    assert len(bomb) < 1 << 20
    tracemalloc.start()
    try:
        status, _, body = await post(
            session, running.http_url + "/v1/traces", bomb, headers={"Content-Encoding": encoding}
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert status == 413
    assert "4194304" in read_status(body, PROTOBUF).message
    # Inflating stops just past the 4 MiB limit, far from the bomb's 128 MiB or 1 GiB.
    assert peak < 16 << 20
    assert running.sink.calls == 0


# --- pipeline outcomes ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "http_status", "retry_after", "code"),
    [
        (PermanentError("bad data"), 400, None, 3),
        (RetryableError("queue full"), 503, None, 14),
        (RetryableError("queue full", retry_after=3.2), 503, "4", 14),
        (ThrottledError("slow down", retry_after=2), 429, "2", 8),
        (ThrottledError("slow down"), 429, None, 8),
        (ValueError("a bug"), 503, None, 14),
    ],
)
@pytest.mark.parametrize("content_type", [PROTOBUF, JSON])
async def test_pipeline_errors_map_to_statuses(
    start_receiver: Any,
    session: aiohttp.ClientSession,
    error: Exception,
    http_status: int,
    retry_after: str | None,
    code: int,
    content_type: str,
) -> None:
    running = await start_receiver({"http": HTTP})
    running.sink.fail_with(error)
    message = traces(3)
    body = message.SerializeToString() if content_type == PROTOBUF else encode_request(message)
    status, headers, answer = await post(
        session, running.http_url + "/v1/traces", body, content_type=content_type
    )
    assert status == http_status
    assert headers["Content-Type"] == content_type
    assert headers.get("Retry-After") == retry_after
    rpc = read_status(answer, content_type)
    assert rpc.code == code
    assert str(error) in rpc.message
    if retry_after is not None:
        assert retry_delay(rpc) == pytest.approx(float(getattr(error, "retry_after", 0)))
    assert running.counter("refused_spans", "http") == 3
    assert running.counter("accepted_spans", "http") == 0


@pytest.mark.parametrize("content_type", [PROTOBUF, JSON])
async def test_partial_success_is_200_with_partial_success(
    start_receiver: Any, session: aiohttp.ClientSession, content_type: str
) -> None:
    running = await start_receiver({"http": HTTP})
    running.sink.fail_with(PartialSuccess(2, "two spans had no name"))
    message = traces(5)
    body = message.SerializeToString() if content_type == PROTOBUF else encode_request(message)
    status, _headers, answer = await post(
        session, running.http_url + "/v1/traces", body, content_type=content_type
    )
    assert status == 200
    if content_type == PROTOBUF:
        response = ExportTraceServiceResponse.FromString(answer)
    else:
        response = json_format.Parse(answer, ExportTraceServiceResponse())
        assert orjson.loads(answer)["partialSuccess"]["errorMessage"] == "two spans had no name"
    assert response.partial_success.rejected_spans == 2
    assert response.partial_success.error_message == "two spans had no name"
    assert running.counter("accepted_spans", "http") == 3
    assert running.counter("refused_spans", "http") == 2


async def test_refusals_are_logged_once_per_burst(
    start_receiver: Any, session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    running = await start_receiver({"http": HTTP})
    running.sink.fail_with(RetryableError("exporter down"))
    caplog.set_level(logging.INFO, logger="otlpy.receiver.otlp.test")
    for _ in range(5):
        await post(session, running.http_url + "/v1/traces", traces(2).SerializeToString())
        await post(session, running.http_url + "/v1/traces", b"\xff", content_type=PROTOBUF)
    refused = [r for r in caplog.records if "pipeline refused" in r.getMessage()]
    bad = [r for r in caplog.records if "refused a request" in r.getMessage()]
    assert len(refused) == 1
    assert len(bad) == 1
    assert running.counter("refused_spans", "http") == 10


# --- JSON quirks ----------------------------------------------------------------------------


def _span_json(**span: Any) -> bytes:
    return orjson.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]})


@pytest.mark.parametrize(
    "body",
    [
        # upper- and lower-case hex ids
        _span_json(
            traceId="5B8EFFF798038103D269B633813FC60C",
            spanId="EEE19B7EC3C1B174",
            parentSpanId="eee19b7ec3c1b173",
            name="n",
            kind=2,
            startTimeUnixNano="1544712660000000000",
        ),
        _span_json(
            traceId="5b8efff798038103d269b633813fc60c",
            spanId="eee19b7ec3c1b174",
            parentSpanId="EEE19B7EC3C1B173",
            name="n",
            kind="SPAN_KIND_SERVER",  # enum name, which the Collector also accepts
            startTimeUnixNano=1544712660000000000,  # int64 as a number
        ),
        # snake_case keys (protobuf field names) and unknown fields anywhere
        orjson.dumps(
            {
                "resource_spans": [
                    {
                        "scope_spans": [
                            {
                                "spans": [
                                    {
                                        "trace_id": "5b8efff798038103d269b633813fc60c",
                                        "span_id": "EEE19B7EC3C1B174",
                                        "parent_span_id": "eee19b7ec3c1b173",
                                        "name": "n",
                                        "kind": 2,
                                        "start_time_unix_nano": "1544712660000000000",
                                        "someFutureField": {"x": [1, 2]},
                                    }
                                ],
                                "newScopeField": 1,
                            }
                        ]
                    }
                ],
                "topLevelNewField": "ignored",
            }
        ),
    ],
    ids=["upper-ids-string-int64", "lower-ids-enum-name-number-int64", "snake-case-unknown"],
)
async def test_json_quirks(
    start_receiver: Any, session: aiohttp.ClientSession, body: bytes
) -> None:
    running = await start_receiver({"http": HTTP})
    status, _, answer = await post(
        session, running.http_url + "/v1/traces", body, content_type=JSON
    )
    assert status == 200, answer
    span = running.sink.batches[0].message.resource_spans[0].scope_spans[0].spans[0]
    assert span.trace_id == bytes.fromhex("5b8efff798038103d269b633813fc60c")
    assert span.span_id == bytes.fromhex("eee19b7ec3c1b174")
    assert span.parent_span_id == bytes.fromhex("eee19b7ec3c1b173")
    assert span.kind == 2
    assert span.start_time_unix_nano == 1544712660000000000


async def test_json_exemplar_and_log_ids_are_hex(
    start_receiver: Any, session: aiohttp.ClientSession
) -> None:
    running = await start_receiver({"http": HTTP})
    exemplar = {"traceId": "5B8EFFF798038103D269B633813FC60C", "spanId": "eee19b7ec3c1b174"}
    point = {"asInt": "5", "exemplars": [{**exemplar, "asDouble": 1.5}]}
    body = orjson.dumps(
        {
            "resourceMetrics": [
                {"scopeMetrics": [{"metrics": [{"name": "m", "sum": {"dataPoints": [point]}}]}]}
            ]
        }
    )
    assert (await post(session, running.http_url + "/v1/metrics", body, content_type=JSON))[
        0
    ] == 200
    got = running.sink.batches[0].message.resource_metrics[0].scope_metrics[0].metrics[0]
    assert got.sum.data_points[0].exemplars[0].trace_id.hex() == exemplar["traceId"].lower()
    body = orjson.dumps(
        {
            "resourceLogs": [
                {
                    "scopeLogs": [
                        {"logRecords": [{**exemplar, "severityNumber": "SEVERITY_NUMBER_WARN"}]}
                    ]
                }
            ]
        }
    )
    assert (await post(session, running.http_url + "/v1/logs", body, content_type=JSON))[0] == 200
    record = running.sink.batches[1].message.resource_logs[0].scope_logs[0].log_records[0]
    assert record.span_id.hex() == exemplar["spanId"]
    assert record.severity_number == 13


# --- metadata -------------------------------------------------------------------------------


@pytest.mark.parametrize("include_metadata", [True, False])
async def test_client_info_reaches_the_pipeline(
    start_receiver: Any, session: aiohttp.ClientSession, include_metadata: bool
) -> None:
    seen: list[client.ClientInfo] = []

    async def capture(batch: Batch) -> None:
        seen.append(client.current())

    running = await start_receiver(
        {"http": {**HTTP, "include_metadata": include_metadata}}, consumer=FuncConsumer(capture)
    )
    await post(
        session,
        running.http_url + "/v1/traces",
        traces(1).SerializeToString(),
        headers={"X-Tenant": "acme"},
    )
    (info,) = seen
    assert info.addr.startswith("127.0.0.1:")
    assert info.get("x-tenant") == (("acme",) if include_metadata else ())
    assert client.current() == client.ClientInfo()  # nothing leaks out of the request
