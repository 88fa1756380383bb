"""The otlp receiver's configuration, decoded from YAML as the collector's loader does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from otlpy.component import Kind, find_factory
from otlpy.config.decode import decode
from otlpy.config.tls import TLSServerConfig
from otlpy.receivers.otlp import factory
from otlpy.receivers.otlp.config import (
    DEFAULT_MAX_REQUEST_BODY_SIZE,
    Config,
    CORSConfig,
    GRPCConfig,
    HTTPConfig,
    KeepaliveConfig,
    KeepaliveEnforcementPolicy,
    KeepaliveServerParameters,
    ProtocolsConfig,
    parse_endpoint,
)
from otlpy.receivers.otlp.grpc import listen_address, server_options

TESTDATA = Path(__file__).parent / "testdata"


def load(name: str) -> tuple[Any, list[str]]:
    data = yaml.safe_load((TESTDATA / name).read_text())
    config, problems = decode(factory.config, data, "receivers.otlp")
    return config, [str(p) for p in problems]


def test_registered_through_the_entry_point() -> None:
    assert find_factory(Kind.RECEIVER, "otlp") is factory
    assert factory.signals == frozenset({"traces", "metrics", "logs"})


def test_default_config_validates_and_runs_both_protocols() -> None:
    config = factory.default_config()
    assert config.validate() == []
    assert config.protocols.grpc == GRPCConfig()
    assert config.protocols.http == HTTPConfig()
    assert config.protocols.grpc.endpoint == "localhost:4317"
    assert config.protocols.http.endpoint == "localhost:4318"
    assert config.protocols.http.body_limit == DEFAULT_MAX_REQUEST_BODY_SIZE == 20 * 1024 * 1024
    assert config.protocols.grpc.max_recv_msg_size == 4 * 1024 * 1024


def test_full_config() -> None:
    config, problems = load("config.yaml")
    assert problems == []
    tls = TLSServerConfig(cert_file="test.crt", key_file="test.key")
    assert config == Config(
        protocols=ProtocolsConfig(
            grpc=GRPCConfig(
                endpoint="0.0.0.0:4317",
                transport="tcp",
                tls=TLSServerConfig(
                    cert_file="test.crt", key_file="test.key", client_ca_file="ca.crt"
                ),
                max_recv_msg_size_mib=32,
                max_concurrent_streams=16,
                read_buffer_size=1024,
                write_buffer_size=1024,
                include_metadata=True,
                keepalive=KeepaliveConfig(
                    server_parameters=KeepaliveServerParameters(
                        max_connection_idle=11,
                        max_connection_age=12,
                        max_connection_age_grace=13,
                        time=30,
                        timeout=5,
                    ),
                    enforcement_policy=KeepaliveEnforcementPolicy(
                        min_time=10, permit_without_stream=True
                    ),
                ),
            ),
            http=HTTPConfig(
                endpoint="0.0.0.0:4318",
                traces_url_path="/traces",
                metrics_url_path="v2/metrics",
                logs_url_path="/v2/logs",
                include_metadata=True,
                max_request_body_size=10 * 1024 * 1024,
                compression_algorithms=("", "gzip", "zstd"),
                tls=tls,
                cors=CORSConfig(
                    allowed_origins=("https://*.test.com", "https://test.com"),
                    allowed_headers=("X-Custom",),
                    max_age=7200,
                ),
            ),
        )
    )
    assert config.protocols.http.url_paths() == {
        "traces": "/traces",
        "metrics": "/v2/metrics",  # the Collector adds the missing slash
        "logs": "/v2/logs",
    }
    assert config.protocols.grpc.max_recv_msg_size == 32 * 1024 * 1024


@pytest.mark.parametrize(
    ("name", "grpc", "http"),
    [
        ("default.yaml", True, True),
        ("only_grpc.yaml", True, False),
        ("only_http.yaml", False, True),
        ("only_http_null.yaml", False, True),
        ("only_http_empty_map.yaml", False, True),
    ],
)
def test_a_protocol_is_on_when_its_key_is_present(name: str, grpc: bool, http: bool) -> None:
    config, problems = load(name)
    assert problems == []
    assert (config.protocols.grpc == GRPCConfig()) is grpc
    assert (config.protocols.grpc is None) is not grpc
    if http:
        assert config.protocols.http.traces_url_path == "/v1/traces"
    else:
        assert config.protocols.http is None


def test_unix_socket() -> None:
    config, problems = load("uds.yaml")
    assert problems == []
    assert config.protocols.grpc.transport == "unix"
    assert listen_address(config.protocols.grpc) == "unix:/tmp/grpc_otlp.sock"
    assert config.protocols.http is None


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "bad_no_proto_config.yaml",
            ["receivers.otlp.protocols: must specify at least one protocol"],
        ),
        ("bad_proto_config.yaml", ["receivers.otlp.protocols.thrift: unknown key"]),
        ("typo_default_proto_config.yaml", ["receivers.otlp.protocols.htttp: unknown key"]),
        (
            "bad_auth.yaml",
            [
                "receivers.otlp.protocols.grpc.auth: authenticator extensions are not supported",
                "receivers.otlp.protocols.http.auth: authenticator extensions are not supported",
            ],
        ),
        (
            "bad_endpoint.yaml",
            [
                "receivers.otlp.protocols.grpc.endpoint: expected host:port",
                "receivers.otlp.protocols.http.endpoint: an IPv6 address needs brackets",
            ],
        ),
        (
            "bad_tls.yaml",
            [
                "receivers.otlp.protocols.grpc.tls.min_version: grpcio cannot set TLS versions",
                "receivers.otlp.protocols.http.tls: a server needs cert_file and key_file",
            ],
        ),
        (
            "bad_http.yaml",
            [
                "receivers.otlp.protocols.http.cors.allowed_origins[0]: must not be empty",
                "receivers.otlp.protocols.http.cors.max_age: must not be negative",
                "receivers.otlp.protocols.http.metrics_url_path: invalid URL path",
                "receivers.otlp.protocols.http.logs_url_path: same path as traces_url_path",
                "receivers.otlp.protocols.http.max_request_body_size: must not be negative",
                "receivers.otlp.protocols.http.compression_algorithms[0]: 'snappy' is not "
                "supported by otlpy",
                "receivers.otlp.protocols.http.compression_algorithms[1]: unknown compression",
            ],
        ),
        (
            "bad_types.yaml",
            [
                "receivers.otlp.protocols.grpc.max_recv_msg_size_mib: expected int",
                "receivers.otlp.protocols.grpc.read_buffer_size: invalid size",
                "receivers.otlp.protocols.grpc.transport: must be one of",
                "receivers.otlp.protocols.grpc.keepalive.server_parameters.time: a duration "
                "needs a unit",
                "receivers.otlp.protocols.http.max_request_body_size: invalid size",
                "receivers.otlp.protocols.http.include_metadata: expected bool",
            ],
        ),
    ],
)
def test_bad_configs_report_every_problem(name: str, expected: list[str]) -> None:
    _, problems = load(name)
    assert len(problems) == len(expected), problems
    for want in expected:
        assert any(p.startswith(want) for p in problems), (want, problems)


@pytest.mark.parametrize(
    ("endpoint", "expected"),
    [
        ("localhost:4317", ("localhost", 4317)),
        ("0.0.0.0:0", ("0.0.0.0", 0)),
        (":4318", ("", 4318)),
        ("[::1]:4317", ("::1", 4317)),
    ],
)
def test_parse_endpoint(endpoint: str, expected: tuple[str, int]) -> None:
    assert parse_endpoint(endpoint) == expected


@pytest.mark.parametrize("endpoint", ["localhost", "host:port", "h:70000", "[::1:4317", "::1:4317"])
def test_parse_endpoint_refuses(endpoint: str) -> None:
    with pytest.raises(ValueError):
        parse_endpoint(endpoint)


def test_grpc_listen_addresses() -> None:
    assert listen_address(GRPCConfig(endpoint=":4317")) == "[::]:4317"
    assert listen_address(GRPCConfig(endpoint="[::1]:0")) == "[::1]:0"
    assert listen_address(GRPCConfig(endpoint="localhost:0", transport="tcp4")) == "127.0.0.1:0"
    assert listen_address(GRPCConfig(endpoint=":0", transport="tcp4")) == "0.0.0.0:0"
    assert listen_address(GRPCConfig(endpoint=":0", transport="tcp6")) == "[::]:0"


def test_grpc_server_options_follow_the_config() -> None:
    config, _ = load("config.yaml")
    options = dict(server_options(config.protocols.grpc))
    assert options == {
        "grpc.so_reuseport": 0,
        "grpc.max_receive_message_length": 32 * 1024 * 1024,
        "grpc.max_concurrent_streams": 16,
        "grpc.experimental.tcp_read_chunk_size": 1024,
        "grpc.http2.write_buffer_size": 1024,
        "grpc.max_connection_idle_ms": 11_000,
        "grpc.max_connection_age_ms": 12_000,
        "grpc.max_connection_age_grace_ms": 13_000,
        "grpc.keepalive_time_ms": 30_000,
        "grpc.keepalive_timeout_ms": 5_000,
        "grpc.http2.min_ping_interval_without_data_ms": 10_000,
        "grpc.keepalive_permit_without_calls": 1,
    }
    defaults = dict(server_options(GRPCConfig(read_buffer_size=0)))
    assert defaults == {"grpc.so_reuseport": 0, "grpc.max_receive_message_length": 4 << 20}


def test_validate_by_hand() -> None:
    grpc = GRPCConfig(
        endpoint="",
        transport="unix",
        max_recv_msg_size_mib=4096,
        max_concurrent_streams=-1,
        tls=TLSServerConfig(cert_file="c", key_file="k", max_version="1.2"),
    )
    paths = [p.path for p in grpc.validate()]
    assert paths == [
        "endpoint",
        "tls.max_version",
        "max_recv_msg_size_mib",
        "max_concurrent_streams",
    ]
    params = KeepaliveServerParameters(max_connection_age=-1, timeout=-1)
    assert [p.path for p in params.validate()] == ["max_connection_age", "timeout"]
    assert [p.path for p in KeepaliveEnforcementPolicy(min_time=-1).validate()] == ["min_time"]
    assert HTTPConfig(max_request_body_size=0).body_limit == DEFAULT_MAX_REQUEST_BODY_SIZE
