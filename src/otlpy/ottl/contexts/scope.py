"""The instrumentation scope context: name, version, attributes, dropped count, schema URL."""

from __future__ import annotations

from collections.abc import Sequence

from otlpy.ottl.contexts.common import (
    GetSetter,
    KeyCompiler,
    PathResolver,
    field_map_path,
    no_keys,
    no_more,
    path_error,
    scalar_field,
)
from otlpy.ottl.grammar import Field

__all__ = ["ScopePaths"]


_NAMES = frozenset(
    {
        "attributes",
        "name",
        "version",
        "dropped_attributes_count",
        "schema_url",
    }
)


class ScopePaths(PathResolver):
    """Paths of an ``InstrumentationScope`` held in ``ctx.scope``."""

    def resolve(
        self, obj: str, fields: Sequence[Field], compile_key: KeyCompiler, path_text: str
    ) -> GetSetter:
        head = fields[0]
        name = head.name
        if name not in _NAMES:
            raise path_error(path_text, head, "instrumentation_scope")
        if name == "attributes":
            no_more(fields, 1, path_text, "instrumentation_scope")
            return field_map_path(obj, "attributes", head, compile_key)
        no_keys(head, path_text)
        no_more(fields, 1, path_text, "instrumentation_scope")
        if name in ("name", "version"):
            return scalar_field(obj, name, "str")
        if name == "dropped_attributes_count":
            return scalar_field(obj, "dropped_attributes_count", "int")
        if name == "schema_url":
            return scalar_field("scope_container", "schema_url", "str")
        raise path_error(path_text, head, "instrumentation_scope")
