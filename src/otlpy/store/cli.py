"""``otlpy query``: traces, trace search, logs and metrics from the command line.

By default it asks a running otlpy over HTTP (``--url``, default ``http://localhost:16686``):
a running otlpy holds the store's lock, so only it can read the store. ``--data DIR`` reads a
store directly when no otlpy is running on it. Both give the same answers: the store is asked
through the same parameter parsing as the HTTP API. ::

    otlpy query services
    otlpy query traces --service checkout --tag http.status_code=500 --lookback 2h
    otlpy query trace 4bf92f3577b34da6a3ce929d0e0e4736
    otlpy query logs --severity warn --text timeout --follow
    otlpy query metrics
    otlpy query metrics http.server.request.duration --lookback 6h
"""

from __future__ import annotations

import argparse
import sys
import textwrap
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn, Protocol, TextIO, TypeVar

import orjson

__all__ = ["run"]

DEFAULT_URL = "http://localhost:16686"
_KINDS = ["unspecified", "internal", "server", "client", "producer", "consumer"]
_SEVERITIES = [(21, "FATAL"), (17, "ERROR"), (13, "WARN"), (9, "INFO"), (5, "DEBUG"), (1, "TRACE")]
_SEVERITY_NAMES = ("trace", "debug", "info", "warn", "warning", "error", "fatal")
_HISTOGRAM_TYPES = ("histogram", "exponential_histogram", "summary")
_AGGREGATIONS = ("avg", "sum", "min", "max", "count", "rate")
# what a --limit may be: DuckDB takes a 64-bit LIMIT, the API caps it far lower anyway
_MAX_LIMIT = 1_000_000

T = TypeVar("T")


class QueryError(Exception):
    """A query failed: unreachable server, bad parameter, unusable store."""


