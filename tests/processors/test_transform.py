from __future__ import annotations

import logging

import pytest
from processor_kit import Harness, config_of, problems_of

from builders import logs, metrics, traces
from otlpy.errors import PermanentError
from otlpy.ottl import PMap
from otlpy.pdata import Signal
from otlpy.processors.transform import factory


def attrs(message: object) -> dict[str, object]:
    return PMap(message.attributes).to_dict()  # type: ignore[attr-defined]


async def test_plain_statements_infer_their_context() -> None:
    h = Harness(
        factory,
        {
            "trace_statements": [
                'set(span.attributes["env"], "prod")',
                'set(resource.attributes["team"], "core")',
                'set(span.name, "renamed") where span.attributes["index"] == 1',
            ]
        },
    )
    out = await h.run(traces(3))
    rs = out.resource_spans[0]
    assert attrs(rs.resource)["team"] == "core"
    spans = rs.scope_spans[0].spans
    assert [attrs(s)["env"] for s in spans] == ["prod"] * 3
    assert [s.name for s in spans] == ["span-0", "renamed", "span-2"]


async def test_consecutive_plain_statements_of_one_context_share_a_group() -> None:
    config = factory.config(
        trace_statements=[
            'set(span.attributes["a"], 1)',
            'set(span.attributes["b"], 2)',
            'set(resource.attributes["c"], 3)',
            'set(span.attributes["d"], 4)',
        ]
    )
    groups, problems = config.compile(Signal.TRACES)
    assert problems == []
    assert [(g.statements.context, len(g.statements.statements)) for g in groups] == [
        ("span", 2),
        ("resource", 1),
        ("span", 1),
    ]


async def test_groups_with_context_and_conditions() -> None:
    h = Harness(
        factory,
        {
            "trace_statements": [
                {
                    "context": "span",
                    "conditions": ['attributes["index"] == 0', 'attributes["index"] == 2'],
                    "statements": ['set(attributes["picked"], true)'],
                },
                {"context": "resource", "statements": ['delete_key(attributes, "service.name")']},
            ]
        },
    )
    out = await h.run(traces(3))
    spans = out.resource_spans[0].scope_spans[0].spans
    assert ["picked" in attrs(s) for s in spans] == [True, False, True]
    assert attrs(out.resource_spans[0].resource) == {}


async def test_group_context_is_inferred_when_absent() -> None:
    h = Harness(
        factory,
        {"log_statements": [{"statements": ['set(log.severity_text, "WARN")']}]},
        Signal.LOGS,
    )
    out = await h.run(logs(2))
    assert [r.severity_text for r in out.resource_logs[0].scope_logs[0].log_records] == [
        "WARN",
        "WARN",
    ]


async def test_metric_statements() -> None:
    h = Harness(
        factory,
        {
            "metric_statements": [
                'set(metric.description, "described")',
                'set(datapoint.attributes["dp"], true) where datapoint.attributes["point"] == 1',
            ]
        },
        Signal.METRICS,
    )
    out = await h.run(metrics((2, 2)))
    ms = out.resource_metrics[0].scope_metrics[0].metrics
    assert [m.description for m in ms] == ["described", "described"]
    assert [attrs(p).get("dp") for p in ms[0].gauge.data_points] == [None, True]


async def test_error_modes(caplog: pytest.LogCaptureFixture) -> None:
    failing = 'set(span.attributes["x"], Int(span.name))'  # "span-0" is no int: Int gives nil
    bad = 'set(span.attributes["x"], span.attributes["index"] / 0)'  # fails on every span
    with caplog.at_level(logging.WARNING):
        h = Harness(factory, {"error_mode": "ignore", "trace_statements": [bad, failing]})
        out = await h.run(traces(2))
    assert out is not None
    assert "error(s) ignored" in caplog.text
    propagating = Harness(factory, {"error_mode": "propagate", "trace_statements": [bad]})
    with pytest.raises(PermanentError, match="failed to execute statement"):
        await propagating.run(traces(1))
    assert propagating.sink.batches == []
    # a group's error_mode overrides the processor's
    override = Harness(
        factory,
        {
            "error_mode": "propagate",
            "trace_statements": [{"error_mode": "silent", "statements": [bad]}],
        },
    )
    assert await override.run(traces(1)) is not None


async def test_no_statements_passes_batches_unchanged() -> None:
    h = Harness(factory, {})
    assert h.processor.capabilities.mutates_data is False
    sent = traces(2)
    out = await h.run(sent)
    assert out == sent


