"""OTLP/gRPC over real sockets with a grpcio client: codes, RetryInfo, partial success, limits."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from google.rpc import status_pb2
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from otlp_requests import NoHost, logs, make_config, metrics, retry_delay, traces

from otlpy import client
from otlpy.consumer import FuncConsumer
from otlpy.errors import PartialSuccess, PermanentError, RetryableError, ThrottledError
from otlpy.pdata import Batch, Signal
from otlpy.receivers.otlp.grpc import SERVICES

GRPC = {"endpoint": "127.0.0.1:0"}
HTTP = {"endpoint": "127.0.0.1:0"}
REQUESTS = {Signal.TRACES: traces(3), Signal.METRICS: metrics(4), Signal.LOGS: logs(2)}
RESPONSES = {
    Signal.TRACES: (ExportTraceServiceResponse, "rejected_spans"),
    Signal.METRICS: (ExportMetricsServiceResponse, "rejected_data_points"),
    Signal.LOGS: (ExportLogsServiceResponse, "rejected_log_records"),
}


@pytest.fixture
async def channel_factory() -> AsyncIterator[Any]:
    channels: list[grpc.aio.Channel] = []

    def open_channel(target: str, **options: Any) -> grpc.aio.Channel:
        channel = grpc.aio.insecure_channel(target, **options)
        channels.append(channel)
        return channel

    yield open_channel
    for channel in channels:
        await channel.close()


def export(channel: grpc.aio.Channel, signal: Signal) -> Any:
    """The raw-bytes Export method of ``signal`` (no serializers: bytes in, bytes out)."""
    return channel.unary_unary(f"/{SERVICES[signal]}/Export")


def status_details(error: grpc.aio.AioRpcError) -> Any:
    for key, value in error.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            return status_pb2.Status.FromString(value)
    return None


@pytest.mark.parametrize("signal", list(Signal))
async def test_export_is_forwarded_as_received(
    start_receiver: Any, channel_factory: Any, signal: Signal
) -> None:
    running = await start_receiver({"grpc": GRPC})
    raw = REQUESTS[signal].SerializeToString()
    answer = await export(channel_factory(running.grpc_target), signal)(raw)
    response_type, _ = RESPONSES[signal]
    assert not response_type.FromString(answer).HasField("partial_success")
    (batch,) = running.sink.of(signal)
    assert batch.raw == raw
    assert batch.message == REQUESTS[signal]
    item = signal.item_name
    assert running.counter(f"accepted_{item}", "grpc") == batch.items
    assert running.counter(f"accepted_{item}", "http") == 0


async def test_empty_request_succeeds_without_reaching_the_pipeline(
    start_receiver: Any, channel_factory: Any
) -> None:
    running = await start_receiver({"grpc": GRPC})
    assert await export(channel_factory(running.grpc_target), Signal.TRACES)(b"") == b""
    assert running.sink.calls == 0


async def test_signal_without_pipeline_is_unimplemented(
    start_receiver: Any, channel_factory: Any
) -> None:
    running = await start_receiver({"grpc": GRPC}, signals=[Signal.METRICS])
    channel = channel_factory(running.grpc_target)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await export(channel, Signal.TRACES)(traces(1).SerializeToString())
    assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert await export(channel, Signal.METRICS)(metrics(1).SerializeToString()) == b""


async def test_undecodable_request_is_invalid_argument(
    start_receiver: Any, channel_factory: Any
) -> None:
    running = await start_receiver({"grpc": GRPC})
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await export(channel_factory(running.grpc_target), Signal.LOGS)(b"\xff\xff\xff")
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "cannot decode logs" in (caught.value.details() or "")
    assert running.sink.calls == 0


@pytest.mark.parametrize(
    ("error", "code", "delay"),
    [
        (PermanentError("bad data"), grpc.StatusCode.INVALID_ARGUMENT, None),
        (RetryableError("queue full"), grpc.StatusCode.UNAVAILABLE, None),
        (RetryableError("queue full", retry_after=1.5), grpc.StatusCode.UNAVAILABLE, 1.5),
        (ThrottledError("slow down", retry_after=30), grpc.StatusCode.RESOURCE_EXHAUSTED, 30.0),
        # without RetryInfo a client must take RESOURCE_EXHAUSTED as permanent: always sent
        (ThrottledError("slow down"), grpc.StatusCode.RESOURCE_EXHAUSTED, 0.0),
        (RuntimeError("a bug"), grpc.StatusCode.UNAVAILABLE, None),
    ],
)
async def test_pipeline_errors_map_to_codes(
    start_receiver: Any, channel_factory: Any, error: Exception, code: Any, delay: float | None
) -> None:
    running = await start_receiver({"grpc": GRPC})
    running.sink.fail_with(error)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await export(channel_factory(running.grpc_target), Signal.TRACES)(
            traces(3).SerializeToString()
        )
    assert caught.value.code() == code
    assert str(error) in (caught.value.details() or "")
    details = status_details(caught.value)
    assert details is not None
    assert details.code == code.value[0]
    assert details.message == caught.value.details()
    assert retry_delay(details) == delay
    assert running.counter("refused_spans", "grpc") == 3


@pytest.mark.parametrize("signal", list(Signal))
async def test_partial_success(start_receiver: Any, channel_factory: Any, signal: Signal) -> None:
    running = await start_receiver({"grpc": GRPC})
    running.sink.fail_with(PartialSuccess(1, "one item was too old"))
    answer = await export(channel_factory(running.grpc_target), signal)(
        REQUESTS[signal].SerializeToString()
    )
    response_type, rejected_field = RESPONSES[signal]
    partial = response_type.FromString(answer).partial_success
    assert getattr(partial, rejected_field) == 1
    assert partial.error_message == "one item was too old"
    item = signal.item_name
    assert running.counter(f"refused_{item}", "grpc") == 1
    assert running.counter(f"accepted_{item}", "grpc") == running.sink.batches[0].items - 1


@pytest.mark.parametrize(
    "compression", [None, grpc.Compression.Gzip, grpc.Compression.Deflate], ids=str
)
async def test_compressed_requests_and_size_limit(
    start_receiver: Any, channel_factory: Any, compression: Any
) -> None:
    running = await start_receiver({"grpc": {**GRPC, "max_recv_msg_size_mib": 1}})
    channel = channel_factory(running.grpc_target, compression=compression)
    small = traces(10).SerializeToString()
    assert await export(channel, Signal.TRACES)(small) == b""
    # 2 MiB of one repeated byte: tiny once compressed, over the limit once decompressed.
    big = traces(1, attribute_size=2 << 20).SerializeToString()
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await export(channel, Signal.TRACES)(big)
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert len(running.sink.batches) == 1


@pytest.mark.parametrize("include_metadata", [True, False])
async def test_client_info_reaches_the_pipeline(
    start_receiver: Any, channel_factory: Any, include_metadata: bool
) -> None:
    seen: list[client.ClientInfo] = []

    async def capture(batch: Batch) -> None:
        seen.append(client.current())

    running = await start_receiver(
        {"grpc": {**GRPC, "include_metadata": include_metadata}}, consumer=FuncConsumer(capture)
    )
    await export(channel_factory(running.grpc_target), Signal.LOGS)(
        logs(1).SerializeToString(),
        metadata=(("x-tenant", "acme"), ("x-trace-bin", b"\x00\x01")),
    )
    (info,) = seen
    assert info.addr.startswith("127.0.0.1:")
    assert info.get("X-Tenant") == (("acme",) if include_metadata else ())
    assert info.get("x-trace-bin") == ()


async def test_unix_socket_transport(start_receiver: Any, tmp_path: Any) -> None:
    path = tmp_path / "otlp.sock"
    running = await start_receiver({"grpc": {"endpoint": str(path), "transport": "unix"}})
    assert running.receiver.grpc_port is None
    async with grpc.aio.insecure_channel(f"unix:{path}") as channel:
        assert await export(channel, Signal.TRACES)(traces(1).SerializeToString()) == b""
    assert running.sink.item_count == 1


async def test_busy_port_fails_start_and_stops_the_other_server(start_receiver: Any) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        # the reason, found by trying the address: grpc's own message only says it failed
        with pytest.raises(OSError, match=f"OTLP/gRPC on 127.0.0.1:{port}: Address already in use"):
            await start_receiver({"grpc": {"endpoint": f"127.0.0.1:{port}"}})
        with pytest.raises(OSError, match="OTLP/HTTP"):
            await start_receiver({"grpc": GRPC, "http": {"endpoint": f"127.0.0.1:{port}"}})


async def test_options_from_config_are_accepted_by_grpc(
    start_receiver: Any, channel_factory: Any
) -> None:
    running = await start_receiver(
        {
            "grpc": {
                **GRPC,
                "max_concurrent_streams": 16,
                "read_buffer_size": "64KiB",
                "write_buffer_size": "64KiB",
                "keepalive": {
                    "server_parameters": {
                        "max_connection_idle": "11s",
                        "max_connection_age": "12s",
                        "max_connection_age_grace": "13s",
                        "time": "30s",
                        "timeout": "5s",
                    },
                    "enforcement_policy": {"min_time": "10s", "permit_without_stream": True},
                },
            }
        }
    )
    channel = channel_factory(running.grpc_target)
    # The first call settles the connection (the client learns the stream limit); the next
    # ones stay under the limit, since grpc refuses streams sent past it before then.
    assert await export(channel, Signal.TRACES)(traces(1).SerializeToString()) == b""
    calls = [export(channel, Signal.TRACES)(traces(1).SerializeToString()) for _ in range(10)]
    assert await asyncio.gather(*calls) == [b""] * 10
    assert running.sink.item_count == 11


@pytest.mark.parametrize("transport", ["grpc", "http"])
async def test_shutdown_lets_requests_in_flight_finish(start_receiver: Any, transport: str) -> None:
    import aiohttp

    entered = asyncio.Event()
    release = asyncio.Event()
    stored: list[Batch] = []

    async def slow(batch: Batch) -> None:
        entered.set()
        await release.wait()
        stored.append(batch)

    running = await start_receiver({"grpc": GRPC, "http": HTTP}, consumer=FuncConsumer(slow))
    raw = traces(2).SerializeToString()
    async with (
        grpc.aio.insecure_channel(running.grpc_target) as channel,
        aiohttp.ClientSession() as session,
    ):

        async def send() -> int:
            if transport == "grpc":
                await export(channel, Signal.TRACES)(raw)
                return 200
            async with session.post(
                running.http_url + "/v1/traces",
                data=raw,
                headers={"Content-Type": "application/x-protobuf"},
            ) as response:
                return response.status

        call = asyncio.ensure_future(send())
        await entered.wait()
        stopping = asyncio.ensure_future(running.receiver.shutdown())
        await asyncio.sleep(0.05)
        assert not call.done()
        release.set()
        assert await call == 200
        await stopping
    assert len(stored) == 1
    await running.receiver.shutdown()  # stopping twice is harmless


async def test_shutdown_without_start_is_fine() -> None:
    from otlpy.receivers.otlp import Config, create

    receiver = create(_settings(), Config(), {Signal.TRACES: FuncConsumer(_ignore)})
    await receiver.shutdown()
    assert receiver.grpc_port is None
    assert receiver.http_port is None


def test_runs_on_uvloop() -> None:
    import aiohttp
    import uvloop

    from otlpy.receivers.otlp import create
    from otlpy.testing import SinkConsumer

    async def main() -> int:
        sink = SinkConsumer()
        config = make_config({"grpc": GRPC, "http": HTTP})
        receiver = create(_settings(), config, {s: sink for s in Signal})
        await receiver.start(NoHost())
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{receiver.grpc_port}") as channel:
                await export(channel, Signal.TRACES)(traces(2).SerializeToString())
            async with (
                aiohttp.ClientSession() as session,
                session.post(
                    f"http://127.0.0.1:{receiver.http_port}/v1/logs",
                    data=logs(3).SerializeToString(),
                    headers={"Content-Type": "application/x-protobuf"},
                ) as response,
            ):
                assert response.status == 200
        finally:
            await receiver.shutdown()
        assert isinstance(asyncio.get_running_loop(), uvloop.Loop)
        return sink.item_count

    assert uvloop.run(main()) == 5


async def _ignore(batch: Batch) -> None:
    return None


def _settings() -> Any:
    import logging

    from otlpy.component import ComponentID, Kind, Settings
    from otlpy.telemetry import SelfTelemetry

    return Settings(
        id=ComponentID("otlp", "uv"),
        kind=Kind.RECEIVER,
        telemetry=SelfTelemetry(),
        logger=logging.getLogger("otlpy.receiver.otlp.test"),
    )
