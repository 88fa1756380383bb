"""OTTL, the OpenTelemetry Transformation Language, running the Collector's statements.

>>> from otlpy.ottl import parse_statements
>>> seq = parse_statements(['set(attributes["env"], "prod") where kind == SPAN_KIND_SERVER'],
...                        context="span")
>>> seq.execute(request)  # an ExportTraceServiceRequest (or TracesData), changed in place

See ``docs/ottl.md`` for what is supported and how it differs from the Collector.
"""

from __future__ import annotations

from otlpy.ottl.contexts import TransformContext
from otlpy.ottl.grammar import OttlSyntaxError
from otlpy.ottl.sequence import (
    ConditionSequence,
    ErrorMode,
    OttlRuntimeError,
    StatementSequence,
    ValueExpression,
    infer_context,
    iter_contexts,
    parse_conditions,
    parse_statements,
    parse_value_expression,
)
from otlpy.ottl.values import Duration, OttlError, PMap, PSlice, SpanID, Timestamp, TraceID

__all__ = [
    "ConditionSequence",
    "Duration",
    "ErrorMode",
    "OttlError",
    "OttlRuntimeError",
    "OttlSyntaxError",
    "PMap",
    "PSlice",
    "SpanID",
    "StatementSequence",
    "Timestamp",
    "TraceID",
    "TransformContext",
    "ValueExpression",
    "infer_context",
    "iter_contexts",
    "parse_conditions",
    "parse_statements",
    "parse_value_expression",
]
