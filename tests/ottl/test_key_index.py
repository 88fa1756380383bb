"""The per-item key index must give the same results as finding keys one by one."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

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


# -- indexes read from bytes ------------------------------------------------------------------


@pytest.fixture
def from_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Read indexes from bytes even when the scanner runs as pure Python (as under coverage)."""
    monkeypatch.setattr(KeyIndex, "from_bytes", True)


def many() -> ExportTraceServiceRequest:
    """Spans with different attribute lists in two resources, some long, some not strings."""
    out = ExportTraceServiceRequest()
    for r in range(2):
        rs = out.resource_spans.add()
        rs.resource.attributes.add(key="svc").value.string_value = f"r{r}"
        ss = rs.scope_spans.add()
        if r:
            ss.spans.add(name="empty")  # no attributes at all
        for i in range(4):
            span = ss.spans.add(name="s", kind=i % 3)
            attrs = span.attributes
            attrs.add(key="a").value.string_value = "x" * (i * 3)
            if i % 2:
                attrs.add(key="b").value.int_value = i
            else:
                attrs.add(key="c").value.string_value = "c" * i
            attrs.add(key="long").value.string_value = "é" * (i * 2)
            attrs.add(key="tmp.x").value.bool_value = True
            # as many keys in every span but the empty one, and one key of its own
            attrs.add(key=f"k{r}{i}").value.string_value = "y" * (5 + r)
    return out


@pytest.mark.usefixtures("from_bytes")
@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(POOL), min_size=1, max_size=8), st.booleans())
def test_indexes_from_bytes_give_the_same_results(statements: list[str], guarded: bool) -> None:
    from otlpy.ottl import parse_conditions

    conditions = parse_conditions(['name == "s"'], "span") if guarded else None
    expected = many()
    KeyIndex.from_bytes = False  # the fixture puts it back
    parse_statements(statements, "span").execute(expected, conditions)
    KeyIndex.from_bytes = True
    # from the request's bytes
    from_raw = many()
    sequence = parse_statements(statements, "span")
    sequence.execute(from_raw, conditions, from_raw.SerializeToString())
    assert from_raw == expected
    # from each span's bytes (no request bytes at hand)
    per_span = many()
    parse_statements(statements, "span").execute(per_span, conditions)
    assert per_span == expected


@pytest.mark.usefixtures("from_bytes")
def test_bytes_of_another_request_are_not_used() -> None:
    statements = ['set(attributes["seen"], attributes["a"])', "truncate_all(attributes, 2)"]
    expected = many()
    parse_statements(statements, "span").execute(expected)
    other = many()
    del other.resource_spans[1]
    for raw in (other.SerializeToString(), b"\x0b"):  # fewer items; not protobuf at all
        out = many()
        parse_statements(statements, "span").execute(out, None, raw)
        assert out == expected


@pytest.mark.usefixtures("from_bytes")
def test_a_scanned_index_reads_wrappers_only_when_asked() -> None:
    span = many().resource_spans[0].scope_spans[0].spans[3]
    kvs = span.attributes
    index = KeyIndex.scanned(kvs, span, 9)
    assert index.keys == ["a", "b", "long", "tmp.x", "k03"]
    # lengths in bytes of strings ("é" is two), -1 for other values
    assert index.entries == [9, -1, 12, -1, 5]
    assert index.entry(2).key == "long" and index.entries[2] is not None
    assert type(index.entries[0]) is int  # untouched entries stay numbers
    view = PMap(kvs, index)
    view.put("a", "z" * 30)  # through the index: the entry is read first
    view.put("new", 1)
    assert view.remove("b")
    assert index.keys == ["a", "long", "tmp.x", "k03", "new"]
    assert [type(e) is int for e in index.entries] == [False, False, True, True, False]
    view_items = dict(view.items())  # every entry read, in order
    assert list(view_items) == ["a", "long", "tmp.x", "k03", "new"]
    assert all(type(e) is not int for e in index.entries)
    assert index.all_entries() is index.entries


@pytest.mark.usefixtures("from_bytes")
def test_truncate_reads_written_entries_and_long_ones_only() -> None:
    out = many()
    statements = [
        'set(attributes["a"], "0123456789")',  # written: must be read, though short when scanned
        'set(attributes["added"], "abcdefghij")',
        'delete_key(attributes, "tmp.x")',
        "truncate_all(attributes, 5)",
    ]
    parse_statements(statements, "span").execute(out, None, out.SerializeToString())
    span = out.resource_spans[0].scope_spans[0].spans[3]
    got = PMap(span.attributes).to_dict()
    # "é" * 6 is 12 bytes: cut at a character boundary
    assert got == {"a": "01234", "b": 3, "long": "éé", "k03": "yyyyy", "added": "abcde"}
    # "a" was scanned as at most 9 bytes (none for the first span): written, it is read again
    spans = [s for rs in out.resource_spans for s in rs.scope_spans[0].spans]
    assert [PMap(s.attributes).get("a") for s in spans] == ["01234"] * 9
    empty = out.resource_spans[1].scope_spans[0].spans[0]
    assert PMap(empty.attributes).to_dict() == {"a": "01234", "added": "abcde"}


