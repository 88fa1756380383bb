"""The file exporter: formats, compression, rotation, grouping, and reading files back."""

from __future__ import annotations

import asyncio
import datetime as dt
import struct
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import zstandard
from exporter_testkit import (
    batch_of,
    counter,
    logs_request,
    make_settings,
    sample_batches,
    traces_request,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from otlpy.component import Kind, find_factory
from otlpy.config.decode import decode
from otlpy.errors import PermanentError, RetryableError
from otlpy.exporterhelper import Exporter
from otlpy.exporters.file import FileConfig, FileExporter, RotationConfig, factory, read_file
from otlpy.pdata import Batch, Signal, count_items
from otlpy.telemetry import SelfTelemetry


@pytest.fixture
async def make_exporter() -> AsyncIterator[Any]:
    made: list[Exporter] = []

    async def make(cfg: FileConfig, telemetry: SelfTelemetry | None = None) -> Exporter:
        exporter: Exporter = factory.create(make_settings("file", telemetry), cfg)
        await exporter.start(None)  # type: ignore[arg-type]
        made.append(exporter)
        return exporter

    yield make
    for exporter in made:
        await exporter.shutdown()


def problems_of(data: dict[str, Any]) -> list[str]:
    _, problems = decode(FileConfig, data)
    return [str(p) for p in problems]


def grouped_traces(*services: str | None) -> Batch:
    """One request with a resource per entry; None leaves the path attribute out."""
    request = ExportTraceServiceRequest()
    for i, service in enumerate(services):
        part = traces_request(spans=i + 1, service=f"svc{i}")
        if service is not None:
            kv = part.resource_spans[0].resource.attributes.add()
            kv.key, kv.value.string_value = "fileexporter.path_segment", service
        request.resource_spans.extend(part.resource_spans)
    return batch_of(Signal.TRACES, request)


# --- configuration ---------------------------------------------------------------------------


def test_registered() -> None:
    assert find_factory(Kind.EXPORTER, "file") is factory


def test_rotation_is_off_unless_the_key_is_present() -> None:
    assert decode(FileConfig, {"path": "x"})[0].rotation is None
    assert decode(FileConfig, {"path": "x", "rotation": None})[0].rotation == RotationConfig()
    cfg = decode(FileConfig, {"path": "x", "rotation": {"max_megabytes": 5}})[0]
    assert cfg.rotation == RotationConfig(max_megabytes=5)
    assert FileConfig(path="x", rotation=RotationConfig(max_days=2)).rotation.max_days == 2


def test_every_problem_is_reported() -> None:
    assert problems_of({}) == []
    assert problems_of({"path": ""}) == ["path: path must be non-empty"]
    found = problems_of(
        {
            "path": "out.json",
            "append": True,
            "compression": "zstd",
            "rotation": {"max_megabytes": 0, "max_backups": -1, "nope": 1},
            "flush_interval": "-1s",
            "directory_permissions": "0755",
            "format": "xml",
        }
    )
    for prefix in (
        "append: append and compression",
        "append: append and rotation",
        "rotation.max_megabytes: must be positive",
        "rotation.max_backups:",
        "rotation.nope: unknown key",
        "flush_interval:",
        "directory_permissions: requires create_directory",
        "format: must be one of",
    ):
        assert any(p.startswith(prefix) for p in found), (prefix, found)


@pytest.mark.parametrize(
    ("path", "group_by", "message"),
    [
        ("out.json", {"enabled": True}, "path: must contain exactly one *"),
        ("*.json", {"enabled": True}, "path: must not start with *"),
        ("d/*.json", {"enabled": True, "resource_attribute": ""}, "group_by.resource_attribute"),
        ("d/*.json", {"enabled": True, "max_open_files": 0}, "group_by.max_open_files"),
    ],
)
def test_group_by_problems(path: str, group_by: dict[str, Any], message: str) -> None:
    assert any(p.startswith(message) for p in problems_of({"path": path, "group_by": group_by}))


def test_directory_permissions_must_be_octal() -> None:
    found = problems_of({"path": "x", "create_directory": True, "directory_permissions": "rwx"})
    assert found == ["directory_permissions: must be an octal mode such as 0755"]
    assert (
        problems_of({"path": "x", "create_directory": True, "directory_permissions": "700"}) == []
    )


# --- formats ---------------------------------------------------------------------------------


async def test_json_lines_round_trip(tmp_path: Path, make_exporter: Any) -> None:
    path = tmp_path / "out.jsonl"
    telemetry = SelfTelemetry()
    exporter = await make_exporter(FileConfig(path=str(path)), telemetry)
    batches = sample_batches()
    for batch in batches.values():
        await exporter.consume(batch)
    await exporter.shutdown()
    lines = path.read_bytes().splitlines()
    assert len(lines) == 3
    first = orjson.loads(lines[0])
    assert first["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["traceId"] == (
        bytes(range(16)).hex()
    )
    assert read_file(path) == [b.message for b in batches.values()]
    assert read_file(path, Signal.LOGS) == [batches[Signal.LOGS].message]
    assert counter(telemetry, "exporter_sent_spans", "file") == 3


async def test_proto_is_length_prefixed_request_bytes(tmp_path: Path, make_exporter: Any) -> None:
    path = tmp_path / "out.bin"
    exporter = await make_exporter(FileConfig(path=str(path), format="proto"))
    batch = batch_of(Signal.TRACES, traces_request())
    await exporter.consume(batch)
    await exporter.consume(batch)
    await exporter.shutdown()
    frame = struct.pack(">I", len(batch.raw)) + batch.raw
    assert path.read_bytes() == frame * 2
    assert read_file(path, Signal.TRACES) == [batch.message, batch.message]
    with pytest.raises(ValueError, match="signal"):
        read_file(path)


@pytest.mark.parametrize("format_", ["json", "proto"])
async def test_zstd_records_are_framed_and_compressed(
    tmp_path: Path, make_exporter: Any, format_: str
) -> None:
    path = tmp_path / "out.zst"
    exporter = await make_exporter(FileConfig(path=str(path), format=format_, compression="zstd"))
    batch = batch_of(Signal.LOGS, logs_request(records=50))
    await exporter.consume(batch)
    await exporter.shutdown()
    data = path.read_bytes()
    (size,) = struct.unpack(">I", data[:4])
    assert len(data) == 4 + size
    plain = zstandard.ZstdDecompressor().decompressobj().decompress(data[4:])
    assert plain == batch.raw if format_ == "proto" else plain.startswith(b'{"resourceLogs"')
    assert read_file(path, Signal.LOGS) == [batch.message]


@pytest.mark.parametrize(("append", "kept"), [(False, 1), (True, 2)])
async def test_existing_file_is_truncated_unless_append(
    tmp_path: Path, make_exporter: Any, append: bool, kept: int
) -> None:
    path = tmp_path / "out.jsonl"
    for _ in range(2):
        exporter = await make_exporter(FileConfig(path=str(path), append=append))
        await exporter.consume(batch_of(Signal.LOGS, logs_request()))
        await exporter.shutdown()
    assert len(read_file(path)) == kept


async def test_writes_are_buffered_until_flushed(tmp_path: Path, make_exporter: Any) -> None:
    path = tmp_path / "out.jsonl"
    exporter = await make_exporter(FileConfig(path=str(path), flush_interval=3600.0))
    await exporter.consume(batch_of(Signal.LOGS, logs_request()))
    assert path.read_bytes() == b""
    await exporter.shutdown()
    assert len(read_file(path)) == 1


async def test_flush_interval_zero_writes_through(tmp_path: Path, make_exporter: Any) -> None:
    path = tmp_path / "out.jsonl"
    exporter = await make_exporter(FileConfig(path=str(path), flush_interval=0.0))
    await exporter.consume(batch_of(Signal.LOGS, logs_request()))
    assert len(read_file(path)) == 1


async def test_periodic_flush(tmp_path: Path, make_exporter: Any) -> None:
    path = tmp_path / "out.jsonl"
    exporter = await make_exporter(FileConfig(path=str(path), flush_interval=0.02))
    await exporter.consume(batch_of(Signal.LOGS, logs_request()))
    for _ in range(500):
        if path.stat().st_size:
            break
        await asyncio.sleep(0.01)
    assert len(read_file(path)) == 1


# --- rotation --------------------------------------------------------------------------------


def all_spans(path: Path) -> int:
    files = sorted(path.parent.glob(f"{path.stem}*{path.suffix}"))
    return sum(count_items(Signal.TRACES, m) for f in files for m in read_file(f, Signal.TRACES))


async def test_rotation_keeps_every_span(tmp_path: Path, make_exporter: Any) -> None:
    path = tmp_path / "spans.bin"
    rotation = RotationConfig(max_megabytes=1)
    exporter = await make_exporter(FileConfig(path=str(path), format="proto", rotation=rotation))
    batch = batch_of(Signal.TRACES, traces_request(spans=30, attribute_size=10_000))  # ~300 KB
    for _ in range(8):
        await exporter.consume(batch)
    await exporter.shutdown()
    backups = sorted(tmp_path.glob("spans-*.bin"))
    assert len(backups) >= 2
    for backup in backups:
        assert backup.stat().st_size <= 1024 * 1024
        stamp = backup.stem.removeprefix("spans-")
        dt.datetime.strptime(stamp, "%Y-%m-%dT%H-%M-%S.%f")  # the Collector's backup names
    assert all_spans(path) == 8 * 30


async def test_rotation_prunes_backups(tmp_path: Path, make_exporter: Any) -> None:
    path = tmp_path / "spans.bin"
    old = tmp_path / "spans-2001-01-01T00-00-00.000.bin"
    old.write_bytes(b"")
    rotation = RotationConfig(max_megabytes=1, max_backups=2, max_days=30)
    exporter = await make_exporter(FileConfig(path=str(path), format="proto", rotation=rotation))
    batch = batch_of(Signal.TRACES, traces_request(spans=30, attribute_size=10_000))
    for _ in range(12):
        await exporter.consume(batch)
    await exporter.shutdown()
    backups = sorted(tmp_path.glob("spans-*.bin"))
    assert len(backups) == 2
    assert not old.exists()


async def test_rotation_continues_an_existing_file(tmp_path: Path, make_exporter: Any) -> None:
    path = tmp_path / "out.jsonl"
    for _ in range(2):
        exporter = await make_exporter(FileConfig(path=str(path), rotation=RotationConfig()))
        await exporter.consume(batch_of(Signal.LOGS, logs_request()))
        await exporter.shutdown()
    assert len(read_file(path)) == 2


# --- group_by --------------------------------------------------------------------------------


async def test_group_by_writes_a_file_per_attribute_value(
    tmp_path: Path, make_exporter: Any
) -> None:
    telemetry = SelfTelemetry()
    cfg = decode(
        FileConfig, {"path": str(tmp_path / "by" / "*.jsonl"), "group_by": {"enabled": True}}
    )[0]
    exporter = await make_exporter(cfg, telemetry)
    # spans: a=1, b=2, (none)=3, a=4
    await exporter.consume(grouped_traces("a", "b", None, "a"))
    await exporter.shutdown()
    assert sorted(p.name for p in (tmp_path / "by").iterdir()) == ["a.jsonl", "b.jsonl"]
    (a,) = read_file(tmp_path / "by" / "a.jsonl")
    assert [len(rs.scope_spans[0].spans) for rs in a.resource_spans] == [1, 4]
    assert counter(telemetry, "exporter_sent_spans", "file") == 7
    assert counter(telemetry, "exporter_send_failed_spans", "file") == 3


async def test_group_by_stays_inside_the_prefix(tmp_path: Path, make_exporter: Any) -> None:
    telemetry = SelfTelemetry()
    cfg = decode(FileConfig, {"path": str(tmp_path / "root" / "*"), "group_by": {"enabled": True}})
    exporter = await make_exporter(cfg[0], telemetry)
    # spans: escape=1, ok=2, ..=3 (nothing is left of "..": dropped)
    await exporter.consume(grouped_traces("../../escape", "sub/dir/ok", ".."))
    await exporter.shutdown()
    written = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert written == ["root/escape", "root/sub/dir/ok"]
    assert counter(telemetry, "exporter_send_failed_spans", "file") == 3


async def test_group_by_reopens_evicted_files_without_losing_data(
    tmp_path: Path, make_exporter: Any
) -> None:
    cfg = decode(
        FileConfig,
        {
            "path": str(tmp_path / "*.bin"),
            "format": "proto",
            "group_by": {"enabled": True, "max_open_files": 1},
        },
    )[0]
    exporter = await make_exporter(cfg)
    for service in ("a", "b", "a", "b", "a"):
        await exporter.consume(grouped_traces(service))
    await exporter.shutdown()
    assert len(read_file(tmp_path / "a.bin", Signal.TRACES)) == 3
    assert len(read_file(tmp_path / "b.bin", Signal.TRACES)) == 2


# --- files and errors ------------------------------------------------------------------------


async def test_create_directory(tmp_path: Path, make_exporter: Any) -> None:
    path = tmp_path / "a" / "b" / "out.jsonl"
    exporter = await make_exporter(
        FileConfig(path=str(path), create_directory=True, directory_permissions="0700")
    )
    await exporter.consume(batch_of(Signal.LOGS, logs_request()))
    await exporter.shutdown()
    assert (path.parent.stat().st_mode & 0o777) == 0o700
    assert len(read_file(path)) == 1


@pytest.mark.parametrize(("where", "message"), [("no/x", "no directory"), (".", "is a directory")])
async def test_unusable_path_fails_start(tmp_path: Path, where: str, message: str) -> None:
    exporter = factory.create(make_settings("file"), FileConfig(path=str(tmp_path / where)))
    with pytest.raises(PermanentError, match=message):
        await exporter.start(None)
    await exporter.shutdown()


async def test_the_file_is_created_at_the_first_write(tmp_path: Path, make_exporter: Any) -> None:
    path = tmp_path / "out.jsonl"
    exporter = await make_exporter(FileConfig(path=str(path)))
    assert not path.exists()
    await exporter.consume(batch_of(Signal.LOGS, logs_request()))
    await exporter.shutdown()
    assert len(read_file(path)) == 1


async def test_a_full_disk_is_retryable(make_exporter: Any) -> None:
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full here")
    exporter = await make_exporter(FileConfig(path="/dev/full", flush_interval=0.0))
    with pytest.raises(RetryableError, match="cannot write"):
        await exporter.consume(batch_of(Signal.LOGS, logs_request()))


async def test_push_before_start_is_retryable() -> None:
    writer = FileExporter(FileConfig(path="x"), make_settings("file"))
    with pytest.raises(RetryableError, match="not started"):
        await writer.push(batch_of(Signal.LOGS, logs_request()))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x00\x00", "truncated length prefix"),
        (b"\x00\x00\x00\x09abc", "cut short"),
        (b"\x00\x00\x00\x06" + b"\x28\xb5\x2f\xfd\x00\x00", "corrupt zstd"),
        (b'{"resourceSpans": [}\n', "invalid JSON"),
        (b'{"somethingElse": []}\n', "not an OTLP request"),
        (b'{"resourceSpans": [{"resource": 5}]}\n', "invalid traces export request"),
    ],
)
def test_read_file_reports_damage(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad"
    path.write_bytes(content)
    with pytest.raises(PermanentError, match=message):
        read_file(path, Signal.TRACES)


def test_read_file_of_an_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty"
    path.write_bytes(b"")
    assert read_file(path) == []
