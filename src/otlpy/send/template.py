"""Pre-encoded requests that get fresh trace ids and timestamps per send, for a few microseconds.

A generated request (see :mod:`otlpy.send.generate`) carries placeholders: the first half of every
trace id and the high half of every clock-following timestamp. :class:`Template` encodes it once
(protobuf or OTLP/JSON) and cuts the bytes at the placeholders; :meth:`Template.render` joins the
pieces around this send's values. Joining costs about 0.2 us per span where building and encoding
a request costs about 100 us per span, which is what lets one core send more than a collector can
take.

The two per-send values:

- a trace-id prefix (8 random bytes): every trace in the request keeps its own second half, so
  ids are unique within a request and across sends;
- the clock: protobuf timestamps are ``high << 32 | offset`` and the high half is set to the
  current time's minus one (so every timestamp lies within the last ~8.6 s); JSON timestamps are
  decimal, so there the template keeps a 10-digit offset and the render writes the 9 digits in
  front of it (``now // 10**10 - 1``: timestamps within the last ~20 s).
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from typing import Any

import orjson

from otlpy.pdata import Signal
from otlpy.send.generate import Generated, Generator, Stamp
from otlpy.wire import encode_request_to_dict

__all__ = ["Template", "make_stamp", "make_template"]

_JSON_TIME_KEYS = frozenset(
    {"timeUnixNano", "startTimeUnixNano", "endTimeUnixNano", "observedTimeUnixNano"}
)
_ATTEMPTS = 5


class Template:
    """One encoded export request, cut where the per-send values go."""

    __slots__ = ("_pieces", "encoding", "items", "size")

    def __init__(self, pieces: list[list[bytes]], items: int, *, encoding: str) -> None:
        # pieces[i] are the bytes between the i-th and (i+1)-th trace-id prefix, themselves cut
        # at each timestamp's high half
        self._pieces = pieces
        self.items = items
        self.encoding = encoding
        # the rendered size: the pieces plus what each slot is filled with
        trace_width, time_width = (16, 9) if encoding == "json" else (8, 4)
        self.size = (
            sum(len(p) for part in pieces for p in part)
            + trace_width * self.trace_slots
            + time_width * self.time_slots
        )

    @property
    def trace_slots(self) -> int:
        return len(self._pieces) - 1

    @property
    def time_slots(self) -> int:
        return sum(len(part) - 1 for part in self._pieces)

    def render(self, trace_prefix: bytes, now_ns: int) -> bytes:
        """The request with ``trace_prefix`` (8 bytes) in its trace ids, timed just before now."""
        if self.encoding == "json":
            prefix = trace_prefix.hex().encode()
            clock = str(now_ns // 10**10 - 1).encode()
        else:
            prefix = trace_prefix
            clock = ((now_ns >> 32) - 1).to_bytes(4, "little")
        return prefix.join([clock.join(part) for part in self._pieces])


def make_stamp(rng: random.Random) -> Stamp:
    """Fresh placeholders: all-distinct bytes so that no match can overlap another."""
    while True:
        prefix = rng.randbytes(8)
        high = rng.randrange(1 << 24, 1 << 32)
        if len(set(prefix)) == 8 and len(set(high.to_bytes(4, "little"))) == 4:
            return Stamp(prefix, high)


def _cut(data: bytes, trace_marker: bytes, time_marker: bytes) -> list[list[bytes]]:
    return [part.split(time_marker) for part in data.split(trace_marker)]


def _proto_template(generated: Generated, stamp: Stamp) -> Template:
    data = bytes(generated.message.SerializeToString())
    pieces = _cut(data, stamp.trace_prefix, stamp.time_high.to_bytes(4, "little"))
    return Template(pieces, generated.items, encoding="protobuf")


def _stamp_json_times(node: Any, stamp: Stamp, time_token: str) -> Any:
    """Replace stamped timestamps in an OTLP/JSON tree by the token and the 10-digit offset."""
    if isinstance(node, list):
        return [_stamp_json_times(item, stamp, time_token) for item in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if (
            key in _JSON_TIME_KEYS
            and isinstance(value, str)
            and int(value) >> 32 == stamp.time_high
        ):
            out[key] = f"{time_token}{int(value) & 0xFFFFFFFF:010d}"
        else:
            out[key] = _stamp_json_times(value, stamp, time_token)
    return out


def _json_template(generated: Generated, stamp: Stamp) -> Template:
    tree = encode_request_to_dict(generated.message)  # ids already hex, as OTLP/JSON wants
    # '~' never appears in our JSON except where a user attribute puts it; the count check
    # in make_template catches that
    time_token = f"~{os.urandom(4).hex()}~"
    data = orjson.dumps(_stamp_json_times(tree, stamp, time_token))
    pieces = _cut(data, stamp.trace_prefix.hex().encode(), time_token.encode())
    return Template(pieces, generated.items, encoding="json")


_ENCODERS: dict[str, Callable[[Generated, Stamp], Template]] = {
    "protobuf": _proto_template,
    "json": _json_template,
}


def make_template(
    generator: Generator, signal: Signal, items: int, *, encoding: str = "protobuf"
) -> Template:
    """Generate and encode one request of ``items`` items, ready to render.

    A placeholder that happens to occur by chance elsewhere in the bytes would be overwritten
    on every send; the slot counts are checked and the request made again with new
    placeholders when they do not match (about once in ten thousand requests).
    """
    encode = _ENCODERS[encoding]
    for _ in range(_ATTEMPTS):
        stamp = make_stamp(generator.rng)
        generated = generator.request(signal, items, stamp)
        template = encode(generated, stamp)
        if (
            template.trace_slots == generated.trace_fields
            and template.time_slots == generated.time_fields
        ):
            return template
    raise ValueError(
        "cannot place the per-send placeholders in the generated request "
        "(an attribute value may contain them); try other --attributes"
    )
