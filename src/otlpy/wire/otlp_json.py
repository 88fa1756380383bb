"""OTLP/JSON: decode export requests to protobuf, encode them back, fast and by the spec.

::

    message = decode_request(Signal.TRACES, body)      # an ExportTraceServiceRequest
    raw = json_to_protobuf(Signal.TRACES, body)        # the same, as protobuf bytes
    body = encode_request(message)                     # compact UTF-8 OTLP/JSON
    body = protobuf_to_json(Signal.TRACES, raw)        # the same, from protobuf bytes

Decoding follows the OTLP specification's JSON mapping and what the Collector accepts:
lowerCamelCase keys (the original snake_case names too), hex trace/span ids in any case (an
empty string is an absent id), enums as integers or names, 64-bit integers as strings or numbers,
``"NaN"``/``"Infinity"``/``"-Infinity"`` doubles, base64 bytes, unknown keys ignored. Anything
else is a :class:`~otlpy.errors.PermanentError` naming the JSON path of the bad value.

Encoding writes lowerCamelCase keys, lowercase hex ids, integer enums, 64-bit integers as decimal
strings, and omits fields holding their default value. It reads the serialized protobuf
(:mod:`otlpy.wire.protobuf_json`) when that reader runs compiled, which is much faster than reading
a message's fields from Python: a message is serialized first (in C), and bytes at hand are used
as they are. As pure Python the field reader (:mod:`otlpy.wire.json_encoder`) is faster, and used.
"""

from __future__ import annotations

from typing import Any, Final

import orjson
from google.protobuf.message import DecodeError

from otlpy.errors import PermanentError
from otlpy.pdata import Signal, request_type
from otlpy.wire import _compiled
from otlpy.wire.json_decoder import JsonProblem, encode_json_object, table_for
from otlpy.wire.json_encoder import converter_for
from otlpy.wire.protobuf_json import schema_for, to_json_dict

__all__ = [
    "decode_request",
    "encode_request",
    "encode_request_to_dict",
    "json_to_protobuf",
    "protobuf_to_json",
]


def json_to_protobuf(signal: Signal, data: bytes | bytearray | memoryview | str) -> bytes:
    """The protobuf encoding of the OTLP/JSON export request ``data`` of ``signal``.

    Raises :class:`PermanentError` when ``data`` is not valid JSON or not a valid request.
    """
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise PermanentError(f"invalid JSON in {signal} export request: {exc}") from exc
    if type(document) is not dict:
        raise PermanentError(f"a {signal} export request must be a JSON object")
    table = table_for(request_type(signal).DESCRIPTOR)
    try:
        return bytes(encode_json_object(table, document))
    except JsonProblem as problem:
        raise PermanentError(
            f"invalid {signal} export request at {problem.where()}: {problem.message}"
        ) from problem
    except RecursionError as exc:
        raise PermanentError(f"{signal} export request is nested too deeply") from exc


def decode_request(signal: Signal, data: bytes | bytearray | memoryview | str) -> Any:
    """Decode the OTLP/JSON export request ``data`` of ``signal`` to its protobuf message.

    Raises :class:`PermanentError` when ``data`` is not valid JSON or not a valid request.
    """
    raw = json_to_protobuf(signal, data)
    message = request_type(signal)()
    try:
        message.ParseFromString(raw)
    except DecodeError as exc:  # e.g. values nested deeper than protobuf's recursion limit
        raise PermanentError(f"cannot decode {signal} export request: {exc}") from exc
    return message


def _dict_by_reading_bytes(message: Any) -> dict[str, Any]:
    descriptor = message.DESCRIPTOR
    try:
        return to_json_dict(schema_for(descriptor), message.SerializeToString())
    except PermanentError:
        # A message's own bytes are always well formed, but one built in Python can nest deeper
        # than protobuf's parser (and so the byte reader) accepts: read its fields instead.
        return converter_for(descriptor)(message)


def _dict_by_reading_fields(message: Any) -> dict[str, Any]:
    return converter_for(message.DESCRIPTOR)(message)


def _json_by_reading_bytes(signal: Signal, data: bytes | bytearray | memoryview) -> bytes:
    try:
        tree = to_json_dict(schema_for(request_type(signal).DESCRIPTOR), data)
    except PermanentError as exc:
        raise PermanentError(f"cannot encode {signal} export request as JSON: {exc}") from exc
    return orjson.dumps(tree)


def _json_by_reading_fields(signal: Signal, data: bytes | bytearray | memoryview) -> bytes:
    message = request_type(signal)()
    try:
        message.ParseFromString(data)
    except DecodeError as exc:
        raise PermanentError(f"cannot encode {signal} export request as JSON: {exc}") from exc
    return orjson.dumps(converter_for(message.DESCRIPTOR)(message))


# Compiled, the byte reader is 2-3x faster than reading a message's fields from Python; run as
# pure Python it is about a quarter slower, so the field reader stays in use there.
_BYTE_READER_COMPILED: Final = _compiled.is_compiled("otlpy.wire.protobuf_json")
_to_dict: Final = _dict_by_reading_bytes if _BYTE_READER_COMPILED else _dict_by_reading_fields
_to_json: Final = _json_by_reading_bytes if _BYTE_READER_COMPILED else _json_by_reading_fields


def encode_request_to_dict(message: Any) -> dict[str, Any]:
    """The OTLP/JSON form of ``message`` as plain dicts and lists.

    Parts of the result are shared with a cache: treat it as read-only.
    """
    return _to_dict(message)


def encode_request(message: Any) -> bytes:
    """``message`` (any OTLP message, usually an ``Export*ServiceRequest``) as compact OTLP/JSON."""
    return orjson.dumps(_to_dict(message))


def protobuf_to_json(signal: Signal, data: bytes | bytearray | memoryview) -> bytes:
    """The serialized export request ``data`` of ``signal`` as compact OTLP/JSON.

    The same as ``encode_request(request_type(signal).FromString(data))``, without building the
    message (when the byte reader is compiled). Raises :class:`PermanentError` when ``data`` is
    not a valid serialized message.
    """
    return _to_json(signal, data)
