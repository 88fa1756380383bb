"""Standard converters on strings, types and collections (``Concat``, ``Int``, ``Sort``...)."""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from otlpy.ottl.contexts.common import Getter, TransformContext
from otlpy.ottl.functions.goformat import sprintf
from otlpy.ottl.functions.goregex import compile_go
from otlpy.ottl.functions.spec import Param, bool_like, converter
from otlpy.ottl.values import (
    OttlError,
    PMap,
    PSlice,
    SpanID,
    TraceID,
    as_string,
    compare,
    to_python,
    type_name,
)

__all__ = ["camel_case", "snake_case"]

Run = Callable[[TransformContext], Any]


def _unary(fn: Callable[[Any], Any]) -> Callable[[Getter], Run]:
    def factory(target: Getter) -> Run:
        return lambda ctx: fn(target(ctx))

    return factory


# -- strings ---------------------------------------------------------------------------------


@converter("Concat", Param("vals", "list:str_like"), Param("delimiter", "lit_str"))
def _concat(vals: list[Getter], delimiter: str) -> Run:
    def run(ctx: TransformContext) -> Any:
        parts = []
        for get in vals:
            value = get(ctx)
            parts.append("<nil>" if value is None else value)
        return delimiter.join(parts)

    return run


def camel_case(text: str) -> str:
    """``strcase.ToCamel``: words joined, each capitalised (``foo_bar`` -> ``FooBar``)."""
    text = text.strip()
    out: list[str] = []
    cap_next = True
    prev_cap = False
    for i, original in enumerate(text):
        ch = original
        is_cap = "A" <= ch <= "Z"
        is_low = "a" <= ch <= "z"
        if cap_next:
            if is_low:
                ch = ch.upper()
        elif i == 0:
            if is_cap:
                ch = ch.lower()
        elif prev_cap and is_cap:
            ch = ch.lower()
        prev_cap = is_cap
        if is_cap or is_low:
            out.append(ch)
            cap_next = False
        elif "0" <= ch <= "9":
            out.append(ch)
            cap_next = True
        else:
            cap_next = ch in "_ -."
    return "".join(out)


def snake_case(text: str) -> str:
    """``strcase.ToSnake``: lowercase words joined by ``_`` (``fooBar`` -> ``foo_bar``)."""
    text = text.strip()
    out: list[str] = []
    n = len(text)
    for i, original in enumerate(text):
        ch = original
        is_cap = "A" <= ch <= "Z"
        is_low = "a" <= ch <= "z"
        if is_cap:
            ch = ch.lower()
        if i + 1 < n:
            nxt = text[i + 1]
            is_num = "0" <= ch <= "9"
            next_cap = "A" <= nxt <= "Z"
            next_low = "a" <= nxt <= "z"
            next_num = "0" <= nxt <= "9"
            if (
                (is_cap and (next_low or next_num))
                or (is_low and (next_cap or next_num))
                or (is_num and (next_cap or next_low))
            ):
                if is_cap and next_low and i > 0 and "A" <= text[i - 1] <= "Z":
                    out.append("_")
                out.append(ch)
                if is_low or is_num or next_num:
                    out.append("_")
                continue
        out.append("_" if ch in " _-." else ch)
    return "".join(out)


_CASES: dict[str, Callable[[str], str]] = {
    "lower": str.lower,
    "upper": str.upper,
    "snake": snake_case,
    "camel": camel_case,
}


@converter("ConvertCase", Param("target", "str"), Param("to_case", "lit_str"))
def _convert_case(target: Getter, to_case: str) -> Run:
    convert = _CASES.get(to_case)
    if convert is None:
        raise OttlError(f"invalid case: {to_case}, allowed cases are: lower, upper, snake, camel")
    return lambda ctx: convert(target(ctx))


for _name, _fn in (
    ("ToLowerCase", str.lower),
    ("ToUpperCase", str.upper),
    ("ToSnakeCase", snake_case),
    ("ToCamelCase", camel_case),
):
    converter(_name, Param("target", "str"))(_unary(_fn))


