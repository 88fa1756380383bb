"""SDK telemetry -> OTLP request bytes: the one place the exporters choose an encoder.

The encoders are ``otlpy.wire``'s: they write the protobuf (or OTLP/JSON) bytes straight from the
SDK's objects, byte for byte what the official encoder's ``SerializeToString()`` gives, without
building a Python protobuf message. Exporters and processors only ever see ``bytes``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from otlpy.pdata import Signal
from otlpy.wire import compress
from otlpy.wire.sdk_logs import encode_logs, encode_logs_json
from otlpy.wire.sdk_metrics import encode_metrics, encode_metrics_json
from otlpy.wire.sdk_traces import encode_spans, encode_spans_json

__all__ = ["Encoder", "compress", "encoder_for"]

#: SDK data (a sequence of spans or log records, or MetricsData) -> serialized request.
Encoder = Callable[[Any], bytes]

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
