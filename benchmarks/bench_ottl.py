"""OTTL: the transform processor's typical statements on 512-span batches, and compile speed.

Runs, in one process:

1. five typical span statements (set an attribute, delete a key, replace_pattern, a where clause
   on span kind, truncate_all) compiled once and executed on decoded 512-span
   ``ExportTraceServiceRequest`` messages (10 attributes and 1 event per span), reported as
   spans per second on one core. Decoding the batch is timed separately and subtracted, since
   the processor receives the decoded message; run once on the message alone and once also
   given the request's bytes, as the transform processor runs it on a batch it received (the
   attribute keys are then scanned from the bytes, and that scan is in the time);
2. the same statements written as a plain Python function over the same messages (the peer:
   what hand-written code costs, a floor for any interpreter of the language);
3. parsing and compiling every statement of the conformance corpus, in statements per second.

Usage: ``.venv/bin/python benchmarks/bench_ottl.py [--rounds N]``
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from otlpy.ottl import parse_statements

STATEMENTS = [
    'set(attributes["deployment.environment"], "production")',
    'delete_key(attributes, "http.request.header.authorization")',
    'replace_pattern(attributes["http.url"], "token=[^&]*", "token=***")',
    'set(attributes["span.server"], true) where kind == SPAN_KIND_SERVER',
    "truncate_all(attributes, 64)",
]


def make_batch(spans: int = 512) -> bytes:
    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    rs.resource.attributes.add(key="service.name").value.string_value = "checkout"
    ss = rs.scope_spans.add()
    ss.scope.name = "bench"
    for i in range(spans):
        span = ss.spans.add()
        span.trace_id = i.to_bytes(16, "big")
        span.span_id = (i + 1).to_bytes(8, "big")
        span.name = f"GET /api/items/{i}"
        span.kind = Span.SPAN_KIND_SERVER if i % 2 else Span.SPAN_KIND_CLIENT
        span.start_time_unix_nano = 1_700_000_000_000_000_000 + i
        span.end_time_unix_nano = span.start_time_unix_nano + 1_000_000
        attrs = span.attributes
        attrs.add(key="http.method").value.string_value = "GET"
        attrs.add(
            key="http.url"
        ).value.string_value = f"https://shop.example.com/api/items/{i}?token=secret{i}&page=2"
        attrs.add(key="http.status_code").value.int_value = 200
        attrs.add(key="http.request.header.authorization").value.string_value = "Bearer abc"
        attrs.add(key="net.peer.name").value.string_value = "shop.example.com"
        attrs.add(key="user_agent.original").value.string_value = "x" * 120
        attrs.add(key="db.statement").value.string_value = "SELECT * FROM items WHERE id = ?"
        attrs.add(key="retry").value.bool_value = False
        attrs.add(key="size").value.double_value = 12.5
        attrs.add(key="thread.name").value.string_value = "worker-1"
        event = span.events.add()
        event.name = "cache miss"
        event.time_unix_nano = span.start_time_unix_nano + 10
    return request.SerializeToString()


_TOKEN = re.compile(r"token=[^&]*")


def hand_written(request: Any) -> None:
    """The five statements as direct Python over the protobuf messages."""
    for rs in request.resource_spans:
        for ss in rs.scope_spans:
            for span in ss.spans:
                attrs = span.attributes
                for kv in attrs:
                    if kv.key == "deployment.environment":
                        kv.value.string_value = "production"
                        break
                else:
                    attrs.add(key="deployment.environment").value.string_value = "production"
                for i, kv in enumerate(attrs):
                    if kv.key == "http.request.header.authorization":
                        del attrs[i]
                        break
                for kv in attrs:
                    if kv.key == "http.url" and kv.value.WhichOneof("value") == "string_value":
                        url = kv.value.string_value
                        if _TOKEN.search(url):
                            kv.value.string_value = _TOKEN.sub("token=***", url)
                        break
                if span.kind == Span.SPAN_KIND_SERVER:
                    for kv in attrs:
                        if kv.key == "span.server":
                            kv.value.bool_value = True
                            break
                    else:
                        attrs.add(key="span.server").value.bool_value = True
                for kv in attrs:
                    if kv.value.WhichOneof("value") == "string_value":
                        text = kv.value.string_value
                        if len(text.encode()) > 64:
                            kv.value.string_value = text.encode()[:64].decode(errors="ignore")


def bench_execute(raw: bytes, rounds: int) -> tuple[float, float, float, float, float]:
    sequence = parse_statements(STATEMENTS, "span", error_mode="ignore")
    spans = 512
    decode = run_ottl = run_bytes = run_edit = run_hand = 0.0
    for _ in range(rounds):
        start = time.perf_counter()
        request = ExportTraceServiceRequest.FromString(raw)
        decode += time.perf_counter() - start
        start = time.perf_counter()
        sequence.execute(request)
        run_ottl += time.perf_counter() - start
        request = ExportTraceServiceRequest.FromString(raw)
        start = time.perf_counter()
        sequence.execute(request, None, raw)
        run_bytes += time.perf_counter() - start
        # on the bytes alone (no condition reads the request, so it is not needed)
        start = time.perf_counter()
        sequence.execute_bytes(None, raw)
        run_edit += time.perf_counter() - start
        request = ExportTraceServiceRequest.FromString(raw)
        start = time.perf_counter()
        hand_written(request)
        run_hand += time.perf_counter() - start
    return (
        spans * rounds / run_ottl,
        spans * rounds / run_bytes,
        spans * rounds / run_edit,
        spans * rounds / run_hand,
        decode / rounds,
    )


def corpus_statements() -> list[str]:
    path = Path("/work/shared/ottl-conformance/cases.json")
    if not path.is_file():
        path = Path(__file__).resolve().parents[2] / "shared" / "ottl-conformance" / "cases.json"
    out: list[str] = []
    for case in json.loads(path.read_text()):
        if case["kind"] == "statement":
            out.append(case["statement"])
        elif case["kind"] == "statements":
            out.extend(case["statements"])
    return out


def bench_compile(rounds: int) -> tuple[int, float, float, int]:
    """Corpus statements, parsed and compiled per second, planned as byte edits per second
    (``byte_plan``, done on first use), and how many of them can run on bytes."""
    statements = corpus_statements()
    start = time.perf_counter()
    count = 0
    sequences = []
    for _ in range(rounds):
        sequences = [parse_statements(text, "log") for text in statements]
        count += len(statements)
    compile_rate = count / (time.perf_counter() - start)
    start = time.perf_counter()
    planned = sum(sequence.byte_plan is not None for sequence in sequences)
    plan_rate = len(sequences) / (time.perf_counter() - start)
    return len(statements), compile_rate, plan_rate, planned


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()
    raw = make_batch()
    ottl_rate, bytes_rate, edit_rate, hand_rate, decode = bench_execute(raw, args.rounds)
    corpus, compile_rate, plan_rate, planned = bench_compile(max(1, args.rounds // 4))
    print(
        f"5 statements, 512-span batches, {args.rounds} rounds "
        f"(decode {decode * 1e3:.2f} ms/batch, not included)"
    )
    print(f"  otlpy.ottl      {ottl_rate:>10,.0f} spans/s")
    print(f"  ... given bytes {bytes_rate:>10,.0f} spans/s  (keys read from the bytes)")
    print(
        f"  on the bytes    {edit_rate:>10,.0f} spans/s  (execute_bytes: the transform processor)"
    )
    print(f"  hand-written    {hand_rate:>10,.0f} spans/s  (ottl at {ottl_rate / hand_rate:.0%})")
    print(f"parse + compile, {corpus} corpus statements: {compile_rate:,.0f} statements/s")
    print(f"plan on bytes: {plan_rate:,.0f} statements/s ({planned} of {corpus} qualify)")


if __name__ == "__main__":
    main()
