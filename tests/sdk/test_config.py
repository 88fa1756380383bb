"""Exporter settings from arguments and OTEL_EXPORTER_OTLP_* variables."""

from __future__ import annotations

import logging

import grpc
import pytest
from opentelemetry.exporter.otlp.proto.http import Compression as HttpCompression

from otlpy.errors import ConfigError
from otlpy.pdata import Signal
from otlpy.sdk._config import parse_headers, resolve_settings


def resolve(signal: Signal = Signal.TRACES, env: dict[str, str] | None = None, **kw: object):  # type: ignore[no-untyped-def]
    return resolve_settings(signal, environ=env or {}, **kw)  # type: ignore[arg-type]


class TestDefaults:
    def test_grpc_is_the_default(self) -> None:
        s = resolve()
        assert s.protocol == "grpc"
        assert s.endpoint == "localhost:4317"
        assert s.insecure is True
        assert s.timeout == 10.0
        assert s.compression == "none"
        assert s.headers == ()

    @pytest.mark.parametrize(
        ("signal", "path"),
        [(Signal.TRACES, "v1/traces"), (Signal.METRICS, "v1/metrics"), (Signal.LOGS, "v1/logs")],
    )
    def test_http_default_url(self, signal: Signal, path: str) -> None:
        s = resolve(signal, protocol="http/protobuf")
        assert s.endpoint == f"http://localhost:4318/{path}"


class TestEndpoint:
    def test_generic_http_endpoint_gets_the_signal_path(self) -> None:
        env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "https://collector:4318/base/"}
        s = resolve(Signal.LOGS, env, protocol="http/json")
        assert s.endpoint == "https://collector:4318/base/v1/logs"

    def test_signal_http_endpoint_is_used_as_is(self) -> None:
        env = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://generic:4318",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://special:9999/custom",
        }
        assert resolve(Signal.TRACES, env, protocol="http/protobuf").endpoint == (
            "http://special:9999/custom"
        )
        assert resolve(Signal.METRICS, env, protocol="http/protobuf").endpoint == (
            "http://generic:4318/v1/metrics"
        )

    def test_argument_http_endpoint_is_used_as_is(self) -> None:
        s = resolve(protocol="http/protobuf", endpoint="http://h:1/x")
        assert s.endpoint == "http://h:1/x"

    def test_bad_http_endpoint_argument(self) -> None:
        with pytest.raises(ConfigError, match="endpoint"):
            resolve(protocol="http/protobuf", endpoint="collector:4318")

    def test_bad_http_endpoint_variable_falls_back(self, caplog: pytest.LogCaptureFixture) -> None:
        env = {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "ftp://x"}
        with caplog.at_level(logging.WARNING):
            s = resolve(env=env, protocol="http/protobuf")
        assert s.endpoint == "http://localhost:4318/v1/traces"
        assert "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT" in caplog.text

    def test_grpc_schemes(self) -> None:
        assert resolve(endpoint="https://c:4317").insecure is False
        assert resolve(endpoint="https://c:4317").endpoint == "c:4317"
        assert resolve(endpoint="http://c:4317").insecure is True
        # https wins over an explicit insecure=True, as in the official exporter
        assert resolve(endpoint="https://c:4317", insecure=True).insecure is False

    def test_grpc_without_scheme_defaults_to_tls(self) -> None:
        s = resolve(endpoint="c:4317")
        assert (s.endpoint, s.insecure) == ("c:4317", False)

    def test_grpc_insecure_variable(self) -> None:
        env = {"OTEL_EXPORTER_OTLP_INSECURE": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "c:1"}
        assert resolve(env=env).insecure is True
        env["OTEL_EXPORTER_OTLP_TRACES_INSECURE"] = "false"
        assert resolve(env=env).insecure is False
        assert resolve(env=env, insecure=True).insecure is True

    def test_grpc_insecure_variable_garbage(self, caplog: pytest.LogCaptureFixture) -> None:
        env = {"OTEL_EXPORTER_OTLP_INSECURE": "yes", "OTEL_EXPORTER_OTLP_ENDPOINT": "c:1"}
        with caplog.at_level(logging.WARNING):
            assert resolve(env=env).insecure is False
        assert "OTEL_EXPORTER_OTLP_INSECURE" in caplog.text

    def test_grpc_per_signal_endpoint(self) -> None:
        env = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:1",
            "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "http://b:2",
        }
        assert resolve(Signal.TRACES, env).endpoint == "a:1"
        assert resolve(Signal.METRICS, env).endpoint == "b:2"

    def test_blank_variables_are_unset(self) -> None:
        env = {
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "  ",
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:1",
        }
        assert resolve(env=env).endpoint == "a:1"

    def test_empty_grpc_target(self) -> None:
        with pytest.raises(ConfigError, match="names no host"):
            resolve(endpoint="http://")


