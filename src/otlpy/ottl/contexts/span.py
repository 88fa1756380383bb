"""The span context: a ``Span`` and the resource and scope that hold it."""

from __future__ import annotations

from collections.abc import Sequence
from operator import attrgetter
from typing import Any

from otlpy.ottl.contexts.common import (
    GetSetter,
    KeyCompiler,
    PathProblem,
    PathResolver,
    TransformContext,
    field_map_path,
    id_field,
    message_field,
    no_keys,
    no_more,
    path_error,
    repeated_field,
    scalar_field,
    time_field,
)
from otlpy.ottl.grammar import Field
from otlpy.ottl.values import OttlError, SpanID, TraceID, type_name

__all__ = ["SPAN_ENUMS", "SpanPaths"]

SPAN_ENUMS: dict[str, int] = {
    "SPAN_KIND_UNSPECIFIED": 0,
    "SPAN_KIND_INTERNAL": 1,
    "SPAN_KIND_SERVER": 2,
    "SPAN_KIND_CLIENT": 3,
    "SPAN_KIND_PRODUCER": 4,
    "SPAN_KIND_CONSUMER": 5,
    "STATUS_CODE_UNSET": 0,
    "STATUS_CODE_OK": 1,
    "STATUS_CODE_ERROR": 2,
}

_KIND_NAMES = ["Unspecified", "Internal", "Server", "Client", "Producer", "Consumer"]
_KIND_DEPRECATED = [
    "SPAN_KIND_UNSPECIFIED",
    "SPAN_KIND_INTERNAL",
    "SPAN_KIND_SERVER",
    "SPAN_KIND_CLIENT",
    "SPAN_KIND_PRODUCER",
    "SPAN_KIND_CONSUMER",
]


def _kind_string(obj: str, names: list[str], what: str) -> GetSetter:
    kind = attrgetter(f"{obj}.kind")
    owner = attrgetter(obj)

    def get(ctx: TransformContext) -> Any:
        value = kind(ctx)
        return names[value] if 0 <= value < len(names) else ""

    def set_(ctx: TransformContext, value: Any) -> None:
        if type(value) is not str:
            raise OttlError(f"expected string but got {type_name(value)}")
        try:
            owner(ctx).kind = names.index(value)
        except ValueError:
            raise OttlError(f"unknown span kind {what}, {value}") from None

    return GetSetter(get, set_)


def _trace_state_key(obj: str, key: Any) -> GetSetter:
    raw = attrgetter(f"{obj}.trace_state")
    owner = attrgetter(obj)

    def entries(ctx: TransformContext) -> list[tuple[str, str]]:
        text = raw(ctx)
        out = []
        for raw_member in text.split(","):
            member = raw_member.strip()
            if member and "=" in member:
                k, _, v = member.partition("=")
                out.append((k, v))
        return out

    def get(ctx: TransformContext) -> Any:
        k = key[1] if key[0] else key[1](ctx)
        if type(k) is not str:
            raise OttlError("trace_state indexing type must be a string")
        for name, value in entries(ctx):
            if name == k:
                return value
        return ""

    def set_(ctx: TransformContext, value: Any) -> None:
        if type(value) is not str:
            raise OttlError(f"expected string but got {type_name(value)}")
        k = key[1] if key[0] else key[1](ctx)
        if type(k) is not str:
            raise OttlError("trace_state indexing type must be a string")
        # W3C trace state: an updated key moves to the front
        rest = [(n, v) for n, v in entries(ctx) if n != k]
        owner(ctx).trace_state = ",".join(f"{n}={v}" for n, v in [(k, value), *rest])

    return GetSetter(get, set_)


_NAMES = frozenset(
    {
        "attributes",
        "trace_state",
        "trace_id",
        "span_id",
        "parent_span_id",
        "kind",
        "status",
        "name",
        "start_time_unix_nano",
        "end_time_unix_nano",
        "dropped_attributes_count",
        "dropped_events_count",
        "dropped_links_count",
        "flags",
        "start_time",
        "end_time",
        "events",
        "links",
    }
)


class SpanPaths(PathResolver):
    """Paths of a ``Span`` held in ``ctx.span``."""

    def resolve(
        self, obj: str, fields: Sequence[Field], compile_key: KeyCompiler, path_text: str
    ) -> GetSetter:
        head = fields[0]
        name = head.name
        if name not in _NAMES:
            raise path_error(path_text, head, "span")
        if name == "attributes":
            no_more(fields, 1, path_text, "span")
            return field_map_path(obj, "attributes", head, compile_key, 9)
        if name == "trace_state":
            no_more(fields, 1, path_text, "span")
            if not head.keys:
                return scalar_field(obj, "trace_state", "str")
            if len(head.keys) != 1:
                raise PathProblem(
                    "must provide exactly 1 key when accessing trace_state", head.keys[1].pos
                )
            return _trace_state_key(obj, compile_key(head.keys[0]))
        no_keys(head, path_text)
        if name in ("trace_id", "span_id", "parent_span_id"):
            kind = TraceID if name == "trace_id" else SpanID
            if len(fields) > 1:
                if fields[1].name != "string" or len(fields) > 2:
                    raise path_error(path_text, fields[1], "span")
                return id_field(obj, name, kind, string=True)
            return id_field(obj, name, kind, string=False)
        if name == "kind":
            if len(fields) > 1:
                sub = fields[1].name
                no_more(fields, 2, path_text, "span")
                if sub == "string":
                    return _kind_string(obj, _KIND_NAMES, "string")
                if sub == "deprecated_string":
                    return _kind_string(obj, _KIND_DEPRECATED, "deprecated string")
                raise path_error(path_text, fields[1], "span")
            return scalar_field(obj, "kind", "int")
        if name == "status":
            if len(fields) > 1:
                sub = fields[1].name
                no_more(fields, 2, path_text, "span")
                if sub == "code":
                    return scalar_field(f"{obj}.status", "code", "int")
                if sub == "message":
                    return scalar_field(f"{obj}.status", "message", "str")
                raise path_error(path_text, fields[1], "span")
            return message_field(obj, "status", "Status")
        no_more(fields, 1, path_text, "span")
        if name == "name":
            return scalar_field(obj, "name", "str")
        if name in (
            "start_time_unix_nano",
            "end_time_unix_nano",
            "dropped_attributes_count",
            "dropped_events_count",
            "dropped_links_count",
            "flags",
        ):
            return scalar_field(obj, name, "int")
        if name in ("start_time", "end_time"):
            return time_field(obj, f"{name}_unix_nano")
        if name == "events":
            return repeated_field(obj, "events", "Event")
        if name == "links":
            return repeated_field(obj, "links", "Link")
        raise path_error(path_text, head, "span")