class Backend(Protocol):
    """Where the data comes from: a running otlpy's HTTP API, or a store directory.

    Parameters are those of the ``/api/otlpy`` endpoints (docs/api.md), as strings.
    """

    def services(self) -> list[str]: ...

    def trace(self, trace_id: str) -> dict[str, Any] | None: ...

    def traces(self, params: Mapping[str, str]) -> list[dict[str, Any]]: ...

    def logs(self, params: Mapping[str, str]) -> list[dict[str, Any]]: ...

    def tail(self, cursor: int | None, params: Mapping[str, str]) -> dict[str, Any]: ...

    def metrics(self) -> list[dict[str, Any]]: ...

    def series(self, params: Mapping[str, str]) -> dict[str, Any]: ...

    def histogram(self, params: Mapping[str, str]) -> dict[str, Any]: ...

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
        except orjson.JSONDecodeError as exc:
            raise QueryError(f"{self.url} did not answer with JSON: is it otlpy?") from exc

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

    def metrics(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self._get("/api/otlpy/metrics")["metrics"]
        return found

    def series(self, params: Mapping[str, str]) -> dict[str, Any]:
        body: dict[str, Any] = self._get("/api/otlpy/metrics/series", params)
        return body

    def histogram(self, params: Mapping[str, str]) -> dict[str, Any]:
        body: dict[str, Any] = self._get("/api/otlpy/metrics/histogram", params)
        return body

    def close(self) -> None:
        return None


class StoreBackend:
    """Reads a store directory directly (no otlpy may be running on it).

    Parameters go through the HTTP API's own parsing, so both backends answer alike.
    """

    def __init__(self, directory: Path) -> None:
        from otlpy.store import Store, StoreError, StoreLockedError

        if not (directory / "otlpy.duckdb").is_file():
            raise QueryError(f"no otlpy store in {directory} (it has no otlpy.duckdb)")
        try:
            self.store = Store.open(directory)
        except StoreLockedError as exc:
            raise QueryError(
                f"{exc}\nwhile otlpy runs, query it over HTTP instead: --url {DEFAULT_URL}"
            ) from exc
        except StoreError as exc:
            raise QueryError(str(exc)) from exc

    def _ask(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(store, ...)`` with parameter and store failures as :class:`QueryError`."""
        from otlpy.store import StoreError

        try:
            return fn(self.store, *args, **kwargs)
        except (StoreError, ValueError) as exc:  # ParamError is a ValueError
            raise QueryError(str(exc)) from exc

    def services(self) -> list[str]:
        from otlpy.store import queries

        return self._ask(queries.services)

    def trace(self, trace_id: str) -> dict[str, Any] | None:
        from otlpy.store import queries

        found = self._ask(queries.get_trace, trace_id)
        return None if found is None else dict(found)

    def traces(self, params: Mapping[str, str]) -> list[dict[str, Any]]:
        from otlpy.extensions.ui import UIConfig
        from otlpy.extensions.ui._api import trace_search
        from otlpy.store import queries

        query = self._ask(lambda _, p: trace_search(p, UIConfig().max_traces), params)
        return [dict(s) for s in self._ask(queries.trace_summaries, query)]

    def logs(self, params: Mapping[str, str]) -> list[dict[str, Any]]:
        from otlpy.extensions.ui._api import log_query, log_window
        from otlpy.store import queries

        def search(store: Any, p: Mapping[str, str]) -> list[Any]:
            start, end = log_window(p)
            return queries.search_logs(store, log_query(p, start=start, end=end))

        return [dict(r) for r in self._ask(search, params)]

    def tail(self, cursor: int | None, params: Mapping[str, str]) -> dict[str, Any]:
        from otlpy.extensions.ui._api import log_query
        from otlpy.store import queries

        if cursor is not None:
            time.sleep(1.0)
        query = self._ask(lambda _, p: log_query(p, start=None, end=None), params)
        return dict(self._ask(queries.logs_after, cursor, query))

    def metrics(self) -> list[dict[str, Any]]:
        from otlpy.store import queries

        return [dict(m) for m in self._ask(queries.metric_names)]

    def series(self, params: Mapping[str, str]) -> dict[str, Any]:
        from otlpy.extensions.ui._api import series_args, series_body
        from otlpy.store import queries

        args = self._ask(lambda _, p: series_args(p), params)
        return series_body(args, self._ask(queries.metric_series, **args))

    def histogram(self, params: Mapping[str, str]) -> dict[str, Any]:
        from otlpy.extensions.ui._api import histogram_args
        from otlpy.store import queries

        args = self._ask(lambda _, p: histogram_args(p), params)
        found = dict(self._ask(queries.metric_histogram, **args))
        return {**found, "start": args["start"], "end": args["end"], "step": args["step"]}

    def close(self) -> None:
        self.store.close()


# -- option values: checked as they are parsed, so an error names the option typed ------------


def _lookback(text: str) -> str:
    from otlpy.extensions.ui._params import ParamError, parse_lookback_ns

    try:
        parse_lookback_ns(text)
    except ParamError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a duration such as 15m, 6h or 2d"
        ) from None
    return text


def _duration_value(text: str) -> str:
    from otlpy.extensions.ui._params import ParamError, parse_go_duration_ns

    try:
        positive = parse_go_duration_ns(text, "") > 0
    except ParamError:
        positive = False
    if not positive:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration such as 250ms, 1.5s or 2m")
    return text


def _limit(text: str) -> str:
    if not text.strip().isdigit() or not 1 <= int(text) <= _MAX_LIMIT:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number from 1 to {_MAX_LIMIT}")
    return str(int(text))


def _pair(text: str) -> str:
    key, sep, _ = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return text


def _severity(text: str) -> str:
    if not text.isdigit() and text.lower() not in _SEVERITY_NAMES:
        raise argparse.ArgumentTypeError(
            f"unknown severity {text!r}: use a number (1-24) or trace, debug, info, warn, "
            "error, fatal"
        )
    return text.lower()


def _trace_id(text: str) -> str:
    from otlpy.store.queries import parse_trace_id

    try:
        return parse_trace_id(text).hex()
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _quantiles(text: str) -> str:
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        values = [-1.0]
    if not all(0 <= v <= 1 for v in values):
        raise argparse.ArgumentTypeError(
            f"expected numbers from 0 to 1 separated by commas (e.g. 0.5,0.99), got {text!r}"
        )
    return text


# -- output ----------------------------------------------------------------------------------


def _clock(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def _duration(ns: int) -> str:
    for size, unit in ((3.6e12, "h"), (6e10, "min"), (1e9, "s"), (1e6, "ms"), (1e3, "µs")):
        if ns >= size:
            return f"{ns / size:.3g} {unit}"
    return f"{ns} ns"


def _count(count: int, noun: str) -> str:
    """``1 span``, ``2 spans``."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.6g}"


def _severity_name(number: int, text: str) -> str:
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
    return f"  {_count(count, 'error')}" if count else ""


def print_trace(trace: dict[str, Any], out: TextIO) -> None:
    spans = trace["spans"]
    start = min(s["start_time_unix_nano"] for s in spans)
    end = max(s["end_time_unix_nano"] for s in spans)
    errors = sum(1 for s in spans if s["status"]["code"] == 2)
    out.write(
        f"trace {trace['trace_id']}  {_duration(end - start)}  {_count(len(spans), 'span')}"
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
    count = summary["span_count"]
    out.write(
        f"{_clock(summary['start_time_unix_nano'])}  {_duration(summary['duration_nano']):>9}  "
        f"{count:>4} {'span' if count == 1 else 'spans':<5}{_errors(summary['error_count']):<11}  "
        f"{summary['root_service']}: {summary['root_name']}  {summary['trace_id']}\n"
    )


def print_log(record: dict[str, Any], out: TextIO) -> None:
    trace = f"  trace={record['trace_id']}" if record["trace_id"] else ""
    out.write(
        f"{_clock(record['timestamp'])}  "
        f"{_severity_name(record['severity_number'], record['severity_text']):<5}  "
        f"{record['service_name'] or '-'}  {record['body_text']}{trace}\n"
    )


def _kind(metric: Mapping[str, Any]) -> str:
    details = [metric["temporality"]] if metric["temporality"] else []
    if metric["type"] == "sum" and metric["monotonic"]:
        details.append("monotonic")
    kind: str = metric["type"]
    return kind + (f" ({', '.join(details)})" if details else "")


def print_metric_list(metrics: list[dict[str, Any]], out: TextIO) -> None:
    rows = [(m["name"], _kind(m), m["unit"] or "-", m["description"]) for m in metrics]
    widths = [max((len(row[i]) for row in rows), default=0) for i in range(3)]
    for name, kind, unit, description in rows:
        line = f"{name:<{widths[0]}}  {kind:<{widths[1]}}  {unit:<{widths[2]}}  {description}"
        out.write(line.rstrip() + "\n")


def _span(body: Mapping[str, Any]) -> str:
    return (
        f"{_clock(body['start'])} to {_clock(body['end'])}, "
        f"every {_duration(body['step'])}".replace(".000", "")
    )


def print_series(metric: Mapping[str, Any], body: Mapping[str, Any], out: TextIO) -> None:
    aggregation = body["aggregation"]
    what = "rate per second" if aggregation == "rate" else aggregation
    out.write(
        f"{metric['name']}  {_kind(metric)}  {metric['unit'] or '-'}  {what}, {_span(body)}\n"
    )
    if not body["series"]:
        out.write("  no points in this time range\n")
    for series in body["series"]:
        labels = " ".join(f"{k}={v}" for k, v in sorted(series["labels"].items()))
        out.write(f"{labels or '(all)'}\n")
        for at, value in series["points"]:
            out.write(f"  {_clock(int(at))}  {_number(value)}\n")
    if body["truncated"]:
        out.write(f"(only the first {len(body['series'])} series: filter with --attr)\n")


def _bound(value: float | None, infinite: str) -> str:
    return infinite if value is None else f"{value:g}"


def print_histogram(
    metric: Mapping[str, Any], body: Mapping[str, Any], out: TextIO, *, per_step: bool
) -> None:
    out.write(f"{metric['name']}  {_kind(metric)}  {metric['unit'] or '-'}  {_span(body)}\n")
    quantiles = "  ".join(f"{k} {_number(v)}" for k, v in body["quantiles"].items())
    out.write(
        f"count {body['count']}  sum {_number(body['sum'])}  min {_number(body['min'])}  "
        f"max {_number(body['max'])}  {quantiles}\n"
    )
    if body["buckets"]:
        out.write("buckets\n")
        ranges = [
            f"({_bound(b['lower'], '-inf')}, {_bound(b['upper'], '+inf')}]" for b in body["buckets"]
        ]
        width = max(len(r) for r in ranges)
        for text, bucket in zip(ranges, body["buckets"], strict=True):
            out.write(f"  {text:<{width}}  {bucket['count']}\n")
    if per_step and body["series"]:
        out.write("per step\n")
        for step in body["series"]:
            values = "  ".join(f"{k} {_number(v)}" for k, v in step["quantiles"].items())
            out.write(f"  {_clock(step['time'])}  count {step['count']}  {values}\n")


# -- commands --------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line that points at ``--help``."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


_SOURCE_HELP = f"""\
where the data comes from:
  --url URL   a running otlpy's UI address (default {DEFAULT_URL})
  --data DIR  read a store directory directly, when no otlpy is running on it
"""

_COMMANDS: dict[str, tuple[str, str, str]] = {
    # name: (one-line help, description, examples)
    "services": (
        "list the services that sent spans",
        "List the names of the services that sent spans, one per line.",
        "  otlpy query services\n  otlpy query services --data ./otlpy-data",
    ),
    "trace": (
        "show one trace by its id",
        "Show one trace as a tree of spans: offset from the trace's start, duration, "
        "service, name, kind, and the status message of spans that failed.",
        "  otlpy query trace 4bf92f3577b34da6a3ce929d0e0e4736\n"
        "  otlpy query trace 4bf92f3577b34da6a3ce929d0e0e4736 --json",
    ),
    "traces": (
        "search traces",
        "Search the traces that started in the last --lookback, newest first: one line "
        "per trace with its start, duration, span and error counts, root span and id. "
        "Every filter must match some span of the trace.",
        "  otlpy query traces --service checkout --lookback 2h\n"
        "  otlpy query traces --tag http.status_code=500 --tag error=true\n"
        "  otlpy query traces --operation 'GET /cart' --min-duration 500ms -n 5",
    ),
    "logs": (
        "search logs, or follow new ones",
        "Search log records, printed oldest first: time, severity, service, message and "
        "trace id. With --follow, keep printing new records as they arrive (Ctrl-C stops).",
        "  otlpy query logs --severity warn --lookback 30m\n"
        "  otlpy query logs --text timeout --attr http.route=/cart\n"
        "  otlpy query logs --trace-id 4bf92f3577b34da6a3ce929d0e0e4736\n"
        "  otlpy query logs --service checkout --follow",
    ),
    "metrics": (
        "list metrics, or show one over time",
        "Without NAME: list every metric with its type, unit and description. With NAME: "
        "show it over the last --lookback. A gauge or sum prints one value per step for "
        "each series (a series per service and attribute set, or per --group-by key); "
        "monotonic sums default to their rate per second. A histogram prints its count, "
        "sum, min, max, percentiles (interpolated within buckets) and bucket counts, merged "
        "over its series; with --step, also the percentiles per step.",
        "  otlpy query metrics\n"
        "  otlpy query metrics http.server.request.duration --lookback 6h\n"
        "  otlpy query metrics http.server.request.duration --quantiles 0.5,0.999 --step 1h\n"
        "  otlpy query metrics queue.size --aggregation max --step 1m\n"
        "  otlpy query metrics http.requests --group-by http.route --attr service.name=shop",
    ),
}


def _parser() -> argparse.ArgumentParser:
    common = _Parser(add_help=False)
    where = common.add_mutually_exclusive_group()
    where.add_argument(
        "--url", default=DEFAULT_URL, help=f"a running otlpy's UI address (default {DEFAULT_URL})"
    )
    where.add_argument(
        "--data", metavar="DIR", help="read this store directory directly (otlpy not running)"
    )
    common.add_argument(
        "--json", action="store_true", help="print JSON (one object per line), as the API does"
    )

    parser = _Parser(
        prog="otlpy query",
        description="Query the traces, logs and metrics kept by otlpy. "
        "`otlpy query COMMAND --help` tells more about each command.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=_SOURCE_HELP + "\nexamples:" + (__doc__.split("::", 1)[1] if __doc__ else ""),
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str) -> argparse.ArgumentParser:
        summary, description, examples = _COMMANDS[name]
        return sub.add_parser(
            name,
            parents=[common],
            help=summary,
            description=textwrap.fill(description, 90),
            epilog=f"examples:\n{examples}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    command("services")

    trace = command("trace")
    trace.add_argument(
        "trace_id", metavar="TRACE_ID", type=_trace_id, help="the trace id: up to 32 hex digits"
    )

    lookback_help = "how far back to look, e.g. 15m, 6h, 2d (default 1h)"
    traces = command("traces")
    traces.add_argument("--service", "-s", help="traces with a span of this service")
    traces.add_argument(
        "--operation", "-o", help="traces with a span of this name (with --service: of it)"
    )
    traces.add_argument(
        "--tag",
        "-t",
        action="append",
        default=[],
        type=_pair,
        metavar="KEY=VALUE",
        help="a span, resource or event attribute (error=true: a failed span); repeatable, "
        "all must match",
    )
    traces.add_argument(
        "--min-duration",
        metavar="DURATION",
        type=_duration_value,
        help="at least this long, e.g. 100ms",
    )
    traces.add_argument(
        "--max-duration",
        metavar="DURATION",
        type=_duration_value,
        help="at most this long, e.g. 2s",
    )
    traces.add_argument("--lookback", "-l", default="1h", type=_lookback, help=lookback_help)
    traces.add_argument(
        "--limit", "-n", default="20", type=_limit, help="at most this many traces (default 20)"
    )

    logs = command("logs")
    logs.add_argument("--service", "-s", help="records of this service")
    logs.add_argument(
        "--severity",
        type=_severity,
        help="at least this severity: trace, debug, info, warn, error, fatal, or a number 1-24",
    )
    logs.add_argument("--text", help="text in the message (case ignored)")
    logs.add_argument(
        "--attr",
        "-a",
        action="append",
        default=[],
        type=_pair,
        metavar="KEY=VALUE",
        help="a record or resource attribute; repeatable, all must match",
    )
    logs.add_argument(
        "--trace-id",
        type=_trace_id,
        help="records of this trace (then whenever written, unless --lookback is given)",
    )
    logs.add_argument("--lookback", "-l", default="", type=_lookback, help=lookback_help)
    logs.add_argument(
        "--limit", "-n", default="100", type=_limit, help="at most this many records (default 100)"
    )
    logs.add_argument(
        "--follow", "-f", action="store_true", help="keep printing new records as they arrive"
    )

    metrics = command("metrics")
    metrics.add_argument("name", metavar="NAME", nargs="?", help="the metric to show")
    metrics.add_argument("--lookback", "-l", default="1h", type=_lookback, help=lookback_help)
    metrics.add_argument(
        "--step",
        type=_duration_value,
        metavar="DURATION",
        help="one value per this much time, e.g. 1m (default: about 120 steps over --lookback)",
    )
    metrics.add_argument(
        "--attr",
        "-a",
        action="append",
        default=[],
        type=_pair,
        metavar="KEY=VALUE",
        help="only points with this point or resource attribute; repeatable",
    )
    metrics.add_argument(
        "--aggregation",
        choices=_AGGREGATIONS,
        help="gauges and sums: how a step's points combine (default: rate for monotonic "
        "sums, avg otherwise)",
    )
    metrics.add_argument(
        "--group-by",
        metavar="KEYS",
        help="gauges and sums: one series per value of these comma-separated attribute keys "
        "(service.name included), or 'none' for one total series (default: per service and "
        "attribute set)",
    )
    metrics.add_argument(
        "--quantiles",
        type=_quantiles,
        metavar="Q,Q",
        help="histograms: the percentiles to estimate, from 0 to 1 (default 0.5,0.9,0.99)",
    )
    return parser


def _logfmt(pairs: Sequence[str]) -> str:
    parts = []
    for pair in pairs:
        key, _, value = pair.partition("=")
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        parts.append(f'{key.strip()}="{escaped}"')
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


class _UsageError(Exception):
    """Options that are each fine but do not go together (exit status 2)."""


def _metrics(backend: Backend, args: argparse.Namespace, out: TextIO) -> int:
    catalog = backend.metrics()
    if args.name is None:
        if args.json:
            for item in catalog:
                _dump(item, out)
        else:
            print_metric_list(catalog, out)
        return 0
    found = [m for m in catalog if m["name"] == args.name]
    metric = found[0] if found else None
    if metric is None:
        raise QueryError(f"no metric named {args.name!r} (`otlpy query metrics` lists them)")
    params = {
        "name": args.name,
        "lookback": args.lookback,
        "step": args.step or "",
        "attributes": _logfmt(args.attr),
    }
    if metric["type"] in _HISTOGRAM_TYPES:
        if args.aggregation or args.group_by:
            raise _UsageError(
                f"{args.name} is a {metric['type']}: --aggregation and --group-by apply to "
                "gauges and sums"
            )
        body = backend.histogram({**params, "quantiles": args.quantiles or ""})
        _dump(body, out) if args.json else print_histogram(
            metric, body, out, per_step=bool(args.step)
        )
        return 0
    if args.quantiles:
        raise _UsageError(f"{args.name} is a {metric['type']}: --quantiles applies to histograms")
    if args.aggregation == "rate" and metric["type"] != "sum":
        raise _UsageError(f"{args.name} is a {metric['type']}: --aggregation rate needs a sum")
    default = "rate" if metric["type"] == "sum" and metric["monotonic"] else "avg"
    params["aggregation"] = args.aggregation or default
    params["group_by"] = args.group_by or ""
    body = backend.series(params)
    _dump(body, out) if args.json else print_series(metric, body, out)
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
    if args.command == "metrics":
        return _metrics(backend, args, out)
    if args.command == "traces":
        params = {
            "service": args.service or "",
            "operation": args.operation or "",
            "tags": _logfmt(args.tag),
            "minDuration": args.min_duration or "",
            "maxDuration": args.max_duration or "",
            "lookback": args.lookback,
            "limit": args.limit,
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
        "limit": args.limit,
    }
    if args.follow:
        return _follow(backend, params, args, out)
    # newest first from the API; printed oldest first, as a log reads
    for record in reversed(backend.logs(params)):
        _dump(record, out) if args.json else print_log(record, out)
    return 0


def _check(args: argparse.Namespace) -> None:
    """What argparse cannot check alone: options that contradict each other."""
    if args.command == "traces" and args.min_duration and args.max_duration:
        from otlpy.extensions.ui._params import parse_go_duration_ns

        if parse_go_duration_ns(args.max_duration, "") < parse_go_duration_ns(
            args.min_duration, ""
        ):
            raise _UsageError("--max-duration must not be below --min-duration")
    if args.command == "logs" and args.follow and args.lookback:
        raise _UsageError("--follow prints records as they arrive: leave out --lookback")


def run(argv: Sequence[str], out: TextIO | None = None) -> int:
    """Run ``otlpy query ARGV``; return the exit code (0 ok, 1 failed, 2 usage)."""
    out = sys.stdout if out is None else out
    try:
        args = _parser().parse_args(list(argv))
        _check(args)
    except SystemExit as exc:
        return int(exc.code or 0)
    except _UsageError as exc:
        print(f"otlpy query {args.command}: {exc}", file=sys.stderr)
        return 2
    backend: Backend | None = None
    try:
        backend = StoreBackend(Path(args.data).expanduser()) if args.data else HttpBackend(args.url)
        return _execute(backend, args, out)
    except _UsageError as exc:
        print(f"otlpy query {args.command}: {exc}", file=sys.stderr)
        return 2
    except QueryError as exc:
        print(f"otlpy query: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        return 0
    finally:
        if backend is not None:
            backend.close()
