"""Split an export request into requests of at most ``n`` items (spans, points, records).

Resource and scope blocks are repeated in every part that holds some of their items; a metric
whose data points straddle a cut is repeated with its points divided.
"""

from __future__ import annotations

from typing import Any

from otlpy.pdata import Batch, Signal, request_type

__all__ = ["split_batch"]


def _split_traces_or_logs(message: Any, n: int, signal: Signal) -> list[Any]:
    if signal is Signal.TRACES:
        top, mid, leaf, scope_field = "resource_spans", "scope_spans", "spans", "scope"
    else:
        top, mid, leaf, scope_field = "resource_logs", "scope_logs", "log_records", "scope"
    parts: list[Any] = []
    out = request_type(signal)()
    room = n
    for resource_block in getattr(message, top):
        out_resource = None
        for scope_block in getattr(resource_block, mid):
            items = getattr(scope_block, leaf)
            start = 0
            while start < len(items):
                if room == 0:
                    parts.append(out)
                    out, room, out_resource = request_type(signal)(), n, None
                if out_resource is None:
                    out_resource = getattr(out, top).add()
                    out_resource.resource.CopyFrom(resource_block.resource)
                    out_resource.schema_url = resource_block.schema_url
                out_scope = getattr(out_resource, mid).add()
                out_scope.__getattribute__(scope_field).CopyFrom(getattr(scope_block, scope_field))
                out_scope.schema_url = scope_block.schema_url
                take = items[start : start + room]
                getattr(out_scope, leaf).extend(take)
                start += len(take)
                room -= len(take)
    if room < n:
        parts.append(out)
    return parts


def _split_metrics(message: Any, n: int) -> list[Any]:
    parts: list[Any] = []
    out = request_type(Signal.METRICS)()
    room = n
    for rm in message.resource_metrics:
        out_rm = None
        for sm in rm.scope_metrics:
            out_sm = None
            for metric in sm.metrics:
                kind = metric.WhichOneof("data")
                points = getattr(metric, kind).data_points if kind else []
                start = 0
                while start < len(points) or (not points and start == 0):
                    if room == 0:
                        parts.append(out)
                        out, room, out_rm, out_sm = request_type(Signal.METRICS)(), n, None, None
                    if out_rm is None:
                        out_rm = out.resource_metrics.add()
                        out_rm.resource.CopyFrom(rm.resource)
                        out_rm.schema_url = rm.schema_url
                        out_sm = None
                    if out_sm is None:
                        out_sm = out_rm.scope_metrics.add()
                        out_sm.scope.CopyFrom(sm.scope)
                        out_sm.schema_url = sm.schema_url
                    take = points[start : start + room]
                    copy = out_sm.metrics.add()
                    copy.CopyFrom(metric)
                    if kind:
                        target = getattr(copy, kind)
                        del target.data_points[:]
                        target.data_points.extend(take)
                    if not points:
                        break  # a metric without points is carried along, counting nothing
                    start += len(take)
                    room -= len(take)
    if room < n or (not parts and len(out.resource_metrics)):
        parts.append(out)
    return parts


def split_batch(batch: Batch, n: int) -> list[Batch]:
    """Parts of at most ``n`` items each, in order; the batch itself when it fits."""
    if n <= 0 or batch.items <= n:
        return [batch]
    if batch.signal is Signal.METRICS:
        messages = _split_metrics(batch.message, n)
    else:
        messages = _split_traces_or_logs(batch.message, n, batch.signal)
    return [Batch.from_message(batch.signal, m) for m in messages]
