"""A subset of Go's ``fmt.Sprintf`` for the ``Format`` converter.

Supports the verbs ``%v %s %d %f %F %e %E %g %G %x %X %o %b %q %t %%`` with flags
(``-+# 0``), width and precision, and Go's markers for wrong types (``%!d(string=x)``),
missing arguments (``%!d(MISSING)``) and extra ones (``%!(EXTRA ...)``).
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from otlpy.ottl.values import Timestamp, as_string, format_float, type_name

__all__ = ["sprintf"]

_SPEC = re.compile(r"%([-+# 0]*)(\d+|\*)?(?:\.(\d+|\*)?)?([a-zA-Z%])")


def _plain(value: Any) -> str:
    """``%v`` of a value."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _go_g(value, None)
    if isinstance(value, bytes):
        return "[" + " ".join(str(b) for b in value) + "]"
    if isinstance(value, dict):
        inner = " ".join(f"{k}:{_plain(v)}" for k, v in sorted(value.items()))
        return f"map[{inner}]"
    if isinstance(value, list):
        return "[" + " ".join(_plain(v) for v in value) + "]"
    if isinstance(value, Timestamp):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f +0000 UTC")
    return as_string(value)


def _go_g(value: float, precision: int | None) -> str:
    if precision is None:
        if value != 0 and (abs(value) >= 1e21 or abs(value) < 1e-4):
            return _go_exp(format(Decimal(repr(value)), "e"))
        return format_float(value)
    return _go_exp(f"{value:.{precision}g}")


def _go_exp(text: str) -> str:
    if "e" not in text:
        return text
    mantissa, _, exp = text.partition("e")
    sign = "-" if exp.startswith("-") else "+"
    digits = exp.lstrip("+-").lstrip("0") or "0"
    return f"{mantissa}e{sign}{digits.zfill(2)}"


def _bad(verb: str, value: Any) -> str:
    return f"%!{verb}({type_name(value)}={_plain(value)})"


def _pad(text: str, flags: str, width: int | None, numeric: bool) -> str:
    if width is None or len(text) >= width:
        return text
    if "-" in flags:
        return text.ljust(width)
    if "0" in flags and numeric:
        sign = text[0] if text[:1] in "+-" else ""
        return sign + text[len(sign) :].rjust(width - len(sign), "0")
    return text.rjust(width)


def _one(verb: str, flags: str, width: int | None, precision: int | None, value: Any) -> str:
    numeric = False
    if verb in "vs":
        text = value if isinstance(value, str) else _plain(value)
        if verb == "s" and precision is not None:
            text = text[:precision]
    elif verb == "d":
        if not isinstance(value, int) or isinstance(value, bool):
            return _bad(verb, value)
        text = str(value)
        if "+" in flags and value >= 0:
            text = "+" + text
        numeric = True
    elif verb in "fFeEgG":
        if (isinstance(value, int) and not isinstance(value, bool)) or not isinstance(value, float):
            return _bad(verb, value)
        if verb in "gG":
            text = _go_g(value, precision)
            text = text.upper() if verb == "G" else text
        elif verb in "eE":
            text = _go_exp(f"{value:.{6 if precision is None else precision}e}")
            text = text.upper() if verb == "E" else text
        else:
            text = f"{value:.{6 if precision is None else precision}f}"
        if "+" in flags and value >= 0:
            text = "+" + text
        numeric = True
    elif verb in "xXob":
        if isinstance(value, bool) or not isinstance(value, int | str | bytes):
            return _bad(verb, value)
        if isinstance(value, str | bytes):
            if verb not in "xX":
                return _bad(verb, value)
            data = value.encode() if isinstance(value, str) else value
            text = data.hex()
        else:
            text = format(value, {"x": "x", "X": "X", "o": "o", "b": "b"}[verb])
            if "#" in flags and verb in "xX":
                text = ("0x" if verb == "x" else "0X") + text.lstrip("-")
                text = ("-" if value < 0 else "") + text
            numeric = True
        if verb == "X":
            text = text.upper()
    elif verb == "q":
        if not isinstance(value, str):
            return _bad(verb, value)
        text = '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    elif verb == "t":
        if not isinstance(value, bool):
            return _bad(verb, value)
        text = "true" if value else "false"
    elif verb == "T":
        text = type_name(value)
    else:
        return f"%!{verb}({type_name(value)}={_plain(value)})"
    return _pad(text, flags, width, numeric)


def sprintf(fmt: str, args: list[Any]) -> str:
    """Format ``args`` into ``fmt`` the way Go's ``fmt.Sprintf`` does."""
    out: list[str] = []
    pos = 0
    index = 0
    for m in _SPEC.finditer(fmt):
        out.append(fmt[pos : m.start()])
        pos = m.end()
        flags, width_text, precision_text, verb = m.groups()
        if verb == "%":
            out.append("%")
            continue
        width: int | None = None
        precision: int | None = None
        if width_text == "*":
            width = args[index] if index < len(args) and isinstance(args[index], int) else None
            index += 1
        elif width_text:
            width = int(width_text)
        if precision_text == "*":
            precision = args[index] if index < len(args) else None
            index += 1
        elif precision_text is not None:
            precision = int(precision_text)
        elif m.group(0).find(".") >= 0:
            precision = 0
        if index >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        out.append(_one(verb, flags, width, precision, args[index]))
        index += 1
    out.append(fmt[pos:])
    if index < len(args):
        extra = ", ".join(f"{type_name(a)}={_plain(a)}" for a in args[index:])
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)