class TestTimeout:
    def test_variable_is_milliseconds(self) -> None:
        assert resolve(env={"OTEL_EXPORTER_OTLP_TIMEOUT": "2500"}).timeout == 2.5
        env = {"OTEL_EXPORTER_OTLP_TIMEOUT": "2500", "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": "500"}
        assert resolve(env=env).timeout == 0.5

    def test_argument_is_seconds(self) -> None:
        assert resolve(timeout=3).timeout == 3.0

    def test_small_value_warns_about_units(self, caplog: pytest.LogCaptureFixture) -> None:
        with caplog.at_level(logging.WARNING):
            assert resolve(env={"OTEL_EXPORTER_OTLP_TIMEOUT": "10"}).timeout == 0.01
        assert "milliseconds" in caplog.text and "10000" in caplog.text

    @pytest.mark.parametrize("value", ["ten", "0", "-5"])
    def test_bad_variable_falls_back(self, value: str, caplog: pytest.LogCaptureFixture) -> None:
        with caplog.at_level(logging.WARNING):
            assert resolve(env={"OTEL_EXPORTER_OTLP_TIMEOUT": value}).timeout == 10.0
        assert "OTEL_EXPORTER_OTLP_TIMEOUT" in caplog.text

    def test_bad_argument(self) -> None:
        with pytest.raises(ConfigError, match="timeout"):
            resolve(timeout=0)


class TestCompression:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("gzip", "gzip"),
            ("GZIP ", "gzip"),
            ("none", "none"),
            (grpc.Compression.Gzip, "gzip"),
            (grpc.Compression.NoCompression, "none"),
            (grpc.Compression.Deflate, "deflate"),
        ],
    )
    def test_grpc_values(self, value: object, expected: str) -> None:
        assert resolve(compression=value).compression == expected

    def test_http_enum(self) -> None:
        s = resolve(protocol="http/protobuf", compression=HttpCompression.Gzip)
        assert s.compression == "gzip"
        assert resolve(protocol="http/protobuf", compression="zstd").compression == "zstd"

    def test_zstd_not_over_grpc(self) -> None:
        with pytest.raises(ConfigError, match="zstd"):
            resolve(compression="zstd")

    def test_not_a_compression(self) -> None:
        with pytest.raises(ConfigError, match="compression"):
            resolve(compression=3)

    def test_variable(self, caplog: pytest.LogCaptureFixture) -> None:
        env = {"OTEL_EXPORTER_OTLP_COMPRESSION": "gzip"}
        assert resolve(env=env).compression == "gzip"
        env["OTEL_EXPORTER_OTLP_TRACES_COMPRESSION"] = "brotli"
        with caplog.at_level(logging.WARNING):
            assert resolve(env=env).compression == "none"
        assert "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION" in caplog.text


class TestHeaders:
    def test_parse(self) -> None:
        assert parse_headers("Api-Key=a%20b, x=1=2,,") == (("api-key", "a b"), ("x", "1=2"))

    @pytest.mark.parametrize("text", ["novalue", "=x", "a b=c"])
    def test_parse_errors(self, text: str) -> None:
        with pytest.raises(ValueError, match="malformed"):
            parse_headers(text)

    def test_signal_variable_replaces_generic(self) -> None:
        env = {"OTEL_EXPORTER_OTLP_HEADERS": "a=1", "OTEL_EXPORTER_OTLP_LOGS_HEADERS": "b=2"}
        assert resolve(Signal.TRACES, env).headers == (("a", "1"),)
        assert resolve(Signal.LOGS, env).headers == (("b", "2"),)

    def test_argument_forms(self) -> None:
        assert resolve(headers={"K": "v"}).headers == (("k", "v"),)
        assert resolve(headers=[("K", "v")]).headers == (("k", "v"),)
        assert resolve(headers="k=v").headers == (("k", "v"),)

    def test_bad_argument_and_variable(self, caplog: pytest.LogCaptureFixture) -> None:
        with pytest.raises(ConfigError, match="headers"):
            resolve(headers="oops")
        with caplog.at_level(logging.WARNING):
            assert resolve(env={"OTEL_EXPORTER_OTLP_HEADERS": "oops"}).headers == ()
        assert "OTEL_EXPORTER_OTLP_HEADERS" in caplog.text


class TestProtocolAndFiles:
    def test_protocol_variable(self) -> None:
        env = {"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}
        assert resolve(env=env).protocol == "http/protobuf"
        env["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"] = "http/json"
        assert resolve(env=env).protocol == "http/json"
        assert resolve(Signal.METRICS, env).protocol == "http/protobuf"

    def test_bad_protocol(self, caplog: pytest.LogCaptureFixture) -> None:
        with pytest.raises(ConfigError, match="protocol"):
            resolve(protocol="thrift")
        with caplog.at_level(logging.WARNING):
            assert resolve(env={"OTEL_EXPORTER_OTLP_PROTOCOL": "thrift"}).protocol == "grpc"

    def test_certificates_per_signal(self) -> None:
        env = {
            "OTEL_EXPORTER_OTLP_CERTIFICATE": "/ca.pem",
            "OTEL_EXPORTER_OTLP_CLIENT_KEY": "/key.pem",
            "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE": "/cert.pem",
            "OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE": "/logs-ca.pem",
        }
        traces = resolve(Signal.TRACES, env)
        logs = resolve(Signal.LOGS, env)
        assert (traces.certificate_file, traces.client_key_file) == ("/ca.pem", "/key.pem")
        assert logs.certificate_file == "/logs-ca.pem"
        assert logs.client_certificate_file == "/cert.pem"
        assert resolve(env=env, certificate_file="/arg.pem").certificate_file == "/arg.pem"

    def test_every_problem_is_reported(self) -> None:
        with pytest.raises(ConfigError) as info:
            resolve(protocol="http/protobuf", endpoint="x", timeout=-1, compression="lz4")
        paths = {p.path for p in info.value.problems}
        assert paths == {"endpoint", "timeout", "compression"}
