from __future__ import annotations

import orjson
import pytest

from otlpy.send.stats import LatencyHistogram, Stats, format_json, format_text, summary
from otlpy.send.transport import Outcome


def test_percentiles_within_five_percent():
    histogram = LatencyHistogram()
    for ms in range(1, 101):
        histogram.add(ms / 1000)
    assert histogram.percentile(0.5) == pytest.approx(0.050, rel=0.06)
    assert histogram.percentile(0.99) == pytest.approx(0.099, rel=0.06)
    assert histogram.percentile(1.0) == pytest.approx(0.100)
    assert LatencyHistogram().percentile(0.5) == 0.0


def test_record_and_merge():
    a = Stats()
    a.record(512, 1000, Outcome(), 0.001)
    a.record(512, 1000, Outcome(rejected=12, message="too old"), 0.002)
    a.record(100, 200, Outcome(error="UNAVAILABLE", detail="down"), 0.003)
    a.record(100, 200, Outcome(rejected=900, message="all"), 0.001)  # clamped to the request
    a.elapsed = 2.0
    b = Stats()
    b.record(512, 1000, Outcome(error="UNAVAILABLE", detail="other"), 0.004)
    b.record(512, 1000, Outcome(rejected=1, message="too old"), 0.004)
    b.elapsed = 3.0
    a.merge(b)
    assert a.requests == 6 and a.requests_failed == 2
    assert a.items_sent == 512 * 4 + 200
    assert a.items_failed == 612
    assert a.items_rejected == 12 + 100 + 1
    assert a.items_accepted == a.items_sent - a.items_failed - a.items_rejected
    assert a.errors == {"UNAVAILABLE": 2}
    assert a.error_examples == {"UNAVAILABLE": "down"}
    assert a.partial_messages == {"too old": 2, "all": 1}
    assert a.elapsed == 3.0
    assert a.latency.count == 6


def test_distinct_partial_messages_are_capped():
    stats = Stats()
    for index in range(30):
        stats.record(10, 10, Outcome(rejected=1, message=f"reason {index}"), 0.001)
    assert len(stats.partial_messages) == 10
    assert stats.items_rejected == 30


def test_summary_and_formats():
    stats = Stats()
    stats.record(512, 4096, Outcome(), 0.002)
    stats.record(512, 4096, Outcome(rejected=2, message="bad span"), 0.002)
    stats.record(512, 4096, Outcome(error="HTTP 503", detail="busy"), 0.002)
    stats.elapsed = 0.5
    document = summary(stats, signal="traces", item_name="spans", protocol="grpc", endpoint="h:1")
    assert document["items_accepted"] == 1022
    assert document["accepted_per_s"] == 2044.0
    assert document["errors"] == {"HTTP 503": 1}
    assert orjson.loads(format_json(document)) == document
    text = format_text(document)
    assert "1,022 spans" in text
    assert "HTTP 503: 1 request (busy)" in text
    assert "bad span: 1 request" in text
    assert "12.0 KiB" in text


def test_empty_summary():
    document = summary(
        Stats(), signal="logs", item_name="log_records", protocol="grpc", endpoint="h"
    )
    assert document["sent_per_s"] == 0.0
    assert "latency" not in format_text(document)


def test_round_trip_through_plain_data():
    stats = Stats()
    stats.record(512, 4096, Outcome(), 0.002)
    stats.record(512, 4096, Outcome(rejected=2, message="bad span"), 0.003)
    stats.record(512, 4096, Outcome(error="HTTP 503", detail="busy"), 0.2)
    stats.elapsed = 1.5
    copy = Stats.from_dict(
        orjson.loads(orjson.dumps(stats.to_dict(), option=orjson.OPT_NON_STR_KEYS))
    )
    assert copy.to_dict()["requests"] == 3
    assert copy.errors == stats.errors
    assert copy.partial_messages == stats.partial_messages
    assert copy.latency.count == 3
    assert copy.latency.percentile(0.99) == stats.latency.percentile(0.99)
