"""Choosing between the compiled (mypyc) and the pure-Python forms of the wire codec's modules.

A wheel built from this repository carries C extensions of the hot modules beside their sources
(see ``hatch_build.py``); Python prefers an extension when both exist. This finder steps in first
for those modules and loads the source instead when

- ``OTLPY_PURE_PYTHON=1`` is set (to compare, to debug, or to measure coverage of the sources), or
- the extension is older than its source: in a source checkout, an edited module must not be
  shadowed by the build of its previous text.

Import this before any of the modules it governs (``otlpy.wire`` does, first thing).
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

__all__ = ["COMPILABLE", "describe", "install", "is_compiled"]

#: the modules the build compiles (``[tool.hatch.build.hooks.custom] compile`` in pyproject)
COMPILABLE = frozenset(
    {
        "otlpy.wire.protobuf_edit",
        "otlpy.wire.protobuf_json",
        "otlpy.wire.protobuf_scan",
        "otlpy.wire.protobuf_writer",
        "otlpy.wire.sdk_attributes",
        "otlpy.wire.sdk_grouping",
        "otlpy.wire.sdk_logs",
        "otlpy.wire.sdk_metrics",
        "otlpy.wire.sdk_traces",
    }
)
_HERE = Path(__file__).resolve().parent
# an extension written within this many seconds before its source counts as built from it
# (installers write both files in the same moment, in no particular order)
_SLACK_SECONDS = 2.0


def _extension(stem: str, directory: Path = _HERE) -> Path | None:
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        path = directory / f"{stem}{suffix}"
        if path.exists():
            return path
    return None


def _pure_python_asked() -> bool:
    return os.environ.get("OTLPY_PURE_PYTHON", "") not in ("", "0")


def _stale(stem: str, extension: Path) -> bool:
    source = extension.parent / f"{stem}.py"
    try:
        return source.stat().st_mtime > extension.stat().st_mtime + _SLACK_SECONDS
    except OSError:  # no source beside it: nothing to be stale against
        return False


def _use_source(stem: str) -> bool:
    if _pure_python_asked():
        return True
    extension = _extension(stem)
    # without an extension the normal machinery finds the source anyway
    return extension is not None and _stale(stem, extension)


class _SourceFirst:
    """A meta-path finder that answers only for the compilable modules that should run as source."""

    @staticmethod
    def find_spec(
        name: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if name not in COMPILABLE:
            return None
        stem = name.rpartition(".")[2]
        if not _use_source(stem):
            return None
        return importlib.util.spec_from_file_location(name, _HERE / f"{stem}.py")


def install() -> None:
    """Put the finder in front of the import system (once)."""
    if not any(isinstance(finder, _SourceFirst) for finder in sys.meta_path):
        sys.meta_path.insert(0, _SourceFirst())


def is_compiled(name: str) -> bool:
    """Whether the module ``name`` (imported already or now) runs as a compiled extension."""
    module = sys.modules.get(name) or importlib.import_module(name)
    origin = getattr(module, "__file__", None) or ""
    return not origin.endswith(".py")


def describe() -> str:
    """How the wire codec runs, in a phrase for ``otlpy version``."""
    if _pure_python_asked():
        return "pure Python (OTLPY_PURE_PYTHON is set)"
    stems = sorted(name.rpartition(".")[2] for name in COMPILABLE)
    extensions = {stem: _extension(stem) for stem in stems}
    missing = [stem for stem, path in extensions.items() if path is None]
    stale = [stem for stem, path in extensions.items() if path is not None and _stale(stem, path)]
    if len(missing) == len(stems):
        return "pure Python (not compiled when installed)"
    if missing or stale:
        return (
            f"compiled, except {', '.join(missing + stale)} (older than the source or missing: "
            "reinstall to compile again)"
        )
    return "compiled (mypyc)"
