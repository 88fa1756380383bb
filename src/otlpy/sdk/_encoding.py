"""SDK telemetry -> OTLP request bytes: the one place the exporters call an encoder.

Until ``otlpy.wire``'s direct encoders are on main this adapter builds the request with the
official ``opentelemetry-exporter-otlp-proto-common`` encoder and serializes it; the exporters
and processors only see ``bytes`` and never change when the encoder does.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import zlib
from collections.abc import Callable, Sequence
from typing import Any

import orjson
from google.protobuf.json_format import MessageToDict
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs as _logs_message
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import (
    encode_metrics as _metrics_message,
)
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans as _spans_message

from otlpy.pdata import Signal

__all__ = ["Encoder", "compress", "encoder_for"]

#: SDK data (a sequence of spans or log records, or MetricsData) -> serialized request.
Encoder = Callable[[Any], bytes]

_ID_KEYS = frozenset({"traceId", "spanId", "parentSpanId"})


def _hex_ids(node: Any) -> Any:
    # The OTLP JSON mapping writes ids as hex where protobuf's JSON mapping writes base64.
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _ID_KEYS and isinstance(value, str):
                with contextlib.suppress(binascii.Error):
                    node[key] = base64.b64decode(value).hex()
            else:
                _hex_ids(value)
    elif isinstance(node, list):
        for item in node:
            _hex_ids(item)
    return node


def _json(message: Any) -> bytes:
    tree = MessageToDict(message, use_integers_for_enums=True)
    return orjson.dumps(_hex_ids(tree))


def encode_spans(spans: Sequence[Any]) -> bytes:
    return bytes(_spans_message(spans).SerializeToString())


def encode_metrics(data: Any) -> bytes:
    return bytes(_metrics_message(data).SerializeToString())


def encode_logs(batch: Sequence[Any]) -> bytes:
    return bytes(_logs_message(batch).SerializeToString())


def encode_spans_json(spans: Sequence[Any]) -> bytes:
    return _json(_spans_message(spans))


def encode_metrics_json(data: Any) -> bytes:
    return _json(_metrics_message(data))


def encode_logs_json(batch: Sequence[Any]) -> bytes:
    return _json(_logs_message(batch))


_ENCODERS: dict[tuple[Signal, bool], Encoder] = {
    (Signal.TRACES, False): encode_spans,
    (Signal.METRICS, False): encode_metrics,
    (Signal.LOGS, False): encode_logs,
    (Signal.TRACES, True): encode_spans_json,
    (Signal.METRICS, True): encode_metrics_json,
    (Signal.LOGS, True): encode_logs_json,
}


def encoder_for(signal: Signal, *, json: bool = False) -> Encoder:
    """The function that turns ``signal``'s SDK data into request bytes (protobuf or JSON)."""
    return _ENCODERS[(signal, json)]


_GZIP_WBITS = 31


def compress(data: bytes, encoding: str) -> bytes:
    """``data`` compressed with ``encoding`` (``none``, ``gzip``, ``deflate`` or ``zstd``)."""
    if encoding == "gzip":
        packer = zlib.compressobj(6, zlib.DEFLATED, _GZIP_WBITS)
        return packer.compress(data) + packer.flush()
    if encoding == "deflate":
        return zlib.compress(data)
    if encoding == "zstd":
        import zstandard

        return bytes(zstandard.ZstdCompressor().compress(data))
    return data
