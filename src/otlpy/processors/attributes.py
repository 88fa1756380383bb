"""The ``attributes`` processor: insert, update, delete, hash, extract and convert attributes.

Actions (see :mod:`otlpy.processors.attribute_actions`) run on the attributes of each span, log
record or metric data point, in order. ``include`` and ``exclude`` choose the items acted on
(see :mod:`otlpy.processors.matching`): an item is changed when it matches ``include`` (if
given) and does not match ``exclude`` (if given).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from otlpy.component import Factory, Kind, Settings
from otlpy.consumer import Consumer
from otlpy.errors import ConfigProblem
from otlpy.ottl.onbytes import FAST
from otlpy.pdata import Batch, Signal
from otlpy.processors.attribute_actions import (
    ActionConfig,
    byte_ops,
    compile_actions,
    edit_on_bytes,
)
from otlpy.processors.helper import FunctionProcessor
from otlpy.processors.matching import Item, MatchConfig, MatchProperties
from otlpy.wire.protobuf_edit import ATTRIBUTE_PATHS

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


def _items(signal: Signal, request: Any, selected: Any) -> Iterator[tuple[Any, bool]]:
    """Each span, log record or data point's attributes, in order, and whether
    ``include``/``exclude`` choose it."""
    if signal is Signal.TRACES:
        for rs in request.resource_spans:
            resource = rs.resource
            for ss in rs.scope_spans:
                scope = ss.scope
                for span in ss.spans:
                    yield (
                        span.attributes,
                        selected is None
                        or selected(Item(resource, scope, span.attributes, span.name, span.kind)),
                    )
    elif signal is Signal.LOGS:
        for rl in request.resource_logs:
            resource = rl.resource
            for sl in rl.scope_logs:
                scope = sl.scope
                for record in sl.log_records:
                    yield (
                        record.attributes,
                        selected is None
                        or selected(Item(resource, scope, record.attributes, log=record)),
                    )
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
                        yield (
                            point.attributes,
                            selected is None
                            or selected(Item(resource, scope, point.attributes, metric.name)),
                        )


# the items' attribute lists in the bytes: spans and log records (a data point's depends on
# its metric's type, so metrics are changed as messages)
_PATHS = {Signal.TRACES: ATTRIBUTE_PATHS["span"], Signal.LOGS: ATTRIBUTE_PATHS["log"]}


def create(settings: Settings, config: AttributesConfig, next_consumer: Consumer) -> Any:
    """One attributes processor for the pipeline ``settings.signal``."""
    signal = settings.signal or Signal.TRACES
    actions = compile_actions(config.actions)
    selected = MatchConfig(include=config.include, exclude=config.exclude).compile()
    if not actions:
        settings.logger.warning("attributes processor %s has no actions", settings.id)

    path = _PATHS.get(signal)
    ops = byte_ops(config.actions) if FAST and path is not None else None

    async def process(batch: Batch) -> Batch | None:
        if ops and path is not None and batch.has_raw:
            # include/exclude are read before any action, as on the messages
            mask = None
            if selected is not None:
                mask = [chosen for _, chosen in _items(signal, batch.message, selected)]
            edited = edit_on_bytes(batch, path, ops, mask)
            if edited is not None:
                return edited
        if actions:
            apply = actions.apply
            for attributes, chosen in _items(signal, batch.mutable(), selected):
                if chosen:
                    apply(attributes)
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
