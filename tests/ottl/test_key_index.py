"""The per-item key index must give the same results as finding keys one by one."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from otlpy.ottl import OttlRuntimeError, PMap, parse_statements
from otlpy.ottl.values import KeyIndex, keys_changed


def request() -> ExportTraceServiceRequest:
    out = ExportTraceServiceRequest()
    span = out.resource_spans.add().scope_spans.add().spans.add(name="s")
    for key, value in (("a", "1"), ("b", "2"), ("tmp.x", "3"), ("long", "y" * 40)):
        span.attributes.add(key=key).value.string_value = value
    out.resource_spans[0].resource.attributes.add(key="svc").value.string_value = "r"
    return out


SEQUENCES = [
    ['set(attributes["c"], "3")', 'delete_key(attributes, "a")', 'set(attributes["a"], "new")'],
    [
        'set(attributes, {"z": 1})',
        'set(attributes["b"], attributes["z"])',
        "truncate_all(attributes, 1)",
    ],
    ['delete_matching_keys(attributes, "^tmp")', 'set(attributes["tmp.x"], "back")'],
    [
        'keep_keys(attributes, ["b"])',
        'set(attributes["a"], attributes["b"])',
        'delete_key(attributes, "b")',
    ],
    [
        'replace_all_patterns(attributes, "key", "^a$", "renamed")',
        'set(attributes["x"], attributes["renamed"])',
    ],
    [
        "flatten(attributes)",
        'set(attributes["m"], {"k": "v"})',
        'set(attributes["m"]["k2"], "w")',
        "flatten(attributes)",
    ],
    [
        'merge_maps(attributes, {"a": "m", "q": "n"}, "upsert")',
        'set(attributes["q2"], attributes["q"])',
    ],
    ['limit(attributes, 2, ["long"])', 'set(attributes["after"], Len(attributes))'],
    [
        'set(resource.attributes["svc2"], resource.attributes["svc"])',
        'delete_key(resource.attributes, "svc")',
        'set(attributes["svc"], resource.attributes["svc2"])',
    ],
    ["set(span, span)", 'set(attributes["after_copy"], attributes["a"])'],
    [
        'set(attributes["n"], 1)',
        'set(attributes["n"], attributes["n"] + 1)',
        'delete_key(attributes, "n")',
        'set(attributes["n"], 5)',
    ],
    [
        'replace_pattern(attributes["long"], "y+", "z")',
        "truncate_all(attributes, 1)",
        'set(attributes["k"], attributes["long"])',
    ],
]


@pytest.mark.parametrize("statements", SEQUENCES)
def test_together_equals_one_at_a_time(statements: list[str]) -> None:
    together = request()
    parse_statements(statements, "span").execute(together)
    apart = request()
    for statement in statements:  # a new walk per statement: no index survives between them
        parse_statements([statement], "span").execute(apart)
    assert together == apart


def test_the_cache_map_is_indexed_too() -> None:
    out = request()
    parse_statements(
        [
            'set(cache["k"], "v")',
            'set(attributes["from_cache"], cache["k"])',
            'delete_key(cache, "k")',
            'set(attributes["gone"], cache["k"])',
        ],
        "span",
    ).execute(out)
    got = PMap(out.resource_spans[0].scope_spans[0].spans[0].attributes).to_dict()
    assert got["from_cache"] == "v" and "gone" not in got


def test_a_stale_index_is_never_used() -> None:
    kvs = request().resource_spans[0].scope_spans[0].spans[0].attributes
    index = KeyIndex(kvs)
    view = PMap(kvs, index)
    assert view.get("a") == "1" and "b" in view and view.keys() == ["a", "b", "tmp.x", "long"]
    PMap(kvs).put("new", 1)  # an unindexed change: retires every index
    assert not index.valid()
    assert view.get("new") == 1 and view.remove("new") and not view.remove("new")
    fresh = PMap(kvs, KeyIndex(kvs))
    fresh.put("b", "changed")
    fresh.put("added", True)
    assert fresh.get_any("added").bool_value is True
    assert fresh.remove("added") and not fresh.remove("absent")
    assert dict(fresh.items())["b"] == "changed"
    keys_changed()
    assert fresh.get("b") == "changed"  # falls back to scanning


POOL = [
    'set(attributes["a"], "x")',
    'set(attributes["b"], attributes["a"])',
    'set(attributes["c"], Concat([attributes["a"], attributes["b"]], "-"))',
    'delete_key(attributes, "a")',
    'delete_key(attributes, "long")',
    'delete_matching_keys(attributes, "^t")',
    'keep_keys(attributes, ["a", "b", "long"])',
    'merge_maps(attributes, {"a": "m", "n": 1}, "insert")',
    "limit(attributes, 2, [])",
    'replace_all_patterns(attributes, "key", "^b$", "bb")',
    'replace_pattern(attributes["long"], "y", "z")',
    "truncate_all(attributes, 3)",
    'set(attributes, {"fresh": true})',
    'set(attributes["m"]["k"], "v")',
    'set(attributes["d"], Len(attributes))',
    "flatten(attributes)",
    'set(attributes["w"], true) where kind == SPAN_KIND_UNSPECIFIED',
    'delete_key(attributes, "a") where kind == SPAN_KIND_SERVER',
    'delete_key(attributes, "b") where attributes["a"] == "x"',
    'truncate_all(attributes, 2) where name == "s"',
    'replace_pattern(attributes["a"], "x", "y") where attributes["b"] != nil',
]


@settings(max_examples=80, deadline=None)
@given(st.lists(st.sampled_from(POOL), min_size=1, max_size=8))
def test_any_sequence_together_equals_one_at_a_time(statements: list[str]) -> None:
    from otlpy.ottl.sequence import iter_contexts

    together = request()
    parse_statements(statements, "span").execute(together)
    apart = request()
    for statement in statements:
        parse_statements([statement], "span").execute(apart)
    assert together == apart
    # and item by item, without the generated walk over the request
    by_item = request()
    sequence = parse_statements(statements, "span")
    for ctx in iter_contexts(by_item, "span"):
        sequence.run(ctx)
    assert together == by_item


def test_a_failing_statement_in_a_group_leaves_the_others_running() -> None:
    out = request()
    statements = [
        'set(attributes["first"], "1")',
        'set(attributes["bad"], "2") where Substring(name, 5, 10) == "x"',
        'delete_key(attributes, "a")',
        'replace_pattern(attributes["b"], "2", "two")',
    ]
    sequence = parse_statements(statements, "span", error_mode="ignore")
    assert sequence.execute(out) == 1
    got = PMap(out.resource_spans[0].scope_spans[0].spans[0].attributes).to_dict()
    assert got["first"] == "1" and got["b"] == "two" and "a" not in got and "bad" not in got
    with pytest.raises(OttlRuntimeError, match="Substring"):
        parse_statements(statements, "span").execute(request())
