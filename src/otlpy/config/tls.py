"""TLS settings shared by servers and clients, with the Collector's keys (``configtls``)."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from otlpy.errors import ConfigProblem

__all__ = ["TLSClientConfig", "TLSServerConfig"]

TLSVersion = Literal["1.0", "1.1", "1.2", "1.3", ""]

_VERSIONS = {
    "1.0": ssl.TLSVersion.TLSv1,
    "1.1": ssl.TLSVersion.TLSv1_1,
    "1.2": ssl.TLSVersion.TLSv1_2,
    "1.3": ssl.TLSVersion.TLSv1_3,
}


def _read(path: str) -> bytes:
    return Path(path).read_bytes()


@dataclass(frozen=True, kw_only=True)
class TLSServerConfig:
    """Server-side TLS: a certificate and key, and a client CA to require client certificates."""

    cert_file: str = ""
    key_file: str = ""
    ca_file: str = ""
    client_ca_file: str = ""
    min_version: TLSVersion = "1.2"
    max_version: TLSVersion = ""

    def validate(self) -> list[ConfigProblem]:
        problems = []
        if bool(self.cert_file) != bool(self.key_file):
            problems.append(ConfigProblem("", "cert_file and key_file must be set together"))
        return problems

    def ssl_context(self) -> ssl.SSLContext:
        """A server SSL context (reads the files: call at start, not in validate)."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        if self.min_version:
            ctx.minimum_version = _VERSIONS[self.min_version]
        if self.max_version:
            ctx.maximum_version = _VERSIONS[self.max_version]
        ctx.load_cert_chain(self.cert_file, self.key_file)
        if self.client_ca_file:
            ctx.load_verify_locations(self.client_ca_file)
            ctx.verify_mode = ssl.CERT_REQUIRED
        return ctx

    def grpc_credentials_parts(self) -> tuple[bytes, bytes, bytes | None]:
        """(key, cert chain, client CA or None) as grpcio's server credentials take them."""
        client_ca = _read(self.client_ca_file) if self.client_ca_file else None
        return _read(self.key_file), _read(self.cert_file), client_ca


@dataclass(frozen=True, kw_only=True)
class TLSClientConfig:
    """Client-side TLS: ``insecure`` turns TLS off; ``ca_file`` trusts a private CA;
    ``cert_file``/``key_file`` present a client certificate (mTLS)."""

    insecure: bool = False
    insecure_skip_verify: bool = False
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    server_name_override: str = ""
    min_version: TLSVersion = "1.2"
    max_version: TLSVersion = ""

    def validate(self) -> list[ConfigProblem]:
        problems = []
        if bool(self.cert_file) != bool(self.key_file):
            problems.append(ConfigProblem("", "cert_file and key_file must be set together"))
        return problems

    def ssl_context(self) -> ssl.SSLContext:
        """A client SSL context (reads the files)."""
        ctx = ssl.create_default_context(cafile=self.ca_file or None)
        if self.min_version:
            ctx.minimum_version = _VERSIONS[self.min_version]
        if self.max_version:
            ctx.maximum_version = _VERSIONS[self.max_version]
        if self.insecure_skip_verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        if self.cert_file:
            ctx.load_cert_chain(self.cert_file, self.key_file)
        return ctx
