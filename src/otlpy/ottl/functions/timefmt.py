"""Time text: the ctime-like ``%`` layouts of ``Time``/``FormatTime``, RFC 3339 and Go
durations."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from otlpy.ottl.values import OttlError, Timestamp, unix_nano

__all__ = ["format_time", "load_location", "parse_duration", "parse_time", "rfc3339nano"]

_MONTHS = [
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
]  # fmt: skip
_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
_ALIASES = {
    "D": "%m/%d/%y",
    "x": "%m/%d/%y",
    "F": "%Y-%m-%d",
    "T": "%H:%M:%S",
    "X": "%H:%M:%S",
    "r": "%I:%M:%S %p",
    "R": "%H:%M",
    "c": "%a %b %d %H:%M:%S %Y",
}


def _expand(fmt: str) -> str:
    for _ in range(2):
        fmt = re.sub(r"%([DxFTXrRc])", lambda m: _ALIASES[m.group(1)], fmt)
    return fmt


def _nanos(t: datetime) -> int:
    return unix_nano(t) % 1_000_000_000


def _offset(t: datetime, style: str) -> str:
    delta = t.utcoffset() or timedelta(0)
    total = int(delta.total_seconds())
    sign = "-" if total < 0 else "+"
    total = abs(total)
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    if style == "z":
        return f"{sign}{hours:02d}{minutes:02d}"
    if style == "i":
        return f"{sign}{hours:02d}"
    if style == "j":
        return f"{sign}{hours:02d}:{minutes:02d}"
    if style == "k":
        return f"{sign}{hours:02d}:{minutes:02d}:{seconds:02d}"
    return f"{sign}{hours:02d}{minutes:02d}{seconds:02d}"


def format_time(t: datetime, fmt: str) -> str:
    """Render ``t`` with a ctime-like layout (``%Y-%m-%d %H:%M:%S``...)."""
    fmt = _expand(fmt)
    out: list[str] = []
    i = 0
    while i < len(fmt):
        ch = fmt[i]
        if ch != "%" or i + 1 >= len(fmt):
            out.append(ch)
            i += 1
            continue
        d = fmt[i + 1]
        i += 2
        hour12 = t.hour % 12 or 12
        value = {
            "Y": f"{t.year:04d}",
            "y": f"{t.year % 100:02d}",
            "m": f"{t.month:02d}",
            "o": f"{t.month:2d}",
            "q": str(t.month),
            "b": _MONTHS[t.month - 1][:3],
            "h": _MONTHS[t.month - 1][:3],
            "B": _MONTHS[t.month - 1],
            "d": f"{t.day:02d}",
            "e": f"{t.day:2d}",
            "g": str(t.day),
            "a": _DAYS[t.weekday()][:3],
            "A": _DAYS[t.weekday()],
            "H": f"{t.hour:02d}",
            "I": f"{hour12:02d}",
            "l": str(hour12),
            "p": "AM" if t.hour < 12 else "PM",
            "P": "am" if t.hour < 12 else "pm",
            "M": f"{t.minute:02d}",
            "S": f"{t.second:02d}",
            "L": f"{_nanos(t) // 1_000_000:03d}",
            "f": f"{_nanos(t) // 1000:06d}",
            "s": f"{_nanos(t):09d}",
            "Z": t.tzname() or "UTC",
            "n": "\n",
            "t": "\t",
            "%": "%",
        }.get(d)
        if value is None and d in "zijkw":
            value = _offset(t, d)
        if value is None:
            raise OttlError(f"unsupported time format directive %{d}")
        out.append(value)
    return "".join(out)


_PARSE_PATTERNS = {
    "Y": r"(?P<Y>\d{4})",
    "y": r"(?P<y>\d{2})",
    "m": r"(?P<m>\d{2})",
    "o": r"\s?(?P<m>\d{1,2})",
    "q": r"(?P<m>\d{1,2})",
    "b": r"(?P<b>[A-Za-z]{3})",
    "h": r"(?P<b>[A-Za-z]{3})",
    "B": r"(?P<B>[A-Za-z]+)",
    "d": r"(?P<d>\d{2})",
    "e": r"\s?(?P<d>\d{1,2})",
    "g": r"(?P<d>\d{1,2})",
    "a": r"(?:[A-Za-z]{3})",
    "A": r"(?:[A-Za-z]+)",
    "H": r"(?P<H>\d{2})",
    "I": r"(?P<I>\d{2})",
    "l": r"(?P<I>\d{1,2})",
    "p": r"(?P<p>AM|PM|am|pm)",
    "P": r"(?P<p>am|pm|AM|PM)",
    "M": r"(?P<M>\d{2})",
    "S": r"(?P<S>\d{2})",
    "L": r"(?P<frac>\d{3})",
    "f": r"(?P<frac>\d{6})",
    "s": r"(?P<frac>\d{9})",
    "z": r"(?P<z>Z|[+-]\d{4}(?:\d{2})?)",
    "i": r"(?P<z>Z|[+-]\d{2})",
    "j": r"(?P<z>Z|[+-]\d{2}:\d{2})",
    "k": r"(?P<z>Z|[+-]\d{2}:\d{2}:\d{2})",
    "w": r"(?P<z>Z|[+-]\d{6})",
    "Z": r"(?P<Z>[A-Za-z][A-Za-z0-9+_/-]*)",
    "n": r"\n",
    "t": r"\t",
    "%": "%",
}


def load_location(name: str) -> tzinfo:
    """An IANA time zone (``America/New_York``); ``UTC``/``Local``/empty are UTC."""
    if name in ("", "UTC", "Local"):
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise OttlError(f"unknown time zone {name}") from exc


def _layout_regex(fmt: str) -> re.Pattern[str]:
    fmt = _expand(fmt)
    out: list[str] = []
    i = 0
    seen: set[str] = set()
    while i < len(fmt):
        ch = fmt[i]
        if ch == "%" and i + 1 < len(fmt):
            d = fmt[i + 1]
            piece = _PARSE_PATTERNS.get(d)
            if piece is None:
                raise OttlError(f"unsupported time format directive %{d}")
            name = re.search(r"\?P<(\w+)>", piece)
            if name:
                if name.group(1) in seen:
                    piece = re.sub(r"\?P<\w+>", "?:", piece)
                seen.add(name.group(1))
            out.append(piece)
            i += 2
        else:
            out.append(re.escape(ch))
            i += 1
    return re.compile("".join(out) + r"\Z")


def _month(name: str) -> int:
    for index, month in enumerate(_MONTHS, start=1):
        if month.lower() == name.lower() or month[:3].lower() == name.lower():
            return index
    raise OttlError(f"unknown month {name}")


def parse_time(text: str, fmt: str, location: tzinfo) -> Timestamp:
    """Parse ``text`` with a ctime-like layout; times without an offset are in ``location``."""
    match = _layout_regex(fmt).match(text)
    if match is None:
        raise OttlError(f'parsing time "{text}" as "{fmt}": cannot parse')
    g = match.groupdict()
    year = int(g["Y"]) if g.get("Y") else (2000 + int(g["y"]) if g.get("y") else 0)
    if g.get("y") and int(g["y"]) >= 69:
        year -= 100
    if g.get("m"):
        month = int(g["m"])
    elif g.get("b"):
        month = _month(g["b"])
    elif g.get("B"):
        month = _month(g["B"])
    else:
        month = 1
    day = int(g["d"]) if g.get("d") else 1
    hour = int(g["H"]) if g.get("H") else 0
    if g.get("I"):
        hour = int(g["I"]) % 12
        if (g.get("p") or "").lower() == "pm":
            hour += 12
    minute = int(g["M"]) if g.get("M") else 0
    second = int(g["S"]) if g.get("S") else 0
    frac = g.get("frac") or ""
    nanos = int(frac.ljust(9, "0")) if frac else 0
    tz: tzinfo = location
    if g.get("z"):
        z = g["z"]
        if z == "Z":
            tz = UTC
        else:
            digits = z[1:].replace(":", "")
            hours = int(digits[0:2])
            minutes = int(digits[2:4] or 0)
            seconds = int(digits[4:6] or 0)
            offset = timedelta(hours=hours, minutes=minutes, seconds=seconds)
            tz = timezone(-offset if z[0] == "-" else offset)
    elif g.get("Z"):
        name = g["Z"]
        if name in ("UTC", "GMT", "Z"):
            tz = UTC
        else:
            try:
                tz = ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                # Go records an unknown abbreviation as a zone with a zero offset
                tz = timezone(timedelta(0), name)
    try:
        moment = datetime(max(year, 1), month, day, hour, minute, second, tzinfo=tz)
    except ValueError as exc:
        raise OttlError(f'parsing time "{text}": {exc}') from None
    return Timestamp.from_unix_nano(unix_nano(moment) + nanos, tz)


def rfc3339nano(t: datetime) -> str:
    """Go's ``time.RFC3339Nano`` form (trailing zeros of the fraction dropped)."""
    nanos = _nanos(t)
    base = t.strftime("%Y-%m-%dT%H:%M:%S")
    frac = f".{nanos:09d}".rstrip("0") if nanos else ""
    offset = t.utcoffset()
    if not offset:
        return f"{base}{frac}Z"
    return f"{base}{frac}{_offset(t, 'j')}"


_DURATION_UNITS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "μs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}
_DURATION_PART = re.compile(r"(\d*\.?\d*)(ns|us|µs|μs|ms|s|m|h)")


def parse_duration(text: str) -> int:
    """Go's ``time.ParseDuration``: nanoseconds in ``"1h30m"``, ``"-1.5s"``, ``"0"``."""
    original = text
    sign = 1
    if text and text[0] in "+-":
        sign = -1 if text[0] == "-" else 1
        text = text[1:]
    if text == "0":
        return 0
    if not text:
        raise OttlError(f'time: invalid duration "{original}"')
    total = 0
    pos = 0
    while pos < len(text):
        m = _DURATION_PART.match(text, pos)
        if m is None or m.group(1) in ("", "."):
            raise OttlError(f'time: invalid duration "{original}"')
        number = m.group(1)
        unit = _DURATION_UNITS[m.group(2)]
        whole, _, frac = number.partition(".")
        total += int(whole or 0) * unit
        if frac:
            total += int(frac) * unit // 10 ** len(frac)
        pos = m.end()
    return sign * total
