"""The ``resource`` processor: apply attribute actions to every resource's attributes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from otlpy.component import Factory, Kind, Settings
from otlpy.consumer import Consumer
from otlpy.ottl.onbytes import FAST
from otlpy.pdata import Batch, Signal
from otlpy.processors.attribute_actions import (
    ActionConfig,
    byte_ops,
    compile_actions,
    edit_on_bytes,
)
from otlpy.processors.helper import FunctionProcessor
from otlpy.wire.protobuf_edit import ATTRIBUTE_PATHS

__all__ = ["ResourceConfig", "factory"]

_RESOURCES = {
    Signal.TRACES: "resource_spans",
    Signal.METRICS: "resource_metrics",
    Signal.LOGS: "resource_logs",
}


@dataclass(frozen=True, kw_only=True)
class ResourceConfig:
    """The Collector's resource processor settings: ``attributes`` is a list of actions."""

    attributes: list[ActionConfig] = field(default_factory=list)


def create(settings: Settings, config: ResourceConfig, next_consumer: Consumer) -> Any:
    """One resource processor for the pipeline ``settings.signal``."""
    field_name = _RESOURCES[settings.signal or Signal.TRACES]
    actions = compile_actions(config.attributes)
    if not actions:
        settings.logger.warning("resource processor %s has no attribute actions", settings.id)

    # resource_*/resource/attributes in every signal: edited in the bytes when they can be
    ops = byte_ops(config.attributes) if FAST else None

    async def process(batch: Batch) -> Batch | None:
        if ops and batch.has_raw:
            edited = edit_on_bytes(
                batch, ATTRIBUTE_PATHS["resource"], ops, singular=True, counts_items=False
            )
            if edited is not None:
                return edited
        if actions:
            for container in getattr(batch.mutable(), field_name):
                actions.apply(container.resource.attributes)
        return batch

    return FunctionProcessor(process, next_consumer, mutates_data=bool(actions))


factory = Factory(
    type="resource",
    kind=Kind.PROCESSOR,
    config=ResourceConfig,
    create=create,
    description="changes resource attributes",
    stability="beta",
)
