"""OpenTelemetry SDK metrics straight to an OTLP ``ExportMetricsServiceRequest``, as bytes.

:func:`encode_metrics` takes the ``MetricsData`` a metric reader hands its exporter and writes the
bytes ``encode_metrics(data).SerializeToString()`` of the official
``opentelemetry-exporter-otlp-proto-common`` gives: gauges, sums (temporality, monotonic),
histograms, exponential histograms, exemplars, and the same quirks (a gauge point carries no start
time, an exponential histogram's empty bucket sets are left out, a metric without points has no
data field).

The SDK already groups metrics by resource and scope; each ``ResourceMetrics`` and
``ScopeMetrics`` is encoded in the order given. (The official encoder keys them by resource and
scope, so a repeated one replaces the earlier; the SDK never repeats them.)
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk.metrics.export import (
    ExponentialHistogram,
    Gauge,
    Histogram,
    MetricsData,
    Sum,
)

from otlpy.pdata import Signal
from otlpy.wire.otlp_json import protobuf_to_json
from otlpy.wire.protobuf_writer import (
    field_bytes,
    pack_double,
    pack_fixed64,
    pack_sfixed64,
    signed_varint,
    varint,
    zigzag32,
)
from otlpy.wire.sdk_attributes import AttributeEncoder
from otlpy.wire.sdk_grouping import envelopes

__all__ = ["encode_metrics", "encode_metrics_json"]

log = logging.getLogger(__name__)

# Metric: name 1, description 2, unit 3, gauge 5, sum 7, histogram 9, exponential_histogram 10
_NAME, _DESCRIPTION, _UNIT = b"\x0a", b"\x12", b"\x1a"
_GAUGE, _SUM, _HISTOGRAM, _EXPONENTIAL = b"\x2a", b"\x3a", b"\x4a", b"\x52"
# Gauge/Sum/Histogram/ExponentialHistogram: data_points 1, aggregation_temporality 2
_DATA_POINT = b"\x0a"
_TEMPORALITY = b"\x10"
_MONOTONIC = b"\x18\x01"  # Sum.is_monotonic = true
_METRIC = b"\x12"  # ScopeMetrics.metrics: 2
# NumberDataPoint: start 2, time 3, as_double 4, exemplars 5, as_int 6, attributes 7
# Exemplar: time 2, as_double 3, span_id 4, trace_id 5, as_int 6, filtered_attributes 7
_START = b"\x11"
_TIME = b"\x19"
_NUMBER_DOUBLE = b"\x21"
_NUMBER_EXEMPLAR = b"\x2a"
_INT = b"\x31"
_EXEMPLAR_TIME = b"\x11"
_EXEMPLAR_DOUBLE = b"\x19"
_EXEMPLAR_SPAN_ID = b"\x22\x08"
_EXEMPLAR_TRACE_ID = b"\x2a\x10"
# HistogramDataPoint: count 4, sum 5, bucket_counts 6, explicit_bounds 7, exemplars 8,
# attributes 9, min 11, max 12
_COUNT = b"\x21"
_HISTOGRAM_SUM = b"\x29"
_BUCKET_COUNTS = b"\x32"
_BOUNDS = b"\x3a"
_HISTOGRAM_EXEMPLAR = b"\x42"
_HISTOGRAM_MIN = b"\x59"
_HISTOGRAM_MAX = b"\x61"
# ExponentialHistogramDataPoint: attributes 1, count 4, sum 5, scale 6, zero_count 7,
# positive 8, negative 9, flags 10, exemplars 11, min 12, max 13; Buckets: offset 1, counts 2
_SCALE = b"\x30"
_ZERO_COUNT = b"\x39"
_POSITIVE = b"\x42"
_NEGATIVE = b"\x4a"
_FLAGS = b"\x50"
_EXPONENTIAL_EXEMPLAR = b"\x5a"
_EXPONENTIAL_MIN = b"\x61"
_EXPONENTIAL_MAX = b"\x69"
_OFFSET = b"\x08"
_BUCKET_COUNTS_UINT64 = b"\x12"

_number_attributes = AttributeEncoder(7)
_exemplar_attributes = AttributeEncoder(7)
_histogram_attributes = AttributeEncoder(9)
_exponential_attributes = AttributeEncoder(1)


def _exemplars(exemplars: Sequence[Any], field_tag: bytes) -> list[bytes]:
    out = []
    for exemplar in exemplars:
        parts = []
        timestamp = exemplar.time_unix_nano
        if timestamp:
            parts.append(_EXEMPLAR_TIME + pack_fixed64(timestamp))
        value = exemplar.value
        if isinstance(value, float):
            parts.append(_EXEMPLAR_DOUBLE + pack_double(value))
        span_id, trace_id = exemplar.span_id, exemplar.trace_id
        if span_id is not None and trace_id is not None:
            parts.append(_EXEMPLAR_SPAN_ID + span_id.to_bytes(8, "big"))
            parts.append(_EXEMPLAR_TRACE_ID + trace_id.to_bytes(16, "big"))
        if not isinstance(value, float):
            if not isinstance(value, int):
                raise ValueError("Exemplar value must be an int or float")
            parts.append(_INT + pack_sfixed64(value))
        _exemplar_attributes.encode(exemplar.filtered_attributes, parts)
        out.append(field_bytes(field_tag, b"".join(parts)))
    return out


def _number_point(point: Any, with_start: bool) -> bytes:
    parts = []
    if with_start and point.start_time_unix_nano:
        parts.append(_START + pack_fixed64(point.start_time_unix_nano))
    if point.time_unix_nano:
        parts.append(_TIME + pack_fixed64(point.time_unix_nano))
    value = point.value
    is_int = isinstance(value, int)
    if not is_int:
        parts.append(_NUMBER_DOUBLE + pack_double(value))
    parts.extend(_exemplars(point.exemplars, _NUMBER_EXEMPLAR))
    if is_int:
        parts.append(_INT + pack_sfixed64(value))
    _number_attributes.encode(point.attributes, parts)
    return field_bytes(_DATA_POINT, b"".join(parts))


def _histogram_point(point: Any) -> bytes:
    parts = []
    if point.start_time_unix_nano:
        parts.append(_START + pack_fixed64(point.start_time_unix_nano))
    if point.time_unix_nano:
        parts.append(_TIME + pack_fixed64(point.time_unix_nano))
    if point.count:
        parts.append(_COUNT + pack_fixed64(point.count))
    if point.sum is not None:  # optional: present even when zero
        parts.append(_HISTOGRAM_SUM + pack_double(point.sum))
    counts = point.bucket_counts
    if counts:
        parts.append(field_bytes(_BUCKET_COUNTS, struct.pack(f"<{len(counts)}Q", *counts)))
    bounds = point.explicit_bounds
    if bounds:
        parts.append(field_bytes(_BOUNDS, struct.pack(f"<{len(bounds)}d", *bounds)))
    parts.extend(_exemplars(point.exemplars, _HISTOGRAM_EXEMPLAR))
    _histogram_attributes.encode(point.attributes, parts)
    if point.min is not None:
        parts.append(_HISTOGRAM_MIN + pack_double(point.min))
    if point.max is not None:
        parts.append(_HISTOGRAM_MAX + pack_double(point.max))
    return field_bytes(_DATA_POINT, b"".join(parts))


def _buckets(buckets: Any) -> bytes:
    offset = buckets.offset
    body = _OFFSET + varint(zigzag32(offset)) if offset else b""
    counts = b"".join([varint(count) for count in buckets.bucket_counts])
    return body + field_bytes(_BUCKET_COUNTS_UINT64, counts)


def _exponential_point(point: Any) -> bytes:
    parts: list[bytes] = []
    _exponential_attributes.encode(point.attributes, parts)
    if point.start_time_unix_nano:
        parts.append(_START + pack_fixed64(point.start_time_unix_nano))
    if point.time_unix_nano:
        parts.append(_TIME + pack_fixed64(point.time_unix_nano))
    if point.count:
        parts.append(_COUNT + pack_fixed64(point.count))
    if point.sum is not None:
        parts.append(_HISTOGRAM_SUM + pack_double(point.sum))
    if point.scale:
        parts.append(_SCALE + varint(zigzag32(point.scale)))
    if point.zero_count:
        parts.append(_ZERO_COUNT + pack_fixed64(point.zero_count))
    # the official encoder leaves out bucket sets without counts
    if point.positive.bucket_counts:
        parts.append(field_bytes(_POSITIVE, _buckets(point.positive)))
    if point.negative.bucket_counts:
        parts.append(field_bytes(_NEGATIVE, _buckets(point.negative)))
    if point.flags:
        parts.append(_FLAGS + varint(point.flags))
    parts.extend(_exemplars(point.exemplars, _EXPONENTIAL_EXEMPLAR))
    if point.min is not None:
        parts.append(_EXPONENTIAL_MIN + pack_double(point.min))
    if point.max is not None:
        parts.append(_EXPONENTIAL_MAX + pack_double(point.max))
    return field_bytes(_DATA_POINT, b"".join(parts))


def _temporality(data: Any) -> bytes:
    value = int(data.aggregation_temporality)
    return _TEMPORALITY + signed_varint(value) if value else b""


def _encode_metric(metric: Any) -> bytes:
    parts = []
    if metric.name:
        parts.append(field_bytes(_NAME, metric.name.encode()))
    if metric.description:
        parts.append(field_bytes(_DESCRIPTION, metric.description.encode()))
    if metric.unit:
        parts.append(field_bytes(_UNIT, metric.unit.encode()))
    data = metric.data
    points = getattr(data, "data_points", ())
    # A metric without points gets no data field at all, as in the official encoder.
    if isinstance(data, Gauge):
        if points:
            body = b"".join([_number_point(point, False) for point in points])
            parts.append(field_bytes(_GAUGE, body))
    elif isinstance(data, Histogram):
        if points:
            body = b"".join([_histogram_point(point) for point in points])
            parts.append(field_bytes(_HISTOGRAM, body + _temporality(data)))
    elif isinstance(data, Sum):
        if points:
            body = b"".join([_number_point(point, True) for point in points])
            body += _temporality(data) + (_MONOTONIC if data.is_monotonic else b"")
            parts.append(field_bytes(_SUM, body))
    elif isinstance(data, ExponentialHistogram):
        if points:
            body = b"".join([_exponential_point(point) for point in points])
            parts.append(field_bytes(_EXPONENTIAL, body + _temporality(data)))
    else:
        log.warning("unsupported data type %s", type(data).__name__)
    return b"".join(parts)


def encode_metrics(data: MetricsData) -> bytes:
    """Serialize SDK ``MetricsData`` as an ``ExportMetricsServiceRequest`` (protobuf bytes)."""
    parts: list[bytes] = []
    for resource_metrics in data.resource_metrics:
        scope_groups: list[bytes] = []
        size = 0
        for scope_metrics in resource_metrics.scope_metrics:
            encoded = []
            for metric in scope_metrics.metrics:
                body = _encode_metric(metric)
                encoded.append(_METRIC + varint(len(body)) + body)
            size += envelopes.scope_group(scope_metrics.scope, encoded, scope_groups)
        parts += envelopes.resource_group(resource_metrics.resource, scope_groups, size)
    for encoder in (_number_attributes, _exemplar_attributes, _histogram_attributes):
        encoder.report_invalid("data point")
    _exponential_attributes.report_invalid("data point")
    return b"".join(parts)


def encode_metrics_json(data: MetricsData) -> bytes:
    """Serialize SDK ``MetricsData`` as an OTLP/JSON ``ExportMetricsServiceRequest``."""
    return protobuf_to_json(Signal.METRICS, encode_metrics(data))
