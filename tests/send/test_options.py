from __future__ import annotations

import pytest

from otlpy.pdata import Signal
from otlpy.send.options import SendOptions, parse_args


def test_defaults():
    options, ns = parse_args([])
    assert options.signal is Signal.TRACES
    assert options.protocol == "grpc"
    assert options.resolved_endpoint == "http://localhost:4317"
    assert options.total == 512  # one batch
    assert not options.uses_tls()
    assert options.validate() == []
    assert ns.json is False


def test_everything_parses():
    options, ns = parse_args(
        [
            "--signal=logs",
            "--protocol=http/json",
            "--endpoint=collector:4318",
            "--rate=2500",
            "--duration=2m",
            "--count=100",
            "--workers=4",
            "--processes=2",
            "--batch-size=100",
            "--timeout=3",
            "--compression=zstd",
            "--header=Authorization=Bearer x=y",
            "--service=a",
            "--service=b",
            "--attributes=team=blue",
            "--resource-attributes=k8s.cluster.name=c1",
            "--distinct=2",
            "--seed=7",
            "--json",
        ]
    )
    assert options.signal is Signal.LOGS
    assert options.encoding == "json"
    assert options.duration == 120.0
    assert options.total == 100
    assert options.headers == (("Authorization", "Bearer x=y"),)
    assert options.services == ("a", "b")
    assert options.attributes == (("team", "blue"),)
    assert options.resource_attributes == (("k8s.cluster.name", "c1"),)
    assert options.uses_tls()  # no scheme and no --insecure: TLS, as the Collector does
    assert options.validate() == []
    assert ns.json


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("10", 10.0), ("1.5s", 1.5), ("250ms", 0.25), ("2m", 120.0), ("1h", 3600.0)],
)
def test_durations(text, seconds):
    assert parse_args(["--duration", text])[0].duration == seconds


def test_duration_only_has_no_count():
    assert parse_args(["--duration", "1"])[0].total is None


@pytest.mark.parametrize(
    ("endpoint", "insecure", "tls"),
    [
        ("http://h:1", False, False),
        ("https://h:1", True, True),
        ("h:1", False, True),
        ("h:1", True, False),
    ],
)
def test_tls_choice(endpoint, insecure, tls):
    assert SendOptions(endpoint=endpoint, insecure=insecure).uses_tls() is tls


@pytest.mark.parametrize(
    ("options", "path"),
    [
        (SendOptions(protocol="smoke"), "--protocol"),
        (SendOptions(compression="lz4"), "--compression"),
        (SendOptions(compression="zstd"), "--compression"),
        (SendOptions(rate=-1), "--rate"),
        (SendOptions(duration=0), "--duration"),
        (SendOptions(count=0), "--count"),
        (SendOptions(workers=0), "--workers"),
        (SendOptions(processes=0), "--processes"),
        (SendOptions(processes=3, workers=2), "--workers"),
        (SendOptions(batch_size=0), "--batch-size"),
        (SendOptions(timeout=0), "--timeout"),
        (SendOptions(distinct=0), "--distinct"),
        (SendOptions(services=()), "--service"),
        (SendOptions(cert_file="c.pem"), "--cert-file"),
        (SendOptions(insecure_skip_verify=True), "--insecure-skip-verify"),
        (SendOptions(endpoint="ftp://h:1"), "--endpoint"),
        (SendOptions(endpoint="http://:1"), "--endpoint"),
        (SendOptions(endpoint="http://h:1/v1/traces"), "--endpoint"),
        (SendOptions(endpoint="  "), "--endpoint"),
        (SendOptions(headers=(("bad header", "x"),)), "--header"),
    ],
)
def test_validation(options, path):
    problems = options.validate()
    assert [p.path for p in problems] == [path]


def test_http_allows_a_path_and_zstd():
    options = SendOptions(
        protocol="http/protobuf", endpoint="http://h:1/custom/traces", compression="zstd"
    )
    assert options.validate() == []


@pytest.mark.parametrize(
    "argv", [["--attributes", "novalue"], ["--duration", "soon"], ["--signal", "profiles"]]
)
def test_bad_syntax_exits_2(argv, capsys):
    with pytest.raises(SystemExit) as info:
        parse_args(argv)
    assert info.value.code == 2
    assert "otlpy send" in capsys.readouterr().err
