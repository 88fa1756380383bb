"""The attributes and resource processors edit received bytes as they edit messages.

A batch that still holds the bytes it arrived as is changed in its bytes (compiled
``otlpy.wire.protobuf_edit``) when its actions allow; the same batch given as a message takes
the messages path. Both must give the same request, on random requests and action lists.
"""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from processor_kit import Harness

from otlpy.ottl.onbytes import FAST
from otlpy.pdata import Batch, Signal
from otlpy.processors.attribute_actions import ActionConfig, byte_ops
from otlpy.processors.attributes import factory as attributes
from otlpy.processors.resource import factory as resource
from otlpy.wire.protobuf_edit import any_value

SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])

ACTIONS: list[dict[str, Any]] = [
    {"action": "upsert", "key": "a", "value": "x"},
    {"action": "insert", "key": "b", "value": 1},
    {"action": "insert", "key": "a", "value": 2.5},
    {"action": "update", "key": "a", "value": True},
    {"action": "update", "key": "zz", "value": "never"},
    {"action": "upsert", "key": "m", "value": {"k": "v", "n": [1, "two"]}},
    {"action": "delete", "key": "a"},
    {"action": "delete", "pattern": "^b"},
    {"action": "delete", "key": "c", "pattern": "c"},
    {"action": "hash", "key": "a"},
    {"action": "hash", "pattern": "."},
    {"action": "hash", "key": "a", "pattern": "^a$"},  # the first "a" hashed twice
    {"action": "extract", "key": "a", "pattern": "(?P<first>[a-z])"},  # messages only
    {"action": "upsert", "key": "d", "from_attribute": "a"},  # messages only
    {"action": "convert", "key": "b", "converted_type": "string"},  # messages only
]

MATCHES: list[dict[str, Any]] = [
    {},
    {"include": {"match_type": "strict", "span_names": ["x"]}},
    {"exclude": {"match_type": "regexp", "attributes": [{"key": "a", "value": "^1"}]}},
    {"include": {"match_type": "strict", "services": ["shop"]}},
]

keys = st.sampled_from(["a", "b", "c", "cc", ""])
values = st.one_of(
    st.text(max_size=6),
    st.sampled_from(["1", "10", "x"]),
    st.integers(-(2**63), 2**63 - 1),
    st.booleans(),
    st.floats(allow_nan=False),
    st.binary(max_size=3),
    st.none(),
)


def add(kvs: Any, pairs: list[tuple[str, Any]]) -> None:
    for key, value in pairs:
        kv = kvs.add(key=key)
        if value is not None:
            kv.value.MergeFromString(any_value(value))


attribute_lists = st.lists(st.tuples(keys, values), max_size=5)


@st.composite
def trace_requests(draw: st.DrawFn) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    for _ in range(draw(st.integers(1, 2))):
        rs = request.resource_spans.add()
        if draw(st.booleans()):
            rs.resource.attributes.add(key="service.name").value.string_value = draw(
                st.sampled_from(["shop", "other"])
            )
            add(rs.resource.attributes, draw(attribute_lists))
        for _ in range(draw(st.integers(0, 2))):
            scope = rs.scope_spans.add()
            for _ in range(draw(st.integers(0, 3))):
                span = scope.spans.add(name=draw(st.sampled_from(["x", "y"])))
                add(span.attributes, draw(attribute_lists))
    return request


@st.composite
def log_requests(draw: st.DrawFn) -> ExportLogsServiceRequest:
    request = ExportLogsServiceRequest()
    scope = request.resource_logs.add().scope_logs.add()
    for _ in range(draw(st.integers(0, 3))):
        add(scope.log_records.add().attributes, draw(attribute_lists))
    return request


def both_ways(factory: Any, data: dict[str, Any], signal: Signal, request: Any) -> tuple[Any, Any]:
    """What comes out of a batch given as bytes, and of the same batch given as a message."""

    async def run() -> tuple[Any, Any]:
        on_bytes = Harness(factory, data, signal)
        await on_bytes.processor.consume(Batch.decode(signal, request.SerializeToString()))
        got = None
        if on_bytes.sink.batches:  # an empty batch goes no further
            out = on_bytes.sink.batches[-1]
            assert out.items == Batch.from_message(signal, out.message).items
            got = out.message
            event("edited as bytes" if out.has_raw else "edited as messages")
        want = await Harness(factory, data, signal).run(
            type(request).FromString(request.SerializeToString())
        )
        return got, want

    return asyncio.run(run())


@SETTINGS
@given(
    trace_requests(),
    st.lists(st.sampled_from(ACTIONS), min_size=1, max_size=4),
    st.sampled_from(MATCHES),
)
def test_attributes_on_span_bytes(request: Any, actions: list[Any], match: dict[str, Any]) -> None:
    got, want = both_ways(attributes, {"actions": actions, **match}, Signal.TRACES, request)
    assert got == want


@SETTINGS
@given(log_requests(), st.lists(st.sampled_from(ACTIONS), min_size=1, max_size=4))
def test_attributes_on_log_bytes(request: Any, actions: list[Any]) -> None:
    got, want = both_ways(attributes, {"actions": actions}, Signal.LOGS, request)
    assert got == want


@SETTINGS
@given(trace_requests(), st.lists(st.sampled_from(ACTIONS), min_size=1, max_size=4))
def test_resource_on_bytes(request: Any, actions: list[Any]) -> None:
    got, want = both_ways(resource, {"attributes": actions}, Signal.TRACES, request)
    assert got == want


def test_which_actions_run_on_bytes() -> None:
    def ops(*configs: dict[str, Any]) -> Any:
        return byte_ops([ActionConfig(**c) for c in configs])

    assert ops(ACTIONS[0], ACTIONS[6], ACTIONS[9]) is not None
    assert ops(ACTIONS[0], ACTIONS[12]) is None  # extract
    assert ops(ACTIONS[13]) is None  # from_attribute
    assert ops({"action": "upsert", "key": "k", "from_context": "metadata.x"}) is None


async def test_a_batch_as_bytes_leaves_as_bytes() -> None:
    request = ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add(name="x")
    span.attributes.add(key="secret").value.string_value = "s3cr3t"
    h = Harness(
        attributes,
        {"actions": [{"action": "hash", "key": "secret"}, {"action": "upsert", "key": "e",
                                                           "value": "prod"}]},
    )  # fmt: skip
    await h.processor.consume(Batch.decode(Signal.TRACES, request.SerializeToString()))
    out = h.sink.batches[-1]
    assert out.has_raw is FAST and out.items == 1
    got = out.message.resource_spans[0].scope_spans[0].spans[0].attributes
    assert [kv.key for kv in got] == ["secret", "e"]
    assert len(got[0].value.string_value) == 64  # hex SHA-256
    assert got[1].value == AnyValue(string_value="prod")
