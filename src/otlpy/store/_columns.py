"""OTLP export requests to Arrow tables, one table per request and signal.

This is the store's hot path. It walks only what the columns need, appends to plain lists
(one per column) and builds each Arrow array once. Span and log attributes are not walked at
all: the record is serialized whole into the ``proto`` column, one code point per byte (see
``_schema``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from otlpy.store._anyvalue import (
    any_value_json,
    any_value_text,
    attributes_json,
)
from otlpy.store._frames import record_frames

__all__ = [
    "METRIC_TYPES",
    "ResourceRegistry",
    "logs_table",
    "metrics_table",
    "spans_table",
]

Message = Any

UNKNOWN_SERVICE = "unknown_service"

# Metric type codes stored in ``metric_points.type``, by the ``Metric.data`` oneof name.
METRIC_TYPES = {
    "gauge": 1,
    "sum": 2,
    "histogram": 3,
    "exponential_histogram": 4,
    "summary": 5,
}

_INT64_MAX = pa.scalar(2**63 - 1, pa.uint64())


def _nanos(values: Sequence[int]) -> Any:
    """uint64 nanosecond timestamps as int64, saturating far-future values instead of failing."""
    return pc.min_element_wise(pa.array(values, pa.uint64()), _INT64_MAX).cast(pa.int64())


def _enum(values: Sequence[int]) -> Any:
    """Protobuf enum values (open, so possibly out of range) as uint8, clamped."""
    array = pa.array(values, pa.int64())
    return pc.max_element_wise(pc.min_element_wise(array, 255), 0).cast(pa.uint8())


def _resource_id(key: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "little")


def _map_array(offsets: list[int], keys: list[str], values: list[str]) -> Any:
    return pa.MapArray.from_arrays(
        pa.array(offsets, pa.int32()), pa.array(keys, pa.string()), pa.array(values, pa.string())
    )


def _unique_attributes(attributes: Any) -> tuple[list[str], list[str], bytes]:
    """Keys, text values and typed JSON of an attribute list, first occurrence of a key wins.

    OTLP forbids duplicate keys but does not stop senders; DuckDB maps refuse them.
    """
    keys: list[str] = []
    texts: list[str] = []
    typed = []
    seen: set[str] = set()
    for kv in attributes:
        key = kv.key
        if key in seen:
            continue
        seen.add(key)
        value = kv.value
        keys.append(key)
        texts.append(any_value_text(value))
        typed.append({"key": key, "value": any_value_json(value)})
    return keys, texts, orjson.dumps(typed)


class ResourceRegistry:
    """The distinct resources written, each stored once in the ``resources`` table.

    A resource is identified by a hash of its serialized bytes and schema URL. ``pending``
    holds the rows of resources first seen since the last flush.
    """

    __slots__ = ("_known", "_pending")

    _LIMIT = 10_000

    def __init__(self) -> None:
        self._known: dict[bytes, tuple[int, str]] = {}
        self._pending: dict[int, tuple[Any, ...]] = {}

    def register(self, resource: Message, schema_url: str) -> tuple[int, str]:
        """The id and service name of ``resource``, queuing its row if it is new."""
        key = resource.SerializeToString() + b"\x00" + schema_url.encode()
        found = self._known.get(key)
        if found is not None:
            return found
        resource_id = _resource_id(key)
        service = UNKNOWN_SERVICE
        for kv in resource.attributes:
            if kv.key == "service.name" and kv.value.WhichOneof("value") == "string_value":
                service = kv.value.string_value
                break
        keys, texts, typed = _unique_attributes(resource.attributes)
        self._pending[resource_id] = (
            resource_id,
            service,
            keys,
            texts,
            typed.decode(),
            resource.dropped_attributes_count,
            schema_url,
        )
        if len(self._known) >= self._LIMIT:
            # a bounded cache: forgetting only costs re-registering (an ignored insert)
            self._known.clear()
        self._known[key] = (resource_id, service)
        return resource_id, service

    def has_pending(self) -> bool:
        """True when resources wait to be inserted."""
        return bool(self._pending)

    def forget(self) -> None:
        """Drop the cache (after retention deleted resources from the table)."""
        self._known.clear()

    def take_pending(self) -> Any:
        """The rows queued since the last call, as an Arrow table (None when there are none)."""
        if not self._pending:
            return None
        rows = list(self._pending.values())
        self._pending.clear()
        offsets = [0]
        keys: list[str] = []
        texts: list[str] = []
        for row in rows:
            keys.extend(row[2])
            texts.extend(row[3])
            offsets.append(len(keys))
        return pa.table(
            {
                "resource_id": pa.array([r[0] for r in rows], pa.uint64()),
                "service_name": pa.array([r[1] for r in rows], pa.string()),
                "attributes": _map_array(offsets, keys, texts),
                "attributes_json": pa.array([r[4] for r in rows], pa.string()),
                "dropped_attributes_count": pa.array([r[5] for r in rows], pa.uint32()),
                "schema_url": pa.array([r[6] for r in rows], pa.string()),
            }
        )

    def requeue(self, table: Any) -> None:
        """Put rows taken by :meth:`take_pending` back after a failed flush."""
        for row in table.to_pylist():
            attributes = row["attributes"]
            self._pending[row["resource_id"]] = (
                row["resource_id"],
                row["service_name"],
                [k for k, _ in attributes],
                [v for _, v in attributes],
                row["attributes_json"],
                row["dropped_attributes_count"],
                row["schema_url"],
            )


def _frames_of(raw: bytes | None, count: int) -> list[str] | None:
    """The records sliced out of ``raw``, as ``proto`` column values; None when there are no
    bytes or they do not hold ``count`` records (then records are serialized again)."""
    if raw is None:
        return None
    try:
        frames = record_frames(raw)
    except ValueError:
        return None
    if len(frames) != count:
        return None
    return [frame.decode("latin-1") for frame in frames]


def spans_table(message: Message, resources: ResourceRegistry, raw: bytes | None = None) -> Any:
    """The spans of an ``ExportTraceServiceRequest`` as an Arrow table (None if it has none).

    ``raw``, the request's serialized bytes when at hand, saves serializing each span again.
    """
    trace_ids: list[bytes] = []
    span_ids: list[bytes] = []
    parents: list[bytes] = []
    states: list[str] = []
    names: list[str] = []
    kinds: list[int] = []
    starts: list[int] = []
    ends: list[int] = []
    codes: list[int] = []
    messages: list[str] = []
    flags: list[int] = []
    protos: list[str] = []
    services: list[str] = []
    resource_ids: list[int] = []
    scope_names: list[str] = []
    scope_versions: list[str] = []
    # bound methods: this loop runs once per span, and attribute lookups add up
    add_trace_id, add_span_id, add_parent = trace_ids.append, span_ids.append, parents.append
    add_state, add_name, add_kind = states.append, names.append, kinds.append
    add_start, add_end, add_code = starts.append, ends.append, codes.append
    add_message, add_flags, add_proto = messages.append, flags.append, protos.append
    sliced = _frames_of(
        raw, sum(len(ss.spans) for rs in message.resource_spans for ss in rs.scope_spans)
    )
    serialize = sliced is None
    for rs in message.resource_spans:
        resource_id, service = resources.register(rs.resource, rs.schema_url)
        for ss in rs.scope_spans:
            spans = ss.spans
            count = len(spans)
            if not count:
                continue
            scope = ss.scope
            services += [service] * count
            resource_ids += [resource_id] * count
            scope_names += [scope.name] * count
            scope_versions += [scope.version] * count
            for span in spans:
                add_trace_id(span.trace_id)
                add_span_id(span.span_id)
                add_parent(span.parent_span_id)
                add_state(span.trace_state)
                add_name(span.name)
                add_kind(span.kind)
                add_start(span.start_time_unix_nano)
                add_end(span.end_time_unix_nano)
                status = span.status
                add_code(status.code)
                add_message(status.message)
                add_flags(span.flags)
                if serialize:
                    add_proto(span.SerializeToString().decode("latin-1"))
    if sliced is not None:
        protos = sliced
    if not protos:
        return None
    start = _nanos(starts)
    end = _nanos(ends)
    return pa.table(
        {
            "trace_id": pa.array(trace_ids, pa.binary()),
            "span_id": pa.array(span_ids, pa.binary()),
            "parent_span_id": pa.array(parents, pa.binary()),
            "trace_state": pa.array(states, pa.string()),
            "name": pa.array(names, pa.string()),
            "kind": _enum(kinds),
            "start_time": start,
            "end_time": end,
            # a span that ends before it starts gets duration 0, not a negative one
            "duration": pc.max_element_wise(pc.subtract(end, start), 0),
            "status_code": _enum(codes),
            "status_message": pa.array(messages, pa.string()),
            "flags": pa.array(flags, pa.uint32()),
            "service_name": pa.array(services, pa.string()),
            "resource_id": pa.array(resource_ids, pa.uint64()),
            "scope_name": pa.array(scope_names, pa.string()),
            "scope_version": pa.array(scope_versions, pa.string()),
            "proto": pa.array(protos, pa.string()),
        }
    )


def logs_table(message: Message, resources: ResourceRegistry, raw: bytes | None = None) -> Any:
    """The records of an ``ExportLogsServiceRequest`` as an Arrow table (None if none).

    ``raw`` is as for :func:`spans_table`. The ``seq`` column is added by the store when the
    rows are queued.
    """
    timestamps: list[int] = []
    times: list[int] = []
    observed: list[int] = []
    severities: list[int] = []
    severity_texts: list[str] = []
    bodies: list[str] = []
    trace_ids: list[bytes] = []
    span_ids: list[bytes] = []
    flags: list[int] = []
    event_names: list[str] = []
    protos: list[str] = []
    services: list[str] = []
    resource_ids: list[int] = []
    scope_names: list[str] = []
    scope_versions: list[str] = []
    sliced = _frames_of(
        raw, sum(len(sl.log_records) for rl in message.resource_logs for sl in rl.scope_logs)
    )
    serialize = sliced is None
    for rl in message.resource_logs:
        resource_id, service = resources.register(rl.resource, rl.schema_url)
        for sl in rl.scope_logs:
            records = sl.log_records
            count = len(records)
            if not count:
                continue
            scope = sl.scope
            services += [service] * count
            resource_ids += [resource_id] * count
            scope_names += [scope.name] * count
            scope_versions += [scope.version] * count
            for record in records:
                time = record.time_unix_nano
                seen = record.observed_time_unix_nano
                times.append(time)
                observed.append(seen)
                timestamps.append(time or seen)
                severities.append(record.severity_number)
                severity_texts.append(record.severity_text)
                body = record.body
                kind = body.WhichOneof("value")
                if kind == "string_value":
                    bodies.append(body.string_value)
                elif kind is None:
                    bodies.append("")
                else:
                    bodies.append(any_value_text(body))
                trace_ids.append(record.trace_id)
                span_ids.append(record.span_id)
                flags.append(record.flags)
                event_names.append(record.event_name)
                if serialize:
                    protos.append(record.SerializeToString().decode("latin-1"))
    if sliced is not None:
        protos = sliced
    if not protos:
        return None
    return pa.table(
        {
            "timestamp": _nanos(timestamps),
            "time_unix_nano": _nanos(times),
            "observed_time_unix_nano": _nanos(observed),
            "severity_number": _enum(severities),
            "severity_text": pa.array(severity_texts, pa.string()),
            "body": pa.array(bodies, pa.string()),
            "trace_id": pa.array(trace_ids, pa.binary()),
            "span_id": pa.array(span_ids, pa.binary()),
            "flags": pa.array(flags, pa.uint32()),
            "event_name": pa.array(event_names, pa.string()),
            "service_name": pa.array(services, pa.string()),
            "resource_id": pa.array(resource_ids, pa.uint64()),
            "scope_name": pa.array(scope_names, pa.string()),
            "scope_version": pa.array(scope_versions, pa.string()),
            "proto": pa.array(protos, pa.string()),
        }
    )


def _exemplars(exemplars: Any) -> str | None:
    if not exemplars:
        return None
    out = []
    for ex in exemplars:
        item: dict[str, Any] = {"timeUnixNano": ex.time_unix_nano}
        if ex.WhichOneof("value") == "as_int":
            item["asInt"] = ex.as_int
        else:
            item["asDouble"] = ex.as_double
        if ex.trace_id:
            item["traceId"] = ex.trace_id.hex()
        if ex.span_id:
            item["spanId"] = ex.span_id.hex()
        if len(ex.filtered_attributes):
            item["filteredAttributes"] = attributes_json(ex.filtered_attributes)
        out.append(item)
    return orjson.dumps(out).decode()


class _PointColumns:
    """Column lists of ``metric_points`` being built."""

    NAMES = (
        "name",
        "type",
        "unit",
        "description",
        "temporality",
        "monotonic",
        "service_name",
        "resource_id",
        "scope_name",
        "scope_version",
        "attributes_json",
        "start_time",
        "time",
        "flags",
        "value",
        "int_value",
        "count",
        "sum",
        "min",
        "max",
        "bounds",
        "bucket_counts",
        "scale",
        "zero_count",
        "zero_threshold",
        "positive_offset",
        "positive_counts",
        "negative_offset",
        "negative_counts",
        "quantiles",
        "exemplars",
    )

    def __init__(self) -> None:
        self.columns: dict[str, list[Any]] = {name: [] for name in self.NAMES}
        self.offsets = [0]
        self.keys: list[str] = []
        self.texts: list[str] = []

    def add(self, point: Any, fixed: tuple[Any, ...], values: dict[str, Any]) -> None:
        """One data point: ``fixed`` holds the metric, resource and scope columns."""
        cols = self.columns
        for name, value in zip(self.NAMES[:10], fixed, strict=True):
            cols[name].append(value)
        keys, texts, typed = _unique_attributes(point.attributes)
        self.keys += keys
        self.texts += texts
        self.offsets.append(len(self.keys))
        cols["attributes_json"].append(typed.decode())
        cols["start_time"].append(point.start_time_unix_nano)
        cols["time"].append(point.time_unix_nano)
        cols["flags"].append(point.flags)
        for name in self.NAMES[14:]:
            cols[name].append(values.get(name))

    def table(self) -> Any:
        cols = self.columns
        if not cols["name"]:
            return None
        quantile = pa.struct([("quantile", pa.float64()), ("value", pa.float64())])
        return pa.table(
            {
                "name": pa.array(cols["name"], pa.string()),
                "type": pa.array(cols["type"], pa.uint8()),
                "unit": pa.array(cols["unit"], pa.string()),
                "description": pa.array(cols["description"], pa.string()),
                "temporality": _enum(cols["temporality"]),
                "monotonic": pa.array(cols["monotonic"], pa.bool_()),
                "service_name": pa.array(cols["service_name"], pa.string()),
                "resource_id": pa.array(cols["resource_id"], pa.uint64()),
                "scope_name": pa.array(cols["scope_name"], pa.string()),
                "scope_version": pa.array(cols["scope_version"], pa.string()),
                "attributes": _map_array(self.offsets, self.keys, self.texts),
                "attributes_json": pa.array(cols["attributes_json"], pa.string()),
                "start_time": _nanos(cols["start_time"]),
                "time": _nanos(cols["time"]),
                "flags": pa.array(cols["flags"], pa.uint32()),
                "value": pa.array(cols["value"], pa.float64()),
                "int_value": pa.array(cols["int_value"], pa.int64()),
                "count": pa.array(cols["count"], pa.uint64()),
                "sum": pa.array(cols["sum"], pa.float64()),
                "min": pa.array(cols["min"], pa.float64()),
                "max": pa.array(cols["max"], pa.float64()),
                "bounds": pa.array(cols["bounds"], pa.list_(pa.float64())),
                "bucket_counts": pa.array(cols["bucket_counts"], pa.list_(pa.uint64())),
                "scale": pa.array(cols["scale"], pa.int32()),
                "zero_count": pa.array(cols["zero_count"], pa.uint64()),
                "zero_threshold": pa.array(cols["zero_threshold"], pa.float64()),
                "positive_offset": pa.array(cols["positive_offset"], pa.int32()),
                "positive_counts": pa.array(cols["positive_counts"], pa.list_(pa.uint64())),
                "negative_offset": pa.array(cols["negative_offset"], pa.int32()),
                "negative_counts": pa.array(cols["negative_counts"], pa.list_(pa.uint64())),
                "quantiles": pa.array(cols["quantiles"], pa.list_(quantile)),
                "exemplars": pa.array(cols["exemplars"], pa.string()),
            }
        )


def _number_values(point: Any) -> dict[str, Any]:
    if point.WhichOneof("value") == "as_int":
        return {
            "value": float(point.as_int),
            "int_value": point.as_int,
            "exemplars": _exemplars(point.exemplars),
        }
    return {"value": point.as_double, "exemplars": _exemplars(point.exemplars)}


def _histogram_values(point: Any) -> dict[str, Any]:
    return {
        "count": point.count,
        "sum": point.sum if point.HasField("sum") else None,
        "min": point.min if point.HasField("min") else None,
        "max": point.max if point.HasField("max") else None,
        "bounds": list(point.explicit_bounds),
        "bucket_counts": list(point.bucket_counts),
        "exemplars": _exemplars(point.exemplars),
    }


def _exponential_values(point: Any) -> dict[str, Any]:
    return {
        "count": point.count,
        "sum": point.sum if point.HasField("sum") else None,
        "min": point.min if point.HasField("min") else None,
        "max": point.max if point.HasField("max") else None,
        "scale": point.scale,
        "zero_count": point.zero_count,
        "zero_threshold": point.zero_threshold,
        "positive_offset": point.positive.offset,
        "positive_counts": list(point.positive.bucket_counts),
        "negative_offset": point.negative.offset,
        "negative_counts": list(point.negative.bucket_counts),
        "exemplars": _exemplars(point.exemplars),
    }


def _summary_values(point: Any) -> dict[str, Any]:
    return {
        "count": point.count,
        "sum": point.sum,
        "quantiles": [{"quantile": q.quantile, "value": q.value} for q in point.quantile_values],
    }


_POINT_VALUES = {
    "gauge": _number_values,
    "sum": _number_values,
    "histogram": _histogram_values,
    "exponential_histogram": _exponential_values,
    "summary": _summary_values,
}


def metrics_table(message: Message, resources: ResourceRegistry) -> Any:
    """The data points of an ``ExportMetricsServiceRequest`` as an Arrow table (None if none).

    The table has a ``description`` column the store moves to the ``metrics`` catalog.
    """
    points = _PointColumns()
    for rm in message.resource_metrics:
        resource_id, service = resources.register(rm.resource, rm.schema_url)
        for sm in rm.scope_metrics:
            scope = sm.scope
            for metric in sm.metrics:
                kind = metric.WhichOneof("data")
                if kind is None:
                    continue
                data = getattr(metric, kind)
                temporality = 0
                monotonic = False
                if kind in ("sum", "histogram", "exponential_histogram"):
                    temporality = data.aggregation_temporality
                if kind == "sum":
                    monotonic = data.is_monotonic
                fixed = (
                    metric.name,
                    METRIC_TYPES[kind],
                    metric.unit,
                    metric.description,
                    temporality,
                    monotonic,
                    service,
                    resource_id,
                    scope.name,
                    scope.version,
                )
                values = _POINT_VALUES[kind]
                for point in data.data_points:
                    points.add(point, fixed, values(point))
    return points.table()
