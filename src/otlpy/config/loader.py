"""Read collector config files: YAML, merged in order, with ``${env:VAR}`` expansion.

Expansion follows the Collector: ``${env:NAME}``, ``${env:NAME:-default}``, the short
``${NAME}`` form, and ``$$`` for a literal ``$``. A value that is exactly one reference takes
the type the variable's text has in YAML (``${env:PORT}`` with ``PORT=4317`` is the int 4317);
references inside longer strings are substituted as text. Undefined variables without a default
expand to the empty string, as in the Collector, and are reported when the result is invalid.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from otlpy.errors import ConfigError, ConfigProblem

__all__ = ["expand", "load_files", "merge"]

_REF = re.compile(r"\$\$|\$\{(?:env:)?([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_BAD_REF = re.compile(r"\$\{([^}]*)\}")


def _lookup(match: re.Match[str], environ: Mapping[str, str]) -> str:
    if match.group(0) == "$$":
        return "$"
    name, default = match.group(1), match.group(2)
    value = environ.get(name)
    if value is None or (value == "" and default is not None):
        return default if default is not None else ""
    return value


def _expand_str(
    text: str, path: str, environ: Mapping[str, str], problems: list[ConfigProblem]
) -> Any:
    whole = _REF.fullmatch(text)
    if whole is not None and whole.group(0) != "$$":
        raw = _lookup(whole, environ)
        try:
            return yaml.safe_load(raw) if raw else raw
        except yaml.YAMLError:
            return raw
    out = _REF.sub(lambda m: _lookup(m, environ), text)
    for bad in _BAD_REF.finditer(_REF.sub("", text)):
        problems.append(ConfigProblem(path, f"unsupported reference ${{{bad.group(1)}}}"))
    return out


def expand(
    data: Any, environ: Mapping[str, str] | None = None, path: str = ""
) -> tuple[Any, list[ConfigProblem]]:
    """Expand environment references in every string of ``data``."""
    env = os.environ if environ is None else environ
    problems: list[ConfigProblem] = []

    def walk(node: Any, where: str) -> Any:
        if isinstance(node, str):
            return _expand_str(node, where, env, problems)
        if isinstance(node, dict):
            return {k: walk(v, f"{where}.{k}" if where else str(k)) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v, f"{where}[{i}]") for i, v in enumerate(node)]
        return node

    return walk(data, path), problems


def _nest(node: Any) -> Any:
    """Keys holding ``::`` spelled out as nested mappings, as the Collector reads them.

    ``{"exporters::debug::verbosity": "detailed"}`` is ``{"exporters": {"debug": {"verbosity":
    "detailed"}}}``: the Collector's key delimiter, most useful in ``--config yaml:...``.
    """
    if isinstance(node, list):
        return [_nest(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[Any, Any] = {}
    for raw_key, raw_value in node.items():
        key, value = raw_key, _nest(raw_value)
        if isinstance(raw_key, str) and "::" in raw_key:
            key, *rest = raw_key.split("::")
            for part in reversed(rest):
                value = {part: value}
        out[key] = merge(out[key], value) if key in out else value
    return out


def merge(base: Any, override: Any) -> Any:
    """Deep-merge mappings (later files win); lists and scalars are replaced."""
    if isinstance(base, dict) and isinstance(override, dict):
        out = dict(base)
        for key, value in override.items():
            out[key] = merge(base[key], value) if key in base else value
        return out
    return override


def load_files(
    paths: Sequence[str | Path], environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Load, merge and expand config files; raises :class:`ConfigError` listing every problem.

    A ``yaml:`` prefixed argument is inline YAML, as the Collector's ``--config`` accepts, and
    keys holding ``::`` are nested paths (``yaml:processors::batch::timeout: 2s``).
    """
    merged: Any = {}
    problems: list[ConfigProblem] = []
    for source in paths:
        text_source = str(source)
        try:
            if text_source.startswith("yaml:"):
                data = yaml.safe_load(text_source[5:])
            else:
                data = yaml.safe_load(Path(text_source.removeprefix("file:")).read_text())
        except OSError as exc:
            problems.append(ConfigProblem("", f"cannot read {text_source}: {exc.strerror or exc}"))
            continue
        except yaml.YAMLError as exc:
            problems.append(ConfigProblem("", f"{text_source} is not valid YAML: {exc}"))
            continue
        if data is None:
            data = {}
        if not isinstance(data, dict):
            problems.append(ConfigProblem("", f"{text_source}: the top level must be a mapping"))
            continue
        merged = merge(merged, _nest(data))
    if problems:
        raise ConfigError(problems)
    expanded, problems = expand(merged, environ)
    if problems:
        raise ConfigError(problems)
    return dict(expanded)
