"""The datapoint context: one data point of any metric type, its metric, resource and scope."""

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
    time_field,
)
from otlpy.ottl.contexts.metric import METRIC_ENUMS
from otlpy.ottl.grammar import Field
from otlpy.ottl.values import OttlError, type_name

__all__ = ["DATAPOINT_ENUMS", "DataPointPaths"]

DATAPOINT_ENUMS: dict[str, int] = {"FLAG_NONE": 0, "FLAG_NO_RECORDED_VALUE": 1, **METRIC_ENUMS}

_NUMBER = "NumberDataPoint"
_HISTOGRAM = "HistogramDataPoint"
_EXPONENTIAL = "ExponentialHistogramDataPoint"
_SUMMARY = "SummaryDataPoint"


def _typed(
    obj: str, attr: str, kinds: tuple[str, ...], check: type, label: str, seq: bool = False
) -> GetSetter:
    """A field that only some data point types have: None elsewhere, writes ignored there."""
    point = attrgetter(obj)

    def get(ctx: TransformContext) -> Any:
        dp = point(ctx)
        if type(dp).__name__ not in kinds:
            return None
        value = getattr(dp, attr)
        return list(value) if seq else value

    def set_(ctx: TransformContext, value: Any) -> None:
        dp = point(ctx)
        if type(dp).__name__ not in kinds:
            return
        if seq:
            if not isinstance(value, list) or not all(
                isinstance(v, check) and not isinstance(v, bool) for v in value
            ):
                raise OttlError(f"expected {label} but got {type_name(value)}")
            field = getattr(dp, attr)
            del field[:]
            field.extend(value)
            return
        if type(value) is not check:
            raise OttlError(f"expected {label} but got {type_name(value)}")
        setattr(dp, attr, value)

    return GetSetter(get, set_)


def _number_value(obj: str, attr: str, check: type, label: str) -> GetSetter:
    point = attrgetter(obj)

    def get(ctx: TransformContext) -> Any:
        dp = point(ctx)
        if type(dp).__name__ != _NUMBER:
            return None
        return getattr(dp, attr)

    def set_(ctx: TransformContext, value: Any) -> None:
        dp = point(ctx)
        if type(dp).__name__ != _NUMBER:
            return
        if type(value) is not check:
            raise OttlError(f"expected {label} but got {type_name(value)}")
        setattr(dp, attr, value)

    return GetSetter(get, set_)


def _messages(obj: str, attr: str, kinds: tuple[str, ...]) -> GetSetter:
    point = attrgetter(obj)

    def get(ctx: TransformContext) -> Any:
        dp = point(ctx)
        return list(getattr(dp, attr)) if type(dp).__name__ in kinds else None

    def set_(ctx: TransformContext, value: Any) -> None:
        dp = point(ctx)
        if type(dp).__name__ not in kinds:
            return
        if not isinstance(value, list):
            raise OttlError(f"expected a list but got {type_name(value)}")
        field = getattr(dp, attr)
        copies = [type(v)() for v in value]
        for copy, v in zip(copies, value, strict=True):
            copy.CopyFrom(v)
        del field[:]
        try:
            field.extend(copies)
        except TypeError as exc:
            raise OttlError(f"cannot set {attr} from {type_name(value)}") from exc

    return GetSetter(get, set_)


def _buckets(obj: str, side: str, fields: Sequence[Field], path_text: str) -> GetSetter:
    if len(fields) == 1:
        point = attrgetter(obj)

        def get(ctx: TransformContext) -> Any:
            dp = point(ctx)
            return getattr(dp, side) if type(dp).__name__ == _EXPONENTIAL else None

        def set_(ctx: TransformContext, value: Any) -> None:
            dp = point(ctx)
            if type(dp).__name__ != _EXPONENTIAL:
                return
            if type(value).__name__ != "Buckets":
                raise OttlError(f"expected Buckets but got {type_name(value)}")
            getattr(dp, side).CopyFrom(value)

        return GetSetter(get, set_)
    sub = fields[1]
    no_keys(sub, path_text)
    no_more(fields, 2, path_text, "datapoint")
    if sub.name not in ("offset", "bucket_counts"):
        raise path_error(path_text, sub, "datapoint")
    attr = sub.name
    point = attrgetter(obj)

    def get_part(ctx: TransformContext) -> Any:
        dp = point(ctx)
        if type(dp).__name__ != _EXPONENTIAL:
            return None
        value = getattr(getattr(dp, side), attr)
        return list(value) if attr == "bucket_counts" else value

    def set_part(ctx: TransformContext, value: Any) -> None:
        dp = point(ctx)
        if type(dp).__name__ != _EXPONENTIAL:
            return
        buckets = getattr(dp, side)
        if attr == "offset":
            if type(value) is not int:
                raise OttlError(f"expected int64 but got {type_name(value)}")
            buckets.offset = value
            return
        if not isinstance(value, list) or not all(type(v) is int for v in value):
            raise OttlError(f"expected []uint64 but got {type_name(value)}")
        del buckets.bucket_counts[:]
        buckets.bucket_counts.extend(value)

    return GetSetter(get_part, set_part)


_NAMES = frozenset(
    {
        "attributes",
        "positive",
        "negative",
        "start_time_unix_nano",
        "time_unix_nano",
        "flags",
        "start_time",
        "time",
        "value_double",
        "value_int",
        "exemplars",
        "count",
        "sum",
        "bucket_counts",
        "explicit_bounds",
        "scale",
        "zero_count",
        "quantile_values",
    }
)


class DataPointPaths(PathResolver):
    """Paths of a data point held in ``ctx.datapoint``."""

    def resolve(
        self, obj: str, fields: Sequence[Field], compile_key: KeyCompiler, path_text: str
    ) -> GetSetter:
        head = fields[0]
        name = head.name
        if name not in _NAMES:
            raise path_error(path_text, head, "datapoint")
        if name == "attributes":
            no_more(fields, 1, path_text, "datapoint")
            return field_map_path(obj, "attributes", head, compile_key)
        no_keys(head, path_text)
        if name in ("positive", "negative"):
            return _buckets(obj, name, fields, path_text)
        no_more(fields, 1, path_text, "datapoint")
        if name in ("start_time_unix_nano", "time_unix_nano", "flags"):
            return scalar_field(obj, name, "int")
        if name in ("start_time", "time"):
            return time_field(obj, f"{name}_unix_nano")
        if name == "value_double":
            return _number_value(obj, "as_double", float, "float64")
        if name == "value_int":
            return _number_value(obj, "as_int", int, "int64")
        if name == "exemplars":
            return _messages(obj, "exemplars", (_NUMBER, _HISTOGRAM, _EXPONENTIAL))
        if name == "count":
            return _typed(obj, "count", (_HISTOGRAM, _EXPONENTIAL, _SUMMARY), int, "int64")
        if name == "sum":
            return _typed(obj, "sum", (_HISTOGRAM, _EXPONENTIAL, _SUMMARY), float, "float64")
        if name == "bucket_counts":
            return _typed(obj, "bucket_counts", (_HISTOGRAM,), int, "[]uint64", seq=True)
        if name == "explicit_bounds":
            return _typed(obj, "explicit_bounds", (_HISTOGRAM,), float, "[]float64", seq=True)
        if name in ("scale", "zero_count"):
            return _typed(obj, name, (_EXPONENTIAL,), int, "int64")
        if name == "quantile_values":
            return _messages(obj, "quantile_values", (_SUMMARY,))
        raise path_error(path_text, head, "datapoint")
