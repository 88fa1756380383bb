"""otlpy's exporters with the signatures of ``opentelemetry-exporter-otlp-proto-grpc``.

Replace ``opentelemetry.exporter.otlp.proto.grpc.trace_exporter`` (``_log_exporter``,
``metric_exporter``) by ``otlpy.sdk.grpc`` in an import and nothing else changes: the positional
arguments are the official ones, in the official order, and the protocol is gRPC whatever
``OTEL_EXPORTER_OTLP_PROTOCOL`` says. ``meter_provider`` is accepted and ignored (see
``stats()`` for the counters).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from opentelemetry.sdk.metrics.export import AggregationTemporality
from opentelemetry.sdk.metrics.view import Aggregation

from otlpy.sdk import _exporters

__all__ = ["OTLPLogExporter", "OTLPMetricExporter", "OTLPSpanExporter"]

_Headers = Sequence[tuple[str, str]] | Mapping[str, str] | str | None


class _SpanOrLogArguments(_exporters.SpanOrLogExporter):
    """The official span and log exporters' constructor, over gRPC."""

    def __init__(
        self,
        endpoint: str | None = None,
        insecure: bool | None = None,
        credentials: Any = None,
        headers: _Headers = None,
        timeout: float | None = None,
        compression: Any = None,
        channel_options: Sequence[tuple[str, Any]] | None = None,
        retryable_error_codes: Iterable[Any] | None = None,
        *,
        meter_provider: Any = None,
        **otlpy_options: Any,
    ) -> None:
        super().__init__(
            endpoint,
            protocol="grpc",
            insecure=insecure,
            credentials=credentials,
            headers=headers,
            timeout=timeout,
            compression=compression,
            channel_options=channel_options,
            retryable_error_codes=retryable_error_codes,
            **otlpy_options,
        )


class OTLPSpanExporter(_SpanOrLogArguments, _exporters.OTLPSpanExporter):
    """Span exporter over gRPC, constructed like the official one."""


class OTLPLogExporter(_SpanOrLogArguments, _exporters.OTLPLogExporter):
    """Log exporter over gRPC, constructed like the official one."""


class OTLPMetricExporter(_exporters.OTLPMetricExporter):
    """Metric exporter over gRPC, constructed like the official one."""

    def __init__(
        self,
        endpoint: str | None = None,
        insecure: bool | None = None,
        credentials: Any = None,
        headers: _Headers = None,
        timeout: float | None = None,
        compression: Any = None,
        preferred_temporality: dict[type, AggregationTemporality] | None = None,
        preferred_aggregation: dict[type, Aggregation] | None = None,
        max_export_batch_size: int | None = None,
        channel_options: Sequence[tuple[str, Any]] | None = None,
        retryable_error_codes: Iterable[Any] | None = None,
        *,
        meter_provider: Any = None,
        **otlpy_options: Any,
    ) -> None:
        super().__init__(
            endpoint,
            protocol="grpc",
            insecure=insecure,
            credentials=credentials,
            headers=headers,
            timeout=timeout,
            compression=compression,
            preferred_temporality=preferred_temporality,
            preferred_aggregation=preferred_aggregation,
            max_export_batch_size=max_export_batch_size,
            channel_options=channel_options,
            retryable_error_codes=retryable_error_codes,
            **otlpy_options,
        )