def test_small_maps_and_pure_python_read_the_messages(monkeypatch: pytest.MonkeyPatch) -> None:
    span = many().resource_spans[0].scope_spans[0].spans[0]
    monkeypatch.setattr(KeyIndex, "from_bytes", True)
    monkeypatch.setattr(KeyIndex, "scan_min", 10)
    assert all(type(e) is not int for e in KeyIndex.scanned(span.attributes, span, 9).entries)
    monkeypatch.setattr(KeyIndex, "scan_min", 0)
    assert KeyIndex.scanned(span.attributes, span, 9).entries == [0, 0, 0, -1, 5]
    # bytes not holding the map (another span's) fall back to the messages
    broken = Span(name="s")
    broken.attributes.add(key="k")
    index = KeyIndex.scanned(broken.attributes, Span(name="x"), 9)
    assert index.keys == ["k"] and index.entry(0).key == "k"
    monkeypatch.setattr(KeyIndex, "from_bytes", False)
    assert all(type(e) is not int for e in KeyIndex.scanned(span.attributes, span, 9).entries)


@pytest.mark.usefixtures("from_bytes")
def test_log_records_read_their_index_from_bytes() -> None:
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

    def logs() -> ExportLogsServiceRequest:
        out = ExportLogsServiceRequest()
        records = out.resource_logs.add().scope_logs.add().log_records
        for i in range(3):
            attrs = records.add(body={"string_value": "b"}).attributes
            for key in ("a", "b", "c", "d"):
                attrs.add(key=key).value.string_value = key * (i + 3)
        return out

    statements = ['delete_key(attributes, "b")', "truncate_all(attributes, 4)"]
    out = logs()
    parse_statements(statements, "log").execute(out, None, out.SerializeToString())
    record = out.resource_logs[0].scope_logs[0].log_records[2]
    assert PMap(record.attributes).to_dict() == {"a": "aaaa", "c": "cccc", "d": "dddd"}
    apart = logs()
    for statement in statements:
        parse_statements([statement], "log").execute(apart)
    assert out == apart


def test_bytes_that_do_not_scan_fall_back_to_the_messages(monkeypatch: pytest.MonkeyPatch) -> None:
    from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

    monkeypatch.setattr(KeyIndex, "from_bytes", True)
    monkeypatch.setattr(KeyIndex, "scan_min", 0)
    # field 9 of a LogRecord is its trace id: as a pair, its key runs past its end
    owner = LogRecord(trace_id=b"\x0a\x05ab")
    owner.attributes.add(key="k")
    index = KeyIndex.scanned(owner.attributes, owner, 9)
    assert index.keys == ["k"] and index.entries[0].key == "k"


@pytest.mark.usefixtures("from_bytes")
def test_truncate_as_a_map_op_reads_only_long_entries_of_a_scanned_index() -> None:
    from otlpy.ottl.contexts.common import TransformContext, map_op_of

    statement = parse_statements(["truncate_all(attributes, 4)"], "span").statements[0][0]
    found = map_op_of(statement)
    assert found is not None
    span = many().resource_spans[0].scope_spans[0].spans[3]
    index = KeyIndex.scanned(span.attributes, span, 9)
    ctx = TransformContext()
    ctx.span = span
    found[2](ctx, index)
    # "c"/"b" and "tmp.x" were within the limit or not strings: never read
    assert [type(e) is int for e in index.entries] == [False, True, False, True, False]
    assert PMap(span.attributes).to_dict() == {
        "a": "xxxx",
        "b": 3,
        "long": "éé",
        "tmp.x": True,
        "k03": "yyyy",
    }


def test_put_empty_without_an_index_retires_indexes() -> None:
    kvs = request().resource_spans[0].scope_spans[0].spans[0].attributes
    index = KeyIndex(kvs)
    value = PMap(kvs).put_empty("a")
    assert value.WhichOneof("value") is None and not index.valid()
    fresh = KeyIndex(kvs)
    assert PMap(kvs, fresh).put_empty("b").WhichOneof("value") is None and fresh.valid()
    assert PMap(kvs, fresh).put_empty("absent") is not None and not fresh.valid()
    assert PMap(kvs).keys()[-1] == "absent"
