"""OTLP JSON for the exporters: encode a request, decode one back (used by the file exporter).

OTLP JSON is protobuf's JSON mapping with three differences that matter here: trace and span
ids are hex strings (not base64), enums are integers, and keys are lowerCamelCase. This adapter
gets there through ``google.protobuf.json_format`` and fixes the ids up.

It stands in until the project's fast encoder (``otlpy.wire.otlp_json``) lands; the two
functions keep the same shape so the switch is a one-line import change.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson
from google.protobuf import json_format

from otlpy.errors import PermanentError
from otlpy.pdata import Signal, request_type

__all__ = ["decode_document", "decode_request", "encode_request", "signal_of_document"]

# Every bytes field OTLP JSON writes as hex has one of these names, wherever it appears (spans,
# links, log records, exemplars); other bytes (AnyValue.bytesValue) stay base64.
_HEX_ID_KEYS = frozenset({"traceId", "spanId", "parentSpanId"})

_TOP_KEYS = {
    "resourceSpans": Signal.TRACES,
    "resourceMetrics": Signal.METRICS,
    "resourceLogs": Signal.LOGS,
}


def _ids_to_hex(node: Any) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _HEX_ID_KEYS and isinstance(value, str):
                node[key] = base64.b64decode(value).hex()
            else:
                _ids_to_hex(value)
    elif isinstance(node, list):
        for item in node:
            _ids_to_hex(item)


def _ids_to_base64(node: Any) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _HEX_ID_KEYS and isinstance(value, str):
                node[key] = base64.b64encode(bytes.fromhex(value)).decode("ascii")
            else:
                _ids_to_base64(value)
    elif isinstance(node, list):
        for item in node:
            _ids_to_base64(item)


def encode_request(message: Any) -> bytes:
    """One export request as compact OTLP JSON bytes (no trailing newline)."""
    document = json_format.MessageToDict(message, use_integers_for_enums=True)
    _ids_to_hex(document)
    return orjson.dumps(document)


def signal_of_document(document: Any) -> Signal | None:
    """Which signal an OTLP JSON request document carries, judged by its top-level key."""
    if isinstance(document, dict):
        for key, signal in _TOP_KEYS.items():
            if key in document:
                return signal
    return None


def decode_document(signal: Signal, document: Any) -> Any:
    """Turn a parsed OTLP JSON document into the ``Export*ServiceRequest`` of ``signal``.

    The document is changed in place (ids are rewritten). Raises :class:`PermanentError` when it
    is not a valid request.
    """
    try:
        _ids_to_base64(document)
        message = request_type(signal)()
        json_format.ParseDict(document, message)
    except (json_format.ParseError, ValueError, binascii.Error) as exc:
        raise PermanentError(f"invalid OTLP JSON {signal.value} request: {exc}") from exc
    return message


def decode_request(signal: Signal, data: bytes | str) -> Any:
    """Parse OTLP JSON text into the ``Export*ServiceRequest`` of ``signal``.

    Raises :class:`PermanentError` when the text is not valid JSON or not a valid request.
    """
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise PermanentError(f"invalid JSON in a {signal.value} request: {exc}") from exc
    return decode_document(signal, document)
