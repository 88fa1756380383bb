"""What ``otlpy send`` is asked to do: the options, their command line, and their validation."""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from otlpy.errors import ConfigProblem
from otlpy.pdata import Signal
from otlpy.send.generate import DEFAULT_SERVICES

__all__ = ["PROTOCOLS", "SendOptions", "parse_args", "parser"]

PROTOCOLS = ("grpc", "http/protobuf", "http/json")
COMPRESSIONS = ("none", "gzip", "zstd")

_DEFAULT_ENDPOINTS = {"grpc": "http://localhost:4317", "http": "http://localhost:4318"}
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m|h)?\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


@dataclass(frozen=True, kw_only=True)
class SendOptions:
    """Everything one run of the sender needs; defaults match the command line's."""

    signal: Signal = Signal.TRACES
    protocol: str = "grpc"
    endpoint: str = ""
    #: items (spans, data points, log records) per second over all workers; 0: as fast as possible
    rate: float = 0.0
    #: seconds to send for; ``None``: until ``count`` items are sent
    duration: float | None = None
    #: items to send in all; ``None`` with no duration: one batch
    count: int | None = None
    workers: int = 1
    processes: int = 1
    batch_size: int = 512
    timeout: float = 10.0
    compression: str = "none"
    headers: tuple[tuple[str, str], ...] = ()
    insecure: bool = False
    insecure_skip_verify: bool = False
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    services: tuple[str, ...] = DEFAULT_SERVICES
    attributes: tuple[tuple[str, str], ...] = ()
    resource_attributes: tuple[tuple[str, str], ...] = ()
    #: distinct requests generated up front and cycled through
    distinct: int = 8
    seed: int | None = None

    @property
    def is_grpc(self) -> bool:
        return self.protocol == "grpc"

    @property
    def encoding(self) -> str:
        return "json" if self.protocol == "http/json" else "protobuf"

    @property
    def total(self) -> int | None:
        """Items to send, or ``None`` when only the duration bounds the run."""
        if self.count is not None:
            return self.count
        return None if self.duration is not None else self.batch_size

    @property
    def resolved_endpoint(self) -> str:
        return self.endpoint or _DEFAULT_ENDPOINTS["grpc" if self.is_grpc else "http"]

    def uses_tls(self) -> bool:
        """TLS unless ``--insecure`` or an ``http://`` endpoint (as the Collector's exporters)."""
        scheme = urlsplit(self.resolved_endpoint).scheme if "://" in self.resolved_endpoint else ""
        if scheme == "https":
            return True
        return not (self.insecure or scheme == "http")

    def validate(self) -> list[ConfigProblem]:
        """Every problem with these options (no files or sockets are touched)."""
        problems: list[ConfigProblem] = []

        def bad(path: str, message: str) -> None:
            problems.append(ConfigProblem(path, message))

        if self.protocol not in PROTOCOLS:
            bad("--protocol", f"must be one of {', '.join(PROTOCOLS)}, not {self.protocol!r}")
        if self.compression not in COMPRESSIONS:
            bad("--compression", f"must be one of {', '.join(COMPRESSIONS)}")
        elif self.compression == "zstd" and self.is_grpc:
            bad("--compression", "zstd is not available over gRPC (grpcio offers gzip only)")
        if self.rate < 0:
            bad("--rate", "must be 0 (as fast as possible) or more")
        if self.duration is not None and self.duration <= 0:
            bad("--duration", "must be more than 0")
        if self.count is not None and self.count < 1:
            bad("--count", "must be at least 1")
        if self.workers < 1:
            bad("--workers", "must be at least 1")
        if self.processes < 1:
            bad("--processes", "must be at least 1")
        elif 1 <= self.workers < self.processes:
            bad("--workers", "must be at least --processes (each process runs its own workers)")
        if self.batch_size < 1:
            bad("--batch-size", "must be at least 1")
        if self.timeout <= 0:
            bad("--timeout", "must be more than 0")
        if self.distinct < 1:
            bad("--distinct", "must be at least 1")
        if not self.services or any(not s for s in self.services):
            bad("--service", "must not be empty")
        if bool(self.cert_file) != bool(self.key_file):
            bad("--cert-file", "--cert-file and --key-file must be given together")
        if self.insecure_skip_verify and self.is_grpc:
            bad("--insecure-skip-verify", "is not available over gRPC; pass --ca-file instead")
        endpoint = self.resolved_endpoint
        if "://" in endpoint:
            parts = urlsplit(endpoint)
            if parts.scheme not in ("http", "https"):
                bad("--endpoint", f"scheme must be http or https, not {parts.scheme!r}")
            elif not parts.hostname:
                bad("--endpoint", f"has no host: {endpoint!r}")
            elif self.is_grpc and parts.path not in ("", "/"):
                bad("--endpoint", "a gRPC endpoint is host:port, without a path")
        elif not endpoint.strip():
            bad("--endpoint", "must not be empty")
        for key, _ in self.headers:
            if not key or not re.fullmatch(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+", key):
                bad("--header", f"invalid header name {key!r}")
        return problems


def _pair(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key.strip(), value


def _duration(text: str) -> float:
    match = _DURATION_RE.match(text)
    if not match:
        raise argparse.ArgumentTypeError(f"expected seconds or a number with ms/s/m/h: {text!r}")
    return float(match.group(1)) * _DURATION_UNITS[match.group(2)]


def parser() -> argparse.ArgumentParser:
    """The ``otlpy send`` argument parser."""
    p = argparse.ArgumentParser(
        prog="otlpy send",
        description="Generate realistic telemetry and send it over OTLP, at a rate or as fast "
        "as possible, then print what was sent and what the receiver accepted. Exit code 1 "
        "when nothing was accepted.",
    )
    what = p.add_argument_group("what to send")
    what.add_argument(
        "--signal", choices=[s.value for s in Signal], default="traces", help="(default traces)"
    )
    what.add_argument(
        "--batch-size",
        type=int,
        default=512,
        metavar="N",
        help="spans, data points or log records per request (default 512)",
    )
    what.add_argument(
        "--service",
        action="append",
        metavar="NAME",
        help="service name (repeatable; default: five services calling each other)",
    )
    what.add_argument(
        "--attributes",
        action="append",
        type=_pair,
        default=[],
        metavar="K=V",
        help="attribute on every span, data point or log record (repeatable)",
    )
    what.add_argument(
        "--resource-attributes",
        action="append",
        type=_pair,
        default=[],
        metavar="K=V",
        help="attribute on every resource (repeatable)",
    )
    what.add_argument(
        "--distinct",
        type=int,
        default=8,
        metavar="N",
        help="distinct requests generated up front and cycled through, each sent with fresh "
        "trace ids and timestamps (default 8)",
    )
    what.add_argument("--seed", type=int, help="random seed, to generate the same content")

    how = p.add_argument_group("how much and how fast")
    how.add_argument(
        "--rate",
        type=float,
        default=0.0,
        metavar="ITEMS_PER_S",
        help="items per second over all workers (default 0: as fast as possible)",
    )
    how.add_argument(
        "--duration",
        type=_duration,
        metavar="TIME",
        help="how long to send: seconds, or 500ms, 30s, 5m, 1h",
    )
    how.add_argument(
        "--count",
        type=int,
        metavar="N",
        help="items to send in all (default: one batch when no --duration is given)",
    )
    how.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="concurrent requests in flight (default 1)",
    )
    how.add_argument(
        "--processes",
        type=int,
        default=1,
        metavar="N",
        help="spread the workers over N processes, for rates one core cannot generate",
    )
    how.add_argument(
        "--timeout", type=float, default=10.0, metavar="SECONDS", help="per request (default 10)"
    )

    where = p.add_argument_group("where to")
    where.add_argument("--protocol", choices=PROTOCOLS, default="grpc", help="(default grpc)")
    where.add_argument(
        "--endpoint",
        default="",
        help="host:port for gRPC or a base URL for HTTP (default http://localhost:4317 for "
        "gRPC, http://localhost:4318 for HTTP; /v1/<signal> is added to a URL without a path)",
    )
    where.add_argument(
        "--header",
        action="append",
        type=_pair,
        default=[],
        metavar="K=V",
        help="request header or gRPC metadata (repeatable)",
    )
    where.add_argument("--compression", choices=COMPRESSIONS, default="none", help="(default none)")
    where.add_argument(
        "--insecure",
        action="store_true",
        help="plain text even for an endpoint without http:// (TLS otherwise)",
    )
    where.add_argument("--ca-file", default="", metavar="FILE", help="CA to trust (PEM)")
    where.add_argument("--cert-file", default="", metavar="FILE", help="client certificate (mTLS)")
    where.add_argument("--key-file", default="", metavar="FILE", help="client key (mTLS)")
    where.add_argument(
        "--insecure-skip-verify",
        action="store_true",
        help="do not verify the server's certificate (HTTP only)",
    )

    out = p.add_argument_group("output")
    out.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    return p


def parse_args(argv: list[str]) -> tuple[SendOptions, argparse.Namespace]:
    """Options from the command line; raises ``SystemExit(2)`` (argparse) on bad syntax."""
    ns = parser().parse_args(argv)
    options = SendOptions(
        signal=Signal(ns.signal),
        protocol=ns.protocol,
        endpoint=ns.endpoint,
        rate=ns.rate,
        duration=ns.duration,
        count=ns.count,
        workers=ns.workers,
        processes=ns.processes,
        batch_size=ns.batch_size,
        timeout=ns.timeout,
        compression=ns.compression,
        headers=tuple(ns.header),
        insecure=ns.insecure,
        insecure_skip_verify=ns.insecure_skip_verify,
        ca_file=ns.ca_file,
        cert_file=ns.cert_file,
        key_file=ns.key_file,
        services=tuple(ns.service) if ns.service else DEFAULT_SERVICES,
        attributes=tuple(ns.attributes),
        resource_attributes=tuple(ns.resource_attributes),
        distinct=ns.distinct,
        seed=ns.seed,
    )
    return options, ns
