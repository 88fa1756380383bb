"""Statements run on a request's bytes give what the same statements give on its messages.

``StatementSequence.execute_bytes`` is checked against ``execute`` on random requests (with
fields in any order, repeated, interleaved), random statement lists, conditions that fail,
values read from the request, and the conformance corpus; and which statements may run on
bytes at all.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from ottl_conformance import corpus_dir, load_cases

from otlpy.ottl import OttlRuntimeError, parse_conditions, parse_statements
from otlpy.ottl.functions import FUNCTIONS
from otlpy.wire.protobuf_edit import any_value
from wire.wire_strategies import encode_tag, encode_varint, wire_bytes

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

SPAN_STATEMENTS = [
    'set(attributes["env"], "prod")',
    'set(attributes["a"], 42)',
    'set(attributes["a"], -7)',
    'set(attributes["b"], 1.5)',
    'set(attributes["c"], false)',
    'set(attributes["u"], "ü€😀")',
    'set(span.attributes["k"], SPAN_KIND_CLIENT)',
    'set(attributes["n"], name)',
    'set(attributes["svc"], resource.attributes["service.name"])',
    'set(attributes["scope"], instrumentation_scope.name)',
    'set(attributes["id"], span_id.string)',
    'delete_key(attributes, "a")',
    'delete_key(attributes, "env")',
    'keep_keys(attributes, ["a", "env", "u", "s"])',
    'delete_matching_keys(attributes, "^b")',
    'keep_matching_keys(attributes, "[aeu]")',
    'replace_pattern(attributes["a"], "[0-9]+", "N")',
    'replace_pattern(attributes["u"], "(ü)", "$1-$$")',
    'replace_pattern(attributes["u"], "x*", "\\\\")',
    'replace_all_patterns(attributes, "value", "o", "0")',
    "truncate_all(attributes, 3)",
    "truncate_all(attributes, 5, false)",
    'truncate_all(span.attributes, 6, true, "..")',
    "truncate_all(attributes, 0)",
    'set(attributes["s"], true) where kind == SPAN_KIND_SERVER',
    'delete_key(attributes, "u") where SPAN_KIND_CLIENT != kind',
    'set(attributes["w"], "y") where name == "x"',
    'set(attributes["e"], "e") where Substring(name, 2, 2) == "c"',  # fails on short names
    'set(attributes["r"], 1) where resource.attributes["service.name"] == "shop"',
    'set(attributes["z"], 1) where attributes["a"] == "1"',  # reads attributes
    'set(attributes["copy"], attributes["u"])',  # reads attributes
    'set(attributes["m"], resource.attributes)',  # a map: left to the messages
]

LOG_STATEMENTS = [
    'set(attributes["env"], "prod")',
    'delete_key(attributes, "a")',
    "truncate_all(attributes, 4)",
    'set(attributes["err"], true) where severity_number == SEVERITY_NUMBER_ERROR',
    'set(attributes["t"], severity_text)',
    'replace_pattern(attributes["u"], "[aeiou]", "*")',
    'set(attributes["b"], body)',  # any value type: maps and lists fall back
]

keys = st.sampled_from(["a", "b", "env", "u", "s", ""])
scalar_values = st.one_of(
    st.text(max_size=10),
    st.sampled_from(["1", "42", "hello world", "ü€😀 ok", "x" * 40]),
    st.integers(-(2**63), 2**63 - 1),
    st.booleans(),
    st.floats(allow_nan=False),
    st.binary(max_size=4),
)


@st.composite
def any_values(draw: st.DrawFn) -> AnyValue:
    value = AnyValue()
    choice = draw(st.integers(0, 9))
    if choice == 0:
        return value  # no member set
    if choice == 1:
        value.kvlist_value.values.add(key="in").value.string_value = draw(st.text(max_size=4))
        return value
    if choice == 2:
        value.array_value.values.add().int_value = draw(st.integers(0, 9))
        return value
    value.MergeFromString(any_value(draw(scalar_values)))
    return value


def field(number: int, body: bytes) -> bytes:
    return encode_tag(number, 2) + encode_varint(len(body)) + body


@st.composite
def span_bytes(draw: st.DrawFn) -> bytes:
    """A span as protobuf reads it, its fields in any order (and some twice)."""
    pieces = [
        Span(name=draw(st.sampled_from(["x", "abc", "GET /", "ü"]))).SerializeToString(),
        Span(span_id=draw(st.binary(min_size=8, max_size=8))).SerializeToString(),
    ]
    for _ in range(draw(st.integers(0, 2))):
        event = Span.Event(name=draw(st.sampled_from(["e", "exception"])))
        for key, value in draw(st.lists(st.tuples(keys, any_values()), max_size=3)):
            event.attributes.add(key=key).value.CopyFrom(value)
        pieces.append(Span(events=[event]).SerializeToString())
    for _ in range(draw(st.integers(0, 2))):  # the last kind wins
        kind = draw(st.sampled_from([0, 1, 2, 3, -1, 7]))
        pieces.append(encode_tag(6, 0) + encode_varint(kind))
    for key, value in draw(st.lists(st.tuples(keys, any_values()), max_size=7)):
        kv = KeyValue(key=key, value=value).SerializeToString()
        if draw(st.integers(0, 5)) == 0:  # the value before the key
            kv = KeyValue(value=value).SerializeToString() + KeyValue(key=key).SerializeToString()
        pieces.append(field(9, kv))
    order = draw(st.permutations(range(len(pieces))))
    # attributes keep their order among themselves; everything else moves around them
    attributes = iter([p for p in pieces if p[:1] == b"\x4a"])
    others = [p for p in pieces if p[:1] != b"\x4a"]
    shuffled = [next(attributes) if pieces[i][:1] == b"\x4a" else others.pop() for i in order]
    return b"".join(shuffled)


@st.composite
def attribute_bytes(draw: st.DrawFn, number: int, names: list[str]) -> bytes:
    """Attribute fields (``KeyValue`` at field ``number``) with keys among ``names``."""
    pairs = draw(st.lists(st.tuples(st.sampled_from(names), any_values()), max_size=3))
    return b"".join(field(number, KeyValue(key=k, value=v).SerializeToString()) for k, v in pairs)


@st.composite
def resource_bytes(draw: st.DrawFn) -> bytes:
    """A ``resource`` field of a container, absent, or now and then written twice."""
    body = draw(attribute_bytes(1, ["service.name", "team", "a"]))
    if draw(st.booleans()):
        body += encode_tag(2, 0) + encode_varint(draw(st.integers(0, 2)))  # dropped count
    choice = draw(st.integers(0, 9))
    if choice == 0:
        return b""
    if choice == 1:  # protobuf merges the two
        return field(1, body) + field(1, draw(attribute_bytes(1, ["team", "b"])))
    return field(1, body)


@st.composite
def scope_bytes(draw: st.DrawFn) -> bytes:
    if draw(st.integers(0, 5)) == 0:
        return b""
    body = field(1, draw(st.sampled_from([b"lib", b"other"])))
    if draw(st.booleans()):
        body += field(2, b"1.0")
    return field(1, body + draw(attribute_bytes(3, ["a", "v", "x"])))


@st.composite
def trace_requests(draw: st.DrawFn) -> bytes:
    resources = []
    for _ in range(draw(st.integers(1, 2))):
        scopes = [
            draw(scope_bytes()) + b"".join(field(2, s) for s in draw(st.lists(span_bytes(), max_size=3)))
            for _ in range(draw(st.integers(0, 2)))
        ]  # fmt: skip
        resource = draw(resource_bytes())
        body = [resource, *(field(2, s) for s in scopes)]
        resources.append(b"".join(draw(st.permutations(body))))
    return b"".join(field(1, r) for r in resources)


def compare(raw: bytes, statements: list[str], request_type: Any, context: str, mode: str) -> None:
    """``execute_bytes`` against ``execute``: the same request out, or a refusal to run."""
    sequence = parse_statements(statements, context, error_mode=mode)
    expected = request_type.FromString(raw)
    failure: Exception | None = None
    try:
        sequence.execute(expected)
    except OttlRuntimeError as exc:
        failure = exc
    original = request_type.FromString(raw)
    if sequence.byte_plan is None:
        event("not on bytes")
        assert sequence.execute_bytes(original, raw) is None
        return
    try:
        done = sequence.execute_bytes(original, raw)
    except OttlRuntimeError as exc:
        assert failure is not None and str(exc) == str(failure)
        event("propagated")
        return
    assert original == request_type.FromString(raw)  # the messages are left alone
    if done is None:
        event("fell back")
        return
    assert failure is None
    event("on bytes")
    out, items = done
    assert request_type.FromString(out) == expected
    if context == "span":
        assert items == sum(
            len(ss.spans) for rs in expected.resource_spans for ss in rs.scope_spans
        )


@SETTINGS
@given(
    trace_requests(),
    st.lists(st.sampled_from(SPAN_STATEMENTS), min_size=1, max_size=5),
    st.sampled_from(["ignore", "silent", "propagate"]),
)
def test_span_statements_on_bytes_match_the_messages(
    raw: bytes, statements: list[str], mode: str
) -> None:
    compare(raw, statements, ExportTraceServiceRequest, "span", mode)


RESOURCE_STATEMENTS = [
    'set(attributes["team"], "core")',
    'set(attributes["n"], 5)',
    'delete_key(attributes, "service.name")',
    'keep_keys(attributes, ["team", "a"])',
    "truncate_all(attributes, 2)",
    'replace_pattern(attributes["service.name"], "o", "0")',
    'set(attributes["copy"], attributes["service.name"])',
    'set(attributes["d"], dropped_attributes_count)',
    'set(attributes["w"], 1) where attributes["service.name"] == "shop"',
    'delete_key(attributes, "team") where dropped_attributes_count == 0',
]

SCOPE_STATEMENTS = [
    'set(attributes["v"], version)',
    'set(attributes["x"], "y") where name == "lib"',
    'delete_key(attributes, "a")',
    "truncate_all(attributes, 1)",
    'set(attributes["svc"], resource.attributes["service.name"])',
    'set(attributes["a2"], attributes["a"])',
]


SPANEVENT_STATEMENTS = [
    'set(attributes["seen"], true)',
    'delete_key(attributes, "a")',
    "truncate_all(attributes, 2)",
    'set(attributes["k"], "server") where span.kind == SPAN_KIND_SERVER',  # the span's kind
    'set(attributes["x"], 1) where name == "exception"',
    'set(attributes["span"], span.name)',
]


@SETTINGS
@given(
    trace_requests(),
    st.sampled_from(["resource", "scope", "spanevent"]),
    st.data(),
    st.sampled_from(["ignore", "propagate"]),
)
def test_resource_scope_and_event_statements_on_bytes_match_the_messages(
    raw: bytes, context: str, data: st.DataObject, mode: str
) -> None:
    pool = {
        "resource": RESOURCE_STATEMENTS,
        "scope": SCOPE_STATEMENTS,
        "spanevent": SPANEVENT_STATEMENTS,
    }[context]
    statements = data.draw(st.lists(st.sampled_from(pool), min_size=1, max_size=4))
    compare(raw, statements, ExportTraceServiceRequest, context, mode)


@st.composite
def metric_requests(draw: st.DrawFn) -> bytes:
    """Metrics requests: the resource and scope paths are the same as in traces."""
    containers = []
    for _ in range(draw(st.integers(1, 2))):
        scope = draw(scope_bytes()) + field(2, b"\x0a\x01m")  # a metric named "m"
        containers.append(draw(resource_bytes()) + field(2, scope))
    return b"".join(field(1, c) for c in containers)


@SETTINGS
@given(metric_requests(), st.lists(st.sampled_from(RESOURCE_STATEMENTS), min_size=1, max_size=3))
def test_resource_statements_on_metrics_bytes(raw: bytes, statements: list[str]) -> None:
    compare(raw, statements, ExportMetricsServiceRequest, "resource", "ignore")


@st.composite
def log_requests(draw: st.DrawFn) -> bytes:
    request = ExportLogsServiceRequest()
    scope = request.resource_logs.add().scope_logs.add()
    for _ in range(draw(st.integers(0, 4))):
        record = scope.log_records.add(
            severity_number=draw(st.sampled_from([0, 9, 17, 21])),
            severity_text=draw(st.sampled_from(["", "INFO", "ERROR"])),
        )
        record.body.CopyFrom(draw(any_values()))
        for key, value in draw(st.lists(st.tuples(keys, any_values()), max_size=5)):
            record.attributes.add(key=key).value.CopyFrom(value)
    return request.SerializeToString()


@SETTINGS
@given(log_requests(), st.lists(st.sampled_from(LOG_STATEMENTS), min_size=1, max_size=4))
def test_log_statements_on_bytes_match_the_messages(raw: bytes, statements: list[str]) -> None:
    compare(raw, statements, ExportLogsServiceRequest, "log", "ignore")


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(wire_bytes(ExportTraceServiceRequest.DESCRIPTOR))
def test_any_bytes_protobuf_accepts_are_edited_as_protobuf_reads_them(raw: bytes) -> None:
    try:
        ExportTraceServiceRequest.FromString(raw)
    except Exception:
        assume(False)  # a receiver refuses what protobuf cannot read
    statements = [
        'set(attributes["a"], "x")',
        'replace_pattern(attributes["b"], ".", "y")',
        "truncate_all(attributes, 2)",
        'set(attributes["s"], 1) where kind == SPAN_KIND_SERVER',
    ]
    compare(raw, statements, ExportTraceServiceRequest, "span", "ignore")


def spans_of(request: ExportTraceServiceRequest) -> list[Span]:
    return [s for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans]


def three_spans() -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    scope = request.resource_spans.add().scope_spans.add()
    for name in ("keep", "drop", "keep"):
        scope.spans.add(name=name).attributes.add(key="a").value.string_value = "1"
    return request


def test_group_conditions_choose_the_items() -> None:
    request = three_spans()
    raw = request.SerializeToString()
    sequence = parse_statements(['set(attributes["b"], 2)'], "span")
    conditions = parse_conditions(['name == "keep"'], "span")
    done = sequence.execute_bytes(request, raw, conditions)
    assert done is not None
    out = ExportTraceServiceRequest.FromString(done[0])
    assert [len(s.attributes) for s in spans_of(out)] == [2, 1, 2]
    sequence.execute(request, conditions)
    assert out == request


def test_errors_are_counted_once_and_reported(caplog: pytest.LogCaptureFixture) -> None:
    request = three_spans()
    sequence = parse_statements(
        ['set(attributes["e"], 1) where Substring(name, 3, 5) == "x"'], "span", error_mode="ignore"
    )
    with caplog.at_level(logging.WARNING):
        done = sequence.execute_bytes(request, request.SerializeToString())
    assert done is not None
    assert "3 OTTL error(s) ignored" in caplog.text
    propagating = parse_statements(
        ['set(attributes["e"], 1) where Substring(name, 3, 5) == "x"'], "span"
    )
    with pytest.raises(OttlRuntimeError, match="Substring"):
        propagating.execute_bytes(request, request.SerializeToString())
    with pytest.raises(ValueError, match="cannot guard"):
        sequence.execute_bytes(request, b"", parse_conditions(["true"], "resource"))


def test_a_value_that_is_no_scalar_leaves_the_request_to_the_messages() -> None:
    request = three_spans()
    resource = request.resource_spans[0].resource
    resource.attributes.add(key="r").value.kvlist_value.values.add(key="k")
    sequence = parse_statements(['set(attributes["m"], resource.attributes["r"])'], "span")
    assert sequence.byte_plan is not None
    assert sequence.execute_bytes(request, request.SerializeToString()) is None


def test_bytes_of_another_request_are_refused() -> None:
    request = three_spans()
    other = ExportTraceServiceRequest()
    other.resource_spans.add().scope_spans.add().spans.add(name="keep")
    sequence = parse_statements(['set(attributes["b"], 2) where name == "keep"'], "span")
    assert sequence.execute_bytes(request, other.SerializeToString()) is None


@pytest.mark.parametrize(
    ("statements", "context", "planned"),
    [
        (['set(attributes["a"], "x")', "truncate_all(attributes, 4)"], "span", True),
        (['set(attributes["a"], attributes["b"])'], "span", True),  # first: nothing changed yet
        (['delete_key(attributes, "x")', 'set(attributes["a"], attributes["b"])'], "span", False),
        (['delete_key(attributes, "x")', 'set(attributes["a"], 1) where attributes["b"] == 1'],
         "span", False),
        (['delete_key(attributes, "x")', 'set(attributes["a"], 1) where kind == 2'], "span", True),
        (['set(attributes["a"], "x")'], "resource", True),
        (['set(attributes["a"], "x")', 'delete_key(attributes, "b")'], "scope", True),
        (['delete_key(attributes, "x")', 'set(attributes["a"], resource)'], "resource", False),
        (['set(description, "x")'], "metric", False),
        (['set(attributes["a"], 1) where span.kind == SPAN_KIND_SERVER'], "spanevent", True),
        (['set(attributes["a"], "x")'], "datapoint", False),
        (['set(attributes["a"], "x")'], "spanevent", True),
        (['set(resource.attributes["a"], "x")'], "span", False),
        (['set(name, "x")'], "span", False),
        (['set(attributes["a"], nil)'], "span", False),
        (['set(attributes["a"], ["x"])'], "span", False),
        (['set(attributes["a"]["b"], "x")'], "span", False),
        (['set(attributes[name], "x")'], "span", False),
        (['replace_pattern(attributes["a"], "x", "y", SHA256)'], "span", False),
        (['replace_all_patterns(attributes, "key", "x", "y")'], "span", False),
        (['delete_key(target=attributes, key="x")'], "span", False),
        (['set(cache["a"], "x")'], "span", False),
        (['delete_key(attributes, "x")', 'set(attributes["a"], 1) where cache["b"] == 1'],
         "span", False),
        (['delete_key(attributes, "x")', 'set(attributes["a"], span)'], "span", False),
        (["limit(attributes, 1, [])"], "span", False),
        (['set(attributes["a"], "x") where severity_number == SEVERITY_NUMBER_WARN'], "log",
         True),
    ],
)  # fmt: skip
def test_which_statements_run_on_bytes(statements: list[str], context: str, planned: bool) -> None:
    sequence = parse_statements(statements, context)
    assert (sequence.byte_plan is not None) is planned


def test_a_function_table_of_the_caller_keeps_the_messages() -> None:
    functions = dict(FUNCTIONS)
    assert parse_statements(['set(attributes["a"], "x")'], "span", functions=functions).byte_plan
    functions["set"] = FUNCTIONS["delete_key"]
    sequence = parse_statements(['delete_key(attributes, "x")'], "span", functions=functions)
    assert sequence.byte_plan is not None
    other = parse_statements(['set(attributes, "x")'], "span", functions=functions)
    assert other.byte_plan is None


def test_enum_guards_take_the_condition_off_the_messages() -> None:
    sequence = parse_statements(['set(attributes["s"], 1) where kind == SPAN_KIND_SERVER'], "span")
    assert sequence.byte_plan is not None
    step = sequence.byte_plan.steps[0]
    assert step.condition is None and (step.op.field, step.op.expect) == (6, 2)


ROOT = corpus_dir()


def _statement_cases() -> list[dict[str, Any]]:
    if ROOT is None:
        return []
    cases = []
    for case in load_cases(ROOT):
        if case["kind"] == "value" or case.get("expectError"):
            continue
        texts = [case["statement"]] if case["kind"] == "statement" else case["statements"]
        try:
            sequences = [parse_statements(t, "log") for t in texts]
        except Exception:
            continue
        if all(s.byte_plan is not None for s in sequences):
            cases.append(case)
    return cases


CORPUS = _statement_cases()
# cases whose values are lists or maps (Sort, SliceToMap): planned, then left to the messages
FALLING_BACK = {"converters-061", "converters-082"}


@pytest.mark.skipif(ROOT is None, reason="conformance corpus not available")
def test_the_corpus_has_cases_that_run_on_bytes() -> None:
    assert len(CORPUS) >= 20


@pytest.mark.skipif(ROOT is None, reason="conformance corpus not available")
@pytest.mark.parametrize("case", CORPUS, ids=[c["id"] for c in CORPUS])
def test_conformance_cases_on_bytes(case: dict[str, Any]) -> None:
    from ottl_conformance import _compare_state, _fixture

    assert ROOT is not None
    request = _fixture(ROOT, case["fixture"])
    raw = request.SerializeToString()
    texts = [case["statement"]] if case["kind"] == "statement" else case["statements"]
    for text in texts:
        sequence = parse_statements(text, "log")
        done = sequence.execute_bytes(ExportLogsServiceRequest.FromString(raw), raw)
        if done is None:  # a value no attribute of the bytes can hold: the messages, as the
            # transform processor does
            assert case["id"] in FALLING_BACK
            message = ExportLogsServiceRequest.FromString(raw)
            sequence.execute(message)
            raw = message.SerializeToString()
        else:
            raw = done[0]
    assert _compare_state(ROOT, ExportLogsServiceRequest.FromString(raw), case) is None


def test_log_records_keep_their_other_fields() -> None:
    request = ExportLogsServiceRequest()
    record = (
        request.resource_logs.add()
        .scope_logs.add()
        .log_records.add(severity_number=17, time_unix_nano=5)
    )
    record.body.string_value = "b"
    raw = request.SerializeToString()
    sequence = parse_statements(['set(attributes["err"], true) where severity_number == 17'], "log")
    done = sequence.execute_bytes(request, raw)
    assert done is not None
    got = ExportLogsServiceRequest.FromString(done[0]).resource_logs[0].scope_logs[0]
    want = LogRecord(severity_number=17, time_unix_nano=5)
    want.body.string_value = "b"
    want.attributes.add(key="err").value.bool_value = True
    assert list(got.log_records) == [want]


def test_the_request_is_needed_only_to_read_conditions_and_values() -> None:
    request = three_spans()
    raw = request.SerializeToString()
    alone = parse_statements(['set(attributes["b"], 2) where kind == SPAN_KIND_SERVER'], "span")
    assert alone.byte_plan is not None and not alone.byte_plan.reads_request
    assert alone.execute_bytes(None, raw) is not None
    reading = parse_statements(['set(attributes["b"], name)'], "span")
    assert reading.byte_plan is not None and reading.byte_plan.reads_request
    with pytest.raises(ValueError, match="pass it"):
        reading.execute_bytes(None, raw)
    with pytest.raises(ValueError, match="pass it"):
        alone.execute_bytes(None, raw, parse_conditions(["true"], "span"))


def test_a_span_event_reads_its_span_kind_from_the_span() -> None:
    sequence = parse_statements(
        ['set(attributes["k"], 1) where span.kind == SPAN_KIND_SERVER'], "spanevent"
    )
    assert sequence.byte_plan is not None
    step = sequence.byte_plan.steps[0]
    # not the event's field 6: a condition read from the decoded request
    assert step.op.field == 0 and step.condition is not None
