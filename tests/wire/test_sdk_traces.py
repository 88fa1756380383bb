from __future__ import annotations

import logging
from typing import Any

import orjson
import pytest
from google.protobuf import json_format
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from opentelemetry.exporter.otlp.proto.common._internal.trace_encoder import (
    encode_spans as official_encode_spans,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode
from sdk_strategies import SPANS
from wire_strategies import base64_ids_to_hex

from otlpy.wire.sdk_traces import encode_spans, encode_spans_json

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
)


def official_bytes(spans: list[Any]) -> bytes:
    """The official encoder's bytes, plus the link trace_state it leaves out (we keep it)."""
    message = official_encode_spans(spans)
    links = iter(
        link
        for resource_spans in message.resource_spans
        for scope_spans in resource_spans.scope_spans
        for span in scope_spans.spans
        for link in span.links
    )
    by_span = _sdk_links_in_encoding_order(spans)
    for link, sdk_link in zip(links, by_span, strict=True):
        state = ",".join(f"{k}={v}" for k, v in sdk_link.context.trace_state.items())
        link.trace_state = state
    return message.SerializeToString()


def _sdk_links_in_encoding_order(spans: list[Any]) -> list[Any]:
    message_order = official_encode_spans(spans)
    # the official encoder groups spans; find each encoded span's SDK span by its ids and order
    remaining = list(spans)
    ordered = []
    for resource_spans in message_order.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                for index, candidate in enumerate(remaining):
                    context = candidate.get_span_context()
                    if context.span_id.to_bytes(8, "big") == span.span_id:
                        ordered.extend(candidate.links)
                        del remaining[index]
                        break
    return ordered


class Keep(SpanExporter):
    def __init__(self) -> None:
        self.spans: list[ReadableSpan] = []

    def export(self, spans: Any) -> SpanExportResult:
        self.spans.extend(spans)
        return SpanExportResult.SUCCESS


@SETTINGS
@given(spans=st.lists(SPANS, max_size=6))
def test_byte_identical_to_the_official_encoder(spans: list[ReadableSpan]) -> None:
    assert encode_spans(spans) == official_bytes(spans)


@SETTINGS
@given(spans=st.lists(SPANS, max_size=4))
def test_json_agrees_with_json_format(spans: list[ReadableSpan]) -> None:
    expected = ExportTraceServiceRequest.FromString(official_bytes(spans))
    printed = json_format.MessageToDict(expected, use_integers_for_enums=True)
    ours = orjson.loads(encode_spans_json(spans))
    assert ours == base64_ids_to_hex(printed)


def test_real_tracer_spans_with_limits() -> None:
    keep = Keep()
    provider = TracerProvider(
        resource=Resource.create({"service.name": "svc"}),
        span_limits=SpanLimits(max_span_attributes=3, max_events=1, max_links=1),
    )
    provider.add_span_processor(SimpleSpanProcessor(keep))
    tracer = provider.get_tracer("lib", "2.0", schema_url="https://s/1", attributes={"t": 1})
    remote = SpanContext(trace_id=7, span_id=8, is_remote=True)
    with tracer.start_as_current_span("root", kind=SpanKind.SERVER, links=[Link(remote)]) as root:
        root.set_attributes({f"a{i}": i for i in range(5)})
        root.add_event("e1", {"x": [1, 2]})
        root.add_event("e2")
        with tracer.start_as_current_span("child") as child:
            child.set_status(Status(StatusCode.ERROR, "bad"))
            child.record_exception(ValueError("boom"))
    other = TracerProvider().get_tracer("x")
    with other.start_as_current_span("orphan", context=None):
        pass
    spans = keep.spans
    assert encode_spans(spans) == official_bytes(spans)
    message = ExportTraceServiceRequest.FromString(encode_spans(spans))
    root_message = message.resource_spans[0].scope_spans[0].spans[1]
    assert root_message.dropped_attributes_count == 2
    assert root_message.dropped_events_count == 1
    assert root_message.flags == 0x100


class CustomSpan(ReadableSpan):
    """A ReadableSpan subclass: read through the public properties, not the SDK's fields."""

    @property
    def name(self) -> str:
        return "custom:" + self._name


@SETTINGS
@given(spans=st.lists(SPANS, min_size=1, max_size=3))
def test_other_span_types_use_the_public_api(spans: list[ReadableSpan]) -> None:
    custom = [
        CustomSpan(
            name=span.name,
            context=span.get_span_context(),
            parent=span.parent,
            resource=span.resource,
            attributes=span._attributes,
            events=span._events,
            links=span._links,
            kind=span.kind,
            status=span.status,
            start_time=span.start_time,
            end_time=span.end_time,
            instrumentation_scope=span.instrumentation_scope,
        )
        for span in spans
    ]
    assert encode_spans(custom) == official_bytes(custom)
    message = ExportTraceServiceRequest.FromString(encode_spans(custom))
    assert message.resource_spans[0].scope_spans[0].spans[0].name.startswith("custom:")


def test_empty_batch() -> None:
    assert encode_spans([]) == b""
    assert encode_spans_json([]) == b"{}"


def test_unencodable_attributes_are_dropped_with_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    span = ReadableSpan(
        "s",
        context=SpanContext(1, 2, False),
        attributes={"ok": 1, "huge": 1 << 70, "obj": object(), "mixed": (1, object())},
    )
    with caplog.at_level(logging.WARNING, logger="otlpy.wire.sdk_attributes"):
        ours = encode_spans([span])
    assert ours == official_bytes([span])
    message = ExportTraceServiceRequest.FromString(ours)
    assert [kv.key for kv in message.resource_spans[0].scope_spans[0].spans[0].attributes] == ["ok"]
    warnings = [r for r in caplog.records if "cannot be encoded" in r.getMessage()]
    assert len(warnings) == 1
    assert "dropped 3 span attributes" in warnings[0].getMessage()
