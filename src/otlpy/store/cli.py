"""``otlpy query``: traces, trace search and logs from the command line.

By default it asks a running otlpy over HTTP (``--url``, default ``http://localhost:16686``):
a running otlpy holds the store's lock, so only it can read the store. ``--data DIR`` reads a
store directly when no otlpy is running on it. ::

    otlpy query services
    otlpy query traces --service checkout --tag http.status_code=500 --lookback 2h
    otlpy query trace 4bf92f3577b34da6a3ce929d0e0e4736
    otlpy query logs --severity warn --text timeout --follow
"""

from __future__ import annotations

import argparse
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, TextIO

import orjson

__all__ = ["run"]

DEFAULT_URL = "http://localhost:16686"
_KINDS = ["unspecified", "internal", "server", "client", "producer", "consumer"]
_SEVERITIES = [(21, "FATAL"), (17, "ERROR"), (13, "WARN"), (9, "INFO"), (5, "DEBUG"), (1, "TRACE")]


class QueryError(Exception):
    """A query failed: unreachable server, bad parameter, unusable store."""


class Backend(Protocol):
    """Where the data comes from: a running otlpy's HTTP API, or a store directory."""

    def services(self) -> list[str]: ...

    def trace(self, trace_id: str) -> dict[str, Any] | None: ...

    def traces(self, params: Mapping[str, str]) -> list[dict[str, Any]]: ...

    def logs(self, params: Mapping[str, str]) -> list[dict[str, Any]]: ...

    def tail(self, cursor: int | None, params: Mapping[str, str]) -> dict[str, Any]: ...

    def close(self) -> None: ...


