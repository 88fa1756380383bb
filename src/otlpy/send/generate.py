"""Realistic telemetry for ``otlpy send``: traces, metrics and logs as OTLP export requests.

The generator builds one export request at a time with the ``opentelemetry-proto`` classes. It is
not on the hot path: the sender encodes a few requests up front and reuses their bytes, stamping
fresh trace ids and timestamps into them per send (see :mod:`otlpy.send.template`). To make that
stamping cheap, every trace id starts with the same 8-byte placeholder and every timestamp that
follows the clock has the same placeholder in its high 32 bits; :class:`Stamp` holds both.

What is generated:

- traces: a handful of services calling each other; each trace is a tree (a server span at the
  root, client spans calling other services' server spans, database client spans) of 3-12 spans;
  every span has about 10 attributes in the semantic conventions' vocabulary and one event, and a
  few end in error;
- metrics: gauges, monotonic and non-monotonic sums, explicit-bucket and exponential histograms,
  and summaries, each with one to four data points (an item is a data point);
- logs: records with a severity, a body, about 7 attributes and the trace context of a span.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import (
    AnyValue,
    InstrumentationScope,
    KeyValue,
)
from opentelemetry.proto.logs.v1 import logs_pb2
from opentelemetry.proto.metrics.v1 import metrics_pb2
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1 import trace_pb2

from otlpy._version import __version__
from otlpy.pdata import Signal

__all__ = [
    "DEFAULT_SERVICES",
    "Generated",
    "Stamp",
    "generate",
]

DEFAULT_SERVICES = ("frontend", "cart", "checkout", "payment", "inventory")

#: Every stamped timestamp is ``(time_high << 32) | offset``; offsets stay below 2**32 ns
#: (4.29 s), so one trace's spans keep their order and nesting whatever the high half becomes.
_MAX_TRACE_START = 3_000_000_000
_MAX_ROOT_DURATION = 900_000_000

_HTTP_ROUTES = (
    ("GET", "/api/products/{id}", "/api/products/OLJCESPC7Z"),
    ("GET", "/api/cart", "/api/cart"),
    ("POST", "/api/cart/items", "/api/cart/items"),
    ("POST", "/api/checkout", "/api/checkout"),
    ("GET", "/api/recommendations", "/api/recommendations"),
    ("GET", "/api/currency", "/api/currency"),
)
_RPC_METHODS = ("GetCart", "AddItem", "PlaceOrder", "Charge", "Reserve", "GetQuote", "ListItems")
_DB = (
    ("postgresql", "SELECT", "orders", "SELECT id, status FROM orders WHERE user_id = $1"),
    ("postgresql", "INSERT", "orders", "INSERT INTO orders (id, user_id) VALUES ($1, $2)"),
    ("redis", "GET", "cart", "GET cart:{user}"),
    ("redis", "SET", "session", "SET session:{id}"),
)
_USER_AGENTS = (
    "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Safari/605.1.15",
    "python-requests/2.32.3",
)
_LOG_LINES = (
    (logs_pb2.SEVERITY_NUMBER_INFO, "INFO", "order {n} placed for user u-{u} in {ms} ms"),
    (logs_pb2.SEVERITY_NUMBER_INFO, "INFO", "cart updated: {n} items for user u-{u}"),
    (logs_pb2.SEVERITY_NUMBER_DEBUG, "DEBUG", "cache lookup for key cart:{u} took {ms} ms"),
    (logs_pb2.SEVERITY_NUMBER_WARN, "WARN", "retrying call to payment (attempt {n}) in {ms} ms"),
    (logs_pb2.SEVERITY_NUMBER_ERROR, "ERROR", "charge failed for order {n}: card declined"),
    (logs_pb2.SEVERITY_NUMBER_INFO, "INFO", "served {n} recommendations in {ms} ms"),
)


@dataclass(frozen=True, slots=True)
class Stamp:
    """The placeholders a generated request carries where the sender puts fresh values.

    ``trace_prefix`` (8 bytes) starts every trace id; ``time_high`` is the high 32 bits of every
    timestamp that follows the clock (the low 32 bits keep each item's offset).
    """

    trace_prefix: bytes
    time_high: int

    def time(self, offset_ns: int) -> int:
        """A stamped timestamp ``offset_ns`` (< 2**32) after the placeholder's origin."""
        return (self.time_high << 32) | offset_ns


@dataclass(frozen=True, slots=True)
class Generated:
    """One export request with how many items it holds and how many fields were stamped."""

    message: Any
    items: int
    trace_fields: int
    time_fields: int


def _value(value: object) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    return AnyValue(string_value=str(value))


def _attrs(pairs: Sequence[tuple[str, object]]) -> list[KeyValue]:
    return [KeyValue(key=k, value=_value(v)) for k, v in pairs]


@dataclass(frozen=True, slots=True)
class _Service:
    name: str
    resource: Resource
    port: int


def _services(
    rng: random.Random, names: Sequence[str], resource_attributes: Sequence[tuple[str, str]]
) -> list[_Service]:
    services = []
    for index, name in enumerate(names):
        pairs: list[tuple[str, object]] = [
            ("service.name", name),
            ("service.version", f"1.{index}.{rng.randrange(10)}"),
            ("service.instance.id", rng.randbytes(16).hex()),
            ("deployment.environment.name", "load-test"),
            ("host.name", f"node-{rng.randrange(1, 20):02d}"),
            ("host.arch", "amd64"),
            ("os.type", "linux"),
            ("process.pid", rng.randrange(100, 65000)),
            ("telemetry.sdk.name", "otlpy.send"),
            ("telemetry.sdk.language", "python"),
            ("telemetry.sdk.version", __version__),
        ]
        pairs.extend(resource_attributes)
        services.append(_Service(name, Resource(attributes=_attrs(pairs)), 8000 + index))
    return services


_SCOPE = InstrumentationScope(name="otlpy.send", version=__version__)


@dataclass(frozen=True, slots=True)
class _SumMetric:
    """One of the generated sum metrics: what it is called, and the range of its values."""

    name: str
    unit: str
    description: str
    monotonic: bool
    values: tuple[int, int]


_ORDERS_PLACED = _SumMetric("app.orders.placed", "{order}", "Orders placed.", True, (1, 1_000_000))
_ACTIVE_REQUESTS = _SumMetric(
    "http.server.active_requests", "{request}", "Requests in flight.", False, (0, 200)
)


class Generator:
    """Makes export requests of one signal; ``rng`` drives everything, so a seed repeats a run."""

    def __init__(
        self,
        rng: random.Random,
        *,
        services: Sequence[str] = DEFAULT_SERVICES,
        attributes: Sequence[tuple[str, str]] = (),
        resource_attributes: Sequence[tuple[str, str]] = (),
        start_time_ns: int = 0,
    ) -> None:
        if not services:
            raise ValueError("at least one service is needed")
        self.rng = rng
        self.services = _services(rng, services, resource_attributes)
        self.extra = _attrs(attributes)
        #: the start of cumulative metrics (not stamped: it stays where the run began)
        self.start_time_ns = start_time_ns

    def request(self, signal: Signal, items: int, stamp: Stamp) -> Generated:
        """An export request of ``signal`` holding exactly ``items`` items."""
        if items < 1:
            raise ValueError("a request holds at least one item")
        if signal is Signal.TRACES:
            return self.traces(items, stamp)
        if signal is Signal.METRICS:
            return self.metrics(items, stamp)
        return self.logs(items, stamp)

    # -- traces -----------------------------------------------------------------------------

    def traces(self, spans: int, stamp: Stamp) -> Generated:
        """``spans`` spans in traces of 3-12 spans, grouped by service."""
        by_service: dict[str, list[trace_pb2.Span]] = {s.name: [] for s in self.services}
        made = events = 0
        while made < spans:
            trace = self._trace(stamp, min(self.rng.randint(3, 12), spans - made))
            for service, span in trace:
                by_service[service.name].append(span)
            made += len(trace)
            events += len(trace)
        request = ExportTraceServiceRequest()
        for service in self.services:
            group = by_service[service.name]
            if not group:
                continue
            rs = request.resource_spans.add(resource=service.resource)
            rs.scope_spans.add(scope=_SCOPE, spans=group)
        # each span carries its trace id; each span has a start, an end and one event time
        return Generated(request, spans, trace_fields=spans, time_fields=2 * spans + events)

    def _trace(self, stamp: Stamp, size: int) -> list[tuple[_Service, trace_pb2.Span]]:
        rng = self.rng
        trace_id = stamp.trace_prefix + rng.randbytes(8)
        start = rng.randrange(_MAX_TRACE_START)
        root_service = self.services[0] if rng.random() < 0.6 else rng.choice(self.services)
        duration = rng.randrange(20_000, _MAX_ROOT_DURATION)
        root = self._server_span(stamp, root_service, trace_id, b"", start, duration)
        spans = [(root_service, root)]
        # (service, span id, start, duration) of server spans that may call further down
        frontier = [(root_service, root.span_id, start, duration)]
        while frontier and len(spans) < size:
            service, parent_id, p_start, p_dur = frontier.pop(0)
            for _ in range(rng.randint(1, 3)):
                if len(spans) >= size:
                    break
                c_start = p_start + rng.randrange(max(1, p_dur // 4))
                c_dur = max(1000, rng.randrange(max(2, p_dur // 2)))
                if rng.random() < 0.3 or len(spans) + 1 >= size:
                    spans.append(
                        (service, self._db_span(stamp, trace_id, parent_id, c_start, c_dur))
                    )
                    continue
                callee = rng.choice(self.services)
                client = self._client_span(
                    stamp, service, callee, trace_id, parent_id, c_start, c_dur
                )
                spans.append((service, client))
                s_start = c_start + c_dur // 20
                s_dur = c_dur - c_dur // 10
                server = self._server_span(stamp, callee, trace_id, client.span_id, s_start, s_dur)
                spans.append((callee, server))
                frontier.append((callee, server.span_id, s_start, s_dur))
        return spans

    def _finish(
        self,
        stamp: Stamp,
        span: trace_pb2.Span,
        start: int,
        duration: int,
        pairs: list[tuple[str, object]],
        *,
        error: bool,
    ) -> trace_pb2.Span:
        rng = self.rng
        span.start_time_unix_nano = stamp.time(start)
        span.end_time_unix_nano = stamp.time(start + duration)
        span.attributes.extend(_attrs(pairs))
        span.attributes.extend(self.extra)
        event_time = stamp.time(start + rng.randrange(max(1, duration)))
        if error:
            span.status.code = trace_pb2.Status.STATUS_CODE_ERROR
            span.status.message = "upstream returned an error"
            span.events.add(
                time_unix_nano=event_time,
                name="exception",
                attributes=_attrs(
                    [
                        ("exception.type", "TimeoutError"),
                        ("exception.message", "deadline exceeded after 2s"),
                        ("exception.stacktrace", 'File "app.py", line 42, in handle\n  ...'),
                    ]
                ),
            )
        else:
            span.events.add(
                time_unix_nano=event_time,
                name="message",
                attributes=_attrs(
                    [
                        ("message.type", "SENT"),
                        ("message.id", rng.randrange(1, 100)),
                        ("message.uncompressed_size", rng.randrange(100, 20000)),
                    ]
                ),
            )
        span.flags = 0x100 | 1  # sampled; the parent's remoteness is known
        return span

    def _server_span(
        self,
        stamp: Stamp,
        service: _Service,
        trace_id: bytes,
        parent_id: bytes,
        start: int,
        duration: int,
    ) -> trace_pb2.Span:
        rng = self.rng
        method, route, path = rng.choice(_HTTP_ROUTES)
        error = rng.random() < 0.03
        status = 503 if error else (404 if rng.random() < 0.02 else 200)
        span = trace_pb2.Span(
            trace_id=trace_id,
            span_id=rng.randbytes(8),
            parent_span_id=parent_id,
            name=f"{method} {route}",
            kind=trace_pb2.Span.SPAN_KIND_SERVER,
        )
        pairs: list[tuple[str, object]] = [
            ("http.request.method", method),
            ("http.route", route),
            ("url.path", path),
            ("url.scheme", "http"),
            ("http.response.status_code", status),
            ("server.address", service.name),
            ("server.port", service.port),
            ("client.address", f"10.0.{rng.randrange(256)}.{rng.randrange(256)}"),
            ("user_agent.original", rng.choice(_USER_AGENTS)),
            ("network.protocol.version", "1.1"),
        ]
        return self._finish(stamp, span, start, duration, pairs, error=error)

    def _client_span(
        self,
        stamp: Stamp,
        service: _Service,
        callee: _Service,
        trace_id: bytes,
        parent_id: bytes,
        start: int,
        duration: int,
    ) -> trace_pb2.Span:
        rng = self.rng
        method = rng.choice(_RPC_METHODS)
        rpc_service = f"otlpy.demo.{callee.name.capitalize()}Service"
        error = rng.random() < 0.02
        span = trace_pb2.Span(
            trace_id=trace_id,
            span_id=rng.randbytes(8),
            parent_span_id=parent_id,
            name=f"{rpc_service}/{method}",
            kind=trace_pb2.Span.SPAN_KIND_CLIENT,
        )
        pairs: list[tuple[str, object]] = [
            ("rpc.system", "grpc"),
            ("rpc.service", rpc_service),
            ("rpc.method", method),
            ("rpc.grpc.status_code", 14 if error else 0),
            ("server.address", callee.name),
            ("server.port", callee.port),
            ("network.peer.address", f"10.1.{rng.randrange(256)}.{rng.randrange(256)}"),
            ("network.transport", "tcp"),
            ("thread.id", rng.randrange(1, 64)),
            ("thread.name", f"worker-{rng.randrange(8)}"),
        ]
        return self._finish(stamp, span, start, duration, pairs, error=error)

    def _db_span(
        self, stamp: Stamp, trace_id: bytes, parent_id: bytes, start: int, duration: int
    ) -> trace_pb2.Span:
        rng = self.rng
        system, operation, collection, query = rng.choice(_DB)
        span = trace_pb2.Span(
            trace_id=trace_id,
            span_id=rng.randbytes(8),
            parent_span_id=parent_id,
            name=f"{operation} {collection}",
            kind=trace_pb2.Span.SPAN_KIND_CLIENT,
        )
        pairs: list[tuple[str, object]] = [
            ("db.system.name", system),
            ("db.namespace", "shop"),
            ("db.operation.name", operation),
            ("db.collection.name", collection),
            ("db.query.text", query),
            ("db.response.returned_rows", rng.randrange(0, 50)),
            ("server.address", f"{system}.internal"),
            ("server.port", 5432 if system == "postgresql" else 6379),
            ("network.peer.address", f"10.2.0.{rng.randrange(256)}"),
            ("thread.name", f"db-pool-{rng.randrange(4)}"),
        ]
        return self._finish(stamp, span, start, duration, pairs, error=rng.random() < 0.01)

    # -- metrics ----------------------------------------------------------------------------

    def metrics(self, points: int, stamp: Stamp) -> Generated:
        """Metrics of every type, ``points`` data points in all, spread over the services."""
        rng = self.rng
        request = ExportMetricsServiceRequest()
        scopes: dict[int, Any] = {}
        makers = (
            self._histogram,
            partial(self._sum, _ORDERS_PLACED),
            self._gauge,
            partial(self._sum, _ACTIVE_REQUESTS),
            self._exponential,
            self._summary,
        )
        made = index = stamped = 0
        while made < points:
            which = index % len(self.services)
            service = self.services[which]
            if which not in scopes:
                rm = request.resource_metrics.add(resource=service.resource)
                scopes[which] = rm.scope_metrics.add(scope=_SCOPE)
            scope = scopes[which]
            maker = makers[(index // len(self.services)) % len(makers)]
            count = min(rng.randint(1, 4), points - made)
            stamped += maker(scope.metrics.add(), service, count, stamp)
            made += count
            index += 1
        return Generated(request, points, trace_fields=0, time_fields=stamped)

    def _point_attrs(self, service: _Service, index: int) -> list[KeyValue]:
        method, route, _ = _HTTP_ROUTES[index % len(_HTTP_ROUTES)]
        pairs: list[tuple[str, object]] = [
            ("http.request.method", method),
            ("http.route", route),
            ("http.response.status_code", 200 if index % 5 else 500),
            ("server.address", service.name),
            ("network.protocol.version", "1.1"),
        ]
        return _attrs(pairs) + self.extra

    def _histogram(self, metric: Any, service: _Service, count: int, stamp: Stamp) -> int:
        rng = self.rng
        metric.name = "http.server.request.duration"
        metric.unit = "s"
        metric.description = "Duration of HTTP server requests."
        data = metric.histogram
        data.aggregation_temporality = metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
        bounds = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0]
        for index in range(count):
            buckets = [rng.randrange(0, 500) for _ in range(len(bounds) + 1)]
            total = sum(buckets)
            data.data_points.add(
                attributes=self._point_attrs(service, index),
                start_time_unix_nano=self.start_time_ns,
                time_unix_nano=stamp.time(rng.randrange(_MAX_TRACE_START)),
                count=total,
                sum=total * rng.uniform(0.01, 0.3),
                bucket_counts=buckets,
                explicit_bounds=bounds,
                min=0.001,
                max=rng.uniform(1.0, 9.0),
            )
        return count

    def _sum(
        self, kind: _SumMetric, metric: Any, service: _Service, count: int, stamp: Stamp
    ) -> int:
        rng = self.rng
        metric.name = kind.name
        metric.unit = kind.unit
        metric.description = kind.description
        data = metric.sum
        data.aggregation_temporality = metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
        data.is_monotonic = kind.monotonic
        for index in range(count):
            data.data_points.add(
                attributes=self._point_attrs(service, index),
                start_time_unix_nano=self.start_time_ns,
                time_unix_nano=stamp.time(rng.randrange(_MAX_TRACE_START)),
                as_int=rng.randrange(*kind.values),
            )
        return count

    def _gauge(self, metric: Any, service: _Service, count: int, stamp: Stamp) -> int:
        rng = self.rng
        metric.name = "process.cpu.utilization"
        metric.unit = "1"
        metric.description = "CPU used by the process, as a fraction of one core."
        for index in range(count):
            metric.gauge.data_points.add(
                attributes=_attrs([("cpu.mode", ("user", "system", "wait", "idle")[index % 4])])
                + self.extra,
                time_unix_nano=stamp.time(rng.randrange(_MAX_TRACE_START)),
                as_double=rng.random(),
            )
        return count

    def _exponential(self, metric: Any, service: _Service, count: int, stamp: Stamp) -> int:
        rng = self.rng
        metric.name = "rpc.client.duration"
        metric.unit = "ms"
        metric.description = "Duration of outgoing RPCs."
        data = metric.exponential_histogram
        data.aggregation_temporality = metrics_pb2.AGGREGATION_TEMPORALITY_DELTA
        for index in range(count):
            positive = [rng.randrange(0, 100) for _ in range(rng.randint(8, 20))]
            total = sum(positive) + 3
            point = data.data_points.add(
                attributes=self._point_attrs(service, index),
                start_time_unix_nano=stamp.time(0),
                time_unix_nano=stamp.time(rng.randrange(1, _MAX_TRACE_START)),
                count=total,
                sum=total * rng.uniform(1.0, 40.0),
                scale=3,
                zero_count=3,
                min=0.0,
                max=rng.uniform(50.0, 900.0),
            )
            point.positive.offset = rng.randrange(0, 10)
            point.positive.bucket_counts.extend(positive)
        return 2 * count  # a delta point's start moves with the clock too

    def _summary(self, metric: Any, service: _Service, count: int, stamp: Stamp) -> int:
        rng = self.rng
        metric.name = "runtime.gc.pause"
        metric.unit = "ms"
        metric.description = "Garbage collection pauses."
        for index in range(count):
            point = metric.summary.data_points.add(
                attributes=_attrs([("gc.generation", index % 3)]) + self.extra,
                start_time_unix_nano=self.start_time_ns,
                time_unix_nano=stamp.time(rng.randrange(_MAX_TRACE_START)),
                count=rng.randrange(10, 1000),
                sum=rng.uniform(10.0, 900.0),
            )
            for quantile in (0.5, 0.9, 0.99):
                point.quantile_values.add(quantile=quantile, value=rng.uniform(0.1, 30.0))
        return count

    # -- logs -------------------------------------------------------------------------------

    def logs(self, records: int, stamp: Stamp) -> Generated:
        """``records`` log records with trace context, spread over the services."""
        rng = self.rng
        by_service: list[list[logs_pb2.LogRecord]] = [[] for _ in self.services]
        for _ in range(records):
            index = rng.randrange(len(self.services))
            service = self.services[index]
            number, text, line = rng.choice(_LOG_LINES)
            offset = rng.randrange(_MAX_TRACE_START)
            pairs: list[tuple[str, object]] = [
                ("code.function.name", f"{service.name}.handlers.handle"),
                ("code.file.path", f"/app/{service.name}/handlers.py"),
                ("code.line.number", rng.randrange(10, 900)),
                ("thread.name", f"worker-{rng.randrange(8)}"),
                ("user.id", f"u-{rng.randrange(10000)}"),
                ("http.route", rng.choice(_HTTP_ROUTES)[1]),
                ("log.logger", f"{service.name}.handlers"),
            ]
            body = line.format(
                n=rng.randrange(100000), u=rng.randrange(10000), ms=rng.randrange(500)
            )
            by_service[index].append(
                logs_pb2.LogRecord(
                    time_unix_nano=stamp.time(offset),
                    observed_time_unix_nano=stamp.time(offset + rng.randrange(1000, 900_000)),
                    severity_number=number,
                    severity_text=text,
                    body=AnyValue(string_value=body),
                    attributes=_attrs(pairs) + self.extra,
                    flags=1,
                    trace_id=stamp.trace_prefix + rng.randbytes(8),
                    span_id=rng.randbytes(8),
                )
            )
        request = ExportLogsServiceRequest()
        for service, group in zip(self.services, by_service, strict=True):
            if group:
                rl = request.resource_logs.add(resource=service.resource)
                rl.scope_logs.add(scope=_SCOPE, log_records=group)
        return Generated(request, records, trace_fields=records, time_fields=2 * records)


def generate(
    signal: Signal,
    items: int,
    stamp: Stamp,
    *,
    seed: int | None = None,
    services: Sequence[str] = DEFAULT_SERVICES,
    attributes: Sequence[tuple[str, str]] = (),
) -> Generated:
    """One export request of ``signal`` with ``items`` items (a convenience for tests and tools)."""
    return Generator(random.Random(seed), services=services, attributes=attributes).request(
        signal, items, stamp
    )
