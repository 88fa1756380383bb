"""How OTTL functions declare their parameters, and the typed getters those declare.

A function is a :class:`FunctionDef`: a name, typed :class:`Param`\\ s and a factory. At compile
time each argument is turned into what its parameter kind asks for (a getter that checks or
converts the value's type, a literal, a path's getter/setter pair, another function), and the
factory is called once with them, positionally, to build the closure that runs per item.

Parameter kinds mirror the Collector's argument types:

===============  ===========================================================
``any``          ``Getter``: any value
``getsetter``    ``GetSetter``: a path that is read and written
``str``          ``StringGetter``: must be a string
``str_like``     ``StringLikeGetter``: converted to a string (None stays None)
``int``          ``IntGetter``;          ``int_like``: ``IntLikeGetter``
``float``        ``FloatGetter``;        ``float_like``: ``FloatLikeGetter``
``bool``         ``BoolGetter``;         ``bool_like``: ``BoolLikeGetter``
``bytes_like``   ``ByteSliceLikeGetter``
``map``          ``PMapGetter``: a map (live view or dict)
``time``         ``TimeGetter``;         ``duration``: ``DurationGetter``
``lit_str``      a string literal (``lit_int``, ``lit_float``, ``lit_bool`` alike)
``lit_list_str`` a list literal of strings (``[]string``)
``enum``         an enum symbol, as its int
``func``         a converter passed by name (``FunctionGetter``)
``list:KIND``    a list literal whose items are each of getter kind ``KIND``
===============  ===========================================================
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson

from otlpy.ottl.contexts.common import Getter, TransformContext
from otlpy.ottl.values import (
    OttlError,
    PMap,
    ProfileID,
    PSlice,
    SpanID,
    TraceID,
    as_string,
    duration_ns,
    format_float,
    to_python,
    type_name,
)

__all__ = [
    "FUNCTIONS",
    "FunctionDef",
    "Param",
    "converter",
    "editor",
    "typed_getter",
]

Factory = Callable[..., Callable[[TransformContext], Any]]


@dataclass(frozen=True, slots=True)
class Param:
    """One parameter: its name (as written in named arguments), kind and optionality."""

    name: str
    kind: str
    optional: bool = False


@dataclass(frozen=True, slots=True)
class FunctionDef:
    """An editor or converter: how to bind its arguments and build it."""

    name: str
    params: tuple[Param, ...]
    factory: Factory
    pure: bool = True
    contexts: frozenset[str] | None = None
    aliases: dict[str, str] = field(default_factory=dict)

    @property
    def is_editor(self) -> bool:
        return self.name[0].islower()


FUNCTIONS: dict[str, FunctionDef] = {}


def _register(
    name: str, params: tuple[Param, ...], pure: bool, contexts: frozenset[str] | None
) -> Callable[[Factory], Factory]:
    def wrap(factory: Factory) -> Factory:
        FUNCTIONS[name] = FunctionDef(name, params, factory, pure, contexts)
        return factory

    return wrap


def editor(name: str, *params: Param) -> Callable[[Factory], Factory]:
    """Register an editor (lowercase name; changes telemetry)."""
    return _register(name, params, False, None)


def converter(
    name: str, *params: Param, pure: bool = True, contexts: frozenset[str] | None = None
) -> Callable[[Factory], Factory]:
    """Register a converter (capitalised name; returns a value). ``pure`` converters with
    constant arguments are evaluated once at compile time."""
    return _register(name, params, pure, contexts)


# -- typed getters ---------------------------------------------------------------------------


def _json_default(value: Any) -> Any:
    if isinstance(value, TraceID | SpanID | ProfileID):
        return list(value)
    if isinstance(value, bytes):
        import base64

        return base64.b64encode(value).decode()
    if isinstance(value, PMap | PSlice):
        return to_python(value)
    if isinstance(value, datetime):
        from otlpy.ottl.functions.timefmt import rfc3339nano

        return rfc3339nano(value)
    if isinstance(value, timedelta):
        return duration_ns(value)
    raise TypeError(type_name(value))


def go_json(value: Any) -> str:
    """``json.Marshal`` of a value as the Collector writes it in string conversions."""
    if isinstance(value, float):
        return _go_json_float(value)
    try:
        return orjson.dumps(to_python(value), default=_json_default).decode()
    except TypeError as exc:
        raise OttlError(f"unsupported type: {type_name(value)}") from exc


def _go_json_float(value: float) -> str:
    if math.isnan(value) or math.isinf(value):
        raise OttlError(f"unsupported value: {value}")
    if value != 0 and (abs(value) < 1e-6 or abs(value) >= 1e21):
        text = f"{value:e}"
        mantissa, exponent = repr(value).split("e") if "e" in repr(value) else (text, "")
        if not exponent:
            mantissa, exponent = text.split("e")
        sign = "-" if exponent.startswith("-") else "+"
        digits = exponent.lstrip("+-").lstrip("0") or "0"
        if len(digits) == 1:
            digits = "0" + digits
        return f"{mantissa}e{sign}{digits}"
    return format_float(value)


def string_like(value: Any) -> str | None:
    """``StringLikeGetter``: strings as they are, bytes as hex, maps and slices as JSON,
    anything else as its JSON form."""
    if value is None or type(value) is str:
        return value
    if type(value) is bytes:
        return value.hex()
    if isinstance(value, PMap | PSlice):
        return as_string(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return go_json(value)


def int_like(value: Any) -> int | None:
    """``IntLikeGetter``: floats truncated, strings parsed (None when they do not parse)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise OttlError(f"unsupported value: {value}")
        return int(value)
    if isinstance(value, str):
        if _INT_TEXT.fullmatch(value) is None:
            return None
        number = int(value)
        return number if -(2**63) <= number < 2**63 else None
    raise OttlError(f"unsupported type: {type_name(value)}")