@converter("Split", Param("target", "str"), Param("delimiter", "lit_str"))
def _split(target: Getter, delimiter: str) -> Run:
    if delimiter == "":
        return lambda ctx: list(target(ctx))
    return lambda ctx: target(ctx).split(delimiter)


@converter(
    "Substring",
    Param("target", "str"),
    Param("start", "int"),
    Param("length", "int"),
    Param("utf8_safe", "lit_bool", optional=True),
)
def _substring(target: Getter, start: Getter, length: Getter, utf8_safe: bool | None) -> Run:
    def run(ctx: TransformContext) -> Any:
        text = target(ctx)
        first = start(ctx)
        size = length(ctx)
        data = text.encode()
        if first < 0 or first > len(data):
            raise OttlError(
                f"invalid range for substring function, {first} cannot be negative or "
                f"greater than the length of target string ({len(data)})"
            )
        if size < 0:
            raise OttlError(f"invalid length for substring function, {size} cannot be negative")
        end = first + size
        if end > len(data):
            raise OttlError(
                f"invalid range for substring function, {end} cannot be greater "
                f"than the length of target string ({len(data)})"
            )
        if utf8_safe:
            while first < len(data) and (data[first] & 0xC0) == 0x80:
                first += 1
            while end > first and end < len(data) and (data[end] & 0xC0) == 0x80:
                end -= 1
        return data[first:end].decode(errors="replace")

    return run


@converter("Format", Param("format", "str"), Param("vals", "list:any"))
def _format(fmt: Getter, vals: list[Getter]) -> Run:
    return lambda ctx: sprintf(fmt(ctx), [to_python(g(ctx)) for g in vals])


@converter("Trim", Param("target", "str"), Param("replacement", "lit_str", optional=True))
def _trim(target: Getter, replacement: str | None) -> Run:
    cutset = " " if replacement is None else replacement
    return lambda ctx: target(ctx).strip(cutset)


@converter("TrimPrefix", Param("value", "str"), Param("prefix", "str"))
def _trim_prefix(value: Getter, prefix: Getter) -> Run:
    return lambda ctx: value(ctx).removeprefix(prefix(ctx))


@converter("TrimSuffix", Param("value", "str"), Param("suffix", "str"))
def _trim_suffix(value: Getter, suffix: Getter) -> Run:
    return lambda ctx: value(ctx).removesuffix(suffix(ctx))


@converter("HasPrefix", Param("value", "str"), Param("prefix", "str"))
def _has_prefix(value: Getter, prefix: Getter) -> Run:
    return lambda ctx: value(ctx).startswith(prefix(ctx))


@converter("HasSuffix", Param("value", "str"), Param("suffix", "str"))
def _has_suffix(value: Getter, suffix: Getter) -> Run:
    return lambda ctx: value(ctx).endswith(suffix(ctx))


@converter("IsMatch", Param("target", "str_like"), Param("pattern", "lit_str"))
def _is_match(target: Getter, pattern: str) -> Run:
    try:
        search = compile_go(pattern).regex.search
    except ValueError as exc:
        raise OttlError(
            f"the pattern supplied to IsMatch is not a valid regexp pattern: {exc}"
        ) from None

    def run(ctx: TransformContext) -> Any:
        value = target(ctx)
        return value is not None and search(value) is not None

    return run


# -- type conversions and checks -------------------------------------------------------------


def _string(value: Any) -> Any:
    return value


converter("String", Param("target", "str_like"))(_unary(_string))
converter("Int", Param("target", "int_like"))(_unary(_string))
converter("Double", Param("target", "float_like"))(_unary(_string))


@converter("Bool", Param("target", "any"))
def _bool(target: Getter) -> Run:
    def run(ctx: TransformContext) -> Any:
        try:
            return bool_like(target(ctx))
        except OttlError:
            return None

    return run


@converter("Hex", Param("target", "bytes_like"))
def _hex(target: Getter) -> Run:
    def run(ctx: TransformContext) -> Any:
        value = target(ctx)
        return None if value is None else value.hex()

    return run


