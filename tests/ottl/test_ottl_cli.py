"""``otlpy.ottl.cli.run``: OTLP/JSON in, statements or conditions applied, OTLP/JSON out."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from otlpy.ottl.cli import detect_signal, run

TRACES = {
    "resourceSpans": [
        {
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "a"}}]},
            "scopeSpans": [
                {
                    "spans": [
                        {
                            "traceId": "0102030405060708090a0b0c0d0e0f10",
                            "spanId": "0102030405060708",
                            "name": "GET /",
                            "kind": 2,
                        },
                        {
                            "traceId": "0102030405060708090a0b0c0d0e0f10",
                            "spanId": "0102030405060709",
                            "name": "db",
                            "kind": 3,
                        },
                    ]
                }
            ],
        }
    ]
}


@pytest.fixture
def traces_file(tmp_path: Path) -> Path:
    path = tmp_path / "traces.json"
    path.write_text(json.dumps(TRACES))
    return path


def test_statements_change_the_output(
    traces_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run(
        [
            "--context",
            "span",
            "--statement",
            'set(attributes["server"], true) where kind == SPAN_KIND_SERVER',
            "--statement",
            'set(name, Concat([resource.attributes["service.name"], name], ":"))',
            str(traces_file),
        ]
    )
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    spans = out["resourceSpans"][0]["scopeSpans"][0]["spans"]
    assert [s["name"] for s in spans] == ["a:GET /", "a:db"]
    assert spans[0]["attributes"] == [{"key": "server", "value": {"boolValue": True}}]
    assert "attributes" not in spans[1]
    assert spans[0]["traceId"] == "0102030405060708090a0b0c0d0e0f10"


def test_conditions_keep_matching_items(
    traces_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["--condition", "span.kind == SPAN_KIND_CLIENT", str(traces_file)]) == 0
    spans = json.loads(capsys.readouterr().out)["resourceSpans"][0]["scopeSpans"][0]["spans"]
    assert [s["name"] for s in spans] == ["db"]


def test_parse_error_points_at_the_column(
    traces_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["--context", "span", "--statement", 'set(name "x")', str(traces_file)]) == 1
    err = capsys.readouterr().err
    assert "1:10:" in err and "^" in err


def test_runtime_error_and_ignore_mode(
    traces_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--context", "span", "--statement", "set(name, Int(name) + 1)", str(traces_file)]
    assert run(args) == 1
    assert "failed to execute statement" in capsys.readouterr().err
    assert run(["--error-mode", "silent", *args]) == 0
    assert "GET /" in capsys.readouterr().out


def test_bad_inputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--statement", 'set(name, "x")', str(tmp_path / "missing.json")]) == 1
    missing = tmp_path / "missing.json"
    assert (
        capsys.readouterr().err == f"otlpy ottl: cannot read {missing}: No such file or directory\n"
    )
    bad = tmp_path / "bad.json"
    bad.write_text('{"nope": 1}')
    assert run(["--context", "span", "--statement", 'set(name, "x")', str(bad)]) == 1
    assert "not OTLP/JSON" in capsys.readouterr().err
    bad.write_text("{")
    assert run(["--context", "span", "--statement", 'set(name, "x")', str(bad)]) == 1
    assert run([str(bad)]) == 2
    capsys.readouterr()
    good = tmp_path / "logs.json"
    good.write_text(json.dumps({"resourceLogs": []}))
    assert run(["--context", "nope", "--statement", 'set(body, "x")', str(good)]) == 1
    assert "unknown OTTL context" in capsys.readouterr().err
    assert run(["--context", "span", "--statement", 'set(name, "x")', str(good)]) == 1
    assert "does not apply to logs" in capsys.readouterr().err


def test_detect_signal() -> None:
    assert detect_signal({"resourceMetrics": []}).value == "metrics"
    assert detect_signal({"resource_logs": []}).value == "logs"
    with pytest.raises(ValueError, match="not OTLP/JSON"):
        detect_signal([1])


def test_module_entry_point_reads_stdin() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "otlpy.ottl.cli",
            "--statement",
            'set(span.attributes["x"], 1)',
            "-",
        ],
        input=json.dumps(TRACES).encode(),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    spans = json.loads(result.stdout)["resourceSpans"][0]["scopeSpans"][0]["spans"]
    assert spans[0]["attributes"] == [{"key": "x", "value": {"intValue": "1"}}]


def test_input_errors_say_where_and_name_the_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"resourceLogs": [\n  {oops}\n]}')
    assert run(["--context", "log", "--statement", 'set(body, "x")', str(bad)]) == 1
    err = capsys.readouterr().err
    assert err == (
        f"otlpy ottl: {bad} is not OTLP/JSON: unexpected character, expected a string key "
        "at line 2 column 4\n"
    )
    bad.write_text("  \n")
    assert run(["--context", "log", "--statement", 'set(body, "x")', str(bad)]) == 1
    assert capsys.readouterr().err == f"otlpy ottl: {bad} is empty: expected OTLP/JSON\n"
    bad.write_text("[1]")
    assert run(["--context", "log", "--statement", 'set(body, "x")', str(bad)]) == 1
    assert f"{bad} is not OTLP/JSON: expected a top-level resourceSpans" in (
        capsys.readouterr().err
    )
    # no path names its context and no --context: the option the user can give is named
    assert run(["--statement", 'set(attributes["x"], 1)', str(tmp_path / "traces.json")]) == 1
    capsys.readouterr()
    (tmp_path / "traces.json").write_text(json.dumps(TRACES))
    assert run(["--statement", 'set(attributes["x"], 1)', str(tmp_path / "traces.json")]) == 1
    err = capsys.readouterr().err
    assert "give --context (" in err
    assert "context=" not in err
