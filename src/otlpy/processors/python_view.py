"""Typed views of a batch for processors written in Python (the ``python`` processor).

A :class:`Telemetry` wraps one batch; iterate its spans, log records or metric data points, each
with its :class:`Resource` and :class:`Scope`; read and write attributes as a plain mapping of
``str`` to ``str | int | float | bool | bytes | list | dict``; call ``drop()`` on an item to
remove it. The views change the underlying OTLP messages in place (``raw`` gives the message
itself for anything the views do not cover)::

    def process(batch: Telemetry) -> None:
        for span in batch.spans():
            if span.attributes.get("http.route") == "/health":
                span.drop()
            span.attributes["deployment.environment"] = "prod"
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from typing import Any

from otlpy.ottl.values import any_to_py, set_any, to_python
from otlpy.pdata import Signal

__all__ = ["Attributes", "DataPoint", "LogRecord", "Resource", "Scope", "Span", "Telemetry"]

_SPAN_KINDS = ("UNSPECIFIED", "INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER")
_STATUS = ("UNSET", "OK", "ERROR")


class Attributes(MutableMapping[str, Any]):
    """A live attribute map: values read as plain Python, written back to the message."""

    __slots__ = ("_kvs",)

    def __init__(self, kvs: Any) -> None:
        self._kvs = kvs

    def _find(self, key: str) -> Any:
        for kv in self._kvs:
            if kv.key == key:
                return kv
        return None

    def __getitem__(self, key: str) -> Any:
        kv = self._find(key)
        if kv is None:
            raise KeyError(key)
        return to_python(any_to_py(kv.value))

    def get(self, key: str, default: Any = None) -> Any:
        kv = self._find(key)
        return default if kv is None else to_python(any_to_py(kv.value))

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._find(key) is not None

    def __setitem__(self, key: str, value: Any) -> None:
        if not isinstance(key, str):
            raise TypeError(f"attribute keys are strings, not {type(key).__name__}")
        kv = self._find(key)
        target = self._kvs.add(key=key).value if kv is None else kv.value
        if kv is not None:
            target.Clear()
        set_any(target, value)

    def __delitem__(self, key: str) -> None:
        for i, kv in enumerate(self._kvs):
            if kv.key == key:
                del self._kvs[i]
                return
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter([kv.key for kv in self._kvs])

    def __len__(self) -> int:
        return len(self._kvs)

    def to_dict(self) -> dict[str, Any]:
        """A plain copy of the attributes."""
        return {kv.key: to_python(any_to_py(kv.value)) for kv in self._kvs}

    def __repr__(self) -> str:
        return f"Attributes({self.to_dict()!r})"


class Resource:
    """The resource of the items that follow it."""

    __slots__ = ("attributes", "raw")

    def __init__(self, raw: Any) -> None:
        #: the ``Resource`` protobuf message
        self.raw = raw
        self.attributes = Attributes(raw.attributes)

    @property
    def service_name(self) -> str | None:
        value = self.attributes.get("service.name")
        return value if isinstance(value, str) else None


class Scope:
    """The instrumentation scope of the items that follow it."""

    __slots__ = ("attributes", "raw")

    def __init__(self, raw: Any) -> None:
        #: the ``InstrumentationScope`` protobuf message
        self.raw = raw
        self.attributes = Attributes(raw.attributes)

    @property
    def name(self) -> str:
        return str(self.raw.name)

    @property
    def version(self) -> str:
        return str(self.raw.version)


class _Item:
    __slots__ = ("_attributes", "_owner", "raw", "resource", "scope")

    def __init__(self, owner: Telemetry, raw: Any, resource: Resource, scope: Scope) -> None:
        self._owner = owner
        #: the protobuf message of the item
        self.raw = raw
        self.resource = resource
        self.scope = scope
        self._attributes: Attributes | None = None

    @property
    def attributes(self) -> Attributes:
        if self._attributes is None:
            self._attributes = Attributes(self.raw.attributes)
        return self._attributes

    def drop(self) -> None:
        """Remove this item from the batch (after the function returns)."""
        self._owner._dropped.add(id(self.raw))
        self._owner._keep_alive.append(self.raw)

    @property
    def dropped(self) -> bool:
        return id(self.raw) in self._owner._dropped


class Span(_Item):
    """A span, with its resource and scope."""

    __slots__ = ()

    @property
    def name(self) -> str:
        return str(self.raw.name)

    @name.setter
    def name(self, value: str) -> None:
        self.raw.name = value

    @property
    def kind(self) -> str:
        """``SERVER``, ``CLIENT``, ``INTERNAL``, ``PRODUCER``, ``CONSUMER`` or ``UNSPECIFIED``."""
        kind = self.raw.kind
        return _SPAN_KINDS[kind] if 0 <= kind < len(_SPAN_KINDS) else "UNSPECIFIED"

    @property
    def trace_id(self) -> str:
        return bytes(self.raw.trace_id).hex()

    @property
    def span_id(self) -> str:
        return bytes(self.raw.span_id).hex()

    @property
    def parent_span_id(self) -> str:
        return bytes(self.raw.parent_span_id).hex()

    @property
    def start_time_unix_nano(self) -> int:
        return int(self.raw.start_time_unix_nano)

    @property
    def end_time_unix_nano(self) -> int:
        return int(self.raw.end_time_unix_nano)

    @property
    def duration_ns(self) -> int:
        return int(self.raw.end_time_unix_nano - self.raw.start_time_unix_nano)

    @property
    def status(self) -> str:
        """``UNSET``, ``OK`` or ``ERROR``."""
        code = self.raw.status.code
        return _STATUS[code] if 0 <= code < len(_STATUS) else "UNSET"

    def set_status(self, status: str, message: str = "") -> None:
        self.raw.status.code = _STATUS.index(status.upper())
        self.raw.status.message = message


class LogRecord(_Item):
    """A log record, with its resource and scope."""

    __slots__ = ()

    @property
    def body(self) -> Any:
        """The body as plain Python (``str``, ``dict``, ``list``...); assign to replace it."""
        return to_python(any_to_py(self.raw.body))

    @body.setter
    def body(self, value: Any) -> None:
        self.raw.body.Clear()
        set_any(self.raw.body, value)

    @property
    def severity_text(self) -> str:
        return str(self.raw.severity_text)

    @severity_text.setter
    def severity_text(self, value: str) -> None:
        self.raw.severity_text = value

    @property
    def severity_number(self) -> int:
        return int(self.raw.severity_number)

    @severity_number.setter
    def severity_number(self, value: int) -> None:
        self.raw.severity_number = value

    @property
    def time_unix_nano(self) -> int:
        return int(self.raw.time_unix_nano)

    @property
    def trace_id(self) -> str:
        return bytes(self.raw.trace_id).hex()

    @property
    def span_id(self) -> str:
        return bytes(self.raw.span_id).hex()


class DataPoint(_Item):
    """A metric data point, with its metric, resource and scope."""

    __slots__ = ("metric",)

    def __init__(
        self, owner: Telemetry, raw: Any, resource: Resource, scope: Scope, metric: Any
    ) -> None:
        super().__init__(owner, raw, resource, scope)
        #: the ``Metric`` protobuf message holding the point
        self.metric = metric

    @property
    def metric_name(self) -> str:
        return str(self.metric.name)

    @property
    def metric_type(self) -> str:
        """``gauge``, ``sum``, ``histogram``, ``exponential_histogram`` or ``summary``."""
        return str(self.metric.WhichOneof("data") or "")

    @property
    def value(self) -> int | float | None:
        """The value of a gauge or sum point (None for other types)."""
        kind = self.raw.WhichOneof("value") if self.metric_type in ("gauge", "sum") else None
        return None if kind is None else getattr(self.raw, kind)

    @property
    def time_unix_nano(self) -> int:
        return int(self.raw.time_unix_nano)


class Telemetry:
    """One batch of one signal, as the ``python`` processor hands it to a function."""

    __slots__ = ("_dropped", "_keep_alive", "message", "signal")

    def __init__(self, signal: Signal, message: Any) -> None:
        self.signal = signal
        #: the ``Export*ServiceRequest`` protobuf message
        self.message = message
        self._dropped: set[int] = set()
        # dropped items stay referenced so their ids are not reused while the function runs
        self._keep_alive: list[Any] = []

    def resources(self) -> Iterator[Resource]:
        """Every resource of the batch."""
        for rc in getattr(self.message, _RESOURCES[self.signal]):
            yield Resource(rc.resource)

    def spans(self) -> Iterator[Span]:
        """Every span, with its resource and scope (empty for other signals)."""
        if self.signal is not Signal.TRACES:
            return
        for rs in self.message.resource_spans:
            resource = Resource(rs.resource)
            for ss in rs.scope_spans:
                scope = Scope(ss.scope)
                for span in ss.spans:
                    yield Span(self, span, resource, scope)

    def logs(self) -> Iterator[LogRecord]:
        """Every log record, with its resource and scope (empty for other signals)."""
        if self.signal is not Signal.LOGS:
            return
        for rl in self.message.resource_logs:
            resource = Resource(rl.resource)
            for sl in rl.scope_logs:
                scope = Scope(sl.scope)
                for record in sl.log_records:
                    yield LogRecord(self, record, resource, scope)

    def data_points(self) -> Iterator[DataPoint]:
        """Every metric data point, with its metric, resource and scope."""
        if self.signal is not Signal.METRICS:
            return
        for rm in self.message.resource_metrics:
            resource = Resource(rm.resource)
            for sm in rm.scope_metrics:
                scope = Scope(sm.scope)
                for metric in sm.metrics:
                    kind = metric.WhichOneof("data")
                    if kind is None:
                        continue
                    for point in getattr(metric, kind).data_points:
                        yield DataPoint(self, point, resource, scope, metric)

    def drop_all(self) -> None:
        """Drop the whole batch."""
        del getattr(self.message, _RESOURCES[self.signal])[:]

    def __len__(self) -> int:
        from otlpy.pdata import count_items

        return count_items(self.signal, self.message)

    def _apply_drops(self) -> None:
        if not self._dropped:
            return
        dropped = self._dropped
        top = getattr(self.message, _RESOURCES[self.signal])
        for ri in reversed(range(len(top))):
            rc = top[ri]
            scopes = getattr(rc, _SCOPES[self.signal])
            for si in reversed(range(len(scopes))):
                sc = scopes[si]
                if self.signal is Signal.METRICS:
                    metrics = sc.metrics
                    for mi in reversed(range(len(metrics))):
                        metric = metrics[mi]
                        kind = metric.WhichOneof("data")
                        if kind is None:
                            continue
                        points = getattr(metric, kind).data_points
                        _drop_marked(points, dropped)
                        if len(points) == 0:
                            del metrics[mi]
                    items = metrics
                else:
                    items = getattr(sc, _ITEMS[self.signal])
                    _drop_marked(items, dropped)
                if len(items) == 0:
                    del scopes[si]
            if len(scopes) == 0:
                del top[ri]
        self._dropped = set()
        self._keep_alive = []


def _drop_marked(repeated: Any, dropped: set[int]) -> None:
    doomed = [i for i, item in enumerate(repeated) if id(item) in dropped]
    for i in reversed(doomed):
        del repeated[i]


_RESOURCES = {
    Signal.TRACES: "resource_spans",
    Signal.METRICS: "resource_metrics",
    Signal.LOGS: "resource_logs",
}
_SCOPES = {Signal.TRACES: "scope_spans", Signal.METRICS: "scope_metrics", Signal.LOGS: "scope_logs"}
_ITEMS = {Signal.TRACES: "spans", Signal.LOGS: "log_records"}
