"""Span, metric and log exporters implementing the OpenTelemetry SDK's exporter interfaces.

Each exporter encodes the SDK's data straight to request bytes once, then hands them to a
:class:`~otlpy.sdk._delivery.Delivery` that sends them over gRPC or HTTP (protobuf or JSON),
retrying as the OTLP specification says. ``export()`` is synchronous, like the official
exporters' (it returns once the server answered or the timeout passed), unless a disk queue is
configured: then it returns once the request is safely queued, and a sender thread delivers it.
:class:`~otlpy.sdk.BatchSpanProcessor` and :class:`~otlpy.sdk.BatchLogRecordProcessor` go
further: they hand encoded batches to the exporter's queue and never wait for the network.

Example::

    from opentelemetry.sdk.trace import TracerProvider
    from otlpy.sdk import BatchSpanProcessor, OTLPSpanExporter

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter("http://collector:4317")))
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, TypedDict, Unpack

from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.metrics import (
    Counter,
    Histogram,
    ObservableCounter,
    ObservableGauge,
    ObservableUpDownCounter,
    UpDownCounter,
)
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    MetricExporter,
    MetricExportResult,
    MetricsData,
)
from opentelemetry.sdk.metrics.view import (
    Aggregation,
    ExplicitBucketHistogramAggregation,
    ExponentialBucketHistogramAggregation,
)
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from otlpy.errors import ConfigError, ConfigProblem
from otlpy.pdata import Signal
from otlpy.sdk._config import HeadersArg, resolve_settings
from otlpy.sdk._delivery import Delivery, DeliveryStats, Transport
from otlpy.sdk._encoding import Encoder, encoder_for
from otlpy.sdk._queue import MemoryQueue, RequestQueue, open_disk_queue
from otlpy.sdk._retry import RETRYABLE_GRPC_CODES, RetryPolicy
from otlpy.sdk._transport import GrpcTransport, HttpTransport, load_tls

__all__ = [
    "QUEUE_DIR_ENV",
    "OTLPLogExporter",
    "OTLPMetricExporter",
    "OTLPSpanExporter",
]

log = logging.getLogger("otlpy.sdk")

#: Environment variable naming the directory of the disk queue (one subdirectory per signal).
QUEUE_DIR_ENV = "OTLPY_QUEUE_DIR"
_MEMORY_QUEUE_BYTES = 32 << 20
_MAX_REQUEST_SIZE = 64 << 20
_DISK_QUEUE_BYTES = 256 << 20


def _code_names(codes: Iterable[Any] | None) -> frozenset[str]:
    if codes is None:
        return RETRYABLE_GRPC_CODES
    return frozenset(c.upper() if isinstance(c, str) else str(c.name) for c in codes)


class ExporterOptions(TypedDict, total=False):
    """The keyword arguments every exporter takes (see :class:`OTLPSpanExporter`)."""

    protocol: str | None
    insecure: bool | None
    credentials: Any
    headers: HeadersArg
    timeout: float | None
    compression: Any
    certificate_file: str | None
    client_key_file: str | None
    client_certificate_file: str | None
    channel_options: Sequence[tuple[str, Any]] | None
    retryable_error_codes: Iterable[Any] | None
    session: Any
    queue_dir: str | os.PathLike[str] | None
    max_queue_bytes: int | None
    queue_fsync: str | None
    retry_policy: RetryPolicy | None
    max_request_size: int | None


class ExporterCore:
    """Settings, encoder and delivery of one exporter; what the batch processors talk to."""

    __slots__ = ("delivery", "encode", "max_request_size", "settings", "shut_down", "signal")

    def __init__(
        self,
        signal: Signal,
        *,
        protocol: str | None = None,
        endpoint: str | None = None,
        insecure: bool | None = None,
        credentials: Any = None,
        headers: HeadersArg = None,
        timeout: float | None = None,
        compression: Any = None,
        certificate_file: str | None = None,
        client_key_file: str | None = None,
        client_certificate_file: str | None = None,
        channel_options: Sequence[tuple[str, Any]] | None = None,
        retryable_error_codes: Iterable[Any] | None = None,
        session: Any = None,
        queue_dir: str | os.PathLike[str] | None = None,
        max_queue_bytes: int | None = None,
        queue_fsync: str | None = None,
        retry_policy: RetryPolicy | None = None,
        max_request_size: int | None = None,
    ) -> None:
        settings = resolve_settings(
            signal,
            protocol=protocol,
            endpoint=endpoint,
            insecure=insecure,
            headers=headers,
            compression=compression,
            timeout=timeout,
            certificate_file=certificate_file,
            client_key_file=client_key_file,
            client_certificate_file=client_certificate_file,
        )
        tls = load_tls(settings)
        if max_queue_bytes is not None and max_queue_bytes <= 0:
            raise ConfigError([ConfigProblem("max_queue_bytes", "must be > 0")])
        self.signal = signal
        self.settings = settings
        self.encode: Encoder = encoder_for(signal, json=settings.protocol == "http/json")
        self.shut_down = False
        # As the official exporters: 64 MiB before compression; 0 or less turns the check off.
        self.max_request_size = (
            _MAX_REQUEST_SIZE if max_request_size is None else max(max_request_size, 0)
        )

        def make_transport() -> Transport:
            if settings.is_grpc:
                return GrpcTransport(
                    settings,
                    tls,
                    credentials=credentials,
                    channel_options=tuple(channel_options or ()),
                    retryable_codes=_code_names(retryable_error_codes),
                )
            return HttpTransport(settings, tls, session=session)

        directory = queue_dir if queue_dir is not None else os.environ.get(QUEUE_DIR_ENV) or None
        persistent = directory is not None
        if persistent:
            assert directory is not None
            path = Path(directory) / signal.value
            size = max_queue_bytes or _DISK_QUEUE_BYTES

            def make_queue() -> RequestQueue:
                return open_disk_queue(path, max_bytes=size, fsync=queue_fsync)

        else:
            size = max_queue_bytes or _MEMORY_QUEUE_BYTES

            def make_queue() -> RequestQueue:
                return MemoryQueue(size)

        policy = retry_policy or RetryPolicy(max_elapsed=None if persistent else 300.0)
        self.delivery = Delivery(
            name=f"{signal.value} exporter",
            make_transport=make_transport,
            make_queue=make_queue,
            timeout=settings.timeout,
            policy=policy,
            persistent=persistent,
        )
        if persistent:
            # Requests a previous run left on disk are delivered without waiting for new data.
            self.delivery.start()

    def export(self, data: Any, items: int, timeout: float | None = None) -> bool:
        """Encode ``data`` once and deliver it (or queue it, with a disk queue)."""
        if self.shut_down:
            self.delivery.count_dropped(items, "the exporter is shut down")
            return False
        try:
            payload = self.encode(data)
        except Exception:  # bad SDK data must not reach the application
            log.exception("cannot encode %d %s items", items, self.signal.value)
            self.delivery.count_dropped(items, "encoding failed")
            return False
        if not self.fits(payload, items):
            return False
        if self.delivery.persistent:
            return self.delivery.submit(payload, items)
        return self.delivery.send(payload, items, timeout)

    def fits(self, payload: bytes, items: int) -> bool:
        """False (and the items counted as dropped) when ``payload`` is over the size limit."""
        if 0 < self.max_request_size < len(payload):
            self.delivery.count_dropped(
                items,
                f"the request is {len(payload)} bytes, over max_request_size "
                f"({self.max_request_size}); use a smaller batch size",
            )
            return False
        return True

    def force_flush(self, timeout_millis: float) -> bool:
        return self.delivery.flush(max(timeout_millis, 0) / 1000.0)

    def shutdown(self, timeout_millis: float) -> None:
        if self.shut_down:
            return
        self.shut_down = True
        self.delivery.shutdown(max(timeout_millis, 0) / 1000.0)


def core_of(exporter: object) -> ExporterCore | None:
    """The otlpy core of an exporter, or None when it is not one of ours."""
    core = getattr(exporter, "_otlpy", None)
    return core if isinstance(core, ExporterCore) else None


class SpanOrLogExporter:
    """What the span and log exporters share: construction, flushing, shutdown and stats.

    The official-signature exporters of :mod:`otlpy.sdk.grpc` and :mod:`otlpy.sdk.http` build
    on it, so that each writes the span and log constructor once.
    """

    _signal: ClassVar[Signal]

    def __init__(self, endpoint: str | None = None, **options: Unpack[ExporterOptions]) -> None:
        self._otlpy = ExporterCore(self._signal, endpoint=endpoint, **options)

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self._otlpy.force_flush(timeout_millis)

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        self._otlpy.shutdown(timeout_millis)

    def stats(self) -> DeliveryStats:
        """What became of the spans (log records) exported so far."""
        return self._otlpy.delivery.stats()


class OTLPSpanExporter(SpanOrLogExporter, SpanExporter):
    """Exports spans over OTLP (gRPC, HTTP/protobuf or HTTP/JSON).

    Arguments override the ``OTEL_EXPORTER_OTLP_*`` environment variables; ``timeout`` is in
    seconds (the variables are in milliseconds). ``protocol`` is ``grpc`` (the default, as for
    the SDK's ``otlp`` exporter), ``http/protobuf`` or ``http/json``. ``queue_dir`` (or
    ``OTLPY_QUEUE_DIR``) keeps requests on disk until delivered.
    """

    _signal = Signal.TRACES

    def export(self, spans: Sequence[Any]) -> SpanExportResult:
        ok = self._otlpy.export(spans, len(spans))
        return SpanExportResult.SUCCESS if ok else SpanExportResult.FAILURE


class OTLPLogExporter(SpanOrLogExporter, LogRecordExporter):
    """Exports log records over OTLP; arguments as for :class:`OTLPSpanExporter`."""

    _signal = Signal.LOGS

    def export(self, batch: Sequence[Any]) -> LogRecordExportResult:
        ok = self._otlpy.export(batch, len(batch))
        return LogRecordExportResult.SUCCESS if ok else LogRecordExportResult.FAILURE


# -- metrics ------------------------------------------------------------------------------------

_TEMPORALITY_ENV = "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE"
_HISTOGRAM_ENV = "OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION"
_DELTA = AggregationTemporality.DELTA
_CUMULATIVE = AggregationTemporality.CUMULATIVE
# The specification's three presets: which instruments report deltas.
_TEMPORALITY_PRESETS: dict[str, dict[type, AggregationTemporality]] = {
    "cumulative": {},
    "delta": {
        Counter: _DELTA,
        Histogram: _DELTA,
        ObservableCounter: _DELTA,
    },
    "lowmemory": {
        Counter: _DELTA,
        Histogram: _DELTA,
    },
}
_INSTRUMENTS = (
    Counter,
    UpDownCounter,
    Histogram,
    ObservableCounter,
    ObservableUpDownCounter,
    ObservableGauge,
)


def temporality_preference(
    preferred: Mapping[type, AggregationTemporality] | None = None,
    environ: Mapping[str, str] | None = None,
) -> dict[type, AggregationTemporality]:
    """Temporality per instrument: the environment's preset, then ``preferred`` over it."""
    env = os.environ if environ is None else environ
    name = env.get(_TEMPORALITY_ENV, "").strip().lower() or "cumulative"
    if name not in _TEMPORALITY_PRESETS:
        log.warning("ignoring %s=%r: not cumulative, delta or lowmemory", _TEMPORALITY_ENV, name)
        name = "cumulative"
    table: dict[type, AggregationTemporality] = dict.fromkeys(_INSTRUMENTS, _CUMULATIVE)
    table.update(_TEMPORALITY_PRESETS[name])
    table.update(preferred or {})
    return table


