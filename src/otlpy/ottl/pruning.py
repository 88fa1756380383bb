"""Remove items from an export request by predicate, dropping containers left empty."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from otlpy.ottl.contexts import TransformContext, context_spec

__all__ = ["prune"]


def _keep(repeated: Any, drop: Callable[[Any], bool]) -> int:
    """Delete the elements ``drop`` selects; returns how many were deleted."""
    doomed = [i for i, item in enumerate(repeated) if drop(item)]
    for i in reversed(doomed):
        del repeated[i]
    return len(doomed)


def prune(request: Any, context: str, drop: Callable[[TransformContext], bool]) -> int:
    """Remove every item of ``context`` for which ``drop(ctx)`` is true; scopes and resources
    left without items go too. Returns the number of items removed."""
    name = context_spec(context).name
    ctx = TransformContext()
    removed = 0
    if hasattr(request, "resource_spans"):
        top, scopes_field, items_field = request.resource_spans, "scope_spans", "spans"
    elif hasattr(request, "resource_logs"):
        top, scopes_field, items_field = request.resource_logs, "scope_logs", "log_records"
    elif hasattr(request, "resource_metrics"):
        top, scopes_field, items_field = request.resource_metrics, "scope_metrics", "metrics"
    else:
        raise TypeError(f"not an OTLP export request: {type(request).__name__}")

    def resource_gone(rc: Any) -> bool:
        nonlocal removed
        ctx.resource_container = rc
        ctx.resource = rc.resource
        if name == "resource":
            ctx._cache = ctx._index = None
            if drop(ctx):
                removed += 1
                return True
            return False
        _keep(getattr(rc, scopes_field), scope_gone)
        return len(getattr(rc, scopes_field)) == 0

    def scope_gone(sc: Any) -> bool:
        nonlocal removed
        ctx.scope_container = sc
        ctx.scope = sc.scope
        if name == "scope":
            ctx._cache = ctx._index = None
            if drop(ctx):
                removed += 1
                return True
            return False
        _keep(getattr(sc, items_field), item_gone)
        return len(getattr(sc, items_field)) == 0

    def item_gone(item: Any) -> bool:
        nonlocal removed
        if name in ("span", "log", "metric"):
            setattr(ctx, name, item)
            ctx._cache = ctx._index = None
            if drop(ctx):
                removed += 1
                return True
            return False
        if name == "spanevent":
            ctx.span = item
            index = 0

            def event_gone(event: Any) -> bool:
                nonlocal index, removed
                ctx.event = event
                ctx.event_index = index
                index += 1
                ctx._cache = ctx._index = None
                if drop(ctx):
                    removed += 1
                    return True
                return False

            _keep(item.events, event_gone)
            return False
        if name == "datapoint":
            ctx.metric = item
            kind = item.WhichOneof("data")
            if kind is None:
                return False
            points = getattr(item, kind).data_points

            def point_gone(point: Any) -> bool:
                nonlocal removed
                ctx.datapoint = point
                ctx._cache = ctx._index = None
                if drop(ctx):
                    removed += 1
                    return True
                return False

            _keep(points, point_gone)
            return len(points) == 0
        raise ValueError(f"the {name} context does not apply to this signal")

    _keep(top, resource_gone)
    return removed
