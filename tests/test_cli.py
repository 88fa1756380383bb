from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from otlpy import __version__
from otlpy.cli import dispatch, main

TESTDATA = Path(__file__).parent / "config" / "testdata"


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert dispatch(["version"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"otlpy {__version__}"
    assert lines[1].startswith("wire codec: ")


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


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """``otlpy run`` sets up otlpy's logger for the terminal; give it back to pytest after."""
    logger = logging.getLogger("otlpy")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    yield
    logger.handlers[:], logger.level, logger.propagate = saved


def _default_config_with(monkeypatch: pytest.MonkeyPatch, **sections: Any) -> None:
    """Make ``otlpy run``'s default configuration one that needs no fixed ports."""
    config = {
        "receivers": {"source": {}},
        "exporters": {"sink": {}},
        **sections,
    }
    config["service"] = {
        **config.get("service", {}),
        "pipelines": {"logs": {"receivers": ["source"], "exporters": ["sink"]}},
    }
    monkeypatch.setattr("otlpy.defaults.default_config", lambda data_dir: config)


@pytest.mark.usefixtures("test_components", "restore_logging")
def test_run_prints_the_banner_only_once_started(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("OTLPY_DATA", str(tmp_path))
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        address = f"127.0.0.1:{busy.getsockname()[1]}"
        _default_config_with(monkeypatch, service={"telemetry": {"metrics": {"address": address}}})
        assert dispatch(["run", "--data", str(tmp_path)]) == 1
    out, err = capsys.readouterr()
    assert "otlpy is running" not in out
    assert "cannot start self-telemetry server" in err

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        health = probe.getsockname()[1]
    _default_config_with(
        monkeypatch,
        extensions={"health_check": {"endpoint": f"127.0.0.1:{health}"}},
        service={"extensions": ["health_check"], "telemetry": {"metrics": {"level": "none"}}},
    )
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}

    def stop_once_healthy() -> None:
        # the health check answers 200 only once every component has started
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{health}/", timeout=1):
                    os.kill(os.getpid(), signal.SIGTERM)
                    return
            except OSError:
                time.sleep(0.05)

    stopper = threading.Thread(target=stop_once_healthy)
    stopper.start()
    try:
        assert dispatch(["run", "--data", str(tmp_path)]) == 0
    finally:
        stopper.join()
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    out, err = capsys.readouterr()
    assert out.startswith("otlpy is running with its default configuration")
    assert err.index("collector started") < err.index("stopping")
