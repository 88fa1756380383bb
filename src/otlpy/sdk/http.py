"""otlpy's exporters with the signatures of ``opentelemetry-exporter-otlp-proto-http``.

Replace ``opentelemetry.exporter.otlp.proto.http.trace_exporter`` (``_log_exporter``,
``metric_exporter``) by ``otlpy.sdk.http`` in an import and nothing else changes: the positional
arguments are the official ones, in the official order, and the protocol is HTTP/protobuf
(``protocol="http/json"`` sends JSON). ``endpoint`` is the full URL, path included, as for the
official exporters. ``meter_provider`` is accepted and ignored (see ``stats()``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry.sdk.metrics.export import AggregationTemporality
from opentelemetry.sdk.metrics.view import Aggregation

from otlpy.sdk import _exporters

__all__ = ["OTLPLogExporter", "OTLPMetricExporter", "OTLPSpanExporter"]


class _SpanOrLogArguments(_exporters.SpanOrLogExporter):
    """The official span and log exporters' constructor, over HTTP."""

    def __init__(
        self,
        endpoint: str | None = None,
        certificate_file: str | None = None,
        client_key_file: str | None = None,
        client_certificate_file: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        compression: Any = None,
        session: Any = None,
        *,
        protocol: str = "http/protobuf",
        meter_provider: Any = None,
        **otlpy_options: Any,
    ) -> None:
        super().__init__(
            endpoint,
            protocol=protocol,
            certificate_file=certificate_file,
            client_key_file=client_key_file,
            client_certificate_file=client_certificate_file,
            headers=headers,
            timeout=timeout,
            compression=compression,
            session=session,
            **otlpy_options,
        )


class OTLPSpanExporter(_SpanOrLogArguments, _exporters.OTLPSpanExporter):
    """Span exporter over HTTP, constructed like the official one."""


class OTLPLogExporter(_SpanOrLogArguments, _exporters.OTLPLogExporter):
    """Log exporter over HTTP, constructed like the official one."""


class OTLPMetricExporter(_exporters.OTLPMetricExporter):
    """Metric exporter over HTTP, constructed like the official one."""

    def __init__(
        self,
        endpoint: str | None = None,
        certificate_file: str | None = None,
        client_key_file: str | None = None,
        client_certificate_file: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        compression: Any = None,
        session: Any = None,
        preferred_temporality: dict[type, AggregationTemporality] | None = None,
        preferred_aggregation: dict[type, Aggregation] | None = None,
        max_export_batch_size: int | None = None,
        *,
        protocol: str = "http/protobuf",
        meter_provider: Any = None,
        **otlpy_options: Any,
    ) -> None:
        super().__init__(
            endpoint,
            protocol=protocol,
            certificate_file=certificate_file,
            client_key_file=client_key_file,
            client_certificate_file=client_certificate_file,
            headers=headers,
            timeout=timeout,
            compression=compression,
            session=session,
            preferred_temporality=preferred_temporality,
            preferred_aggregation=preferred_aggregation,
            max_export_batch_size=max_export_batch_size,
            **otlpy_options,
        )
