"""The ``attributes`` processor: insert, update, delete, hash, extract and convert attributes.

Actions (see :mod:`otlpy.processors.attribute_actions`) run on the attributes of each span, log
record or metric data point, in order. ``include`` and ``exclude`` choose the items acted on
(see :mod:`otlpy.processors.matching`): an item is changed when it matches ``include`` (if
given) and does not match ``exclude`` (if given).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from otlpy.component import Factory, Kind, Settings
from otlpy.consumer import Consumer
from otlpy.errors import ConfigProblem
from otlpy.pdata import Batch, Signal
from otlpy.processors.attribute_actions import ActionConfig, AttributeActions, compile_actions
from otlpy.processors.helper import FunctionProcessor
from otlpy.processors.matching import Item, MatchConfig, MatchProperties

__all__ = ["AttributesConfig", "factory"]


@dataclass(frozen=True, kw_only=True)
class AttributesConfig:
    """The Collector's attributes processor settings."""

    actions: list[ActionConfig] = field(default_factory=list)
    include: MatchProperties | None = None
    exclude: MatchProperties | None = None

    def validate(self) -> list[ConfigProblem]:
        match = MatchConfig(include=self.include, exclude=self.exclude)
        return match.problems_for(list(Signal))


def _walk(signal: Signal, request: Any, actions: AttributeActions, selected: Any) -> None:
    apply = actions.apply
    if signal is Signal.TRACES:
        for rs in request.resource_spans:
            resource = rs.resource
            for ss in rs.scope_spans:
                scope = ss.scope
                for span in ss.spans:
                    if selected is None or selected(
                        Item(resource, scope, span.attributes, span.name, span.kind)
                    ):
                        apply(span.attributes)
    elif signal is Signal.LOGS:
        for rl in request.resource_logs:
            resource = rl.resource
            for sl in rl.scope_logs:
                scope = sl.scope
                for record in sl.log_records:
                    if selected is None or selected(
                        Item(resource, scope, record.attributes, log=record)
                    ):
                        apply(record.attributes)
    else:
        for rm in request.resource_metrics:
            resource = rm.resource
            for sm in rm.scope_metrics:
                scope = sm.scope
                for metric in sm.metrics:
                    kind = metric.WhichOneof("data")
                    if kind is None:
                        continue
                    for point in getattr(metric, kind).data_points:
                        if selected is None or selected(
                            Item(resource, scope, point.attributes, metric.name)
                        ):
                            apply(point.attributes)


def create(settings: Settings, config: AttributesConfig, next_consumer: Consumer) -> Any:
    """One attributes processor for the pipeline ``settings.signal``."""
    signal = settings.signal or Signal.TRACES
    actions = compile_actions(config.actions)
    selected = MatchConfig(include=config.include, exclude=config.exclude).compile()
    if not actions:
        settings.logger.warning("attributes processor %s has no actions", settings.id)

    async def process(batch: Batch) -> Batch | None:
        if actions:
            _walk(signal, batch.mutable(), actions, selected)
        return batch

    return FunctionProcessor(process, next_consumer, mutates_data=bool(actions))


factory = Factory(
    type="attributes",
    kind=Kind.PROCESSOR,
    config=AttributesConfig,
    create=create,
    description="changes span, log and data point attributes",
    stability="beta",
)
