from __future__ import annotations

from typing import Any

import pytest

from builders import batch, kv, logs, metrics, traces
from otlpy import client
from otlpy.component import ComponentID
from otlpy.config import build
from otlpy.errors import ConfigError, PermanentError
from otlpy.pdata import Batch, Signal
from otlpy.pipeline import Collector
from otlpy.testing import SinkConsumer

pytestmark = pytest.mark.usefixtures("test_components")


def config(
    routing: dict[str, Any], signal: str = "traces", outs: tuple[str, ...] = ("a", "b", "other")
) -> dict[str, Any]:
    pipelines: dict[str, Any] = {
        f"{signal}/in": {"receivers": ["source"], "exporters": ["routing"]}
    }
    for name in outs:
        pipelines[f"{signal}/{name}"] = {"receivers": ["routing"], "exporters": [f"sink/{name}"]}
    return {
        "receivers": {"source": {}},
        "exporters": {f"sink/{name}": {} for name in outs},
        "connectors": {"routing": routing},
        "service": {"telemetry": {"metrics": {"level": "none"}}, "pipelines": pipelines},
    }


async def run(cfg: dict[str, Any], sent: Batch) -> dict[str, list[Batch]]:
    collector = Collector(build(cfg))
    await collector.start()
    try:
        await collector.graph.receivers[ComponentID("source")].send(sent)  # type: ignore[attr-defined]
        return {
            cid.name: sink.batches
            for cid, sink in collector.graph.exporters.items()
            if isinstance(sink, SinkConsumer)
        }
    finally:
        await collector.shutdown()


def span_names(batches: list[Batch]) -> list[str]:
    return [
        s.name
        for b in batches
        for rs in b.message.resource_spans
        for ss in rs.scope_spans
        for s in ss.spans
    ]


async def test_routes_resources_by_condition() -> None:
    cfg = config(
        {
            "default_pipelines": ["traces/other"],
            "table": [
                {"condition": 'attributes["service.name"] == "svc0"', "pipelines": ["traces/a"]},
                {
                    "statement": 'route() where attributes["service.name"] == "svc1"',
                    "pipelines": ["traces/b", "traces/a"],
                },
            ],
        }
    )
    got = await run(cfg, Batch.from_message(Signal.TRACES, traces(1, resources=3)))
    assert span_names(got["a"]) == ["span-0", "span-1"]
    assert span_names(got["b"]) == ["span-1"]
    assert span_names(got["other"]) == ["span-2"]


async def test_unmatched_batches_pass_as_they_came() -> None:
    cfg = config(
        {
            "default_pipelines": ["traces/other"],
            "table": [{"condition": 'attributes["nope"] == 1', "pipelines": ["traces/a"]}],
        }
    )
    sent = Batch.decode(Signal.TRACES, traces(2).SerializeToString())
    got = await run(cfg, sent)
    assert got["other"] == [sent] and got["a"] == []


async def test_span_context_moves_spans_with_their_resource() -> None:
    cfg = config(
        {
            "default_pipelines": ["traces/other"],
            "table": [
                {"context": "span", "condition": 'name == "span-1"', "pipelines": ["traces/a"]},
                {"context": "span", "condition": "true", "pipelines": ["traces/b"]},
            ],
        }
    )
    got = await run(cfg, batch(Signal.TRACES, 3))
    assert span_names(got["a"]) == ["span-1"]
    assert span_names(got["b"]) == ["span-0", "span-2"]
    assert got["other"] == []
    resource = got["a"][0].message.resource_spans[0]
    assert resource.resource.attributes[0].value.string_value == "svc"
    assert resource.scope_spans[0].scope.name == "test-scope"


async def test_log_metric_and_datapoint_contexts() -> None:
    cfg = config(
        {
            "default_pipelines": ["logs/other"],
            "table": [{"context": "log", "condition": 'body == "line 1"', "pipelines": ["logs/a"]}],
        },
        "logs",
    )
    got = await run(cfg, Batch.from_message(Signal.LOGS, logs(3)))
    assert got["a"][0].items == 1 and got["other"][0].items == 2
    cfg = config(
        {
            "default_pipelines": ["metrics/other"],
            "table": [
                {
                    "context": "metric",
                    "condition": 'name == "metric.0"',
                    "pipelines": ["metrics/a"],
                },
                {
                    "context": "datapoint",
                    "condition": 'attributes["point"] == 1',
                    "pipelines": ["metrics/b"],
                },
            ],
        },
        "metrics",
    )
    got = await run(cfg, Batch.from_message(Signal.METRICS, metrics((2, 3))))
    assert got["a"][0].items == 2
    moved = got["b"][0].message.resource_metrics[0].scope_metrics[0].metrics
    assert [(m.name, m.sum.is_monotonic, len(m.sum.data_points)) for m in moved] == [
        ("metric.1", True, 1)
    ]
    assert got["other"][0].items == 2


