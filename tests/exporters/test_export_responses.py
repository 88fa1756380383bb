"""Reading partial success out of OTLP export responses, protobuf and JSON."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceResponse,
)

from otlpy.exporters._responses import partial_success_from_json, partial_success_from_proto
from otlpy.pdata import Signal


def test_protobuf_partial_success() -> None:
    response = ExportMetricsServiceResponse()
    response.partial_success.rejected_data_points = 4
    partial = partial_success_from_proto(Signal.METRICS, response.SerializeToString())
    assert partial is not None
    assert (partial.rejected, partial.message) == (4, "4 items rejected by the server")


@pytest.mark.parametrize(
    "body",
    [
        b"",
        ExportMetricsServiceResponse().SerializeToString(),
        # partial_success present but empty: full success
        b"\x0a\x00",
        b"\xff\xff\xff",
    ],
)
def test_protobuf_full_success(body: bytes) -> None:
    assert partial_success_from_proto(Signal.METRICS, body) is None


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ({"partialSuccess": {"rejectedSpans": "3", "errorMessage": "old"}}, (3, "old")),
        ({"partialSuccess": {"rejectedSpans": 2}}, (2, "2 items rejected by the server")),
        ({"partial_success": {"rejected_spans": 1, "error_message": "x"}}, (1, "x")),
        ({"partialSuccess": {"rejectedSpans": "many", "errorMessage": 5}}, (0, "5")),
        ({"partialSuccess": {}}, None),
        ({"partialSuccess": "nope"}, None),
        ({}, None),
        ([], None),
    ],
)
def test_json_partial_success(document: Any, expected: tuple[int, str] | None) -> None:
    partial = partial_success_from_json(Signal.TRACES, document)
    assert (None if partial is None else (partial.rejected, partial.message)) == expected
