"""otlpy.client: the current request's client, through a context variable."""

from __future__ import annotations

import asyncio

from otlpy import client


async def test_client_info_follows_tasks_and_is_reset() -> None:
    assert client.current() == client.ClientInfo()
    info = client.ClientInfo(addr="10.0.0.1:5000", metadata={"x-tenant": ("a", "b")})

    async def read() -> client.ClientInfo:
        return client.current()

    with client.using(info):
        assert client.current().get("X-Tenant") == ("a", "b")
        assert await asyncio.gather(read(), read()) == [info, info]
    assert client.current().addr == ""
    assert client.current().get("x-tenant") == ()