async def test_request_context_reads_client_metadata() -> None:
    cfg = config(
        {
            "default_pipelines": ["traces/other"],
            "table": [
                {
                    "context": "request",
                    "condition": 'request["X-Tenant"] == "acme"',
                    "pipelines": ["traces/a"],
                },
                {
                    "context": "request",
                    "condition": 'request["x-tenant"] != "acme"',
                    "pipelines": ["traces/b"],
                },
            ],
        }
    )
    with client.using(client.ClientInfo("", {"x-tenant": ("acme",)})):
        got = await run(cfg, batch(Signal.TRACES, 2))
    assert got["a"][0].items == 2 and got["b"] == [] and got["other"] == []
    with client.using(client.ClientInfo("", {"x-tenant": ("ecorp",)})):
        got = await run(cfg, batch(Signal.TRACES, 2))
    assert got["b"][0].items == 2 and got["a"] == []


async def test_errors_propagate_or_go_to_default() -> None:
    table = [
        {"context": "span", "condition": 'attributes["index"] / 0 == 1', "pipelines": ["traces/a"]}
    ]
    with pytest.raises(PermanentError):
        await run(
            config({"table": table, "default_pipelines": ["traces/other"]}), batch(Signal.TRACES, 1)
        )
    got = await run(
        config({"table": table, "default_pipelines": ["traces/other"], "error_mode": "ignore"}),
        batch(Signal.TRACES, 2),
    )
    assert got["a"] == [] and sum(b.items for b in got["other"]) == 2


async def test_a_mutating_pipeline_gets_its_own_copy() -> None:
    cfg = config({"table": [{"condition": "true", "pipelines": ["traces/a", "traces/b"]}]})
    cfg["processors"] = {"transform": {"trace_statements": ['set(span.name, "changed")']}}
    cfg["service"]["pipelines"]["traces/a"]["processors"] = ["transform"]
    got = await run(cfg, batch(Signal.TRACES, 1))
    assert span_names(got["a"]) == ["changed"]
    assert span_names(got["b"]) == ["span-0"]


async def test_empty_table_forwards_to_every_pipeline() -> None:
    got = await run(config({}, outs=("a", "b")), batch(Signal.TRACES, 1))
    assert got["a"][0].items == 1 and got["b"][0].items == 1


def test_validation() -> None:
    with pytest.raises(ConfigError) as info:
        build(
            config(
                {
                    "match_once": False,
                    "default_pipelines": ["nope"],
                    "table": [
                        {"condition": "x", "statement": "y", "pipelines": ["traces/a"]},
                        {"condition": 'attributes["a"] ==', "pipelines": ["traces/a"]},
                        {
                            "statement": 'set(attributes["a"], 1) where true',
                            "pipelines": ["traces/a"],
                        },
                        {"statement": "route() where", "pipelines": ["traces/a"]},
                        {"statement": "route() where name == ", "pipelines": ["traces/a"]},
                        {"context": "request", "condition": "x == 1", "pipelines": ["traces/a"]},
                        {
                            "context": "request",
                            "statement": "route() where true",
                            "pipelines": ["traces/a"],
                        },
                        {"context": "spam", "condition": "true", "pipelines": []},
                        {"condition": "true", "pipelines": ["bad/x"]},
                    ],
                }
            )
        )
    problems = {p.path: p.message for p in info.value.problems}
    base = "connectors.routing"
    assert "no longer supported" in problems[f"{base}.match_once"]
    assert f"{base}.default_pipelines[0]" in problems
    assert "exactly one" in problems[f"{base}.table[0]"]
    assert "column" in problems[f"{base}.table[1].condition"]
    assert "route() where" in problems[f"{base}.table[2].statement"]
    assert "column 14" in problems[f"{base}.table[3].statement"]
    assert "column 23" in problems[f"{base}.table[4].statement"]
    assert "request[" in problems[f"{base}.table[5].condition"]
    assert "takes a condition" in problems[f"{base}.table[6].statement"]
    assert "unknown context" in problems[f"{base}.table[7].context"]
    assert "at least one pipeline" in problems[f"{base}.table[7].pipelines"]
    assert f"{base}.table[8].pipelines[0]" in problems


def test_create_time_checks() -> None:
    unfed = config({"table": [{"condition": "true", "pipelines": ["traces/zzz"]}]})
    with pytest.raises(ConfigError, match="does not take data from this connector"):
        Collector(build(unfed))
    wrong = config({"table": [{"context": "log", "condition": "true", "pipelines": ["traces/a"]}]})
    with pytest.raises(ConfigError, match="cannot route traces"):
        Collector(build(wrong))


def test_unused_kv_helper() -> None:
    assert kv("a", 1).value.int_value == 1