def test_validation_reports_paths_and_columns() -> None:
    problems = problems_of(
        factory,
        {
            "error_mode": "loud",
            "trace_statements": [
                'set(span.name, "ok")',
                'set(span.name "missing comma")',
                "nope(span.name)",
                'set(attributes["no-context"], 1)',
                'set(log.body, "wrong signal")',
                {"context": "span", "statements": ['set(attributes["x"], 1', "keep_keys(x)"]},
                {"context": "spam", "statements": ['set(name, "x")']},
                {"statements": []},
                {"context": "span", "statements": ['set(name, "x")'], "conditions": ["name =="]},
                42,
            ],
            "log_statements": [{"context": "log", "statements": ["x"], "extra": 1}],
        },
    )
    assert "error_mode" in problems
    assert "column 15" in problems["trace_statements[1]"]
    assert 'undefined function "nope"' in problems["trace_statements[2]"]
    assert "cannot infer the context" in problems["trace_statements[3]"]
    assert "`context:` key" in problems["trace_statements[3]"]
    assert "cannot be used with traces" in problems["trace_statements[4]"]
    assert "column 23" in problems["trace_statements[5].statements[0]"]
    assert "trace_statements[5].statements[1]" in problems
    assert "spam" in problems["trace_statements[6].statements"]
    assert "at least one statement" in problems["trace_statements[7].statements"]
    assert "trace_statements[8].conditions[0]" in problems
    assert "expected a statement" in problems["trace_statements[9]"]
    assert "unknown key" in problems["log_statements[0].extra"]


def test_scope_alias_and_uppercase_context() -> None:
    problems = problems_of(
        factory,
        {
            "trace_statements": [
                {"context": "instrumentation_scope", "statements": ['set(name, "x")']},
                {"context": "SPAN", "statements": ['set(name, "x")']},
            ]
        },
    )
    assert problems == {}


async def test_received_bytes_serve_the_first_group_only(monkeypatch: pytest.MonkeyPatch) -> None:
    from otlpy.ottl.values import KeyIndex
    from otlpy.pdata import Batch

    monkeypatch.setattr(KeyIndex, "from_bytes", True)  # also when the scanner is pure Python
    statements = [
        {
            "context": "span",
            "statements": [
                'delete_key(attributes, "index")',
                'set(attributes["long"], "abcdefgh")',
                "truncate_all(attributes, 3)",
            ],
        },
        # a second group sees the spans as the first left them, not as received
        {
            "context": "span",
            "statements": [
                'set(attributes["again"], attributes["long"])',
                "truncate_all(attributes, 2)",
            ],
        },
    ]
    h = Harness(factory, {"trace_statements": statements})
    raw = traces(3).SerializeToString()
    await h.processor.consume(Batch(Signal.TRACES, raw=raw))
    out = h.sink.batches[-1].message
    for span in out.resource_spans[0].scope_spans[0].spans:
        got = attrs(span)
        assert "index" not in got and got["long"] == "ab" and got["again"] == "ab"
    again = await Harness(factory, {"trace_statements": statements}).run(traces(3))
    spans = [s.attributes for s in out.resource_spans[0].scope_spans[0].spans]
    assert spans == [s.attributes for s in again.resource_spans[0].scope_spans[0].spans]


async def test_attribute_edits_run_on_the_received_bytes() -> None:
    from otlpy.ottl.onbytes import FAST
    from otlpy.pdata import Batch

    statements = [
        {
            "context": "span",
            "statements": [
                'set(attributes["env"], "prod") where name != "span-1"',
                'delete_key(attributes, "index")',
                'set(attributes["service"], resource.attributes["service.name"])',
                "truncate_all(attributes, 3)",
            ],
        }
    ]
    request = traces(3, resources=2)
    h = Harness(factory, {"trace_statements": statements})
    await h.processor.consume(Batch.decode(Signal.TRACES, request.SerializeToString()))
    out = h.sink.batches[-1]
    # compiled, the bytes were rewritten: the batch leaves as bytes, its count known
    assert out.has_raw is FAST
    assert out.items == 6
    want = await Harness(factory, {"trace_statements": statements}).run(request)
    assert out.message == want
    got = [attrs(s) for rs in want.resource_spans for s in rs.scope_spans[0].spans]
    assert got[0] == {"env": "pro", "service": "svc"}
    assert got[1] == {"service": "svc"}


async def test_a_failure_on_bytes_refuses_the_batch_in_propagate_mode() -> None:
    from otlpy.pdata import Batch

    h = Harness(
        factory,
        {
            "error_mode": "propagate",
            "trace_statements": [
                {
                    "context": "span",
                    "statements": ['set(attributes["x"], 1) where Substring(name, 10, 3) == "y"'],
                }
            ],
        },
    )
    raw = traces(2).SerializeToString()
    with pytest.raises(PermanentError, match="Substring"):
        await h.processor.consume(Batch.decode(Signal.TRACES, raw))
    assert h.sink.batches == []


async def test_span_and_resource_groups_both_run_on_bytes() -> None:
    from otlpy.ottl.onbytes import FAST
    from otlpy.pdata import Batch

    # the common shape: plain statements of two contexts, so two groups
    statements = [
        'set(span.attributes["env"], "prod")',
        'set(resource.attributes["team"], "core")',
        'delete_key(resource.attributes, "service.name")',
    ]
    request = traces(2, resources=2)
    h = Harness(factory, {"trace_statements": statements})
    groups, _ = config_of(factory, {"trace_statements": statements}).compile(Signal.TRACES)
    assert [g.statements.context for g in groups] == ["span", "resource"]
    await h.processor.consume(Batch.decode(Signal.TRACES, request.SerializeToString()))
    out = h.sink.batches[-1]
    assert out.has_raw is FAST and out.items == 4
    want = await Harness(factory, {"trace_statements": statements}).run(request)
    assert out.message == want
    assert [attrs(rs.resource) for rs in want.resource_spans] == [{"team": "core"}] * 2