_INT_TEXT = re.compile(r"[+-]?[0-9]+")


def float_like(value: Any) -> float | None:
    """``FloatLikeGetter``: ints and bools widened, strings parsed (None when they fail)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            if "_" in value:
                return None
            return float(value)
        except ValueError:
            return None
    raise OttlError(f"unsupported type: {type_name(value)}")


_TRUE = {"1", "t", "T", "true", "TRUE", "True"}
_FALSE = {"0", "f", "F", "false", "FALSE", "False"}


def bool_like(value: Any) -> bool | None:
    """``BoolLikeGetter``: numbers are true when non-zero, strings parsed like Go."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, str):
        if value in _TRUE:
            return True
        if value in _FALSE:
            return False
        raise OttlError(f"invalid bool value: {value}")
    raise OttlError(f"unsupported type: {type_name(value)}")


def bytes_like(value: Any) -> bytes | None:
    """``ByteSliceLikeGetter``: strings as UTF-8, numbers as 8 big-endian bytes."""
    import struct

    if value is None:
        return None
    if isinstance(value, bytes):
        return bytes(value)
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, bool):
        return b"\x01" if value else b"\x00"
    if isinstance(value, int):
        return struct.pack(">q", value)
    if isinstance(value, float):
        return struct.pack(">d", value)
    raise OttlError(f"unsupported type: {type_name(value)}")


def _strict(check: Callable[[Any], bool], label: str) -> Callable[[Any], Any]:
    def convert(value: Any) -> Any:
        if check(value):
            return value
        raise OttlError(f"expected {label} but got {type_name(value)}")

    return convert


CONVERSIONS: dict[str, Callable[[Any], Any]] = {
    "str": _strict(lambda v: type(v) is str, "string"),
    "int": _strict(lambda v: type(v) is int, "int64"),
    "float": _strict(lambda v: type(v) is float, "float64"),
    "bool": _strict(lambda v: type(v) is bool, "bool"),
    "map": _strict(lambda v: isinstance(v, PMap | dict), "pcommon.Map"),
    "time": _strict(lambda v: isinstance(v, datetime), "time.Time"),
    "duration": _strict(lambda v: isinstance(v, timedelta), "time.Duration"),
    "str_like": string_like,
    "int_like": int_like,
    "float_like": float_like,
    "bool_like": bool_like,
    "bytes_like": bytes_like,
}


def typed_getter(kind: str, get: Getter) -> Getter:
    """Wrap ``get`` so it returns values of the parameter kind ``kind`` (or raises)."""
    if kind == "any":
        return get
    convert = CONVERSIONS[kind]
    constant = getattr(get, "ottl_constant", None)
    if constant is not None:
        try:
            converted = convert(constant[0])
        except (OttlError, ValueError, TypeError, ArithmeticError):
            pass  # fails on every item, as in the Collector: leave it to run time
        else:
            # a literal of the right kind: no conversion per item
            def get_constant(ctx: TransformContext) -> Any:
                return converted

            get_constant.ottl_constant = (converted,)  # type: ignore[attr-defined]
            return get_constant
    if kind == "str":

        def get_str(ctx: TransformContext) -> Any:
            value = get(ctx)
            if type(value) is str:
                return value
            raise OttlError(f"expected string but got {type_name(value)}")

        return get_str

    def get_converted(ctx: TransformContext) -> Any:
        return convert(get(ctx))

    return get_converted
