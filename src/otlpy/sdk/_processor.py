"""Batch span and log processors that keep the application thread fast.

``on_end`` (``on_emit`` for logs) does almost nothing: a sampled check, a bounded append to a
deque, and once per batch a wake-up of the worker thread. The worker takes batches off the
deque, encodes each into request bytes in one go and hands the bytes to the exporter's queue, so
it never waits for the network and the spans' Python objects are released as soon as they are
encoded (a span is a few kilobytes of objects; its encoding a few hundred bytes). With an
exporter that is not otlpy's, the worker calls its ``export()`` like the SDK's processors do.

Memory is bounded twice: ``max_queue_size`` items waiting to be encoded, and the exporter's
queue in bytes. What does not fit is dropped and counted (:meth:`BatchSpanProcessor.stats`).

Fork safety: the worker thread starts with the first item in each process, and a process that
finds itself forked (through ``os.register_at_fork``, or because its pid changed: uWSGI does not
always run fork hooks) drops what its parent had queued and starts its own worker and exporter
connections.
"""

from __future__ import annotations

import collections
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from opentelemetry.context import (
    _SUPPRESS_INSTRUMENTATION_KEY,
    Context,
    attach,
    set_value,
)
from opentelemetry.sdk._logs import LogRecordProcessor, ReadableLogRecord
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

from otlpy.errors import ConfigError, ConfigProblem
from otlpy.sdk._delivery import DeliveryStats, call_in_forked_children
from otlpy.sdk._exporters import ExporterCore, core_of

__all__ = ["BatchLogRecordProcessor", "BatchSpanProcessor", "ProcessorStats"]

log = logging.getLogger("otlpy.sdk")

_LOG_INTERVAL = 10.0
# Items the worker lets wait before it encodes them (see _Batcher.wake_size).
_ENCODE_CHUNK = 32
# How long the application thread lends the GIL to the worker when it wakes it (see _poke).
_HANDOFF_TIMEOUT = 0.002


@dataclass(frozen=True, slots=True)
class ProcessorStats:
    """Counters of a batch processor, with its exporter's when the exporter is otlpy's."""

    #: items waiting in the processor to be encoded
    queued_items: int
    #: items refused because the processor's queue was full or it was shut down
    dropped_items: int
    #: what became of the items the processor passed on (None for a foreign exporter)
    delivery: DeliveryStats | None

    @property
    def lost_items(self) -> int:
        """Every item that will not reach the server: dropped here, or lost or refused later."""
        lost = self.dropped_items
        if self.delivery is not None:
            d = self.delivery
            lost += d.dropped_items + d.failed_items + d.rejected_items
        return lost


def _env_int(environ: Mapping[str, str], name: str, default: int) -> int:
    value = environ.get(name, "").strip()
    if not value:
        return default
    try:
        return int(float(value))
    except ValueError:
        log.warning("ignoring %s=%r: not a number; using %d", name, value, default)
        return default


