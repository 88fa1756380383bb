"""Fusing consecutive statements on one attribute map into one generated Python function.

Running five statements on an item costs, besides the upb reads and writes they make, a dozen
Python calls (each statement, its ``where``, the index's helpers). For the common editors the
compiler also records their work as a few lines of Python over the map's index (``kvs``,
``entries``, ``keys``); a group of statements whose work is known that way runs as one
function built with ``exec``, each statement in its own ``try`` so a failure still only skips
that statement. Only names made here and values handed over in a namespace go into the source
text: nothing from the statement text is pasted into code.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:  # contexts.common uses this module
    from otlpy.ottl.contexts.common import MapOp, TransformContext
    from otlpy.ottl.values import KeyIndex

__all__ = [
    "Source",
    "build",
    "fuse",
    "group_source",
    "indent",
    "render",
    "source_of",
    "with_source",
]

# Python lines doing a statement's work (with local names ``ctx``, ``kvs``, ``entries``,
# ``keys``), and the values its names stand for
Source = tuple[str, dict[str, Any]]

GroupRun = Callable[["TransformContext", "KeyIndex", Callable[[str, Exception], None]], None]

F = TypeVar("F", bound=Callable[..., Any])

_counter = itertools.count()
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def render(template: str, values: dict[str, Any]) -> Source:
    """Give the ``{name}`` placeholders of ``template`` names unique to this use, bound to
    ``values``."""
    n = next(_counter)
    names = {key: f"_{key}_{n}" for key in values}
    text = _PLACEHOLDER.sub(lambda m: names[m.group(1)], template)
    return text, {names[key]: value for key, value in values.items()}


def with_source(op: F, source: Source) -> F:
    """Record ``source`` as the Python doing what ``op`` does (for a condition: an
    expression giving what it gives)."""
    op.ottl_source = source  # type: ignore[attr-defined]
    return op


def source_of(fn: Callable[..., Any]) -> Source | None:
    """What :func:`with_source` recorded, or None."""
    found: Source | None = getattr(fn, "ottl_source", None)
    return found


def indent(text: str, by: str = "    ") -> str:
    return "".join(by + line if line.strip() else line for line in text.splitlines(True))


def group_source(ops: Sequence[tuple[MapOp, str]]) -> Source:
    """Lines running ``ops`` (with their statement texts, for errors) in order on the map's
    index (locals ``ctx``, ``index``, ``kvs``, ``entries``, ``keys`` and ``handle``), each in
    its own ``try``; ops without a recorded source are called."""
    lines: list[str] = []
    namespace: dict[str, Any] = {}
    for op, text in ops:
        source = source_of(op)
        if source is None:
            source = render("{op}(ctx, index)\n", {"op": op})
        body, names = source
        namespace.update(names)
        label, names = render("{text}", {"text": text})
        namespace.update(names)
        lines.append("try:")
        lines.append(indent(body.rstrip("\n")))
        lines.append("except Exception as exc:")
        lines.append(f"    handle({label}, exc)")
    return "\n".join(lines) + "\n", namespace


def build(code: str, namespace: dict[str, Any], name: str) -> Any:
    """Compile generated ``code`` and return the function ``name`` it defines."""
    exec(compile(code, "<ottl fused statements>", "exec"), namespace)  # noqa: S102 - see above
    return namespace[name]


def fuse(ops: Sequence[tuple[MapOp, str]]) -> GroupRun:
    """One function running ``ops`` (with their statement texts, for errors) in order on the
    map's index, calling the ones without a recorded source."""
    body, namespace = group_source(ops)
    code = (
        "def run(ctx, index, handle):\n"
        "    kvs = index.kvs\n"
        "    entries = index.entries\n"
        "    keys = index.keys\n" + indent(body)
    )
    run: GroupRun = build(code, namespace, "run")
    return run
