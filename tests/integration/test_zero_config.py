"""``otlpy run`` without a config: OTLP in, stored, shown; and data surviving ``kill -9``."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import orjson
import pytest

from otlpy_process import DemoApp, OtlpyProcess, wait_until

DEFAULT_PORTS = (4317, 4318, 16686, 13133, 8888)


def test_data_survives_kill_9(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = OtlpyProcess(data).start()
    app = DemoApp("restart")
    try:
        app.send("http", f"http://127.0.0.1:{first.http_port}")
        # visible means flushed, and flushed means committed to DuckDB's write-ahead log
        wait_until(lambda: first.json("/api/otlpy/info")["counts"]["spans"] == len(app.spans))
        wait_until(lambda: first.json("/api/otlpy/info")["counts"]["logs"] == len(app.logs))
        before = {t: first.json(f"/api/traces/{t}") for t in app.trace_ids()}
        logs_before = first.json("/api/otlpy/logs", {"limit": 1000})["logs"]
    finally:
        code = first.stop(signal.SIGKILL)
    assert code == -signal.SIGKILL
    second = OtlpyProcess(data).start()
    try:
        for trace_id, body in before.items():
            assert second.json(f"/api/traces/{trace_id}") == body
        assert second.json("/api/otlpy/logs", {"limit": 1000})["logs"] == logs_before
        # and it keeps working: more data is stored next to what was there
        more = DemoApp("after-restart")
        more.send("grpc", f"127.0.0.1:{second.grpc_port}")
        total = len(app.spans) + len(more.spans)
        wait_until(lambda: second.json("/api/otlpy/info")["counts"]["spans"] == total)
    finally:
        assert second.stop() == 0, second.log()


def _free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


@pytest.mark.xdist_group("default-ports")
def test_otlpy_run_with_no_config(tmp_path: Path) -> None:
    """The real thing: default ports, a banner that says where to look, the SDK's data in."""
    if not all(_free(p) for p in DEFAULT_PORTS):
        pytest.skip(f"a default port ({DEFAULT_PORTS}) is taken on this machine")
    data = tmp_path / "otlpy-data"
    env = {**os.environ, "OTLPY_DATA": str(data)}
    process = subprocess.Popen(
        [sys.executable, "-m", "otlpy", "run"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=tmp_path,
    )
    try:

        def ready() -> bool:
            if process.poll() is not None:
                raise RuntimeError("otlpy run exited early")
            with urllib.request.urlopen("http://127.0.0.1:13133/", timeout=2) as response:
                return bool(response.status == 200)

        wait_until(ready, timeout=60)
        app = DemoApp("zero-config")
        app.send("http", "http://127.0.0.1:4318")

        def stored() -> bool:
            with urllib.request.urlopen("http://127.0.0.1:16686/api/otlpy/info") as response:
                counts = orjson.loads(response.read())["counts"]
            return bool(counts["spans"] == len(app.spans) and counts["logs"] == len(app.logs))

        wait_until(stored)
        with urllib.request.urlopen("http://127.0.0.1:16686/") as response:
            assert b"/static/js/app.js" in response.read()
        assert (data / "otlpy.duckdb").is_file()
    finally:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    text = output.decode()
    assert process.returncode == 0, text
    assert "open the UI    http://localhost:16686/" in text
    assert "send OTLP to   localhost:4317 (gRPC)   http://localhost:4318 (HTTP)" in text
    assert f"data kept in   {data.resolve()}" in text
    assert "Grafana        add a Jaeger data source with URL http://localhost:16686" in text
