"""Pipeline data: a batch of one signal's telemetry that keeps the bytes it arrived in.

A :class:`Batch` holds an OTLP export request either as serialized protobuf bytes, as a decoded
message, or both. Components that only forward data read :attr:`Batch.raw` and pay nothing for
(re)encoding; components that inspect data read :attr:`Batch.message`; components that change data
call :meth:`Batch.mutable`, which drops the cached bytes so they are re-encoded once, on demand.

Two serialized export requests concatenated are a valid request holding both (protobuf appends
repeated fields), so :meth:`Batch.concat` merges batches without decoding them.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import Any

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from otlpy.errors import PermanentError

__all__ = ["Batch", "Signal", "count_items", "request_type"]

# The generated classes carry no precise type information; ``Any`` is the honest annotation.
Request = Any


class Signal(enum.StrEnum):
    """The three OTLP signals."""

    TRACES = "traces"
    METRICS = "metrics"
    LOGS = "logs"

    @property
    def item_name(self) -> str:
        """What the Collector's metrics call one item of this signal."""
        return _ITEM_NAMES[self]


_ITEM_NAMES = {Signal.TRACES: "spans", Signal.METRICS: "metric_points", Signal.LOGS: "log_records"}

_REQUEST_TYPES: dict[Signal, Any] = {
    Signal.TRACES: ExportTraceServiceRequest,
    Signal.METRICS: ExportMetricsServiceRequest,
    Signal.LOGS: ExportLogsServiceRequest,
}


def request_type(signal: Signal) -> Any:
    """The ``Export*ServiceRequest`` class of ``signal``."""
    return _REQUEST_TYPES[signal]


def _count_points(metric: Any) -> int:
    kind = metric.WhichOneof("data")
    if kind is None:
        return 0
    return len(getattr(metric, kind).data_points)


def count_items(signal: Signal, message: Request) -> int:
    """Spans, metric data points or log records in an export request."""
    if signal is Signal.TRACES:
        return sum(len(ss.spans) for rs in message.resource_spans for ss in rs.scope_spans)
    if signal is Signal.LOGS:
        return sum(len(sl.log_records) for rl in message.resource_logs for sl in rl.scope_logs)
    return sum(
        _count_points(m)
        for rm in message.resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
    )


class Batch:
    """One signal's export request, as bytes, as a message, or both."""

    __slots__ = ("_items", "_message", "_raw", "signal")

    def __init__(
        self,
        signal: Signal,
        *,
        raw: bytes | None = None,
        message: Request | None = None,
        items: int | None = None,
    ) -> None:
        if raw is None and message is None:
            raise ValueError("a Batch needs raw bytes or a message")
        self.signal = signal
        self._raw = raw
        self._message = message
        self._items = items

    @classmethod
    def decode(cls, signal: Signal, raw: bytes) -> Batch:
        """Decode ``raw`` now (to count and validate it), keeping the bytes for forwarding.

        Raises :class:`PermanentError` when the bytes are not a valid export request.
        """
        message = _REQUEST_TYPES[signal]()
        try:
            message.ParseFromString(raw)
        except DecodeError as exc:
            raise PermanentError(f"cannot decode {signal} export request: {exc}") from exc
        return cls(signal, raw=raw, message=message)

    @classmethod
    def from_message(cls, signal: Signal, message: Request) -> Batch:
        return cls(signal, message=message)

    @classmethod
    def empty(cls, signal: Signal) -> Batch:
        return cls(signal, raw=b"", message=_REQUEST_TYPES[signal](), items=0)

    @property
    def raw(self) -> bytes:
        """The serialized request; encoded at most once after a change."""
        if self._raw is None:
            assert self._message is not None
            self._raw = bytes(self._message.SerializeToString())
        return self._raw

    @property
    def has_raw(self) -> bool:
        """True when the bytes are at hand without encoding."""
        return self._raw is not None

    @property
    def message(self) -> Request:
        """The decoded request, for reading only (use :meth:`mutable` to change it)."""
        if self._message is None:
            message = _REQUEST_TYPES[self.signal]()
            try:
                message.ParseFromString(self._raw)
            except DecodeError as exc:
                raise PermanentError(f"cannot decode {self.signal} export request: {exc}") from exc
            self._message = message
        return self._message

    def mutable(self) -> Request:
        """The decoded request, to change in place: the cached bytes and count are dropped."""
        message = self.message
        self._raw = None
        self._items = None
        return message

    @property
    def items(self) -> int:
        """Spans, metric data points or log records in this batch."""
        if self._items is None:
            self._items = count_items(self.signal, self.message)
        return self._items

    def copy(self) -> Batch:
        """An independent copy (the bytes are shared: they are immutable)."""
        if self._raw is not None:
            return Batch(self.signal, raw=self._raw, items=self._items)
        message = _REQUEST_TYPES[self.signal]()
        message.CopyFrom(self._message)
        return Batch(self.signal, message=message, items=self._items)

    @classmethod
    def concat(cls, signal: Signal, batches: Iterable[Batch]) -> Batch:
        """Merge batches by concatenating their bytes (no decoding)."""
        parts = list(batches)
        if len(parts) == 1:
            return parts[0]
        items = 0
        for part in parts:
            items += part.items
        return cls(signal, raw=b"".join(p.raw for p in parts), items=items)

    def __len__(self) -> int:
        return self.items

    def __repr__(self) -> str:
        return f"Batch({self.signal.value}, items={self._items}, raw={self._raw is not None})"
