"""Our exporters and the official ones send the same data to a real OTLP server."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
    OTLPSpanExporter as OfficialGrpcSpanExporter,
)
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as OfficialHttpSpanExporter,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace.export import SpanExportResult

from otlpy.pdata import Signal
from otlpy.sdk import OTLPSpanExporter
from otlpy.wire import decode_request

from .otlp_servers import GrpcOtlpServer, HttpOtlpServer


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
    assert decode_request(Signal.TRACES, mine) == traces(theirs)
