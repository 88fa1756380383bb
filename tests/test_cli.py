from __future__ import annotations

from pathlib import Path

import pytest

from otlpy import __version__
from otlpy.cli import dispatch, main

TESTDATA = Path(__file__).parent / "config" / "testdata"


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert dispatch(["version"]) == 0
    assert capsys.readouterr().out.strip() == f"otlpy {__version__}"


def test_help_without_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert dispatch([]) == 0
    out = capsys.readouterr().out
    for command in ("run", "validate", "components", "send", "ottl"):
        assert command in out


def test_components_lists_builtins(capsys: pytest.CaptureFixture[str]) -> None:
    assert dispatch(["components"]) == 0
    out = capsys.readouterr().out
    assert "processors:" in out and "batch" in out
    assert "extensions:" in out and "health_check" in out


@pytest.mark.usefixtures("test_components")
def test_validate_good_and_bad(capsys: pytest.CaptureFixture[str]) -> None:
    assert dispatch(["validate", "--config", str(TESTDATA / "good_minimal.yaml")]) == 0
    assert "valid" in capsys.readouterr().out
    assert dispatch(["validate", "-c", str(TESTDATA / "bad_everything.yaml")]) == 1
    err = capsys.readouterr().err
    assert "invalid configuration (17 errors)" in err
    assert "processors.batch.timeout" in err
    assert "service.pipelines.traces.exporters[1]" in err


def test_run_refuses_a_bad_config(capsys: pytest.CaptureFixture[str]) -> None:
    assert dispatch(["run", "--config", str(TESTDATA / "bad_types.yaml")]) == 1
    assert "receivers: expected a mapping" in capsys.readouterr().err


def test_main_exits_with_the_code() -> None:
    with pytest.raises(SystemExit) as info:
        main(["validate", "-c", "/nonexistent.yaml"])
    assert info.value.code == 1


def test_delegated_commands_get_their_arguments_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys
    import types

    seen: list[list[str]] = []
    module = types.ModuleType("fake_query")
    module.run = lambda argv: seen.append(argv) or 3  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "fake_query", module)
    monkeypatch.setitem(__import__("otlpy.cli").cli._DELEGATES, "query", "fake_query")
    assert dispatch(["query", "--help", "x"]) == 3
    assert seen == [["--help", "x"]]
