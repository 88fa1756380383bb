"""The embedded telemetry store: OTLP spans, logs and metrics in a DuckDB file.

:class:`Store` writes decoded OTLP export requests in bulk and enforces a
:class:`RetentionPolicy`; :mod:`otlpy.store.queries` reads them back as plain Python data and
:mod:`otlpy.store.jaeger` shapes traces as the Jaeger query API returns them.
"""

from __future__ import annotations

from otlpy.store._schema import SCHEMA_VERSION
from otlpy.store._store import (
    DB_FILE,
    RetentionPolicy,
    RetentionReport,
    Store,
    StoreError,
    StoreLockedError,
)

__all__ = [
    "DB_FILE",
    "SCHEMA_VERSION",
    "RetentionPolicy",
    "RetentionReport",
    "Store",
    "StoreError",
    "StoreLockedError",
]
