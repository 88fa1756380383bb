"""The ``debug`` exporter: write what arrives to the log, at basic, normal or detailed verbosity.

``basic`` logs one line per batch with its counts; ``normal`` adds one line per item (name, ids,
severity or value kind); ``detailed`` logs every field. Like the Collector's, the first
``sampling_initial`` batches each second are logged and then one in ``sampling_thereafter``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Literal

from google.protobuf import text_format

from otlpy.component import Factory, Host, Kind, Settings
from otlpy.consumer import Capabilities
from otlpy.errors import ConfigProblem
from otlpy.pdata import Batch, Signal

__all__ = ["DebugConfig", "DebugExporter", "factory"]


@dataclass(frozen=True, kw_only=True)
class DebugConfig:
    verbosity: Literal["basic", "normal", "detailed"] = "basic"
    sampling_initial: int = 2
    sampling_thereafter: int = 1
    use_internal_logger: bool = True

    def validate(self) -> list[ConfigProblem]:
        problems = []
        if self.sampling_initial < 0:
            problems.append(ConfigProblem("sampling_initial", "must not be negative"))
        if self.sampling_thereafter < 1:
            problems.append(ConfigProblem("sampling_thereafter", "must be at least 1"))
        return problems


def _lines_normal(batch: Batch) -> list[str]:
    message = batch.message
    lines: list[str] = []
    if batch.signal is Signal.TRACES:
        for rs in message.resource_spans:
            lines.append(f"ResourceSpans #{_service(rs.resource)}")
            for ss in rs.scope_spans:
                for span in ss.spans:
                    millis = (span.end_time_unix_nano - span.start_time_unix_nano) / 1e6
                    lines.append(
                        f"  {span.name} {span.trace_id.hex()} {span.span_id.hex()} "
                        f"duration={millis:g}ms"
                    )
    elif batch.signal is Signal.LOGS:
        for rl in message.resource_logs:
            lines.append(f"ResourceLog #{_service(rl.resource)}")
            for sl in rl.scope_logs:
                for record in sl.log_records:
                    body = text_format.MessageToString(record.body, as_one_line=True)
                    lines.append(f"  {record.severity_text or record.severity_number} {body}")
    else:
        for rm in message.resource_metrics:
            lines.append(f"ResourceMetrics #{_service(rm.resource)}")
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    kind = metric.WhichOneof("data") or "empty"
                    lines.append(f"  {metric.name} {kind} {metric.unit}".rstrip())
    return lines


def _service(resource: Any) -> str:
    for kv in resource.attributes:
        if kv.key == "service.name":
            return str(kv.value.string_value)
    return "(no service.name)"


class DebugExporter:
    """Logs batches; never fails and never holds data."""

    def __init__(self, settings: Settings, config: DebugConfig) -> None:
        self._config = config
        self._log: logging.Logger = settings.logger
        self._window = 0
        self._in_window = 0
        self._after = 0

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(mutates_data=False)

    async def start(self, host: Host) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    def _sampled(self) -> bool:
        second = int(time.monotonic())
        if second != self._window:
            self._window, self._in_window, self._after = second, 0, 0
        self._in_window += 1
        if self._in_window <= self._config.sampling_initial:
            return True
        self._after += 1
        return self._after % self._config.sampling_thereafter == 0

    async def consume(self, batch: Batch) -> None:
        if not self._sampled():
            return
        message = batch.message
        signal = batch.signal
        if signal is Signal.TRACES:
            resources = len(message.resource_spans)
        elif signal is Signal.LOGS:
            resources = len(message.resource_logs)
        else:
            resources = len(message.resource_metrics)
        self._log.info(
            "%s: %d resources, %d %s", signal.value, resources, batch.items, signal.item_name
        )
        if self._config.verbosity == "normal":
            self._log.info("\n".join(_lines_normal(batch)))
        elif self._config.verbosity == "detailed":
            self._log.info(text_format.MessageToString(message))


def _create(settings: Settings, config: DebugConfig) -> DebugExporter:
    return DebugExporter(settings, config)


factory = Factory(
    type="debug",
    kind=Kind.EXPORTER,
    config=DebugConfig,
    create=_create,
    description="writes telemetry to the log",
    stability="development",
)
