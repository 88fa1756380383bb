"""Log queries against a real store: every field read back, search, trace logs, live tail."""

from __future__ import annotations

import pytest
from google.protobuf.json_format import MessageToDict
from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource

from otlpy.pdata import Signal
from otlpy.store import Store
from otlpy.store.queries import (
    LogQuery,
    latest_log_cursor,
    logs_after,
    search_logs,
    trace_logs,
)
from store_builders import HOUR, NOW, SECOND, attrs, log_request, sid, tid, value


def _record(i: int, **fields: object) -> LogRecord:
    record = LogRecord(
        time_unix_nano=NOW - HOUR + i * SECOND,
        observed_time_unix_nano=NOW - HOUR + i * SECOND + 1,
        severity_number=[5, 9, 13, 17][i % 4],
        severity_text=["DEBUG", "INFO", "WARN", "ERROR"][i % 4],
        body=value(f"message {i} {'Disk full' if i % 5 == 0 else 'ok'}"),
        attributes=attrs({"i": i, "parity": "even" if i % 2 == 0 else "odd"}),
    )
    for key, item in fields.items():
        if key == "body":
            record.body.CopyFrom(item)
        else:
            setattr(record, key, item)
    return record


def test_every_field_is_read_back(store: Store) -> None:
    record = _record(
        1,
        trace_id=tid(7),
        span_id=sid(8),
        flags=1,
        event_name="app.started",
        dropped_attributes_count=2,
    )
    structured = _record(2, body=value({"msg": "hi", "n": [1, 2]}))
    untimed = _record(3, time_unix_nano=0)
    bodiless = LogRecord(time_unix_nano=NOW)
    request = log_request("svc", [record, structured, untimed, bodiless], resource={"r": 1})
    store.write(Signal.LOGS, request)
    store.flush()
    found = {r["time_unix_nano"]: r for r in search_logs(store, LogQuery())}
    got = found[record.time_unix_nano]
    assert got["observed_time_unix_nano"] == record.observed_time_unix_nano
    assert got["timestamp"] == record.time_unix_nano
    assert got["severity_number"] == 9
    assert got["severity_text"] == "INFO"
    assert got["body"] == {"stringValue": "message 1 ok"}
    assert got["body_text"] == "message 1 ok"
    assert got["attributes"] == MessageToDict(record)["attributes"]
    assert got["dropped_attributes_count"] == 2
    assert got["trace_id"] == tid(7).hex()
    assert got["span_id"] == sid(8).hex()
    assert got["flags"] == 1
    assert got["event_name"] == "app.started"
    assert got["service_name"] == "svc"
    assert (
        got["resource"]["attributes"]
        == MessageToDict(request.resource_logs[0].resource)["attributes"]
    )
    assert got["scope"] == {"name": "logger", "version": "2"}
    assert got["seq"] > 0
    body = found[structured.time_unix_nano]
    assert body["body"] == MessageToDict(structured)["body"]
    assert body["body_text"] == '{"msg":"hi","n":[1,2]}'
    # no time: the observed time orders it
    assert found[0]["timestamp"] == untimed.observed_time_unix_nano
    assert found[NOW]["body"] is None
    assert found[NOW]["body_text"] == ""
    assert found[NOW]["trace_id"] == ""


def test_sdk_encoded_logs_round_trip(store: Store) -> None:
    exporter = InMemoryLogRecordExporter()
    provider = LoggerProvider(resource=Resource.create({"service.name": "py-app"}))
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    provider.get_logger("my.logger", "1.2").emit(
        timestamp=NOW,
        severity_number=SeverityNumber.WARN,
        severity_text="WARN",
        body="disk /var is full",
        attributes={"disk": "/var", "free": 0},
        event_name="disk.full",
    )
    request = encode_logs(exporter.get_finished_logs())
    store.write(Signal.LOGS, request)
    store.flush()
    (got,) = search_logs(store, LogQuery(service="py-app"))
    (sent,) = request.resource_logs[0].scope_logs[0].log_records
    assert got["body_text"] == "disk /var is full"
    assert got["severity_number"] == sent.severity_number == 13
    assert got["attributes"] == MessageToDict(sent)["attributes"]
    assert got["time_unix_nano"] == sent.time_unix_nano == NOW
    assert got["event_name"] == "disk.full"
    assert got["scope"] == {"name": "my.logger", "version": "1.2"}