class _Batcher:
    """The bounded queue and the worker thread behind both processors."""

    def __init__(
        self,
        exporter: Any,
        *,
        kind: str,
        env_prefix: str,
        max_queue_size: int | None,
        schedule_delay_millis: float | None,
        max_export_batch_size: int | None,
        export_timeout_millis: float | None,
        prepare: Callable[[list[Any], bool], list[Any]] | None = None,
    ) -> None:
        env = os.environ
        queue_size = (
            max_queue_size
            if max_queue_size is not None
            else _env_int(env, f"{env_prefix}_MAX_QUEUE_SIZE", 2048)
        )
        delay = (
            schedule_delay_millis
            if schedule_delay_millis is not None
            else _env_int(env, f"{env_prefix}_SCHEDULE_DELAY", 5000)
        )
        batch = (
            max_export_batch_size
            if max_export_batch_size is not None
            else _env_int(env, f"{env_prefix}_MAX_EXPORT_BATCH_SIZE", 512)
        )
        timeout = (
            export_timeout_millis
            if export_timeout_millis is not None
            else _env_int(env, f"{env_prefix}_EXPORT_TIMEOUT", 30_000)
        )
        problems = []
        if queue_size <= 0:
            problems.append(ConfigProblem("max_queue_size", "must be > 0"))
        if delay <= 0:
            problems.append(ConfigProblem("schedule_delay_millis", "must be > 0"))
        if batch <= 0:
            problems.append(ConfigProblem("max_export_batch_size", "must be > 0"))
        elif batch > queue_size > 0:
            problems.append(
                ConfigProblem("max_export_batch_size", "must not exceed max_queue_size")
            )
        if timeout <= 0:
            problems.append(ConfigProblem("export_timeout_millis", "must be > 0"))
        if problems:
            raise ConfigError(problems)
        self.exporter = exporter
        self.core: ExporterCore | None = core_of(exporter)
        self.kind = kind
        self.max_queue_size = queue_size
        self.batch_size = batch
        # With otlpy's exporter the worker encodes as soon as a few items wait, and concatenates
        # the encoded pieces into requests of up to ``batch`` items (two serialized requests
        # concatenated are one valid request). Items queued as Python objects are what the
        # garbage collector keeps scanning (a span is a dozen tracked objects); encoded bytes
        # are not scanned at all.
        self.wake_size = min(batch, _ENCODE_CHUNK) if self.core is not None else batch
        self.delay = delay / 1000.0
        self.export_timeout_millis = float(timeout)
        self._prepare = prepare
        self._limit = queue_size  # set to 0 at shutdown: every later item takes the drop path
        self._shutdown = False
        self._dropped = 0
        self._last_drop_log = -_LOG_INTERVAL
        self._init_process_state()
        call_in_forked_children(self._after_fork)

    def _init_process_state(self) -> None:
        self.queue: collections.deque[Any] = collections.deque()
        # Encoded pieces waiting to make up a full request (the worker's alone).
        self._pending: list[bytes] = []
        self._pending_items = 0
        self._lock = threading.Lock()
        self._flushed = threading.Condition(self._lock)
        self._wake = threading.Event()
        self._taken = threading.Event()
        self._stopping = False
        self._flush_requested = 0
        self._flush_done = 0
        self._thread: threading.Thread | None = None
        self._worker_pid: int | None = None

    def _after_fork(self) -> None:
        # The parent exports what it queued; the child starts empty with its own worker.
        self._init_process_state()

    # -- the application thread ---------------------------------------------------------------

    def offer(self, item: Any) -> None:
        """Queue one item; the hot path of ``on_end`` and ``on_emit``."""
        queue = self.queue
        n = len(queue)
        if n >= self._limit:
            self._drop(1)
            return
        queue.append(item)
        # Rarely: when the queue fills from empty (is there a worker in this process?) and when
        # it holds enough to be worth the worker's while (wake it).
        if n == 0 or n + 1 == self.wake_size:
            self._poke(n + 1)

    def _poke(self, n: int) -> None:
        if self._worker_pid != os.getpid():
            self._start_worker()
        if n >= self.wake_size:
            # Wait (a moment at most) until the worker has taken the items. Waiting releases
            # the GIL, so the worker runs now instead of at the interpreter's next forced
            # switch, 5 ms and a few hundred items later: the items are encoded while they are
            # young, before the garbage collector has scanned and promoted them, which costs
            # more than encoding them (see docs/sdk.md). With the GIL, the worker's encoding
            # holds the application thread up either way; this way there is less of it.
            taken = self._taken
            taken.clear()
            self._wake.set()
            thread = self._thread
            if thread is not None and thread.is_alive():
                taken.wait(_HANDOFF_TIMEOUT)

    def _start_worker(self) -> None:
        pid = os.getpid()
        if self._worker_pid is not None and self._worker_pid != pid:
            # Forked without the fork hook running. The parent's lock may have been held by one
            # of its threads, which do not exist here: start over without touching it, keeping
            # only the item this process just queued.
            mine = self.queue[-1] if self.queue else None
            self._init_process_state()
            if mine is not None:
                self.queue.append(mine)
        with self._lock:
            if self._worker_pid == pid:
                return
            thread = threading.Thread(
                target=self._run, name=f"otlpy-batch-{self.kind}-processor", daemon=True
            )
            try:
                thread.start()
            except RuntimeError:  # interpreter shutting down: nothing will export any more
                return
            self._thread = thread
            self._worker_pid = pid

    def _drop(self, count: int) -> None:
        self._dropped += count
        now = time.monotonic()
        if now - self._last_drop_log >= _LOG_INTERVAL:
            self._last_drop_log = now
            reason = "processor shut down" if self._shutdown else "queue full"
            log.warning(
                "otlpy batch %s processor: %s, %d %ss dropped so far",
                self.kind,
                reason,
                self._dropped,
                self.kind,
            )

    # -- the worker thread --------------------------------------------------------------------

    def _run(self) -> None:
        attach(set_value(_SUPPRESS_INSTRUMENTATION_KEY, True))
        queue = self.queue
        wake = self._wake
        next_export = time.monotonic() + self.delay
        while True:
            if len(queue) < self.wake_size and not self._stopping:
                remaining = next_export - time.monotonic()
                if remaining > 0 and self._flush_requested == self._flush_done:
                    wake.wait(remaining)
            wake.clear()
            flush_to = self._flush_requested
            stopping = self._stopping
            everything = stopping or flush_to != self._flush_done
            if time.monotonic() >= next_export:
                everything = True
            self._export_batches(queue, everything)
            self._taken.set()
            if everything:
                next_export = time.monotonic() + self.delay
            if flush_to != self._flush_done:
                with self._lock:
                    self._flush_done = flush_to
                    self._flushed.notify_all()
            if stopping:
                return

    def _export_batches(self, queue: collections.deque[Any], everything: bool) -> None:
        chunk = self.wake_size
        popleft = queue.popleft
        if self.core is None:
            while len(queue) >= chunk or (everything and queue):
                n = min(chunk, len(queue))
                items = [popleft() for _ in range(n)]
                self._taken.set()
                self._export_foreign(items)
            return
        # Encode whatever waits, at most a batch at a time; send once a batch is encoded.
        while len(queue) >= chunk or (everything and queue):
            n = min(self.batch_size - self._pending_items, len(queue))
            items = [popleft() for _ in range(n)]
            self._taken.set()
            self._encode(items)
            if self._pending_items >= self.batch_size:
                self._submit()
        if everything and self._pending:
            self._submit()

    def _encode(self, items: list[Any]) -> None:
        core = self.core
        assert core is not None
        try:
            if self._prepare is not None:
                items = self._prepare(items, True)
            payload = core.encode(items)
        except Exception:
            log.exception("otlpy batch %s processor: cannot encode a batch", self.kind)
            core.delivery.count_dropped(len(items), "encoding failed")
            return
        self._pending.append(payload)
        self._pending_items += len(items)

    def _submit(self) -> None:
        core = self.core
        assert core is not None
        pending, items = self._pending, self._pending_items
        self._pending, self._pending_items = [], 0
        if core.shut_down:
            core.delivery.count_dropped(items, "the exporter is shut down")
            return
        payload = pending[0] if len(pending) == 1 else b"".join(pending)
        if not core.fits(payload, items):
            return
        try:
            core.delivery.submit(payload, items)
        except Exception:  # the worker must survive anything
            log.exception("otlpy batch %s processor: export failed", self.kind)

    def _export_foreign(self, items: list[Any]) -> None:
        try:
            if self._prepare is not None:
                items = self._prepare(items, False)
            self.exporter.export(items)
        except Exception:  # the worker must survive anything an exporter does
            log.exception("otlpy batch %s processor: export failed", self.kind)

    # -- flush and shutdown -------------------------------------------------------------------

    def _wait_worker(self, deadline: float) -> bool:
        """Have the worker pass everything queued so far on; False on timeout."""
        if not self.queue and self._thread is None:
            return True
        if self._worker_pid != os.getpid():
            self._start_worker()
        with self._lock:
            self._flush_requested += 1
            target = self._flush_requested
        self._wake.set()
        with self._lock:
            while self._flush_done < target:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._thread is None or not self._thread.is_alive():
                    return False
                self._flushed.wait(remaining)
        return True

    def force_flush(self, timeout_millis: float | None) -> bool:
        if self._shutdown:
            return False
        budget = (self.export_timeout_millis if timeout_millis is None else timeout_millis) / 1e3
        deadline = time.monotonic() + budget
        if not self._wait_worker(deadline):
            return False
        remaining_ms = max(deadline - time.monotonic(), 0.0) * 1000.0
        if self.core is not None:
            return self.core.force_flush(remaining_ms)
        return bool(self.exporter.force_flush(int(remaining_ms)))

    def shutdown(self, timeout_millis: float | None) -> None:
        if self._shutdown:
            return
        budget = (self.export_timeout_millis if timeout_millis is None else timeout_millis) / 1e3
        deadline = time.monotonic() + budget
        self._shutdown = True
        self._limit = 0
        thread = self._thread
        if thread is not None and self._worker_pid == os.getpid():
            self._stopping = True
            self._wake.set()
            thread.join(max(deadline - time.monotonic(), 0.0))
        elif self.queue:
            # No worker in this process (never started, or forked away): export here.
            self._export_batches(self.queue, True)
        if thread is not None and thread.is_alive():
            log.warning("otlpy batch %s processor: shutdown timed out", self.kind)
        self._drop_leftovers()
        remaining_ms = max(deadline - time.monotonic(), 0.0) * 1000.0
        if self.core is not None:
            self.core.shutdown(remaining_ms)
        else:
            self.exporter.shutdown()

    def _drop_leftovers(self) -> None:
        left = len(self.queue)
        if left:
            self.queue.clear()
            self._drop(left)

    def stats(self) -> ProcessorStats:
        return ProcessorStats(
            queued_items=len(self.queue) + self._pending_items,
            dropped_items=self._dropped,
            delivery=self.core.delivery.stats() if self.core is not None else None,
        )


