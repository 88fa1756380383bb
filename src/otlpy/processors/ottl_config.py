"""OTTL in component configs: compiling statements and conditions with path-precise problems.

The transform and filter processors and the routing connector take OTTL text in their configs.
Their ``validate()`` compiles it (parsing is pure: no I/O), so ``otlpy validate`` reports a bad
statement with its dotted path and column; ``create`` compiles it again, once, for running.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal, TypeVar

from otlpy.errors import ConfigProblem
from otlpy.ottl import (
    ConditionSequence,
    OttlSyntaxError,
    StatementSequence,
    infer_context,
    parse_conditions,
    parse_statements,
)
from otlpy.ottl.grammar import Node, parse_condition, parse_statement
from otlpy.pdata import Signal

__all__ = [
    "SIGNAL_CONTEXTS",
    "ErrorModeName",
    "compile_conditions",
    "compile_statements",
    "infer_group_context",
    "problem_of",
]

#: the Collector's ``error_mode`` values
ErrorModeName = Literal["ignore", "silent", "propagate"]

#: the OTTL contexts each signal's statements may use
SIGNAL_CONTEXTS: dict[Signal, tuple[str, ...]] = {
    Signal.TRACES: ("resource", "scope", "span", "spanevent"),
    Signal.METRICS: ("resource", "scope", "metric", "datapoint"),
    Signal.LOGS: ("resource", "scope", "log"),
}

_ALIASES = {"instrumentation_scope": "scope", "log_record": "log"}


def problem_of(path: str, exc: Exception, what: str) -> ConfigProblem:
    """A config problem for OTTL text that does not compile, keeping the column."""
    if isinstance(exc, OttlSyntaxError):
        return ConfigProblem(path, f"invalid {what} (column {exc.column}): {exc.message}")
    return ConfigProblem(path, f"invalid {what}: {exc}")


def _check_context(context: str, signal: Signal | None, path: str) -> ConfigProblem | None:
    if signal is None or context in SIGNAL_CONTEXTS[signal]:
        return None
    allowed = ", ".join(SIGNAL_CONTEXTS[signal])
    return ConfigProblem(
        path, f"the {context} context cannot be used with {signal.value} (use one of: {allowed})"
    )


def infer_group_context(
    statements: Sequence[str],
    conditions: Sequence[str],
    signal: Signal | None,
    path: str,
) -> tuple[str | None, list[ConfigProblem]]:
    """The context of a group of statements and conditions written with path prefixes."""
    nodes: list[Node] = []
    problems: list[ConfigProblem] = []
    for i, text in enumerate(statements):
        try:
            nodes.append(parse_statement(text))
        except OttlSyntaxError as exc:
            problems.append(problem_of(f"{path}[{i}]" if path else f"[{i}]", exc, "statement"))
    for i, text in enumerate(conditions):
        try:
            nodes.append(parse_condition(text))
        except OttlSyntaxError as exc:
            problems.append(problem_of(f"{path}[{i}]" if path else f"[{i}]", exc, "condition"))
    if problems:
        return None, problems
    try:
        context = infer_context(nodes)
    except ValueError as exc:
        return None, [ConfigProblem(path, str(exc))]
    problem = _check_context(context, signal, path)
    return (None, [problem]) if problem else (context, [])


T = TypeVar("T")


def _normalise(context: str) -> str:
    return _ALIASES.get(context, context)


def _compile(
    parse: Callable[..., T],
    what: str,
    texts: Sequence[str],
    context: str,
    error_mode: str,
    signal: Signal | None,
    path: str,
) -> tuple[T | None, list[ConfigProblem]]:
    """Compile ``texts`` of one context with ``parse``; each failing one is a problem at
    ``path[i]`` (each is parsed alone first, so that a problem names its own index)."""
    context = _normalise(context)
    problem = _check_context(context, signal, path)
    if problem:
        return None, [problem]
    problems: list[ConfigProblem] = []
    for i, text in enumerate(texts):
        try:
            parse([text], context)
        except (OttlSyntaxError, ValueError, KeyError) as exc:
            problems.append(problem_of(f"{path}[{i}]", exc, what))
    if problems:
        return None, problems
    return parse(list(texts), context, error_mode=error_mode), []


def compile_statements(
    texts: Sequence[str],
    context: str,
    error_mode: str,
    signal: Signal | None,
    path: str,
) -> tuple[StatementSequence | None, list[ConfigProblem]]:
    """Compile statements of one context; each failing statement is one problem at
    ``path[i]``."""
    return _compile(parse_statements, "statement", texts, context, error_mode, signal, path)


def compile_conditions(
    texts: Sequence[str],
    context: str,
    error_mode: str,
    signal: Signal | None,
    path: str,
) -> tuple[ConditionSequence | None, list[ConfigProblem]]:
    """Compile conditions of one context (ORed); each failing one is a problem at
    ``path[i]``."""
    return _compile(parse_conditions, "condition", texts, context, error_mode, signal, path)
