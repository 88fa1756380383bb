"""The byte editor of item attributes: each op, its guards, and the bytes it refuses."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from wire_strategies import encode_tag, encode_varint

from otlpy.wire import protobuf_edit as pe
from otlpy.wire.protobuf_edit import Op, any_value, edit_items

SPANS = [1, 2, 2, 9]
SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def request(*spans: Span) -> ExportTraceServiceRequest:
    out = ExportTraceServiceRequest()
    out.resource_spans.add().scope_spans.add().spans.extend(spans)
    return out


def span(*pairs: tuple[str, Any], **fields: Any) -> Span:
    item = Span(name="s", **fields)
    for key, value in pairs:
        kv = item.attributes.add(key=key)
        if value is not None:
            kv.value.MergeFromString(any_value(value))
    return item


def edit(
    req: Any,
    *ops: Op,
    guards: list[list[bool] | None] | None = None,
    values: list[list[bytes | None] | None] | None = None,
    mask: list[bool] | None = None,
) -> list[list[tuple[str, Any]]]:
    """The attributes of every span after the ops, as (key, value) pairs."""
    raw = req.SerializeToString()
    out, items = edit_items(
        raw,
        SPANS,
        list(ops),
        mask,
        guards if guards is not None else [None] * len(ops),
        values if values is not None else [None] * len(ops),
    )
    edited = ExportTraceServiceRequest.FromString(out)
    spans = [s for rs in edited.resource_spans for ss in rs.scope_spans for s in ss.spans]
    assert items == len(spans)
    return [[(kv.key, _plain(kv.value)) for kv in s.attributes] for s in spans]


def _plain(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    return None if kind is None else getattr(value, kind)


def test_set_replaces_the_first_entry_in_place_and_appends_a_new_key() -> None:
    req = request(span(("a", "x"), ("b", 1), ("a", "y")), span())
    got = edit(
        req,
        Op(pe.SET, key="a", value=any_value(7)),
        Op(pe.SET, key="c", value=any_value("new")),
    )
    assert got == [[("a", 7), ("b", 1), ("a", "y"), ("c", "new")], [("a", 7), ("c", "new")]]


def test_delete_removes_the_first_entry_only() -> None:
    req = request(span(("a", "x"), ("b", 1), ("a", "y")))
    assert edit(req, Op(pe.DELETE, key="a")) == [[("b", 1), ("a", "y")]]
    assert edit(req, Op(pe.DELETE, key="zz")) == [[("a", "x"), ("b", 1), ("a", "y")]]


def test_keep_and_matching_ops() -> None:
    req = request(span(("alpha", 1), ("beta", 2), ("gamma", 3), ("alpha", 4)))
    assert edit(req, Op(pe.KEEP_KEYS, keys=frozenset({b"alpha"}))) == [[("alpha", 1), ("alpha", 4)]]
    starts_with_b = Op(pe.DELETE_MATCHING, test=lambda k: k.startswith("b"))
    assert edit(req, starts_with_b) == [[("alpha", 1), ("gamma", 3), ("alpha", 4)]]
    keep_g = Op(pe.KEEP_MATCHING, test=lambda k: "g" in k)
    assert edit(req, keep_g) == [[("gamma", 3)]]


def test_rewrites_touch_string_values_only() -> None:
    req = request(span(("a", "hello"), ("b", 5), ("c", "world"), ("a", "again")))

    def upper(text: str) -> str | None:
        return text.upper() if "o" in text else None

    assert edit(req, Op(pe.REPLACE, key="a", rewrite=upper)) == [
        [("a", "HELLO"), ("b", 5), ("c", "world"), ("a", "again")]
    ]
    assert edit(req, Op(pe.REPLACE, key="b", rewrite=upper)) == [
        [("a", "hello"), ("b", 5), ("c", "world"), ("a", "again")]
    ]
    assert edit(req, Op(pe.REPLACE_VALUES, rewrite=upper)) == [
        [("a", "HELLO"), ("b", 5), ("c", "WORLD"), ("a", "again")]
    ]


@pytest.mark.parametrize(
    ("text", "limit", "marker", "safe", "want"),
    [
        ("abcdef", 4, "", True, "abcd"),
        ("abcd", 4, "", True, "abcd"),
        ("abcdef", 4, "..", True, "ab.."),
        ("aé€", 2, "", True, "a"),  # é is two bytes: cut in its middle
        ("aé€", 2, "", False, "a\ufffd"),
        ("aé€", 3, "", True, "aé"),
        ("€€", 4, "", True, "€"),
        ("€€", 4, "", False, "€\ufffd"),
        ("😀x", 3, "", False, "\ufffd"),
        ("😀x", 0, "", True, ""),
    ],
)
def test_truncate_cuts_bytes_on_character_boundaries(
    text: str, limit: int, marker: str, safe: bool, want: str
) -> None:
    from otlpy.ottl.functions.editors import truncation

    req = request(span(("t", text), ("n", 123456)))
    op = Op(pe.TRUNCATE, limit=limit, marker=marker, utf8_safe=safe)
    assert edit(req, op) == [[("t", want), ("n", 123456)]]
    # the same as the editor's own cut of a decoded string
    cut = truncation(limit, safe, marker)(text)
    assert (text if cut is None else cut) == want


def test_truncate_marker_must_fit() -> None:
    with pytest.raises(ValueError, match="marker"):
        Op(pe.TRUNCATE, limit=2, marker="...")


def test_guards_values_and_mask_are_per_item() -> None:
    req = request(span(), span(), span())
    got = edit(
        req,
        Op(pe.SET, key="g", value=any_value(True)),
        Op(pe.SET, key="v"),
        guards=[[True, False, True], None],
        values=[None, [any_value("one"), None, any_value(3.5)]],
        mask=[True, True, False],
    )
    assert got == [[("g", True), ("v", "one")], [], []]


def test_an_enum_field_guards_an_op_read_as_int32() -> None:
    req = request(
        span(kind=Span.SPAN_KIND_SERVER),
        span(kind=Span.SPAN_KIND_CLIENT),
        span(),
        span(kind=-1),  # open enums keep unknown values; negative ones are 10-byte varints
    )
    server = Op(pe.SET, key="server", value=any_value(True), field=6, expect=2)
    not_client = Op(pe.SET, key="other", value=any_value(1), field=6, expect=3, equal=False)
    negative = Op(pe.SET, key="neg", value=any_value(1), field=6, expect=-1)
    assert edit(req, server, not_client, negative) == [
        [("server", True), ("other", 1)],
        [],
        [("other", 1)],
        [("other", 1), ("neg", 1)],
    ]


def test_the_last_of_a_repeated_enum_field_counts() -> None:
    body = span(kind=Span.SPAN_KIND_SERVER).SerializeToString() + encode_tag(6, 0) + b"\x03"
    raw = _request_bytes(body)
    op = Op(pe.SET, key="server", value=any_value(True), field=6, expect=2)
    out, _ = edit_items(raw, SPANS, [op], None, [None], [None])
    assert out == raw  # the span is a client span, as protobuf reads it


def test_unchanged_requests_come_back_as_they_are() -> None:
    raw = request(span(("a", "x"))).SerializeToString()
    out, items = edit_items(raw, SPANS, [Op(pe.DELETE, key="b")], None, [None], [None])
    assert out is raw and items == 1
    empty, none = edit_items(b"", SPANS, [Op(pe.SET, key="a")], None, [None], [None])
    assert empty == b"" and none == 0


def test_logs_use_their_own_path() -> None:
    req = ExportLogsServiceRequest()
    record = req.resource_logs.add().scope_logs.add().log_records.add(severity_number=17)
    record.attributes.add(key="a").value.string_value = "x"
    op = Op(pe.SET, key="b", value=any_value(2), field=2, expect=17)
    out, items = edit_items(req.SerializeToString(), [1, 2, 2, 6], [op], None, [None], [None])
    got = ExportLogsServiceRequest.FromString(out).resource_logs[0].scope_logs[0].log_records[0]
    assert items == 1 and [kv.key for kv in got.attributes] == ["a", "b"]


def test_any_value_encodes_each_scalar_type() -> None:
    for value in ("text", "", True, False, 0, -1, 2**63 - 1, -(2**63), 1.5, -0.0, b"\x00\xff"):
        decoded = AnyValue.FromString(any_value(value))
        assert _plain(decoded) == value and type(_plain(decoded)) is type(value)
    for bad in (2**63, -(2**63) - 1, [1], {"a": 1}, None):
        with pytest.raises(ValueError):
            any_value(bad)


def _request_bytes(span_bytes: bytes) -> bytes:
    def field(number: int, body: bytes) -> bytes:
        return encode_tag(number, 2) + encode_varint(len(body)) + body

    return field(1, field(2, field(2, span_bytes)))


def _attribute(body: bytes) -> bytes:
    return encode_tag(9, 2) + encode_varint(len(body)) + body


@pytest.mark.parametrize(
    ("kv", "problem"),
    [
        (b"\x0a\x01a\x0a\x01b", "two keys"),
        (b"\x0a\x01a\x12\x00\x12\x00", "two values"),
        (b"\x0a\x01a\x18\x01", "unknown field"),
        (b"\x0a\x01a\x12\x04\x0a\x00\x18\x01", "more than one member"),
        (b"\x0a\x01a\x12\x02\x48\x01", "unknown field"),
        (b"\x0a\x05a", "truncated"),
    ],
)
def test_attributes_protobuf_would_read_differently_are_refused(kv: bytes, problem: str) -> None:
    raw = _request_bytes(b"\x2a\x01s" + _attribute(kv))
    op = Op(pe.TRUNCATE, limit=1)  # reads every value
    with pytest.raises(ValueError, match=problem):
        edit_items(raw, SPANS, [op], None, [None], [None])


@pytest.mark.parametrize(
    "raw",
    [
        b"\x0a\x05\x12",  # a resource_spans longer than the request
        _request_bytes(b"\x2a\x09s"),  # a span field past the span's end
        _request_bytes(b"\x4a\x05\x0a"),  # an attribute past the span's end
        _request_bytes(b"\x2b\x00\x2c"),  # a group among the span's fields
    ],
)
def test_malformed_requests_are_refused(raw: bytes) -> None:
    with pytest.raises(ValueError):
        edit_items(raw, SPANS, [Op(pe.SET, key="a", value=b"")], None, [None], [None])


def test_argument_shapes_are_checked() -> None:
    with pytest.raises(ValueError, match="path"):
        edit_items(b"", [1], [], None, [], [])
    with pytest.raises(ValueError, match="one guard"):
        edit_items(b"", SPANS, [Op(pe.SET)], None, [], [])
    with pytest.raises(ValueError, match="unknown op"):
        edit(request(span()), Op(99))


def test_value_before_key_and_interleaved_fields_are_kept_in_order() -> None:
    # attributes between other fields, a value written before its key: protobuf reads them in
    # the order they come; the edited span must read the same, with the attributes together
    kv1 = KeyValue(key="a", value=AnyValue(string_value="x")).SerializeToString()
    kv2 = b"\x12\x03\x0a\x01y\x0a\x01b"
    body = _attribute(kv1) + b"\x2a\x01s" + _attribute(kv2) + b"\x30\x02"
    raw = _request_bytes(body)
    op = Op(pe.SET, key="c", value=any_value(1))
    out, _ = edit_items(raw, SPANS, [op], None, [None], [None])
    want = ExportTraceServiceRequest.FromString(raw)
    want.resource_spans[0].scope_spans[0].spans[0].attributes.add(key="c").value.int_value = 1
    assert ExportTraceServiceRequest.FromString(out) == want


def _cut(cut: Any, value: Any) -> Any:
    if not isinstance(value, str):
        return value
    short = cut(value)
    return value if short is None else short


keys = st.sampled_from(["a", "b", "c", "", "é"])
scalars = st.one_of(
    st.text(max_size=12),
    st.integers(-(2**63), 2**63 - 1),
    st.booleans(),
    st.floats(allow_nan=False),
    st.binary(max_size=4),
    st.none(),
)


@SETTINGS
@given(
    st.lists(st.lists(st.tuples(keys, scalars), max_size=6), min_size=1, max_size=4),
    st.lists(
        st.one_of(
            st.builds(lambda k, v: Op(pe.SET, key=k, value=any_value(v)), keys, scalars.filter(
                lambda v: v is not None
            )),
            st.builds(lambda k: Op(pe.DELETE, key=k), keys),
            st.builds(lambda n, m: Op(pe.TRUNCATE, limit=n, marker=m), st.integers(2, 8),
                      st.sampled_from(["", "~"])),
        ),
        min_size=1,
        max_size=4,
    ),
)  # fmt: skip
def test_any_edit_matches_the_same_edit_on_messages(
    spans: list[list[tuple[str, Any]]], ops: list[Op]
) -> None:
    from otlpy.ottl.functions.editors import truncation

    req = request(*(span(*pairs) for pairs in spans))
    want = []
    for pairs in spans:
        entries = list(pairs)
        for op in ops:
            key = op.key.decode()
            found = [i for i, (k, _) in enumerate(entries) if k == key]
            if op.code == pe.SET:
                value = _plain(AnyValue.FromString(op.value))
                if found:
                    entries[found[0]] = (key, value)
                else:
                    entries.append((key, value))
            elif op.code == pe.DELETE and found:
                del entries[found[0]]
            elif op.code == pe.TRUNCATE:
                cut = truncation(op.limit, True, op.marker.decode())
                entries = [(k, _cut(cut, v)) for k, v in entries]
        want.append(entries)
    assert edit(req, *ops) == want


def test_a_singular_item_absent_is_written_when_given_attributes() -> None:
    req = ExportTraceServiceRequest()
    req.resource_spans.add().scope_spans.add().spans.add(name="s")
    with_resource = req.resource_spans.add()
    with_resource.resource.attributes.add(key="a").value.int_value = 1
    raw = req.SerializeToString()
    added = Op(pe.SET, key="team", value=any_value("core"))
    out, items = edit_items(raw, [1, 1, 1], [added], None, [None], [None], singular=True)
    got = ExportTraceServiceRequest.FromString(out)
    assert items == 2
    assert [[kv.key for kv in rs.resource.attributes] for rs in got.resource_spans] == [
        ["team"],
        ["a", "team"],
    ]
    assert got.resource_spans[0].scope_spans[0].spans[0].name == "s"
    # nothing to add: an absent resource stays absent
    deleted = Op(pe.DELETE, key="a")
    out, _ = edit_items(raw, [1, 1, 1], [deleted], None, [None], [None], singular=True)
    assert not ExportTraceServiceRequest.FromString(out).resource_spans[0].HasField("resource")


def test_a_singular_item_written_twice_is_refused() -> None:
    twice = b"\x0a\x04\x0a\x00\x0a\x00"  # resource_spans holding two empty resources
    with pytest.raises(ValueError, match="twice"):
        edit_items(twice, [1, 1, 1], [Op(pe.SET, key="a")], None, [None], [None], singular=True)


def test_insert_and_update_set_only_when_absent_or_present() -> None:
    req = request(span(("a", "x"), ("a", "y")), span(("b", 1)))
    insert = Op(pe.INSERT, key="a", value=any_value(1))
    update = Op(pe.UPDATE, key="b", value=any_value(True))
    assert edit(req, insert, update) == [
        [("a", "x"), ("a", "y")],
        [("b", True), ("a", 1)],
    ]


def test_transform_rewrites_the_first_value_of_each_name() -> None:
    req = request(span(("a", "x"), ("ab", 5), ("a", "y"), ("c", None)))

    def tag(value: bytes) -> bytes | None:
        decoded = AnyValue.FromString(value)
        if decoded.WhichOneof("value") is None:
            return None
        return any_value(f"<{_plain(decoded)}>")

    by_key = Op(pe.TRANSFORM, key="a", transform=tag)
    assert edit(req, by_key) == [[("a", "<x>"), ("ab", 5), ("a", "y"), ("c", None)]]
    # matching names, duplicates included: "a" twice means its first value twice
    matching = Op(pe.TRANSFORM, test=lambda k: k.startswith("a") or k == "c", transform=tag)
    assert edit(req, matching) == [[("a", "<<x>>"), ("ab", "<5>"), ("a", "y"), ("c", None)]]
