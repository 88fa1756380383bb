"""The span event context: a ``Span.Event``, its span, resource and scope."""

from __future__ import annotations

from collections.abc import Sequence

from otlpy.ottl.contexts.common import (
    GetSetter,
    KeyCompiler,
    PathResolver,
    TransformContext,
    field_map_path,
    no_keys,
    no_more,
    path_error,
    scalar_field,
    time_field,
)
from otlpy.ottl.grammar import Field
from otlpy.ottl.values import OttlError

__all__ = ["SpanEventPaths"]


def _read_only_index() -> GetSetter:
    def get(ctx: TransformContext) -> int:
        return ctx.event_index

    def set_(ctx: TransformContext, value: object) -> None:
        raise OttlError("event_index cannot be set")

    return GetSetter(get, set_)


_NAMES = frozenset(
    {
        "attributes",
        "name",
        "time_unix_nano",
        "dropped_attributes_count",
        "time",
        "event_index",
    }
)


class SpanEventPaths(PathResolver):
    """Paths of a ``Span.Event`` held in ``ctx.event``."""

    def resolve(
        self, obj: str, fields: Sequence[Field], compile_key: KeyCompiler, path_text: str
    ) -> GetSetter:
        head = fields[0]
        name = head.name
        if name not in _NAMES:
            raise path_error(path_text, head, "spanevent")
        if name == "attributes":
            no_more(fields, 1, path_text, "spanevent")
            return field_map_path(obj, "attributes", head, compile_key)
        no_keys(head, path_text)
        no_more(fields, 1, path_text, "spanevent")
        if name == "name":
            return scalar_field(obj, "name", "str")
        if name in ("time_unix_nano", "dropped_attributes_count"):
            return scalar_field(obj, name, "int")
        if name == "time":
            return time_field(obj, "time_unix_nano")
        if name == "event_index":
            return _read_only_index()
        raise path_error(path_text, head, "spanevent")
