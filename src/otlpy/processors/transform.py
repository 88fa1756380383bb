"""The ``transform`` processor: run OTTL statements on the telemetry, as the Collector's does.

Each signal takes a list (``trace_statements``, ``metric_statements``, ``log_statements``) of
either plain statements, whose context is inferred from their path prefixes (``span.name``,
``resource.attributes[...]``), or groups with an explicit ``context``, ``statements``, optional
``conditions`` (ORed: a group runs on the items that match one) and an ``error_mode`` that
overrides the top-level one. Statements are compiled once when the processor is created;
``validate()`` compiles them too, so a bad statement is reported with its path and column before
anything starts.

Consecutive plain statements that infer the same context are run as one group (one walk over
the data instead of one per statement); the order of statements on each item is kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from otlpy.component import Factory, Kind, Settings
from otlpy.config.decode import decode
from otlpy.consumer import Consumer
from otlpy.errors import ConfigProblem, PermanentError
from otlpy.ottl import ConditionSequence, OttlRuntimeError, StatementSequence
from otlpy.ottl.onbytes import FAST
from otlpy.pdata import Batch, Signal
from otlpy.processors.helper import FunctionProcessor
from otlpy.processors.ottl_config import (
    ErrorModeName,
    compile_conditions,
    compile_statements,
    infer_group_context,
)

__all__ = ["ContextStatements", "TransformConfig", "TransformGroup", "factory"]

_FIELDS = {
    Signal.TRACES: "trace_statements",
    Signal.METRICS: "metric_statements",
    Signal.LOGS: "log_statements",
}


@dataclass(frozen=True, kw_only=True)
class ContextStatements:
    """One group of statements (the Collector's advanced config style)."""

    #: resource, scope, span, spanevent, metric, datapoint or log; inferred when empty
    context: str = ""
    statements: list[str] = field(default_factory=list)
    #: run the statements only on items matching one of these conditions
    conditions: list[str] = field(default_factory=list)
    #: overrides the processor's ``error_mode`` for this group
    error_mode: ErrorModeName | None = None

    def validate(self) -> list[ConfigProblem]:
        if not self.statements:
            return [ConfigProblem("statements", "a statement group needs at least one statement")]
        return []


@dataclass(frozen=True, slots=True)
class TransformGroup:
    """Compiled statements of one context with their optional guarding conditions."""

    statements: StatementSequence
    conditions: ConditionSequence | None

    def run(self, request: Any, raw: bytes | None = None) -> int:
        """Run on ``request``; ``raw``, if given, is the request's bytes as they are now."""
        return self.statements.execute(request, self.conditions, raw)

    def run_bytes(self, batch: Batch) -> tuple[bytes, int] | None:
        """Run on the bytes of ``batch``, leaving the batch as it is: the new bytes and their
        item count, or None when this group needs the messages. The bytes are decoded only
        when a condition or value must be read from the request."""
        plan = self.statements.byte_plan
        if plan is None:
            return None
        needs_request = plan.reads_request or self.conditions is not None
        request = batch.message if needs_request else None
        return self.statements.execute_bytes(request, batch.raw, self.conditions)


@dataclass(frozen=True, kw_only=True)
class TransformConfig:
    """The Collector's transform processor settings (defaults as in the Collector)."""

    error_mode: ErrorModeName = "ignore"
    #: plain statements (strings) or groups (mappings), for traces
    trace_statements: list[Any] = field(default_factory=list)
    metric_statements: list[Any] = field(default_factory=list)
    log_statements: list[Any] = field(default_factory=list)

    def validate(self) -> list[ConfigProblem]:
        problems: list[ConfigProblem] = []
        for signal in Signal:
            problems.extend(self.compile(signal)[1])
        return problems

    def compile(self, signal: Signal) -> tuple[list[TransformGroup], list[ConfigProblem]]:
        """The groups of ``signal``'s statements, compiled, and the problems found."""
        name = _FIELDS[signal]
        entries: Sequence[Any] = getattr(self, name)
        groups: list[TransformGroup] = []
        problems: list[ConfigProblem] = []
        plain: list[tuple[str, str]] = []  # (context, statement) of consecutive plain ones
        plain_paths: list[str] = []

        def flush() -> None:
            # merge runs of plain statements with the same inferred context into one group
            start = 0
            while start < len(plain):
                end = start
                while end < len(plain) and plain[end][0] == plain[start][0]:
                    end += 1
                texts = [text for _, text in plain[start:end]]
                seq, found = compile_statements(
                    texts, plain[start][0], self.error_mode, signal, name
                )
                for problem in found:  # point at the entry, not the run
                    index = int(problem.path[len(name) + 1 : -1]) + start
                    problems.append(ConfigProblem(plain_paths[index], problem.message))
                if seq is not None:
                    groups.append(TransformGroup(seq, None))
                start = end
            plain.clear()
            plain_paths.clear()

        for i, entry in enumerate(entries):
            path = f"{name}[{i}]"
            if isinstance(entry, str):
                context, found = infer_group_context([entry], [], signal, "")
                if found:
                    problems.extend(
                        ConfigProblem(path, p.message)
                        for p in found  # one statement
                    )
                    continue
                assert context is not None
                plain.append((context, entry))
                plain_paths.append(path)
                continue
            flush()
            if not isinstance(entry, dict):
                problems.append(
                    ConfigProblem(path, "expected a statement or a mapping with statements")
                )
                continue
            group, found = decode(ContextStatements, entry, path)
            problems.extend(found)
            if found or group is None:
                continue
            groups_or_none, found = self._compile_group(group, signal, path)
            problems.extend(found)
            if groups_or_none is not None:
                groups.append(groups_or_none)
        flush()
        return groups, problems

    def _compile_group(
        self, group: ContextStatements, signal: Signal, path: str
    ) -> tuple[TransformGroup | None, list[ConfigProblem]]:
        mode = group.error_mode or self.error_mode
        context = group.context.lower()
        if not context:
            inferred, found = infer_group_context(
                group.statements, group.conditions, signal, f"{path}.statements"
            )
            if found:
                return None, found
            assert inferred is not None
            context = inferred
        statements, problems = compile_statements(
            group.statements, context, mode, signal, f"{path}.statements"
        )
        conditions = None
        if group.conditions:
            conditions, found = compile_conditions(
                group.conditions, context, mode, signal, f"{path}.conditions"
            )
            problems = problems + found
        if statements is None or problems:
            return None, problems
        return TransformGroup(statements, conditions), []


def create(settings: Settings, config: TransformConfig, next_consumer: Consumer) -> Any:
    """One transform processor for the pipeline ``settings.signal``."""
    signal = settings.signal or Signal.TRACES
    groups, problems = config.compile(signal)
    if problems:  # pragma: no cover - the config was validated
        from otlpy.errors import ConfigError

        raise ConfigError(problems)

    if not groups:

        async def passthrough(batch: Batch) -> Batch | None:
            return batch

        return FunctionProcessor(passthrough, next_consumer, mutates_data=False)

    # groups whose statements only edit attributes rewrite the bytes they are given
    on_bytes = [FAST and group.statements.byte_plan is not None for group in groups]
    counts_items = [group.statements.context in ("span", "log") for group in groups]

    async def process(batch: Batch) -> Batch | None:
        try:
            for i, group in enumerate(groups):
                if on_bytes[i] and batch.has_raw:
                    done = group.run_bytes(batch)
                    if done is not None:
                        # spans and log records are what a batch counts: known from the edit
                        items = done[1] if counts_items[i] else batch.items
                        batch = Batch(batch.signal, raw=done[0], items=items)
                        continue
                # the rest on the messages; the bytes as they are now let this group read
                # attribute keys from them, the groups after it may see items it changed
                raw = batch.raw if batch.has_raw else None
                request = batch.mutable()
                for rest in groups[i:]:
                    rest.run(request, raw)
                    raw = None
                break
        except OttlRuntimeError as exc:
            # error_mode propagate: the Collector refuses the whole batch
            raise PermanentError(f"transform processor {settings.id}: {exc}") from exc
        return batch

    return FunctionProcessor(process, next_consumer, mutates_data=True)


factory = Factory(
    type="transform",
    kind=Kind.PROCESSOR,
    config=TransformConfig,
    create=create,
    description="changes telemetry with OTTL statements",
    stability="beta",
)
