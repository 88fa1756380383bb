"""One test over every registered factory: defaults validate, lifecycle works."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from pathlib import Path

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


def _on_free_ports(config: object) -> object:
    """The config with every ``endpoint`` moved to 127.0.0.1 and a free port, so the test does
    not depend on the default ports being free on the machine that runs it."""
    if not dataclasses.is_dataclass(config) or isinstance(config, type):
        return config
    changes: dict[str, object] = {}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if f.name == "endpoint" and isinstance(value, str) and ":" in value:
            changes[f.name] = "127.0.0.1:0"
        elif dataclasses.is_dataclass(value):
            changes[f.name] = _on_free_ports(value)
    return dataclasses.replace(config, **changes)


@pytest.mark.parametrize("factory", ALL, ids=lambda f: f"{f.kind.value}.{f.type}")
async def test_create_start_shutdown(
    factory: Factory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # components that write files write them here
    component = _create(factory, _on_free_ports(factory.default_config()))
    await component.start(None)  # type: ignore[attr-defined]
    await component.shutdown()  # type: ignore[attr-defined]


@pytest.mark.parametrize("factory", ALL, ids=lambda f: f"{f.kind.value}.{f.type}")
async def test_shutdown_without_start(factory: Factory) -> None:
    component = _create(factory, factory.default_config())
    await component.shutdown()  # type: ignore[attr-defined]


def test_a_forwarding_config_imports_only_its_components() -> None:
    """Finding a component imports that component alone: a config without the store does not
    pay for DuckDB and pyarrow (about 65 MiB of memory)."""
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from otlpy.config import build\n"
        "build({'receivers': {'otlp': {'protocols': {'grpc': {}}}}, 'processors': {'batch': {}},"
        " 'exporters': {'otlp_grpc': {'endpoint': 'localhost:4317'}},"
        " 'service': {'pipelines': {'traces': {'receivers': ['otlp'], 'processors': ['batch'],"
        " 'exporters': ['otlp_grpc']}}}})\n"
        "print(sorted(m for m in ('duckdb', 'pyarrow', 'otlpy.store', 'otlpy.ottl') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