for _name, _check in (
    ("IsString", lambda v: type(v) is str),
    ("IsInt", lambda v: type(v) is int),
    ("IsDouble", lambda v: type(v) is float),
    ("IsBool", lambda v: type(v) is bool),
    ("IsMap", lambda v: isinstance(v, PMap | dict)),
    ("IsList", lambda v: isinstance(v, PSlice | list)),
):
    converter(_name, Param("target", "any"))(_unary(_check))


def _is_empty(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, TraceID | SpanID):
        return not any(value)
    if isinstance(value, str | bytes | PMap | PSlice | dict | list):
        return len(value) == 0
    if isinstance(value, bool | int | float):
        return not value
    if isinstance(value, timedelta):
        return value == timedelta(0)
    return False


converter("IsEmpty", Param("target", "any"))(_unary(_is_empty))


@converter("Len", Param("target", "any"))
def _len(target: Getter) -> Run:
    def run(ctx: TransformContext) -> Any:
        value = target(ctx)
        if isinstance(value, str):
            return len(value) if value.isascii() else len(value.encode())
        if isinstance(value, PMap | PSlice | dict | list | bytes):
            return len(value)
        raise OttlError(f"unsupported type: {type_name(value)}")

    return run


@converter("Log", Param("target", "float_like"))
def _log(target: Getter) -> Run:
    def run(ctx: TransformContext) -> Any:
        value = target(ctx)
        if value is None:
            raise OttlError("Log: value is nil")
        if value <= 0:
            raise OttlError(f"Log: the logarithm of {value} is undefined")
        return math.log(value)

    return run


@converter("IsValidLuhn", Param("target", "any"))
def _is_valid_luhn(target: Getter) -> Run:
    def run(ctx: TransformContext) -> Any:
        value = target(ctx)
        if type(value) is int:
            text = str(value)
        elif type(value) is str:
            text = value
        else:
            raise OttlError(f"expected a string or an int but got {type_name(value)}")
        if not text or not text.isascii() or not text.isdigit():
            raise OttlError(f"invalid number {text!r}: must consist of digits only")
        total = 0
        for i, ch in enumerate(reversed(text)):
            digit = int(ch)
            if i % 2 == 1:
                digit *= 2
                if digit > 9:
                    digit -= 9
            total += digit
        return total % 10 == 0

    return run


@converter("IsInCIDR", Param("target", "str"), Param("networks", "list:str"))
def _is_in_cidr(target: Getter, networks: list[Getter]) -> Run:
    def run(ctx: TransformContext) -> Any:
        try:
            address = ipaddress.ip_address(target(ctx))
        except ValueError:
            return False
        for get in networks:
            try:
                network = ipaddress.ip_network(get(ctx), strict=False)
            except ValueError as exc:
                raise OttlError(f"invalid network: {exc}") from None
            if address in network:
                return True
        return False

    return run


@converter("ParseInt", Param("target", "str"), Param("base", "int"))
def _parse_int(target: Getter, base: Getter) -> Run:
    def run(ctx: TransformContext) -> Any:
        text = target(ctx)
        radix = base(ctx)
        if radix < 0 or radix == 1 or radix > 36:
            raise OttlError(f"invalid base: {radix}")
        try:
            if radix == 0:
                cleaned = text.replace("_", "")
                sign = -1 if cleaned.startswith("-") else 1
                body = cleaned.lstrip("+-")
                lowered = body.lower()
                if lowered.startswith(("0x", "0b", "0o")):
                    number = int(body, 0)
                elif body.startswith("0") and len(body) > 1:
                    number = int(body, 8)
                else:
                    number = int(body, 10)
                number *= sign
            else:
                if "_" in text:
                    raise ValueError(text)
                number = int(text, radix)
        except ValueError:
            raise OttlError(f'strconv.ParseInt: parsing "{text}": invalid syntax') from None
        if not -(2**63) <= number < 2**63:
            raise OttlError(f'strconv.ParseInt: parsing "{text}": value out of range')
        return number

    return run


# -- collections -----------------------------------------------------------------------------


@converter("Keys", Param("target", "map"))
def _keys(target: Getter) -> Run:
    return lambda ctx: list(target(ctx).keys())


@converter("Values", Param("target", "map"))
def _values(target: Getter) -> Run:
    return lambda ctx: list(to_python(target(ctx)).values())


