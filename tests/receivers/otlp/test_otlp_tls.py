"""TLS and mutual TLS on both servers, with certificates made for the test."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import pytest
from otlp_requests import PROTOBUF, traces

from certs import CertFiles as Certs
from certs import make_certs
from otlpy.pdata import Signal
from otlpy.receivers.otlp.grpc import SERVICES

EXPORT = f"/{SERVICES[Signal.TRACES]}/Export"


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("certs"))


def _tls(certs: Certs, mutual: bool) -> dict[str, str]:
    tls = {"cert_file": str(certs.server_cert), "key_file": str(certs.server_key)}
    if mutual:
        tls["client_ca_file"] = str(certs.ca)
    return tls


def _grpc_channel(target: str, certs: Certs, *, with_client_cert: bool) -> grpc.aio.Channel:
    client_parts: dict[str, bytes] = {}
    if with_client_cert:
        client_parts = {
            "private_key": certs.client_key.read_bytes(),
            "certificate_chain": certs.client_cert.read_bytes(),
        }
    credentials = grpc.ssl_channel_credentials(
        root_certificates=certs.ca.read_bytes(), **client_parts
    )
    return grpc.aio.secure_channel(
        target, credentials, options=[("grpc.ssl_target_name_override", "localhost")]
    )


def _client_ssl(certs: Certs, *, with_client_cert: bool) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(certs.ca))
    if with_client_cert:
        context.load_cert_chain(str(certs.client_cert), str(certs.client_key))
    return context


async def _grpc_export(channel: grpc.aio.Channel) -> bytes:
    result: bytes = await channel.unary_unary(EXPORT)(traces(1).SerializeToString(), timeout=5)
    return result


async def _http_post(url: str, context: ssl.SSLContext) -> int:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            url, data=traces(1).SerializeToString(), headers={"Content-Type": PROTOBUF}, ssl=context
        ) as response,
    ):
        return response.status


@pytest.mark.parametrize("mutual", [False, True], ids=["tls", "mtls"])
async def test_grpc_tls(start_receiver: Any, certs: Certs, mutual: bool) -> None:
    running = await start_receiver(
        {"grpc": {"endpoint": "127.0.0.1:0", "tls": _tls(certs, mutual)}}
    )
    async with _grpc_channel(running.grpc_target, certs, with_client_cert=True) as channel:
        assert await _grpc_export(channel) == b""
    async with grpc.aio.insecure_channel(running.grpc_target) as plain:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await _grpc_export(plain)
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    async with _grpc_channel(running.grpc_target, certs, with_client_cert=False) as channel:
        if mutual:
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await _grpc_export(channel)
            assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
        else:
            assert await _grpc_export(channel) == b""
    assert running.sink.item_count == (1 if mutual else 2)


@pytest.mark.parametrize("mutual", [False, True], ids=["tls", "mtls"])
async def test_http_tls(start_receiver: Any, certs: Certs, mutual: bool) -> None:
    running = await start_receiver(
        {"http": {"endpoint": "127.0.0.1:0", "tls": _tls(certs, mutual)}}
    )
    url = f"https://127.0.0.1:{running.receiver.http_port}/v1/traces"
    assert await _http_post(url, _client_ssl(certs, with_client_cert=True)) == 200
    if mutual:
        with pytest.raises(aiohttp.ClientError):
            await _http_post(url, _client_ssl(certs, with_client_cert=False))
    else:
        assert await _http_post(url, _client_ssl(certs, with_client_cert=False)) == 200
    with pytest.raises(aiohttp.ClientError):
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                url.replace("https", "http"), data=b"", headers={"Content-Type": PROTOBUF}
            ),
        ):
            pass
    assert running.sink.item_count == (1 if mutual else 2)


async def test_missing_certificate_file_fails_start(start_receiver: Any, tmp_path: Path) -> None:
    missing = {"cert_file": str(tmp_path / "nope.pem"), "key_file": str(tmp_path / "nope.key")}
    with pytest.raises(OSError):
        await start_receiver({"http": {"endpoint": "127.0.0.1:0", "tls": missing}})
    with pytest.raises(OSError):
        await start_receiver({"grpc": {"endpoint": "127.0.0.1:0", "tls": missing}})


async def test_endpoints_name_the_bound_ports_and_scheme(start_receiver: Any, certs: Certs) -> None:
    running = await start_receiver(
        {
            "grpc": {"endpoint": "127.0.0.1:0"},
            "http": {"endpoint": "127.0.0.1:0", "tls": _tls(certs, False)},
        }
    )
    receiver = running.receiver
    assert receiver.endpoints == {
        "grpc": {"scheme": "http", "host": "127.0.0.1", "port": receiver.grpc_port},
        "http": {"scheme": "https", "host": "127.0.0.1", "port": receiver.http_port},
    }
    assert receiver.grpc_port and receiver.http_port  # bound ports, not the configured 0
    only_http = await start_receiver({"http": {"endpoint": "127.0.0.1:0"}})
    assert set(only_http.receiver.endpoints) == {"http"}
