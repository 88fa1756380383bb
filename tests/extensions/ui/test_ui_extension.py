"""The ``otlpy_ui`` extension: lifecycle, static files, failures, and the wheel shipping the UI."""

from __future__ import annotations

import logging
import re
import socket
import subprocess
import sys
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from otlpy.component import ComponentID, Kind, Settings
from otlpy.config.decode import decode
from otlpy.errors import PermanentError
from otlpy.extensions.ui import STATIC_DIR, UIConfig, UIExtension
from otlpy.pdata import Signal
from otlpy.store import shared
from otlpy.telemetry import SelfTelemetry
from store_builders import make_span, trace_request

ROOT = Path(__file__).resolve().parents[3]


def extension(directory: Path, endpoint: str = "127.0.0.1:0") -> UIExtension:
    settings = Settings(
        id=ComponentID("otlpy_ui"),
        kind=Kind.EXTENSION,
        telemetry=SelfTelemetry(),
        logger=logging.getLogger("test.ui"),
    )
    return UIExtension(settings, UIConfig(endpoint=endpoint, directory=str(directory)))


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[tuple[UIExtension, str]]:
    ext = extension(tmp_path / "data")
    await ext.start(None)  # type: ignore[arg-type]
    try:
        yield ext, f"http://127.0.0.1:{ext.port}"
    finally:
        await ext.shutdown()


def test_config() -> None:
    config, problems = decode(UIConfig, {})
    assert problems == [] and config.endpoint == "0.0.0.0:16686"
    _, problems = decode(
        UIConfig, {"endpoint": "nowhere", "max_traces": 0, "query_threads": 0, "extra": 1}
    )
    assert sorted(p.path for p in problems) == ["endpoint", "extra", "max_traces", "query_threads"]


async def test_serves_the_page_for_the_ui_paths(running: tuple[UIExtension, str]) -> None:
    _, url = running
    async with aiohttp.ClientSession() as session:
        for path in (
            "/",
            "/search?service=a",
            "/trace/abc123",
            "/logs",
            "/metrics",
            "/dependencies",
        ):
            async with session.get(url + path) as response:
                assert response.status == 200, path
                assert response.headers["Cache-Control"] == "no-cache"
                assert '<script type="module" src="/static/js/app.js">' in await response.text()
        async with session.get(url + "/static/js/app.js") as response:
            assert response.status == 200
            assert "javascript" in response.headers["Content-Type"]
        async with session.get(url + "/static/css/app.css") as response:
            assert response.headers["Content-Type"].startswith("text/css")
        async with session.get(url + "/static/nope.js") as response:
            assert response.status == 404
        async with session.get(url + "/api/unknown") as response:
            assert response.status == 404
            assert (await response.json())["error"]["message"] == "no API at /api/unknown"


def test_every_module_the_ui_imports_is_shipped() -> None:
    """Each ``import ... from "./x.js"`` (static or dynamic) names a file that exists."""
    pattern = re.compile(r"""(?:from\s+|import\()\s*["'](\.{1,2}/[^"']+)["']""")
    modules = list((STATIC_DIR / "js").rglob("*.js"))
    assert len(modules) >= 10
    for module in modules:
        for target in pattern.findall(module.read_text()):
            assert (module.parent / target).resolve().is_file(), (module.name, target)
    page = (STATIC_DIR / "index.html").read_text()
    for link in re.findall(r'(?:href|src)="/static/([^"]+)"', page):
        assert (STATIC_DIR / link).is_file(), link


def test_the_wheel_ships_the_ui(tmp_path: Path) -> None:
    pip = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
    subprocess.run([*pip, str(ROOT), "-w", str(tmp_path)], check=True, timeout=120)
    (wheel,) = tmp_path.glob("otlpy-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {
        "otlpy/extensions/ui/static/" + p.relative_to(STATIC_DIR).as_posix()
        for p in STATIC_DIR.rglob("*")
        if p.is_file()
    }
    assert shipped <= names


async def test_large_responses_are_compressed(running: tuple[UIExtension, str]) -> None:
    ext, url = running
    store = shared.acquire(Path(ext._config.directory))
    try:
        spans = [make_span(1, i, name=f"op-{i}", attributes={"k": "v" * 50}) for i in range(1, 400)]
        store.write(Signal.TRACES, trace_request("big", spans))
        store.flush()
    finally:
        shared.release(store)
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{url}/api/traces/{1:032x}") as response:
            assert response.headers.get("Content-Encoding") == "gzip"
            assert len((await response.json())["data"][0]["spans"]) == 399
        async with session.get(url + "/api/services") as response:
            assert "Content-Encoding" not in response.headers


async def test_store_failures_answer_500_in_each_apis_shape(
    running: tuple[UIExtension, str],
) -> None:
    ext, url = running
    assert ext._store is not None
    ext._store.close()
    async with aiohttp.ClientSession() as session:
        async with session.get(url + "/api/services") as response:
            body = await response.json()
            assert response.status == 500
            assert body["data"] is None and body["errors"][0]["code"] == 500
            assert "store query failed" in body["errors"][0]["msg"]
        async with session.get(url + "/api/v3/services") as response:
            assert response.status == 500
            assert (await response.json())["error"]["httpCode"] == 500
        async with session.get(url + "/api/otlpy/info") as response:
            assert response.status == 500
            assert (await response.json())["error"]["status"] == 500


async def test_port_in_use_and_unusable_directory(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        ext = extension(tmp_path / "data", f"127.0.0.1:{port}")
        with pytest.raises(PermanentError, match="cannot serve the UI"):
            await ext.start(None)  # type: ignore[arg-type]
    # the lease was given back: the store can be opened again
    store = shared.acquire(tmp_path / "data")
    shared.release(store)
    (tmp_path / "file").write_text("x")
    ext = extension(tmp_path / "file")
    with pytest.raises(PermanentError, match=r"^data directory \S+/file is not a directory$"):
        await ext.start(None)  # type: ignore[arg-type]
    await ext.shutdown()


def test_otlp_endpoints_prefer_the_receiver_named_otlp() -> None:
    from dataclasses import dataclass, field
    from typing import Any

    from otlpy.extensions.ui import otlp_endpoints

    @dataclass
    class Receiver:
        endpoints: dict[str, Any] = field(default_factory=dict)

    @dataclass
    class Host:
        receivers: dict[ComponentID, Any]

    ours = {"http": {"scheme": "https", "host": "0.0.0.0", "port": 4318}}
    other = {"grpc": {"scheme": "http", "host": "", "port": 5317}}
    assert otlp_endpoints(None) == {}
    assert otlp_endpoints(Host({ComponentID("zipkin"): object()})) == {}  # type: ignore[arg-type]
    both = {ComponentID("otlp", "b"): Receiver(other), ComponentID("otlp"): Receiver(ours)}
    assert otlp_endpoints(Host(both)) == ours  # type: ignore[arg-type]
    del both[ComponentID("otlp")]
    assert otlp_endpoints(Host(both)) == other  # type: ignore[arg-type]
