"""``otlpy queue inspect DIR``: what a persistent sending queue holds, read without changing it.

``DIR`` is a queue directory, or a ``file_storage`` directory holding several (one per
exporter). The report lists each queue's segment files, the records waiting (with their items
and bytes), what was acknowledged, and any damage found. It reads while a collector runs, takes
no lock and writes nothing. Exit status: 0 when every queue is intact, 1 when damage was found,
2 on a usage error or a missing directory.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, TextIO

from otlpy.exporterhelper._wal import SEGMENT_SUFFIX, ScanReport, iter_records, scan
from otlpy.exporterhelper.persistent_batch_queue import decode_record

__all__ = ["find_queues", "run"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="otlpy queue", description="Look into persistent sending queues."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    inspect = commands.add_parser(
        "inspect", help="report what a queue directory (or a file_storage directory) holds"
    )
    inspect.add_argument("directory", help="a queue directory or a file_storage directory")
    inspect.add_argument("--json", action="store_true", help="print the report as JSON")
    inspect.add_argument(
        "--records",
        type=int,
        default=0,
        metavar="N",
        help="also list the first N waiting records (id, signal, items, bytes)",
    )
    return parser


def _is_queue(path: Path) -> bool:
    return (
        (path / "LOCK").exists()
        or (path / "state").exists()
        or any(p.suffix == SEGMENT_SUFFIX for p in path.iterdir())
    )


def find_queues(directory: Path) -> list[Path]:
    """The queue directories at ``directory``: itself, or its sub-directories that are queues."""
    if _is_queue(directory):
        return [directory]
    return sorted(p for p in directory.iterdir() if p.is_dir() and _is_queue(p))


def _records(directory: Path, limit: int) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = []
    if limit <= 0:
        return listed
    for rid, items, record in iter_records(directory):
        entry: dict[str, Any] = {"id": rid, "items": items, "bytes": len(record)}
        try:
            entry["signal"] = decode_record(record).signal.value
        except ValueError as exc:
            entry["signal"] = f"unreadable ({exc})"
        listed.append(entry)
        if len(listed) >= limit:
            break
    return listed


def _damaged(report: ScanReport) -> bool:
    return not report.state_ok or any(s.corrupt_bytes for s in report.segments)


def _print_text(report: ScanReport, records: list[dict[str, Any]], out: TextIO) -> None:
    print(f"queue {report.directory}", file=out)
    print(
        f"  waiting: {report.live_records} records, {report.live_items} items, "
        f"{report.live_bytes} bytes",
        file=out,
    )
    if report.first_live_id is not None:
        print(f"  ids: {report.first_live_id} .. {report.last_live_id}", file=out)
    print(
        f"  acknowledged but not yet removed: {report.acked_records} records; "
        f"next id {report.next_id}",
        file=out,
    )
    print(
        f"  on disk: {report.disk_bytes} bytes in {len(report.segments)} segment files",
        file=out,
    )
    for seg in report.segments:
        notes = []
        if seg.corrupt_bytes:
            notes.append(f"{seg.corrupt_bytes} damaged bytes")
        if seg.torn_tail:
            notes.append(f"interrupted last write of {seg.torn_tail} bytes")
        extra = f" ({', '.join(notes)})" if notes else ""
        print(
            f"    {seg.name}: {seg.size} bytes, {seg.records} records, {seg.live} waiting{extra}",
            file=out,
        )
    if report.duplicate_records:
        print(f"  {report.duplicate_records} copies left by compaction (ignored)", file=out)
    if not report.state_ok:
        print("  checkpoint damaged: acknowledged records may be delivered again", file=out)
    for entry in records:
        print(
            f"  record {entry['id']}: {entry['signal']}, {entry['items']} items, "
            f"{entry['bytes']} bytes",
            file=out,
        )


def run(argv: Sequence[str], out: TextIO | None = None) -> int:
    """Run ``otlpy queue ...`` with ``argv`` (the words after ``queue``); the exit status."""
    out = out or sys.stdout
    try:
        args = _parser().parse_args(list(argv))
    except SystemExit as exc:
        return int(exc.code or 0)
    directory = Path(args.directory)
    if not directory.is_dir():
        print(f"otlpy queue inspect: no directory at {directory}", file=sys.stderr)
        return 2
    queues = find_queues(directory)
    if not queues:
        print(f"otlpy queue inspect: no persistent queue in {directory}", file=sys.stderr)
        return 2
    damaged = False
    reports = []
    for path in queues:
        report = scan(path)
        damaged = damaged or _damaged(report)
        records = _records(path, args.records)
        if args.json:
            reports.append({**asdict(report), "records": records})
        else:
            _print_text(report, records, out)
    if args.json:
        json.dump(reports, out, indent=2)
        out.write("\n")
    return 1 if damaged else 0
