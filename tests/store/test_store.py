"""Store lifecycle: opening, unusable directories, writing, flushing, threads, migrations."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import duckdb
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.metrics.v1.metrics_pb2 import Metric, NumberDataPoint

from otlpy.errors import PermanentError, RetryableError
from otlpy.pdata import Batch, Signal
from otlpy.store import (
    DB_FILE,
    SCHEMA_VERSION,
    RetentionPolicy,
    Store,
    StoreError,
    StoreLockedError,
)
from otlpy.store._schema import SchemaVersionError, ensure_schema
from store_builders import (
    NOW,
    attrs,
    log_request,
    make_span,
    metrics_request,
    rich_trace_request,
    trace_request,
)


def count(store: Store, table: str) -> int:
    return int(store.query(f"SELECT count(*) FROM {table}")[0][0])


def test_open_creates_directory_and_database(tmp_path: Path) -> None:
    data = tmp_path / "a" / "b"
    with Store.open(data) as store:
        assert store.path == data.resolve() / DB_FILE
        assert store.path.is_file()
        assert store.retention == RetentionPolicy()
        version = store.query("SELECT value FROM otlpy_meta WHERE key = 'schema_version'")
        assert version == [(str(SCHEMA_VERSION),)]
    assert store.closed


def test_data_survives_close_and_reopen(tmp_path: Path) -> None:
    with Store.open(tmp_path) as store:
        assert store.write(Signal.TRACES, rich_trace_request()) == 3
    # close flushed the queued rows
    with Store.open(tmp_path) as store:
        assert count(store, "spans") == 3
        assert count(store, "resources") == 2


def test_writes_are_invisible_until_flushed(store: Store) -> None:
    store.write(Signal.TRACES, rich_trace_request())
    assert count(store, "spans") == 0
    store.flush()
    assert count(store, "spans") == 3
    store.flush()  # nothing queued: a no-op
    assert count(store, "spans") == 3


def test_write_flushes_when_flush_rows_are_queued(tmp_path: Path) -> None:
    with Store.open(tmp_path, flush_rows=4) as store:
        store.write(Signal.TRACES, rich_trace_request())
        assert count(store, "spans") == 0
        store.write(Signal.TRACES, rich_trace_request())
        assert count(store, "spans") == 6


def test_write_accepts_what_a_batch_decodes(store: Store) -> None:
    batch = Batch.decode(Signal.TRACES, rich_trace_request().SerializeToString())
    assert store.write(Signal.TRACES, batch.message) == batch.items
    store.flush()
    assert count(store, "spans") == batch.items


def test_empty_requests_store_nothing(store: Store) -> None:
    request = ExportTraceServiceRequest()
    request.resource_spans.add().scope_spans.add()
    assert store.write(Signal.TRACES, request) == 0
    assert store.write(Signal.LOGS, log_request("svc", [])) == 0
    assert store.write(Signal.METRICS, metrics_request("svc", [Metric(name="empty")])) == 0
    store.flush()
    # the resource is stored once it is seen, even without data
    assert count(store, "spans") == count(store, "logs") == count(store, "metric_points") == 0


def test_all_signals_are_written_in_one_flush(store: Store) -> None:
    store.write(Signal.TRACES, rich_trace_request())
    store.write(Signal.LOGS, log_request("svc", [LogRecord(time_unix_nano=NOW, body=None)]))
    gauge = Metric(name="g")
    gauge.gauge.data_points.append(NumberDataPoint(time_unix_nano=NOW, as_double=1.0))
    store.write(Signal.METRICS, metrics_request("svc", [gauge]))
    store.flush()
    assert (count(store, "spans"), count(store, "logs"), count(store, "metric_points")) == (3, 1, 1)
    assert store.query("SELECT name FROM metrics") == [("g",)]


def test_resources_are_stored_once(store: Store) -> None:
    for _ in range(3):
        store.write(Signal.TRACES, rich_trace_request())
        store.flush()
    assert count(store, "resources") == 2
    rows = store.query("SELECT service_name, attributes FROM resources ORDER BY 1")
    assert rows == [
        ("db", {"service.name": "db"}),
        ("frontend", {"service.name": "frontend", "host.name": "web-1", "pid": "42"}),
    ]


def test_duplicate_attribute_keys_and_missing_service_name(store: Store) -> None:
    request = trace_request("svc", [make_span(1, 1)], resource={"k": "first"})
    request.resource_spans[0].resource.attributes.extend(attrs({"k": "second"}))
    anonymous = trace_request("x", [make_span(2, 1)])
    del anonymous.resource_spans[0].resource.attributes[:]
    store.write(Signal.TRACES, request)
    store.write(Signal.TRACES, anonymous)
    store.flush()
    rows = store.query("SELECT service_name, attributes['k'] FROM resources ORDER BY 1")
    # the first of duplicate keys wins; no service.name: OpenTelemetry's fallback name
    assert rows == [("svc", "first"), ("unknown_service", None)]


def test_out_of_range_values_are_clamped_not_refused(store: Store) -> None:
    span = make_span(1, 1, kind=77)
    span.start_time_unix_nano = 2**64 - 1
    span.end_time_unix_nano = 5
    span.status.code = 300  # open enums accept any int32
    store.write(Signal.TRACES, trace_request("svc", [span]))
    store.flush()
    row = store.query("SELECT kind, start_time, duration, status_code FROM spans")
    assert row == [(77, 2**63 - 1, 0, 255)]


def test_write_after_close_is_refused(tmp_path: Path) -> None:
    store = Store.open(tmp_path)
    store.close()
    store.close()  # twice is fine
    with pytest.raises(StoreError, match="closed"):
        store.write(Signal.TRACES, rich_trace_request())
    with pytest.raises(StoreError, match="closed"):
        store.flush()
    with pytest.raises(StoreError, match="closed"):
        store.query("SELECT 1")
    with pytest.raises(StoreError, match="closed"):
        store.enforce_retention()
    with pytest.raises(StoreError, match="closed"):
        store.used_bytes()


def test_query_errors_are_store_errors(store: Store) -> None:
    with pytest.raises(StoreError, match="query failed"):
        store.query("SELECT * FROM no_such_table")


def test_open_rejects_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="flush_rows"):
        Store.open(tmp_path, flush_rows=0)
    with pytest.raises(ValueError, match="max_age"):
        RetentionPolicy(max_age=__import__("datetime").timedelta(0))
    with pytest.raises(ValueError, match="max_bytes"):
        RetentionPolicy(max_bytes=0)


def test_duckdb_settings_are_passed(tmp_path: Path) -> None:
    with Store.open(tmp_path, memory_limit="256MB", threads=1) as store:
        assert store.query("SELECT current_setting('threads')") == [(1,)]
        limit = store.query("SELECT current_setting('memory_limit')")[0][0]
        assert limit.startswith("244") or "256" in limit


# -- unusable directories ----------------------------------------------------------------------


def test_directory_that_is_a_file(tmp_path: Path) -> None:
    path = tmp_path / "file"
    path.write_text("x")
    with pytest.raises(StoreError, match="not a directory"):
        Store.open(path)
    with pytest.raises(StoreError, match="cannot create"):
        Store.open(path / "below")


def test_database_path_that_is_a_directory(tmp_path: Path) -> None:
    (tmp_path / DB_FILE).mkdir()
    with pytest.raises(StoreError, match="not a regular file"):
        Store.open(tmp_path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_directory_not_writable(tmp_path: Path) -> None:
    tmp_path.chmod(0o500)
    try:
        with pytest.raises(StoreError, match="not writable"):
            Store.open(tmp_path)
    finally:
        tmp_path.chmod(0o700)


def test_directory_that_cannot_be_created(tmp_path: Path) -> None:
    # /proc refuses new directories even to root
    with pytest.raises(StoreError, match="cannot create data directory") as caught:
        Store.open(Path("/proc/otlpy-store"))
    assert str(caught.value).count("/proc/otlpy-store") == 1, caught.value
    (tmp_path / "file").write_text("x")
    with pytest.raises(StoreError, match="cannot create data directory") as caught:
        Store.open(tmp_path / "file" / "sub")
    assert str(caught.value) == (
        f"cannot create data directory {tmp_path}/file/sub: Not a directory"
    )
    with pytest.raises(StoreError) as caught:
        Store.open(tmp_path / "file")
    assert str(caught.value) == f"data directory {tmp_path}/file is not a directory"


def test_corrupt_database(tmp_path: Path) -> None:
    (tmp_path / DB_FILE).write_bytes(b"this is not a database" * 1000)
    with pytest.raises(StoreError, match="is not a DuckDB database") as caught:
        Store.open(tmp_path)
    assert str(caught.value).count(str(tmp_path)) == 1, caught.value
    # a failed open leaves nothing behind: the directory can be used once repaired
    (tmp_path / DB_FILE).unlink()
    Store.open(tmp_path).close()


def test_already_open_in_this_process(tmp_path: Path) -> None:
    with Store.open(tmp_path), pytest.raises(StoreError, match="already open"):
        Store.open(tmp_path)
    Store.open(tmp_path).close()


def test_locked_by_another_process(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from pathlib import Path; from otlpy.store import Store; "
            "s = Store.open(Path(sys.argv[1])); print('open', flush=True); sys.stdin.read()",
            str(tmp_path),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "open"
        with pytest.raises(StoreLockedError, match="locked by another process") as caught:
            Store.open(tmp_path)
        message = str(caught.value)
        assert message.count(str(tmp_path)) == 1, message
        assert f"(process {holder.pid})" in message
    finally:
        holder.communicate("", timeout=30)
    Store.open(tmp_path).close()


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    Store.open(tmp_path).close()
    con = duckdb.connect(str(tmp_path / DB_FILE))
    con.execute("UPDATE otlpy_meta SET value = '999' WHERE key = 'schema_version'")
    con.close()
    with pytest.raises(StoreError, match="newer than this otlpy supports"):
        Store.open(tmp_path)


def test_migrations_run_in_order(tmp_path: Path) -> None:
    Store.open(tmp_path).close()
    con = duckdb.connect(str(tmp_path / DB_FILE))
    ran = []

    def add_column(c: object) -> None:
        ran.append(SCHEMA_VERSION)
        con.execute("ALTER TABLE spans ADD COLUMN note VARCHAR")

    def fail(c: object) -> None:
        raise RuntimeError("migration failed")

    assert ensure_schema(con, target=SCHEMA_VERSION + 1, migrations={SCHEMA_VERSION: add_column})
    assert ran == [SCHEMA_VERSION]
    assert con.execute("SELECT value FROM otlpy_meta").fetchall() == [(str(SCHEMA_VERSION + 1),)]
    assert "note" in [r[0] for r in con.execute("DESCRIBE spans").fetchall()]
    # a failing migration rolls back
    with pytest.raises(RuntimeError):
        ensure_schema(con, target=SCHEMA_VERSION + 2, migrations={SCHEMA_VERSION + 1: fail})
    assert con.execute("SELECT value FROM otlpy_meta").fetchall() == [(str(SCHEMA_VERSION + 1),)]
    with pytest.raises(SchemaVersionError, match="no migration"):
        ensure_schema(con, target=SCHEMA_VERSION + 3, migrations={})
    con.close()


# -- failures while running --------------------------------------------------------------------


def test_failed_flush_keeps_the_data_queued(tmp_path: Path) -> None:
    store = Store.open(tmp_path)
    store.write(Signal.TRACES, rich_trace_request())
    real = store._con
    store._con = duckdb.connect()  # a database without our tables: every insert fails
    with pytest.raises(RetryableError, match="cannot write"):
        store.flush()
    # a write that would flush keeps its rows queued and says nothing
    store.flush_rows = 1
    assert store.write(Signal.TRACES, rich_trace_request()) == 3
    store._con.close()
    store._con = real
    store.flush()
    assert count(store, "spans") == 6
    assert count(store, "resources") == 2
    store.close()


def test_full_buffer_refuses_writes_while_flushing_fails(tmp_path: Path) -> None:
    store = Store.open(tmp_path, flush_rows=1)
    real = store._con
    store._con = duckdb.connect()
    for _ in range(2):
        store.write(Signal.TRACES, rich_trace_request())
    with pytest.raises(RetryableError):
        store.write(Signal.TRACES, rich_trace_request())
    store._con.close()
    store._con = real
    store.close()
    with Store.open(tmp_path) as reopened:
        assert count(reopened, "spans") == 6


def test_a_request_of_another_signal_is_a_permanent_error(store: Store) -> None:
    with pytest.raises(PermanentError, match="cannot store traces"):
        store.write(Signal.TRACES, log_request("svc", [LogRecord()]))
    store.flush()
    assert count(store, "spans") == 0


# -- threads ---------------------------------------------------------------------------------


def test_readers_run_while_a_writer_writes(store: Store) -> None:
    errors: list[BaseException] = []
    done = threading.Event()

    def read() -> None:
        try:
            while not done.is_set():
                n = count(store, "spans")
                assert n % 3 == 0  # flushes are atomic
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    readers = [threading.Thread(target=read) for _ in range(3)]
    for t in readers:
        t.start()
    for _ in range(30):
        store.write(Signal.TRACES, rich_trace_request())
        store.flush()
    done.set()
    for t in readers:
        t.join()
    assert errors == []
    assert count(store, "spans") == 90
