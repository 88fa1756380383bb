"""Our exporters and the official ones send the same data to a real OTLP server."""

from __future__ import annotations

import base64
from typing import Any

import orjson
import pytest
from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
    OTLPSpanExporter as OfficialGrpcSpanExporter,
)
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as OfficialHttpSpanExporter,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace.export import SpanExportResult

from otlpy.sdk import OTLPSpanExporter

from .otlp_servers import GrpcOtlpServer, HttpOtlpServer

_ID_KEYS = {"traceId", "spanId", "parentSpanId"}


def _hex_to_b64(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            k: base64.b64encode(bytes.fromhex(v)).decode()
            if k in _ID_KEYS and isinstance(v, str)
            else _hex_to_b64(v)
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_hex_to_b64(v) for v in node]
    return node


def parse_otlp_json(data: bytes, message: Any) -> Any:
    """Parse OTLP/JSON (hex ids) into ``message``."""
    json_format.ParseDict(_hex_to_b64(orjson.loads(data)), message)
    return message


def traces(data: bytes) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    request.ParseFromString(data)
    return request


def test_grpc_same_as_official(grpc_server: GrpcOtlpServer, spans: list[Any]) -> None:
    ours = OTLPSpanExporter(grpc_server.endpoint, insecure=True)
    official = OfficialGrpcSpanExporter(endpoint=grpc_server.endpoint, insecure=True)
    assert ours.export(spans) is SpanExportResult.SUCCESS
    assert official.export(spans) is SpanExportResult.SUCCESS
    ours.shutdown()
    official.shutdown()
    mine, theirs = grpc_server.received["traces"]
    assert traces(mine) == traces(theirs)
    assert len(traces(mine).resource_spans[0].scope_spans[0].spans) == len(spans)


@pytest.mark.parametrize("compression", ["none", "gzip"])
def test_http_protobuf_same_as_official(
    http_server: HttpOtlpServer, spans: list[Any], compression: str
) -> None:
    url = http_server.url("traces")
    ours = OTLPSpanExporter(url, protocol="http/protobuf", compression=compression)
    official = OfficialHttpSpanExporter(endpoint=url)
    assert ours.export(spans) is SpanExportResult.SUCCESS
    assert official.export(spans) is SpanExportResult.SUCCESS
    ours.shutdown()
    official.shutdown()
    mine, theirs = http_server.received["traces"]
    assert http_server.content_types["traces"][0] == "application/x-protobuf"
    assert traces(mine) == traces(theirs)


def test_http_json_same_as_official(http_server: HttpOtlpServer, spans: list[Any]) -> None:
    url = http_server.url("traces")
    ours = OTLPSpanExporter(url, protocol="http/json")
    official = OfficialHttpSpanExporter(endpoint=url)
    assert ours.export(spans) is SpanExportResult.SUCCESS
    assert official.export(spans) is SpanExportResult.SUCCESS
    ours.shutdown()
    official.shutdown()
    mine, theirs = http_server.received["traces"]
    assert http_server.content_types["traces"][0] == "application/json"
    assert parse_otlp_json(mine, ExportTraceServiceRequest()) == traces(theirs)
