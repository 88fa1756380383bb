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


STATEMENTS = [
    'set(attributes["env"], "prod")',
    'set(attributes["server"], true) where kind == SPAN_KIND_SERVER',
    'delete_key(attributes, "secret")',
    'replace_pattern(attributes["url"], "token=[^&]*", "token=***")',
    'replace_pattern(attributes["n"], "3", "4")',
    'replace_pattern(attributes["absent"], "3", "4")',
    "truncate_all(attributes, 6)",
]


def spans_request() -> Any:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    out = ExportTraceServiceRequest()
    spans = out.resource_spans.add().scope_spans.add().spans
    for kind in (Span.SPAN_KIND_SERVER, Span.SPAN_KIND_CLIENT):
        span = spans.add(name="s", kind=kind)
        span.attributes.add(key="url").value.string_value = "a?token=x&b"
        span.attributes.add(key="secret").value.string_value = "s"
        span.attributes.add(key="big").value.string_value = "é" * 10
        span.attributes.add(key="n").value.int_value = 3
        span.attributes.add(key="empty").value.string_value = ""
    return out


def test_the_python_ops_do_what_their_generated_source_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import otlpy.ottl.sequence as sequence_module

    generated = spans_request()
    parse_statements(STATEMENTS, "span").execute(generated)

    real_source = sequence_module.group_source

    def source_without_sources(ops: Any) -> Any:
        # wrappers carry no source, so the generated function calls each op's Python
        wrapped = [(lambda ctx, index, op=op: op(ctx, index), text) for op, text in ops]
        return real_source(wrapped)

    monkeypatch.setattr(sequence_module, "group_source", source_without_sources)
    called = spans_request()
    parse_statements(STATEMENTS, "span").execute(called)
    assert called == generated
    spans = generated.resource_spans[0].scope_spans[0].spans
    first = PMap(spans[0].attributes).to_dict()
    assert first == {
        "url": "a?toke",
        "big": "ééé",
        "n": 3,
        "empty": "",
        "env": "prod",
        "server": True,
    }
    assert "server" not in PMap(spans[1].attributes).to_dict()


def test_grouped_statements_under_group_conditions_and_run() -> None:
    from otlpy.ottl import parse_conditions
    from otlpy.ottl.sequence import iter_contexts

    sequence = parse_statements(STATEMENTS, "span")
    guarded = spans_request()
    sequence.execute(guarded, parse_conditions(["kind == SPAN_KIND_CLIENT"], "span"))
    spans = guarded.resource_spans[0].scope_spans[0].spans
    assert "env" not in PMap(spans[0].attributes).to_dict()
    assert PMap(spans[1].attributes).to_dict()["env"] == "prod"

    one_by_one = spans_request()
    for ctx in iter_contexts(one_by_one, "span"):
        sequence.run(ctx)
    whole = spans_request()
    sequence.execute(whole)
    assert one_by_one == whole


def one_by_one(statements: list[str], request: Any, context: str = "span") -> Any:
    """``request`` after running ``statements`` item by item (no generated walk)."""
    from otlpy.ottl.sequence import iter_contexts

    sequence = parse_statements(statements, context, error_mode="ignore")
    for ctx in iter_contexts(request, context):
        sequence.run(ctx)
    return request


MIXED = [
    # a plain statement touching the map first: the group below finds its index made
    'set(attributes["copy"], attributes["url"])',
    'set(attributes["env"], "prod")',
    'delete_key(attributes, "secret")',
    'set(name, "renamed") where attributes["env"] == "prod"',
    'replace_pattern(attributes["copy"], "token=[^&]*", "t")',
    "truncate_all(attributes, 4)",
    'set(attributes["missing"], attributes["absent"])',
    'limit(attributes, 3, ["env"])',
    'set(attributes["after"], Len(attributes))',
]


@pytest.mark.parametrize("count", [1, 2, len(MIXED)])
def test_the_generated_walk_does_what_running_each_item_does(count: int) -> None:
    statements = MIXED[:count]
    walked = spans_request()
    parse_statements(statements, "span", error_mode="ignore").execute(walked)
    assert walked == one_by_one(statements, spans_request())
    assert walked != spans_request()


