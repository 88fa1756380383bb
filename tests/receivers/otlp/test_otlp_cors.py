"""CORS: the policy alone, and preflight and actual requests against the HTTP server."""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
import pytest
from otlp_requests import PROTOBUF, traces

from otlpy.receivers.otlp._cors import CORSPolicy
from otlpy.receivers.otlp.config import CORSConfig


def policy(**options: Any) -> CORSPolicy:
    return CORSPolicy(CORSConfig(**options))


def preflight(origin: str, method: str = "POST", headers: str = "") -> dict[str, str]:
    request = {"Origin": origin, "Access-Control-Request-Method": method}
    if headers:
        request["Access-Control-Request-Headers"] = headers
    return request


@pytest.mark.parametrize(
    ("origins", "origin", "allowed"),
    [
        (("https://test.com",), "https://test.com", True),
        (("https://test.com",), "https://TEST.com", True),
        (("https://test.com",), "https://evil.com", False),
        (("https://*.test.com",), "https://a.b.test.com", True),
        (("https://*.test.com",), "https://test.com", False),
        (("https://*.test.com",), "http://a.test.com", False),
        (("http://localhost:*",), "http://localhost:8080", True),
        (("*",), "https://anything.example", True),
        (("https://a.com", "https://b.*"), "https://b.org", True),
    ],
)
def test_origin_matching(origins: tuple[str, ...], origin: str, allowed: bool) -> None:
    assert policy(allowed_origins=origins).origin_allowed(origin) is allowed


def test_disabled_without_origins() -> None:
    assert not policy().enabled
    assert not policy(allowed_headers=("X-A",)).enabled
    assert policy(allowed_origins=("*",)).enabled


def test_allowed_preflight() -> None:
    headers = policy(allowed_origins=("https://*.test.com",), max_age=600).preflight(
        preflight("https://app.test.com", "post", "Content-Type, X-Requested-With")
    )
    assert headers == {
        "Vary": "Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
        "Access-Control-Allow-Origin": "https://app.test.com",
        "Access-Control-Allow-Methods": "POST",
        "Access-Control-Allow-Headers": "Content-Type, X-Requested-With",
        "Access-Control-Allow-Credentials": "true",
        "Access-Control-Max-Age": "600",
    }


def test_star_origin_is_answered_with_star() -> None:
    headers = policy(allowed_origins=("*",)).preflight(preflight("https://x.org"))
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Max-Age" not in headers


@pytest.mark.parametrize(
    "request_headers",
    [
        preflight("https://evil.com"),
        preflight("https://test.com", "DELETE"),
        preflight("https://test.com", "POST", "Authorization"),
        {"Access-Control-Request-Method": "POST"},  # no Origin
    ],
)
def test_refused_preflight_has_no_allow_headers(request_headers: dict[str, str]) -> None:
    headers = policy(allowed_origins=("https://test.com",)).preflight(request_headers)
    assert "Access-Control-Allow-Origin" not in headers
    assert headers["Vary"].startswith("Origin")


def test_configured_and_star_headers() -> None:
    configured = policy(allowed_origins=("*",), allowed_headers=("X-Tenant",))
    assert "Access-Control-Allow-Origin" in configured.preflight(
        preflight("https://a.org", "POST", "x-tenant, content-type")
    )
    # once headers are configured the X-Requested-With default no longer applies
    assert "Access-Control-Allow-Origin" not in configured.preflight(
        preflight("https://a.org", "POST", "X-Requested-With")
    )
    anything = policy(allowed_origins=("*",), allowed_headers=("*",))
    assert "Access-Control-Allow-Origin" in anything.preflight(
        preflight("https://a.org", "POST", "Authorization, X-Whatever")
    )


def test_actual_request_headers() -> None:
    cors = policy(allowed_origins=("https://test.com",))
    assert cors.actual("POST", {"Origin": "https://test.com"}) == {
        "Vary": "Origin",
        "Access-Control-Allow-Origin": "https://test.com",
        "Access-Control-Allow-Credentials": "true",
    }
    assert cors.actual("POST", {"Origin": "https://evil.com"}) == {"Vary": "Origin"}
    assert cors.actual("PUT", {"Origin": "https://test.com"}) == {"Vary": "Origin"}
    assert cors.actual("POST", {}) == {"Vary": "Origin"}


async def test_cors_on_the_server(start_receiver: Any) -> None:
    running = await start_receiver(
        {
            "http": {
                "endpoint": "127.0.0.1:0",
                "cors": {"allowed_origins": ["https://*.test.com"], "max_age": 7200},
            }
        }
    )
    url = running.http_url + "/v1/traces"
    async with aiohttp.ClientSession() as session:
        async with session.options(
            url, headers=preflight("https://app.test.com", "POST", "content-type")
        ) as response:
            assert response.status == 204
            assert response.headers["Access-Control-Allow-Origin"] == "https://app.test.com"
            assert response.headers["Access-Control-Max-Age"] == "7200"
        async with session.options(url, headers=preflight("https://evil.com")) as response:
            assert response.status == 204
            assert "Access-Control-Allow-Origin" not in response.headers
        async with session.post(
            url,
            data=traces(1).SerializeToString(),
            headers={"Content-Type": PROTOBUF, "Origin": "https://app.test.com"},
        ) as response:
            assert response.status == 200
            assert response.headers["Access-Control-Allow-Origin"] == "https://app.test.com"
            assert response.headers["Access-Control-Allow-Credentials"] == "true"
        # errors carry the CORS headers too, so that a browser can read them
        async with session.post(
            url, data=b"\xff", headers={"Content-Type": PROTOBUF, "Origin": "https://app.test.com"}
        ) as response:
            assert response.status == 400
            assert response.headers["Access-Control-Allow-Origin"] == "https://app.test.com"
        async with session.get(url, headers={"Origin": "https://app.test.com"}) as response:
            assert response.status == 405
            assert response.headers["Allow"] == "POST, OPTIONS"
    assert running.sink.item_count == 1


async def test_headers_without_origins_warn_and_leave_cors_off(
    start_receiver: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    running = await start_receiver(
        {"http": {"endpoint": "127.0.0.1:0", "cors": {"allowed_headers": ["X-A"]}}}
    )
    assert any("allowed_origins is empty" in r.getMessage() for r in caplog.records)
    async with (
        aiohttp.ClientSession() as session,
        session.options(
            running.http_url + "/v1/traces", headers=preflight("https://a.org")
        ) as response,
    ):
        assert response.status == 405
        assert "Access-Control-Allow-Origin" not in response.headers
