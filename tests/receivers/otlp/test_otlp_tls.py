"""TLS and mutual TLS on both servers, with certificates made for the test."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from otlp_requests import PROTOBUF, traces

from otlpy.pdata import Signal
from otlpy.receivers.otlp.grpc import SERVICES

EXPORT = f"/{SERVICES[Signal.TRACES]}/Export"


@dataclass(frozen=True)
class Certs:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _issue(
    subject: str,
    key: Any,
    issuer: x509.Name,
    issuer_key: Any,
    *,
    ca: bool = False,
    usage: Any = None,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if usage is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if usage == ExtendedKeyUsageOID.SERVER_AUTH:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _write(path: Path, cert: x509.Certificate | None = None, key: Any = None) -> Path:
    if cert is not None:
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    else:
        path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    return path


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    folder = tmp_path_factory.mktemp("certs")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = _issue("otlpy test CA", ca_key, _name("otlpy test CA"), ca_key, ca=True)
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = _issue(
        "localhost", server_key, ca_cert.subject, ca_key, usage=ExtendedKeyUsageOID.SERVER_AUTH
    )
    client_key = ec.generate_private_key(ec.SECP256R1())
    client_cert = _issue(
        "client", client_key, ca_cert.subject, ca_key, usage=ExtendedKeyUsageOID.CLIENT_AUTH
    )
    return Certs(
        ca=_write(folder / "ca.pem", ca_cert),
        server_cert=_write(folder / "server.pem", server_cert),
        server_key=_write(folder / "server.key", key=server_key),
        client_cert=_write(folder / "client.pem", client_cert),
        client_key=_write(folder / "client.key", key=client_key),
    )


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
    assert running.sink.items == (1 if mutual else 2)


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
    assert running.sink.items == (1 if mutual else 2)


async def test_missing_certificate_file_fails_start(start_receiver: Any, tmp_path: Path) -> None:
    missing = {"cert_file": str(tmp_path / "nope.pem"), "key_file": str(tmp_path / "nope.key")}
    with pytest.raises(OSError):
        await start_receiver({"http": {"endpoint": "127.0.0.1:0", "tls": missing}})
    with pytest.raises(OSError):
        await start_receiver({"grpc": {"endpoint": "127.0.0.1:0", "tls": missing}})
