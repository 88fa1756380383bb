"""The ``file_storage`` extension: a directory where exporters keep persistent sending queues.

An exporter with ``sending_queue.storage: file_storage`` (or ``file_storage/<name>``) gets a
crash-safe write-ahead-log queue (:class:`~otlpy.exporterhelper.PersistentQueue`) in a
sub-directory named after the exporter, e.g. ``<directory>/exporter_otlp_backend``. Nothing is
opened until an exporter asks, so an unused extension touches no disk.

Keys follow the Collector's ``file_storage``; ``fsync`` also takes a policy (``always``,
``batch``, ``never``; ``true`` means ``always``, ``false`` means ``never``), ``max_size`` bounds
each queue's files, and compaction moves the few live records out of mostly-acknowledged segment
files in place (``compaction.directory`` and ``max_transaction_size`` are accepted and unused).

Example::

    extensions:
      file_storage:
        directory: /var/lib/otlpy/queues
        fsync: batch
    exporters:
      otlp:
        endpoint: backend:4317
        sending_queue:
          storage: file_storage
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from otlpy.component import Factory, Host, Kind, Settings
from otlpy.config.decode import ByteSize, Duration
from otlpy.errors import ConfigProblem
from otlpy.exporterhelper.persistent_queue import FsyncPolicy, PersistentQueue, QueueLockedError
from otlpy.exporterhelper.queue import StorageError

__all__ = ["CompactionConfig", "FileStorage", "FileStorageConfig", "factory"]

DEFAULT_DIRECTORY = "/var/lib/otelcol/file_storage"
_SAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]")
_MIB = 1 << 20


@dataclass(frozen=True, kw_only=True)
class CompactionConfig:
    """``compaction``: when to move live records out of mostly-acknowledged segment files."""

    on_start: bool = False
    on_rebound: bool = False
    directory: str = ""
    max_transaction_size: int = 65536
    rebound_needed_threshold_mib: int = 100
    rebound_trigger_threshold_mib: int = 10
    check_interval: Duration = 5.0
    cleanup_on_start: bool = False

    def validate(self) -> list[ConfigProblem]:
        problems = []
        if self.check_interval <= 0:
            problems.append(ConfigProblem("check_interval", "must be positive"))
        if self.rebound_needed_threshold_mib < 0:
            problems.append(ConfigProblem("rebound_needed_threshold_mib", "must not be negative"))
        if self.rebound_trigger_threshold_mib < 0:
            problems.append(ConfigProblem("rebound_trigger_threshold_mib", "must not be negative"))
        return problems


@dataclass(frozen=True, kw_only=True)
class FileStorageConfig:
    """``file_storage``: where and how persistent queues are kept."""

    directory: str = DEFAULT_DIRECTORY
    timeout: Duration = 1.0
    fsync: bool | Literal["always", "batch", "never"] = "batch"
    fsync_interval: Duration = 0.2
    max_size: ByteSize = 1 << 30
    segment_size: ByteSize = 32 << 20
    create_directory: bool = True
    directory_permissions: str = "0750"
    recreate: bool = False
    compaction: CompactionConfig = field(default_factory=CompactionConfig)

    @property
    def fsync_policy(self) -> FsyncPolicy:
        if self.fsync is True:
            return FsyncPolicy.ALWAYS
        if self.fsync is False:
            return FsyncPolicy.NEVER
        return FsyncPolicy(self.fsync)

    def validate(self) -> list[ConfigProblem]:
        problems = []
        if not self.directory:
            problems.append(ConfigProblem("directory", "must not be empty"))
        if self.timeout < 0:
            problems.append(ConfigProblem("timeout", "must not be negative"))
        if self.fsync_interval <= 0:
            problems.append(ConfigProblem("fsync_interval", "must be positive"))
        if self.max_size < 4 * 1024:
            problems.append(ConfigProblem("max_size", "must be at least 4KiB"))
        if self.segment_size < 1024:
            problems.append(ConfigProblem("segment_size", "must be at least 1KiB"))
        try:
            mode = int(self.directory_permissions, 8)
        except ValueError:
            mode = -1
        if not 0 <= mode <= 0o777:
            problems.append(
                ConfigProblem("directory_permissions", "must be an octal mode such as '0750'")
            )
        return problems


class FileStorage:
    """Opens persistent queues under one directory and compacts them as configured."""

    def __init__(self, settings: Settings, config: FileStorageConfig) -> None:
        self.settings = settings
        self.config = config
        self.directory = Path(config.directory)
        self._queues: dict[str, PersistentQueue] = {}
        self._rebound: asyncio.Task[None] | None = None

    async def start(self, host: Host) -> None:
        if self.config.compaction.on_rebound:
            self._rebound = asyncio.create_task(self._rebound_loop())

    async def shutdown(self) -> None:
        if self._rebound is not None:
            self._rebound.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._rebound
            self._rebound = None
        queues = list(self._queues.values())
        self._queues.clear()
        for queue in queues:
            await asyncio.to_thread(queue.close)

    def _prepare_directory(self) -> None:
        if self.directory.is_dir():
            return
        if not self.config.create_directory:
            raise StorageError(
                f"file_storage directory {self.directory} does not exist (create it, or set "
                "create_directory: true)"
            )
        try:
            self.directory.mkdir(parents=True, mode=int(self.config.directory_permissions, 8))
        except FileExistsError:
            pass
        except OSError as exc:
            raise StorageError(
                f"file_storage cannot create {self.directory}: {exc.strerror}"
            ) from exc

    def queue_path(self, name: str) -> Path:
        """Where the queue called ``name`` lives."""
        return self.directory / _SAFE_NAME.sub("_", name)

    def open_queue(
        self,
        name: str,
        *,
        max_records: int | None = None,
        max_items: int | None = None,
        max_payload_bytes: int | None = None,
    ) -> PersistentQueue:
        """Open the queue called ``name`` (one per exporter), waiting up to ``timeout`` for it.

        Raises :class:`~otlpy.exporterhelper.StorageError` when the directory cannot be used
        or another process holds the queue past the timeout.
        """
        open_queue = self._queues.get(name)
        if open_queue is not None and not open_queue.closed:
            raise QueueLockedError(f"queue {name} is already open in {self.directory}")
        self._prepare_directory()
        path = self.queue_path(name)
        if self.config.recreate and path.exists():
            # As the Collector's "recreate": keep the old files aside, start empty.
            path.rename(path.with_name(f"{path.name}.backup-{int(time.time())}"))
        deadline = time.monotonic() + self.config.timeout
        while True:
            try:
                queue = PersistentQueue(
                    path,
                    max_bytes=self.config.max_size,
                    max_records=max_records,
                    max_items=max_items,
                    max_payload_bytes=max_payload_bytes,
                    fsync=self.config.fsync_policy,
                    fsync_interval=self.config.fsync_interval,
                    segment_bytes=self.config.segment_size,
                    compact_on_open=self.config.compaction.on_start,
                    logger=self.settings.logger,
                )
                break
            except QueueLockedError:
                # A previous collector may still be exiting: wait for it, within the timeout.
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.05)
        self._queues[name] = queue
        return queue

    def _rebound_due(self, queue: PersistentQueue) -> bool:
        compaction = self.config.compaction
        return (
            queue.bytes_used >= compaction.rebound_needed_threshold_mib * _MIB
            and queue.payload_bytes <= compaction.rebound_trigger_threshold_mib * _MIB
        )

    async def compact_rebound(self) -> int:
        """Compact every open queue that grew large and has since mostly drained; bytes freed."""
        freed = 0
        for queue in list(self._queues.values()):
            if not queue.closed and self._rebound_due(queue):
                freed += await asyncio.to_thread(queue.compact)
        return freed

    async def _rebound_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.compaction.check_interval)
            try:
                await self.compact_rebound()
            except StorageError as exc:
                self.settings.logger.error("file_storage compaction failed: %s", exc)


def _create(settings: Settings, config: FileStorageConfig) -> FileStorage:
    return FileStorage(settings, config)


factory = Factory(
    type="file_storage",
    kind=Kind.EXTENSION,
    config=FileStorageConfig,
    create=_create,
    description="keeps persistent sending queues on disk (crash-safe write-ahead log)",
    stability="beta",
)
