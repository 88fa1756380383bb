"""The ``store`` exporter: keeps traces, logs and metrics in the embedded DuckDB store.

What it writes is what the ``otlpy_ui`` extension, ``otlpy query`` and Grafana's Jaeger data
source read back. ::

    exporters:
      store:
        directory: ./otlpy-data     # default: $OTLPY_DATA, else ./otlpy-data
        flush_interval: 1s          # how soon written data becomes visible (and durable)
        retention:
          max_age: 168h             # 0 keeps data forever
          max_size: 2GiB            # 0: no size limit
          check_interval: 1m

Writes happen on one worker thread, so building and inserting the columnar batches never
stalls the event loop. A batch is durable once flushed: a crash loses at most the last
``flush_interval``. Retention runs on the same thread every ``check_interval``.
The store is opened once per directory in a process and shared with the ``otlpy_ui``
extension (see :mod:`otlpy.store.shared`). The exporter does not change the data it is given.
"""

from __future__ import annotations

import asyncio
import contextlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from otlpy.component import Factory, Host, Kind, Settings
from otlpy.config.decode import ByteSize, Duration
from otlpy.errors import ConfigProblem, PermanentError, RetryableError
from otlpy.exporterhelper import Exporter, RetryConfig
from otlpy.pdata import Batch
from otlpy.store import RetentionPolicy, Store, StoreError
from otlpy.store.shared import acquire, default_directory, release

__all__ = ["RetentionConfig", "StoreExporter", "StoreExporterConfig", "factory"]

_WEEK = 7 * 86400.0


@dataclass(frozen=True, kw_only=True)
class RetentionConfig:
    """``retention``: what the store keeps. ``max_age: 0`` and ``max_size: 0`` switch the
    limits off."""

    max_age: Duration = _WEEK
    max_size: ByteSize = 0
    check_interval: Duration = 60.0

    def validate(self) -> list[ConfigProblem]:
        problems = []
        if self.max_age < 0:
            problems.append(ConfigProblem("max_age", "must not be negative (0 keeps everything)"))
        if self.max_size < 0:
            problems.append(ConfigProblem("max_size", "must not be negative (0: no limit)"))
        if self.check_interval <= 0:
            problems.append(ConfigProblem("check_interval", "must be positive"))
        return problems

    def policy(self) -> RetentionPolicy:
        return RetentionPolicy(
            max_age=timedelta(seconds=self.max_age) if self.max_age else None,
            max_bytes=self.max_size or None,
        )


@dataclass(frozen=True, kw_only=True)
class StoreExporterConfig:
    """The ``store`` exporter's settings.

    ``directory`` empty means ``$OTLPY_DATA`` (set by ``otlpy run --data DIR``), else
    ``./otlpy-data``. ``memory_limit`` (e.g. ``"1GB"``) caps DuckDB's memory; empty leaves
    DuckDB's default (80% of RAM).
    """

    directory: str = ""
    flush_interval: Duration = 1.0
    retention: RetentionConfig = field(default_factory=RetentionConfig)
    memory_limit: str = ""
    retry_on_failure: RetryConfig = field(default_factory=RetryConfig)

    def validate(self) -> list[ConfigProblem]:
        problems = []
        if self.flush_interval <= 0:
            problems.append(ConfigProblem("flush_interval", "must be positive"))
        if "\x00" in self.directory:
            problems.append(ConfigProblem("directory", "must not contain NUL"))
        return problems

    @property
    def data_directory(self) -> Path:
        """The directory the store lives in, with the default applied."""
        return Path(self.directory or default_directory()).expanduser()


class StoreExporter:
    """Writes batches into the shared store on a worker thread; the ``store`` exporter's push."""

    def __init__(self, settings: Settings, config: StoreExporterConfig) -> None:
        self.settings = settings
        self.config = config
        self.store: Store | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._tasks: list[asyncio.Task[None]] = []

    async def _run(self, fn: Any, *args: Any) -> Any:
        assert self._executor is not None
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def start(self, host: Host) -> None:
        """Open (or share) the store; refuse to start when the directory is unusable."""
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="otlpy-store")
        directory = self.config.data_directory
        options: dict[str, Any] = {"retention": self.config.retention.policy()}
        if self.config.memory_limit:
            options["memory_limit"] = self.config.memory_limit
        try:
            self.store = await self._run(lambda: acquire(directory, **options))
        except StoreError as exc:
            self._executor.shutdown(wait=False)
            self._executor = None
            raise PermanentError(str(exc)) from exc
        # the store may have been opened first by the UI extension, with the default policy
        self.store.retention = self.config.retention.policy()
        self.settings.logger.info("storing telemetry in %s", self.store.path)
        self._tasks = [
            asyncio.create_task(self._every(self.config.flush_interval, self._flush)),
            asyncio.create_task(
                self._every(self.config.retention.check_interval, self._enforce_retention)
            ),
        ]

    async def _every(self, interval: float, job: Any) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self._run(job)
            except (RetryableError, StoreError) as exc:
                self.settings.logger.warning("store housekeeping failed, will retry: %s", exc)

    def _flush(self) -> None:
        assert self.store is not None
        self.store.flush()

    def _enforce_retention(self) -> None:
        assert self.store is not None
        report = self.store.enforce_retention()
        deleted = report.spans + report.logs + report.metric_points
        if deleted:
            self.settings.logger.info(
                "retention deleted %d spans, %d log records, %d metric points (%d -> %d bytes)",
                report.spans,
                report.logs,
                report.metric_points,
                report.bytes_before,
                report.bytes_after,
            )

    @staticmethod
    def _close(store: Store) -> None:
        try:
            # flushed here even when another component keeps the store open
            store.flush()
        finally:
            release(store)

    async def push(self, batch: Batch) -> None:
        """Queue one batch in the store (visible and durable at the next flush)."""
        store = self.store
        if store is None or self._executor is None:
            raise RetryableError("the store exporter is not started")
        # decoded here, on the event loop: only this thread touches the batch's cache
        message = batch.message
        try:
            await self._run(store.write, batch.signal, message)
        except StoreError as exc:
            raise RetryableError(f"store unavailable: {exc}") from exc

    async def shutdown(self) -> None:
        """Stop housekeeping, flush what is queued and give the store back."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self._executor is None:
            return
        store, self.store = self.store, None
        try:
            if store is not None:
                await self._run(self._close, store)
        except (RetryableError, StoreError) as exc:
            self.settings.logger.error("could not write the last data to the store: %s", exc)
        finally:
            self._executor.shutdown(wait=True)
            self._executor = None


def _create(settings: Settings, config: StoreExporterConfig) -> Exporter:
    writer = StoreExporter(settings, config)
    return Exporter(
        settings,
        writer.push,
        timeout=0,
        retry=config.retry_on_failure,
        start=writer.start,
        shutdown=writer.shutdown,
    )


factory = Factory(
    type="store",
    kind=Kind.EXPORTER,
    config=StoreExporterConfig,
    create=_create,
    description="keep telemetry in the embedded DuckDB store (queried by otlpy_ui)",
)
