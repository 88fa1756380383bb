"""The OpenTelemetry Python SDK -> otlpy (otlp receiver -> processors -> file exporters).

A real collector built from a config runs the transform, attributes, resource, filter,
probabilistic sampler, redaction and python processors and the routing connector on what the SDK's own OTLP
exporters send over gRPC; what the file exporters wrote is compared with the SDK's encoding of
the same data, changed by hand as the processors should have changed it.
"""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import Any

from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from otlpy.component import ComponentID
from otlpy.config import build
from otlpy.exporters.file import read_file
from otlpy.pdata import Signal
from otlpy.pipeline import Collector


def make_sdk_data() -> tuple[Any, Any, Any]:
    resource = Resource.create({"service.name": "shop", "deployment": "test"})
    spans = InMemorySpanExporter()
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(SimpleSpanProcessor(spans))
    tracer = provider.get_tracer("otlpy.tests", "1.0")
    with tracer.start_as_current_span(
        "checkout", kind=SpanKind.SERVER, attributes={"http.method": "POST", "items": 3}
    ):
        with tracer.start_as_current_span("db", kind=SpanKind.CLIENT):
            pass
    reader = InMemoryMetricReader()
    meter = MeterProvider(resource=resource, metric_readers=[reader]).get_meter("otlpy.tests")
    meter.create_counter("orders").add(3, {"region": "eu"})
    meter.create_up_down_counter("queue").add(-2)
    records = InMemoryLogRecordExporter()
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(records))
    logger = logger_provider.get_logger("otlpy.tests", "1.0")
    logger.emit(severity_number=SeverityNumber.INFO, severity_text="INFO", body="hello")
    logger.emit(severity_number=SeverityNumber.WARN, severity_text="WARN", body="payment failed")
    return spans.get_finished_spans(), reader.get_metrics_data(), records.get_finished_logs()


def config(out: Path) -> dict[str, Any]:
    def file(name: str) -> dict[str, Any]:
        return {"path": str(out / f"{name}.jsonl"), "format": "json", "flush_interval": "0"}

    return {
        "receivers": {"otlp": {"protocols": {"grpc": {"endpoint": "127.0.0.1:0"}}}},
        "processors": {
            "transform": {
                "trace_statements": [
                    'set(span.attributes["env"], "prod")',
                    'set(resource.attributes["team"], "core")',
                ],
                "log_statements": [
                    'set(log.severity_text, "FAIL") where log.body == "payment failed"'
                ],
            },
            "attributes": {
                "actions": [{"action": "hash", "key": "http.method"}],
                "include": {"match_type": "strict", "span_names": ["checkout"]},
            },
            "filter": {
                "traces": {"span": ['name == "db"']},
                "metrics": {"metric": ['name == "queue"']},
            },
            "probabilistic_sampler": {"sampling_percentage": 100, "mode": "proportional"},
            "redaction": {"allow_all_keys": True, "blocked_values": ["^prod$"], "summary": "info"},
            "python": {"function": "sdk_functions:tag_logs"},
            "resource": {
                "attributes": [
                    {"action": "upsert", "key": "cloud.region", "value": "eu-west-1"},
                    {"action": "delete", "key": "deployment"},
                ]
            },
        },
        "connectors": {
            "routing": {
                "default_pipelines": ["traces/other"],
                "table": [
                    {
                        "condition": 'attributes["service.name"] == "shop"',
                        "pipelines": ["traces/shop"],
                    }
                ],
            }
        },
        "exporters": {
            f"file/{name}": file(name) for name in ("traces", "metrics", "logs", "shop", "other")
        },
        "service": {
            "telemetry": {"metrics": {"level": "none"}},
            "pipelines": {
                "traces": {
                    "receivers": ["otlp"],
                    "processors": [
                        "transform",
                        "attributes",
                        "filter",
                        "probabilistic_sampler",
                        "redaction",
                    ],
                    "exporters": ["file/traces"],
                },
                "traces/in": {"receivers": ["otlp"], "exporters": ["routing"]},
                "traces/shop": {"receivers": ["routing"], "exporters": ["file/shop"]},
                "traces/other": {"receivers": ["routing"], "exporters": ["file/other"]},
                "metrics": {
                    "receivers": ["otlp"],
                    "processors": ["filter", "resource"],
                    "exporters": ["file/metrics"],
                },
                "logs": {
                    "receivers": ["otlp"],
                    "processors": ["transform", "python"],
                    "exporters": ["file/logs"],
                },
            },
        },
    }


