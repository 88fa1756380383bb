"""The receiver's stand-ins for otlpy.wire: bounded decompression and OTLP/JSON."""

from __future__ import annotations

import gzip
import zlib

import orjson
import pytest
import zstandard
from otlp_requests import logs, metrics, traces

from otlpy.errors import PermanentError
from otlpy.pdata import Signal
from otlpy.receivers.otlp._wire import (
    BodyTooLargeError,
    CorruptBodyError,
    UnsupportedEncodingError,
    decode_request,
    decompress,
    encode_request,
    normalize_encoding,
)

DATA = b"0123456789" * 1000


@pytest.mark.parametrize(
    ("encoding", "body"),
    [
        ("", DATA),
        ("identity", DATA),
        ("gzip", gzip.compress(DATA)),
        ("gzip", zlib.compress(DATA)),  # a zlib stream labelled gzip is read too
        ("deflate", zlib.compress(DATA)),
        (
            "zstd",
            zstandard.ZstdCompressor().compress(DATA[:5000])
            + zstandard.ZstdCompressor().compress(DATA[5000:]),
        ),
    ],
)
def test_decompress_round_trips(encoding: str, body: bytes) -> None:
    assert decompress(body, encoding, max_size=len(DATA)) == DATA
    with pytest.raises(BodyTooLargeError) as caught:
        decompress(body, encoding, max_size=len(DATA) - 1)
    assert caught.value.http_status == 413
    assert caught.value.limit == len(DATA) - 1


def test_empty_body_is_empty_whatever_the_encoding() -> None:
    assert decompress(b"", "zstd", max_size=0) == b""


@pytest.mark.parametrize(
    ("encoding", "body"),
    [
        ("gzip", b"not gzip at all"),
        ("gzip", gzip.compress(DATA)[:40]),
        ("deflate", zlib.compress(DATA) + b"junk"),
        ("zstd", b"\x28\xb5\x2f\xfd garbage"),
    ],
)
def test_corrupt_bodies(encoding: str, body: bytes) -> None:
    with pytest.raises(CorruptBodyError) as caught:
        decompress(body, encoding, max_size=1 << 20)
    assert caught.value.http_status == 400


def test_unknown_encoding() -> None:
    with pytest.raises(UnsupportedEncodingError) as caught:
        normalize_encoding("br")
    assert caught.value.http_status == 415
    assert normalize_encoding(" X-GZIP ") == "gzip"
    assert normalize_encoding("zlib") == "deflate"


@pytest.mark.parametrize(
    ("signal", "message"),
    [(Signal.TRACES, traces(3)), (Signal.METRICS, metrics(2)), (Signal.LOGS, logs(2))],
)
def test_json_round_trip_with_hex_ids(signal: Signal, message: object) -> None:
    data = encode_request(message)
    assert decode_request(signal, data) == message
    if signal is not Signal.METRICS:
        assert b"5b8efff798038103d269b633813fc60c" in data


def test_json_errors() -> None:
    with pytest.raises(PermanentError, match="invalid JSON"):
        decode_request(Signal.LOGS, b"{")
    with pytest.raises(PermanentError, match="JSON object"):
        decode_request(Signal.LOGS, b"null")
    with pytest.raises(PermanentError, match="invalid OTLP/JSON logs request"):
        decode_request(Signal.LOGS, orjson.dumps({"resourceLogs": [{"scopeLogs": "x"}]}))
    with pytest.raises(PermanentError, match="32 hex digits"):
        decode_request(
            Signal.LOGS,
            orjson.dumps(
                {"resourceLogs": [{"scopeLogs": [{"logRecords": [{"traceId": "abcd"}]}]}]}
            ),
        )


def test_json_tolerates_odd_shapes() -> None:
    # non-object entries are left for the protobuf parser to refuse or accept
    body = orjson.dumps(
        {"resourceMetrics": [{"scopeMetrics": [{"metrics": [3]}]}], "resourceSpans": 1}
    )
    with pytest.raises(PermanentError):
        decode_request(Signal.METRICS, body)
    assert decode_request(Signal.TRACES, b'{"resourceSpans": []}') == traces(0).__class__()
