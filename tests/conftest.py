from __future__ import annotations

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
