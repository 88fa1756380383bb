"""``otlpy send`` end to end, against a real gRPC and HTTP OTLP server on 127.0.0.1."""

from __future__ import annotations

import socket

import grpc
import orjson
import pytest

from otlpy import cli
from otlpy.pdata import Signal, count_items
from otlpy.send import run

PROTOCOLS = ["grpc", "http/protobuf", "http/json"]


def _endpoint(sink, protocol: str) -> str:
    return sink.grpc_endpoint if protocol == "grpc" else sink.http_endpoint


def _send_json(capsys, argv: list[str]) -> tuple[int, dict]:
    code = run([*argv, "--json"])
    out = capsys.readouterr().out
    return code, orjson.loads(out)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("signal", list(Signal))
def test_count_mode_is_exact_and_content_arrives(sink, capsys, protocol, signal):
    code, summary = _send_json(
        capsys,
        [
            "--endpoint",
            _endpoint(sink, protocol),
            "--protocol",
            protocol,
            "--signal",
            signal.value,
            "--count",
            "1200",
            "--workers",
            "2",
        ],
    )
    assert code == 0
    assert summary["items_sent"] == summary["items_accepted"] == 1200
    assert summary["requests"] == 3 and summary["requests_failed"] == 0
    assert summary["bytes_sent"] == sum(len(r.body) for r in sink.received)
    assert {r.protocol for r in sink.received} == {protocol}
    messages = sink.messages()
    assert sorted(count_items(signal, m) for m in messages) == [176, 512, 512]
    if signal is Signal.TRACES:
        spans = [
            s
            for m in messages
            for rs in m.resource_spans
            for ss in rs.scope_spans
            for s in ss.spans
        ]
        assert all(len(s.attributes) >= 10 and len(s.events) == 1 for s in spans)
        assert len({s.span_id for s in spans}) == 1200
    elif signal is Signal.LOGS:
        records = [
            r
            for m in messages
            for rl in m.resource_logs
            for sl in rl.scope_logs
            for r in sl.log_records
        ]
        assert all(r.body.string_value and len(r.trace_id) == 16 for r in records)


def test_resent_requests_get_fresh_trace_ids(sink):
    assert (
        run(
            [
                "--endpoint",
                sink.grpc_endpoint,
                "--count",
                "300",
                "--batch-size",
                "100",
                "--distinct",
                "1",
            ]
        )
        == 0
    )
    trace_ids = [
        {s.trace_id for rs in m.resource_spans for ss in rs.scope_spans for s in ss.spans}
        for m in sink.messages()
    ]
    assert len(trace_ids) == 3
    assert not (trace_ids[0] & trace_ids[1]) and not (trace_ids[1] & trace_ids[2])


def test_readable_summary(sink, capsys):
    assert run(["--endpoint", sink.grpc_endpoint, "--count", "10", "--batch-size", "5"]) == 0
    out = capsys.readouterr().out
    assert "accepted  10 spans" in out
    assert "in 2 requests" in out


def test_tls_to_a_plain_text_server_gets_a_hint(sink, capsys):
    """A bare host:port means TLS, as in the Collector; the summary says what to do instead."""
    bare = sink.grpc_endpoint.removeprefix("http://")
    assert run(["--endpoint", bare, "--count", "5"]) == 1
    out = capsys.readouterr().out
    assert "error     UNAVAILABLE" in out
    assert "hint      an endpoint without http:// is sent over TLS" in out
    assert run(["--endpoint", f"http://127.0.0.1:{_free_port()}", "--count", "5"]) == 1
    assert "hint" not in capsys.readouterr().out  # nobody listening: no TLS mismatch


def test_through_the_otlpy_command(sink, capsys):
    code = cli.dispatch(
        ["send", "--endpoint", sink.grpc_endpoint, "--signal", "logs", "--count", "7", "--json"]
    )
    assert code == 0
    assert orjson.loads(capsys.readouterr().out)["items_accepted"] == 7


def test_headers_and_attributes_arrive(sink):
    for protocol in PROTOCOLS:
        code = run(
            [
                "--endpoint",
                _endpoint(sink, protocol),
                "--protocol",
                protocol,
                "--count",
                "5",
                "--header",
                "X-Tenant=acme",
                "--attributes",
                "team=blue",
                "--service",
                "checkout",
            ]
        )
        assert code == 0
    assert len(sink.received) == 3
    for received in sink.received:
        headers = {k.lower(): v for k, v in received.headers.items()}
        assert headers["x-tenant"] == "acme"
        message = received.message()
        for rs in message.resource_spans:
            service = [
                kv.value.string_value for kv in rs.resource.attributes if kv.key == "service.name"
            ]
            assert service == ["checkout"]
            for ss in rs.scope_spans:
                for span in ss.spans:
                    assert any(kv.key == "team" for kv in span.attributes)


@pytest.mark.parametrize(
    ("protocol", "compression", "encoding"),
    [("grpc", "gzip", None), ("http/protobuf", "gzip", "gzip"), ("http/json", "zstd", "zstd")],
)
def test_compression(sink, protocol, compression, encoding):
    code = run(
        [
            "--endpoint",
            _endpoint(sink, protocol),
            "--protocol",
            protocol,
            "--count",
            "100",
            "--compression",
            compression,
        ]
    )
    assert code == 0
    (received,) = sink.received
    assert count_items(Signal.TRACES, received.message()) == 100
    if encoding:
        assert received.headers["Content-Encoding"] == encoding


def test_grpc_errors_are_counted_by_kind(sink, capsys):
    sink.grpc_status = grpc.StatusCode.UNAVAILABLE
    code, summary = _send_json(
        capsys, ["--endpoint", sink.grpc_endpoint, "--count", "1000", "--batch-size", "250"]
    )
    assert code == 1  # nothing accepted
    assert summary["items_failed"] == 1000 and summary["items_accepted"] == 0
    assert summary["errors"] == {"UNAVAILABLE": 4}
    assert summary["error_examples"]["UNAVAILABLE"] == "told to fail"


