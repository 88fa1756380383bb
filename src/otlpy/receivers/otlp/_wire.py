"""Stand-ins for ``otlpy.wire.compression`` and ``otlpy.wire.otlp_json`` until they land on main.

Same names and signatures as the wire package's functions, so switching is an import change;
this module is to be deleted then. The receiver imports from here only.

Known gap of this stand-in: a zstd body cut short inside a frame inflates to a shorter body
instead of an error (the wire package walks frame headers to catch it); the protobuf or JSON
decoding that follows usually refuses such a body anyway.
"""

from __future__ import annotations

import base64
import binascii
import io
import zlib
from typing import Any, ClassVar

import orjson
import zstandard
from google.protobuf import json_format

from otlpy.errors import PermanentError
from otlpy.pdata import Signal, request_type

__all__ = [
    "BodyTooLargeError",
    "CorruptBodyError",
    "UnsupportedEncodingError",
    "decode_request",
    "decompress",
    "encode_message",
    "encode_request",
    "normalize_encoding",
]


class UnsupportedEncodingError(PermanentError):
    """The body uses a content encoding otlpy does not decode (HTTP 415)."""

    http_status: ClassVar[int] = 415


class BodyTooLargeError(PermanentError):
    """The body, once decompressed, is larger than the configured limit (HTTP 413)."""

    http_status: ClassVar[int] = 413

    def __init__(self, limit: int) -> None:
        super().__init__(f"request body is larger than the limit of {limit} bytes")
        self.limit = limit


class CorruptBodyError(PermanentError):
    """The compressed body is malformed or truncated (HTTP 400)."""

    http_status: ClassVar[int] = 400


_ALIASES = {
    "": "identity",
    "identity": "identity",
    "none": "identity",
    "gzip": "gzip",
    "x-gzip": "gzip",
    "deflate": "deflate",
    "zlib": "deflate",
    "zstd": "zstd",
}
_CHUNK = 1 << 20


def normalize_encoding(encoding: str) -> str:
    """The canonical name of ``encoding``: identity, gzip, deflate or zstd."""
    name = _ALIASES.get(encoding.strip().lower())
    if name is None:
        raise UnsupportedEncodingError(
            f"unsupported content encoding {encoding!r} (supported: deflate, gzip, identity, zstd)"
        )
    return name


def decompress(body: bytes, encoding: str, *, max_size: int) -> bytes:
    """Decode ``body``, never inflating more than ``max_size + 1`` bytes."""
    name = normalize_encoding(encoding)
    if name == "identity" or not body:
        if len(body) > max_size:
            raise BodyTooLargeError(max_size)
        return body
    if name == "zstd":
        return _unzstd(body, max_size)
    if name == "gzip":
        wbits = 47  # gzip or zlib, detected from the header
    else:
        cmf = body[0]
        zlib_header = len(body) > 1 and cmf & 0x0F == 8 and ((cmf << 8) | body[1]) % 31 == 0
        wbits = 15 if zlib_header else -15
    return _inflate(body, wbits, max_size, members=name == "gzip")


def _inflate(body: bytes, wbits: int, max_size: int, *, members: bool) -> bytes:
    parts: list[bytes] = []
    total = 0
    data = body
    try:
        while data:
            inflater = zlib.decompressobj(wbits)
            while not inflater.eof:
                chunk = inflater.decompress(data, max_size + 1 - total)
                total += len(chunk)
                if total > max_size:
                    raise BodyTooLargeError(max_size)
                parts.append(chunk)
                data = inflater.unconsumed_tail
                if not chunk and not data and not inflater.eof:
                    raise CorruptBodyError("compressed body is truncated")
            data = inflater.unused_data
            if data and not members:
                raise CorruptBodyError("unexpected bytes after the end of the compressed body")
    except zlib.error as exc:
        raise CorruptBodyError(f"cannot decompress body: {exc}") from exc
    return b"".join(parts)


def _unzstd(body: bytes, max_size: int) -> bytes:
    parts: list[bytes] = []
    total = 0
    try:
        decompressor = zstandard.ZstdDecompressor(max_window_size=128 << 20)
        with decompressor.stream_reader(
            io.BytesIO(body), read_across_frames=True, closefd=False
        ) as reader:
            while chunk := reader.read(min(_CHUNK, max_size + 1 - total)):
                total += len(chunk)
                if total > max_size:
                    raise BodyTooLargeError(max_size)
                parts.append(chunk)
    except zstandard.ZstdError as exc:
        raise CorruptBodyError(f"cannot decompress zstd body: {exc}") from exc
    return b"".join(parts)


