"""Metric and log exporters against real servers, compared with the official exporters; TLS;
the official constructor signatures; lifecycle."""

from __future__ import annotations

import datetime
import logging
import ssl
from pathlib import Path
from typing import Any

import grpc
import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import (
    OTLPLogExporter as OfficialGrpcLogExporter,
)
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (
    OTLPMetricExporter as OfficialGrpcMetricExporter,
)
from opentelemetry.exporter.otlp.proto.http._log_exporter import (
    OTLPLogExporter as OfficialHttpLogExporter,
)
from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
    OTLPMetricExporter as OfficialHttpMetricExporter,
)
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import LogRecordExportResult
from opentelemetry.sdk.metrics import Counter, Histogram, ObservableCounter, UpDownCounter
from opentelemetry.sdk.metrics.export import AggregationTemporality, MetricExportResult
from opentelemetry.sdk.metrics.view import (
    ExplicitBucketHistogramAggregation,
    ExponentialBucketHistogramAggregation,
    LastValueAggregation,
)
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SpanExportResult

import otlpy.sdk.grpc
import otlpy.sdk.http
from otlpy.errors import ConfigError
from otlpy.pdata import Signal
from otlpy.sdk import (
    BatchLogRecordProcessor,
    BatchSpanProcessor,
    OTLPLogExporter,
    OTLPMetricExporter,
    OTLPSpanExporter,
)
from otlpy.sdk._exporters import count_points, split_metrics
from otlpy.wire import decode_request

from .conftest import make_logs, make_metrics
from .otlp_servers import GrpcOtlpServer, HttpOtlpServer


def metrics_request(data: bytes) -> ExportMetricsServiceRequest:
    request = ExportMetricsServiceRequest()
    request.ParseFromString(data)
    return request


def logs_request(data: bytes) -> ExportLogsServiceRequest:
    request = ExportLogsServiceRequest()
    request.ParseFromString(data)
    return request


