from __future__ import annotations

import hashlib
import struct

from processor_kit import Harness, problems_of

from builders import kv, logs, metrics, traces
from otlpy import client
from otlpy.ottl import PMap
from otlpy.pdata import Signal
from otlpy.processors import attributes, resource


def attrs(message: object) -> dict[str, object]:
    return PMap(message.attributes).to_dict()  # type: ignore[attr-defined]


def spans_of(out: object) -> list[object]:
    return list(out.resource_spans[0].scope_spans[0].spans)  # type: ignore[attr-defined]


def one_span(**values: object) -> object:
    request = traces(1)
    span = request.resource_spans[0].scope_spans[0].spans[0]
    del span.attributes[:]
    for key, value in values.items():
        span.attributes.append(kv(key, value))
    return request


async def test_insert_update_upsert_delete() -> None:
    h = Harness(
        attributes.factory,
        {
            "actions": [
                {"action": "insert", "key": "new", "value": "n"},
                {"action": "insert", "key": "keep", "value": "ignored"},
                {"action": "update", "key": "keep", "value": 7},
                {"action": "update", "key": "absent", "value": 1},
                {"action": "upsert", "key": "copy", "from_attribute": "keep"},
                {"action": "upsert", "key": "list", "value": [1, "a"]},
                {"action": "UPSERT", "key": "map", "value": {"a": {"b": True}}},
                {"action": "upsert", "key": "none", "from_attribute": "missing"},
                {"action": "delete", "key": "gone"},
                {"action": "delete", "pattern": "^tmp\\."},
                {"action": "upsert", "key": "keep", "from_attribute": "keep"},
            ]
        },
    )
    out = await h.run(one_span(keep="k", gone=1, **{"tmp.a": 1, "tmp.b": 2}))
    assert attrs(spans_of(out)[0]) == {
        "keep": 7,
        "new": "n",
        "copy": 7,
        "list": [1, "a"],
        "map": {"a": {"b": True}},
    }


async def test_hash_matches_the_collector_bytes() -> None:
    h = Harness(
        attributes.factory,
        {"actions": [{"action": "hash", "key": "s"}, {"action": "hash", "pattern": "^n"}]},
    )
    out = await h.run(one_span(s="secret", n1=5, n2=1.5, n3=True, other="x"))
    got = attrs(spans_of(out)[0])
    assert got["s"] == hashlib.sha256(b"secret").hexdigest()
    assert got["n1"] == hashlib.sha256(struct.pack("<q", 5)).hexdigest()
    assert got["n2"] == hashlib.sha256(struct.pack("<d", 1.5)).hexdigest()
    assert got["n3"] == hashlib.sha256(b"\x01").hexdigest()
    assert got["other"] == "x"


async def test_extract_and_convert() -> None:
    h = Harness(
        attributes.factory,
        {
            "actions": [
                {
                    "action": "extract",
                    "key": "url",
                    "pattern": "^/api/(?P<version>v\\d)/(?P<user.id>\\d+)$",
                },
                {"action": "convert", "key": "user.id", "converted_type": "int"},
                {"action": "convert", "key": "f", "converted_type": "double"},
                {"action": "convert", "key": "i", "converted_type": "string"},
                {"action": "convert", "key": "b", "converted_type": "int"},
                {"action": "convert", "key": "bad", "converted_type": "int"},
                {"action": "convert", "key": "d", "converted_type": "int"},
                {"action": "convert", "key": "t", "converted_type": "double"},
            ]
        },
    )
    out = await h.run(one_span(url="/api/v2/42", f="2.5", i=3, b=True, bad="x", d=9.7, t=False))
    assert attrs(spans_of(out)[0]) == {
        "url": "/api/v2/42",
        "version": "v2",
        "user.id": 42,
        "f": 2.5,
        "i": "3",
        "b": 1,
        "bad": "x",
        "d": 9,
        "t": 0.0,
    }
    no_match = await h.run(one_span(url="/other", i=4.0))
    assert attrs(spans_of(no_match)[0]) == {"url": "/other", "i": "4"}


async def test_from_context_reads_client_metadata() -> None:
    h = Harness(
        attributes.factory,
        {
            "actions": [
                {"action": "insert", "key": "tenant", "from_context": "metadata.x-tenant"},
                {"action": "insert", "key": "bare", "from_context": "x-tenant"},
                {"action": "insert", "key": "peer", "from_context": "client.address"},
                {"action": "insert", "key": "auth", "from_context": "auth.subject"},
            ]
        },
    )
    info = client.ClientInfo("10.0.0.1:4000", {"x-tenant": ("a", "b")})
    with client.using(info):
        out = await h.run(one_span())
    assert attrs(spans_of(out)[0]) == {"tenant": "a;b", "bare": "a;b", "peer": "10.0.0.1:4000"}


async def test_include_exclude_choose_spans() -> None:
    h = Harness(
        attributes.factory,
        {
            "actions": [{"action": "insert", "key": "hit", "value": True}],
            "include": {"match_type": "strict", "span_names": ["span-0", "span-1"]},
            "exclude": {"match_type": "regexp", "attributes": [{"key": "index", "value": "^1$"}]},
        },
    )
    out = await h.run(traces(3))
    assert ["hit" in attrs(s) for s in spans_of(out)] == [True, False, False]
    kinds = Harness(
        attributes.factory,
        {
            "actions": [{"action": "insert", "key": "hit", "value": True}],
            "include": {
                "match_type": "strict",
                "span_kinds": ["SPAN_KIND_UNSPECIFIED"],
                "resources": [{"key": "service.name", "value": "svc"}],
                "libraries": [{"name": "test-scope", "version": ""}],
                "attributes": [{"key": "index"}],
            },
        },
    )
    assert ["hit" in attrs(s) for s in spans_of(await kinds.run(traces(2)))] == [True, True]


