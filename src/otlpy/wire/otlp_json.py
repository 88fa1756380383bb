"""OTLP/JSON: decode export requests to protobuf, encode them back, fast and by the spec.

::

    message = decode_request(Signal.TRACES, body)      # an ExportTraceServiceRequest
    raw = json_to_protobuf(Signal.TRACES, body)        # the same, as protobuf bytes
    body = encode_request(message)                     # compact UTF-8 OTLP/JSON

Decoding follows the OTLP specification's JSON mapping and what the Collector accepts:
lowerCamelCase keys (the original snake_case names too), hex trace/span ids in any case (an
empty string is an absent id), enums as integers or names, 64-bit integers as strings or numbers,
``"NaN"``/``"Infinity"``/``"-Infinity"`` doubles, base64 bytes, unknown keys ignored. Anything
else is a :class:`~otlpy.errors.PermanentError` naming the JSON path of the bad value.

Encoding writes lowerCamelCase keys, lowercase hex ids, integer enums, 64-bit integers as decimal
strings, and omits fields holding their default value.
"""

from __future__ import annotations

from typing import Any

import orjson
from google.protobuf.message import DecodeError

from otlpy.errors import PermanentError
from otlpy.pdata import Signal, request_type
from otlpy.wire.json_decoder import JsonProblem, encode_json_object, table_for
from otlpy.wire.json_encoder import converter_for

__all__ = ["decode_request", "encode_request", "encode_request_to_dict", "json_to_protobuf"]


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


def encode_request_to_dict(message: Any) -> dict[str, Any]:
    """The OTLP/JSON form of ``message`` as plain dicts and lists.

    Parts of the result are shared with a cache: treat it as read-only.
    """
    return converter_for(message.DESCRIPTOR)(message)


def encode_request(message: Any) -> bytes:
    """``message`` (any OTLP message, usually an ``Export*ServiceRequest``) as compact OTLP/JSON."""
    return orjson.dumps(converter_for(message.DESCRIPTOR)(message))
