"""Fixtures for the exporter tests: real OTLP servers on 127.0.0.1 and TLS certificates."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from exporter_testkit import GrpcSink, HttpSink, start_grpc_sink, start_http_sink

from certs import CertFiles, make_certs


@pytest.fixture
async def grpc_sink() -> AsyncIterator[GrpcSink]:
    sink = GrpcSink()
    server = await start_grpc_sink(sink)
    yield sink
    await server.stop(None)


@pytest.fixture
async def http_sink() -> AsyncIterator[HttpSink]:
    sink = HttpSink()
    runner = await start_http_sink(sink)
    yield sink
    await runner.cleanup()


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> CertFiles:
    return make_certs(tmp_path_factory.mktemp("certs"))
