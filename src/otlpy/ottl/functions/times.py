"""Time and duration converters: ``Time``, ``Now``, ``Duration``, ``FormatTime``, ``Unix*``,
the calendar parts (``Hour``...) and duration units (``Seconds``...)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from otlpy.ottl.contexts.common import Getter, TransformContext
from otlpy.ottl.functions.spec import Param, converter
from otlpy.ottl.functions.timefmt import format_time, load_location, parse_duration, parse_time
from otlpy.ottl.values import Duration, OttlError, Timestamp, duration_ns, unix_nano

__all__: list[str] = []

Run = Callable[[TransformContext], Any]


@converter(
    "Time",
    Param("time", "str"),
    Param("format", "lit_str"),
    Param("location", "lit_str", optional=True),
    Param("locale", "lit_str", optional=True),
)
def _time(target: Getter, fmt: str, location: str | None, locale: str | None) -> Run:
    if fmt == "":
        raise OttlError("format cannot be nil")
    zone = load_location(location or "")
    if locale not in (None, "", "en", "en-US", "en_US"):
        raise OttlError(f"unsupported locale {locale}: only English month and day names are known")
    return lambda ctx: parse_time(target(ctx), fmt, zone)


@converter("FormatTime", Param("time", "time"), Param("format", "lit_str"))
def _format_time(target: Getter, fmt: str) -> Run:
    if fmt == "":
        raise OttlError("format cannot be nil")
    return lambda ctx: format_time(target(ctx), fmt)


@converter("Now", pure=False)
def _now() -> Run:
    return lambda ctx: Timestamp.from_unix_nano(time.time_ns())


@converter("Duration", Param("duration", "str"))
def _duration(target: Getter) -> Run:
    return lambda ctx: Duration.from_ns(parse_duration(target(ctx)))


@converter("TruncateTime", Param("time", "time"), Param("duration", "duration"))
def _truncate_time(target: Getter, duration: Getter) -> Run:
    def run(ctx: TransformContext) -> Any:
        moment: datetime = target(ctx)
        step = duration_ns(duration(ctx))
        ns = unix_nano(moment)
        if step <= 0:
            return Timestamp.from_unix_nano(ns, moment.tzinfo)
        # Go truncates relative to year 1, a whole number of days before the Unix epoch
        zero = -62135596800 * 1_000_000_000
        return Timestamp.from_unix_nano(ns - (ns - zero) % step, moment.tzinfo)

    return run


@converter("Unix", Param("seconds", "int"), Param("nanoseconds", "int", optional=True))
def _unix(seconds: Getter, nanoseconds: Getter | None) -> Run:
    def run(ctx: TransformContext) -> Any:
        extra = 0 if nanoseconds is None else nanoseconds(ctx)
        return Timestamp.from_unix_nano(seconds(ctx) * 1_000_000_000 + extra)

    return run


def _since_epoch(divisor: int) -> Callable[[Getter], Run]:
    def factory(target: Getter) -> Run:
        def run(ctx: TransformContext) -> Any:
            ns = unix_nano(target(ctx))
            quotient = abs(ns) // divisor
            return quotient if ns >= 0 else -quotient

        return run

    return factory


for _name, _divisor in (
    ("UnixNano", 1),
    ("UnixMicro", 1_000),
    ("UnixMilli", 1_000_000),
    ("UnixSeconds", 1_000_000_000),
):
    converter(_name, Param("time", "time"))(_since_epoch(_divisor))


def _part(read: Callable[[datetime], int]) -> Callable[[Getter], Run]:
    def factory(target: Getter) -> Run:
        return lambda ctx: read(target(ctx))

    return factory


for _name, _read in (
    ("Year", lambda t: t.year),
    ("Month", lambda t: t.month),
    ("Day", lambda t: t.day),
    ("Hour", lambda t: t.hour),
    ("Minute", lambda t: t.minute),
    ("Second", lambda t: t.second),
    ("Nanosecond", lambda t: unix_nano(t) % 1_000_000_000),
    ("Weekday", lambda t: (t.weekday() + 1) % 7),
):
    converter(_name, Param("value", "time"))(_part(_read))


def _unit(divisor: int, as_float: bool) -> Callable[[Getter], Run]:
    def factory(target: Getter) -> Run:
        def run(ctx: TransformContext) -> Any:
            ns = duration_ns(target(ctx))
            if as_float:
                return ns / divisor
            quotient = abs(ns) // divisor
            return quotient if ns >= 0 else -quotient

        return run

    return factory


for _name, _divisor, _float in (
    ("Hours", 3_600_000_000_000, True),
    ("Minutes", 60_000_000_000, True),
    ("Seconds", 1_000_000_000, True),
    ("Milliseconds", 1_000_000, False),
    ("Microseconds", 1_000, False),
    ("Nanoseconds", 1, False),
):
    converter(_name, Param("value", "duration"))(_unit(_divisor, _float))