def aggregation_preference(
    preferred: Mapping[type, Aggregation] | None = None,
    environ: Mapping[str, str] | None = None,
) -> dict[type, Aggregation]:
    """Default histogram aggregation from the environment, then ``preferred`` over it."""
    env = os.environ if environ is None else environ
    name = env.get(_HISTOGRAM_ENV, "").strip().lower() or "explicit_bucket_histogram"
    histogram: Aggregation
    if name == "base2_exponential_bucket_histogram":
        histogram = ExponentialBucketHistogramAggregation()
    else:
        if name != "explicit_bucket_histogram":
            log.warning(
                "ignoring %s=%r: not explicit_bucket_histogram or "
                "base2_exponential_bucket_histogram",
                _HISTOGRAM_ENV,
                name,
            )
        histogram = ExplicitBucketHistogramAggregation()
    table: dict[type, Aggregation] = {Histogram: histogram}
    table.update(preferred or {})
    return table


def count_points(data: MetricsData) -> int:
    """Data points in ``data``."""
    return sum(
        len(metric.data.data_points)
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for metric in sm.metrics
    )


def split_metrics(data: MetricsData, max_points: int) -> Iterator[MetricsData]:
    """``data`` cut into pieces of at most ``max_points`` data points, in order."""
    replace = dataclasses.replace
    resources: list[Any] = []
    count = 0
    for rm in data.resource_metrics:
        scopes: list[Any] = []
        resources.append(replace(rm, scope_metrics=scopes))
        for sm in rm.scope_metrics:
            metrics: list[Any] = []
            scopes.append(replace(sm, metrics=metrics))
            for metric in sm.metrics:
                points = list(metric.data.data_points)
                while points:
                    room = max_points - count
                    taken, points = points[:room], points[room:]
                    metrics.append(replace(metric, data=replace(metric.data, data_points=taken)))
                    count += len(taken)
                    if count >= max_points:
                        yield _pruned(resources)
                        count = 0
                        metrics = []
                        scopes = [replace(sm, metrics=metrics)]
                        resources = [replace(rm, scope_metrics=scopes)]
    if count:
        yield _pruned(resources)


