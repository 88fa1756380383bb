"""One test over every registered factory: defaults validate, lifecycle works."""

from __future__ import annotations

import logging
from collections.abc import Mapping

import pytest

from otlpy.component import ComponentID, Factory, Kind, Settings, factories
from otlpy.config.decode import decode
from otlpy.pdata import Signal
from otlpy.telemetry import SelfTelemetry
from otlpy.testing import SinkConsumer


def _unique() -> list[Factory]:
    seen: dict[tuple[Kind, str], Factory] = {}
    for factory in factories().values():
        seen.setdefault((factory.kind, factory.type), factory)
    return sorted(seen.values(), key=lambda f: (f.kind.value, f.type))


ALL = _unique()


def test_builtins_are_registered_through_entry_points() -> None:
    names = {(f.kind, f.type) for f in ALL}
    assert (Kind.PROCESSOR, "batch") in names
    assert (Kind.EXPORTER, "debug") in names
    assert (Kind.EXTENSION, "health_check") in names


def _create(factory: Factory, config: object) -> object:
    settings = Settings(
        id=ComponentID(factory.type),
        kind=factory.kind,
        telemetry=SelfTelemetry(),
        logger=logging.getLogger("test"),
        signal=Signal.TRACES,
        pipeline="traces",
    )
    if factory.kind is Kind.RECEIVER:
        consumers: Mapping[Signal, SinkConsumer] = {s: SinkConsumer() for s in factory.signals}
        return factory.create(settings, config, consumers)
    if factory.kind is Kind.PROCESSOR:
        return factory.create(settings, config, SinkConsumer())
    if factory.kind is Kind.CONNECTOR:
        return factory.create(settings, config, {"traces": SinkConsumer()})
    return factory.create(settings, config)


@pytest.mark.parametrize("factory", ALL, ids=lambda f: f"{f.kind.value}.{f.type}")
def test_default_config_validates(factory: Factory) -> None:
    config, problems = decode(factory.config, {})
    assert problems == []
    assert config == factory.default_config()
    assert factory.signals or factory.kind is Kind.EXTENSION


@pytest.mark.xdist_group("default-ports")
@pytest.mark.parametrize("factory", ALL, ids=lambda f: f"{f.kind.value}.{f.type}")
async def test_create_start_shutdown(factory: Factory) -> None:
    component = _create(factory, factory.default_config())
    await component.start(None)  # type: ignore[attr-defined]
    await component.shutdown()  # type: ignore[attr-defined]


@pytest.mark.parametrize("factory", ALL, ids=lambda f: f"{f.kind.value}.{f.type}")
async def test_shutdown_without_start(factory: Factory) -> None:
    component = _create(factory, factory.default_config())
    await component.shutdown()  # type: ignore[attr-defined]