# --- OTLP/JSON -------------------------------------------------------------------------------
# The OTLP JSON mapping is proto3 JSON except that trace and span ids are hex, not base64.
# Ids sit at fixed places; both the lowerCamelCase and the original field names are accepted.

_ID_LENGTHS = {
    "traceId": 16,
    "trace_id": 16,
    "spanId": 8,
    "span_id": 8,
    "parentSpanId": 8,
    "parent_span_id": 8,
}
_METRIC_KINDS = (
    "gauge",
    "sum",
    "histogram",
    "exponentialHistogram",
    "exponential_histogram",
    "summary",
)


def _items(obj: Any, *keys: str) -> list[Any]:
    """The list under whichever spelling of a key is present (empty when none is a list)."""
    if not isinstance(obj, dict):
        return []
    for key in keys:
        value = obj.get(key)
        if isinstance(value, list):
            return value
    return []


def _hex_ids_to_base64(obj: Any) -> None:
    if not isinstance(obj, dict):
        return
    for key, size in _ID_LENGTHS.items():
        value = obj.get(key)
        if not isinstance(value, str) or not value:
            continue
        try:
            raw = bytes.fromhex(value)
        except ValueError:
            raise PermanentError(f"{key} {value!r} is not hex") from None
        if len(raw) != size:
            raise PermanentError(f"{key} must be {size * 2} hex digits, got {len(value)}")
        obj[key] = base64.b64encode(raw).decode("ascii")


def _walk_ids(signal: Signal, root: Any, convert: Any) -> None:
    if signal is Signal.TRACES:
        for rs in _items(root, "resourceSpans", "resource_spans"):
            for ss in _items(rs, "scopeSpans", "scope_spans"):
                for span in _items(ss, "spans"):
                    convert(span)
                    for link in _items(span, "links"):
                        convert(link)
    elif signal is Signal.LOGS:
        for rl in _items(root, "resourceLogs", "resource_logs"):
            for sl in _items(rl, "scopeLogs", "scope_logs"):
                for record in _items(sl, "logRecords", "log_records"):
                    convert(record)
    else:
        for rm in _items(root, "resourceMetrics", "resource_metrics"):
            for sm in _items(rm, "scopeMetrics", "scope_metrics"):
                for metric in _items(sm, "metrics"):
                    if not isinstance(metric, dict):
                        continue
                    for kind in _METRIC_KINDS:
                        for point in _items(metric.get(kind), "dataPoints", "data_points"):
                            for exemplar in _items(point, "exemplars"):
                                convert(exemplar)


def decode_request(signal: Signal, data: bytes) -> Any:
    """Parse an OTLP/JSON export request; raises PermanentError when it is not one."""
    try:
        root = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise PermanentError(f"invalid JSON: {exc}") from exc
    if not isinstance(root, dict):
        raise PermanentError("an OTLP/JSON request must be a JSON object")
    _walk_ids(signal, root, _hex_ids_to_base64)
    message = request_type(signal)()
    try:
        json_format.ParseDict(root, message, ignore_unknown_fields=True)
    except (json_format.ParseError, ValueError, TypeError) as exc:
        raise PermanentError(f"invalid OTLP/JSON {signal} request: {exc}") from exc
    return message


def _base64_ids_to_hex(obj: Any) -> None:
    if not isinstance(obj, dict):
        return
    for key in ("traceId", "spanId", "parentSpanId"):
        value = obj.get(key)
        if isinstance(value, str) and value:
            try:
                obj[key] = base64.b64decode(value).hex()
            except binascii.Error:  # pragma: no cover - protobuf always writes valid base64
                continue


def encode_message(message: Any) -> bytes:
    """Any protobuf message as proto3 JSON (integer enums, lowerCamelCase keys)."""
    return orjson.dumps(json_format.MessageToDict(message, use_integers_for_enums=True))


def encode_request(message: Any) -> bytes:
    """An export request as OTLP/JSON (hex ids, integer enums)."""
    signal = _SIGNALS[message.DESCRIPTOR.full_name]
    root = json_format.MessageToDict(message, use_integers_for_enums=True)
    _walk_ids(signal, root, _base64_ids_to_hex)
    return orjson.dumps(root)


_SIGNALS = {request_type(s).DESCRIPTOR.full_name: s for s in Signal}
