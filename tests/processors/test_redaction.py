from __future__ import annotations

import hashlib

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from processor_kit import Harness, problems_of

from builders import kv, logs, metrics, traces
from otlpy.ottl import PMap
from otlpy.pdata import Signal
from otlpy.processors.redaction import factory


def attrs(message: object) -> dict[str, object]:
    return PMap(message.attributes).to_dict()  # type: ignore[attr-defined]


def span_with(**values: object) -> object:
    request = traces(1)
    span = request.resource_spans[0].scope_spans[0].spans[0]
    del span.attributes[:]
    for key, value in values.items():
        span.attributes.append(kv(key, value))
    span.events.add(name="e").attributes.append(kv("secret", "x"))
    return request


async def test_allow_list_block_values_and_debug_summary() -> None:
    h = Harness(
        factory,
        {
            "allowed_keys": ["card", "note", "ok", "token"],
            "ignored_keys": ["raw"],
            "blocked_values": ["4[0-9]{12}(?:[0-9]{3})?"],
            "blocked_key_patterns": ["^tok"],
            "summary": "debug",
        },
    )
    out = await h.run(
        span_with(
            card="4111111111111111",
            note="call 4111111111111 now",
            ok="fine",
            token="abc",
            raw="4111111111111111",
            secret="s",
            other=1,
        )
    )
    span = out.resource_spans[0].scope_spans[0].spans[0]
    got = attrs(span)
    assert got["card"] == "****"
    assert got["note"] == "call **** now"
    assert got["ok"] == "fine"
    assert got["token"] == "****"
    assert got["raw"] == "4111111111111111"
    assert "secret" not in got and "other" not in got
    assert got["redaction.redacted.keys"] == "other,secret"
    assert got["redaction.redacted.count"] == 2
    assert got["redaction.masked.keys"] == "card,note,token"
    assert got["redaction.masked.count"] == 3
    assert got["redaction.ignored.count"] == 1
    assert attrs(span.events[0]) == {
        "redaction.redacted.keys": "secret",
        "redaction.redacted.count": 1,
    }
    # the resource's service.name is not allowed either
    assert "service.name" not in attrs(out.resource_spans[0].resource)


async def test_hash_functions_allowed_values_and_info_summary() -> None:
    for name, algorithm in (("md5", "md5"), ("sha1", "sha1"), ("sha3", "sha3_256")):
        h = Harness(
            factory,
            {
                "allow_all_keys": True,
                "blocked_values": ["secret[0-9]"],
                "allowed_values": ["^secret9$"],
                "hash_function": name,
                "summary": "info",
            },
        )
        out = await h.run(span_with(a="secret1!", b="secret9"))
        got = attrs(out.resource_spans[0].scope_spans[0].spans[0])
        assert got["a"] == hashlib.new(algorithm, b"secret1").hexdigest() + "!"
        assert got["b"] == "secret9"
        assert got["redaction.masked.count"] == 1
        assert got["redaction.allowed.count"] == 1
        assert "redaction.masked.keys" not in got


async def test_summary_counts_add_up_across_runs() -> None:
    h = Harness(factory, {"allow_all_keys": True, "blocked_values": ["x"], "summary": "debug"})
    first = await h.run(span_with(a="x"))
    again = await h.run(first)
    got = attrs(again.resource_spans[0].scope_spans[0].spans[0])
    assert got["redaction.masked.count"] == 1  # nothing left to mask the second time
    request = span_with(a="x", b="x")
    span = request.resource_spans[0].scope_spans[0].spans[0]
    span.attributes.append(kv("redaction.masked.keys", "z"))
    span.attributes.append(kv("redaction.masked.count", 1))
    got = attrs((await h.run(request)).resource_spans[0].scope_spans[0].spans[0])
    assert got["redaction.masked.keys"] == "a,b,z"
    assert got["redaction.masked.count"] == 3


async def test_log_bodies() -> None:
    h = Harness(
        factory,
        {
            "allowed_keys": ["user", "list", "nested", "pw"],
            "blocked_values": ["[0-9]{4}"],
            "blocked_key_patterns": ["^pw$"],
            "ignored_keys": ["skip"],
            "summary": "debug",
        },
        Signal.LOGS,
    )
    request = logs(2)
    records = request.resource_logs[0].scope_logs[0].log_records
    records[0].body.string_value = "pin 1234"
    body = records[1].body.kvlist_value.values
    body.append(kv("user", "u-5678"))
    body.append(kv("drop", "x"))
    body.append(kv("skip", "9999"))
    nested = KeyValue(key="nested")
    nested.value.kvlist_value.values.append(kv("pw", "hunter2"))
    nested.value.kvlist_value.values.append(kv("gone", "1"))
    body.append(nested)
    items = KeyValue(key="list")
    items.value.array_value.values.append(AnyValue(string_value="0000"))
    body.append(items)
    out = await h.run(request)
    first, second = out.resource_logs[0].scope_logs[0].log_records
    assert first.body.string_value == "pin ****"
    assert attrs(first)["redaction.body.masked.keys"] == "body"
    assert PMap(second.body.kvlist_value.values).to_dict() == {
        "user": "u-****",
        "skip": "9999",
        "nested": {"pw": "****"},
        "list": ["****"],
    }
    summary = attrs(second)
    assert summary["redaction.body.redacted.keys"] == "drop,nested.gone"
    assert summary["redaction.body.masked.keys"] == "list.[0],nested.pw,user"
    assert summary["redaction.body.ignored.count"] == 1
    array_body = logs(1)
    record = array_body.resource_logs[0].scope_logs[0].log_records[0]
    record.body.array_value.values.append(AnyValue(string_value="1111"))
    out = await h.run(array_body)
    values = out.resource_logs[0].scope_logs[0].log_records[0].body.array_value.values
    assert values[0].string_value == "****"


async def test_metrics_and_allowed_body() -> None:
    h = Harness(factory, {"allowed_keys": ["point"]}, Signal.METRICS)
    out = await h.run(metrics((1,)))
    rm = out.resource_metrics[0]
    assert attrs(rm.resource) == {}
    assert attrs(rm.scope_metrics[0].metrics[0].gauge.data_points[0]) == {"point": 0}
    lg = Harness(
        factory,
        {"allow_all_keys": True, "allowed_values": ["^line"], "summary": "info"},
        Signal.LOGS,
    )
    out = await lg.run(logs(1))
    assert (
        attrs(out.resource_logs[0].scope_logs[0].log_records[0])["redaction.body.allowed.count"]
        == 1
    )


def test_validation() -> None:
    problems = problems_of(factory, {"blocked_values": ["("], "summary": "loud"})
    assert "invalid regular expression" in problems["blocked_values[0]"]
    assert "summary" in problems
