"""``otlpy query`` reading a store directory directly, following logs, and its errors.

(Querying a running otlpy over HTTP is tested in tests/integration/test_query_api.py.)
"""

from __future__ import annotations

import argparse
import http.server
import io
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import orjson
import pytest
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

from otlpy.cli import dispatch
from otlpy.pdata import Signal
from otlpy.store import Store
from otlpy.store.cli import run
from store_builders import MS, attrs, log_request, make_span, tid, trace_request


def _query(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return run(list(argv), out=out), out.getvalue()


@pytest.fixture
def data(tmp_path: Path) -> Path:
    now = time.time_ns()
    directory = tmp_path / "data"
    with Store.open(directory) as store:
        store.write(
            Signal.TRACES,
            trace_request(
                "shop",
                [
                    make_span(1, 1, name="GET /", start=now - 50 * MS, duration=20 * MS),
                    make_span(
                        1, 2, parent=1, name="db", start=now - 45 * MS, status=2, message="x"
                    ),
                    make_span(1, 3, parent=2, name="fetch", start=now - 44 * MS),
                    make_span(1, 4, parent=1, name="render", start=now - 40 * MS),
                ],
            ),
        )
        record = LogRecord(time_unix_nano=now - 40 * MS, severity_number=17, severity_text="ERROR")
        record.body.string_value = "db failed"
        record.trace_id = tid(1)
        record.attributes.extend(attrs({"table": "orders"}))
        info = LogRecord(time_unix_nano=now - 30 * MS, severity_number=9)
        info.body.string_value = "rendered"
        store.write(Signal.LOGS, log_request("shop", [record, info]))
    return directory


def test_offline_queries(data: Path) -> None:
    trace_id = f"{1:032x}"
    assert _query("services", "--data", str(data)) == (0, "shop\n")
    code, text = _query("trace", trace_id, "--data", str(data))
    assert code == 0
    lines = text.splitlines()
    assert lines[0].startswith(f"trace {trace_id}  20 ms  4 spans  1 error")
    tree = [line.split("ms  ", 2)[-1] for line in lines[1:]]
    assert tree == [
        "shop: GET / [server]",
        "├─ shop: db [server]  ✗ x",
        "│  └─ shop: fetch [server]",
        "└─ shop: render [server]",
    ]
    code, text = _query("traces", "--data", str(data), "--json", "--tag", "error=true")
    assert [orjson.loads(x)["trace_id"] for x in text.splitlines()] == [trace_id]
    code, text = _query("traces", "--data", str(data), "--min-duration", "1h")
    assert (code, text) == (0, "")
    code, text = _query("logs", "--data", str(data))
    assert [line.split("  ", 1)[1] for line in text.splitlines()] == [
        f"ERROR  shop  db failed  trace={trace_id}",
        "INFO   shop  rendered",
    ]
    code, text = _query("logs", "--data", str(data), "--attr", "table=orders", "--json")
    assert [orjson.loads(x)["body_text"] for x in text.splitlines()] == ["db failed"]
    code, text = _query("logs", "--data", str(data), "--trace-id", trace_id, "--severity", "17")
    assert len(text.splitlines()) == 1
    assert _query("trace", "f" * 32, "--data", str(data))[0] == 1


def test_offline_errors(data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _query("services", "--data", str(tmp_path / "nothing"))[0] == 1
    assert "no otlpy store" in capsys.readouterr().err
    with Store.open(data):
        assert _query("services", "--data", str(data))[0] == 1
    assert "query it over HTTP instead" in capsys.readouterr().err
    assert _query("--help")[0] == 0
    assert _query("bogus")[0] == 2
    # the top-level CLI hands `otlpy query` over whole
    assert dispatch(["query", "services", "--data", str(data)]) == 0


@pytest.mark.parametrize("source", ["--data", "--url"])
@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["trace", "zzz"], "argument TRACE_ID: malformed trace id 'zzz'"),
        (["traces", "--min-duration", "soon"], "argument --min-duration: 'soon' is not a"),
        (["traces", "--lookback", "ever"], "argument --lookback/-l: 'ever' is not a duration"),
        (["traces", "--lookback", "0"], "argument --lookback/-l: '0' is not a duration"),
        (["traces", "--tag", "novalue"], "argument --tag/-t: expected KEY=VALUE"),
        (["traces", "--limit", "0"], "argument --limit/-n: '0' is not a whole number"),
        (["traces", "-n", "99999999999999999999"], "argument --limit/-n: '9999"),
        (["logs", "--severity", "loud"], "argument --severity: unknown severity 'loud'"),
        (["logs", "--trace-id", "xyz"], "argument --trace-id: malformed trace id 'xyz'"),
        (["metrics", "m", "--step", "0s"], "argument --step: '0s' is not a duration"),
        (["metrics", "m", "--quantiles", "2"], "argument --quantiles: expected numbers"),
        (
            ["traces", "--min-duration", "2s", "--max-duration", "1s"],
            "--max-duration must not be below --min-duration",
        ),
    ],
)
def test_bad_options_are_one_line_naming_the_option(
    argv: list[str],
    message: str,
    source: str,
    data: Path,
    refusing: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Over HTTP and from a store alike: exit status 2 and one line, before any query."""
    where = str(data) if source == "--data" else refusing
    assert _query(*argv, source, where) == (2, "")
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith(f"otlpy query {argv[0]}: "), err
    assert message in err, err
    assert "Traceback" not in err


def test_store_failures_during_a_query_are_one_line(
    data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # a trace id that parses but names no trace, and a metric that does not exist
    assert _query("trace", "f" * 32, "--data", str(data)) == (1, "")
    assert capsys.readouterr().err == f"otlpy query: trace {'f' * 32} not found\n"
    assert _query("metrics", "nope", "--data", str(data)) == (1, "")
    err = capsys.readouterr().err
    assert err == "otlpy query: no metric named 'nope' (`otlpy query metrics` lists them)\n"


def test_counts_are_pluralized(tmp_path: Path) -> None:
    now = time.time_ns()
    directory = tmp_path / "one"
    with Store.open(directory) as store:
        store.write(
            Signal.TRACES,
            trace_request("solo", [make_span(7, 1, name="GET /", start=now - 9 * MS, status=2)]),
        )
    code, text = _query("trace", "7", "--data", str(directory))
    assert code == 0
    assert f"trace {7:032x}  " in text
    assert "  1 span  1 error  " in text.splitlines()[0]
    code, text = _query("traces", "--data", str(directory))
    assert "    1 span   1 error " in text
    assert "spans" not in text and "errors" not in text


def test_every_command_has_a_description_examples_and_option_help() -> None:
    from otlpy.store.cli import _parser

    parser = _parser()
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert sorted(commands.choices) == ["logs", "metrics", "services", "trace", "traces"]
    for name, command in commands.choices.items():
        assert command.description and len(command.description) > 40, name
        assert command.epilog and command.epilog.startswith("examples:\n  otlpy query "), name
        for action in command._actions:
            assert action.help, (name, action.dest)
        out = io.StringIO()
        command.print_help(out)
        assert "examples:" in out.getvalue()


def test_follow_prints_new_records_until_interrupted(data: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "otlpy", "query", "logs", "--follow", "--data", str(data)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = [process.stdout.readline(), process.stdout.readline()]
        assert "db failed" in first[0] and "rendered" in first[1]
    finally:
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err


class _Refusing(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"bad gateway" if self.path.startswith("/api/services") else b'{"error": 1}'
        self.send_response(502)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def refusing() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Refusing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_http_errors_are_reported(refusing: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert _query("services", "--url", refusing)[0] == 1
    assert "502 Bad Gateway" in capsys.readouterr().err
    assert _query("traces", "--url", refusing)[0] == 1
    assert "502" in capsys.readouterr().err


def _metric_store(directory: Path) -> int:
    """A gauge in two rooms, a monotonic counter and a histogram; returns the first minute."""
    from opentelemetry.proto.metrics.v1.metrics_pb2 import (
        AggregationTemporality,
        HistogramDataPoint,
        Metric,
        NumberDataPoint,
    )

    from store_builders import metrics_request

    minute = 60 * 10**9
    t0 = (time.time_ns() // minute - 5) * minute
    gauge = Metric(name="temp", unit="Cel", description="room temperature")
    for room, value in (("a", 20.5), ("b", 10.0)):
        point = NumberDataPoint(time_unix_nano=t0 + 1, as_double=value)
        point.attributes.extend(attrs({"room": room}))
        gauge.gauge.data_points.append(point)
    counter = Metric(name="requests", unit="1")
    counter.sum.aggregation_temporality = AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA
    counter.sum.is_monotonic = True
    counter.sum.data_points.add(time_unix_nano=t0 + 1, as_int=120)
    latency = Metric(name="latency", unit="ms")
    latency.histogram.aggregation_temporality = AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA
    latency.histogram.data_points.append(
        HistogramDataPoint(
            time_unix_nano=t0 + 1,
            count=10,
            sum=700.0,
            explicit_bounds=[10, 100],
            bucket_counts=[2, 8, 0],
            min=5.0,
            max=90.0,
        )
    )
    with Store.open(directory) as store:
        store.write(Signal.METRICS, metrics_request("shop", [gauge, counter, latency]))
    return t0


def _untimed(text: str) -> list[str]:
    """Output lines with the times (which count from now) as T."""
    return [re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}", "T", x) for x in text.splitlines()]


def _check_metric_answers(source: str, where: str, t0: int) -> None:
    code, text = _query("metrics", source, where)
    assert code == 0
    assert text.splitlines() == [
        "latency   histogram (delta)       ms",
        "requests  sum (delta, monotonic)  1",
        "temp      gauge                   Cel  room temperature",
    ]
    code, text = _query("metrics", "temp", "--step", "1m", "--lookback", "10m", source, where)
    assert code == 0, text
    lines = text.splitlines()
    assert lines[0].startswith("temp  gauge  Cel  avg, ")
    assert lines[0].endswith("every 1 min")
    # steps count from now - lookback: the point is in the step starting within a minute
    # before it
    stamp = lines[2].split("  ")[1]
    step_start = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S.%f").timestamp() * 1e9
    assert t0 - 60e9 < step_start <= t0 + 1
    assert lines[1:] == [
        "room=a service.name=shop",
        f"  {stamp}  20.5",
        "room=b service.name=shop",
        f"  {stamp}  10",
    ]
    code, text = _query(
        "metrics", "temp", "--step", "1m", "-l", "10m", "--group-by", "none",
        "--aggregation", "sum", source, where,
    )  # fmt: skip
    assert _untimed(text)[1:] == ["(all)", "  T  30.5"]
    # a monotonic sum: its rate per second by default (120 in a minute: 2/s)
    code, text = _query("metrics", "requests", "--step", "1m", "-l", "10m", source, where)
    assert "rate per second" in text.splitlines()[0]
    assert _untimed(text)[2] == "  T  2"
    # a histogram: 2 in (-inf, 10], 8 in (10, 100]; min 5, max 90. p50: rank 5 is 3 of 8
    # through (10, 90] -> 10 + 80 * 3 / 8 = 40; p90: rank 9 -> 10 + 80 * 7 / 8 = 80;
    # p10: rank 1 is 1 of 2 through (5, 10] -> 7.5
    code, text = _query(
        "metrics", "latency", "--quantiles", "0.1,0.5,0.9", "--step", "1m", "-l", "10m",
        source, where,
    )  # fmt: skip
    assert code == 0, text
    lines = _untimed(text)
    assert lines[1] == "count 10  sum 700  min 5  max 90  p10 7.5  p50 40  p90 80"
    assert lines[2:5] == ["buckets", "  (-inf, 10]  2", "  (10, 100]   8"]
    assert lines[5:] == ["per step", "  T  count 10  p10 7.5  p50 40  p90 80"]
    code, text = _query("metrics", "latency", "--json", source, where)
    assert orjson.loads(text)["quantiles"]["p50"] == pytest.approx(40.0)
    # options of the other kind of metric are usage errors
    assert _query("metrics", "latency", "--aggregation", "max", source, where)[0] == 2
    assert _query("metrics", "temp", "--quantiles", "0.5", source, where)[0] == 2
    assert _query("metrics", "temp", "--aggregation", "rate", source, where)[0] == 2


def test_metrics_from_a_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    t0 = _metric_store(tmp_path / "m")
    _check_metric_answers("--data", str(tmp_path / "m"), t0)
    assert "is a histogram: --aggregation and --group-by apply" in capsys.readouterr().err


async def test_metrics_over_http(tmp_path: Path) -> None:
    """The same answers from a running UI extension's API."""
    import asyncio
    import logging

    from otlpy.component import ComponentID, Kind, Settings
    from otlpy.extensions.ui import UIConfig, UIExtension
    from otlpy.telemetry import SelfTelemetry

    t0 = _metric_store(tmp_path / "m")
    settings = Settings(
        id=ComponentID("otlpy_ui"),
        kind=Kind.EXTENSION,
        telemetry=SelfTelemetry(),
        logger=logging.getLogger("test.query"),
    )
    ext = UIExtension(settings, UIConfig(endpoint="127.0.0.1:0", directory=str(tmp_path / "m")))
    await ext.start(None)  # type: ignore[arg-type]
    try:
        url = f"http://127.0.0.1:{ext.port}"
        await asyncio.to_thread(_check_metric_answers, "--url", url, t0)
    finally:
        await ext.shutdown()
