"""OTLP ``AnyValue`` and attribute lists as plain data: OTLP JSON, text, and search patterns.

The store keeps spans and log records as their serialized protobuf bytes (see ``_schema``), so
attribute equality search looks for the exact bytes an attribute serializes to. Protobuf
encoding by upb is deterministic, so encoding the searched ``KeyValue`` with the same library
gives the same bytes the record holds.

The bytes are stored as text with one code point per byte (latin-1 decoded), which DuckDB
searches directly; patterns are decoded the same way.
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Iterable
from typing import Any

import orjson
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

__all__ = [
    "PROTO_CONTAINS",
    "any_value_json",
    "any_value_plain",
    "any_value_text",
    "attribute_patterns",
    "attributes_json",
    "json_value_text",
]

JSONValue = dict[str, Any]

# SQL: the ``proto`` column holds the pattern given as parameter
PROTO_CONTAINS = "contains(proto, ?)"

_INTEGER = re.compile(r"[+-]?[0-9]+")
_NUMBER = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")


def any_value_json(value: Any) -> JSONValue:
    """``value`` (an ``AnyValue``) in OTLP JSON form, e.g. ``{"intValue": "3"}``."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return {"stringValue": value.string_value}
    if kind == "int_value":
        # proto3 JSON writes 64-bit integers as strings
        return {"intValue": str(value.int_value)}
    if kind == "bool_value":
        return {"boolValue": value.bool_value}
    if kind == "double_value":
        return {"doubleValue": _json_double(value.double_value)}
    if kind == "bytes_value":
        return {"bytesValue": base64.b64encode(value.bytes_value).decode("ascii")}
    if kind == "array_value":
        return {"arrayValue": {"values": [any_value_json(v) for v in value.array_value.values]}}
    if kind == "kvlist_value":
        return {"kvlistValue": {"values": attributes_json(value.kvlist_value.values)}}
    return {}


def _json_double(number: float) -> float | str:
    # JSON has no NaN or infinities; proto3 JSON spells them as strings
    if math.isfinite(number):
        return number
    if math.isnan(number):
        return "NaN"
    return "Infinity" if number > 0 else "-Infinity"


def attributes_json(attributes: Iterable[Any]) -> list[JSONValue]:
    """A repeated ``KeyValue`` field as OTLP JSON: ``[{"key": ..., "value": {...}}, ...]``."""
    return [{"key": kv.key, "value": any_value_json(kv.value)} for kv in attributes]


def any_value_plain(value: JSONValue) -> Any:
    """An OTLP JSON value as a plain Python value (str, bool, int, float, bytes, list, dict)."""
    if "stringValue" in value:
        return value["stringValue"]
    if "intValue" in value:
        return int(value["intValue"])
    if "boolValue" in value:
        return value["boolValue"]
    if "doubleValue" in value:
        return float(value["doubleValue"])
    if "bytesValue" in value:
        return base64.b64decode(value["bytesValue"])
    if "arrayValue" in value:
        return [any_value_plain(v) for v in value["arrayValue"].get("values", [])]
    if "kvlistValue" in value:
        return {
            kv["key"]: any_value_plain(kv["value"]) for kv in value["kvlistValue"].get("values", [])
        }
    return None


def _text_default(obj: Any) -> Any:
    if isinstance(obj, bytes):
        return base64.b64encode(obj).decode("ascii")
    raise TypeError  # pragma: no cover - any_value_plain yields nothing else


def json_value_text(value: JSONValue) -> str:
    """An OTLP JSON value as text: strings as they are, numbers and booleans as written in
    JSON, bytes in base64, arrays and maps as compact JSON."""
    if "stringValue" in value:
        return str(value["stringValue"])
    if "intValue" in value:
        return str(value["intValue"])
    if "boolValue" in value:
        return "true" if value["boolValue"] else "false"
    if "doubleValue" in value:
        return _double_text(float(value["doubleValue"]))
    if "bytesValue" in value:
        return str(value["bytesValue"])
    if not value:
        return ""
    plain = any_value_plain(value)
    return orjson.dumps(plain, default=_text_default, option=orjson.OPT_NON_STR_KEYS).decode()


def any_value_text(value: Any) -> str:
    """``value`` (an ``AnyValue``) as text, the form attribute equality search compares."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return str(value.string_value)
    if kind == "int_value":
        return str(value.int_value)
    if kind == "bool_value":
        return "true" if value.bool_value else "false"
    if kind == "double_value":
        return _double_text(value.double_value)
    return json_value_text(any_value_json(value))


def _double_text(number: float) -> str:
    # Whole numbers print without a fraction, as the Collector's AsString does ("200", not
    # "200.0"), so that searching ``code=200`` finds a double attribute too.
    if number.is_integer() and abs(number) < 1e16:
        return str(int(number))
    return repr(number)


def _varint(number: int) -> bytes:
    out = bytearray()
    while True:
        byte = number & 0x7F
        number >>= 7
        if number:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _candidate_values(text: str) -> list[Any]:
    """Every ``AnyValue`` a searched text may stand for: the string, and the number or
    boolean it spells."""
    candidates = [AnyValue(string_value=text)]
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        candidates.append(AnyValue(bool_value=lowered == "true"))
    if _INTEGER.fullmatch(text):
        integer = int(text)
        if -(2**63) <= integer < 2**63:
            candidates.append(AnyValue(int_value=integer))
    if _NUMBER.fullmatch(text):
        number = float(text)
        if math.isfinite(number):
            candidates.append(AnyValue(double_value=number))
    return candidates


def attribute_patterns(field_number: int, key: str, text: str) -> list[str]:
    """Search patterns for attribute ``key`` equal to ``text`` in a serialized record.

    ``field_number`` is the record's repeated ``attributes`` field (9 in ``Span``, 6 in
    ``LogRecord``). Each pattern is one framed ``KeyValue``, latin-1 decoded as the ``proto``
    column is; a record has the attribute when its bytes contain any of them.
    """
    tag = _varint(field_number << 3 | 2)
    patterns = []
    for value in _candidate_values(text):
        body = KeyValue(key=key, value=value).SerializeToString()
        patterns.append((tag + _varint(len(body)) + body).decode("latin-1"))
    return patterns
