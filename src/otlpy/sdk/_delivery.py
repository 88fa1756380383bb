"""Delivery of encoded export requests: retries, the sender thread, the queue, fork safety.

A :class:`Delivery` takes a request that is already encoded (bytes, encoded exactly once) and
gets it to the server, either

- synchronously (:meth:`Delivery.send`), retrying within one deadline, as
  ``SpanExporter.export`` is expected to do; or
- through a queue (:meth:`Delivery.submit`): the request waits in memory (bounded by bytes) or on
  disk, and a sender thread delivers it, retrying with backoff until the retry policy gives up
  (or, from the disk queue, until it is delivered: an outage or a restart loses nothing).

Compression also happens once per request, not once per attempt. Every outcome is counted in
:class:`DeliveryStats`; failures and partial successes are logged at most once per
``_LOG_INTERVAL`` seconds per kind, never once per request.

The sender thread, the transport (gRPC channel or HTTP connection pool) and the queue belong to
the process that made them: after ``fork`` the child starts its own, lazily, and never touches
the parent's (gunicorn ``--preload``, uWSGI, multiprocessing).
"""

from __future__ import annotations

import logging
import os
import secrets
import struct
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY, attach, detach, set_value

from otlpy.errors import PermanentError, RetryableError
from otlpy.sdk._queue import RequestQueue
from otlpy.sdk._retry import RetryPolicy

__all__ = ["Accepted", "Delivery", "DeliveryStats", "Transport", "call_in_forked_children"]

log = logging.getLogger("otlpy.sdk")

_LOG_INTERVAL = 10.0
# Record framing in the queue: format version, item count, and the id of the process run that
# queued it (so that flush() waits for this run's records, not for leftovers of an earlier run).
_HEADER = struct.Struct("<BI8s")
_VERSION = 1
_POLL = 0.5


@dataclass(frozen=True, slots=True)
class Accepted:
    """A server's answer to a successful export: how many items it refused anyway, and why."""

    rejected: int = 0
    message: str = ""


class Transport(Protocol):
    """Sends one encoded request; knows nothing of retries or queues."""

    def prepare(self, payload: bytes) -> bytes:
        """The body to send for ``payload`` (compressed if configured); called once a request."""
        ...

    def send(self, body: bytes, timeout: float) -> Accepted:
        """One attempt; raises RetryableError or PermanentError when it fails."""
        ...

    def close(self) -> None:
        """Release connections; an attempt in progress is abandoned."""
        ...


@dataclass(frozen=True, slots=True)
class DeliveryStats:
    """What became of the items handed to a delivery, counted since it was made."""

    #: items the server accepted (a partial success counts its accepted part)
    sent_items: int
    #: items the server refused in a partial success
    rejected_items: int
    #: items lost to a permanent error, to retries running out, or to shutdown
    failed_items: int
    #: items refused because the queue was full or the delivery shut down
    dropped_items: int
    #: items waiting in the queue or in flight
    queued_items: int
    #: attempts after the first, all requests together
    retries: int


class _RateLimitedLog:
    """Logs a kind of event at most once per interval, with the count of the ones it skipped."""

    __slots__ = ("_last", "_skipped")

    def __init__(self) -> None:
        self._last: dict[str, float] = {}
        self._skipped: dict[str, int] = {}

    def __call__(self, level: int, kind: str, message: str, *args: object) -> None:
        now = time.monotonic()
        if now - self._last.get(kind, -_LOG_INTERVAL) < _LOG_INTERVAL:
            self._skipped[kind] = self._skipped.get(kind, 0) + 1
            return
        skipped = self._skipped.pop(kind, 0)
        self._last[kind] = now
        if skipped:
            message += " (%d similar messages suppressed)"
            args = (*args, skipped)
        log.log(level, message, *args)


def call_in_forked_children(method: Callable[[], object]) -> None:
    """Have the bound ``method`` called in every child process forked while its object lives.

    The hook holds the object weakly: registered hooks are never removed, and must not keep a
    shut-down exporter or processor alive.
    """
    if not hasattr(os, "register_at_fork"):
        return
    ref = weakref.WeakMethod(method)

    def after_in_child() -> None:
        alive = ref()
        if alive is not None:
            alive()

    os.register_at_fork(after_in_child=after_in_child)


def _items_of(record: bytes) -> int:
    if len(record) < _HEADER.size or record[0] != _VERSION:
        return 0
    return int(_HEADER.unpack_from(record)[1])


class _Aborted(Exception):
    """Shutdown ran out of time while a request was being retried."""


