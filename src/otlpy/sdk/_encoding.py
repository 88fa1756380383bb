"""SDK telemetry -> OTLP request bytes: the one place the exporters call an encoder.

Until ``otlpy.wire``'s direct SDK encoders are on main, this adapter builds the request with the
official ``opentelemetry-exporter-otlp-proto-common`` encoder and serializes it (protobuf) or
hands it to ``otlpy.wire.encode_request`` (OTLP/JSON). The exporters and processors only see
``bytes`` and do not change when the encoder does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs as _logs_message
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import (
    encode_metrics as _metrics_message,
)
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans as _spans_message

from otlpy.pdata import Signal
from otlpy.wire import compress, encode_request

__all__ = ["Encoder", "compress", "encoder_for"]

#: SDK data (a sequence of spans or log records, or MetricsData) -> serialized request.
Encoder = Callable[[Any], bytes]


def encode_spans(spans: Sequence[Any]) -> bytes:
    return bytes(_spans_message(spans).SerializeToString())


def encode_metrics(data: Any) -> bytes:
    return bytes(_metrics_message(data).SerializeToString())


def encode_logs(batch: Sequence[Any]) -> bytes:
    return bytes(_logs_message(batch).SerializeToString())


def encode_spans_json(spans: Sequence[Any]) -> bytes:
    return encode_request(_spans_message(spans))


def encode_metrics_json(data: Any) -> bytes:
    return encode_request(_metrics_message(data))


def encode_logs_json(batch: Sequence[Any]) -> bytes:
    return encode_request(_logs_message(batch))


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
