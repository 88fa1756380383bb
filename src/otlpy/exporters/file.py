"""The ``file`` exporter: writes export requests to a file, as the Collector's file exporter does.

``format: json`` writes one OTLP JSON request per line; ``format: proto`` (and any compressed
output) writes each request as a 4-byte big-endian length followed by that many bytes, which are
the protobuf request, or its zstd frame with ``compression: zstd``. :func:`read_file` reads any
of these back. ::

    exporters:
      file:
        path: ./otlp.jsonl
        rotation:
          max_megabytes: 50

Files are written on one worker thread per exporter, so a slow disk never stalls the event loop;
writes are buffered and flushed every ``flush_interval``.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import re
import struct
import time
from collections import OrderedDict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

import orjson
import zstandard

from otlpy.component import Factory, Host, Kind, Settings
from otlpy.config.decode import Duration, decode
from otlpy.errors import ConfigProblem, PartialSuccess, PermanentError, RetryableError
from otlpy.exporterhelper import Exporter, RetryConfig
from otlpy.pdata import Batch, Signal, count_items, request_type
from otlpy.wire.otlp_json import decode_request, encode_request, protobuf_to_json

__all__ = ["FileConfig", "FileExporter", "GroupByConfig", "RotationConfig", "factory", "read_file"]

_MIB = 1024 * 1024
_LENGTH = struct.Struct(">I")
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_BACKUP_TIME = "%Y-%m-%dT%H-%M-%S"
_TOP_KEYS = {
    "resourceSpans": Signal.TRACES,
    "resourceMetrics": Signal.METRICS,
    "resourceLogs": Signal.LOGS,
}
_RESOURCES = {
    Signal.TRACES: "resource_spans",
    Signal.METRICS: "resource_metrics",
    Signal.LOGS: "resource_logs",
}


@dataclass(frozen=True, kw_only=True)
class RotationConfig:
    """``rotation``: start a new file past ``max_megabytes``; keep ``max_backups`` old ones."""

    max_megabytes: int = 100
    max_days: int = 0
    max_backups: int = 100
    localtime: bool = False

    def validate(self) -> list[ConfigProblem]:
        problems = []
        if self.max_megabytes <= 0:
            problems.append(ConfigProblem("max_megabytes", "must be positive"))
        for key in ("max_days", "max_backups"):
            if getattr(self, key) < 0:
                problems.append(ConfigProblem(key, "must not be negative (0 keeps every file)"))
        return problems


@dataclass(frozen=True, kw_only=True)
class GroupByConfig:
    """``group_by``: one file per value of a resource attribute, put in place of ``*``."""

    enabled: bool = False
    resource_attribute: str = "fileexporter.path_segment"
    max_open_files: int = 100


class _Absent:
    def __repr__(self) -> str:
        return "<absent>"


_ABSENT: Any = _Absent()


@dataclass(frozen=True, kw_only=True)
class FileConfig:
    """The ``file`` exporter's settings.

    ``path`` defaults to ``otlpy-export.jsonl`` (the Collector has no default and requires it);
    the file is created at the first write. ``rotation`` is off unless the key is present;
    present but empty (``rotation:``) turns it on with the defaults, as in the Collector. After
    construction it is a :class:`RotationConfig` or None.
    """

    path: str = "otlpy-export.jsonl"
    append: bool = False
    # Any, so that the YAML decoder hands over null and mappings as they are (see __post_init__).
    rotation: Any = _ABSENT
    format: Literal["json", "proto"] = "json"
    compression: Literal["", "none", "zstd"] = ""
    flush_interval: Duration = 1.0
    group_by: GroupByConfig = field(default_factory=GroupByConfig)
    create_directory: bool = False
    directory_permissions: str = ""

    def __post_init__(self) -> None:
        raw = self.rotation
        problems: list[ConfigProblem] = []
        if raw is _ABSENT:
            value = None
        elif raw is None:
            value = RotationConfig()
        elif isinstance(raw, RotationConfig):
            value = raw
        else:
            value, problems = decode(RotationConfig, raw)
        object.__setattr__(self, "rotation", value)
        object.__setattr__(self, "_rotation_problems", problems)

    @property
    def compressed(self) -> bool:
        return self.compression == "zstd"

    def validate(self) -> list[ConfigProblem]:
        problems = [
            ConfigProblem(f"rotation.{p.path}" if p.path else "rotation", p.message)
            for p in getattr(self, "_rotation_problems", [])
        ]
        if not self.path:
            problems.append(ConfigProblem("path", "path must be non-empty"))
        if self.append and self.compressed:
            problems.append(
                ConfigProblem("append", "append and compression cannot be used together")
            )
        if self.append and self.rotation is not None:
            problems.append(ConfigProblem("append", "append and rotation cannot be used together"))
        if self.flush_interval < 0:
            problems.append(ConfigProblem("flush_interval", "must not be negative"))
        if self.group_by.enabled:
            parts = self.path.split("*")
            if len(parts) != 2:
                problems.append(
                    ConfigProblem("path", "must contain exactly one * when group_by is enabled")
                )
            elif not parts[0]:
                problems.append(
                    ConfigProblem("path", "must not start with * when group_by is enabled")
                )
            if not self.group_by.resource_attribute:
                problems.append(ConfigProblem("group_by.resource_attribute", "must not be empty"))
            if self.group_by.max_open_files < 1:
                problems.append(ConfigProblem("group_by.max_open_files", "must be at least 1"))
        if self.directory_permissions:
            if not self.create_directory:
                problems.append(
                    ConfigProblem("directory_permissions", "requires create_directory to be true")
                )
            elif not re.fullmatch(r"0?[0-7]{3}", self.directory_permissions):
                problems.append(
                    ConfigProblem("directory_permissions", "must be an octal mode such as 0755")
                )
        return problems

    @property
    def directory_mode(self) -> int:
        return int(self.directory_permissions or "0755", 8)


def _backup_name(path: Path, when: float, localtime: bool) -> Path:
    moment = dt.datetime.fromtimestamp(when, None if localtime else dt.UTC)
    stamp = moment.strftime(_BACKUP_TIME) + f".{moment.microsecond // 1000:03d}"
    return path.with_name(f"{path.stem}-{stamp}{path.suffix}")


def _backups(path: Path) -> list[tuple[float, Path]]:
    """Rotated copies of ``path``, newest first, with the time in their name."""
    pattern = re.compile(
        re.escape(path.stem)
        + r"-(\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d)\.(\d{3})"
        + re.escape(path.suffix)
    )
    found = []
    for candidate in path.parent.iterdir():
        match = pattern.fullmatch(candidate.name)
        if match is None:
            continue
        stamp = dt.datetime.strptime(match.group(1), _BACKUP_TIME).timestamp()
        found.append((stamp + int(match.group(2)) / 1000, candidate))
    found.sort(reverse=True)
    return found


class _FileWriter:
    """One output file: framing, compression and rotation. Only the worker thread uses it."""

    def __init__(self, path: Path, config: FileConfig, *, truncate: bool) -> None:
        self.path = path
        self._config = config
        self._rotation: RotationConfig | None = config.rotation
        self._zstd = zstandard.ZstdCompressor() if config.compressed else None
        # JSON is line-framed only when it is stored as text (the Collector does the same).
        self._lines = config.format == "json" and not config.compressed
        # Rotation continues an existing file, as the Collector's rotating writer does.
        mode = "ab" if (config.append or self._rotation or not truncate) else "wb"
        self._file: IO[bytes] = path.open(mode, buffering=_MIB)
        self._size = self._file.tell()

    def write(self, record: bytes) -> None:
        if self._lines:
            frame = record + b"\n"
        else:
            payload = self._zstd.compress(record) if self._zstd is not None else record
            frame = _LENGTH.pack(len(payload)) + payload
        rotation = self._rotation
        if rotation and self._size and self._size + len(frame) > rotation.max_megabytes * _MIB:
            self._rotate()
        self._file.write(frame)
        self._size += len(frame)

    def _rotate(self) -> None:
        assert self._rotation is not None
        self._file.close()
        when = time.time()
        target = _backup_name(self.path, when, self._rotation.localtime)
        while target.exists():  # two rotations within a millisecond must not overwrite
            when += 0.001
            target = _backup_name(self.path, when, self._rotation.localtime)
        self.path.replace(target)
        self._file = self.path.open("wb", buffering=_MIB)
        self._size = 0
        self._prune()

    def _prune(self) -> None:
        assert self._rotation is not None
        backups = _backups(self.path)
        doomed = []
        if self._rotation.max_backups:
            doomed += backups[self._rotation.max_backups :]
        if self._rotation.max_days:
            cutoff = time.time() - self._rotation.max_days * 86400
            doomed += [b for b in backups if b[0] < cutoff]
        for _, backup in doomed:
            with contextlib.suppress(FileNotFoundError):
                backup.unlink()

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        self._file.close()


class FileExporter:
    """Writes batches to files on a worker thread; the ``file`` exporter's ``push``."""

    def __init__(self, config: FileConfig, settings: Settings) -> None:
        self.config = config
        self.settings = settings
        self._executor: ThreadPoolExecutor | None = None
        self._writers: OrderedDict[Path, _FileWriter] = OrderedDict()
        self._opened: set[Path] = set()
        self._flusher: asyncio.Task[None] | None = None
        grouping = config.group_by.enabled
        self._prefix, _, self._suffix = config.path.partition("*") if grouping else ("", "", "")

    async def _run(self, fn: Any, *args: Any) -> Any:
        assert self._executor is not None
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def start(self, host: Host) -> None:
        """Check (or create) the directory and start the flusher; files open at first write."""
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="otlpy-file")
        try:
            await self._run(self._prepare)
        except OSError as exc:
            self._executor.shutdown(wait=False)
            self._executor = None
            raise PermanentError(f"cannot open {self.config.path!r}: {exc}") from exc
        if self.config.flush_interval > 0:
            self._flusher = asyncio.create_task(self._flush_every(self.config.flush_interval))

    def _prepare(self) -> None:
        target = Path(self._prefix if self.config.group_by.enabled else self.config.path)
        if self.config.create_directory:
            target.parent.mkdir(mode=self.config.directory_mode, parents=True, exist_ok=True)
        if self.config.group_by.enabled:
            return
        if not target.parent.is_dir():
            raise FileNotFoundError(f"no directory {str(target.parent)!r}")
        if target.is_dir():
            raise IsADirectoryError(f"{str(target)!r} is a directory")

    async def _flush_every(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self._run(self._flush_all)
            except OSError as exc:
                self.settings.logger.warning("cannot flush %s: %s", self.config.path, exc)

    def _flush_all(self) -> None:
        for writer in self._writers.values():
            writer.flush()

    async def shutdown(self) -> None:
        """Flush and close every file, then stop the worker thread."""
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
            self._flusher = None
        if self._executor is None:
            return
        try:
            await self._run(self._close_all)
        finally:
            self._executor.shutdown(wait=True)
            self._executor = None

    def _close_all(self) -> None:
        while self._writers:
            _, writer = self._writers.popitem(last=False)
            try:
                writer.close()
            except OSError as exc:
                # what was still buffered is lost; say so, and close the other files anyway
                self.settings.logger.error("cannot write the end of %s: %s", writer.path, exc)

    def _writer(self, path: Path) -> _FileWriter:
        writer = self._writers.get(path)
        if writer is not None:
            self._writers.move_to_end(path)
            return writer
        if len(self._writers) >= max(1, self.config.group_by.max_open_files):
            _, evicted = self._writers.popitem(last=False)
            try:
                evicted.close()
            except OSError as exc:
                self.settings.logger.error("cannot write the end of %s: %s", evicted.path, exc)
        if self.config.group_by.enabled:
            path.parent.mkdir(mode=self.config.directory_mode, parents=True, exist_ok=True)
        # A file is truncated the first time only: one reopened after eviction is continued.
        writer = _FileWriter(path, self.config, truncate=path not in self._opened)
        self._opened.add(path)
        self._writers[path] = writer
        return writer

    def _encode(self, message: Any) -> bytes:
        return (
            encode_request(message)
            if self.config.format == "json"
            else bytes(message.SerializeToString())
        )

    def _write(self, signal: Signal, raw: bytes | None, message: Any) -> int:
        """Write one batch (worker thread); returns the items dropped by group_by.

        ``raw`` is given without group_by, ``message`` with it.
        """
        if raw is not None:  # no group_by: the batch as it came, or as JSON made from its bytes
            record = protobuf_to_json(signal, raw) if self.config.format == "json" else raw
            writer = self._writer(Path(self.config.path))
            writer.write(record)
            if self.config.flush_interval == 0:
                writer.flush()
            return 0
        groups, dropped = self._split(signal, message)
        for segment, part in groups.items():
            path = self._group_path(segment)
            if path is None:
                dropped += count_items(signal, part)
                continue
            writer = self._writer(path)
            writer.write(self._encode(part))
            if self.config.flush_interval == 0:
                writer.flush()
        return dropped

    def _split(self, signal: Signal, message: Any) -> tuple[dict[str, Any], int]:
        attribute = self.config.group_by.resource_attribute
        field_name = _RESOURCES[signal]
        groups: dict[str, Any] = {}
        dropped = 0
        for resource in getattr(message, field_name):
            segment = None
            for kv in resource.resource.attributes:
                if kv.key == attribute and kv.value.WhichOneof("value") == "string_value":
                    segment = kv.value.string_value
                    break
            if not segment:
                single = request_type(signal)()
                getattr(single, field_name).append(resource)
                dropped += count_items(signal, single)
                continue
            if segment not in groups:
                groups[segment] = request_type(signal)()
            getattr(groups[segment], field_name).append(resource)
        return groups, dropped

    def _group_path(self, segment: str) -> Path | None:
        """The file for ``segment``, never outside the prefix; None when nothing is left of it."""
        prefix = self._prefix
        clean = os.path.normpath(prefix) + ("/" if prefix.endswith("/") else "")
        full = os.path.normpath(prefix + segment + self._suffix)
        if not full.startswith(clean):
            # "../x" would leave the prefix: keep it inside, as the Collector does
            inner = os.path.normpath("/" + segment + self._suffix).lstrip("/")
            if not inner:
                return None
            full = str(Path(prefix) / inner)
        return Path(full)

    async def push(self, batch: Batch) -> None:
        """Write one batch on the worker thread."""
        if self._executor is None:
            raise RetryableError("the file exporter is not started")
        need_message = self.config.group_by.enabled
        # The batch is read here, on the event loop, so that only this thread touches its cache.
        raw = None if need_message else batch.raw
        message = batch.message if need_message else None
        try:
            dropped = await self._run(self._write, batch.signal, raw, message)
        except OSError as exc:
            raise RetryableError(f"cannot write to {self.config.path!r}: {exc}") from exc
        if dropped:
            attribute = self.config.group_by.resource_attribute
            raise PartialSuccess(
                dropped, f"resources without a string {attribute!r} attribute were not written"
            )


def _records(data: bytes) -> Iterator[bytes]:
    """The records of a file: JSON lines, or length-prefixed (and maybe zstd) frames."""
    if data[:1] == b"{":
        for line in data.splitlines():
            if line.strip():
                yield line
        return
    pos = 0
    decompressor = zstandard.ZstdDecompressor()
    while pos < len(data):
        if pos + _LENGTH.size > len(data):
            raise PermanentError(f"truncated length prefix at byte {pos}")
        (size,) = _LENGTH.unpack_from(data, pos)
        pos += _LENGTH.size
        if pos + size > len(data):
            raise PermanentError(f"record at byte {pos} is cut short ({size} bytes announced)")
        payload = data[pos : pos + size]
        pos += size
        if payload.startswith(_ZSTD_MAGIC):
            stream = decompressor.decompressobj()
            try:
                payload = stream.decompress(payload)
            except zstandard.ZstdError as exc:
                raise PermanentError(f"corrupt zstd record: {exc}") from exc
            if not stream.eof:
                raise PermanentError(f"corrupt zstd record at byte {pos - size}: cut short")
        yield payload


def _signal_of(document: Any) -> Signal | None:
    """Which signal an OTLP JSON request carries, judged by its top-level key."""
    if isinstance(document, dict):
        for key, signal in _TOP_KEYS.items():
            if key in document:
                return signal
    return None


def read_file(path: str | os.PathLike[str], signal: Signal | None = None) -> list[Any]:
    """Read back what the file exporter wrote: the export requests, in order.

    JSON records say which signal they are; protobuf records do not, so ``signal`` is required
    for them. With ``signal`` given, JSON records of other signals are skipped (one file may hold
    every signal when the exporter serves several pipelines). ::

        for request in read_file("otlp.jsonl"):
            print(request.resource_spans[0].resource)
    """
    messages = []
    for record in _records(Path(path).read_bytes()):
        if record[:1] == b"{":
            try:
                document = orjson.loads(record)
            except orjson.JSONDecodeError as exc:
                raise PermanentError(f"invalid JSON record in {path}: {exc}") from exc
            found = _signal_of(document)
            if found is None:
                raise PermanentError(f"a JSON record in {path} is not an OTLP request")
            if signal is not None and found is not signal:
                continue
            messages.append(decode_request(found, record))
            continue
        if signal is None:
            raise ValueError("protobuf records do not say their signal: pass signal=")
        messages.append(Batch.decode(signal, record).message)
    return messages


def _create(settings: Settings, config: FileConfig) -> Exporter:
    writer = FileExporter(config, settings)
    return Exporter(
        settings,
        writer.push,
        timeout=0,
        retry=RetryConfig(enabled=False),
        start=writer.start,
        shutdown=writer.shutdown,
    )


factory = Factory(
    type="file",
    kind=Kind.EXPORTER,
    config=FileConfig,
    create=_create,
    description="writes OTLP JSON or protobuf to files, with rotation and zstd compression",
    stability="alpha",
)
