"""Entry points that cannot be loaded: the reason is kept and shown where the type is used."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from otlpy.cli import dispatch
from otlpy.component import (
    Kind,
    _entry_points_by_name,
    _load_entry_point,
    _load_failures,
    find_factory,
    load_failure,
)
from otlpy.config.model import build
from otlpy.errors import ConfigError

_METADATA = """\
Metadata-Version: 2.1
Name: fakeplug
Version: 1.0
Provides-Extra: fancy
Requires-Dist: no-such-module-xyz>=1; extra == "fancy"
"""

_ENTRY_POINTS = """\
[otlpy.components]
exporter.fancy = fakeplug_fancy:factory
receiver.plain = fakeplug_plain:factory
processor.broken = fakeplug_broken:factory
"""


@pytest.fixture
def fake_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """An installed distribution whose components need packages that are not there."""
    info = tmp_path / "fakeplug-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(_METADATA)
    (info / "entry_points.txt").write_text(_ENTRY_POINTS)
    (tmp_path / "fakeplug_fancy.py").write_text("import no_such_module_xyz\n")
    (tmp_path / "fakeplug_plain.py").write_text("import another_missing_abc.sub\n")
    (tmp_path / "fakeplug_broken.py").write_text("raise RuntimeError('boom')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    _forget_entry_points()
    yield
    _forget_entry_points()


def _forget_entry_points() -> None:
    """Make the next lookup find the installed entry points afresh."""
    _entry_points_by_name.cache_clear()
    _load_entry_point.cache_clear()
    _load_failures.clear()


@pytest.mark.usefixtures("fake_plugin")
def test_the_reason_names_the_missing_package_and_the_extra() -> None:
    assert find_factory(Kind.EXPORTER, "fancy") is None
    assert load_failure(Kind.EXPORTER, "fancy") == (
        "the Python package 'no_such_module_xyz' is not installed (pip install 'fakeplug[fancy]')"
    )
    assert load_failure(Kind.RECEIVER, "plain") == (
        "the Python package 'another_missing_abc' is not installed"
    )
    assert load_failure(Kind.PROCESSOR, "broken") == "RuntimeError: boom"
    assert load_failure(Kind.EXPORTER, "nothing_declares_this") is None
    assert find_factory(Kind.PROCESSOR, "batch") is not None  # the others still load


@pytest.mark.usefixtures("fake_plugin", "test_components")
def test_a_config_using_it_is_told_why_once() -> None:
    with pytest.raises(ConfigError) as info:
        build(
            {
                "receivers": {"source": {}},
                "exporters": {"fancy": {}},
                "service": {
                    "pipelines": {"traces": {"receivers": ["source"], "exporters": ["fancy"]}}
                },
            }
        )
    problems = {p.path: p.message for p in info.value.problems}
    assert problems == {
        "exporters.fancy": "exporter type 'fancy' is installed but cannot be loaded: the Python "
        "package 'no_such_module_xyz' is not installed (pip install 'fakeplug[fancy]')"
    }


@pytest.mark.usefixtures("fake_plugin")
def test_components_lists_what_is_not_available(capsys: pytest.CaptureFixture[str]) -> None:
    assert dispatch(["components"]) == 0
    out = capsys.readouterr().out
    assert "installed but not available:" in out
    assert "exporter.fancy  the Python package 'no_such_module_xyz' is not installed" in out
    assert "processor.broken  RuntimeError: boom" in out
