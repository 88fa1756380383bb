"""The embedded telemetry store: one DuckDB database file in a data directory.

Writes are buffered as Arrow tables and inserted in bulk by :meth:`Store.flush` (or when the
buffer fills), in one transaction: DuckDB's write-ahead log makes a flushed batch durable, so
a crash loses at most what was written since the last flush. One writer connection is shared
under a lock; every reading thread gets its own cursor, so queries run while writes happen.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from otlpy.errors import OtlpyError, PermanentError, RetryableError
from otlpy.pdata import Signal
from otlpy.store._columns import ResourceRegistry, logs_table, metrics_table, spans_table
from otlpy.store._schema import SchemaVersionError, ensure_schema

__all__ = [
    "DB_FILE",
    "RetentionPolicy",
    "RetentionReport",
    "Store",
    "StoreError",
    "StoreLockedError",
]

log = logging.getLogger("otlpy.store")

DB_FILE = "otlpy.duckdb"

Connection = Any
Request = Any


class StoreError(OtlpyError):
    """The store cannot be used: its directory is unusable, or it is closed."""


class StoreLockedError(StoreError):
    """Another process has the store open (DuckDB lets one process at a time use a file)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class RetentionPolicy:
    """How much telemetry the store keeps; ``None`` switches a limit off.

    ``max_age``: data older than this is deleted. ``max_bytes``: when the data in the
    database (its used blocks plus the write-ahead log) grows past this, the oldest data is
    deleted until it is about 10% below. Freed space is reused by new data, so the file itself
    stays near ``max_bytes``, though it can briefly exceed it while DuckDB rewrites.
    """

    max_age: timedelta | None = timedelta(days=7)
    max_bytes: int | None = None

    def __post_init__(self) -> None:
        if self.max_age is not None and self.max_age <= timedelta(0):
            raise ValueError("max_age must be positive")
        if self.max_bytes is not None and self.max_bytes <= 0:
            raise ValueError("max_bytes must be positive")


@dataclass(frozen=True, slots=True)
class RetentionReport:
    """What one :meth:`Store.enforce_retention` run deleted."""

    spans: int
    logs: int
    metric_points: int
    bytes_before: int
    bytes_after: int


# Stores open in this process: DuckDB's file lock only keeps other processes out.
_OPEN: set[Path] = set()
_OPEN_LOCK = threading.Lock()

_BATCH = "SELECT * FROM _otlpy_batch"
# Tables up to this many rows are rewritten to reclaim deleted rows (see _compact_small_tables).
_COMPACT_ROWS = 2 * 122_880

_TIME_COLUMNS = {"spans": "start_time", "logs": "timestamp", "metric_points": "time"}


def _prepare_directory(data_dir: Path) -> Path:
    if data_dir.exists() and not data_dir.is_dir():
        raise StoreError(f"data directory {data_dir} is not a directory")
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        # strerror alone: str(exc) names the path a second time
        raise StoreError(f"cannot create data directory {data_dir}: {exc.strerror or exc}") from exc
    if not os.access(data_dir, os.W_OK | os.X_OK):
        raise StoreError(f"data directory {data_dir} is not writable")
    path = data_dir.resolve() / DB_FILE
    if path.exists() and not path.is_file():
        raise StoreError(f"{path} is not a regular file")
    return path


def _quiet(con: Connection) -> Connection:
    # DuckDB draws a progress bar on stdout for long statements; a collector must not
    con.execute("SET enable_progress_bar = false")
    return con


_LOCK_HOLDER = re.compile(r"\(PID (\d+)\)")


def _duckdb_reason(exc: duckdb.Error, path: Path) -> str:
    """DuckDB's message without its class prefix and without the path, which ours names."""
    text = str(exc).split("See also", 1)[0].strip()
    text = re.sub(r"^[A-Za-z ]*Error: ", "", text)
    return text.replace(f'"{path}"', "").replace(str(path), "").replace("  ", " ")


