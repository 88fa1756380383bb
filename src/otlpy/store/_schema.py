"""The store's tables, their version, and the migrations between versions.

Layout, and why:

- ``spans`` and ``logs`` keep the columns queries filter, group and sort on (ids, names,
  times, status, severity, service, scope) and the whole record as serialized protobuf in
  ``proto``. Attributes, events, links and dropped counts are read back from ``proto``.
  Walking every attribute of every span in Python to build a ``MAP`` costs about 2 us per
  attribute (25 us per span with ten attributes, measured): four times the ingest budget.
  Serializing the span is one call (about 1.6 us). Attribute equality search looks for the
  exact bytes of the wanted ``KeyValue`` in ``proto`` (see ``_anyvalue.attribute_patterns``).
  ``proto`` is a VARCHAR holding one code point per byte (latin-1 decoded) rather than a BLOB:
  DuckDB searches a VARCHAR directly, where a BLOB must first be cast to its escaped text
  form, which made attribute search four to five times slower (measured). It is compressed
  with zstd rather than DuckDB's default analysis (dictionary + FSST), which took 40% less
  CPU per inserted span and half the space (measured).
- ``resources`` holds each distinct resource once, with its attributes as a
  ``MAP(VARCHAR, VARCHAR)`` of stringified values (for search) and as typed OTLP JSON (for
  display). Rows point at it by ``resource_id``, a hash of the serialized resource.
- ``metric_points`` is one wide table for the five metric types; the columns a type does not
  use stay NULL, which DuckDB stores almost for free. Points have few attributes, so they are
  walked into a ``MAP`` for grouping and filtering.
- ``operations`` and ``metrics`` are small catalogs kept up to date on write, so that the
  service, operation and metric lists never scan the big tables.

Times are unix nanoseconds in BIGINT columns. ``SCHEMA_VERSION`` is stored in
``otlpy_meta``; opening a store created by an older version runs the migrations in
``MIGRATIONS`` one version at a time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = [
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "SchemaVersionError",
    "create_schema",
    "ensure_schema",
]

SCHEMA_VERSION = 1

# The DuckDB Python API has no type information; ``Any`` is the honest annotation.
Connection = Any

_TABLES = (
    """
    CREATE TABLE otlpy_meta (
        key VARCHAR PRIMARY KEY,
        value VARCHAR NOT NULL
    )
    """,
    """
    CREATE TABLE resources (
        resource_id UBIGINT PRIMARY KEY,
        service_name VARCHAR NOT NULL,
        attributes MAP(VARCHAR, VARCHAR) NOT NULL,
        attributes_json VARCHAR NOT NULL,
        dropped_attributes_count UINTEGER NOT NULL,
        schema_url VARCHAR NOT NULL
    )
    """,
    """
    CREATE TABLE spans (
        trace_id BLOB NOT NULL,
        span_id BLOB NOT NULL,
        parent_span_id BLOB NOT NULL,
        trace_state VARCHAR NOT NULL,
        name VARCHAR NOT NULL,
        kind UTINYINT NOT NULL,
        start_time BIGINT NOT NULL,
        end_time BIGINT NOT NULL,
        duration BIGINT NOT NULL,
        status_code UTINYINT NOT NULL,
        status_message VARCHAR NOT NULL,
        flags UINTEGER NOT NULL,
        service_name VARCHAR NOT NULL,
        resource_id UBIGINT NOT NULL,
        scope_name VARCHAR NOT NULL,
        scope_version VARCHAR NOT NULL,
        proto VARCHAR NOT NULL USING COMPRESSION zstd
    )
    """,
    "CREATE INDEX spans_trace_id ON spans (trace_id)",
    """
    CREATE TABLE operations (
        service_name VARCHAR NOT NULL,
        name VARCHAR NOT NULL,
        kind UTINYINT NOT NULL,
        PRIMARY KEY (service_name, name, kind)
    )
    """,
    """
    CREATE TABLE logs (
        seq BIGINT NOT NULL,
        timestamp BIGINT NOT NULL,
        time_unix_nano BIGINT NOT NULL,
        observed_time_unix_nano BIGINT NOT NULL,
        severity_number UTINYINT NOT NULL,
        severity_text VARCHAR NOT NULL,
        body VARCHAR NOT NULL,
        trace_id BLOB NOT NULL,
        span_id BLOB NOT NULL,
        flags UINTEGER NOT NULL,
        event_name VARCHAR NOT NULL,
        service_name VARCHAR NOT NULL,
        resource_id UBIGINT NOT NULL,
        scope_name VARCHAR NOT NULL,
        scope_version VARCHAR NOT NULL,
        proto VARCHAR NOT NULL USING COMPRESSION zstd
    )
    """,
    """
    CREATE TABLE metrics (
        name VARCHAR NOT NULL,
        type UTINYINT NOT NULL,
        unit VARCHAR NOT NULL,
        description VARCHAR NOT NULL,
        temporality UTINYINT NOT NULL,
        monotonic BOOLEAN NOT NULL,
        PRIMARY KEY (name, type, unit, temporality, monotonic)
    )
    """,
    """
    CREATE TABLE metric_points (
        name VARCHAR NOT NULL,
        type UTINYINT NOT NULL,
        unit VARCHAR NOT NULL,
        temporality UTINYINT NOT NULL,
        monotonic BOOLEAN NOT NULL,
        service_name VARCHAR NOT NULL,
        resource_id UBIGINT NOT NULL,
        scope_name VARCHAR NOT NULL,
        scope_version VARCHAR NOT NULL,
        attributes MAP(VARCHAR, VARCHAR) NOT NULL,
        attributes_json VARCHAR NOT NULL,
        start_time BIGINT NOT NULL,
        time BIGINT NOT NULL,
        flags UINTEGER NOT NULL,
        value DOUBLE,
        int_value BIGINT,
        count UBIGINT,
        sum DOUBLE,
        min DOUBLE,
        max DOUBLE,
        bounds DOUBLE[],
        bucket_counts UBIGINT[],
        scale INTEGER,
        zero_count UBIGINT,
        zero_threshold DOUBLE,
        positive_offset INTEGER,
        positive_counts UBIGINT[],
        negative_offset INTEGER,
        negative_counts UBIGINT[],
        quantiles STRUCT(quantile DOUBLE, value DOUBLE)[],
        exemplars VARCHAR
    )
    """,
)

# MIGRATIONS[n] upgrades a store at version n to version n + 1.
MIGRATIONS: dict[int, Callable[[Connection], None]] = {}


class SchemaVersionError(Exception):
    """The database was written by a newer otlpy, or a migration is missing."""


def create_schema(con: Connection) -> None:
    """Create every table of the current version in an empty database."""
    for statement in _TABLES:
        con.execute(statement)
    con.execute(
        "INSERT INTO otlpy_meta VALUES ('schema_version', ?)",
        [str(SCHEMA_VERSION)],
    )


def _stored_version(con: Connection) -> int | None:
    found = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'otlpy_meta'"
    ).fetchone()
    if not found[0]:
        return None
    row = con.execute("SELECT value FROM otlpy_meta WHERE key = 'schema_version'").fetchone()
    return None if row is None else int(row[0])


def ensure_schema(
    con: Connection,
    *,
    target: int = SCHEMA_VERSION,
    migrations: dict[int, Callable[[Connection], None]] | None = None,
) -> int:
    """Create or upgrade the schema to ``target``; return the version found on disk (0 if new).

    Runs in one transaction: a failed migration leaves the database as it was.
    """
    steps = MIGRATIONS if migrations is None else migrations
    con.execute("BEGIN TRANSACTION")
    try:
        found = _stored_version(con)
        if found is None:
            create_schema(con)
            con.execute("COMMIT")
            return 0
        if found > target:
            raise SchemaVersionError(
                f"the store has schema version {found}, newer than this otlpy supports "
                f"({target}); upgrade otlpy or use another directory"
            )
        for version in range(found, target):
            step = steps.get(version)
            if step is None:
                raise SchemaVersionError(f"no migration from schema version {version}")
            step(con)
        if found != target:
            con.execute(
                "UPDATE otlpy_meta SET value = ? WHERE key = 'schema_version'", [str(target)]
            )
        con.execute("COMMIT")
        return found
    except BaseException:
        con.execute("ROLLBACK")
        raise