def kv(key: str, **value: Any) -> KeyValue:
    return KeyValue(key=key, value=AnyValue(**value))


def expected_traces(spans: Any) -> Any:
    request = encode_spans(spans)
    for rs in request.resource_spans:
        rs.resource.attributes.append(kv("team", string_value="core"))
        for ss in rs.scope_spans:
            kept = [s for s in ss.spans if s.name != "db"]
            del ss.spans[:]
            ss.spans.extend(kept)
            for span in ss.spans:
                span.attributes.append(kv("env", string_value="****"))
                for attr in span.attributes:
                    if attr.key == "http.method":
                        attr.value.string_value = hashlib.sha256(b"POST").hexdigest()
                span.attributes.append(kv("redaction.masked.count", int_value=1))
                span.trace_state = "ot=th:0"
    return request


def expected_metrics(metrics: Any) -> Any:
    request = encode_metrics(metrics)
    for rm in request.resource_metrics:
        kept_attrs = [a for a in rm.resource.attributes if a.key != "deployment"]
        del rm.resource.attributes[:]
        rm.resource.attributes.extend(kept_attrs)
        rm.resource.attributes.append(kv("cloud.region", string_value="eu-west-1"))
        for sm in rm.scope_metrics:
            kept = [m for m in sm.metrics if m.name != "queue"]
            del sm.metrics[:]
            sm.metrics.extend(kept)
    return request


def expected_logs(logs: Any) -> Any:
    request = encode_logs(logs)
    for rl in request.resource_logs:
        for sl in rl.scope_logs:
            kept = [r for r in sl.log_records if r.body.string_value == "payment failed"]
            del sl.log_records[:]
            sl.log_records.extend(kept)
            for record in sl.log_records:
                record.severity_text = "FAIL"
                record.attributes.append(kv("checked", bool_value=True))
    return request


def send(endpoint: str, spans: Any, metrics: Any, logs: Any) -> None:
    for exporter, data in (
        (OTLPSpanExporter(endpoint=endpoint, insecure=True, timeout=5), spans),
        (OTLPMetricExporter(endpoint=endpoint, insecure=True, timeout=5), metrics),
        (OTLPLogExporter(endpoint=endpoint, insecure=True, timeout=5), logs),
    ):
        result = exporter.export(data)
        assert result.name == "SUCCESS", (exporter, result)
        exporter.shutdown()


async def test_sdk_data_through_the_processors(tmp_path: Path) -> None:
    spans, metrics, logs = make_sdk_data()
    collector = Collector(build(config(tmp_path)))
    await collector.start()
    try:
        port = collector.graph.receivers[ComponentID("otlp")].grpc_port  # type: ignore[attr-defined]
        await asyncio.to_thread(send, f"127.0.0.1:{port}", spans, metrics, logs)
    finally:
        await collector.shutdown()
    assert read_file(tmp_path / "traces.jsonl", Signal.TRACES) == [expected_traces(spans)]
    assert read_file(tmp_path / "metrics.jsonl", Signal.METRICS) == [expected_metrics(metrics)]
    assert read_file(tmp_path / "logs.jsonl", Signal.LOGS) == [expected_logs(logs)]
    # the routing connector sent the untouched request on as it came
    assert read_file(tmp_path / "shop.jsonl", Signal.TRACES) == [encode_spans(spans)]
    assert not (tmp_path / "other.jsonl").exists() or not read_file(
        tmp_path / "other.jsonl", Signal.TRACES
    )
