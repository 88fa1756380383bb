"""One :class:`~otlpy.store.Store` per data directory, shared by the components of a process.

DuckDB lets one process hold a database file; inside that process the ``store`` exporter
(which writes) and the ``otlpy_ui`` extension (which reads) must use the same
:class:`~otlpy.store.Store`. Each of them takes a lease on the directory; the first lease opens
the store, the last release closes it. Which component starts first does not matter::

    store = acquire(Path("otlpy-data"))
    try:
        ...  # write or query
    finally:
        release(store)

Both functions block (opening and closing touch the disk): call them off the event loop.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from otlpy.store._store import Store

__all__ = ["DEFAULT_DIRECTORY", "acquire", "default_directory", "release"]

#: Where the store lives when neither the config nor ``OTLPY_DATA`` says otherwise.
DEFAULT_DIRECTORY = "./otlpy-data"

_lock = threading.Lock()
# resolved directory -> (store, lease count)
_leases: dict[Path, tuple[Store, int]] = {}


def default_directory() -> str:
    """The data directory to use when a config leaves it empty: ``$OTLPY_DATA`` or
    ``./otlpy-data``. ``otlpy run --data DIR`` sets ``OTLPY_DATA``."""
    return os.environ.get("OTLPY_DATA") or DEFAULT_DIRECTORY


def acquire(directory: Path, **options: Any) -> Store:
    """A lease on the store in ``directory``, opening it if this is the first lease.

    ``options`` go to :meth:`Store.open` and apply only when this call opens the store.
    Raises :class:`~otlpy.store.StoreError` when the directory is unusable.
    """
    key = Path(directory).expanduser().resolve()
    with _lock:
        found = _leases.get(key)
        if found is not None and not found[0].closed:
            _leases[key] = (found[0], found[1] + 1)
            return found[0]
        # holding the lock while opening keeps two first leases from opening twice
        store = Store.open(key, **options)
        _leases[key] = (store, 1)
        return store


def release(store: Store) -> None:
    """Give back a lease; the last one flushes and closes the store. Safe to call on a
    store that is not leased (it is closed)."""
    with _lock:
        key = store.path.parent
        found = _leases.get(key)
        if found is None or found[0] is not store:
            store.close()
            return
        if found[1] > 1:
            _leases[key] = (store, found[1] - 1)
            return
        del _leases[key]
        store.close()
