from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from otlpy.component import register, unregister
from otlpy.testing import sink_exporter_factory, source_receiver_factory

sys.path.insert(0, str(Path(__file__).parent))

SHARED = Path(__file__).resolve().parents[2] / "shared"


@pytest.fixture
def test_components() -> Iterator[None]:
    """Register the ``source`` receiver and ``sink`` exporter from otlpy.testing."""
    factories = [source_receiver_factory(), sink_exporter_factory()]
    for factory in factories:
        register(factory)
    yield
    for factory in factories:
        unregister(factory)


@pytest.fixture(autouse=True, scope="session")
def _data_directory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Components that default to ``./otlpy-data`` (the store exporter, the UI) use a
    temporary directory, not the working directory."""
    previous = os.environ.get("OTLPY_DATA")
    os.environ["OTLPY_DATA"] = str(tmp_path_factory.mktemp("otlpy-data"))
    yield
    if previous is None:
        os.environ.pop("OTLPY_DATA", None)
    else:
        os.environ["OTLPY_DATA"] = previous