@pytest.fixture
def logs(store: Store) -> Store:
    """Twenty records a second apart in two services; record 12 belongs to trace 5."""
    web = [_record(i) for i in range(0, 20, 2)]
    api = [_record(i) for i in range(1, 20, 2)]
    api[6].trace_id = tid(5)  # record 13
    web[6].trace_id = tid(5)  # record 12
    store.write(Signal.LOGS, log_request("web", web, resource={"zone": "a"}))
    store.write(Signal.LOGS, log_request("api", api, resource={"zone": "b"}))
    store.flush()
    return store


def _numbers(store: Store, **query: object) -> list[int]:
    found = search_logs(store, LogQuery(**query))  # type: ignore[arg-type]
    return [int(r["body_text"].split()[1]) for r in found]


def test_search_logs(logs: Store) -> None:
    assert _numbers(logs, limit=3) == [19, 18, 17]  # newest first
    assert _numbers(logs, service="web", limit=3) == [18, 16, 14]
    assert _numbers(logs, min_severity=17) == [19, 15, 11, 7, 3]
    assert _numbers(logs, text="DISK FULL") == [15, 10, 5, 0]  # ignoring case
    assert _numbers(logs, text="disk", service="api") == [15, 5]
    assert _numbers(logs, attributes={"parity": "odd"}, limit=2) == [19, 17]
    assert _numbers(logs, attributes={"i": "4"}) == [4]
    assert _numbers(logs, attributes={"zone": "b"}, limit=2) == [19, 17]  # resource
    assert _numbers(logs, attributes={"zone": "b", "parity": "even"}) == []
    first = NOW - HOUR
    assert _numbers(logs, start=first + 17 * SECOND) == [19, 18, 17]
    assert _numbers(logs, end=first + 1 * SECOND) == [1, 0]
    assert _numbers(logs, trace_id=tid(5)) == [13, 12]
    assert _numbers(logs, trace_id="5") == [13, 12]


def test_trace_logs_oldest_first(logs: Store) -> None:
    assert [r["body_text"] for r in trace_logs(logs, "5")] == ["message 12 ok", "message 13 ok"]
    assert trace_logs(logs, "6") == []


def test_log_query_validation() -> None:
    with pytest.raises(ValueError, match="limit"):
        LogQuery(limit=0)


def test_live_tail(store: Store) -> None:
    assert logs_after(store, None) == {"logs": [], "cursor": 0}
    assert latest_log_cursor(store) == 0
    store.write(Signal.LOGS, log_request("svc", [_record(i) for i in range(5)]))
    store.flush()
    page = logs_after(store, None, LogQuery(limit=3))
    # the newest three, oldest first
    assert [r["body_text"].split()[1] for r in page["logs"]] == ["2", "3", "4"]
    cursor = page["cursor"]
    assert cursor == latest_log_cursor(store)
    assert logs_after(store, cursor) == {"logs": [], "cursor": cursor}
    # records arrive out of time order: the tail follows arrival
    store.write(Signal.LOGS, log_request("svc", [_record(9), _record(7)]))
    store.write(Signal.LOGS, log_request("other", [_record(8)]))
    store.flush()
    page = logs_after(store, cursor, LogQuery(limit=2))
    assert [r["body_text"].split()[1] for r in page["logs"]] == ["9", "7"]
    page = logs_after(store, page["cursor"])
    assert [r["body_text"].split()[1] for r in page["logs"]] == ["8"]
    # a filtered tail skips what does not match
    filtered = logs_after(store, cursor, LogQuery(service="other"))
    assert [r["service_name"] for r in filtered["logs"]] == ["other"]
    assert filtered["cursor"] == page["cursor"]
