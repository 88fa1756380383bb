"""Converters that parse text into maps and back (JSON, key/value, CSV, regex captures, URL,
base64 and other encodings)."""

from __future__ import annotations

import base64
import binascii
import codecs
import csv
import io
import posixpath
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import orjson

from otlpy.ottl.contexts.common import Getter, TransformContext
from otlpy.ottl.functions.goregex import compile_go
from otlpy.ottl.functions.spec import Param, converter
from otlpy.ottl.values import OttlError, as_string, to_python, type_name

__all__: list[str] = []

Run = Callable[[TransformContext], Any]


def _floats(value: Any) -> Any:
    """JSON numbers become float64, as in the Collector."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return float(value)
    if isinstance(value, dict):
        return {k: _floats(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_floats(v) for v in value]
    return value


@converter("ParseJSON", Param("target", "str"))
def _parse_json(target: Getter) -> Run:
    def run(ctx: TransformContext) -> Any:
        try:
            parsed = orjson.loads(target(ctx))
        except orjson.JSONDecodeError as exc:
            raise OttlError(f"ParseJSON: {exc}") from None
        return _floats(parsed)

    return run


def _split_quoted(text: str, delimiter: str) -> list[str]:
    """Split on ``delimiter`` outside of single or double quotes."""
    parts: list[str] = []
    current: list[str] = []
    quote = ""
    i = 0
    n = len(text)
    step = len(delimiter)
    while i < n:
        ch = text[i]
        if quote:
            if ch == quote:
                quote = ""
            current.append(ch)
            i += 1
        elif ch in "\"'":
            quote = ch
            current.append(ch)
            i += 1
        elif text.startswith(delimiter, i):
            parts.append("".join(current))
            current = []
            i += step
        else:
            current.append(ch)
            i += 1
    if quote:
        raise OttlError(f"cannot split {text!r}: unterminated quote")
    parts.append("".join(current))
    return parts


def _unquote(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1]
    return text


@converter(
    "ParseKeyValue",
    Param("target", "str"),
    Param("delimiter", "lit_str", optional=True),
    Param("pair_delimiter", "lit_str", optional=True),
)
def _parse_key_value(target: Getter, delimiter: str | None, pair_delimiter: str | None) -> Run:
    delim = "=" if delimiter is None else delimiter
    pair = " " if pair_delimiter is None else pair_delimiter
    if not delim or not pair:
        raise OttlError("delimiters cannot be empty")
    if delim == pair:
        raise OttlError("pair delimiter cannot be equal to delimiter")

    def run(ctx: TransformContext) -> Any:
        text = target(ctx)
        if text == "":
            raise OttlError("cannot parse from empty string")
        out: dict[str, Any] = {}
        for part in _split_quoted(text.strip(), pair):
            if not part.strip():
                continue
            key, sep, value = part.partition(delim)
            if not sep:
                raise OttlError(f"cannot split {part!r} into 2 items, got 1 item(s)")
            out[_unquote(key)] = _unquote(value)
        return out

    return run


def _quote_if_needed(text: str, delimiter: str, pair_delimiter: str) -> str:
    if delimiter in text or pair_delimiter in text:
        return '"' + text.replace('"', '\\"') + '"'
    return text


@converter(
    "ToKeyValueString",
    Param("target", "map"),
    Param("delimiter", "lit_str", optional=True),
    Param("pair_delimiter", "lit_str", optional=True),
    Param("sort_output", "lit_bool", optional=True),
)
def _to_key_value_string(
    target: Getter, delimiter: str | None, pair_delimiter: str | None, sort_output: bool | None
) -> Run:
    delim = "=" if delimiter is None else delimiter
    pair = " " if pair_delimiter is None else pair_delimiter
    if delim == pair:
        raise OttlError("pair delimiter cannot be equal to delimiter")

    def run(ctx: TransformContext) -> Any:
        items = list(to_python(target(ctx)).items())
        if sort_output:
            items.sort(key=lambda kv: kv[0])
        return pair.join(
            _quote_if_needed(k, delim, pair) + delim + _quote_if_needed(as_string(v), delim, pair)
            for k, v in items
        )

    return run


_CSV_MODES = ("strict", "lazyQuotes", "ignoreQuotes")


def _csv_row(text: str, delimiter: str, mode: str) -> list[str]:
    if mode == "ignoreQuotes":
        return text.split(delimiter)
    reader = csv.reader(
        io.StringIO(text),
        delimiter=delimiter,
        strict=mode == "strict",
        skipinitialspace=False,
    )
    try:
        rows = [row for row in reader]
    except csv.Error as exc:
        raise OttlError(f"ParseCSV: {exc}") from None
    if not rows:
        return [""]
    # newlines inside the row are part of a field, never row separators
    merged = rows[0]
    for row in rows[1:]:
        if merged:
            merged[-1] += "\n" + (row[0] if row else "")
            merged.extend(row[1:])
    return merged


@converter(
    "ParseCSV",
    Param("target", "str"),
    Param("headers", "str"),
    Param("delimiter", "lit_str", optional=True),
    Param("header_delimiter", "lit_str", optional=True),
    Param("mode", "lit_str", optional=True),
)
def _parse_csv(
    target: Getter,
    headers: Getter,
    delimiter: str | None,
    header_delimiter: str | None,
    mode: str | None,
) -> Run:
    delim = "," if delimiter is None else delimiter
    header_delim = delim if header_delimiter is None else header_delimiter
    parse_mode = mode or "strict"
    if parse_mode not in _CSV_MODES:
        raise OttlError(f"unknown mode: {parse_mode}")
    if len(delim) != 1:
        raise OttlError("'delimiter' must be a single character")
    if len(header_delim) != 1:
        raise OttlError("'headerDelimiter' must be a single character")

    def run(ctx: TransformContext) -> Any:
        names = _csv_row(headers(ctx), header_delim, "lazyQuotes")
        values = _csv_row(target(ctx).strip("\r\n"), delim, parse_mode)
        if len(names) != len(values):
            raise OttlError(f"wrong number of fields: expected {len(names)}, found {len(values)}")
        return dict(zip(names, values, strict=True))

    return run


@converter("ExtractPatterns", Param("target", "str"), Param("pattern", "lit_str"))
def _extract_patterns(target: Getter, pattern: str) -> Run:
    try:
        regex = compile_go(pattern)
    except ValueError as exc:
        raise OttlError(
            f"the pattern supplied to ExtractPatterns is not a valid pattern: {exc}"
        ) from None
    if not any(regex.names):
        raise OttlError("at least 1 named capture group must be supplied in the given regex")
    named = [(i, name) for i, name in enumerate(regex.names, start=1) if name]

    def run(ctx: TransformContext) -> Any:
        match = regex.search(target(ctx))
        if match is None:
            return {}
        return {name: match.group(i) or "" for i, name in named}

    return run


@converter("URL", Param("url_string", "str"))
def _url(target: Getter) -> Run:
    def run(ctx: TransformContext) -> Any:
        original = target(ctx)
        try:
            parts = urlsplit(original)
            port = parts.port
        except ValueError as exc:
            raise OttlError(f"failed to parse URL {original!r}: {exc}") from None
        out: dict[str, Any] = {
            "url.original": original,
            "url.scheme": parts.scheme,
            "url.domain": parts.hostname or "",
            "url.path": parts.path,
        }
        if port is not None:
            out["url.port"] = port
        if parts.query:
            out["url.query"] = parts.query
        if parts.fragment:
            out["url.fragment"] = parts.fragment
        if parts.username is not None:
            out["url.username"] = parts.username
            user_info = parts.username
            if parts.password is not None:
                out["url.password"] = parts.password
                user_info += ":" + parts.password
            out["url.user_info"] = user_info
        extension = posixpath.splitext(parts.path)[1]
        if extension:
            out["url.extension"] = extension[1:]
        return out

    return run


def _std_decode(data: bytes) -> bytes:
    return base64.b64decode(data, validate=True)


def _url_decode(data: bytes) -> bytes:
    return base64.b64decode(data, altchars=b"-_", validate=True)


_BASE64 = {
    "base64": (_std_decode, base64.b64encode, True),
    "base64-raw": (_std_decode, base64.b64encode, False),
    "base64-url": (_url_decode, base64.urlsafe_b64encode, True),
    "base64-raw-url": (_url_decode, base64.urlsafe_b64encode, False),
}


def _b64decode(text: str, variant: str) -> bytes:
    decode, _, padded = _BASE64[variant]
    if not padded:
        if "=" in text:
            raise OttlError(f"illegal base64 data in {text!r}")
        text += "=" * (-len(text) % 4)
    try:
        return bytes(decode(text.encode()))
    except (binascii.Error, ValueError) as exc:
        raise OttlError(f"illegal base64 data: {exc}") from None


@converter("Decode", Param("target", "any"), Param("encoding", "lit_str"))
def _decode(target: Getter, encoding: str) -> Run:
    name = encoding.lower()
    if name not in _BASE64:
        try:
            codecs.lookup(name)
        except LookupError:
            raise OttlError(f"no decoder available for encoding: {encoding}") from None

    def run(ctx: TransformContext) -> Any:
        value = target(ctx)
        if isinstance(value, str):
            data = value.encode() if name not in _BASE64 else value
        elif isinstance(value, bytes):
            data = bytes(value) if name not in _BASE64 else value.decode(errors="replace")
        else:
            raise OttlError(f"unsupported type provided to Decode function: {type_name(value)}")
        if name in _BASE64:
            assert isinstance(data, str)
            return _b64decode(data, name).decode(errors="replace")
        assert isinstance(data, bytes)
        try:
            return data.decode(name)
        except UnicodeDecodeError as exc:
            raise OttlError(f"could not decode: {exc}") from None

    return run


@converter("Base64Decode", Param("target", "str"))
def _base64_decode(target: Getter) -> Run:
    return lambda ctx: _b64decode(target(ctx), "base64").decode(errors="replace")


@converter("Base64Encode", Param("target", "str"), Param("variant", "lit_str", optional=True))
def _base64_encode(target: Getter, variant: str | None) -> Run:
    chosen = variant or "base64"
    if chosen not in _BASE64:
        raise OttlError(f"unsupported base64 variant: {chosen}")
    _, encode, padded = _BASE64[chosen]

    def run(ctx: TransformContext) -> Any:
        text = encode(target(ctx).encode()).decode()
        return text if padded else text.rstrip("=")

    return run
