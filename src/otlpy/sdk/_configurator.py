"""A configurator for ``opentelemetry-instrument`` that pairs otlpy's exporters with its processors.

The SDK's configurator wraps every exporter named in ``OTEL_TRACES_EXPORTER`` /
``OTEL_LOGS_EXPORTER`` in the SDK's own batch processor, which holds spans for the application
thread to encode on export and drops them when its queue fills. This one is the SDK's, except
that when the exporters of a signal are all otlpy's, they get otlpy's batch processor instead
(encoding in its worker, bounded memory, no silent drops: see docs/sdk.md). Other exporters,
metrics, resources, samplers and everything else are configured exactly as the SDK does it.

Selected with ``OTEL_PYTHON_CONFIGURATOR=otlpy`` (registered in the ``opentelemetry_configurator``
entry-point group), or used first by ``opentelemetry-instrument`` when it is the only configurator
installed.
"""

from __future__ import annotations

from typing import Any, Literal

from opentelemetry.sdk._configuration import _get_exporter_names, _OTelSDKConfigurator

from otlpy.sdk._processor import BatchLogRecordProcessor, BatchSpanProcessor

__all__ = ["OtlpyConfigurator"]

#: the names our exporters are registered under (pyproject's opentelemetry_*_exporter groups)
OUR_EXPORTERS = frozenset({"otlpy", "otlpy_proto_grpc", "otlpy_proto_http"})


def _only_ours(signal: Literal["traces", "logs"]) -> bool:
    names = _get_exporter_names(signal)
    return bool(names) and set(names) <= OUR_EXPORTERS


class OtlpyConfigurator(_OTelSDKConfigurator):
    """The SDK's configurator, with otlpy's batch processors for otlpy's exporters."""

    def _configure(self, **kwargs: Any) -> None:
        if _only_ours("traces"):
            kwargs.setdefault("export_span_processor", BatchSpanProcessor)
        if _only_ours("logs"):
            kwargs.setdefault("export_log_record_processor", BatchLogRecordProcessor)
        super()._configure(**kwargs)  # type: ignore[no-untyped-call]
