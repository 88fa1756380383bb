from __future__ import annotations

import random
import time

import orjson
import pytest

from otlpy.pdata import Signal, count_items, request_type
from otlpy.send.generate import Generated, Generator, Stamp
from otlpy.send.template import make_stamp, make_template


def _generator(seed: int = 1) -> Generator:
    return Generator(random.Random(seed), start_time_ns=time.time_ns() - 10**9)


@pytest.mark.parametrize("signal", list(Signal))
def test_protobuf_render_stamps_fresh_ids_and_times(signal):
    template = make_template(_generator(), signal, 200)
    now = time.time_ns()
    first = request_type(signal).FromString(template.render(b"A" * 8, now))
    second = request_type(signal).FromString(template.render(b"B" * 8, now))
    assert count_items(signal, first) == 200 == template.items
    if signal is Signal.TRACES:
        spans = [s for rs in first.resource_spans for ss in rs.scope_spans for s in ss.spans]
        other = [s for rs in second.resource_spans for ss in rs.scope_spans for s in ss.spans]
        assert all(s.trace_id.startswith(b"A" * 8) for s in spans)
        assert all(s.trace_id.startswith(b"B" * 8) for s in other)
        # the second half still tells traces apart
        assert len({s.trace_id for s in spans}) > 10
        for span in spans:
            assert now - 9 * 10**9 <= span.start_time_unix_nano <= span.end_time_unix_nano <= now
    elif signal is Signal.LOGS:
        records = [r for rl in first.resource_logs for sl in rl.scope_logs for r in sl.log_records]
        for record in records:
            assert record.trace_id.startswith(b"A" * 8)
            assert now - 9 * 10**9 <= record.time_unix_nano <= now
    else:
        points = [
            p
            for rm in first.resource_metrics
            for sm in rm.scope_metrics
            for m in sm.metrics
            for p in getattr(m, m.WhichOneof("data")).data_points
        ]
        for point in points:
            assert now - 9 * 10**9 <= point.time_unix_nano <= now


@pytest.mark.parametrize("signal", list(Signal))
def test_json_render_is_otlp_json(signal):
    template = make_template(_generator(2), signal, 50, encoding="json")
    now = time.time_ns()
    document = orjson.loads(template.render(bytes.fromhex("00112233445566ff"), now))
    text = orjson.dumps(document).decode()
    if signal is Signal.TRACES:
        spans = [
            s for rs in document["resourceSpans"] for ss in rs["scopeSpans"] for s in ss["spans"]
        ]
        assert len(spans) == 50
        for span in spans:
            assert len(span["traceId"]) == 32 and span["traceId"].startswith("00112233445566ff")
            assert len(span["spanId"]) == 16
            assert isinstance(span["kind"], int)
            start, end = int(span["startTimeUnixNano"]), int(span["endTimeUnixNano"])
            assert now - 21 * 10**9 <= start <= end <= now
    elif signal is Signal.LOGS:
        records = [
            r for rl in document["resourceLogs"] for sl in rl["scopeLogs"] for r in sl["logRecords"]
        ]
        assert len(records) == 50
        assert all(r["traceId"].startswith("00112233445566ff") for r in records)
        assert all(isinstance(r["severityNumber"], int) for r in records)
    else:
        assert "resourceMetrics" in document
    assert "~" not in text  # every placeholder was filled


@pytest.mark.parametrize("encoding", ["protobuf", "json"])
def test_sizes_and_slots(encoding):
    template = make_template(_generator(3), Signal.TRACES, 100, encoding=encoding)
    assert template.trace_slots == 100
    assert template.time_slots == 300  # start, end and one event per span
    assert template.size == len(template.render(b"12345678", time.time_ns()))


def test_make_stamp_has_distinct_bytes():
    stamp = make_stamp(random.Random(5))
    assert len(set(stamp.trace_prefix)) == 8
    assert len(set(stamp.time_high.to_bytes(4, "little"))) == 4


class _Miscounting(Generator):
    """Claims more stamped fields than it wrote: the placeholders cannot be trusted."""

    def request(self, signal: Signal, items: int, stamp: Stamp) -> Generated:
        generated = super().request(signal, items, stamp)
        return Generated(
            generated.message, generated.items, generated.trace_fields + 1, generated.time_fields
        )


def test_placeholders_that_do_not_add_up_are_an_error():
    with pytest.raises(ValueError, match="placeholders"):
        make_template(_Miscounting(random.Random(6)), Signal.TRACES, 10)