async def test_logs_and_metrics() -> None:
    lg = Harness(
        attributes.factory,
        {
            "actions": [{"action": "insert", "key": "hit", "value": 1}],
            "include": {
                "match_type": "regexp",
                "log_bodies": ["line [02]"],
                "log_severity_texts": ["INF"],
                "log_severity_number": {"min": "info", "match_undefined": False},
            },
        },
        Signal.LOGS,
    )
    out = await lg.run(logs(3))
    records = out.resource_logs[0].scope_logs[0].log_records
    assert ["hit" in attrs(r) for r in records] == [True, False, True]
    m = Harness(
        attributes.factory,
        {
            "actions": [{"action": "insert", "key": "hit", "value": 1}],
            "exclude": {"match_type": "strict", "metric_names": ["metric.1"]},
        },
        Signal.METRICS,
    )
    out = await m.run(metrics((1, 1)))
    ms = out.resource_metrics[0].scope_metrics[0].metrics
    assert "hit" in attrs(ms[0].gauge.data_points[0])
    assert "hit" not in attrs(ms[1].sum.data_points[0])


async def test_no_actions_passes_data() -> None:
    h = Harness(attributes.factory, {})
    assert h.processor.capabilities.mutates_data is False
    assert await h.run(traces(1)) is not None


def test_action_validation() -> None:
    problems = problems_of(
        attributes.factory,
        {
            "actions": [
                {"action": "shout", "key": "a"},
                {"action": "insert", "value": 1},
                {"action": "insert", "key": "a"},
                {"action": "upsert", "key": "a", "value": 1, "from_attribute": "b"},
                {"action": "update", "key": "a", "value": 1, "pattern": "x"},
                {"action": "delete"},
                {"action": "hash", "key": "a", "value": 1},
                {"action": "extract", "key": "a"},
                {"action": "extract", "key": "a", "pattern": "(x)"},
                {"action": "extract", "key": "a", "pattern": "(?P<n>x)(y)"},
                {"action": "extract", "key": "a", "pattern": "(?P<n>"},
                {"action": "convert", "key": "a"},
                {"action": "convert", "key": "a", "converted_type": "bool"},
                {"action": "convert", "key": "a", "converted_type": "int", "pattern": "x"},
                {"action": "insert", "key": "a", "value": 1, "converted_type": "int"},
                {"action": "extract", "key": "a", "pattern": "(?P<n>x)", "value": 1},
                {"action": "insert", "key": "a", "value": [None]},
            ],
            "include": {"match_type": "strict", "span_kinds": ["SERVER"]},
        },
    )
    assert "unsupported action" in problems["actions[0].action"]
    assert problems["actions[1].key"] == "required"
    assert "is needed" in problems["actions[2]"]
    assert "only one of" in problems["actions[3]"]
    assert "does not use a pattern" in problems["actions[4].pattern"]
    assert "at least one of" in problems["actions[5]"]
    assert "does not use" in problems["actions[6]"]
    assert "required for extract" in problems["actions[7].pattern"]
    assert "has no named groups" in problems["actions[8].pattern"]
    assert "every group must be named" in problems["actions[9].pattern"]
    assert "invalid regular expression" in problems["actions[10].pattern"]
    assert "required" in problems["actions[11].converted_type"]
    assert "invalid type" in problems["actions[12].converted_type"]
    assert "does not use a pattern" in problems["actions[13].pattern"]
    assert "does not use it" in problems["actions[14].converted_type"]
    assert "value source" in problems["actions[15]"]
    assert "cannot be stored" in problems["actions[16].value"]
    assert "unknown span kind" in problems["include.span_kinds[0]"]
    severity = problems_of(
        attributes.factory,
        {"include": {"match_type": "strict", "log_severity_number": {"min": "LOUD"}}},
    )
    assert "not a valid severity" in severity["include.log_severity_number.min"]
    regex = problems_of(
        attributes.factory,
        {"exclude": {"match_type": "regexp", "attributes": [{"key": "a", "value": "("}]}},
    )
    assert "invalid regular expression" in regex["exclude.attributes[0].value"]
    keyless = problems_of(
        attributes.factory, {"exclude": {"match_type": "regexp", "attributes": [{}]}}
    )
    assert "needs a key" in keyless["exclude.attributes[0].key"]


async def test_resource_processor() -> None:
    h = Harness(
        resource.factory,
        {
            "attributes": [
                {"action": "upsert", "key": "deployment.environment", "value": "prod"},
                {"action": "delete", "key": "service.name"},
            ]
        },
        Signal.LOGS,
    )
    out = await h.run(logs(1))
    assert attrs(out.resource_logs[0].resource) == {"deployment.environment": "prod"}
    empty = Harness(resource.factory, {})
    assert await empty.run(traces(1)) is not None
    problems = problems_of(resource.factory, {"attributes": [{"action": "insert", "key": "a"}]})
    assert "is needed" in problems["attributes[0]"]
