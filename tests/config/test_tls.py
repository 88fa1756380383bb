from __future__ import annotations

import logging
import ssl
from pathlib import Path

import aiohttp
import pytest

from certs import make_certs
from otlpy.component import ComponentID, Kind, Settings
from otlpy.config.tls import TLSClientConfig, TLSServerConfig
from otlpy.extensions.health_check import HealthCheckConfig, HealthCheckExtension
from otlpy.telemetry import SelfTelemetry


def health(tls: TLSServerConfig) -> HealthCheckExtension:
    settings = Settings(
        id=ComponentID("health_check"),
        kind=Kind.EXTENSION,
        telemetry=SelfTelemetry(),
        logger=logging.getLogger("test"),
    )
    return HealthCheckExtension(settings, HealthCheckConfig(endpoint="127.0.0.1:0", tls=tls))


async def test_tls_and_mutual_tls(tmp_path: Path) -> None:
    certs = make_certs(tmp_path)
    server_tls = TLSServerConfig(
        cert_file=str(certs.server_cert),
        key_file=str(certs.server_key),
        client_ca_file=str(certs.ca),
        max_version="1.3",
    )
    ext = health(server_tls)
    await ext.start(None)  # type: ignore[arg-type]
    url = f"https://127.0.0.1:{ext.port}/"
    try:
        with_cert = TLSClientConfig(
            ca_file=str(certs.ca),
            cert_file=str(certs.client_cert),
            key_file=str(certs.client_key),
            max_version="1.3",
        )
        async with aiohttp.ClientSession() as session:
            async with session.get(url, ssl=with_cert.ssl_context()) as response:
                assert response.status == 503  # served over mTLS; not ready yet
            without_cert = TLSClientConfig(ca_file=str(certs.ca))
            with pytest.raises(aiohttp.ClientError):
                async with session.get(url, ssl=without_cert.ssl_context()) as response:
                    await response.read()
            untrusted = TLSClientConfig(
                cert_file=str(certs.client_cert), key_file=str(certs.client_key)
            )
            with pytest.raises(aiohttp.ClientError):
                async with session.get(url, ssl=untrusted.ssl_context()) as response:
                    await response.read()
            skip = TLSClientConfig(
                insecure_skip_verify=True,
                cert_file=str(certs.client_cert),
                key_file=str(certs.client_key),
            )
            async with session.get(url, ssl=skip.ssl_context()) as response:
                assert response.status == 503
    finally:
        await ext.shutdown()


def test_grpc_credential_parts(tmp_path: Path) -> None:
    certs = make_certs(tmp_path)
    config = TLSServerConfig(cert_file=str(certs.server_cert), key_file=str(certs.server_key))
    key, chain, client_ca = config.grpc_credentials_parts()
    assert key.startswith(b"-----BEGIN PRIVATE KEY") and chain.startswith(b"-----BEGIN CERT")
    assert client_ca is None
    context = config.ssl_context()
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert context.verify_mode == ssl.CERT_NONE


def test_validation() -> None:
    assert [p.message for p in TLSServerConfig(cert_file="x").validate()] == [
        "cert_file and key_file must be set together"
    ]
    assert len(TLSClientConfig(key_file="x").validate()) == 1
    assert TLSClientConfig().validate() == [] and TLSServerConfig().validate() == []
