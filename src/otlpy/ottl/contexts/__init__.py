"""The OTTL contexts: which paths and enums a statement can use, per kind of telemetry item.

Each context reaches the contexts above it through a prefix (``resource.attributes`` from a
span); its own name is an optional prefix too (``span.name`` and ``name`` are the same path).
"""

from __future__ import annotations

from otlpy.ottl.contexts.common import ContextSpec, GetSetter, TransformContext
from otlpy.ottl.contexts.datapoint import DATAPOINT_ENUMS, DataPointPaths
from otlpy.ottl.contexts.log import SEVERITY_ENUMS, LogPaths
from otlpy.ottl.contexts.metric import METRIC_ENUMS, MetricPaths
from otlpy.ottl.contexts.resource import ResourcePaths
from otlpy.ottl.contexts.scope import ScopePaths
from otlpy.ottl.contexts.span import SPAN_ENUMS, SpanPaths
from otlpy.ottl.contexts.spanevent import SpanEventPaths

__all__ = ["CONTEXTS", "ContextSpec", "GetSetter", "TransformContext", "context_spec"]

_RESOURCE = ("resource", ResourcePaths())
_SCOPE = ("scope", ScopePaths())
_SPAN = ("span", SpanPaths())
_METRIC = ("metric", MetricPaths())
_UPPER = {"resource": _RESOURCE, "instrumentation_scope": _SCOPE, "scope": _SCOPE}

CONTEXTS: dict[str, ContextSpec] = {
    "resource": ContextSpec("resource", "resource", _RESOURCE[1], {"resource": _RESOURCE}, {}),
    "scope": ContextSpec(
        "scope",
        "scope",
        _SCOPE[1],
        {"resource": _RESOURCE, "instrumentation_scope": _SCOPE, "scope": _SCOPE},
        {},
    ),
    "span": ContextSpec("span", "span", _SPAN[1], {**_UPPER, "span": _SPAN}, SPAN_ENUMS),
    "spanevent": ContextSpec(
        "spanevent",
        "event",
        SpanEventPaths(),
        {**_UPPER, "span": _SPAN, "spanevent": ("event", SpanEventPaths())},
        SPAN_ENUMS,
    ),
    "metric": ContextSpec(
        "metric", "metric", _METRIC[1], {**_UPPER, "metric": _METRIC}, METRIC_ENUMS
    ),
    "datapoint": ContextSpec(
        "datapoint",
        "datapoint",
        DataPointPaths(),
        {**_UPPER, "metric": _METRIC, "datapoint": ("datapoint", DataPointPaths())},
        DATAPOINT_ENUMS,
    ),
    "log": ContextSpec(
        "log", "log", LogPaths(), {**_UPPER, "log": ("log", LogPaths())}, SEVERITY_ENUMS
    ),
}
CONTEXTS["instrumentation_scope"] = CONTEXTS["scope"]


def context_spec(name: str) -> ContextSpec:
    """The context called ``name``; raises ``KeyError`` listing the known ones."""
    try:
        return CONTEXTS[name]
    except KeyError:
        known = ", ".join(sorted(CONTEXTS))
        raise KeyError(f"unknown OTTL context {name!r} (known: {known})") from None
