"""The otlp (gRPC) exporter against a real grpcio server on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from exporter_testkit import (
    FAST_RETRY,
    NO_RETRY,
    ByteCountingProxy,
    GrpcCall,
    GrpcSink,
    batch_of,
    counter,
    free_port,
    make_settings,
    sample_batches,
    start_grpc_sink,
    traces_request,
)
from google.protobuf.duration_pb2 import Duration
from google.rpc import code_pb2, error_details_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from certs import CertFiles as Certs
from otlpy.component import Kind, find_factory
from otlpy.config.decode import decode
from otlpy.config.tls import TLSClientConfig
from otlpy.errors import PartialSuccess, PermanentError, RetryableError, ThrottledError
from otlpy.exporterhelper import Exporter, QueueConfig, RetryConfig
from otlpy.exporters.otlp_grpc import (
    KeepaliveConfig,
    OTLPGrpcConfig,
    OTLPGrpcExporter,
    factory,
)
from otlpy.pdata import Signal
from otlpy.telemetry import SelfTelemetry


def config(endpoint: str, **overrides: Any) -> OTLPGrpcConfig:
    overrides.setdefault("tls", TLSClientConfig(insecure=True))
    overrides.setdefault("retry_on_failure", FAST_RETRY)
    # These tests look at each export's outcome: send directly, not through a queue.
    overrides.setdefault("sending_queue", QueueConfig(enabled=False))
    return OTLPGrpcConfig(endpoint=endpoint, **overrides)


@pytest.fixture
async def make_exporter() -> AsyncIterator[Any]:
    """Create and start exporters; every one is shut down at the end of the test."""
    made: list[Exporter] = []

    async def make(cfg: OTLPGrpcConfig, telemetry: SelfTelemetry | None = None) -> Exporter:
        exporter: Exporter = factory.create(make_settings("otlp", telemetry), cfg)
        await exporter.start(None)  # type: ignore[arg-type]
        made.append(exporter)
        return exporter

    yield make
    for exporter in made:
        await exporter.shutdown()


def problems_of(data: dict[str, Any]) -> list[str]:
    _, problems = decode(OTLPGrpcConfig, data)
    return [str(p) for p in problems]


# --- configuration ---------------------------------------------------------------------------


def test_factory_is_registered_under_both_names() -> None:
    assert find_factory(Kind.EXPORTER, "otlp") is factory
    assert find_factory(Kind.EXPORTER, "otlp_grpc") is factory


def test_defaults_match_the_collector() -> None:
    cfg = OTLPGrpcConfig()
    assert cfg.compression == "gzip"
    assert cfg.timeout == 5.0
    assert cfg.balancer_name == "round_robin"
    assert (cfg.keepalive.time, cfg.keepalive.timeout) == (10.0, 10.0)
    assert cfg.endpoint == "http://localhost:4317"  # the spec's default; the Collector has none
    assert problems_of({}) == []
    assert problems_of({"endpoint": ""}) == [
        'endpoint: requires a non-empty "endpoint" (host:port)'
    ]


@pytest.mark.parametrize(
    "endpoint",
    [
        "collector:4317",
        "http://collector:4317",
        "https://collector:4317/",
        "dns:///collector:4317",
        "[::1]:4317",
        "unix:///tmp/otlp.sock",
    ],
)
def test_endpoint_forms_accepted(endpoint: str) -> None:
    assert problems_of({"endpoint": endpoint}) == []


@pytest.mark.parametrize("endpoint", ["collector", "collector:http", "collector:70000", "unix://"])
def test_endpoint_forms_refused(endpoint: str) -> None:
    (problem,) = problems_of({"endpoint": endpoint})
    assert problem.startswith("endpoint:")


def test_every_problem_is_reported_with_its_path() -> None:
    found = problems_of(
        {
            "endpoint": "c:4317",
            "compression": "zstd",
            "balancer_name": "random",
            "headers": {"Bad Key": "x", "grpc-timeout": "1"},
            "tls": {"min_version": "1.3", "max_version": "1.2"},
            "timeout": "-1s",
            "keepalive": {"time": "-1s", "timeout": "-1s"},
            "read_buffer_size": -1,
            "write_buffer_size": -1,
            "bogus": 1,
        }
    )
    assert any(p.startswith("compression: zstd is not supported: grpcio") for p in found)
    assert any(p.startswith("balancer_name:") for p in found)
    assert any(p.startswith("headers.Bad Key:") for p in found)
    assert any(p.startswith("headers.grpc-timeout:") for p in found)
    assert any(p.startswith("tls.min_version:") for p in found)
    assert any(p.startswith("timeout:") for p in found)
    assert any(p.startswith("keepalive.time:") for p in found)
    assert any(p.startswith("keepalive.timeout:") for p in found)
    assert any(p.startswith("read_buffer_size:") for p in found)
    assert any(p.startswith("write_buffer_size:") for p in found)
    assert any(p.startswith("tls.max_version:") for p in found)
    assert any(p.startswith("bogus: unknown key") for p in found)


def test_snappy_and_unknown_compressions_are_refused() -> None:
    assert "snappy is not supported" in problems_of({"endpoint": "c:1", "compression": "snappy"})[0]
    assert "unknown compression" in problems_of({"endpoint": "c:1", "compression": "lz4"})[0]
    assert problems_of({"endpoint": "c:1", "compression": "none"}) == []


@pytest.mark.parametrize(
    ("endpoint", "tls", "secure"),
    [
        ("c:4317", None, True),  # the Collector requires TLS unless told otherwise
        ("c:4317", TLSClientConfig(insecure=True), False),
        ("http://c:4317", None, False),
        ("http://c:4317", TLSClientConfig(), True),
        ("https://c:4317", TLSClientConfig(insecure=True), True),
        ("unix:///tmp/s", None, False),
    ],
)
def test_transport_security_follows_scheme_and_tls(
    endpoint: str, tls: TLSClientConfig | None, secure: bool
) -> None:
    assert OTLPGrpcConfig(endpoint=endpoint, tls=tls).secure is secure


def test_target_drops_the_scheme() -> None:
    assert OTLPGrpcConfig(endpoint="https://c:4317/").target == "c:4317"
    assert OTLPGrpcConfig(endpoint="dns:///c:4317").target == "dns:///c:4317"


# --- sending ---------------------------------------------------------------------------------


async def test_sends_each_signal_as_the_bytes_it_received(
    grpc_sink: GrpcSink, make_exporter: Any
) -> None:
    telemetry = SelfTelemetry()
    exporter = await make_exporter(
        config(grpc_sink.endpoint, headers={"X-Tenant": "acme", "auth-bin": "raw"}), telemetry
    )
    batches = sample_batches()
    for batch in batches.values():
        await exporter.consume(batch)
    assert [c.signal for c in grpc_sink.calls] == list(batches)
    for call in grpc_sink.calls:
        assert call.body == batches[call.signal].raw
        assert call.metadata["x-tenant"] == "acme"
        assert call.metadata["auth-bin"] == b"raw"
        assert call.metadata["user-agent"].startswith("otlpy/")
    assert counter(telemetry, "exporter_sent_spans", "otlp") == 3
    assert counter(telemetry, "exporter_sent_metric_points", "otlp") == 2
    assert counter(telemetry, "exporter_sent_log_records", "otlp") == 2


async def test_channel_options_are_accepted_by_grpcio(
    grpc_sink: GrpcSink, make_exporter: Any
) -> None:
    cfg = config(
        grpc_sink.endpoint,
        read_buffer_size=65536,
        write_buffer_size=65536,
        balancer_name="pick_first",
        wait_for_ready=True,
        keepalive=KeepaliveConfig(time=30.0, timeout=5.0, permit_without_stream=True),
    )
    exporter = await make_exporter(cfg)
    await exporter.consume(batch_of(Signal.TRACES, traces_request()))
    assert len(grpc_sink.calls) == 1


@pytest.mark.parametrize(("compression", "compressed"), [("gzip", True), ("none", False)])
async def test_compression_shrinks_what_goes_on_the_wire(
    grpc_sink: GrpcSink, make_exporter: Any, compression: str, compressed: bool
) -> None:
    proxy = ByteCountingProxy(grpc_sink.port)
    await proxy.start()
    try:
        exporter = await make_exporter(config(f"127.0.0.1:{proxy.port}", compression=compression))
        batch = batch_of(Signal.TRACES, traces_request(spans=50, attribute_size=20_000))
        await exporter.consume(batch)
        assert grpc_sink.calls[0].body == batch.raw
        if compressed:
            assert proxy.upstream_bytes < len(batch.raw) / 10
        else:
            assert proxy.upstream_bytes > len(batch.raw)
    finally:
        await proxy.close()


async def test_partial_success_is_counted_and_not_retried(
    grpc_sink: GrpcSink, make_exporter: Any
) -> None:
    async def partial(call: GrpcCall, context: Any) -> bytes:
        response = ExportTraceServiceResponse()
        response.partial_success.rejected_spans = 2
        response.partial_success.error_message = "too old"
        return bytes(response.SerializeToString())

    grpc_sink.responder = partial
    telemetry = SelfTelemetry()
    exporter = await make_exporter(config(grpc_sink.endpoint), telemetry)
    await exporter.consume(batch_of(Signal.TRACES, traces_request(spans=5)))
    assert len(grpc_sink.calls) == 1
    assert counter(telemetry, "exporter_sent_spans", "otlp") == 3
    assert counter(telemetry, "exporter_send_failed_spans", "otlp") == 2


async def test_partial_success_raised_by_push(grpc_sink: GrpcSink) -> None:
    async def partial(call: GrpcCall, context: Any) -> bytes:
        response = ExportTraceServiceResponse()
        response.partial_success.error_message = "a warning only"
        return bytes(response.SerializeToString())

    grpc_sink.responder = partial
    client = OTLPGrpcExporter(config(grpc_sink.endpoint), make_settings())
    await client.start(None)  # type: ignore[arg-type]
    try:
        with pytest.raises(PartialSuccess) as info:
            await client.push(batch_of(Signal.TRACES, traces_request()))
        assert (info.value.rejected, info.value.message) == (0, "a warning only")
    finally:
        await client.shutdown()


def retry_info_metadata(seconds: float) -> tuple[tuple[str, bytes], ...]:
    status = status_pb2.Status(code=code_pb2.RESOURCE_EXHAUSTED, message="slow down")
    info = error_details_pb2.RetryInfo(
        retry_delay=Duration(seconds=int(seconds), nanos=int(seconds % 1 * 1e9))
    )
    status.details.add().Pack(info)
    return (("grpc-status-details-bin", status.SerializeToString()),)


def failing(code: grpc.StatusCode, failures: int, retry_after: float | None = None) -> Any:
    async def respond(call: GrpcCall, context: Any) -> bytes:
        if failures < 0 or respond.count < failures:  # type: ignore[attr-defined]
            respond.count += 1  # type: ignore[attr-defined]
            trailers = retry_info_metadata(retry_after) if retry_after is not None else ()
            await context.abort(code, "refused by test", trailing_metadata=trailers)
        return b""

    respond.count = 0  # type: ignore[attr-defined]
    return respond


def failing_with_trailers(code: grpc.StatusCode, trailers: Any) -> Any:
    async def respond(call: GrpcCall, context: Any) -> bytes:
        await context.abort(code, "refused by test", trailing_metadata=trailers)
        return b""

    return respond


RETRYABLE_CODES = {
    grpc.StatusCode.CANCELLED,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.ABORTED,
    grpc.StatusCode.OUT_OF_RANGE,
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DATA_LOSS,
}


async def test_status_codes_are_sorted_as_the_spec_says(grpc_sink: GrpcSink) -> None:
    client = OTLPGrpcExporter(config(grpc_sink.endpoint), make_settings())
    await client.start(None)  # type: ignore[arg-type]
    try:
        for code in grpc.StatusCode:
            if code is grpc.StatusCode.OK:
                continue
            grpc_sink.responder = failing(code, -1)
            with pytest.raises((PermanentError, RetryableError)) as info:
                await client.push(batch_of(Signal.LOGS, traces_request()))
            retryable = isinstance(info.value, RetryableError)
            assert retryable == (code in RETRYABLE_CODES), code
            assert code.name in str(info.value)
    finally:
        await client.shutdown()


async def test_resource_exhausted_is_retried_only_with_retry_info(grpc_sink: GrpcSink) -> None:
    client = OTLPGrpcExporter(config(grpc_sink.endpoint), make_settings())
    await client.start(None)  # type: ignore[arg-type]
    try:
        grpc_sink.responder = failing(grpc.StatusCode.RESOURCE_EXHAUSTED, -1)
        with pytest.raises(PermanentError):
            await client.push(batch_of(Signal.TRACES, traces_request()))
        grpc_sink.responder = failing(grpc.StatusCode.RESOURCE_EXHAUSTED, -1, retry_after=1.5)
        with pytest.raises(ThrottledError) as info:
            await client.push(batch_of(Signal.TRACES, traces_request()))
        assert info.value.retry_after == pytest.approx(1.5)
        grpc_sink.responder = failing_with_trailers(
            grpc.StatusCode.UNAVAILABLE, (("grpc-status-details-bin", b"\xff\xff"),)
        )
        with pytest.raises(RetryableError) as plain:
            await client.push(batch_of(Signal.TRACES, traces_request()))
        assert type(plain.value) is RetryableError
        grpc_sink.responder = failing(grpc.StatusCode.UNAVAILABLE, -1, retry_after=0.25)
        with pytest.raises(ThrottledError) as info:
            await client.push(batch_of(Signal.TRACES, traces_request()))
        assert info.value.retry_after == pytest.approx(0.25)
    finally:
        await client.shutdown()


async def test_unavailable_is_retried_until_accepted(
    grpc_sink: GrpcSink, make_exporter: Any
) -> None:
    grpc_sink.responder = failing(grpc.StatusCode.UNAVAILABLE, 2)
    telemetry = SelfTelemetry()
    exporter = await make_exporter(config(grpc_sink.endpoint), telemetry)
    batch = batch_of(Signal.TRACES, traces_request())
    await exporter.consume(batch)
    assert len(grpc_sink.calls) == 3
    assert grpc_sink.calls[-1].body == batch.raw
    assert counter(telemetry, "exporter_sent_spans", "otlp") == 3
    assert counter(telemetry, "exporter_send_failed_spans", "otlp") == 0


async def test_throttled_export_waits_and_then_succeeds(
    grpc_sink: GrpcSink, make_exporter: Any
) -> None:
    grpc_sink.responder = failing(grpc.StatusCode.RESOURCE_EXHAUSTED, 1, retry_after=0.05)
    exporter = await make_exporter(config(grpc_sink.endpoint))
    await exporter.consume(batch_of(Signal.TRACES, traces_request()))
    assert len(grpc_sink.calls) == 2


async def test_invalid_argument_is_not_retried(grpc_sink: GrpcSink, make_exporter: Any) -> None:
    grpc_sink.responder = failing(grpc.StatusCode.INVALID_ARGUMENT, -1)
    telemetry = SelfTelemetry()
    exporter = await make_exporter(config(grpc_sink.endpoint), telemetry)
    with pytest.raises(PermanentError, match="INVALID_ARGUMENT"):
        await exporter.consume(batch_of(Signal.TRACES, traces_request()))
    assert len(grpc_sink.calls) == 1
    assert counter(telemetry, "exporter_send_failed_spans", "otlp") == 3


async def test_backend_down_is_retried_then_counted_as_failed(make_exporter: Any) -> None:
    telemetry = SelfTelemetry()
    retry = RetryConfig(
        initial_interval=0.01, max_interval=0.02, max_elapsed_time=0.2, randomization_factor=0
    )
    exporter = await make_exporter(
        config(f"127.0.0.1:{free_port()}", retry_on_failure=retry), telemetry
    )
    with pytest.raises(RetryableError, match="UNAVAILABLE"):
        await exporter.consume(batch_of(Signal.TRACES, traces_request()))
    assert counter(telemetry, "exporter_send_failed_spans", "otlp") == 3
    assert counter(telemetry, "exporter_sent_spans", "otlp") == 0


async def test_backend_coming_up_late_gets_the_data(make_exporter: Any) -> None:
    sink = GrpcSink(port=free_port())
    retry = RetryConfig(
        initial_interval=0.05, max_interval=0.1, max_elapsed_time=10, randomization_factor=0
    )
    exporter = await make_exporter(config(sink.endpoint, retry_on_failure=retry))
    sending = asyncio.create_task(exporter.consume(batch_of(Signal.TRACES, traces_request())))
    await asyncio.sleep(0.2)
    assert not sending.done()
    server = await start_grpc_sink(sink)
    try:
        await asyncio.wait_for(sending, 10)
        assert len(sink.calls) == 1
    finally:
        await server.stop(None)


async def test_slow_backend_times_out(grpc_sink: GrpcSink, make_exporter: Any) -> None:
    release = asyncio.Event()

    async def stall(call: GrpcCall, context: Any) -> bytes:
        await release.wait()
        return b""

    grpc_sink.responder = stall
    telemetry = SelfTelemetry()
    exporter = await make_exporter(
        config(grpc_sink.endpoint, timeout=0.2, retry_on_failure=NO_RETRY), telemetry
    )
    with pytest.raises(RetryableError, match=r"timed out|DEADLINE_EXCEEDED"):
        await exporter.consume(batch_of(Signal.TRACES, traces_request()))
    release.set()
    assert counter(telemetry, "exporter_send_failed_spans", "otlp") == 3


async def test_shutdown_without_start_and_twice() -> None:
    exporter = factory.create(make_settings(), config("127.0.0.1:1"))
    await exporter.shutdown()
    await exporter.start(None)
    await exporter.shutdown()
    await exporter.shutdown()


# --- TLS -------------------------------------------------------------------------------------


@pytest.fixture
async def tls_sink(certs: Certs) -> AsyncIterator[GrpcSink]:
    sink = GrpcSink()
    credentials = grpc.ssl_server_credentials(
        [(certs.server_key.read_bytes(), certs.server_cert.read_bytes())]
    )
    server = await start_grpc_sink(sink, credentials)
    yield sink
    await server.stop(None)


@pytest.fixture
async def mtls_sink(certs: Certs) -> AsyncIterator[GrpcSink]:
    sink = GrpcSink()
    credentials = grpc.ssl_server_credentials(
        [(certs.server_key.read_bytes(), certs.server_cert.read_bytes())],
        root_certificates=certs.ca.read_bytes(),
        require_client_auth=True,
    )
    server = await start_grpc_sink(sink, credentials)
    yield sink
    await server.stop(None)


@pytest.mark.parametrize("scheme", ["", "https://"])
async def test_tls_with_a_private_ca(
    tls_sink: GrpcSink, certs: Certs, make_exporter: Any, scheme: str
) -> None:
    tls = TLSClientConfig(ca_file=str(certs.ca))
    exporter = await make_exporter(config(scheme + tls_sink.endpoint, tls=tls))
    await exporter.consume(batch_of(Signal.TRACES, traces_request()))
    assert len(tls_sink.calls) == 1


async def test_tls_refuses_an_unknown_ca(tls_sink: GrpcSink, make_exporter: Any) -> None:
    exporter = await make_exporter(
        config(tls_sink.endpoint, tls=TLSClientConfig(), retry_on_failure=NO_RETRY)
    )
    with pytest.raises(RetryableError):
        await exporter.consume(batch_of(Signal.TRACES, traces_request()))
    assert tls_sink.calls == []


async def test_insecure_skip_verify_trusts_the_server(
    tls_sink: GrpcSink, make_exporter: Any
) -> None:
    tls = TLSClientConfig(insecure_skip_verify=True)
    exporter = await make_exporter(config(f"localhost:{tls_sink.port}", tls=tls))
    await exporter.consume(batch_of(Signal.TRACES, traces_request()))
    assert len(tls_sink.calls) == 1


async def test_insecure_skip_verify_with_backend_down_is_retryable(make_exporter: Any) -> None:
    tls = TLSClientConfig(insecure_skip_verify=True)
    exporter = await make_exporter(
        config(f"127.0.0.1:{free_port()}", tls=tls, retry_on_failure=NO_RETRY)
    )
    with pytest.raises(RetryableError, match="server certificate"):
        await exporter.consume(batch_of(Signal.TRACES, traces_request()))


async def test_mutual_tls(mtls_sink: GrpcSink, certs: Certs, make_exporter: Any) -> None:
    without = await make_exporter(
        config(
            mtls_sink.endpoint,
            tls=TLSClientConfig(ca_file=str(certs.ca)),
            retry_on_failure=NO_RETRY,
        )
    )
    with pytest.raises(RetryableError):
        await without.consume(batch_of(Signal.TRACES, traces_request()))
    assert mtls_sink.calls == []
    tls = TLSClientConfig(
        ca_file=str(certs.ca), cert_file=str(certs.client_cert), key_file=str(certs.client_key)
    )
    exporter = await make_exporter(config(mtls_sink.endpoint, tls=tls))
    await exporter.consume(batch_of(Signal.TRACES, traces_request()))
    assert len(mtls_sink.calls) == 1


@pytest.mark.parametrize(("name", "accepted"), [("localhost", True), ("other.example", False)])
async def test_server_name_override(
    tls_sink: GrpcSink, certs: Certs, make_exporter: Any, name: str, accepted: bool
) -> None:
    tls = TLSClientConfig(ca_file=str(certs.ca), server_name_override=name)
    exporter = await make_exporter(
        config(tls_sink.endpoint, tls=tls, authority=name, retry_on_failure=NO_RETRY)
    )
    if accepted:
        await exporter.consume(batch_of(Signal.TRACES, traces_request()))
        assert tls_sink.calls[0].metadata.get(":authority", name) == name
    else:
        with pytest.raises(RetryableError):
            await exporter.consume(batch_of(Signal.TRACES, traces_request()))
    assert len(tls_sink.calls) == int(accepted)


async def test_missing_ca_file_fails_start(tmp_path: Any) -> None:
    tls = TLSClientConfig(ca_file=str(tmp_path / "missing.pem"))
    exporter = factory.create(make_settings(), config("127.0.0.1:1", tls=tls))
    with pytest.raises(PermanentError, match=r"tls\.ca_file"):
        await exporter.start(None)
    await exporter.shutdown()
