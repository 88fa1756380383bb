"""Retention: by age and by size, oldest first, with the catalogs kept consistent."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.metrics.v1.metrics_pb2 import Metric, NumberDataPoint

from otlpy.pdata import Signal
from otlpy.store import RetentionPolicy, Store
from otlpy.store.queries import latest_log_cursor, operations, services
from store_builders import HOUR, NOW, log_request, make_span, metrics_request, trace_request


def _gauge(name: str, at: int) -> Metric:
    metric = Metric(name=name)
    metric.gauge.data_points.append(NumberDataPoint(time_unix_nano=at, as_int=1))
    return metric


def _write_at(store: Store, service: str, at: int, n: int = 1) -> None:
    spans = [make_span(at + i, 1, name=f"{service}-op", start=at + i) for i in range(n)]
    store.write(Signal.TRACES, trace_request(service, spans))
    records = [LogRecord(time_unix_nano=at + i) for i in range(n)]
    store.write(Signal.LOGS, log_request(service, records))
    store.write(Signal.METRICS, metrics_request(service, [_gauge(f"{service}.m", at)]))


def test_retention_by_age(tmp_path: Path) -> None:
    policy = RetentionPolicy(max_age=timedelta(hours=24))
    with Store.open(tmp_path, retention=policy) as store:
        _write_at(store, "old", NOW - 48 * HOUR, 3)
        _write_at(store, "new", NOW - HOUR, 2)
        store.flush()
        assert services(store) == ["new", "old"]
        report = store.enforce_retention(now_ns=NOW)
        assert (report.spans, report.logs, report.metric_points) == (3, 3, 1)
        assert report.bytes_after > 0
        assert store.query("SELECT DISTINCT service_name FROM spans") == [("new",)]
        assert store.query("SELECT DISTINCT service_name FROM logs") == [("new",)]
        assert store.query("SELECT DISTINCT name FROM metric_points") == [("new.m",)]
        # the catalogs and resources follow the data
        assert services(store) == ["new"]
        assert operations(store, "old") == []
        assert store.query("SELECT name FROM metrics") == [("new.m",)]
        assert store.query("SELECT service_name FROM resources") == [("new",)]
        # nothing more to delete
        again = store.enforce_retention(now_ns=NOW)
        assert (again.spans, again.logs, again.metric_points) == (0, 0, 0)
        # a resource deleted as orphan comes back when it sends again
        _write_at(store, "old", NOW, 1)
        store.flush()
        assert services(store) == ["new", "old"]
        assert len(store.query("SELECT * FROM resources")) == 2


def test_retention_disabled_keeps_everything(tmp_path: Path) -> None:
    with Store.open(tmp_path, retention=RetentionPolicy(max_age=None)) as store:
        _write_at(store, "ancient", 1, 2)
        report = store.enforce_retention(now_ns=NOW)
        assert (report.spans, report.logs, report.metric_points) == (0, 0, 0)
        assert store.query("SELECT count(*) FROM spans") == [(2,)]


def test_retention_by_size_deletes_oldest_first(tmp_path: Path) -> None:
    # small blocks: space is freed block by block, and this store is only a few MB
    policy = RetentionPolicy(max_age=None)
    with Store.open(tmp_path, retention=policy, block_size=16384) as store:
        start = NOW - 10 * HOUR
        for hour in range(10):
            _write_at(store, "svc", start + hour * HOUR, 3000)
            store.flush()
        store.enforce_retention(now_ns=NOW)  # checkpoints
        full = store.used_bytes()
        limit = full * 3 // 4
        store.retention = RetentionPolicy(max_age=None, max_bytes=limit)
        report = store.enforce_retention(now_ns=NOW)
        assert report.bytes_before == full
        assert report.bytes_after <= limit
        assert store.used_bytes() <= limit
        assert 0 < report.spans < 30_000
        assert 0 < report.logs < 30_000
        kept = store.query("SELECT min(start_time), max(start_time), count(*) FROM spans")[0]
        # the newest data is kept, and what is kept is a contiguous newest range
        assert kept[1] == start + 9 * HOUR + 2999
        assert kept[2] == 30_000 - report.spans
        older = store.query("SELECT count(*) FROM spans WHERE start_time < ?", [kept[0]])
        assert older == [(0,)]


def test_retention_by_size_can_empty_the_store(tmp_path: Path) -> None:
    with Store.open(tmp_path, retention=RetentionPolicy(max_age=None, max_bytes=1)) as store:
        _write_at(store, "svc", NOW, 100)
        store.flush()
        cursor = latest_log_cursor(store)
        report = store.enforce_retention(now_ns=NOW)
        assert (report.spans, report.logs, report.metric_points) == (100, 100, 1)
        assert store.query("SELECT count(*) FROM spans") == [(0,)]
    # log cursors keep rising across a restart after the logs were all deleted
    with Store.open(tmp_path) as store:
        _write_at(store, "svc", NOW, 1)
        store.flush()
        assert latest_log_cursor(store) > cursor
