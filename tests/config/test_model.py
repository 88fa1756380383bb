from __future__ import annotations

from pathlib import Path

import pytest

from otlpy.component import ComponentID
from otlpy.config import PipelineID, load
from otlpy.config.model import MetricsTelemetryConfig, build
from otlpy.errors import ConfigError
from otlpy.pdata import Signal
from otlpy.processors.batch import BatchConfig

TESTDATA = Path(__file__).parent / "testdata"

pytestmark = pytest.mark.usefixtures("test_components")


def problems_of(name: str) -> dict[str, str]:
    with pytest.raises(ConfigError) as info:
        load(str(TESTDATA / name))
    return {p.path: p.message for p in info.value.problems}


def test_minimal_config() -> None:
    config = load(str(TESTDATA / "good_minimal.yaml"))
    assert list(config.service.pipelines) == [PipelineID(Signal.TRACES)]
    pipe = config.service.pipelines[PipelineID(Signal.TRACES)]
    assert pipe.receivers == (ComponentID("source"),)
    assert pipe.exporters == (ComponentID("sink"),)
    assert config.service.telemetry.metrics.endpoints() == [("localhost", 8888)]


def test_full_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEALTH_ENDPOINT", "127.0.0.1:0")
    config = load(str(TESTDATA / "good_full.yaml"))
    assert config.processors[ComponentID("batch")] == BatchConfig(
        timeout=0.5, send_batch_size=100, send_batch_max_size=200
    )
    assert config.extensions[ComponentID("health_check")].endpoint == "127.0.0.1:0"
    assert set(map(str, config.service.pipelines)) == {"traces", "traces/2", "metrics", "logs"}
    assert config.service.pipelines[PipelineID(Signal.TRACES, "2")].processors == (
        ComponentID("batch", "fast"),
        ComponentID("batch"),
    )
    assert config.service.telemetry.logs.level == "debug"
    assert config.service.telemetry.metrics.endpoints() == [("127.0.0.1", 8888)]


def test_every_error_is_reported_with_its_path() -> None:
    problems = problems_of("bad_everything.yaml")
    expected = {
        "surprise": "unknown top-level key",
        "receivers.unused_source_type": "unknown receiver type 'unused_source_type'",
        "receivers.source/unused": "not used in any pipeline",
        "processors.batch.timeout": "invalid duration",
        "processors.batch.send_batch_size": "must not be negative",
        "processors.batch.colour": "unknown key",
        "exporters.sink.mutates_data": "expected bool",
        "exporters.bad id!": "invalid component type",
        "extensions.health_check.endpoint": "expected host:port",
        "service.extensions[1]": "extension pprof is not defined",
        "service.pipelines.traces.receivers[1]": "listed twice",
        "service.pipelines.traces.processors[1]": "processor memory_limiter is not defined",
        "service.pipelines.traces.exporters[1]": "exporter missing is not defined",
        "service.pipelines.spans": "unknown pipeline signal 'spans'",
        "service.pipelines.logs.receivers": "a pipeline needs a receiver",
        "service.pipelines.logs.exporters": "a pipeline needs an exporter",
        "service.unknown_service_key": "unknown key",
    }
    for path, fragment in expected.items():
        assert path in problems, f"{path} not reported; got {sorted(problems)}"
        assert fragment in problems[path], (path, problems[path])
    assert len(problems) == len(expected), sorted(set(problems) - set(expected))


def test_wrong_section_types() -> None:
    problems = problems_of("bad_types.yaml")
    assert "expected a mapping" in problems["receivers"]
    assert "expected a mapping" in problems["service.pipelines"]


def test_service_needs_pipelines() -> None:
    with pytest.raises(ConfigError) as info:
        build({"service": {}})
    assert [p.path for p in info.value.problems] == ["service.pipelines"]


def test_metrics_level_none_turns_endpoint_off() -> None:
    assert MetricsTelemetryConfig(level="none").endpoints() == []
    assert MetricsTelemetryConfig(address="0.0.0.0:9999").endpoints() == [("0.0.0.0", 9999)]


def test_bad_telemetry_settings() -> None:
    with pytest.raises(ConfigError) as info:
        build(
            {
                "receivers": {"source": {}},
                "exporters": {"sink": {}},
                "service": {
                    "telemetry": {
                        "metrics": {
                            "address": "nope",
                            "level": "loud",
                            "readers": [{"periodic": {}}],
                        },
                        "logs": {"level": "chatty"},
                    },
                    "pipelines": {"traces": {"receivers": ["source"], "exporters": ["sink"]}},
                },
            }
        )
    paths = {p.path for p in info.value.problems}
    assert paths == {
        "service.telemetry.metrics.address",
        "service.telemetry.metrics.level",
        "service.telemetry.metrics.readers[0].periodic",
        "service.telemetry.logs.level",
    }


def test_pipeline_id_parsing() -> None:
    assert str(PipelineID.parse("logs/x")) == "logs/x"
    with pytest.raises(ValueError):
        PipelineID.parse("logs/")
    with pytest.raises(ValueError):
        ComponentID.parse("otlp/")
    with pytest.raises(ValueError):
        ComponentID.parse("")


def test_an_unknown_type_lists_the_available_ones_and_is_reported_once() -> None:
    with pytest.raises(ConfigError) as info:
        build(
            {
                "receivers": {"source": {}, "prometheus": {"config": {}}},
                "exporters": {"sink": {}, "prometheus/x": {}},
                "extensions": {"pprof": {}},
                "service": {
                    "extensions": ["pprof"],
                    "pipelines": {
                        "metrics": {
                            "receivers": ["source", "prometheus"],
                            "exporters": ["sink", "prometheus/x"],
                        }
                    },
                },
            }
        )
    problems = {p.path: p.message for p in info.value.problems}
    # the definitions are refused; the places that use them are not reported again
    assert sorted(problems) == [
        "exporters.prometheus/x",
        "extensions.pprof",
        "receivers.prometheus",
    ]
    message = problems["receivers.prometheus"]
    assert message.startswith("unknown receiver type 'prometheus' (available: ")
    assert "otlp" in message and "source" in message and "`otlpy components`" in message


@pytest.mark.parametrize("data", [{}, {"receivers": {"source": {}}, "exporters": {"sink": {}}}])
def test_a_config_without_service_needs_pipelines(data: dict[str, object]) -> None:
    """As in the Collector: an empty file is not a collector that silently does nothing."""
    with pytest.raises(ConfigError) as info:
        build(data)
    problems = {p.path: p.message for p in info.value.problems}
    assert problems["service.pipelines"] == "at least one pipeline is required"
