from __future__ import annotations

import logging

import pytest
from processor_kit import Harness, problems_of

from builders import logs, metrics, traces
from otlpy.errors import ConfigError, PermanentError, RetryableError
from otlpy.ottl import PMap
from otlpy.pdata import Signal
from otlpy.processors.python import Telemetry, factory


def attrs(message: object) -> dict[str, object]:
    return PMap(message.attributes).to_dict()  # type: ignore[attr-defined]


async def test_a_function_changes_and_drops_spans() -> None:
    h = Harness(factory, {"function": "userfuncs.scrub:scrub"})
    out = await h.run(traces(3))
    spans = out.resource_spans[0].scope_spans[0].spans
    assert [s.name for s in spans] == ["svc:span-0", "svc:span-2"]
    assert [attrs(s)["env"] for s in spans] == ["prod", "prod"]


async def test_an_async_function_on_logs() -> None:
    h = Harness(factory, {"function": "userfuncs.scrub:slow_upper"}, Signal.LOGS)
    out = await h.run(logs(2))
    records = out.resource_logs[0].scope_logs[0].log_records
    assert [(r.body.string_value, r.severity_text) for r in records] == [
        ("LINE 0", "WARN"),
        ("LINE 1", "WARN"),
    ]


async def test_metrics_and_dropping_everything() -> None:
    h = Harness(factory, {"function": "userfuncs.scrub:metrics"}, Signal.METRICS)
    out = await h.run(metrics((1, 2)))
    ms = out.resource_metrics[0].scope_metrics[0].metrics
    assert [m.name for m in ms] == ["metric.1"]
    assert attrs(ms[0].sum.data_points[0]) == {"point": 1, "metric": "metric.1"}
    gone = Harness(factory, {"function": "userfuncs.scrub:Methods.everything"})
    assert await gone.run(traces(2)) is None


async def test_error_modes(caplog: pytest.LogCaptureFixture) -> None:
    propagate = Harness(factory, {"function": "userfuncs.scrub:broken"})
    with pytest.raises(PermanentError, match="ValueError: boom"):
        await propagate.run(traces(1))
    retry = Harness(factory, {"function": "userfuncs.scrub:busy"})
    with pytest.raises(RetryableError):
        await retry.run(traces(1))
    with caplog.at_level(logging.WARNING):
        ignore = Harness(factory, {"function": "userfuncs.scrub:broken", "error_mode": "ignore"})
        out = await ignore.run(traces(2))
        await ignore.run(traces(1))
    # changes before the exception stay, its drops do not apply
    assert [attrs(s)["touched"] for s in out.resource_spans[0].scope_spans[0].spans] == [
        True,
        True,
    ]
    assert caplog.text.count("raised ValueError: boom") == 1  # rate limited
    silent = Harness(factory, {"function": "userfuncs.scrub:broken", "error_mode": "silent"})
    assert await silent.run(traces(1)) is not None


def test_loading_and_validation() -> None:
    problems = problems_of(factory, {"function": "no_colon"})
    assert "module.path:function" in problems["function"]
    assert "not a valid import path" in problems_of(factory, {"function": "a-b:c"})["function"]
    with pytest.raises(ConfigError, match="cannot load"):
        Harness(factory, {"function": "userfuncs.scrub:missing"})
    with pytest.raises(ConfigError, match="cannot load"):
        Harness(factory, {"function": "no_such_module_here:fn"})
    with pytest.raises(ConfigError, match="not callable"):
        Harness(factory, {"function": "userfuncs.scrub:NOT_CALLABLE"})


async def test_without_a_function_data_passes() -> None:
    h = Harness(factory, {})
    assert h.processor.capabilities.mutates_data is False
    assert await h.run(traces(1)) is not None


def test_views() -> None:
    request = traces(1)
    span_msg = request.resource_spans[0].scope_spans[0].spans[0]
    span_msg.kind = 2
    span_msg.status.code = 2
    view = Telemetry(Signal.TRACES, request)
    assert len(view) == 1
    assert [r.service_name for r in view.resources()] == ["svc"]
    assert list(view.logs()) == [] and list(view.data_points()) == []
    span = next(view.spans())
    assert (span.kind, span.status, span.scope.name, span.scope.version) == (
        "SERVER",
        "ERROR",
        "test-scope",
        "",
    )
    assert len(span.trace_id) == 32 and len(span.span_id) == 16 and span.parent_span_id == ""
    assert span.duration_ns == span.end_time_unix_nano - span.start_time_unix_nano == 1_000_000
    span.set_status("ok", "fine")
    assert span_msg.status.code == 1 and span_msg.status.message == "fine"
    a = span.attributes
    a["list"] = [1, {"k": b"v"}]
    a["index"] = "replaced"
    assert a.to_dict() == {"index": "replaced", "list": [1, {"k": b"v"}]}
    assert "list" in a and 5 not in a and len(a) == 2 and list(a) == ["index", "list"]
    del a["list"]
    with pytest.raises(KeyError):
        del a["list"]
    with pytest.raises(KeyError):
        a["absent"]
    with pytest.raises(TypeError):
        a[1] = 2  # type: ignore[index]
    assert "index" in repr(a)
    assert not span.dropped
    span.drop()
    assert span.dropped
    log_view = Telemetry(Signal.LOGS, logs(1))
    record = next(log_view.logs())
    record.body = {"a": 1}
    record.severity_number = 17
    assert (record.body, record.severity_number, record.trace_id, record.span_id) == (
        {"a": 1},
        17,
        "",
        "",
    )
    assert record.time_unix_nano > 0 and list(log_view.spans()) == []
    point = next(Telemetry(Signal.METRICS, metrics((1,))).data_points())
    assert (point.metric_type, point.value, point.time_unix_nano > 0) == ("gauge", 0, True)
