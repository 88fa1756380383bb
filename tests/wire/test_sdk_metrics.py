from __future__ import annotations

import logging

import orjson
import pytest
from google.protobuf import json_format
from hypothesis import HealthCheck, Phase, given, settings
from opentelemetry.exporter.otlp.proto.common._internal.metrics_encoder import (
    encode_metrics as official_encode_metrics,
)
from opentelemetry.metrics import Observation
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    InMemoryMetricReader,
    Metric,
    MetricsData,
    ResourceMetrics,
    ScopeMetrics,
)
from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from sdk_strategies import METRICS_DATA
from wire_strategies import base64_ids_to_hex

from otlpy.wire.sdk_metrics import encode_metrics, encode_metrics_json

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
)


@SETTINGS
@given(data=METRICS_DATA)
def test_byte_identical_to_the_official_encoder(data: MetricsData) -> None:
    assert encode_metrics(data) == official_encode_metrics(data).SerializeToString()


@SETTINGS
@given(data=METRICS_DATA)
def test_json_agrees_with_json_format(data: MetricsData) -> None:
    printed = json_format.MessageToDict(official_encode_metrics(data), use_integers_for_enums=True)
    assert orjson.loads(encode_metrics_json(data)) == base64_ids_to_hex(printed)


def test_every_instrument_from_a_real_meter_provider() -> None:
    reader = InMemoryMetricReader()
    provider = MeterProvider(
        resource=Resource.create({"service.name": "svc"}),
        metric_readers=[reader],
        views=[
            View(instrument_name="exp", aggregation=ExponentialBucketHistogramAggregation()),
            View(instrument_name="*"),
        ],
    )
    meter = provider.get_meter("lib", "1.0", schema_url="https://s/1")
    tracer = TracerProvider().get_tracer("t")
    counter = meter.create_counter("requests", unit="{request}", description="served")
    updown = meter.create_up_down_counter("queue")
    histogram = meter.create_histogram("latency", unit="ms")
    exponential = meter.create_histogram("exp")
    gauge = meter.create_gauge("temperature")
    meter.create_observable_gauge("cpu", callbacks=[lambda options: [Observation(0.5, {"c": 1})]])
    with tracer.start_as_current_span("s"):  # sampled: exemplars carry trace and span ids
        for value in (1, 5, 250, 0.25):
            counter.add(value, {"route": "/a"})
            updown.add(-value if isinstance(value, int) else value)
            histogram.record(value, {"route": "/b"})
            exponential.record(value)
            exponential.record(-value)
            gauge.set(value)
    data = reader.get_metrics_data()
    assert data is not None
    ours = encode_metrics(data)
    assert ours == official_encode_metrics(data).SerializeToString()
    message = ExportMetricsServiceRequest.FromString(ours)
    kinds = {m.WhichOneof("data") for m in message.resource_metrics[0].scope_metrics[0].metrics}
    assert kinds == {"sum", "histogram", "exponential_histogram", "gauge"}
    provider.shutdown()


def test_unsupported_data_type_is_logged_and_left_empty(caplog: pytest.LogCaptureFixture) -> None:
    metric = Metric(name="odd", description=None, unit=None, data=object())  # type: ignore[arg-type]
    scope = ScopeMetrics(InstrumentationScope("lib"), [metric], "")
    data = MetricsData([ResourceMetrics(Resource({}), [scope], "")])
    with caplog.at_level(logging.WARNING):
        ours = encode_metrics(data)
    assert ours == official_encode_metrics(data).SerializeToString()
    assert "unsupported data type object" in caplog.text