def _pruned(resources: list[Any]) -> MetricsData:
    # Scopes and resources left without metrics by the cut are not sent.
    return MetricsData(
        resource_metrics=[
            dataclasses.replace(rm, scope_metrics=[s for s in rm.scope_metrics if s.metrics])
            for rm in resources
            if any(s.metrics for s in rm.scope_metrics)
        ]
    )


class OTLPMetricExporter(MetricExporter):
    """Exports metrics over OTLP; arguments as for :class:`OTLPSpanExporter`, plus:

    ``preferred_temporality`` and ``preferred_aggregation`` override what
    ``OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`` and
    ``OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION`` select;
    ``max_export_batch_size`` splits an export into requests of at most that many data points.
    """

    def __init__(
        self,
        endpoint: str | None = None,
        *,
        preferred_temporality: dict[type, AggregationTemporality] | None = None,
        preferred_aggregation: dict[type, Aggregation] | None = None,
        max_export_batch_size: int | None = None,
        **options: Unpack[ExporterOptions],
    ) -> None:
        if max_export_batch_size is not None and max_export_batch_size <= 0:
            raise ConfigError([ConfigProblem("max_export_batch_size", "must be > 0")])
        super().__init__(
            preferred_temporality=temporality_preference(preferred_temporality),
            preferred_aggregation=aggregation_preference(preferred_aggregation),
        )
        self._max_points = max_export_batch_size
        self._otlpy = ExporterCore(Signal.METRICS, endpoint=endpoint, **options)

    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> MetricExportResult:
        budget = min(self._otlpy.settings.timeout, max(timeout_millis, 0) / 1000.0)
        pieces = (
            [metrics_data]
            if self._max_points is None
            else list(split_metrics(metrics_data, self._max_points))
        )
        ok = True
        for piece in pieces:
            ok = self._otlpy.export(piece, count_points(piece), budget) and ok
        return MetricExportResult.SUCCESS if ok else MetricExportResult.FAILURE

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return self._otlpy.force_flush(timeout_millis)

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        self._otlpy.shutdown(timeout_millis)

    def stats(self) -> DeliveryStats:
        """What became of the data points exported so far."""
        return self._otlpy.delivery.stats()
