"""The metric context: a ``Metric`` and the resource and scope that hold it."""

from __future__ import annotations

from collections.abc import Sequence
from operator import attrgetter
from typing import Any

from otlpy.ottl.contexts.common import (
    GetSetter,
    KeyCompiler,
    PathResolver,
    TransformContext,
    field_map_path,
    no_keys,
    no_more,
    path_error,
    scalar_field,
)
from otlpy.ottl.grammar import Field
from otlpy.ottl.values import OttlError, type_name

__all__ = ["METRIC_ENUMS", "MetricPaths", "data_points_of"]

METRIC_ENUMS: dict[str, int] = {
    "AGGREGATION_TEMPORALITY_UNSPECIFIED": 0,
    "AGGREGATION_TEMPORALITY_DELTA": 1,
    "AGGREGATION_TEMPORALITY_CUMULATIVE": 2,
    "METRIC_DATA_TYPE_NONE": 0,
    "METRIC_DATA_TYPE_GAUGE": 1,
    "METRIC_DATA_TYPE_SUM": 2,
    "METRIC_DATA_TYPE_HISTOGRAM": 3,
    "METRIC_DATA_TYPE_EXPONENTIAL_HISTOGRAM": 4,
    "METRIC_DATA_TYPE_SUMMARY": 5,
}

_TYPES = {
    None: 0,
    "gauge": 1,
    "sum": 2,
    "histogram": 3,
    "exponential_histogram": 4,
    "summary": 5,
}
_WITH_TEMPORALITY = ("sum", "histogram", "exponential_histogram")


def data_points_of(metric: Any) -> Any:
    """The repeated data points of a metric, or None when it holds no data."""
    kind = metric.WhichOneof("data")
    return None if kind is None else getattr(metric, kind).data_points


def _type(obj: str) -> GetSetter:
    metric = attrgetter(obj)

    def get(ctx: TransformContext) -> Any:
        return _TYPES[metric(ctx).WhichOneof("data")]

    def set_(ctx: TransformContext, value: Any) -> None:
        # the Collector accepts and ignores writes to the metric type
        return None

    return GetSetter(get, set_)


def _temporality(obj: str) -> GetSetter:
    metric = attrgetter(obj)

    def get(ctx: TransformContext) -> Any:
        m = metric(ctx)
        kind = m.WhichOneof("data")
        return getattr(m, kind).aggregation_temporality if kind in _WITH_TEMPORALITY else 0

    def set_(ctx: TransformContext, value: Any) -> None:
        if type(value) is not int:
            raise OttlError(f"expected int64 but got {type_name(value)}")
        m = metric(ctx)
        kind = m.WhichOneof("data")
        if kind in _WITH_TEMPORALITY:
            getattr(m, kind).aggregation_temporality = value

    return GetSetter(get, set_)


def _monotonic(obj: str) -> GetSetter:
    metric = attrgetter(obj)

    def get(ctx: TransformContext) -> Any:
        m = metric(ctx)
        return m.sum.is_monotonic if m.WhichOneof("data") == "sum" else False

    def set_(ctx: TransformContext, value: Any) -> None:
        if type(value) is not bool:
            raise OttlError(f"expected bool but got {type_name(value)}")
        m = metric(ctx)
        if m.WhichOneof("data") == "sum":
            m.sum.is_monotonic = value

    return GetSetter(get, set_)


def _data_points(obj: str) -> GetSetter:
    metric = attrgetter(obj)

    def get(ctx: TransformContext) -> Any:
        points = data_points_of(metric(ctx))
        return [] if points is None else list(points)

    def set_(ctx: TransformContext, value: Any) -> None:
        points = data_points_of(metric(ctx))
        if points is None:
            return
        if not isinstance(value, list):
            raise OttlError(f"expected a list of data points but got {type_name(value)}")
        copies = []
        for point in value:
            copy = points.add()
            try:
                copy.CopyFrom(point)
            except TypeError as exc:
                del points[-1]
                raise OttlError(f"cannot set data points of type {type_name(point)}") from exc
            copies.append(copy)
        del points[: len(points) - len(copies)]

    return GetSetter(get, set_)


_NAMES = frozenset(
    {
        "metadata",
        "name",
        "description",
        "unit",
        "type",
        "aggregation_temporality",
        "is_monotonic",
        "data_points",
    }
)


class MetricPaths(PathResolver):
    """Paths of a ``Metric`` held in ``ctx.metric``."""

    def resolve(
        self, obj: str, fields: Sequence[Field], compile_key: KeyCompiler, path_text: str
    ) -> GetSetter:
        head = fields[0]
        name = head.name
        if name not in _NAMES:
            raise path_error(path_text, head, "metric")
        if name == "metadata":
            no_more(fields, 1, path_text, "metric")
            return field_map_path(obj, "metadata", head, compile_key)
        no_keys(head, path_text)
        no_more(fields, 1, path_text, "metric")
        if name in ("name", "description", "unit"):
            return scalar_field(obj, name, "str")
        if name == "type":
            return _type(obj)
        if name == "aggregation_temporality":
            return _temporality(obj)
        if name == "is_monotonic":
            return _monotonic(obj)
        if name == "data_points":
            return _data_points(obj)
        raise path_error(path_text, head, "metric")
