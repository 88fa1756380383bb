"""Drop-in exporters and processors for the OpenTelemetry Python SDK.

Switch by changing one import (``from otlpy.sdk import OTLPSpanExporter``; ``otlpy.sdk.grpc`` and
``otlpy.sdk.http`` take the official exporters' positional arguments) or one environment
variable (``OTEL_TRACES_EXPORTER=otlpy``, and likewise for metrics and logs). Pair the exporters
with :class:`BatchSpanProcessor` / :class:`BatchLogRecordProcessor` to keep encoding and the
network off the application thread::

    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from otlpy.sdk import BatchSpanProcessor, OTLPSpanExporter

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)

See ``docs/sdk.md`` for the settings and what differs from the official exporters.
"""

from __future__ import annotations

from otlpy.sdk._delivery import DeliveryStats
from otlpy.sdk._exporters import (
    QUEUE_DIR_ENV,
    OTLPLogExporter,
    OTLPMetricExporter,
    OTLPSpanExporter,
)
from otlpy.sdk._processor import BatchLogRecordProcessor, BatchSpanProcessor, ProcessorStats
from otlpy.sdk._retry import RetryPolicy

__all__ = [
    "QUEUE_DIR_ENV",
    "BatchLogRecordProcessor",
    "BatchSpanProcessor",
    "DeliveryStats",
    "OTLPLogExporter",
    "OTLPMetricExporter",
    "OTLPSpanExporter",
    "ProcessorStats",
    "RetryPolicy",
]
