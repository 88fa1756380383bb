from __future__ import annotations

import pytest
from processor_kit import Harness, problems_of

from builders import kv, logs, metrics, traces
from otlpy.errors import PermanentError
from otlpy.pdata import Signal
from otlpy.processors.filter import factory


def names(out: object) -> list[str]:
    return [s.name for rs in out.resource_spans for ss in rs.scope_spans for s in ss.spans]  # type: ignore[attr-defined]


async def test_span_conditions_drop_matches_and_count_them() -> None:
    h = Harness(factory, {"traces": {"span": ['name == "span-1"', 'attributes["index"] == 2']}})
    out = await h.run(traces(4))
    assert names(out) == ["span-0", "span-3"]
    labels = {"filter": "filter"}
    assert h.metric("otelcol_processor_filter_spans_filtered_total", labels) == 2


async def test_dropping_everything_sends_nothing() -> None:
    h = Harness(factory, {"traces": {"resource": ['attributes["service.name"] == "svc"']}})
    assert await h.run(traces(3)) is None
    assert h.metric("otelcol_processor_filter_spans_filtered_total", {"filter": "filter"}) == 3


async def test_span_events_go_but_their_span_stays() -> None:
    request = traces(2)
    for span in request.resource_spans[0].scope_spans[0].spans:
        span.events.add(name="noise")
        span.events.add(name="signal")
    h = Harness(factory, {"traces": {"spanevent": ['name == "noise"']}})
    out = await h.run(request)
    events = [[e.name for e in s.events] for s in out.resource_spans[0].scope_spans[0].spans]
    assert events == [["signal"], ["signal"]]


async def test_datapoints_and_emptied_metrics() -> None:
    h = Harness(
        factory,
        {"metrics": {"datapoint": ['metric.name == "metric.0"', 'attributes["point"] == 0']}},
        Signal.METRICS,
    )
    out = await h.run(metrics((2, 3)))
    ms = out.resource_metrics[0].scope_metrics[0].metrics
    assert [m.name for m in ms] == ["metric.1"]
    assert [p.as_int for p in ms[0].sum.data_points] == [1, 2]
    assert h.metric("otelcol_processor_filter_datapoints_filtered_total", {"filter": "filter"}) == 3


async def test_metric_and_log_record_contexts() -> None:
    m = Harness(factory, {"metrics": {"metric": ['name == "metric.1"']}}, Signal.METRICS)
    out = await m.run(metrics((1, 1)))
    assert [x.name for x in out.resource_metrics[0].scope_metrics[0].metrics] == ["metric.0"]
    lg = Harness(factory, {"logs": {"log_record": ['body == "line 0"']}}, Signal.LOGS)
    out = await lg.run(logs(3))
    bodies = [r.body.string_value for r in out.resource_logs[0].scope_logs[0].log_records]
    assert bodies == ["line 1", "line 2"]
    assert lg.metric("otelcol_processor_filter_logs_filtered_total", {"filter": "filter"}) == 1


async def test_flat_conditions_infer_their_context() -> None:
    h = Harness(factory, {"trace_conditions": ['span.name == "span-0"']})
    assert names(await h.run(traces(2))) == ["span-1"]
    groups = Harness(
        factory,
        {
            "log_conditions": [
                {"context": "log", "conditions": ['body == "line 1"']},
                {"conditions": ['resource.attributes["service.name"] == "other"']},
            ]
        },
        Signal.LOGS,
    )
    out = await groups.run(logs(2))
    assert [r.body.string_value for r in out.resource_logs[0].scope_logs[0].log_records] == [
        "line 0"
    ]


async def test_error_mode_propagate_refuses_the_batch() -> None:
    bad = 'attributes["index"] / 0 == 1'
    h = Harness(factory, {"error_mode": "propagate", "traces": {"span": [bad]}})
    with pytest.raises(PermanentError):
        await h.run(traces(1))
    ignoring = Harness(factory, {"traces": {"span": [bad]}})  # ignore is the default
    assert names(await ignoring.run(traces(2))) == ["span-0", "span-1"]


