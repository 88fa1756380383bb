"""What a run of ``otlpy send`` did: counts, errors by kind, latencies, and its summary."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from otlpy.send.transport import Outcome

__all__ = ["LatencyHistogram", "Stats", "format_json", "format_text", "summary"]

# Latency buckets grow by 5%: percentiles are within 5% of the truth in any range.
_GROWTH = math.log(1.05)
_MAX_MESSAGES = 10
_COUNTERS = (
    "requests",
    "requests_failed",
    "items_sent",
    "items_accepted",
    "items_rejected",
    "items_failed",
    "bytes_sent",
)


@dataclass
class LatencyHistogram:
    """Request latencies in log-spaced buckets: small, mergeable across processes."""

    buckets: Counter[int] = field(default_factory=Counter)
    count: int = 0
    max: float = 0.0

    def add(self, seconds: float) -> None:
        micros = max(seconds * 1e6, 1.0)
        self.buckets[int(math.log(micros) / _GROWTH)] += 1
        self.count += 1
        self.max = max(self.max, seconds)

    def merge(self, other: LatencyHistogram) -> None:
        self.buckets.update(other.buckets)
        self.count += other.count
        self.max = max(self.max, other.max)

    def percentile(self, q: float) -> float:
        """The ``q`` quantile (0..1) in seconds (a bucket's upper bound); 0 with no samples."""
        if not self.count:
            return 0.0
        rank = max(1, math.ceil(q * self.count))
        seen = 0
        for bucket in sorted(self.buckets):
            seen += self.buckets[bucket]
            if seen >= rank:
                return min(math.exp((bucket + 1) * _GROWTH) / 1e6, self.max)
        return self.max  # pragma: no cover - the loop always reaches rank


@dataclass
class Stats:
    """Counters of one run (or of several processes' runs, merged)."""

    requests: int = 0
    requests_failed: int = 0
    items_sent: int = 0
    items_accepted: int = 0
    items_rejected: int = 0
    items_failed: int = 0
    bytes_sent: int = 0
    elapsed: float = 0.0
    errors: Counter[str] = field(default_factory=Counter)
    error_examples: dict[str, str] = field(default_factory=dict)
    partial_messages: Counter[str] = field(default_factory=Counter)
    latency: LatencyHistogram = field(default_factory=LatencyHistogram)

    def record(self, items: int, size: int, outcome: Outcome, seconds: float) -> None:
        """Count one request of ``items`` items and ``size`` bytes."""
        self.requests += 1
        self.items_sent += items
        self.bytes_sent += size
        self.latency.add(seconds)
        if outcome.error is not None:
            self.requests_failed += 1
            self.items_failed += items
            self.errors[outcome.error] += 1
            self.error_examples.setdefault(outcome.error, outcome.detail)
            return
        rejected = min(max(outcome.rejected, 0), items)
        self.items_rejected += rejected
        self.items_accepted += items - rejected
        if (rejected or outcome.message) and (
            outcome.message in self.partial_messages or len(self.partial_messages) < _MAX_MESSAGES
        ):
            self.partial_messages[outcome.message] += 1

    def to_dict(self) -> dict[str, Any]:
        """Plain data, to pass between processes."""
        return {
            **{name: getattr(self, name) for name in _COUNTERS},
            "elapsed": self.elapsed,
            "errors": dict(self.errors),
            "error_examples": dict(self.error_examples),
            "partial_messages": dict(self.partial_messages),
            "latency": {
                "buckets": dict(self.latency.buckets),
                "count": self.latency.count,
                "max": self.latency.max,
            },
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Stats:
        """The inverse of :meth:`to_dict`."""
        latency = data["latency"]
        return cls(
            **{name: data[name] for name in _COUNTERS},
            elapsed=data["elapsed"],
            errors=Counter(data["errors"]),
            error_examples=dict(data["error_examples"]),
            partial_messages=Counter(data["partial_messages"]),
            latency=LatencyHistogram(
                Counter({int(k): v for k, v in latency["buckets"].items()}),
                latency["count"],
                latency["max"],
            ),
        )

    def merge(self, other: Stats) -> None:
        """Add another run's counts (the elapsed time is the longer of the two)."""
        for name in _COUNTERS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.elapsed = max(self.elapsed, other.elapsed)
        self.errors.update(other.errors)
        for kind, detail in other.error_examples.items():
            self.error_examples.setdefault(kind, detail)
        for message, count in other.partial_messages.items():
            if message in self.partial_messages or len(self.partial_messages) < _MAX_MESSAGES:
                self.partial_messages[message] += count
        self.latency.merge(other.latency)


def _rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else 0.0


def summary(
    stats: Stats, *, signal: str, item_name: str, protocol: str, endpoint: str
) -> dict[str, Any]:
    """The machine-readable summary (what ``--json`` prints)."""
    return {
        "signal": signal,
        "item": item_name,
        "protocol": protocol,
        "endpoint": endpoint,
        "requests": stats.requests,
        "requests_failed": stats.requests_failed,
        "items_sent": stats.items_sent,
        "items_accepted": stats.items_accepted,
        "items_rejected": stats.items_rejected,
        "items_failed": stats.items_failed,
        "bytes_sent": stats.bytes_sent,
        "elapsed_s": round(stats.elapsed, 6),
        "sent_per_s": round(_rate(stats.items_sent, stats.elapsed), 1),
        "accepted_per_s": round(_rate(stats.items_accepted, stats.elapsed), 1),
        "latency_ms": {
            "p50": round(stats.latency.percentile(0.5) * 1e3, 3),
            "p90": round(stats.latency.percentile(0.9) * 1e3, 3),
            "p99": round(stats.latency.percentile(0.99) * 1e3, 3),
            "max": round(stats.latency.max * 1e3, 3),
        },
        "errors": dict(stats.errors.most_common()),
        "error_examples": dict(stats.error_examples),
        "partial_success": [
            {"message": message, "requests": count}
            for message, count in stats.partial_messages.most_common()
        ],
    }


def format_json(document: dict[str, Any]) -> str:
    import orjson

    return orjson.dumps(document, option=orjson.OPT_INDENT_2).decode()


def _size(count: int) -> str:
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.1f} {unit}" if unit != "B" else f"{count} B"
        value /= 1024
    raise AssertionError  # pragma: no cover


def format_text(document: dict[str, Any]) -> str:
    """The readable summary."""
    d = document
    item = d["item"]
    lines = [
        f"otlpy send: {d['signal']} over {d['protocol']} to {d['endpoint']}",
        f"  sent      {d['items_sent']:,} {item} in {_requests(d['requests'])} "
        f"({_size(d['bytes_sent'])}) in {d['elapsed_s']:.2f} s: {d['sent_per_s']:,.0f} {item}/s",
        f"  accepted  {d['items_accepted']:,} {item}: {d['accepted_per_s']:,.0f} {item}/s",
        f"  rejected  {d['items_rejected']:,} {item} (partial success)",
        f"  failed    {d['items_failed']:,} {item} in {_requests(d['requests_failed'])}",
    ]
    latency = d["latency_ms"]
    if d["requests"]:
        lines.append(
            f"  latency   p50 {latency['p50']:.1f} ms, p90 {latency['p90']:.1f} ms, "
            f"p99 {latency['p99']:.1f} ms, max {latency['max']:.1f} ms"
        )
    for kind, count in d["errors"].items():
        example = d["error_examples"].get(kind, "")
        lines.append(
            f"  error     {kind}: {_requests(count)}" + (f" ({example})" if example else "")
        )
    for partial in d["partial_success"]:
        message = partial["message"] or "(no message)"
        lines.append(f"  rejection {message}: {_requests(partial['requests'])}")
    if "://" not in d["endpoint"] and any(
        marker in example.lower()
        for example in d["error_examples"].values()
        for marker in _TLS_MISMATCH
    ):
        lines.append(
            "  hint      an endpoint without http:// is sent over TLS (as the Collector's "
            "exporters do); for a plain-text server use http://HOST:PORT or --insecure"
        )
    return "\n".join(lines)


def _requests(count: int) -> str:
    return f"{count:,} request" if count == 1 else f"{count:,} requests"


#: what grpc says when it speaks TLS to a plain-text server
_TLS_MISMATCH = ("wrong_version_number", "handshake failed")
