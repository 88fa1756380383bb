"""Turn plain YAML data into frozen config dataclasses, collecting every problem.

A component's config is a frozen, keyword-only dataclass whose fields carry their defaults.
:func:`decode` walks the data against the dataclass's type hints, reports each unknown key,
wrong type or bad value with its dotted path, and then calls the dataclass's ``validate()``
(when it has one), which returns more problems with paths relative to the dataclass.

Supported field types: ``str``, ``int``, ``float``, ``bool``, :data:`Duration` (seconds, from
Go-style strings such as ``"5s"`` or ``"1m30s"``), :data:`ByteSize` (bytes, from ``"4MiB"``),
``Literal[...]``, ``X | None``, ``list[X]``, ``tuple[X, ...]``, ``dict[str, X]``, nested
dataclasses and ``Any``. A field's YAML key is its name unless ``metadata={"key": ...}`` says
otherwise; ``metadata={"null": "defaults"}`` on an optional dataclass field makes a key given
with no value mean "present, with defaults" instead of "absent".
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Mapping
from functools import cache
from typing import Annotated, Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

from otlpy.errors import ConfigProblem

__all__ = ["ByteSize", "Duration", "decode", "join_path", "parse_byte_size", "parse_duration"]

T = TypeVar("T")


class _DurationMarker:
    pass


class _ByteSizeMarker:
    pass


#: A duration in seconds; YAML gives it as a Go duration string ("200ms", "5s", "1h30m").
Duration = Annotated[float, _DurationMarker()]
#: A size in bytes; YAML gives it as an integer or a string with a unit ("512KiB", "4MB").
ByteSize = Annotated[int, _ByteSizeMarker()]

_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_DURATION_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]i?b?|b)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "kib": 1024,
    "ki": 1024,
    "m": 1000**2,
    "mb": 1000**2,
    "mib": 1024**2,
    "mi": 1024**2,
    "g": 1000**3,
    "gb": 1000**3,
    "gib": 1024**3,
    "gi": 1024**3,
    "t": 1000**4,
    "tb": 1000**4,
    "tib": 1024**4,
    "ti": 1024**4,
}


def parse_duration(value: object) -> float:
    """Parse a Go-style duration into seconds; raises ``ValueError``.

    Bare ``0`` is accepted (the Collector's configs use it for "no limit"); other bare numbers
    are refused because Go reads them as nanoseconds, which is never what was meant.
    """
    if isinstance(value, bool):
        raise ValueError("expected a duration such as '5s', got a boolean")
    if isinstance(value, int | float):
        if value == 0:
            return 0.0
        raise ValueError(f"a duration needs a unit, e.g. '{value}s' or '{value}ms'")
    if not isinstance(value, str):
        raise ValueError(f"expected a duration such as '5s', got {type(value).__name__}")
    text = value.strip()
    sign = 1.0
    if text.startswith("-"):
        sign, text = -1.0, text[1:]
    if text == "0":
        return 0.0
    pos, total = 0, 0.0
    while pos < len(text):
        match = _DURATION_PART.match(text, pos)
        if match is None:
            raise ValueError(f"invalid duration {value!r} (use e.g. '200ms', '5s', '1m30s')")
        total += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
        pos = match.end()
    if pos == 0:
        raise ValueError(f"invalid duration {value!r} (use e.g. '200ms', '5s', '1m30s')")
    return sign * total


def parse_byte_size(value: object) -> int:
    """Parse a size in bytes (``1048576``, ``"512KiB"``, ``"4MB"``); raises ``ValueError``."""
    if isinstance(value, bool):
        raise ValueError("expected a size, got a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        match = _SIZE_RE.match(value)
        if match:
            unit = (match.group(2) or "").lower()
            return int(float(match.group(1)) * _SIZE_UNITS[unit])
    raise ValueError(f"invalid size {value!r} (use e.g. 1048576, '512KiB', '4MiB')")


def join_path(base: str, key: object) -> str:
    if isinstance(key, int):
        return f"{base}[{key}]"
    return f"{base}.{key}" if base else str(key)


def _type_name(tp: Any) -> str:
    origin = get_origin(tp)
    if origin is Annotated:
        marker = get_args(tp)[1]
        return "duration" if isinstance(marker, _DurationMarker) else "size"
    if origin is Literal:
        return " | ".join(repr(a) for a in get_args(tp))
    if origin in (Union, types.UnionType):
        return " | ".join(_type_name(a) for a in get_args(tp))
    if origin is not None:
        return getattr(origin, "__name__", str(origin))
    if tp is type(None):
        return "null"
    if dataclasses.is_dataclass(tp):
        return "mapping"
    return getattr(tp, "__name__", str(tp))


@cache
def _hints(cls: Any) -> dict[str, Any]:
    return get_type_hints(cls, include_extras=True)


def _yaml_key(f: dataclasses.Field[Any]) -> str:
    return str(f.metadata.get("key", f.name))


def decode(tp: Any, data: Any, path: str = "") -> tuple[Any, list[ConfigProblem]]:
    """Decode ``data`` as type ``tp``; returns ``(value, problems)``.

    When problems are found the value is best effort (defaults stand in for bad fields) so that
    checks further on can still run and report their own problems.
    """
    problems: list[ConfigProblem] = []
    value = _decode(tp, data, path, problems)
    return value, problems


def _decode(tp: Any, data: Any, path: str, problems: list[ConfigProblem]) -> Any:
    if tp is Any or tp is object:
        return data
    origin = get_origin(tp)
    if origin is Annotated:
        base, marker = get_args(tp)[:2]
        parser = parse_duration if isinstance(marker, _DurationMarker) else parse_byte_size
        try:
            return parser(data)
        except ValueError as exc:
            problems.append(ConfigProblem(path, str(exc)))
            return base()
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if data is None and type(None) in args:
            return None
        candidates = [a for a in args if a is not type(None)]
        last: list[ConfigProblem] = []
        for candidate in candidates:
            attempt: list[ConfigProblem] = []
            value = _decode(candidate, data, path, attempt)
            if not attempt:
                return value
            last = attempt
        if len(candidates) == 1:
            problems.extend(last)
        else:
            problems.append(
                ConfigProblem(path, f"expected {_type_name(tp)}, got {_describe(data)}")
            )
        return None
    if origin is Literal:
        choices = get_args(tp)
        if data in choices and type(data) in {type(c) for c in choices}:
            return data
        if isinstance(data, str) and data.lower() in choices:
            return data.lower()
        problems.append(
            ConfigProblem(path, f"must be one of {', '.join(map(repr, choices))}; got {data!r}")
        )
        return choices[0]
    if origin in (list, tuple, typing.Sequence):
        (item_tp, *_) = get_args(tp) or (Any,)
        if data is None:
            return () if origin is tuple else []
        if not isinstance(data, list):
            problems.append(ConfigProblem(path, f"expected a list, got {_describe(data)}"))
            return () if origin is tuple else []
        items = [
            _decode(item_tp, item, join_path(path, i), problems) for i, item in enumerate(data)
        ]
        return tuple(items) if origin is tuple else items
    if origin in (dict, Mapping, typing.Mapping):
        value_tp = (get_args(tp) or (str, Any))[1]
        if data is None:
            return {}
        if not isinstance(data, dict):
            problems.append(ConfigProblem(path, f"expected a mapping, got {_describe(data)}"))
            return {}
        return {str(k): _decode(value_tp, v, join_path(path, k), problems) for k, v in data.items()}
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return _decode_dataclass(tp, data, path, problems)
    return _decode_scalar(tp, data, path, problems)


def _describe(data: Any) -> str:
    if data is None:
        return "null"
    if isinstance(data, dict):
        return "a mapping"
    if isinstance(data, list):
        return "a list"
    return f"{type(data).__name__} {data!r}"


def _decode_scalar(tp: Any, data: Any, path: str, problems: list[ConfigProblem]) -> Any:
    if tp is bool:
        if isinstance(data, bool):
            return data
    elif tp is int:
        if isinstance(data, int) and not isinstance(data, bool):
            return data
    elif tp is float:
        if isinstance(data, int | float) and not isinstance(data, bool):
            return float(data)
    elif tp is str:
        if isinstance(data, str):
            return data
        # YAML turns unquoted numbers into ints: a string field may take them as text, as the
        # Collector's loader does for e.g. header values.
        if isinstance(data, int | float) and not isinstance(data, bool):
            return str(data)
    elif isinstance(tp, type) and isinstance(data, tp):
        return data
    problems.append(ConfigProblem(path, f"expected {_type_name(tp)}, got {_describe(data)}"))
    try:
        return tp()
    except Exception:
        return None


def _decode_dataclass(cls: Any, data: Any, path: str, problems: list[ConfigProblem]) -> Any:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        problems.append(ConfigProblem(path, f"expected a mapping, got {_describe(data)}"))
        data = {}
    hints = _hints(cls)
    fields = {_yaml_key(f): f for f in dataclasses.fields(cls) if f.init}
    kwargs: dict[str, Any] = {}
    for key, raw in data.items():
        f = fields.get(str(key))
        if f is None:
            allowed = ", ".join(sorted(fields)) or "none"
            problems.append(
                ConfigProblem(join_path(path, key), f"unknown key (allowed keys: {allowed})")
            )
            continue
        before = len(problems)
        field_type = hints[f.name]
        if raw is None and f.metadata.get("null") == "defaults":
            # ``key:`` with no value means "present, with defaults" (e.g. ``grpc:`` turning a
            # protocol on), not "absent".
            field_type = next(a for a in get_args(field_type) if a is not type(None))
        value = _decode(field_type, raw, join_path(path, key), problems)
        if len(problems) == before:
            kwargs[f.name] = value
    try:
        obj = cls(**kwargs)
    except TypeError as exc:  # a required field is missing
        problems.append(ConfigProblem(path, str(exc)))
        return None
    validate = getattr(obj, "validate", None)
    if callable(validate):
        for problem in validate():
            where = join_path(path, problem.path) if problem.path else path
            problems.append(ConfigProblem(where, problem.message))
    return obj
