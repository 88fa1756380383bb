"""The log context: a ``LogRecord`` and the resource and scope that hold it."""

from __future__ import annotations

from collections.abc import Sequence
from operator import attrgetter
from typing import Any

from otlpy.ottl.contexts.common import (
    GetSetter,
    KeyCompiler,
    PathResolver,
    TransformContext,
    any_path,
    field_map_path,
    id_field,
    no_keys,
    no_more,
    path_error,
    scalar_field,
    time_field,
)
from otlpy.ottl.grammar import Field
from otlpy.ottl.values import OttlError, SpanID, TraceID, any_to_py, as_string, type_name

__all__ = ["SEVERITY_ENUMS", "LogPaths"]

_LEVELS = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"]
SEVERITY_ENUMS: dict[str, int] = {"SEVERITY_NUMBER_UNSPECIFIED": 0}
for _i, _level in enumerate(_LEVELS):
    SEVERITY_ENUMS[f"SEVERITY_NUMBER_{_level}"] = 4 * _i + 1
    for _n in range(2, 5):
        SEVERITY_ENUMS[f"SEVERITY_NUMBER_{_level}{_n}"] = 4 * _i + _n


def _body_string(obj: str) -> GetSetter:
    body = attrgetter(f"{obj}.body")

    def get(ctx: TransformContext) -> Any:
        return as_string(any_to_py(body(ctx)))

    def set_(ctx: TransformContext, value: Any) -> None:
        if type(value) is not str:
            raise OttlError(f"expected string but got {type_name(value)}")
        body(ctx).string_value = value

    return GetSetter(get, set_)


_NAMES = frozenset(
    {
        "attributes",
        "body",
        "trace_id",
        "span_id",
        "time_unix_nano",
        "observed_time_unix_nano",
        "time",
        "observed_time",
        "severity_number",
        "flags",
        "dropped_attributes_count",
        "severity_text",
        "event_name",
    }
)


class LogPaths(PathResolver):
    """Paths of a ``LogRecord`` held in ``ctx.log``."""

    def resolve(
        self, obj: str, fields: Sequence[Field], compile_key: KeyCompiler, path_text: str
    ) -> GetSetter:
        head = fields[0]
        name = head.name
        if name not in _NAMES:
            raise path_error(path_text, head, "log")
        if name == "attributes":
            no_more(fields, 1, path_text, "log")
            return field_map_path(obj, "attributes", head, compile_key, 6)
        if name == "body":
            if len(fields) > 1:
                no_keys(head, path_text)
                if fields[1].name != "string" or len(fields) > 2:
                    raise path_error(path_text, fields[1], "log")
                no_keys(fields[1], path_text)
                return _body_string(obj)
            return any_path(attrgetter(f"{obj}.body"), [compile_key(k) for k in head.keys])
        no_keys(head, path_text)
        if name in ("trace_id", "span_id"):
            kind = TraceID if name == "trace_id" else SpanID
            if len(fields) > 1:
                if fields[1].name != "string" or len(fields) > 2:
                    raise path_error(path_text, fields[1], "log")
                return id_field(obj, name, kind, string=True)
            return id_field(obj, name, kind, string=False)
        no_more(fields, 1, path_text, "log")
        if name in ("time_unix_nano", "observed_time_unix_nano"):
            return scalar_field(obj, name, "int")
        if name in ("time", "observed_time"):
            return time_field(obj, f"{name}_unix_nano")
        if name in ("severity_number", "flags", "dropped_attributes_count"):
            return scalar_field(obj, name, "int")
        if name in ("severity_text", "event_name"):
            return scalar_field(obj, name, "str")
        raise path_error(path_text, head, "log")
