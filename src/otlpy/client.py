"""Who sent the data being consumed: the client's address and, on request, its metadata.

Receivers set the :class:`ClientInfo` of each request while the pipeline consumes it, as the
Collector's ``client.Info`` does; a processor or exporter reads it with :func:`current`. The
request's headers (HTTP) or metadata (gRPC) are included only when the receiver's
``include_metadata`` is true. Keys are lower case. The value lives in a context variable, so it
follows the request through fan-outs (each branch's task copies the context) but not into
work a component defers past the call, such as a batch sent later by a batching processor.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

__all__ = ["ClientInfo", "current", "using"]


@dataclass(frozen=True, slots=True)
class ClientInfo:
    """The client of the request being consumed."""

    #: the peer's address, e.g. ``127.0.0.1:53122`` (empty when unknown)
    addr: str = ""
    #: request headers or gRPC metadata by lower-case name (empty unless include_metadata)
    metadata: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def get(self, key: str) -> tuple[str, ...]:
        """The values of metadata ``key`` (case-insensitive), empty when absent."""
        return self.metadata.get(key.lower(), ())


_EMPTY = ClientInfo()
_current: contextvars.ContextVar[ClientInfo] = contextvars.ContextVar(
    "otlpy_client_info", default=_EMPTY
)


def current() -> ClientInfo:
    """The client of the request being consumed in this context."""
    return _current.get()


@contextmanager
def using(info: ClientInfo) -> Iterator[ClientInfo]:
    """Make ``info`` the current client for the duration of the block."""
    token = _current.set(info)
    try:
        yield info
    finally:
        _current.reset(token)