@converter("ContainsValue", Param("target", "any"), Param("item", "any"))
def _contains_value(target: Getter, item: Getter) -> Run:
    def run(ctx: TransformContext) -> Any:
        values = target(ctx)
        if not isinstance(values, PSlice | list):
            raise OttlError(f"expected a slice but got {type_name(values)}")
        wanted = item(ctx)
        return any(compare(v, wanted, "==") for v in values)

    return run


@converter("Index", Param("target", "any"), Param("value", "any"))
def _index(target: Getter, value: Getter) -> Run:
    def run(ctx: TransformContext) -> Any:
        source = target(ctx)
        wanted = value(ctx)
        if isinstance(source, str):
            if not isinstance(wanted, str):
                raise OttlError(f"expected a string to search for but got {type_name(wanted)}")
            return source.encode().find(wanted.encode())
        if isinstance(source, PSlice | list):
            for i, v in enumerate(source):
                if compare(v, wanted, "=="):
                    return i
            return -1
        raise OttlError(f"expected a string or a slice but got {type_name(source)}")

    return run


@converter("Coalesce", Param("values", "list:any"))
def _coalesce(values: list[Getter]) -> Run:
    if not values:
        raise OttlError("Coalesce needs at least one value")

    def run(ctx: TransformContext) -> Any:
        for get in values:
            value = get(ctx)
            if value is not None:
                return value
        return None

    return run


def _sort_key_kind(items: list[Any]) -> str:
    kinds = set()
    for item in items:
        if isinstance(item, bool):
            kinds.add("bool")
        elif isinstance(item, int):
            kinds.add("int")
        elif isinstance(item, float):
            kinds.add("float")
        elif isinstance(item, str):
            kinds.add("str")
        else:
            raise OttlError(f"sort with unsupported type: {type_name(item)}")
    if kinds <= {"int", "float"}:
        return "number"
    if kinds == {"str"}:
        return "str"
    return "mixed"


@converter("Sort", Param("target", "any"), Param("order", "lit_str", optional=True))
def _sort(target: Getter, order: str | None) -> Run:
    direction = order or "asc"
    if direction not in ("asc", "desc"):
        raise OttlError(f"invalid sort order '{direction}', valid values are 'asc' and 'desc'")
    reverse = direction == "desc"

    def run(ctx: TransformContext) -> Any:
        value = target(ctx)
        if not isinstance(value, PSlice | list):
            raise OttlError(f"sort with unsupported type: {type_name(value)}")
        items = to_python(value)
        if not items:
            return items
        kind = _sort_key_kind(items)
        if kind == "mixed":
            return sorted(items, key=as_string, reverse=reverse)
        return sorted(items, reverse=reverse)

    return run


def _dig(item: Any, path: list[str]) -> Any:
    current = item
    for name in path:
        if not isinstance(current, dict):
            return None
        current = current.get(name)
    return current


@converter(
    "SliceToMap",
    Param("target", "any"),
    Param("key_path", "lit_list_str", optional=True),
    Param("value_path", "lit_list_str", optional=True),
)
def _slice_to_map(target: Getter, key_path: list[str] | None, value_path: list[str] | None) -> Run:
    if key_path is not None and not key_path:
        raise OttlError("key path must contain at least one element")

    def run(ctx: TransformContext) -> Any:
        value = target(ctx)
        if not isinstance(value, PSlice | list):
            raise OttlError(f"unsupported type provided to SliceToMap function: {type_name(value)}")
        out: dict[str, Any] = {}
        for i, item in enumerate(to_python(value)):
            if not isinstance(item, dict):
                raise OttlError(f"could not cast element {i} to map[string]any")
            if key_path is None:
                key: Any = str(i)
            else:
                key = _dig(item, key_path)
                if not isinstance(key, str):
                    raise OttlError(f"provided key path {key_path} does not point to a string")
            if value_path is None:
                out[key] = item
            else:
                found = _dig(item, value_path)
                if found is None:
                    raise OttlError(f"provided value path {value_path} is incorrect")
                out[key] = found
        return out

    return run