class HttpBackend:
    """Asks the ``otlpy_ui`` extension of a running otlpy."""

    def __init__(self, url: str, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def _get(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        query = urllib.parse.urlencode({k: v for k, v in (params or {}).items() if v})
        url = f"{self.url}{path}" + (f"?{query}" if query else "")
        try:
            with urllib.request.urlopen(url, timeout=self.timeout) as response:  # noqa: S310
                return orjson.loads(response.read())
        except urllib.error.HTTPError as exc:
            try:
                body = orjson.loads(exc.read())
                message = body["error"]["message"]
            except (orjson.JSONDecodeError, KeyError, TypeError):
                message = f"{exc.code} {exc.reason}"
            if exc.code == 404 and path.startswith("/api/otlpy/traces/"):
                return None
            raise QueryError(message) from exc
        except (urllib.error.URLError, OSError) as exc:
            raise QueryError(
                f"cannot reach otlpy at {self.url}: {getattr(exc, 'reason', exc)} "
                "(is it running? use --url, or --data DIR to read a store directly)"
            ) from exc

    def services(self) -> list[str]:
        found: list[str] = self._get("/api/services")["data"] or []
        return found

    def trace(self, trace_id: str) -> dict[str, Any] | None:
        body = self._get(f"/api/otlpy/traces/{urllib.parse.quote(trace_id)}")
        return None if body is None else dict(body["trace"])

    def traces(self, params: Mapping[str, str]) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self._get("/api/otlpy/traces", params)["traces"]
        return found

    def logs(self, params: Mapping[str, str]) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self._get("/api/otlpy/logs", params)["logs"]
        return found

    def tail(self, cursor: int | None, params: Mapping[str, str]) -> dict[str, Any]:
        query = dict(params)
        if cursor is not None:
            query["cursor"] = str(cursor)
            query["wait"] = "10"
        page: dict[str, Any] = self._get("/api/otlpy/logs/tail", query)
        return page

    def close(self) -> None:
        return None


class StoreBackend:
    """Reads a store directory directly (no otlpy may be running on it)."""

    def __init__(self, directory: Path) -> None:
        from otlpy.store import Store, StoreError

        if not (directory / "otlpy.duckdb").exists():
            raise QueryError(f"no otlpy store in {directory}")
        try:
            self.store = Store.open(directory)
        except StoreError as exc:
            raise QueryError(
                f"{exc}\nwhile otlpy runs, query it over HTTP instead: --url {DEFAULT_URL}"
            ) from exc

    def services(self) -> list[str]:
        from otlpy.store import queries

        return queries.services(self.store)

    def trace(self, trace_id: str) -> dict[str, Any] | None:
        from otlpy.store import queries

        try:
            found = queries.get_trace(self.store, trace_id)
        except ValueError as exc:
            raise QueryError(str(exc)) from exc
        return None if found is None else dict(found)

    def traces(self, params: Mapping[str, str]) -> list[dict[str, Any]]:
        from otlpy.extensions.ui._api import DEFAULT_TRACE_LIMIT
        from otlpy.store import queries
        from otlpy.store.queries import TraceQuery

        start, end = _window(params)
        minimum, maximum = (
            _duration_ns(params[k], k) if params.get(k) else None
            for k in ("minDuration", "maxDuration")
        )
        try:
            query = TraceQuery(
                service=params.get("service") or None,
                operation=params.get("operation") or None,
                tags=_tags(params.get("tags", "")),
                start_min=start,
                start_max=end,
                duration_min=minimum,
                duration_max=maximum,
                limit=int(params.get("limit") or DEFAULT_TRACE_LIMIT),
            )
        except ValueError as exc:
            raise QueryError(str(exc)) from exc
        return [dict(s) for s in queries.trace_summaries(self.store, query)]

    def _log_query(self, params: Mapping[str, str], *, timed: bool) -> Any:
        from otlpy.extensions.ui._api import SEVERITIES
        from otlpy.store.queries import LogQuery, parse_trace_id

        severity = params.get("severity", "").lower()
        if severity and not severity.isdigit() and severity not in SEVERITIES:
            raise QueryError(f"unknown severity {severity!r}: use one of {list(SEVERITIES)}")
        start, end = _window(params) if timed else (None, None)
        trace_id = params.get("trace_id") or None
        try:
            if trace_id is not None:
                parse_trace_id(trace_id)
            return LogQuery(
                service=params.get("service") or None,
                min_severity=(int(severity) if severity.isdigit() else SEVERITIES[severity])
                if severity
                else None,
                text=params.get("text") or None,
                attributes=_tags(params.get("attributes", "")),
                trace_id=trace_id,
                start=start,
                end=end,
                limit=int(params.get("limit") or 100),
            )
        except ValueError as exc:
            raise QueryError(str(exc)) from exc

    def logs(self, params: Mapping[str, str]) -> list[dict[str, Any]]:
        from otlpy.store import queries

        timed = not params.get("trace_id") or bool(params.get("lookback"))
        query = self._log_query(params, timed=timed)
        return [dict(r) for r in queries.search_logs(self.store, query)]

    def tail(self, cursor: int | None, params: Mapping[str, str]) -> dict[str, Any]:
        from otlpy.store import queries

        if cursor is not None:
            time.sleep(1.0)
        page = queries.logs_after(self.store, cursor, self._log_query(params, timed=False))
        return dict(page)

    def close(self) -> None:
        self.store.close()


def _duration_ns(text: str, name: str) -> int:
    from otlpy.extensions.ui._params import ParamError, parse_go_duration_ns

    try:
        return parse_go_duration_ns(text, name)
    except ParamError as exc:
        raise QueryError(str(exc)) from exc


def _window(params: Mapping[str, str]) -> tuple[int, int]:
    from otlpy.extensions.ui._params import ParamError, parse_lookback_ns

    end = time.time_ns()
    try:
        lookback = parse_lookback_ns(params.get("lookback", "") or "1h")
    except ParamError as exc:
        raise QueryError(str(exc)) from exc
    return end - (lookback or 3600 * 10**9), end


def _tags(text: str) -> dict[str, str]:
    from otlpy.extensions.ui._params import parse_logfmt

    try:
        return parse_logfmt(text)
    except ValueError as exc:
        raise QueryError(f"malformed tags {text!r}: {exc}") from exc


# -- output ----------------------------------------------------------------------------------


def _clock(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def _duration(ns: int) -> str:
    for size, unit in ((3.6e12, "h"), (6e10, "min"), (1e9, "s"), (1e6, "ms"), (1e3, "µs")):
        if ns >= size:
            return f"{ns / size:.3g} {unit}"
    return f"{ns} ns"


def _severity(number: int, text: str) -> str:
    for floor, name in _SEVERITIES:
        if number >= floor:
            return name
    return text.upper() or "-"


def _tree(spans: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Spans depth first, children by start time, with the tree drawn as a prefix."""
    ids = {s["span_id"] for s in spans}
    children: dict[str, list[dict[str, Any]]] = {}
    roots = []
    for span in sorted(spans, key=lambda s: s["start_time_unix_nano"]):
        parent = span["parent_span_id"]
        if parent and parent in ids and parent != span["span_id"]:
            children.setdefault(parent, []).append(span)
        else:
            roots.append(span)
    seen: set[str] = set()
    stack = [(span, "", "") for span in reversed(roots)]
    while stack:
        span, prefix, lead = stack.pop()
        if span["span_id"] in seen:
            continue
        seen.add(span["span_id"])
        yield prefix + lead, span
        kids = children.get(span["span_id"], [])
        inner = prefix + ("   " if lead in ("", "└─ ") else "│  ") if lead else prefix
        for i, child in reversed(list(enumerate(kids))):
            stack.append((child, inner, "└─ " if i == len(kids) - 1 else "├─ "))


def _errors(count: int) -> str:
    return f"  {count} error{'s' if count != 1 else ''}" if count else ""


def print_trace(trace: dict[str, Any], out: TextIO) -> None:
    spans = trace["spans"]
    start = min(s["start_time_unix_nano"] for s in spans)
    end = max(s["end_time_unix_nano"] for s in spans)
    errors = sum(1 for s in spans if s["status"]["code"] == 2)
    out.write(
        f"trace {trace['trace_id']}  {_duration(end - start)}  {len(spans)} spans"
        f"{_errors(errors)}  {_clock(start)}\n"
    )
    for prefix, span in _tree(spans):
        mark = (
            "  ✗ " + (span["status"]["message"] or "error") if span["status"]["code"] == 2 else ""
        )
        kind = _KINDS[span["kind"]] if 0 < span["kind"] < len(_KINDS) else ""
        out.write(
            f"  +{_duration(span['start_time_unix_nano'] - start):>9}  "
            f"{_duration(span['duration_nano']):>9}  {prefix}{span['service_name']}: "
            f"{span['name']}{f' [{kind}]' if kind else ''}{mark}\n"
        )


def print_summary(summary: dict[str, Any], out: TextIO) -> None:
    errors = summary["error_count"]
    out.write(
        f"{_clock(summary['start_time_unix_nano'])}  {_duration(summary['duration_nano']):>9}  "
        f"{summary['span_count']:>4} spans{_errors(errors):<11}  "
        f"{summary['root_service']}: {summary['root_name']}  {summary['trace_id']}\n"
    )


def print_log(record: dict[str, Any], out: TextIO) -> None:
    trace = f"  trace={record['trace_id']}" if record["trace_id"] else ""
    out.write(
        f"{_clock(record['timestamp'])}  "
        f"{_severity(record['severity_number'], record['severity_text']):<5}  "
        f"{record['service_name'] or '-'}  {record['body_text']}{trace}\n"
    )


# -- commands --------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    where = common.add_mutually_exclusive_group()
    where.add_argument(
        "--url", default=DEFAULT_URL, help=f"a running otlpy's UI address (default {DEFAULT_URL})"
    )
    where.add_argument(
        "--data", metavar="DIR", help="read this store directory directly (otlpy not running)"
    )
    common.add_argument("--json", action="store_true", help="print JSON (one object per line)")

    parser = argparse.ArgumentParser(
        prog="otlpy query",
        description="Query traces and logs kept by otlpy.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("::", 1)[1] if __doc__ else None,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    sub.add_parser("services", parents=[common], help="list the services that sent spans")

    trace = sub.add_parser("trace", parents=[common], help="show one trace by its id")
    trace.add_argument("trace_id")

    traces = sub.add_parser("traces", parents=[common], help="search traces")
    traces.add_argument("--service", "-s")
    traces.add_argument("--operation", "-o")
    traces.add_argument(
        "--tag", "-t", action="append", default=[], metavar="KEY=VALUE", help="repeatable"
    )
    traces.add_argument("--min-duration", metavar="DURATION", help="e.g. 100ms")
    traces.add_argument("--max-duration", metavar="DURATION", help="e.g. 2s")
    traces.add_argument("--lookback", "-l", default="1h", help="e.g. 15m, 6h, 2d (default 1h)")
    traces.add_argument("--limit", "-n", type=int, default=20)

    logs = sub.add_parser("logs", parents=[common], help="search logs, or follow new ones")
    logs.add_argument("--service", "-s")
    logs.add_argument("--severity", help="minimum: trace, debug, info, warn, error, fatal")
    logs.add_argument("--text", help="text in the message (case ignored)")
    logs.add_argument(
        "--attr", "-a", action="append", default=[], metavar="KEY=VALUE", help="repeatable"
    )
    logs.add_argument("--trace-id")
    logs.add_argument("--lookback", "-l", default="", help="e.g. 15m, 6h (default 1h)")
    logs.add_argument("--limit", "-n", type=int, default=100)
    logs.add_argument(
        "--follow", "-f", action="store_true", help="keep printing new records as they arrive"
    )
    return parser


def _logfmt(pairs: Sequence[str]) -> str:
    parts = []
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise QueryError(f"expected KEY=VALUE, got {pair!r}")
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        parts.append(f'{key}="{escaped}"')
    return " ".join(parts)


def _dump(value: Any, out: TextIO) -> None:
    out.write(orjson.dumps(value).decode() + "\n")


def _follow(backend: Backend, params: dict[str, str], args: argparse.Namespace, out: TextIO) -> int:
    cursor: int | None = None
    try:
        while True:
            page = backend.tail(cursor, params)
            for record in page["logs"]:
                _dump(record, out) if args.json else print_log(record, out)
            out.flush()
            cursor = page["cursor"]
    except KeyboardInterrupt:
        return 0


def _execute(backend: Backend, args: argparse.Namespace, out: TextIO) -> int:
    if args.command == "services":
        for name in backend.services():
            _dump(name, out) if args.json else out.write(f"{name}\n")
        return 0
    if args.command == "trace":
        found = backend.trace(args.trace_id)
        if found is None:
            raise QueryError(f"trace {args.trace_id} not found")
        _dump(found, out) if args.json else print_trace(found, out)
        return 0
    if args.command == "traces":
        params = {
            "service": args.service or "",
            "operation": args.operation or "",
            "tags": _logfmt(args.tag),
            "minDuration": args.min_duration or "",
            "maxDuration": args.max_duration or "",
            "lookback": args.lookback,
            "limit": str(args.limit),
        }
        for summary in backend.traces(params):
            _dump(summary, out) if args.json else print_summary(summary, out)
        return 0
    params = {
        "service": args.service or "",
        "severity": args.severity or "",
        "text": args.text or "",
        "attributes": _logfmt(args.attr),
        "trace_id": args.trace_id or "",
        "lookback": args.lookback,
        "limit": str(args.limit),
    }
    if args.follow:
        return _follow(backend, params, args, out)
    # newest first from the API; printed oldest first, as a log reads
    for record in reversed(backend.logs(params)):
        _dump(record, out) if args.json else print_log(record, out)
    return 0


def run(argv: Sequence[str], out: TextIO | None = None) -> int:
    """Run ``otlpy query ARGV``; return the exit code (0 ok, 1 failed, 2 usage)."""
    out = sys.stdout if out is None else out
    try:
        args = _parser().parse_args(list(argv))
    except SystemExit as exc:
        return int(exc.code or 0)
    try:
        backend: Backend = (
            StoreBackend(Path(args.data).expanduser()) if args.data else HttpBackend(args.url)
        )
    except QueryError as exc:
        print(f"otlpy query: {exc}", file=sys.stderr)
        return 1
    try:
        return _execute(backend, args, out)
    except QueryError as exc:
        print(f"otlpy query: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        return 0
    finally:
        backend.close()
