"""The ``filter`` processor: drop telemetry that matches OTTL conditions, as the Collector's does.

Conditions are given either per signal and context, the long-standing form::

    traces:   {resource: [...], span: [...], spanevent: [...]}
    metrics:  {resource: [...], metric: [...], datapoint: [...]}
    logs:     {resource: [...], log_record: [...]}

or in the newer flat form with inferred contexts (``trace_conditions``, ``metric_conditions``,
``log_conditions``: a list of conditions, or of groups with ``context``, ``conditions`` and
``error_mode``). An item matching any condition is dropped; scopes and resources left empty go
too, as do metrics left without data points (span events dropped never remove their span).
Higher contexts run first, so a dropped span's events are not checked. The legacy
``include``/``exclude`` match properties (``spans``, ``metrics``, ``logs``) are supported with
``strict`` and ``regexp`` matching. Dropped items are counted in
``otelcol_processor_filter_{spans,datapoints,logs}_filtered``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from otlpy.component import Factory, Kind, Settings
from otlpy.config.decode import decode
from otlpy.consumer import Consumer
from otlpy.errors import ConfigError, ConfigProblem, PermanentError
from otlpy.ottl import ConditionSequence, OttlRuntimeError, TransformContext
from otlpy.ottl.pruning import prune
from otlpy.pdata import Batch, Signal, count_items
from otlpy.processors.helper import FunctionProcessor
from otlpy.processors.matching import (
    AttributeMatch,
    Item,
    MatchConfig,
    MatchProperties,
    SeverityNumberMatch,
)
from otlpy.processors.ottl_config import (
    ErrorModeName,
    compile_conditions,
    infer_group_context,
)

__all__ = ["FilterConfig", "factory"]

_METRIC_NAMES = {
    Signal.TRACES: "processor_filter_spans_filtered",
    Signal.METRICS: "processor_filter_datapoints_filtered",
    Signal.LOGS: "processor_filter_logs_filtered",
}
_DOCS = {
    Signal.TRACES: "Number of spans dropped by the filter processor",
    Signal.METRICS: "Number of metric data points dropped by the filter processor",
    Signal.LOGS: "Number of logs dropped by the filter processor",
}


@dataclass(frozen=True, kw_only=True)
class TraceFilters:
    resource: list[str] = field(default_factory=list)
    span: list[str] = field(default_factory=list)
    spanevent: list[str] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class MetricMatchProperties:
    """The legacy metric ``include``/``exclude`` form."""

    match_type: Literal["strict", "regexp", "expr", ""] = ""
    metric_names: list[str] = field(default_factory=list)
    expressions: list[str] = field(default_factory=list)
    resource_attributes: list[AttributeMatch] = field(default_factory=list)
    regexp: dict[str, Any] | None = None

    def to_match(self) -> MatchProperties:
        return MatchProperties(
            match_type=self.match_type,
            metric_names=self.metric_names,
            resources=self.resource_attributes,
        )

    def validate(self) -> list[ConfigProblem]:
        if self.match_type == "expr" or self.expressions:
            return [
                ConfigProblem(
                    "match_type",
                    "the expr match type is not supported: write the expressions as OTTL "
                    "conditions under metrics.metric or metrics.datapoint",
                )
            ]
        return self.to_match().validate()


@dataclass(frozen=True, kw_only=True)
class MetricFilters:
    include: MetricMatchProperties | None = None
    exclude: MetricMatchProperties | None = None
    regexp: dict[str, Any] | None = None
    resource: list[str] = field(default_factory=list)
    metric: list[str] = field(default_factory=list)
    datapoint: list[str] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class LogMatchProperties:
    """The legacy log ``include``/``exclude`` form."""

    match_type: Literal["strict", "regexp", ""] = ""
    resource_attributes: list[AttributeMatch] = field(default_factory=list)
    record_attributes: list[AttributeMatch] = field(default_factory=list)
    severity_texts: list[str] = field(default_factory=list)
    severity_number: SeverityNumberMatch | None = None
    bodies: list[str] = field(default_factory=list)

    def to_match(self) -> MatchProperties:
        return MatchProperties(
            # severity_number alone needs no match type in the Collector
            match_type=self.match_type or "strict",
            resources=self.resource_attributes,
            attributes=self.record_attributes,
            log_severity_texts=self.severity_texts,
            log_severity_number=self.severity_number,
            log_bodies=self.bodies,
        )

    def validate(self) -> list[ConfigProblem]:
        if not self.match_type and (
            self.resource_attributes or self.record_attributes or self.severity_texts or self.bodies
        ):
            return [ConfigProblem("match_type", "required: strict or regexp")]
        problems = self.to_match().validate()
        renames = {
            "resources": "resource_attributes",
            "attributes": "record_attributes",
            "log_severity_texts": "severity_texts",
            "log_bodies": "bodies",
        }
        out = []
        for p in problems:
            head, sep, rest = p.path.partition("[")
            out.append(ConfigProblem(renames.get(head, head) + sep + rest, p.message))
        return out


@dataclass(frozen=True, kw_only=True)
class LogFilters:
    include: LogMatchProperties | None = None
    exclude: LogMatchProperties | None = None
    resource: list[str] = field(default_factory=list)
    log_record: list[str] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class ContextConditions:
    """A group of conditions in the flat form."""

    context: str = ""
    conditions: list[str] = field(default_factory=list)
    error_mode: ErrorModeName | None = None

    def validate(self) -> list[ConfigProblem]:
        if not self.conditions:
            return [ConfigProblem("conditions", "a condition group needs at least one condition")]
        return []


Stage = Callable[[Any], None]

_LEGACY = {
    Signal.TRACES: (
        "traces",
        (("resource", "resource"), ("span", "span"), ("spanevent", "spanevent")),
    ),
    Signal.METRICS: (
        "metrics",
        (("resource", "resource"), ("metric", "metric"), ("datapoint", "datapoint")),
    ),
    Signal.LOGS: ("logs", (("resource", "resource"), ("log_record", "log"))),
}
_FLAT = {
    Signal.TRACES: "trace_conditions",
    Signal.METRICS: "metric_conditions",
    Signal.LOGS: "log_conditions",
}


@dataclass(frozen=True, kw_only=True)
class FilterConfig:
    """The Collector's filter processor settings."""

    error_mode: ErrorModeName = "ignore"
    #: legacy include/exclude of spans
    spans: MatchConfig | None = None
    traces: TraceFilters = field(default_factory=TraceFilters)
    metrics: MetricFilters = field(default_factory=MetricFilters)
    logs: LogFilters = field(default_factory=LogFilters)
    trace_conditions: list[Any] = field(default_factory=list)
    metric_conditions: list[Any] = field(default_factory=list)
    log_conditions: list[Any] = field(default_factory=list)

    def validate(self) -> list[ConfigProblem]:
        problems: list[ConfigProblem] = []
        for signal in Signal:
            problems.extend(self.stages(signal)[1])
        if self.spans is not None:
            problems.extend(
                ConfigProblem(f"spans.{p.path}", p.message)
                for p in self.spans.problems_for([Signal.TRACES])
            )
        return problems

    def _legacy_match(self, signal: Signal) -> tuple[str, MatchConfig] | None:
        if signal is Signal.TRACES:
            return ("spans", self.spans) if self.spans is not None else None
        section: MetricFilters | LogFilters = (
            self.metrics if signal is Signal.METRICS else self.logs
        )
        if section.include is None and section.exclude is None:
            return None
        name = "metrics" if signal is Signal.METRICS else "logs"
        return name, MatchConfig(
            include=section.include.to_match() if section.include else None,
            exclude=section.exclude.to_match() if section.exclude else None,
        )

    def stages(self, signal: Signal) -> tuple[list[Stage], list[ConfigProblem]]:
        """The filtering steps for ``signal``, in order, and the problems found."""
        section_name, contexts = _LEGACY[signal]
        section = getattr(self, section_name)
        flat_name = _FLAT[signal]
        flat: list[Any] = getattr(self, flat_name)
        legacy_ottl = any(getattr(section, key) for key, _ in contexts)
        legacy_match = self._legacy_match(signal)
        problems: list[ConfigProblem] = []
        if flat and (legacy_ottl or legacy_match):
            problems.append(
                ConfigProblem(
                    flat_name,
                    f"cannot be used together with the {section_name} conditions or "
                    "include/exclude settings",
                )
            )
        if legacy_ottl and legacy_match:
            problems.append(
                ConfigProblem(
                    legacy_match[0],
                    f"include/exclude cannot be used together with {section_name} conditions",
                )
            )
        stages: list[Stage] = []
        if legacy_match is not None:
            stages.append(_match_stage(signal, legacy_match[1]))
        for key, context in contexts:
            texts: list[str] = getattr(section, key)
            if not texts:
                continue
            seq, found = compile_conditions(
                texts, context, self.error_mode, signal, f"{section_name}.{key}"
            )
            problems.extend(found)
            if seq is not None:
                stages.append(_condition_stage(seq))
        stages.extend(self._flat_stages(signal, flat, flat_name, problems))
        return stages, problems

    def _flat_stages(
        self, signal: Signal, entries: Sequence[Any], name: str, problems: list[ConfigProblem]
    ) -> list[Stage]:
        stages: list[Stage] = []
        plain = [e for e in entries if isinstance(e, str)]
        if plain and len(plain) != len(entries):
            problems.append(
                ConfigProblem(
                    name,
                    "use either a list of conditions or a list of groups, not both "
                    "(as the Collector requires)",
                )
            )
            return stages
        groups: list[tuple[str, ContextConditions]] = []
        if plain:
            groups.append((name, ContextConditions(conditions=plain)))
        else:
            for i, entry in enumerate(entries):
                group, found = decode(ContextConditions, entry, f"{name}[{i}]")
                problems.extend(found)
                if group is not None and not found:
                    groups.append((f"{name}[{i}]", group))
        for path, group in groups:
            cond_path = path if plain else f"{path}.conditions"
            context = group.context.lower()
            if not context:
                inferred, found = infer_group_context([], group.conditions, signal, cond_path)
                problems.extend(found)
                if inferred is None:
                    continue
                context = inferred
            seq, found = compile_conditions(
                group.conditions, context, group.error_mode or self.error_mode, signal, cond_path
            )
            problems.extend(found)
            if seq is not None:
                stages.append(_condition_stage(seq))
        return stages


