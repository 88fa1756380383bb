from __future__ import annotations

import logging

import pytest

from builders import batch
from otlpy.component import ComponentID, Kind, Settings
from otlpy.exporters.debug import DebugConfig, DebugExporter
from otlpy.pdata import Signal
from otlpy.telemetry import SelfTelemetry


def exporter(**kwargs: object) -> DebugExporter:
    settings = Settings(
        id=ComponentID("debug"),
        kind=Kind.EXPORTER,
        telemetry=SelfTelemetry(),
        logger=logging.getLogger("test.debug"),
    )
    return DebugExporter(settings, DebugConfig(**kwargs))  # type: ignore[arg-type]


@pytest.mark.parametrize("signal", list(Signal))
async def test_verbosities(signal: Signal, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="test.debug"):
        await exporter(verbosity="basic").consume(batch(signal, 2))
        assert f"{signal.value}: 1 resources, 2 {signal.item_name}" in caplog.text
        caplog.clear()
        await exporter(verbosity="normal").consume(batch(signal, 2))
        assert "svc" in caplog.text
        caplog.clear()
        await exporter(verbosity="detailed").consume(batch(signal, 2))
        assert "service.name" in caplog.text


async def test_sampling(caplog: pytest.LogCaptureFixture) -> None:
    exp = exporter(sampling_initial=1, sampling_thereafter=1000)
    await exp.start(None)  # type: ignore[arg-type]
    with caplog.at_level(logging.INFO, logger="test.debug"):
        for _ in range(5):
            await exp.consume(batch(Signal.TRACES, 1))
    assert 1 <= caplog.text.count("traces:") < 5
    await exp.shutdown()


def test_validation() -> None:
    problems = DebugConfig(sampling_initial=-1, sampling_thereafter=0).validate()
    assert {p.path for p in problems} == {"sampling_initial", "sampling_thereafter"}