@pytest.mark.parametrize(("protocol", "status"), [("http/protobuf", 503), ("http/json", 400)])
def test_http_errors_are_counted_by_kind(sink, capsys, protocol, status):
    sink.http_status = status
    code, summary = _send_json(
        capsys,
        [
            "--endpoint",
            sink.http_endpoint,
            "--protocol",
            protocol,
            "--count",
            "20",
            "--batch-size",
            "10",
        ],
    )
    assert code == 1
    assert summary["errors"] == {f"HTTP {status}": 2}
    assert summary["error_examples"][f"HTTP {status}"] == "told to fail"


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_partial_success_is_reported(sink, capsys, protocol):
    sink.partial = (3, "spans too old")
    code, summary = _send_json(
        capsys,
        [
            "--endpoint",
            _endpoint(sink, protocol),
            "--protocol",
            protocol,
            "--count",
            "40",
            "--batch-size",
            "20",
        ],
    )
    assert code == 0
    assert summary["items_rejected"] == 6
    assert summary["items_accepted"] == 34
    assert summary["partial_success"] == [{"message": "spans too old", "requests": 2}]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_unreadable_response(sink, capsys, protocol):
    sink.raw_response = b"\xff\xff not a response"
    code, summary = _send_json(
        capsys, ["--endpoint", _endpoint(sink, protocol), "--protocol", protocol, "--count", "5"]
    )
    assert code == 1
    assert summary["errors"] == {"bad response": 1}


@pytest.mark.parametrize(
    ("protocol", "kind"), [("grpc", "UNAVAILABLE"), ("http/protobuf", "connection")]
)
def test_nobody_listening(capsys, protocol, kind):
    code, summary = _send_json(
        capsys,
        ["--endpoint", f"http://127.0.0.1:{_free_port()}", "--protocol", protocol, "--count", "5"],
    )
    assert code == 1
    assert summary["errors"] == {kind: 1}


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_timeouts(sink, capsys, protocol):
    sink.delay = 1.0
    code, summary = _send_json(
        capsys,
        [
            "--endpoint",
            _endpoint(sink, protocol),
            "--protocol",
            protocol,
            "--count",
            "5",
            "--timeout",
            "0.2",
        ],
    )
    assert code == 1
    assert summary["errors"] == {"timeout": 1}


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_tls_with_a_private_ca(tls_sink, protocol):
    sink, tls = tls_sink
    port = sink.grpc_port if protocol == "grpc" else sink.http_port
    code = run(
        [
            "--endpoint",
            f"localhost:{port}",
            "--protocol",
            protocol,
            "--count",
            "5",
            "--ca-file",
            str(tls.ca),
        ]
    )
    assert code == 0
    assert len(sink.received) == 1


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_mutual_tls(mtls_sink, capsys, protocol):
    sink, certs = mtls_sink
    port = sink.grpc_port if protocol == "grpc" else sink.http_port
    base = [
        "--endpoint",
        f"https://localhost:{port}",
        "--protocol",
        protocol,
        "--count",
        "5",
        "--ca-file",
        str(certs.ca),
    ]
    code, summary = _send_json(capsys, base)
    assert code == 1 and summary["items_failed"] == 5  # no client certificate: refused
    client = ["--cert-file", str(certs.client_cert), "--key-file", str(certs.client_key)]
    assert run([*base, *client]) == 0
    assert len(sink.received) >= 1


def test_tls_without_trust_fails_and_skip_verify_works(tls_sink, capsys):
    sink, _ = tls_sink
    url = f"https://localhost:{sink.http_port}"
    code, summary = _send_json(
        capsys, ["--endpoint", url, "--protocol", "http/protobuf", "--count", "5"]
    )
    assert code == 1 and summary["items_failed"] == 5
    assert (
        run(
            [
                "--endpoint",
                url,
                "--protocol",
                "http/protobuf",
                "--count",
                "5",
                "--insecure-skip-verify",
            ]
        )
        == 0
    )


def test_custom_http_path(sink):
    code = run(
        [
            "--endpoint",
            f"{sink.http_endpoint}/custom/logs",
            "--protocol",
            "http/protobuf",
            "--signal",
            "logs",
            "--count",
            "3",
        ]
    )
    assert code == 0
    assert sink.received[0].signal is Signal.LOGS


def test_processes_split_the_count_exactly(sink, capsys):
    code, summary = _send_json(
        capsys,
        [
            "--endpoint",
            sink.grpc_endpoint,
            "--count",
            "1300",
            "--batch-size",
            "500",
            "--processes",
            "2",
            "--workers",
            "2",
        ],
    )
    assert code == 0
    assert summary["items_accepted"] == 1300
    assert summary["requests"] == 3
    assert sorted(count_items(Signal.TRACES, m) for m in sink.messages()) == [300, 500, 500]


def test_bad_options_exit_2(capsys):
    assert run(["--protocol", "grpc", "--compression", "zstd"]) == 2
    assert "zstd is not available over gRPC" in capsys.readouterr().err
    assert run(["--count", "0"]) == 2
    assert capsys.readouterr().err == "otlpy send: --count: must be at least 1\n"
    assert run(["--rate", "fast"]) == 2
    assert run(["--help"]) == 0


def test_unreadable_ca_file_exits_2(capsys, tmp_path):
    code = run(
        ["--endpoint", "localhost:1", "--ca-file", str(tmp_path / "missing.pem"), "--count", "1"]
    )
    assert code == 2
    assert "missing.pem" in capsys.readouterr().err
