"""Wire codec benchmark: otlpy.wire against the official encoders and json_format, side by side.

Each batch is 512 SDK spans with 10 attributes and 1 event (with 2 attributes) each, as real HTTP
server spans look: most values repeat (method, route, status, server, user agent), three never do
(the path's id, the body size, the event's cache key). Several distinct batches are encoded in
turn, so the encoders' caches see fresh values as an exporter's do; the first row also encodes
one batch over and over (every value seen before). Logs (512
records) and metrics (512 data points) are measured the same way.

Every timing is the best of ``--repeat`` runs, interleaved between the contenders.

    python benchmarks/bench_encode.py [--repeat 7] [--batches 8]
"""

from __future__ import annotations

import argparse
import gc
import random
import time
from collections.abc import Callable
from typing import Any

import orjson
from google.protobuf import json_format
from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.exporter.otlp.proto.common._internal._log_encoder import (
    encode_logs as official_encode_logs,
)
from opentelemetry.exporter.otlp.proto.common._internal.metrics_encoder import (
    encode_metrics as official_encode_metrics,
)
from opentelemetry.exporter.otlp.proto.common._internal.trace_encoder import (
    encode_spans as official_encode_spans,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Metric,
    MetricsData,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
    Sum,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanKind

from otlpy.pdata import Signal
from otlpy.wire import _compiled
from otlpy.wire.json_encoder import converter_for
from otlpy.wire.otlp_json import decode_request, encode_request, protobuf_to_json
from otlpy.wire.sdk_logs import encode_logs
from otlpy.wire.sdk_metrics import encode_metrics
from otlpy.wire.sdk_traces import encode_spans, encode_spans_json

BATCH = 512
RESOURCE = Resource.create({"service.name": "checkout", "deployment.environment": "prod"})
ROUTES = ["/api/items/{id}", "/api/cart", "/api/orders/{id}", "/health", "/api/users/{id}"]
AGENTS = ["Mozilla/5.0 (X11; Linux x86_64)", "curl/8.5.0", "python-requests/2.32"]


class _Keep(SpanExporter):
    def __init__(self) -> None:
        self.spans: list[ReadableSpan] = []

    def export(self, spans: Any) -> SpanExportResult:
        self.spans.extend(spans)
        return SpanExportResult.SUCCESS


def make_span_batches(count: int, seed: int = 1) -> list[list[ReadableSpan]]:
    """``count`` batches of real SDK spans (10 attributes and 1 event each)."""
    rng = random.Random(seed)
    keep = _Keep()
    provider = TracerProvider(resource=RESOURCE)
    provider.add_span_processor(SimpleSpanProcessor(keep))
    tracer = provider.get_tracer("checkout.http", "1.4.0")
    for _ in range(count * BATCH):
        item = rng.randrange(1 << 40)
        route = rng.choice(ROUTES)
        with tracer.start_as_current_span(f"GET {route}", kind=SpanKind.SERVER) as span:
            span.set_attributes(
                {
                    "http.request.method": rng.choice(["GET", "POST"]),
                    "http.route": route,
                    "url.path": route.replace("{id}", str(item)),
                    "http.response.status_code": rng.choice([200, 200, 200, 201, 404, 500]),
                    "server.address": "checkout.internal",
                    "server.port": 8080,
                    "client.address": f"10.0.{rng.randrange(4)}.{rng.randrange(256)}",
                    "user_agent.original": rng.choice(AGENTS),
                    "http.request.body.size": rng.randrange(1 << 30),
                    "app.cache_hit": rng.random() < 0.8,
                }
            )
            span.add_event("cache.lookup", {"cache.key": f"item:{item}", "cache.ttl": 300})
    spans = keep.spans
    return [spans[i * BATCH : (i + 1) * BATCH] for i in range(count)]


def make_log_batches(count: int, seed: int = 2) -> list[list[ReadableLogRecord]]:
    """``count`` batches of log records with 5 attributes and a string body."""
    rng = random.Random(seed)
    scope = InstrumentationScope("checkout.logs", "1.4.0")
    batches = []
    for _ in range(count):
        batch = []
        for _ in range(BATCH):
            order = rng.randrange(1_000_000)
            record = LogRecord(
                timestamp=time.time_ns(),
                severity_number=SeverityNumber.INFO,
                severity_text="INFO",
                body=f"order {order} placed",
                attributes={
                    "order.id": order,
                    "customer.tier": rng.choice(["gold", "silver", "bronze"]),
                    "cart.items": rng.randrange(1, 20),
                    "payment.method": rng.choice(["card", "paypal"]),
                    "retry": False,
                },
            )
            batch.append(ReadableLogRecord(record, RESOURCE, scope))
        batches.append(batch)
    return batches


def make_metric_batches(count: int, seed: int = 3) -> list[MetricsData]:
    """``count`` MetricsData with 512 sum data points (2 attributes each) over 8 metrics."""
    rng = random.Random(seed)
    scope = InstrumentationScope("checkout.metrics", "1.4.0")
    batches = []
    now = time.time_ns()
    for _ in range(count):
        metrics = []
        for index in range(8):
            points = [
                NumberDataPoint(
                    attributes={"http.route": rng.choice(ROUTES), "worker": point % 32},
                    start_time_unix_nano=now - 60_000_000_000,
                    time_unix_nano=now,
                    value=rng.randrange(1_000_000),
                )
                for point in range(BATCH // 8)
            ]
            data = Sum(points, AggregationTemporality.CUMULATIVE, is_monotonic=True)
            metrics.append(Metric(f"requests.{index}", "served requests", "{request}", data))
        resource_metrics = ResourceMetrics(RESOURCE, [ScopeMetrics(scope, metrics, "")], "")
        batches.append(MetricsData([resource_metrics]))
    return batches


def best_of(runs: dict[str, Callable[[], object]], repeat: int) -> dict[str, float]:
    """Best CPU time of each callable over ``repeat`` interleaved runs.

    CPU time of this process, not wall time: on a shared machine, time spent waiting for a core
    says nothing about the code.
    """
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(repeat):
        for name, run in runs.items():
            start = time.process_time()
            run()
            best[name] = min(best[name], time.process_time() - start)
    return best


def report(title: str, peer: str, ours: str, times: dict[str, float], items: int) -> None:
    peer_us = times[peer] / items * 1e6
    ours_us = times[ours] / items * 1e6
    print(f"{title:<44} {peer_us:9.2f} {ours_us:9.2f} {peer_us / ours_us:8.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="runs per contender (best kept)")
    parser.add_argument("--batches", type=int, default=8, help="distinct batches encoded per run")
    args = parser.parse_args()
    batches = make_span_batches(args.batches)
    spans = len(batches) * BATCH
    log_batches = make_log_batches(args.batches)
    metric_batches = make_metric_batches(args.batches)

    # sanity: same bytes as the official encoder, and our JSON decodes back to the message
    messages = [official_encode_spans(batch) for batch in batches]
    for batch, message in zip(batches, messages, strict=True):
        assert encode_spans(batch) == message.SerializeToString()
    our_json = [encode_request(message) for message in messages]
    their_json = [json_format.MessageToJson(message) for message in messages]
    assert decode_request(Signal.TRACES, our_json[0]) == messages[0]
    for batch in log_batches:
        assert encode_logs(batch) == official_encode_logs(batch).SerializeToString()
    for data in metric_batches:
        assert encode_metrics(data) == official_encode_metrics(data).SerializeToString()
    # The test data is long-lived: keep the cyclic GC from walking it over and over during the
    # timed runs (a long-running exporter's old objects sit in the oldest generation the same way).
    gc.collect()
    gc.freeze()

    print(f"{spans} spans in {len(batches)} batches of {BATCH}; us per span (per item below)")
    print(f"otlpy wire codec: {_compiled.describe()}")
    print(f"{'':<44} {'peer':>9} {'otlpy':>9} {'speedup':>9}")
    times = best_of(
        {
            "official": lambda: [official_encode_spans(b).SerializeToString() for b in batches],
            "ours": lambda: [encode_spans(b) for b in batches],
        },
        args.repeat,
    )
    report("SDK spans -> protobuf (official encoder)", "official", "ours", times, spans)
    first = batches[0]
    times = best_of(
        {
            "official": lambda: official_encode_spans(first).SerializeToString(),
            "ours": lambda: encode_spans(first),
        },
        args.repeat * 2,
    )
    report("  same batch again and again", "official", "ours", times, BATCH)
    times = best_of(
        {
            "json_format": lambda: [json_format.MessageToJson(m) for m in messages],
            "ours": lambda: [encode_request(m) for m in messages],
        },
        args.repeat,
    )
    report("message -> OTLP/JSON (MessageToJson)", "json_format", "ours", times, spans)
    raws = [message.SerializeToString() for message in messages]
    assert [protobuf_to_json(Signal.TRACES, raw) for raw in raws] == our_json
    times = best_of(
        {
            "json_format": lambda: [
                json_format.MessageToJson(ExportTraceServiceRequest.FromString(raw)) for raw in raws
            ],
            "ours": lambda: [protobuf_to_json(Signal.TRACES, raw) for raw in raws],
        },
        args.repeat,
    )
    report("request bytes -> OTLP/JSON (FromString + M2J)", "json_format", "ours", times, spans)
    # the previous encoder, which read the message's fields from Python, for comparison
    field_reader = converter_for(ExportTraceServiceRequest.DESCRIPTOR)
    times = best_of(
        {
            "fields": lambda: [orjson.dumps(field_reader(m)) for m in messages],
            "ours": lambda: [encode_request(m) for m in messages],
        },
        args.repeat,
    )
    report("  vs reading fields from Python (before)", "fields", "ours", times, spans)
    times = best_of(
        {
            "json_format": lambda: [
                json_format.Parse(text, ExportTraceServiceRequest()) for text in their_json
            ],
            "ours": lambda: [decode_request(Signal.TRACES, text) for text in our_json],
        },
        args.repeat,
    )
    report("OTLP/JSON -> message (json_format.Parse)", "json_format", "ours", times, spans)
    times = best_of(
        {
            "official": lambda: [
                json_format.MessageToJson(official_encode_spans(b)) for b in batches
            ],
            "ours": lambda: [encode_spans_json(b) for b in batches],
        },
        max(1, args.repeat // 2),
    )
    report("SDK spans -> OTLP/JSON (official + MessageToJson)", "official", "ours", times, spans)

    times = best_of(
        {
            "official": lambda: [official_encode_logs(b).SerializeToString() for b in log_batches],
            "ours": lambda: [encode_logs(b) for b in log_batches],
        },
        args.repeat,
    )
    report("SDK log records -> protobuf", "official", "ours", times, len(log_batches) * BATCH)

    times = best_of(
        {
            "official": lambda: [
                official_encode_metrics(d).SerializeToString() for d in metric_batches
            ],
            "ours": lambda: [encode_metrics(d) for d in metric_batches],
        },
        args.repeat,
    )
    report("SDK metric points -> protobuf", "official", "ours", times, len(metric_batches) * BATCH)


if __name__ == "__main__":
    main()
