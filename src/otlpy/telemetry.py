"""Self-telemetry: the collector's own metrics, under the OpenTelemetry Collector's names.

Components record through small views that carry their labels (``receiver``, ``transport``,
``exporter``, ``processor``), so the hot path is one dictionary lookup and one counter increment
per batch, never per item. Metrics are exposed in the Prometheus text format by the telemetry
server (``service.telemetry.metrics``), as ``otelcol_*`` names with ``_total`` on counters.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any

import psutil
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from otlpy.pdata import Signal

__all__ = ["ExporterTelemetry", "ReceiverTelemetry", "SelfTelemetry"]

_PREFIX = "otelcol_"

# ``*_created`` series double the exposition for no use to a collector's operator.
disable_created_metrics()  # type: ignore[no-untyped-call]


class SelfTelemetry:
    """The collector's metrics registry, with helpers for the Collector's standard metrics."""

    def __init__(self, *, level: str = "normal") -> None:
        self.level = level
        self.registry = CollectorRegistry(auto_describe=True)
        self._metrics: dict[str, Any] = {}
        self.registry.register(_ProcessCollector())

    def counter(self, name: str, doc: str, labels: Sequence[str]) -> Counter:
        """Get or create the counter ``otelcol_<name>`` (exposed with ``_total``)."""
        key = _PREFIX + name
        metric = self._metrics.get(key)
        if metric is None:
            metric = Counter(key, doc, tuple(labels), registry=self.registry)
            self._metrics[key] = metric
        return metric

    def gauge(self, name: str, doc: str, labels: Sequence[str]) -> Gauge:
        key = _PREFIX + name
        metric = self._metrics.get(key)
        if metric is None:
            metric = Gauge(key, doc, tuple(labels), registry=self.registry)
            self._metrics[key] = metric
        return metric

    def histogram(
        self, name: str, doc: str, labels: Sequence[str], buckets: Sequence[float]
    ) -> Histogram:
        key = _PREFIX + name
        metric = self._metrics.get(key)
        if metric is None:
            metric = Histogram(key, doc, tuple(labels), buckets=buckets, registry=self.registry)
            self._metrics[key] = metric
        return metric

    def receiver(self, receiver: str, transport: str) -> ReceiverTelemetry:
        return ReceiverTelemetry(self, receiver, transport)

    def exporter(self, exporter: str) -> ExporterTelemetry:
        return ExporterTelemetry(self, exporter)

    def exposition(self) -> bytes:
        """The metrics in the Prometheus text format."""
        return generate_latest(self.registry)


class ReceiverTelemetry:
    """``otelcol_receiver_accepted_*`` and ``otelcol_receiver_refused_*`` for one receiver."""

    __slots__ = ("_accepted", "_refused")

    def __init__(self, telemetry: SelfTelemetry, receiver: str, transport: str) -> None:
        self._accepted = {}
        self._refused = {}
        for signal in Signal:
            item = signal.item_name
            self._accepted[signal] = telemetry.counter(
                f"receiver_accepted_{item}",
                f"Number of {item} successfully pushed into the pipeline.",
                ("receiver", "transport"),
            ).labels(receiver, transport)
            self._refused[signal] = telemetry.counter(
                f"receiver_refused_{item}",
                f"Number of {item} that could not be pushed into the pipeline.",
                ("receiver", "transport"),
            ).labels(receiver, transport)

    def accepted(self, signal: Signal, count: int) -> None:
        if count:
            self._accepted[signal].inc(count)

    def refused(self, signal: Signal, count: int) -> None:
        if count:
            self._refused[signal].inc(count)


class ExporterTelemetry:
    """``otelcol_exporter_sent_*``, ``send_failed_*`` and ``enqueue_failed_*`` for one exporter."""

    __slots__ = ("_enqueue_failed", "_failed", "_sent")

    def __init__(self, telemetry: SelfTelemetry, exporter: str) -> None:
        self._sent = {}
        self._failed = {}
        self._enqueue_failed = {}
        for signal in Signal:
            item = signal.item_name
            self._sent[signal] = telemetry.counter(
                f"exporter_sent_{item}",
                f"Number of {item} successfully sent to destination.",
                ("exporter",),
            ).labels(exporter)
            self._failed[signal] = telemetry.counter(
                f"exporter_send_failed_{item}",
                f"Number of {item} in failed attempts to send to destination.",
                ("exporter",),
            ).labels(exporter)
            self._enqueue_failed[signal] = telemetry.counter(
                f"exporter_enqueue_failed_{item}",
                f"Number of {item} failed to be added to the sending queue.",
                ("exporter",),
            ).labels(exporter)

    def sent(self, signal: Signal, count: int) -> None:
        if count:
            self._sent[signal].inc(count)

    def failed(self, signal: Signal, count: int) -> None:
        if count:
            self._failed[signal].inc(count)

    def enqueue_failed(self, signal: Signal, count: int) -> None:
        if count:
            self._enqueue_failed[signal].inc(count)


class _ProcessCollector(Collector):
    """``otelcol_process_*``: uptime, CPU seconds and resident memory, read at scrape time."""

    def __init__(self) -> None:
        self._process = psutil.Process(os.getpid())
        self._started = time.time()

    def collect(self) -> Any:
        uptime = CounterMetricFamily(
            "otelcol_process_uptime", "Uptime of the process in seconds.", labels=()
        )
        uptime.add_metric((), time.time() - self._started)
        yield uptime
        times = self._process.cpu_times()
        cpu = CounterMetricFamily(
            "otelcol_process_cpu_seconds", "Total CPU user and system time in seconds."
        )
        cpu.add_metric((), times.user + times.system)
        yield cpu
        rss = GaugeMetricFamily("otelcol_process_memory_rss", "Total physical memory (bytes).")
        rss.add_metric((), float(self._process.memory_info().rss))
        yield rss