def _condition_stage(seq: ConditionSequence) -> Stage:
    def run(request: Any) -> None:
        seq.filter(request)

    return run


def _match_stage(signal: Signal, match: MatchConfig) -> Stage:
    """Drop the items the legacy include/exclude properties do not select."""
    selected = match.compile()
    assert selected is not None
    if signal is Signal.TRACES:

        def drop_span(ctx: TransformContext) -> bool:
            span = ctx.span
            item = Item(ctx.resource, ctx.scope, span.attributes, span.name, span.kind)
            return not selected(item)

        return lambda request: _prune(request, "span", drop_span)

    if signal is Signal.LOGS:

        def drop_log(ctx: TransformContext) -> bool:
            record = ctx.log
            return not selected(Item(ctx.resource, ctx.scope, record.attributes, log=record))

        return lambda request: _prune(request, "log", drop_log)

    def drop_metric(ctx: TransformContext) -> bool:
        return not selected(Item(ctx.resource, ctx.scope, None, ctx.metric.name))

    return lambda request: _prune(request, "metric", drop_metric)


def _prune(request: Any, context: str, drop: Callable[[TransformContext], bool]) -> None:
    prune(request, context, drop)


def create(settings: Settings, config: FilterConfig, next_consumer: Consumer) -> Any:
    """One filter processor for the pipeline ``settings.signal``."""
    signal = settings.signal or Signal.TRACES
    stages, problems = config.stages(signal)
    if problems:  # pragma: no cover - the config was validated
        raise ConfigError(problems)
    filtered = settings.telemetry.counter(_METRIC_NAMES[signal], _DOCS[signal], ("filter",)).labels(
        str(settings.id)
    )

    if not stages:

        async def passthrough(batch: Batch) -> Batch | None:
            return batch

        return FunctionProcessor(passthrough, next_consumer, mutates_data=False)

    async def process(batch: Batch) -> Batch | None:
        before = batch.items
        request = batch.mutable()
        try:
            for stage in stages:
                stage(request)
        except OttlRuntimeError as exc:
            raise PermanentError(f"filter processor {settings.id}: {exc}") from exc
        after = count_items(signal, request)
        if before != after:
            filtered.inc(before - after)
        return batch if after else None

    return FunctionProcessor(process, next_consumer, mutates_data=True)


factory = Factory(
    type="filter",
    kind=Kind.PROCESSOR,
    config=FilterConfig,
    create=create,
    description="drops telemetry matching OTTL conditions",
    stability="beta",
)
