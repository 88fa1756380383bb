"""Synthetic OTLP traces for the store benchmark, generated fast by patching serialized spans.

Each trace has eight spans across five services; every span has ten attributes (strings,
ints, a bool, a double), one in four has an event. A request holds 512 spans of one service,
as an SDK exporter would send them. Spans are generated in time order, as they arrive.
"""

from __future__ import annotations

import random
import struct

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import Span

SERVICES = ["frontend", "cart", "checkout", "payment", "inventory"]
# (service, operation, kind, parent index within the trace)
TRACE_SHAPE = [
    ("frontend", "GET /api/checkout", Span.SPAN_KIND_SERVER, None),
    ("frontend", "POST checkout", Span.SPAN_KIND_CLIENT, 0),
    ("checkout", "PlaceOrder", Span.SPAN_KIND_SERVER, 1),
    ("checkout", "GetCart", Span.SPAN_KIND_CLIENT, 2),
    ("cart", "GetCart", Span.SPAN_KIND_SERVER, 3),
    ("checkout", "Charge", Span.SPAN_KIND_CLIENT, 2),
    ("payment", "Charge", Span.SPAN_KIND_SERVER, 5),
    ("inventory", "Reserve", Span.SPAN_KIND_INTERNAL, 2),
]
TRACE_ID_MARK = b"\xa1" * 16
SPAN_ID_MARK = b"\xb2" * 8
PARENT_MARK = b"\xc3" * 8
START_MARK = 0x0D0D0D0D0D0D0D0D
END_MARK = 0x0E0E0E0E0E0E0E0E
USER_MARK = "u#####"


def _kv(key: str, value: object) -> KeyValue:
    if isinstance(value, bool):
        return KeyValue(key=key, value=AnyValue(bool_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    if isinstance(value, float):
        return KeyValue(key=key, value=AnyValue(double_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=str(value)))


class _Template:
    """A serialized span with marks where ids, times and the user id go."""

    def __init__(self, service: str, name: str, kind: int, root: bool, event: bool) -> None:
        span = Span(
            trace_id=TRACE_ID_MARK,
            span_id=SPAN_ID_MARK,
            name=name,
            kind=kind,
            start_time_unix_nano=START_MARK,
            end_time_unix_nano=END_MARK,
        )
        if not root:
            span.parent_span_id = PARENT_MARK
        span.attributes.extend(
            [
                _kv("http.request.method", "POST"),
                _kv("http.response.status_code", 200),
                _kv("url.path", f"/api/{service}/{name.lower().replace(' ', '_')}"),
                _kv("user.id", USER_MARK),
                _kv("app.cache_hit", False),
                _kv("app.ratio", 0.25),
                _kv("server.address", f"{service}.svc.local"),
                _kv("server.port", 8080),
                _kv("network.protocol.version", "1.1"),
                _kv("app.region", "eu-west-1"),
            ]
        )
        if event:
            ev = span.events.add()
            ev.name = "cache.lookup"
            ev.time_unix_nano = START_MARK
            ev.attributes.append(_kv("cache.key", "cart:42"))
        span.status.code = 1
        raw = span.SerializeToString()
        self.parts: list[bytes] = []
        self.slots: list[str] = []
        marks = [
            (TRACE_ID_MARK, "trace"),
            (SPAN_ID_MARK, "span"),
            (PARENT_MARK, "parent"),
            (struct.pack("<Q", START_MARK), "start"),
            (struct.pack("<Q", END_MARK), "end"),
            (USER_MARK.encode(), "user"),
        ]
        found = []
        for mark, slot in marks:
            pos = raw.find(mark)
            while pos >= 0:
                found.append((pos, len(mark), slot))
                pos = raw.find(mark, pos + len(mark))
        found.sort()
        last = 0
        for pos, size, slot in found:
            self.parts.append(raw[last:pos])
            self.slots.append(slot)
            last = pos + size
        self.parts.append(raw[last:])

    def render(self, values: dict[str, bytes]) -> bytes:
        out = [self.parts[0]]
        for slot, part in zip(self.slots, self.parts[1:], strict=True):
            out.append(values[slot])
            out.append(part)
        return b"".join(out)


def _varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _resource_prefix(service: str) -> tuple[bytes, bytes]:
    resource = Resource(
        attributes=[
            _kv("service.name", service),
            _kv("service.version", "1.4.2"),
            _kv("host.name", f"{service}-7d9f"),
            _kv("deployment.environment", "bench"),
        ]
    )
    scope = InstrumentationScope(name="otlpy.bench", version="0.1")
    return _field(1, resource.SerializeToString()), _field(1, scope.SerializeToString())


def generate(
    n_spans: int, *, start_ns: int, end_ns: int, seed: int = 1, spans_per_request: int = 512
) -> list[bytes]:
    """Serialized ``ExportTraceServiceRequest`` messages holding ``n_spans`` spans (rounded
    up to whole traces) whose start times rise evenly from ``start_ns`` to ``end_ns``."""
    rng = random.Random(seed)
    templates = [
        [_Template(svc, name, kind, parent is None, event) for event in (False, True)]
        for svc, name, kind, parent in TRACE_SHAPE
    ]
    prefixes = {svc: _resource_prefix(svc) for svc in SERVICES}
    pending: dict[str, list[bytes]] = {svc: [] for svc in SERVICES}
    requests: list[bytes] = []
    n_traces = -(-n_spans // len(TRACE_SHAPE))
    step = (end_ns - start_ns) // max(n_traces, 1)
    pack = struct.Struct("<Q").pack

    def emit(service: str) -> None:
        resource, scope = prefixes[service]
        scope_spans = _field(2, scope + b"".join(pending[service]))
        requests.append(_field(1, resource + scope_spans))
        pending[service].clear()

    for t in range(n_traces):
        trace_id = rng.randbytes(16)
        span_ids = [rng.randbytes(8) for _ in TRACE_SHAPE]
        root_start = start_ns + t * step
        user = f"u{rng.randrange(100_000):05d}".encode()
        for i, (svc, _name, _kind, parent) in enumerate(TRACE_SHAPE):
            start = root_start + i * 1_000_000
            duration = int(rng.lognormvariate(15, 1.2)) if i else 200_000_000
            values = {
                "trace": trace_id,
                "span": span_ids[i],
                "parent": span_ids[parent] if parent is not None else b"",
                "start": pack(start),
                "end": pack(start + duration),
                "user": user,
            }
            span = templates[i][rng.random() < 0.25].render(values)
            pending[svc].append(_field(2, span))
            if len(pending[svc]) >= spans_per_request:
                emit(svc)
    for svc in SERVICES:
        if pending[svc]:
            emit(svc)
    return requests
