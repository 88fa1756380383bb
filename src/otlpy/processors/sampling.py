"""Consistent probability sampling: thresholds, randomness and the ``ot`` tracestate entry.

OpenTelemetry's consistent probability sampling compares 56 bits of randomness (from the trace
id's last 7 bytes, or an explicit ``rv`` value) with a 56-bit rejection threshold: an item is
sampled when ``threshold <= randomness``. The threshold travels in the W3C ``tracestate`` as
``ot=th:<hex>`` with trailing zeros dropped (``th:0`` means 100%, ``th:8`` 50%, ``th:c`` 25%).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

__all__ = [
    "ALWAYS",
    "MAX_ADJUSTED_COUNT",
    "NEVER",
    "TraceState",
    "TraceStateError",
    "fnv32a",
    "probability_to_threshold",
    "randomness_from_hash",
    "rvalue",
    "rvalue_to_randomness",
    "threshold_probability",
    "trace_id_randomness",
    "tvalue",
    "tvalue_to_threshold",
]

MAX_ADJUSTED_COUNT = 1 << 56
#: threshold of 100% sampling
ALWAYS = 0
#: threshold of 0% sampling (no t-value)
NEVER = MAX_ADJUSTED_COUNT
#: randomness standing in when there is none: every threshold but NEVER samples it
ALL_PROBABILITIES = MAX_ADJUSTED_COUNT - 1
_HEX_DIGITS = 14
_MIN_PROBABILITY = 1.0 / MAX_ADJUSTED_COUNT


class TraceStateError(ValueError):
    """A tracestate, or a sampling value in it, that does not parse."""


def tvalue(threshold: int) -> str:
    """The ``th`` encoding of a threshold: 14 hex digits less trailing zeros."""
    if threshold == ALWAYS:
        return "0"
    if threshold >= NEVER:
        return ""
    return format(threshold, "014x").rstrip("0")


def tvalue_to_threshold(text: str) -> int:
    if not text or len(text) > _HEX_DIGITS:
        raise TraceStateError(f"invalid threshold {text!r}: 1 to 14 hex digits expected")
    try:
        value = int(text, 16)
    except ValueError:
        raise TraceStateError(f"invalid threshold {text!r}: not hexadecimal") from None
    if text.startswith(("+", "-")) or "_" in text:
        raise TraceStateError(f"invalid threshold {text!r}: not hexadecimal")
    return value << (4 * (_HEX_DIGITS - len(text)))


def rvalue(randomness: int) -> str:
    return format(randomness, "014x")


def rvalue_to_randomness(text: str) -> int:
    if len(text) != _HEX_DIGITS or not all(c in "0123456789abcdefABCDEF" for c in text):
        raise TraceStateError(f"invalid randomness {text!r}: 14 hex digits expected")
    return int(text, 16)


def threshold_probability(threshold: int) -> float:
    return (MAX_ADJUSTED_COUNT - threshold) / MAX_ADJUSTED_COUNT


def _go_round(x: float) -> int:
    # Go's math.Round: half away from zero; floats past 2**52 are integers already
    if x >= 2**52:
        return int(x)
    return math.floor(x + 0.5)


def probability_to_threshold(probability: float, precision: int) -> int | None:
    """The threshold sampling with ``probability`` at ``precision`` hex digits (more near 0
    and 1, as the Collector adds); None when the probability is out of range."""
    if precision == 0:
        precision = _HEX_DIGITS
    if not (_MIN_PROBABILITY <= probability <= 1):
        return None
    if probability == 1:
        return ALWAYS
    exp_f = math.frexp(probability)[1]
    exp_r = math.frexp(1 - probability)[1]
    precision = min(_HEX_DIGITS, max(precision + (-exp_f) // 4, precision + (-exp_r) // 4))
    scaled = _go_round(probability * float(MAX_ADJUSTED_COUNT))
    threshold = MAX_ADJUSTED_COUNT - scaled
    shift = 4 * (_HEX_DIGITS - precision)
    if shift:
        threshold += 1 << (shift - 1)
        threshold >>= shift
        threshold <<= shift
    return threshold


def trace_id_randomness(trace_id: bytes) -> int:
    """The W3C randomness of a trace id: its last 7 bytes."""
    return int.from_bytes(trace_id[9:16], "big")


def fnv32a(data: bytes) -> int:
    h = 0x811C9DC5
    for byte in data:
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return h


def randomness_from_hash(data: bytes, seed: int) -> int:
    """The hash-seed mode's randomness: 14 bits of FNV-1a, laid out so the consistent test
    ``threshold <= randomness`` decides as the original hash comparison did."""
    hashed32 = fnv32a(seed.to_bytes(4, "little") + data)
    hashed = hashed32 & 0x3FFF
    unused18 = hashed32 >> 14
    mixed28 = unused18 ^ (unused18 << 10)
    return ((0x3FFF - hashed) << 42) | (mixed28 << 14) | hashed


_KEY = re.compile(
    r"^(?:[a-z][a-z0-9_\-*/]{0,255}|[a-z0-9][a-z0-9_\-*/]{0,240}@[a-z][a-z0-9_\-*/]{0,13})$"
)
_VALUE = re.compile(r"^[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]$")
_OT_MEMBER = re.compile(r"^[a-z][a-z0-9]*:[a-zA-Z0-9._\-]*$")


@dataclass
class TraceState:
    """A parsed W3C tracestate with its ``ot`` entry opened up."""

    rv: str = ""
    randomness: int = 0
    th: str = ""
    threshold: int = ALWAYS
    #: other ``ot`` sub-keys, in order
    ot_extra: list[tuple[str, str]] = field(default_factory=list)
    #: other vendors' members, in order
    members: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def parse(cls, text: str) -> TraceState:
        state = cls()
        if len(text) > 1024:
            raise TraceStateError("tracestate longer than 1024 characters")
        count = 0
        for raw in text.split(","):
            member = raw.strip(" \t")
            if not member:
                continue
            count += 1
            key, sep, value = member.partition("=")
            if not sep or not _KEY.match(key) or not _VALUE.match(value):
                raise TraceStateError(f"invalid tracestate member {member!r}")
            if key == "ot":
                state._parse_ot(value)
            else:
                state.members.append((key, value))
        if count > 32:
            raise TraceStateError("tracestate has more than 32 members")
        return state

    def _parse_ot(self, value: str) -> None:
        if len(value) > 256:
            raise TraceStateError("ot tracestate value longer than 256 characters")
        error: TraceStateError | None = None
        for part in value.split(";"):
            if not _OT_MEMBER.match(part):
                raise TraceStateError(f"invalid ot tracestate value {value!r}")
            key, _, item = part.partition(":")
            if key == "rv":
                try:
                    self.randomness = rvalue_to_randomness(item)
                    self.rv = item
                except TraceStateError as exc:
                    error = exc
            elif key == "th":
                try:
                    self.threshold = tvalue_to_threshold(item)
                    self.th = item
                except TraceStateError as exc:
                    error = exc
            else:
                self.ot_extra.append((key, item))
        if error is not None:
            raise error

    def set_randomness(self, randomness: int) -> None:
        self.randomness = randomness
        self.rv = rvalue(randomness)

    def clear_threshold(self) -> None:
        self.th = ""
        self.threshold = ALWAYS

    def update_threshold(self, threshold: int) -> bool:
        """Record the threshold an item was sampled with; refused (False) when it would raise
        the sampling probability of what arrived."""
        if self.th and self.threshold > threshold:
            return False
        self.threshold = threshold
        self.th = tvalue(threshold)
        return True

    def serialize(self) -> str:
        ot = []
        if self.rv:
            ot.append(f"rv:{self.rv}")
        if self.th:
            ot.append(f"th:{self.th}")
        ot.extend(f"{k}:{v}" for k, v in self.ot_extra)
        members = [f"ot={';'.join(ot)}"] if ot else []
        members.extend(f"{k}={v}" for k, v in self.members)
        return ",".join(members)
