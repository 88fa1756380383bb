from __future__ import annotations

import logging

import aiohttp

from otlpy.component import ComponentID, Kind, Settings
from otlpy.extensions.health_check import HealthCheckConfig, HealthCheckExtension
from otlpy.telemetry import SelfTelemetry


def extension(**kwargs: object) -> HealthCheckExtension:
    settings = Settings(
        id=ComponentID("health_check"),
        kind=Kind.EXTENSION,
        telemetry=SelfTelemetry(),
        logger=logging.getLogger("test.health"),
    )
    return HealthCheckExtension(settings, HealthCheckConfig(endpoint="127.0.0.1:0", **kwargs))  # type: ignore[arg-type]


async def test_reports_readiness() -> None:
    ext = extension()
    await ext.start(None)  # type: ignore[arg-type]
    url = f"http://127.0.0.1:{ext.port}/"
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(url) as response:
                assert response.status == 503
                assert (await response.json()) == {"status": "Server not available"}
            ext.ready()
            async with session.get(url) as response:
                assert response.status == 200
                body = await response.json()
                assert body["status"] == "Server available"
                assert body["upSince"].endswith("Z")
            ext.not_ready()
            async with session.get(url) as response:
                assert response.status == 503
    finally:
        await ext.shutdown()


async def test_custom_path_and_bodies() -> None:
    ext = extension(path="/health/status", response_body={"healthy": "ok", "unhealthy": "nope"})
    await ext.start(None)  # type: ignore[arg-type]
    base = f"http://127.0.0.1:{ext.port}"
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(base + "/health/status") as response:
                assert (response.status, await response.text()) == (503, "nope")
            ext.ready()
            async with session.get(base + "/health/status") as response:
                assert (response.status, await response.text()) == (200, "ok")
            async with session.get(base + "/") as response:
                assert response.status == 404
    finally:
        await ext.shutdown()
    await ext.shutdown()  # twice is fine


def test_validation() -> None:
    problems = HealthCheckConfig(endpoint="localhost", path="health").validate()
    assert {p.path for p in problems} == {"endpoint", "path"}
