"""Query-parameter parsing for the query APIs: Go durations, times, tags, and their errors.

Every parser raises :class:`ParamError` (an HTTP 400) with a message naming the parameter, so
each API shapes the same failure its own way (Jaeger v1 ``errors``, v3 ``error``, otlpy's own).
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from typing import Any

import orjson

from otlpy.config.decode import parse_duration

__all__ = [
    "ParamError",
    "parse_attributes",
    "parse_bool",
    "parse_go_duration_ns",
    "parse_int",
    "parse_logfmt",
    "parse_lookback_ns",
    "parse_rfc3339_ns",
    "parse_time_ns",
]

NS_PER_US = 1_000
NS_PER_MS = 1_000_000
NS_PER_S = 1_000_000_000

_RFC3339 = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?([Zz]|[+-]\d\d:\d\d)"
)
_DAYS = re.compile(r"(\d+(?:\.\d*)?)d")


class ParamError(ValueError):
    """A query parameter is missing or malformed (answered with HTTP 400)."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(message)
        self.param = param


def parse_int(value: str, param: str, *, minimum: int | None = None) -> int:
    """A base-10 integer; ``minimum`` bounds it."""
    try:
        number = int(value.strip(), 10)
    except ValueError:
        message = f"unable to parse param '{param}': not an integer: {value!r}"
        raise ParamError(param, message) from None
    if minimum is not None and number < minimum:
        raise ParamError(param, f"param '{param}' must be at least {minimum}, got {number}")
    return number


def parse_bool(value: str, param: str) -> bool:
    """``true``/``false`` (and Go's ``1``, ``t``, ``T``, ``TRUE``...)."""
    lowered = value.strip().lower()
    if lowered in ("1", "t", "true"):
        return True
    if lowered in ("0", "f", "false"):
        return False
    raise ParamError(param, f"unable to parse param '{param}': not a boolean: {value!r}")


def parse_go_duration_ns(value: str, param: str) -> int:
    """A Go duration (``"1.2s"``, ``"150ms"``, ``"1h30m"``) in nanoseconds, as Jaeger's
    ``minDuration``/``maxDuration`` take them."""
    try:
        seconds = parse_duration(value.replace("μs", "us"))
    except ValueError as exc:
        raise ParamError(param, f"unable to parse param '{param}': {exc}") from None
    return round(seconds * NS_PER_S)


def parse_lookback_ns(value: str, param: str = "lookback") -> int | None:
    """A lookback such as ``1h``, ``30m`` or ``2d`` in nanoseconds; ``None`` for ``custom`` or
    empty (the caller gives explicit times)."""
    text = value.strip()
    if text in ("", "custom"):
        return None
    days = 0.0
    match = _DAYS.fullmatch(text)
    if match is not None:
        days, text = float(match.group(1)), ""
    nanos = parse_go_duration_ns(text, param) if text else 0
    total = nanos + round(days * 86400 * NS_PER_S)
    if total <= 0:
        raise ParamError(param, f"param '{param}' must be a positive duration such as '1h'")
    return total


def parse_rfc3339_ns(value: str, param: str) -> int:
    """An RFC 3339 time with up to nanosecond precision, as unix nanoseconds.

    A space where the offset's ``+`` belongs is taken as ``+``: clients that leave the time
    unencoded in the URL (Grafana does) lose the ``+`` to form decoding.
    """
    text = value.strip()
    if len(text) > 6 and text[-6] == " ":
        text = f"{text[:-6]}+{text[-5:]}"
    match = _RFC3339.fullmatch(text)
    if match is None:
        raise ParamError(
            param,
            f"malformed parameter {param}: expected an RFC 3339 time such as "
            f"2024-05-01T10:00:00Z, got {value!r}",
        )
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    fraction = (match.group(7) or "").ljust(9, "0")
    offset = match.group(8)
    try:
        moment = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError as exc:
        raise ParamError(param, f"malformed parameter {param}: {exc}") from None
    seconds = int(moment.timestamp())
    if offset not in ("Z", "z"):
        sign = 1 if offset[0] == "+" else -1
        seconds -= sign * (int(offset[1:3]) * 3600 + int(offset[4:6]) * 60)
    return seconds * NS_PER_S + int(fraction)


def parse_time_ns(value: str, param: str) -> int:
    """otlpy's own APIs: unix nanoseconds, or an RFC 3339 time."""
    text = value.strip()
    if text.lstrip("-").isdigit():
        return int(text)
    return parse_rfc3339_ns(text, param)


def now_ns() -> int:
    return time.time_ns()


def _plain(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    raise TypeError(type(value).__name__)


def parse_logfmt(text: str) -> dict[str, str]:
    """``key=value key2="quoted value"`` pairs (a bare ``key`` means ``key=true``, as in the
    logfmt Grafana and the Jaeger UI use for tags). Raises ValueError when malformed."""
    out: dict[str, str] = {}
    pos = 0
    size = len(text)
    while pos < size:
        while pos < size and text[pos].isspace():
            pos += 1
        if pos >= size:
            break
        start = pos
        while pos < size and not text[pos].isspace() and text[pos] not in '="':
            pos += 1
        key = text[start:pos]
        if not key:
            raise ValueError(f"expected a key at position {start}")
        if pos < size and text[pos] == "=":
            pos += 1
            if pos < size and text[pos] == '"':
                value_chars = []
                pos += 1
                while pos < size and text[pos] != '"':
                    if text[pos] == "\\" and pos + 1 < size:
                        pos += 1
                    value_chars.append(text[pos])
                    pos += 1
                if pos >= size:
                    raise ValueError(f"unterminated quote in the value of {key!r}")
                pos += 1
                out[key] = "".join(value_chars)
            else:
                start = pos
                while pos < size and not text[pos].isspace():
                    pos += 1
                out[key] = text[start:pos]
        elif pos < size and text[pos] == '"':
            raise ValueError(f"unexpected quote at position {pos}")
        else:
            out[key] = "true"
    return out


def parse_attributes(value: str, param: str) -> dict[str, str]:
    """Tags as a JSON object (``{"http.status_code":"200"}``, Jaeger's form) or logfmt
    (``http.status_code=200 error=true``, Grafana's and the Jaeger UI's input form).

    JSON numbers and booleans are taken as their text, since matching is on text values.
    """
    text = value.strip()
    if not text:
        return {}
    if text.startswith("{"):
        try:
            document = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise ParamError(
                param, f"malformed '{param}' parameter, cannot unmarshal JSON: {exc}"
            ) from None
        try:
            return {str(k): _plain(v) for k, v in document.items()}
        except TypeError as exc:
            raise ParamError(
                param, f"malformed '{param}' parameter: values must be strings, not {exc}"
            ) from None
    try:
        return parse_logfmt(text)
    except ValueError as exc:
        raise ParamError(param, f"malformed '{param}' parameter: {exc}") from None