def _connect(path: Path, config: dict[str, Any]) -> Connection:
    try:
        return _quiet(duckdb.connect(str(path), config=config))
    except duckdb.Error as exc:
        text = str(exc)
        if isinstance(exc, duckdb.IOException) and "lock" in text.lower():
            holder = _LOCK_HOLDER.search(text)
            pid = f" (process {holder.group(1)})" if holder else ""
            raise StoreLockedError(
                f"store {path} is locked by another process{pid}: another otlpy using the "
                "same data directory?"
            ) from exc
        if "not a valid DuckDB database" in text:
            raise StoreError(
                f"{path} is not a DuckDB database (corrupt, or not an otlpy store?)"
            ) from exc
        raise StoreError(
            f"cannot open store {path} (corrupt or unreadable?): {_duckdb_reason(exc, path)}"
        ) from exc


class Store:
    """Spans, logs and metric points in a DuckDB database under ``data_dir``.

    Example::

        store = Store.open(Path("data"), retention=RetentionPolicy(max_age=timedelta(days=2)))
        store.write(Signal.TRACES, batch.message)
        store.flush()
        services = otlpy.store.queries.services(store)
        store.close()

    Every method is thread-safe; all of them block, so call them off the event loop.
    """

    def __init__(
        self,
        path: Path,
        con: Connection,
        *,
        retention: RetentionPolicy,
        flush_rows: int,
    ) -> None:
        self.path = path
        self.retention = retention
        self.flush_rows = flush_rows
        self._con = con
        self._lock = threading.Lock()
        self._local = threading.local()
        self._cursors: list[Connection] = []
        self._resources = ResourceRegistry()
        self._pending: dict[Signal, list[Any]] = {s: [] for s in Signal}
        self._pending_rows = 0
        self._closed = False
        # after retention emptied the logs table, the cursor high-water mark is in otlpy_meta
        row = con.execute(
            "SELECT greatest((SELECT coalesce(max(seq), 0) FROM logs), (SELECT coalesce(max("
            "value::BIGINT), 0) FROM otlpy_meta WHERE key = 'log_seq'))"
        ).fetchone()
        self._next_seq = int(row[0]) + 1

    @classmethod
    def open(
        cls,
        data_dir: Path,
        *,
        retention: RetentionPolicy | None = None,
        flush_rows: int = 65_536,
        memory_limit: str | None = None,
        threads: int | None = None,
        block_size: int | None = None,
    ) -> Store:
        """Open (creating if needed) the store in ``data_dir``.

        ``flush_rows``: buffered rows that trigger a flush from :meth:`write`.
        ``memory_limit`` (e.g. ``"512MB"``) and ``threads`` are passed to DuckDB.
        ``block_size`` (bytes, a power of two from 16 KiB to 256 KiB, the default) applies to
        a new database: space is allocated and freed in blocks, so small blocks let a small
        ``max_bytes`` be kept more exactly.
        Raises :class:`StoreError` when the directory is not usable: not a directory, not
        writable, locked by another process, or holding a corrupt database.
        """
        if flush_rows <= 0:
            raise ValueError("flush_rows must be positive")
        path = _prepare_directory(Path(data_dir))
        with _OPEN_LOCK:
            if path in _OPEN:
                raise StoreLockedError(f"store {path} is already open in this process")
            _OPEN.add(path)
        try:
            config: dict[str, Any] = {}
            if memory_limit is not None:
                config["memory_limit"] = memory_limit
            if threads is not None:
                config["threads"] = threads
            if block_size is not None:
                config["default_block_size"] = str(block_size)
            con = _connect(path, config)
            try:
                ensure_schema(con)
                return cls(
                    path,
                    con,
                    retention=RetentionPolicy() if retention is None else retention,
                    flush_rows=flush_rows,
                )
            except (SchemaVersionError, duckdb.Error) as exc:
                con.close()
                raise StoreError(f"cannot use store {path}: {exc}") from exc
        except BaseException:
            with _OPEN_LOCK:
                _OPEN.discard(path)
            raise

    # -- writing ---------------------------------------------------------------------------

    def write(self, signal: Signal, message: Request, *, raw: bytes | None = None) -> int:
        """Queue the telemetry in ``message`` (an ``Export*ServiceRequest``); return the count.

        ``raw``: the serialized bytes ``message`` was decoded from, when at hand (a
        :class:`~otlpy.pdata.Batch`'s ``raw`` when ``has_raw``); spans and log records are then
        sliced out of it rather than serialized again. It must be ``message``'s bytes.

        The data becomes visible to queries, and durable, at the next :meth:`flush` (which
        happens here when ``flush_rows`` rows are queued). Raises :class:`PermanentError`
        for data that cannot be stored, :class:`RetryableError` when the buffer is full
        because flushing fails, :class:`StoreError` when the store is closed.
        """
        with self._lock:
            self._check_open()
            if self._pending_rows >= 4 * self.flush_rows:
                # flushing keeps failing: refuse more rather than grow without bound
                self._flush_locked()
            try:
                if signal is Signal.TRACES:
                    table = spans_table(message, self._resources, raw)
                elif signal is Signal.LOGS:
                    table = logs_table(message, self._resources, raw)
                else:
                    table = metrics_table(message, self._resources)
            except (pa.ArrowException, AttributeError, OverflowError, ValueError, TypeError) as exc:
                raise PermanentError(f"cannot store {signal} data: {exc}") from exc
            if table is None:
                return 0
            rows = int(table.num_rows)
            if signal is Signal.LOGS:
                seq = pa.array(range(self._next_seq, self._next_seq + rows), pa.int64())
                table = table.add_column(0, "seq", seq)
                self._next_seq += rows
            self._pending[signal].append(table)
            self._pending_rows += rows
            if self._pending_rows >= self.flush_rows:
                try:
                    self._flush_locked()
                except RetryableError as exc:
                    # the rows stay queued; the next flush tries again
                    log.warning("store flush failed, will retry: %s", exc)
            return rows

    def flush(self) -> None:
        """Insert everything queued, in one transaction; durable once this returns.

        Raises :class:`RetryableError` when the database refuses the write (the data stays
        queued for the next flush).
        """
        with self._lock:
            self._check_open()
            self._flush_locked()

    def _flush_locked(self) -> None:
        if not self._pending_rows and not self._resources.has_pending():
            return
        resources = self._resources.take_pending()
        con = self._con
        try:
            con.execute("BEGIN TRANSACTION")
            if resources is not None:
                self._insert(con, resources, f"INSERT OR IGNORE INTO resources BY NAME {_BATCH}")
            spans = self._pending[Signal.TRACES]
            if spans:
                self._insert(
                    con,
                    pa.concat_tables(spans),
                    f"INSERT INTO spans BY NAME {_BATCH}",
                    "INSERT OR IGNORE INTO operations "
                    "SELECT DISTINCT service_name, name, kind FROM _otlpy_batch",
                )
            logs = self._pending[Signal.LOGS]
            if logs:
                self._insert(con, pa.concat_tables(logs), f"INSERT INTO logs BY NAME {_BATCH}")
            points = self._pending[Signal.METRICS]
            if points:
                table = pa.concat_tables(points)
                self._insert(
                    con,
                    table,
                    "INSERT INTO metric_points BY NAME "
                    "SELECT * EXCLUDE (description) FROM _otlpy_batch",
                    "INSERT OR IGNORE INTO metrics SELECT name, type, unit, "
                    "any_value(description), temporality, monotonic FROM _otlpy_batch "
                    "GROUP BY name, type, unit, temporality, monotonic",
                )
            con.execute("COMMIT")
        except duckdb.Error as exc:
            with contextlib.suppress(duckdb.Error):
                con.execute("ROLLBACK")
            if resources is not None:
                self._resources.requeue(resources)
            raise RetryableError(f"cannot write to store {self.path}: {exc}") from exc
        for tables in self._pending.values():
            tables.clear()
        self._pending_rows = 0

    @staticmethod
    def _insert(con: Connection, table: Any, *statements: str) -> None:
        """Run ``statements`` with ``table`` visible as ``_otlpy_batch``."""
        con.register("_otlpy_batch", table)
        try:
            for statement in statements:
                con.execute(statement)
        finally:
            con.unregister("_otlpy_batch")

    # -- reading ---------------------------------------------------------------------------

    def _reader(self) -> Connection:
        cursor = getattr(self._local, "cursor", None)
        if cursor is None:
            with self._lock:
                self._check_open()
                cursor = _quiet(self._con.cursor())
                self._cursors.append(cursor)
            self._local.cursor = cursor
        return cursor

    def query(self, sql: str, params: Any = ()) -> list[tuple[Any, ...]]:
        """Run a read-only SQL query on this thread's cursor; return all rows.

        Sees the data flushed so far. Raises :class:`StoreError` when the store is closed or
        the query fails.
        """
        if self._closed:
            raise StoreError(f"store {self.path} is closed")
        try:
            rows: list[tuple[Any, ...]] = self._reader().execute(sql, params).fetchall()
        except duckdb.Error as exc:
            raise StoreError(f"store query failed: {exc}") from exc
        return rows

    # -- housekeeping ----------------------------------------------------------------------

    def used_bytes(self) -> int:
        """Bytes of data in the database: its used blocks plus the write-ahead log."""
        size, wal = self._sizes()
        return size + wal

    def _sizes(self) -> tuple[int, int]:
        with self._lock:
            self._check_open()
            return self._sizes_locked()

    def _sizes_locked(self) -> tuple[int, int]:
        row = self._con.execute("SELECT block_size, used_blocks FROM pragma_database_size()")
        block_size, used_blocks = row.fetchone()
        wal = Path(f"{self.path}.wal")
        wal_size = wal.stat().st_size if wal.exists() else 0
        return int(block_size) * int(used_blocks), wal_size

    def enforce_retention(self, now_ns: int | None = None) -> RetentionReport:
        """Delete what the retention policy no longer keeps, oldest first.

        Call it periodically (every minute or so). ``now_ns`` overrides the clock (unix
        nanoseconds). Raises :class:`RetryableError` when the database refuses the deletes.
        """
        now = time.time_ns() if now_ns is None else now_ns
        with self._lock:
            self._check_open()
            try:
                return self._enforce_locked(now)
            except duckdb.Error as exc:
                with contextlib.suppress(duckdb.Error):
                    self._con.execute("ROLLBACK")
                raise RetryableError(f"cannot enforce retention on {self.path}: {exc}") from exc

    def _enforce_locked(self, now: int) -> RetentionReport:
        self._flush_locked()
        con = self._con
        deleted = dict.fromkeys(_TIME_COLUMNS, 0)
        policy = self.retention
        if policy.max_age is not None:
            cutoff = now - int(policy.max_age.total_seconds() * 1e9)
            for table, column in _TIME_COLUMNS.items():
                sql = f"DELETE FROM {table} WHERE {column} < ?"  # noqa: S608
                row = con.execute(sql, [cutoff]).fetchone()
                deleted[table] += int(row[0])
        self._checkpoint()
        before = sum(self._sizes_locked())
        after = before
        if policy.max_bytes is not None:
            target = int(policy.max_bytes * 0.9)
            # Deleting a fraction of the rows frees about that fraction of the blocks once
            # checkpointed; a few rounds absorb the estimate's error. A round that frees
            # nothing stops the loop rather than deleting ever more.
            for _ in range(5):
                if after <= policy.max_bytes:
                    break
                fraction = min(1.0, 1.0 - target / after)
                removed = self._delete_oldest(fraction)
                for table, count in removed.items():
                    deleted[table] += count
                self._compact_small_tables()
                self._checkpoint()
                previous, after = after, sum(self._sizes_locked())
                if not removed or after >= previous:
                    break
        if any(deleted.values()):
            self._drop_orphans()
            self._checkpoint()
            after = sum(self._sizes_locked())
        return RetentionReport(
            spans=deleted["spans"],
            logs=deleted["logs"],
            metric_points=deleted["metric_points"],
            bytes_before=before,
            bytes_after=after,
        )

    def _delete_oldest(self, fraction: float) -> dict[str, int]:
        con = self._con
        removed = {}
        for table, column in _TIME_COLUMNS.items():
            if fraction >= 1.0:
                row = con.execute(f"DELETE FROM {table}").fetchone()  # noqa: S608
            else:
                sql = f"SELECT quantile_disc({column}, ?) FROM {table}"  # noqa: S608
                cutoff = con.execute(sql, [fraction]).fetchone()[0]
                if cutoff is None:
                    continue
                sql = f"DELETE FROM {table} WHERE {column} <= ?"  # noqa: S608
                row = con.execute(sql, [cutoff]).fetchone()
            if row[0]:
                removed[table] = int(row[0])
        return removed

    def _compact_small_tables(self) -> None:
        """Rewrite small tables that hold many deleted rows.

        DuckDB frees the space of deleted rows when a checkpoint can merge row groups; a
        table in a single row group (up to 122,880 rows) keeps it until rewritten.
        """
        con = self._con
        for table in _TIME_COLUMNS:
            physical, live = con.execute(
                "SELECT estimated_size, (SELECT count(*) FROM " + table + ") "  # noqa: S608
                "FROM duckdb_tables() WHERE table_name = ?",
                [table],
            ).fetchone()
            if live < physical <= _COMPACT_ROWS:
                con.execute("BEGIN TRANSACTION")
                con.execute(f"CREATE TEMP TABLE _otlpy_keep AS SELECT * FROM {table}")  # noqa: S608
                con.execute(f"DELETE FROM {table}")  # noqa: S608
                con.execute(f"INSERT INTO {table} SELECT * FROM _otlpy_keep")  # noqa: S608
                con.execute("DROP TABLE _otlpy_keep")
                con.execute("COMMIT")

    def _drop_orphans(self) -> None:
        con = self._con
        con.execute("BEGIN TRANSACTION")
        con.execute(
            "DELETE FROM resources WHERE resource_id NOT IN ("
            "SELECT resource_id FROM spans UNION SELECT resource_id FROM logs "
            "UNION SELECT resource_id FROM metric_points)"
        )
        con.execute(
            "DELETE FROM operations WHERE (service_name, name, kind) NOT IN ("
            "SELECT DISTINCT service_name, name, kind FROM spans)"
        )
        con.execute(
            "DELETE FROM metrics WHERE (name, type, unit, temporality, monotonic) NOT IN ("
            "SELECT DISTINCT name, type, unit, temporality, monotonic FROM metric_points)"
        )
        con.execute(
            "INSERT OR REPLACE INTO otlpy_meta VALUES ('log_seq', ?)", [str(self._next_seq - 1)]
        )
        con.execute("COMMIT")
        self._resources.forget()

    def _checkpoint(self) -> None:
        try:
            self._con.execute("CHECKPOINT")
        except duckdb.TransactionException:
            # a reader is mid-query; DuckDB checkpoints on its own later
            log.debug("store checkpoint postponed: queries running")

    # -- lifecycle -------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(f"store {self.path} is closed")

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
        return self._closed

    def close(self) -> None:
        """Flush what is queued and close the database. Safe to call twice."""
        with self._lock:
            if self._closed:
                return
            try:
                self._flush_locked()
            finally:
                self._closed = True
                for cursor in self._cursors:
                    with contextlib.suppress(duckdb.Error):
                        cursor.close()
                self._cursors.clear()
                try:
                    self._con.close()
                finally:
                    with _OPEN_LOCK:
                        _OPEN.discard(self.path)

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