def marked() -> object:
    request = traces(3)
    request.resource_spans[0].scope_spans[0].spans[0].attributes.append(kv("keep", "yes-1"))
    return request


async def test_legacy_span_include_exclude() -> None:
    h = Harness(
        factory,
        {
            "spans": {
                "include": {
                    "match_type": "regexp",
                    "services": ["^sv"],
                    "span_names": ["span-[01]"],
                },
                "exclude": {"match_type": "strict", "attributes": [{"key": "keep", "value": "no"}]},
            }
        },
    )
    assert names(await h.run(marked())) == ["span-0", "span-1"]
    regexp = Harness(
        factory,
        {
            "spans": {
                "exclude": {
                    "match_type": "regexp",
                    "attributes": [{"key": "keep", "value": "^yes"}],
                    "libraries": [{"name": "test-.*"}],
                }
            }
        },
    )
    assert names(await regexp.run(marked())) == ["span-1", "span-2"]


async def test_legacy_log_and_metric_include_exclude() -> None:
    lg = Harness(
        factory,
        {
            "logs": {
                "include": {"match_type": "regexp", "bodies": ["line [01]"]},
                "exclude": {"severity_number": {"min": "WARN"}},
            }
        },
        Signal.LOGS,
    )
    request = logs(3)
    request.resource_logs[0].scope_logs[0].log_records[1].severity_number = 13
    out = await lg.run(request)
    assert [r.body.string_value for r in out.resource_logs[0].scope_logs[0].log_records] == [
        "line 0"
    ]
    m = Harness(
        factory,
        {
            "metrics": {
                "exclude": {
                    "match_type": "strict",
                    "metric_names": ["metric.0"],
                    "resource_attributes": [{"key": "service.name", "value": "svc"}],
                }
            }
        },
        Signal.METRICS,
    )
    out = await m.run(metrics((1, 1)))
    assert [x.name for x in out.resource_metrics[0].scope_metrics[0].metrics] == ["metric.1"]


def test_validation() -> None:
    problems = problems_of(
        factory,
        {
            "traces": {"span": ['name == "x"', "name =="]},
            "trace_conditions": ['span.name == "y"'],
            "metrics": {
                "include": {"match_type": "strict", "metric_names": ["x"]},
                "metric": ['name == "x"'],
            },
            "logs": {"include": {"bodies": ["x"]}},
            "log_conditions": ['log.body == "x"', {"conditions": ["x"]}],
            "spans": {"include": {"match_type": "regexp", "span_names": ["("]}},
        },
    )
    assert "column 8" in problems["traces.span[1]"]
    assert "cannot be used together" in problems["trace_conditions"]
    assert "include/exclude cannot be used together" in problems["metrics"]
    assert "required" in problems["logs.include.match_type"]
    assert "not both" in problems["log_conditions"]
    assert "invalid regular expression" in problems["spans.include.span_names[0]"]
    wrong = problems_of(
        factory, {"spans": {"include": {"match_type": "strict", "log_bodies": ["x"]}}}
    )
    assert "does not apply" in wrong["spans.include.log_bodies"]
    expr = problems_of(factory, {"metrics": {"exclude": {"match_type": "expr"}}})
    assert "expr match type is not supported" in expr["metrics.exclude.match_type"]
    empty = problems_of(factory, {"spans": {"include": {"match_type": "strict"}}})
    assert "at least one property" in empty["spans.include"]
    groups = problems_of(
        factory, {"metric_conditions": [{"context": "span", "conditions": ["name == 1"]}, {}]}
    )
    assert "cannot be used with metrics" in groups["metric_conditions[0].conditions"]
    assert "at least one condition" in groups["metric_conditions[1].conditions"]