class Delivery:
    """Gets encoded requests of one signal to the server, now or from a queue."""

    def __init__(
        self,
        *,
        name: str,
        make_transport: Callable[[], Transport],
        make_queue: Callable[[], RequestQueue],
        timeout: float,
        policy: RetryPolicy,
        persistent: bool = False,
    ) -> None:
        self.name = name
        self.persistent = persistent
        self._make_transport = make_transport
        self._make_queue = make_queue
        self._timeout = timeout
        self._policy = policy
        self._log = _RateLimitedLog()
        # Objects inherited from a parent process: kept referenced, never used or closed, so
        # that no finalizer touches the parent's connections from the child.
        self._orphans: list[object] = []
        self._reset()
        call_in_forked_children(self._after_fork)

    # -- state owned by one process ------------------------------------------------------------

    def _reset(self) -> None:
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._done = threading.Condition(self._lock)
        self._abort = threading.Event()
        self._transport: Transport | None = None
        self._queue: RequestQueue | None = None
        self._thread: threading.Thread | None = None
        self._closing = False
        self._closed = False
        self._run_id = secrets.token_bytes(8)
        self._submitted = 0  # records this run put in the queue
        self._finished = 0  # of those, records done with (delivered or given up)
        self._sent = self._rejected = self._failed = self._dropped = self._retries = 0
        self._queued_items = 0

    def _after_fork(self) -> None:
        self._orphans.extend(x for x in (self._transport, self._queue) if x is not None)
        self._reset()

    def _check_pid(self) -> None:
        # uWSGI forks without running os.register_at_fork hooks unless told to.
        if self._pid != os.getpid():
            self._after_fork()

    def _get_transport(self) -> Transport:
        transport = self._transport
        if transport is None:
            with self._lock:
                if self._transport is None:
                    self._transport = self._make_transport()
                transport = self._transport
        return transport

    # -- counters -----------------------------------------------------------------------------

    def stats(self) -> DeliveryStats:
        """A snapshot of the counters."""
        with self._lock:
            return DeliveryStats(
                sent_items=self._sent,
                rejected_items=self._rejected,
                failed_items=self._failed,
                dropped_items=self._dropped,
                queued_items=self._queued_items,
                retries=self._retries,
            )

    def count_dropped(self, items: int, reason: str) -> None:
        """Count ``items`` lost before they reached this delivery (a caller's queue was full)."""
        with self._lock:
            self._dropped += items
        self._log(logging.WARNING, "drop", "%s: dropped %d items: %s", self.name, items, reason)

    def _accepted(self, items: int, answer: Accepted) -> None:
        rejected = min(max(answer.rejected, 0), items)
        with self._lock:
            self._sent += items - rejected
            self._rejected += rejected
        if answer.rejected or answer.message:
            self._log(
                logging.WARNING,
                "partial",
                "%s: the server accepted the request but refused %d items: %s",
                self.name,
                answer.rejected,
                answer.message or "no message",
            )

    def _failed_items(self, items: int, exc: Exception, why: str) -> None:
        with self._lock:
            self._failed += items
        self._log(logging.ERROR, why, "%s: %d items lost (%s): %s", self.name, items, why, exc)

    # -- synchronous sending ------------------------------------------------------------------

    def send(self, payload: bytes, items: int, timeout: float | None = None) -> bool:
        """Deliver now, retrying until ``timeout`` seconds (default: the exporter's) have passed.

        True when the server accepted the request (a partial success included).
        """
        self._check_pid()
        if self._closing:
            self.count_dropped(items, "the exporter is shut down")
            return False
        budget = self._timeout if timeout is None else timeout
        deadline = time.monotonic() + budget
        token = attach(set_value(_SUPPRESS_INSTRUMENTATION_KEY, True))
        try:
            transport = self._get_transport()
            body = transport.prepare(payload)
            answer = self._attempts(transport, body, deadline=deadline, first=time.monotonic())
        except (PermanentError, RetryableError, _Aborted) as exc:
            self._failed_items(items, exc, "failed")
            return False
        except Exception as exc:  # export() must not raise into the SDK
            log.exception("%s: unexpected error while exporting", self.name)
            self._failed_items(items, exc, "internal error")
            return False
        finally:
            detach(token)
        self._accepted(items, answer)
        return True

    def _attempts(
        self, transport: Transport, body: bytes, *, deadline: float | None, first: float
    ) -> Accepted:
        """Attempt until success; raises the last error when giving up."""
        attempt = 0
        while True:
            now = time.monotonic()
            per_try = self._timeout if deadline is None else min(self._timeout, deadline - now)
            try:
                if per_try <= 0:
                    raise RetryableError("deadline exceeded before the attempt")
                return transport.send(body, per_try)
            except RetryableError as exc:
                if self._abort.is_set():
                    raise _Aborted(str(exc)) from exc
                delay = self._policy.delay(attempt, exc.retry_after)
                now = time.monotonic()
                if (deadline is not None and now + delay >= deadline) or self._policy.gives_up(
                    first, delay, now
                ):
                    raise
                self._log(
                    logging.WARNING,
                    "retry",
                    "%s: export failed (%s), retrying in %.1fs",
                    self.name,
                    exc,
                    delay,
                )
                with self._lock:
                    self._retries += 1
                attempt += 1
                if self._abort.wait(delay):
                    raise _Aborted(str(exc)) from exc

    # -- queued sending -----------------------------------------------------------------------

    def submit(self, payload: bytes, items: int) -> bool:
        """Queue an encoded request for the sender thread; False when it was dropped."""
        self._check_pid()
        if self._closing:
            self.count_dropped(items, "the exporter is shut down")
            return False
        queue = self._ensure_sender()
        record = _HEADER.pack(_VERSION, items, self._run_id) + payload
        with self._lock:
            accepted = queue.put(record, items)
            if accepted:
                self._submitted += 1
                self._queued_items += items
        if not accepted:
            self.count_dropped(items, "the export queue is full")
        return accepted

    def _ensure_sender(self) -> RequestQueue:
        with self._lock:
            if self._queue is None:
                self._queue = self._make_queue()
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name=f"otlpy-{self.name}-sender", daemon=True
                )
                self._thread.start()
            return self._queue

    def start(self) -> None:
        """Start the sender now (the disk queue may hold requests from an earlier run)."""
        self._check_pid()
        self._ensure_sender()

    def _run(self) -> None:
        attach(set_value(_SUPPRESS_INSTRUMENTATION_KEY, True))
        queue = self._queue
        assert queue is not None
        while not self._abort.is_set():
            try:
                got = queue.get(_POLL)
            except Exception:  # a failing disk: wait and try again, the data stays where it is
                self._log(logging.ERROR, "queue", "%s: cannot read the queue", self.name)
                self._abort.wait(_POLL)
                continue
            if got is None:
                if self._closing and self._finished >= self._submitted:
                    break
                continue
            record_id, record = got
            keep = self._deliver_record(record)
            try:
                if keep:
                    queue.nack(record_id)
                else:
                    queue.ack(record_id)
            except Exception:  # a failing disk: the record is sent again after a restart
                self._log(logging.ERROR, "queue", "%s: cannot update the queue", self.name)
            if keep:
                break  # only when aborting: leave the rest for the next run

    def _deliver_record(self, record: bytes) -> bool:
        """Deliver one queued record; True when it must stay in the queue."""
        if len(record) < _HEADER.size or record[0] != _VERSION:
            self._log(
                logging.ERROR, "corrupt", "%s: skipping an unreadable queued record", self.name
            )
            return False
        _, items, run_id = _HEADER.unpack_from(record)
        payload = record[_HEADER.size :]
        keep = False
        try:
            transport = self._get_transport()
            body = transport.prepare(payload)
            answer = self._attempts(transport, body, deadline=None, first=time.monotonic())
        except _Aborted as exc:
            keep = self.persistent
            if not keep:
                self._failed_items(items, exc, "shutdown")
        except RetryableError as exc:
            self._failed_items(items, exc, "retries exhausted")
        except PermanentError as exc:
            self._failed_items(items, exc, "refused")
        except Exception as exc:  # the sender thread must outlive any bug in a transport
            log.exception("%s: unexpected error while exporting", self.name)
            self._failed_items(items, exc, "internal error")
        else:
            self._accepted(items, answer)
        if run_id == self._run_id:
            with self._lock:
                self._finished += 1
                self._queued_items -= items
                self._done.notify_all()
        return keep

    def flush(self, timeout: float) -> bool:
        """Wait until every request queued so far is done with; False on timeout."""
        self._check_pid()
        deadline = time.monotonic() + timeout
        with self._lock:
            target = self._submitted
            while self._finished < target:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._done.wait(remaining)
        return True

    def shutdown(self, timeout: float) -> bool:
        """Drain the queue for up to ``timeout`` seconds, then stop; False if data was left.

        Requests still queued at the deadline are lost from memory, or kept on disk for the next
        run; an attempt in progress is abandoned.
        """
        self._check_pid()
        if self._closed:
            return True
        self._closing = True
        drained = self.flush(timeout)
        self._abort.set()
        thread = self._thread
        transport = self._transport
        if transport is not None:
            transport.close()  # cancels an attempt in flight (gRPC) so the thread can stop
        if thread is not None:
            thread.join(max(min(timeout, 1.0), 0.05))
        self._closed = True
        queue = self._queue
        if queue is None:
            return drained
        if not self.persistent:
            # What the sender did not reach is lost: count it (the attempt in flight, if any,
            # is counted by the sender itself).
            lost = 0
            while (got := queue.get(0)) is not None:
                queue.ack(got[0])
                lost += _items_of(got[1])
            if lost:
                with self._lock:
                    self._failed += lost
                    self._queued_items -= lost
                self._log(
                    logging.ERROR, "shutdown", "%s: %d items lost at shutdown", self.name, lost
                )
        if thread is None or not thread.is_alive():
            queue.close()
        return drained
