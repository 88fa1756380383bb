from __future__ import annotations

import random
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otlpy.pdata import Signal, count_items
from otlpy.send.generate import DEFAULT_SERVICES, Generator, Stamp, generate

STAMP = Stamp(b"\x01\x02\x03\x04\x05\x06\x07\x08", 0x1A2B3C4D)


def _spans(message):
    for rs in message.resource_spans:
        service = next(
            kv.value.string_value for kv in rs.resource.attributes if kv.key == "service.name"
        )
        for ss in rs.scope_spans:
            for span in ss.spans:
                yield service, span


def test_spans_are_realistic():
    generated = generate(Signal.TRACES, 512, STAMP, seed=1)
    spans = [span for _, span in _spans(generated.message)]
    assert len(spans) == 512 == generated.items
    assert {s for s, _ in _spans(generated.message)} == set(DEFAULT_SERVICES)
    for span in spans:
        assert len(span.attributes) >= 10
        assert len(span.events) == 1
        assert span.trace_id[:8] == STAMP.trace_prefix
        assert len(span.trace_id) == 16 and len(span.span_id) == 8
        assert span.start_time_unix_nano >> 32 == STAMP.time_high
        assert span.end_time_unix_nano >> 32 == STAMP.time_high
        assert span.start_time_unix_nano <= span.end_time_unix_nano
        assert span.start_time_unix_nano <= span.events[0].time_unix_nano
        assert span.events[0].time_unix_nano <= span.end_time_unix_nano
    assert len({s.name for s in spans}) >= 5
    kinds = Counter(s.kind for s in spans)
    assert kinds[2] > 0 and kinds[3] > 0  # server and client spans


def test_traces_are_trees_with_nested_times():
    spans = [span for _, span in _spans(generate(Signal.TRACES, 512, STAMP, seed=2).message)]
    by_trace: dict[bytes, dict[bytes, object]] = {}
    for span in spans:
        by_trace.setdefault(span.trace_id, {})[span.span_id] = span
    assert 512 / 12 <= len(by_trace) <= 512 / 2
    for members in by_trace.values():
        roots = [s for s in members.values() if not s.parent_span_id]
        assert len(roots) == 1
        for span in members.values():
            if span.parent_span_id:
                parent = members[span.parent_span_id]  # the parent is in the same trace
                assert parent.start_time_unix_nano <= span.start_time_unix_nano
                assert span.end_time_unix_nano <= parent.end_time_unix_nano


def test_user_attributes_and_services():
    generated = generate(
        Signal.TRACES, 20, STAMP, seed=3, services=["solo"], attributes=[("team", "blue")]
    )
    for service, span in _spans(generated.message):
        assert service == "solo"
        assert any(kv.key == "team" and kv.value.string_value == "blue" for kv in span.attributes)


def test_resource_attributes():
    generator = Generator(random.Random(4), resource_attributes=[("k8s.cluster.name", "c1")])
    message = generator.request(Signal.LOGS, 10, STAMP).message
    for rl in message.resource_logs:
        assert any(kv.key == "k8s.cluster.name" for kv in rl.resource.attributes)


def test_metrics_of_every_type():
    generated = generate(Signal.METRICS, 512, STAMP, seed=5)
    message = generated.message
    assert count_items(Signal.METRICS, message) == 512
    kinds = Counter(
        m.WhichOneof("data")
        for rm in message.resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
    )
    assert set(kinds) == {"gauge", "sum", "histogram", "exponential_histogram", "summary"}
    histogram = next(
        m.histogram
        for rm in message.resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
        if m.WhichOneof("data") == "histogram"
    )
    point = histogram.data_points[0]
    assert len(point.bucket_counts) == len(point.explicit_bounds) + 1
    assert sum(point.bucket_counts) == point.count


def test_logs_have_severity_body_attributes_and_trace_context():
    generated = generate(Signal.LOGS, 300, STAMP, seed=6)
    records = [
        r for rl in generated.message.resource_logs for sl in rl.scope_logs for r in sl.log_records
    ]
    assert len(records) == 300
    for record in records:
        assert record.severity_number > 0 and record.severity_text
        assert record.body.string_value
        assert len(record.attributes) >= 7
        assert record.trace_id[:8] == STAMP.trace_prefix and len(record.span_id) == 8
        assert record.time_unix_nano <= record.observed_time_unix_nano
    assert len({r.severity_text for r in records}) >= 3


@settings(max_examples=25, deadline=None)
@given(signal=st.sampled_from(list(Signal)), items=st.integers(1, 60))
def test_item_counts_are_exact(signal, items):
    generated = generate(signal, items, STAMP, seed=items)
    assert count_items(signal, generated.message) == items == generated.items


def test_same_seed_same_content():
    a = generate(Signal.TRACES, 30, STAMP, seed=9).message.SerializeToString()
    b = generate(Signal.TRACES, 30, STAMP, seed=9).message.SerializeToString()
    assert a == b


def test_bad_arguments():
    with pytest.raises(ValueError, match="service"):
        Generator(random.Random(), services=[])
    with pytest.raises(ValueError, match="at least one item"):
        generate(Signal.LOGS, 0, STAMP)
