"""Statements fused into one generated function must behave as when run one by one."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from otlpy.ottl import parse_statements
from otlpy.ottl.contexts.common import TransformContext
from otlpy.ottl.fusion import fuse, render, source_of, with_source
from otlpy.ottl.values import KeyIndex, PMap


def test_render_gives_each_use_its_own_names() -> None:
    first = render("x = {value}\n", {"value": 1})
    second = render("x = {value}\n", {"value": 2})
    assert first[0] != second[0]
    assert sorted(first[1].values()) == [1] and sorted(second[1].values()) == [2]


def test_fuse_runs_plain_and_generated_steps_in_order_and_reports_failures() -> None:
    span = Span()
    span.attributes.add(key="a").value.string_value = "1"
    seen: list[str] = []

    def plain(ctx: TransformContext, index: KeyIndex) -> None:
        seen.append(",".join(index.keys))

    def failing(ctx: TransformContext, index: KeyIndex) -> None:
        raise ValueError("boom")

    def generated(ctx: TransformContext, index: KeyIndex) -> None:
        raise AssertionError("the source runs, not the function")

    with_source(generated, render("kvs.add(key={key})\nkeys.append({key})\n", {"key": "b"}))
    assert source_of(generated) is not None and source_of(plain) is None
    run = fuse([(plain, "p1"), (failing, "f"), (generated, "g"), (plain, "p2")])
    errors: list[tuple[str, Any]] = []
    run(TransformContext(), KeyIndex(span.attributes), lambda text, exc: errors.append((text, exc)))
    assert seen == ["a", "a,b"]
    assert [kv.key for kv in span.attributes] == ["a", "b"]
    assert [(text, str(exc)) for text, exc in errors] == [("f", "boom")]


@pytest.mark.parametrize("kind", [Span.SPAN_KIND_SERVER, Span.SPAN_KIND_CLIENT])
def test_a_fused_where_on_kind_matches_the_unfused_one(kind: int) -> None:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    def request() -> ExportTraceServiceRequest:
        out = ExportTraceServiceRequest()
        span = out.resource_spans.add().scope_spans.add().spans.add(name="s", kind=kind)
        span.attributes.add(key="url").value.string_value = "a?token=x&b"
        span.attributes.add(key="big").value.string_value = "é" * 10
        span.attributes.add(key="n").value.int_value = 3
        return out

    statements = [
        'set(attributes["server"], true) where kind == SPAN_KIND_SERVER',
        'set(attributes["f"], 1.5) where kind != SPAN_KIND_SERVER',
        'replace_pattern(attributes["url"], "token=[^&]*", "token=***")',
        'replace_pattern(attributes["n"], "3", "4")',
        'delete_key(attributes, "absent")',
        "truncate_all(attributes, 5)",
        'truncate_all(attributes, 4, true, "~")',
    ]
    together = request()
    parse_statements(statements, "span").execute(together)
    apart = request()
    for statement in statements:
        parse_statements([statement], "span").execute(apart)
    assert together == apart
    got = PMap(together.resource_spans[0].scope_spans[0].spans[0].attributes).to_dict()
    assert got["url"] == "a?t~" and got["big"] == "éé" and got["n"] == 3
    assert ("server" in got) == (kind == Span.SPAN_KIND_SERVER)