def test_the_generated_walk_of_logs_does_what_running_each_item_does() -> None:
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

    def logs() -> Any:
        out = ExportLogsServiceRequest()
        for _ in range(2):
            records = out.resource_logs.add().scope_logs.add().log_records
            for text in ("a?token=x", "b" * 12):
                record = records.add(severity_text="INFO")
                record.body.string_value = text
                record.attributes.add(key="url").value.string_value = text
        return out

    statements = [
        'set(attributes["env"], "prod")',
        'replace_pattern(attributes["url"], "token=[^&]*", "t")',
        "truncate_all(attributes, 5)",
        'set(severity_text, "WARN") where attributes["env"] == "prod"',
    ]
    walked = logs()
    parse_statements(statements, "log").execute(walked)
    assert walked == one_by_one(statements, logs(), "log")
    record = walked.resource_logs[1].scope_logs[0].log_records[1]
    assert PMap(record.attributes).to_dict() == {"url": "bbbbb", "env": "prod"}
    assert record.severity_text == "WARN"


def test_failures_in_the_generated_walk_are_counted_or_raised() -> None:
    from otlpy.ottl import OttlRuntimeError

    failing = [
        'set(attributes["x"], attributes["absent"] + 1)',  # a plain statement
        'set(attributes["env"], "prod")',
        'set(attributes["server"], true) where attributes["absent"] * 2 == 1',  # in a group
    ]
    request = spans_request()
    failures = parse_statements(failing, "span", error_mode="ignore").execute(request)
    assert failures == 2 * 2  # two items
    assert PMap(request.resource_spans[0].scope_spans[0].spans[1].attributes).get("env") == "prod"
    with pytest.raises(OttlRuntimeError, match=r"\+ 1"):
        parse_statements(failing, "span").execute(spans_request())
    with pytest.raises(OttlRuntimeError, match="where"):
        parse_statements(failing[1:], "span").execute(spans_request())


def test_a_walk_for_another_signal_is_refused() -> None:
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

    with pytest.raises(ValueError, match="does not apply to logs"):
        parse_statements(['set(attributes["a"], 1)'], "span").execute(ExportLogsServiceRequest())


def test_contexts_without_a_generated_walk_run_groups_and_conditions_item_by_item() -> None:
    from otlpy.ottl import parse_conditions

    statements = [
        'set(attributes["env"], "prod")',
        'delete_key(attributes, "secret")',
        "truncate_all(attributes, 3)",
    ]

    def resources() -> Any:
        out = spans_request()
        attributes = out.resource_spans[0].resource.attributes
        attributes.add(key="service.name").value.string_value = "checkout"
        attributes.add(key="secret").value.string_value = "s"
        return out

    walked = resources()
    sequence = parse_statements(statements, "resource")
    sequence.execute(walked)
    assert walked == one_by_one(statements, resources(), "resource")
    got = PMap(walked.resource_spans[0].resource.attributes).to_dict()
    assert got == {"service.name": "che", "env": "pro"}

    guarded = resources()
    sequence.execute(guarded, parse_conditions(['attributes["absent"] != nil'], "resource"))
    assert guarded == resources()
    matching = resources()
    sequence.execute(matching, parse_conditions(['attributes["secret"] != nil'], "resource"))
    assert matching == walked
    failing = ['set(attributes["x"], attributes["absent"] + 1)', 'set(attributes["env"], "p")']
    assert parse_statements(failing, "resource", error_mode="ignore").execute(resources()) == 1
    with pytest.raises(ValueError, match="cannot guard"):
        sequence.execute(resources(), parse_conditions(['name == "x"'], "span"))


def test_an_index_not_made_by_a_map_path_has_no_inline_source() -> None:
    from otlpy.ottl.contexts.common import index_source

    assert index_source(lambda ctx: KeyIndex(Span().attributes)) is None
