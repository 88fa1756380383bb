"""A running ``otlpy run`` with data sent by the OpenTelemetry SDK, shared by the tests that
only read it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from otlpy_process import DemoApp, OtlpyProcess, wait_until


def all_visible(otlpy: OtlpyProcess, app: DemoApp) -> bool:
    counts = otlpy.json("/api/otlpy/info")["counts"]
    return (
        counts["spans"] >= len(app.spans)
        and counts["logs"] >= len(app.logs)
        and counts["metric_points"] > 0
    )


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[OtlpyProcess, DemoApp]]:
    """otlpy with the demo app's telemetry, sent over OTLP/gRPC, stored and visible."""
    data = tmp_path_factory.mktemp("demo") / "data"
    otlpy = OtlpyProcess(Path(data)).start()
    app = DemoApp("grpc")
    try:
        app.send("grpc", f"127.0.0.1:{otlpy.grpc_port}")
        wait_until(lambda: all_visible(otlpy, app))
        yield otlpy, app
    finally:
        code = otlpy.stop()
        assert code == 0, otlpy.log()