class BatchSpanProcessor(SpanProcessor):
    """Batches ended spans and hands them, encoded, to the exporter: a faster drop-in
    replacement for the SDK's ``BatchSpanProcessor``.

    Arguments and their ``OTEL_BSP_*`` variables are the SDK's: ``max_queue_size`` (2048),
    ``schedule_delay_millis`` (5000), ``max_export_batch_size`` (512) and
    ``export_timeout_millis`` (30000, the default bound of ``shutdown``). Works with any
    ``SpanExporter``; with otlpy's, encoding happens in the worker thread and the network never
    holds the queue up.
    """

    def __init__(
        self,
        span_exporter: Any,
        max_queue_size: int | None = None,
        schedule_delay_millis: float | None = None,
        max_export_batch_size: int | None = None,
        export_timeout_millis: float | None = None,
    ) -> None:
        self._batcher = _Batcher(
            span_exporter,
            kind="span",
            env_prefix="OTEL_BSP",
            max_queue_size=max_queue_size,
            schedule_delay_millis=schedule_delay_millis,
            max_export_batch_size=max_export_batch_size,
            export_timeout_millis=export_timeout_millis,
        )
        self._offer = self._batcher.offer

    @property
    def span_exporter(self) -> Any:
        return self._batcher.exporter

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        pass

    def on_end(self, span: ReadableSpan) -> None:
        if span.context.trace_flags.sampled:
            self._offer(span)

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Export everything ended so far; False if it did not finish within the timeout."""
        return self._batcher.force_flush(timeout_millis)

    def shutdown(self, timeout_millis: float | None = None) -> None:
        """Export what is queued, then shut the exporter down, within ``timeout_millis``."""
        self._batcher.shutdown(timeout_millis)

    def stats(self) -> ProcessorStats:
        """Queued and dropped spans, and what the exporter made of the rest."""
        return self._batcher.stats()


_EMPTY_RESOURCE: Resource | None = None


def _readable_logs(records: list[Any], for_otlpy: bool) -> list[Any]:
    global _EMPTY_RESOURCE
    if for_otlpy and all(r.resource is not None for r in records):
        # otlpy's encoder reads the same fields from a ReadWriteLogRecord: no copy needed.
        return records
    if _EMPTY_RESOURCE is None:
        _EMPTY_RESOURCE = Resource.create({})
    return [
        ReadableLogRecord(
            log_record=r.log_record,
            resource=r.resource if r.resource is not None else _EMPTY_RESOURCE,
            instrumentation_scope=r.instrumentation_scope,
            limits=r.limits,
        )
        for r in records
    ]


class BatchLogRecordProcessor(LogRecordProcessor):
    """Batches emitted log records; a faster drop-in for the SDK's ``BatchLogRecordProcessor``.

    Arguments and their ``OTEL_BLRP_*`` variables are the SDK's; see
    :class:`BatchSpanProcessor`. The record is encoded in the worker thread, as it stands then.
    """

    def __init__(
        self,
        exporter: Any,
        schedule_delay_millis: float | None = None,
        max_export_batch_size: int | None = None,
        export_timeout_millis: float | None = None,
        max_queue_size: int | None = None,
    ) -> None:
        self._batcher = _Batcher(
            exporter,
            kind="log record",
            env_prefix="OTEL_BLRP",
            max_queue_size=max_queue_size,
            schedule_delay_millis=schedule_delay_millis,
            max_export_batch_size=max_export_batch_size,
            export_timeout_millis=export_timeout_millis,
            prepare=_readable_logs,
        )
        self._offer = self._batcher.offer

    def on_emit(self, log_record: Any) -> None:
        self._offer(log_record)

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Export everything emitted so far; False if it did not finish within the timeout."""
        return self._batcher.force_flush(timeout_millis)

    def shutdown(self, timeout_millis: float | None = None) -> None:
        """Export what is queued, then shut the exporter down, within ``timeout_millis``."""
        self._batcher.shutdown(timeout_millis)

    def stats(self) -> ProcessorStats:
        """Queued and dropped records, and what the exporter made of the rest."""
        return self._batcher.stats()