class TestMetrics:
    def test_grpc_same_as_official(self, grpc_server: GrpcOtlpServer) -> None:
        data = make_metrics()
        ours = OTLPMetricExporter(grpc_server.endpoint)
        official = OfficialGrpcMetricExporter(endpoint=grpc_server.endpoint, insecure=True)
        assert ours.export(data) is MetricExportResult.SUCCESS
        assert official.export(data) is MetricExportResult.SUCCESS
        mine, theirs = grpc_server.received["metrics"]
        assert metrics_request(mine) == metrics_request(theirs)
        assert ours.stats().sent_items == count_points(data) > 0
        ours.shutdown()
        official.shutdown()

    @pytest.mark.parametrize("protocol", ["http/protobuf", "http/json"])
    def test_http_same_as_official(self, http_server: HttpOtlpServer, protocol: str) -> None:
        data = make_metrics()
        url = http_server.url("metrics")
        ours = otlpy.sdk.http.OTLPMetricExporter(url, protocol=protocol, compression="zstd")
        official = OfficialHttpMetricExporter(endpoint=url)
        assert ours.export(data) is MetricExportResult.SUCCESS
        assert official.export(data) is MetricExportResult.SUCCESS
        mine, theirs = http_server.received["metrics"]
        if protocol == "http/json":
            assert decode_request(Signal.METRICS, mine) == metrics_request(theirs)
        else:
            assert metrics_request(mine) == metrics_request(theirs)
        ours.shutdown()
        official.shutdown()

    def test_max_export_batch_size_splits(self, grpc_server: GrpcOtlpServer) -> None:
        data = make_metrics()
        total = count_points(data)
        ours = OTLPMetricExporter(grpc_server.endpoint, max_export_batch_size=5)
        assert ours.export(data) is MetricExportResult.SUCCESS
        requests_ = [metrics_request(r) for r in grpc_server.received["metrics"]]
        assert len(requests_) == -(-total // 5)
        counts = [
            sum(
                len(getattr(m, m.WhichOneof("data")).data_points)
                for rm in r.resource_metrics
                for sm in rm.scope_metrics
                for m in sm.metrics
            )
            for r in requests_
        ]
        assert sum(counts) == total and max(counts) == 5
        ours.shutdown()

    def test_split_keeps_every_point_in_order(self) -> None:
        data = make_metrics()
        pieces = list(split_metrics(data, 4))
        flat = [
            (m.name, p)
            for piece in pieces
            for rm in piece.resource_metrics
            for sm in rm.scope_metrics
            for m in sm.metrics
            for p in m.data.data_points
        ]
        original = [
            (m.name, p)
            for rm in data.resource_metrics
            for sm in rm.scope_metrics
            for m in sm.metrics
            for p in m.data.data_points
        ]
        assert flat == original
        assert all(count_points(p) <= 4 for p in pieces)
        assert next(split_metrics(data, 10_000)).resource_metrics[0].resource == (
            data.resource_metrics[0].resource
        )

    @pytest.mark.parametrize(
        ("preset", "expected"),
        [
            ("", {Counter: "C", UpDownCounter: "C", Histogram: "C", ObservableCounter: "C"}),
            ("delta", {Counter: "D", UpDownCounter: "C", Histogram: "D", ObservableCounter: "D"}),
            (
                "LowMemory",
                {Counter: "D", UpDownCounter: "C", Histogram: "D", ObservableCounter: "C"},
            ),
            ("sideways", {Counter: "C", UpDownCounter: "C", Histogram: "C"}),
        ],
    )
    def test_temporality_preference(
        self, monkeypatch: pytest.MonkeyPatch, preset: str, expected: dict[type, str]
    ) -> None:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", preset)
        exporter = OTLPMetricExporter("http://127.0.0.1:1")
        letters = {AggregationTemporality.DELTA: "D", AggregationTemporality.CUMULATIVE: "C"}
        table = exporter._preferred_temporality
        assert table is not None
        assert {k: letters[table[k]] for k in expected} == expected

    def test_preferences_override_environment(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "delta")
        exporter = OTLPMetricExporter(
            "http://127.0.0.1:1",
            preferred_temporality={Counter: AggregationTemporality.CUMULATIVE},
            preferred_aggregation={Counter: LastValueAggregation()},
        )
        assert exporter._preferred_temporality is not None
        assert exporter._preferred_temporality[Counter] is AggregationTemporality.CUMULATIVE
        assert exporter._preferred_temporality[Histogram] is AggregationTemporality.DELTA
        assert exporter._preferred_aggregation is not None
        assert isinstance(exporter._preferred_aggregation[Counter], LastValueAggregation)

    @pytest.mark.parametrize(
        ("value", "kind"),
        [
            ("base2_exponential_bucket_histogram", ExponentialBucketHistogramAggregation),
            ("explicit_bucket_histogram", ExplicitBucketHistogramAggregation),
            ("nonsense", ExplicitBucketHistogramAggregation),
        ],
    )
    def test_default_histogram_aggregation(
        self, monkeypatch: pytest.MonkeyPatch, value: str, kind: type
    ) -> None:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION", value)
        exporter = OTLPMetricExporter("http://127.0.0.1:1")
        assert exporter._preferred_aggregation is not None
        assert isinstance(exporter._preferred_aggregation[Histogram], kind)

    def test_bad_batch_size(self) -> None:
        with pytest.raises(ConfigError, match="max_export_batch_size"):
            OTLPMetricExporter("http://127.0.0.1:1", max_export_batch_size=0)


class TestLogs:
    def test_grpc_same_as_official(self, grpc_server: GrpcOtlpServer) -> None:
        records = make_logs(9)
        ours = otlpy.sdk.grpc.OTLPLogExporter(grpc_server.endpoint, True)
        official = OfficialGrpcLogExporter(endpoint=grpc_server.endpoint, insecure=True)
        assert ours.export(records) is LogRecordExportResult.SUCCESS
        assert official.export(records) is LogRecordExportResult.SUCCESS
        mine, theirs = grpc_server.received["logs"]
        assert logs_request(mine) == logs_request(theirs)
        assert ours.stats().sent_items == 9
        ours.shutdown()
        official.shutdown()

    @pytest.mark.parametrize("protocol", ["http/protobuf", "http/json"])
    def test_http_same_as_official(self, http_server: HttpOtlpServer, protocol: str) -> None:
        records = make_logs(5)
        url = http_server.url("logs")
        ours = otlpy.sdk.http.OTLPLogExporter(url, protocol=protocol, compression="gzip")
        official = OfficialHttpLogExporter(endpoint=url)
        assert ours.export(records) is LogRecordExportResult.SUCCESS
        assert official.export(records) is LogRecordExportResult.SUCCESS
        mine, theirs = http_server.received["logs"]
        decoded = (
            decode_request(Signal.LOGS, mine) if protocol == "http/json" else logs_request(mine)
        )
        assert decoded == logs_request(theirs)
        ours.shutdown()
        official.shutdown()

    def test_batch_processor(self, grpc_server: GrpcOtlpServer) -> None:
        exporter = OTLPLogExporter(grpc_server.endpoint)
        processor = BatchLogRecordProcessor(exporter, max_export_batch_size=4)
        provider = LoggerProvider()
        provider.add_log_record_processor(processor)
        logger = provider.get_logger("app")
        for i in range(10):
            logger.emit(body=f"line {i}", attributes={"n": i})
        assert provider.force_flush(10_000)
        bodies = [
            r.body.string_value
            for data in grpc_server.received["logs"]
            for rl in logs_request(data).resource_logs
            for sl in rl.scope_logs
            for r in sl.log_records
        ]
        assert bodies == [f"line {i}" for i in range(10)]
        assert processor.stats().lost_items == 0
        provider.shutdown()

    def test_batch_processor_with_foreign_exporter(self) -> None:
        from opentelemetry.sdk._logs import ReadableLogRecord
        from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter

        memory = InMemoryLogRecordExporter()
        processor = BatchLogRecordProcessor(memory)
        provider = LoggerProvider()
        provider.add_log_record_processor(processor)
        provider.get_logger("app").emit(body="hello")
        assert processor.force_flush(5_000)
        (record,) = memory.get_finished_logs()
        assert isinstance(record, ReadableLogRecord)
        assert record.log_record.body == "hello"
        provider.shutdown()


def _certificate(
    name: str, key: ec.EllipticCurvePrivateKey, issuer: tuple[x509.Name, Any] | None
) -> x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    issuer_name, issuer_key = issuer if issuer else (subject, key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
    )
    if issuer is None:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
    else:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost")]), False
        )
    return builder.sign(issuer_key, hashes.SHA256())


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A CA, a server certificate for localhost and a client certificate, as PEM files."""
    root = tmp_path_factory.mktemp("pki")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _certificate("otlpy test CA", ca_key, None)
    files: dict[str, Path] = {}

    def write(name: str, data: bytes) -> None:
        files[name] = root / f"{name}.pem"
        files[name].write_bytes(data)

    write("ca", ca.public_bytes(serialization.Encoding.PEM))
    for who in ("server", "client"):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _certificate("localhost", key, (ca.subject, ca_key))
        write(f"{who}-cert", cert.public_bytes(serialization.Encoding.PEM))
        write(
            f"{who}-key",
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
        )
    return files


class TestTls:
    @pytest.mark.parametrize("mutual", [False, True])
    def test_grpc(self, pki: dict[str, Path], spans: list[Any], mutual: bool) -> None:
        credentials = grpc.ssl_server_credentials(
            [(pki["server-key"].read_bytes(), pki["server-cert"].read_bytes())],
            root_certificates=pki["ca"].read_bytes() if mutual else None,
            require_client_auth=mutual,
        )
        server = GrpcOtlpServer(credentials=credentials).start()
        client = (
            {
                "client_key_file": str(pki["client-key"]),
                "client_certificate_file": str(pki["client-cert"]),
            }
            if mutual
            else {}
        )
        try:
            exporter = OTLPSpanExporter(
                f"https://localhost:{server.port}", certificate_file=str(pki["ca"]), **client
            )
            assert exporter.export(spans) is SpanExportResult.SUCCESS
            assert len(server.received["traces"]) == 1
            exporter.shutdown()
        finally:
            server.stop()

    def test_grpc_untrusted_server_fails(self, pki: dict[str, Path], spans: list[Any]) -> None:
        credentials = grpc.ssl_server_credentials(
            [(pki["server-key"].read_bytes(), pki["server-cert"].read_bytes())]
        )
        server = GrpcOtlpServer(credentials=credentials).start()
        try:
            exporter = OTLPSpanExporter(f"https://localhost:{server.port}", timeout=1)
            assert exporter.export(spans) is SpanExportResult.FAILURE
            assert server.received["traces"] == []
        finally:
            server.stop()

    @pytest.mark.parametrize("mutual", [False, True])
    def test_https(
        self,
        pki: dict[str, Path],
        spans: list[Any],
        mutual: bool,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(pki["server-cert"], pki["server-key"])
        if mutual:
            context.load_verify_locations(pki["ca"])
            context.verify_mode = ssl.CERT_REQUIRED
        server = HttpOtlpServer(ssl_context=context).start()
        # Through the environment this time, as a deployment would configure it.
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", str(pki["ca"]))
        if mutual:
            monkeypatch.setenv("OTEL_EXPORTER_OTLP_CLIENT_KEY", str(pki["client-key"]))
            monkeypatch.setenv("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", str(pki["client-cert"]))
        try:
            exporter = otlpy.sdk.http.OTLPSpanExporter(f"https://localhost:{server.port}/v1/traces")
            assert exporter.export(spans) is SpanExportResult.SUCCESS
            assert len(server.received["traces"]) == 1
            exporter.shutdown()
        finally:
            server.stop()

    def test_missing_files(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigError) as info:
            OTLPSpanExporter(
                "https://localhost:1",
                certificate_file=str(tmp_path / "nope.pem"),
                client_key_file=str(tmp_path / "key.pem"),
            )
        paths = {p.path for p in info.value.problems}
        assert paths == {"certificate_file", "client_key_file", "client_certificate_file"}


class TestOfficialSignatures:
    @pytest.mark.parametrize("cls", [OTLPSpanExporter, OTLPLogExporter, OTLPMetricExporter])
    def test_only_endpoint_is_positional_and_unknown_keywords_fail(self, cls: Any) -> None:
        with pytest.raises(TypeError, match="positional"):
            cls("collector:4317", "grpc")
        with pytest.raises(TypeError, match="unexpected keyword argument 'insecur'"):
            cls("collector:4317", insecur=True)
        exporter = cls("collector:4317", protocol="grpc", insecure=True, max_request_size=5)
        assert (exporter._otlpy.settings.insecure, exporter._otlpy.max_request_size) == (True, 5)

    @pytest.mark.parametrize(
        ("cls", "signal"),
        [
            (otlpy.sdk.grpc.OTLPSpanExporter, Signal.TRACES),
            (otlpy.sdk.grpc.OTLPLogExporter, Signal.LOGS),
        ],
    )
    def test_grpc_span_and_log_positional(self, cls: Any, signal: Signal) -> None:
        exporter = cls("collector:4317", True, None, {"a": "b"}, 3, None, None, ["ABORTED"])
        core = exporter._otlpy
        assert (core.signal, core.settings.protocol, core.settings.insecure) == (
            signal,
            "grpc",
            True,
        )
        assert core.settings.headers == (("a", "b"),)

    @pytest.mark.parametrize(
        ("cls", "signal"),
        [
            (otlpy.sdk.http.OTLPSpanExporter, Signal.TRACES),
            (otlpy.sdk.http.OTLPLogExporter, Signal.LOGS),
        ],
    )
    def test_http_span_and_log_positional(self, cls: Any, signal: Signal) -> None:
        exporter = cls("http://c:4318/x", None, None, None, {"k": "v"}, 2.5, "gzip", None)
        core = exporter._otlpy
        assert (core.signal, core.settings.endpoint, core.settings.compression) == (
            signal,
            "http://c:4318/x",
            "gzip",
        )
        assert exporter.stats().sent_items == 0

        exporter = otlpy.sdk.grpc.OTLPSpanExporter(
            "collector:4317", True, None, {"a": "b"}, 3, grpc.Compression.Gzip
        )
        s = exporter._otlpy.settings
        assert (s.protocol, s.endpoint, s.insecure, s.headers) == (
            "grpc",
            "collector:4317",
            True,
            (("a", "b"),),
        )
        assert (s.timeout, s.compression) == (3.0, "gzip")
        metrics = otlpy.sdk.grpc.OTLPMetricExporter(
            "c:1", True, None, None, None, None, None, None, 100
        )
        assert metrics._max_points == 100

    def test_http_positional(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
        exporter = otlpy.sdk.http.OTLPSpanExporter(
            "http://c:4318/v1/traces", None, None, None, {"k": "v"}, 2.5, "deflate"
        )
        s = exporter._otlpy.settings
        assert (s.protocol, s.endpoint, s.timeout, s.compression) == (
            "http/protobuf",
            "http://c:4318/v1/traces",
            2.5,
            "deflate",
        )
        logs = otlpy.sdk.http.OTLPLogExporter(meter_provider=object())
        assert logs._otlpy.settings.endpoint == "http://localhost:4318/v1/logs"
        metrics = otlpy.sdk.http.OTLPMetricExporter(
            None, None, None, None, None, None, None, None, None, None, 7
        )
        assert metrics._max_points == 7

    def test_requests_session(self, http_server: HttpOtlpServer, spans: list[Any]) -> None:
        session = requests.Session()
        session.headers["x-from-session"] = "yes"
        exporter = otlpy.sdk.http.OTLPSpanExporter(http_server.url("traces"), session=session)
        assert exporter.export(spans) is SpanExportResult.SUCCESS
        assert http_server.headers["traces"][0]["x-from-session"] == "yes"
        exporter.shutdown()

    def test_requests_session_connection_error(self, spans: list[Any]) -> None:
        exporter = otlpy.sdk.http.OTLPSpanExporter(
            "http://127.0.0.1:9/v1/traces", session=requests.Session(), timeout=0.5
        )
        assert exporter.export(spans) is SpanExportResult.FAILURE
        assert exporter.stats().failed_items == len(spans)


class TestLifecycle:
    def test_export_after_shutdown(self, grpc_server: GrpcOtlpServer, spans: list[Any]) -> None:
        exporter = OTLPSpanExporter(grpc_server.endpoint)
        exporter.shutdown()
        exporter.shutdown()
        assert exporter.export(spans) is SpanExportResult.FAILURE
        assert exporter.stats().dropped_items == len(spans)
        assert grpc_server.received["traces"] == []

    def test_headers_reach_the_server(
        self, grpc_server: GrpcOtlpServer, spans: list[Any], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "Authorization=Bearer%20abc,x-tenant=7")
        exporter = OTLPSpanExporter(grpc_server.endpoint)
        assert exporter.export(spans) is SpanExportResult.SUCCESS
        headers = grpc_server.headers["traces"][0]
        assert headers["authorization"] == "Bearer abc" and headers["x-tenant"] == "7"
        assert headers["user-agent"].startswith("OTel-OTLP-Exporter-Python-otlpy/")
        exporter.shutdown()

    def test_max_request_size(
        self, grpc_server: GrpcOtlpServer, spans: list[Any], caplog: pytest.LogCaptureFixture
    ) -> None:
        exporter = otlpy.sdk.http.OTLPSpanExporter(
            "http://127.0.0.1:9/v1/traces", max_request_size=1000
        )
        with caplog.at_level(logging.WARNING, logger="otlpy.sdk"):
            assert exporter.export(spans) is SpanExportResult.FAILURE
        assert "over max_request_size (1000)" in caplog.text
        assert exporter.stats().dropped_items == len(spans)
        # Through the processor: each batch is checked once it is encoded.
        small = OTLPSpanExporter(grpc_server.endpoint, max_request_size=2000)
        provider = TracerProvider()
        provider.add_span_processor(BatchSpanProcessor(small, max_export_batch_size=2))
        tracer = provider.get_tracer("t")
        with tracer.start_as_current_span("short"):
            pass
        with tracer.start_as_current_span("long", attributes={"blob": "x" * 5000}):
            pass
        provider.shutdown()
        assert small.stats().dropped_items == 2
        unlimited = OTLPSpanExporter(grpc_server.endpoint, max_request_size=0)
        assert unlimited.export(spans) is SpanExportResult.SUCCESS

    def test_bad_queue_size(self) -> None:
        with pytest.raises(ConfigError, match="max_queue_bytes"):
            OTLPSpanExporter("http://127.0.0.1:1", max_queue_bytes=0)

    def test_full_memory_queue_drops(self, grpc_server: GrpcOtlpServer) -> None:
        exporter = OTLPSpanExporter(grpc_server.endpoint, max_queue_bytes=100)
        delivery = exporter._otlpy.delivery
        assert delivery.submit(b"x" * 50, 1)
        assert not delivery.submit(b"x" * 200, 3)
        assert exporter.force_flush(5_000)
        stats = exporter.stats()
        assert (stats.sent_items, stats.dropped_items) == (1, 3)
        exporter.shutdown()
        assert not delivery.submit(b"", 2)
        assert exporter.stats().dropped_items == 5
