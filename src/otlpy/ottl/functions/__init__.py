"""The standard OTTL function set: every editor and converter, by name.

Importing this package registers them all in :data:`FUNCTIONS`.
"""

from __future__ import annotations

from otlpy.ottl.functions import (  # noqa: F401  (imported to register their functions)
    converters,
    editors,
    grok,
    hashing,
    parsing,
    times,
    useragent,
    xml,
)
from otlpy.ottl.functions.spec import FUNCTIONS, FunctionDef, Param

__all__ = ["FUNCTIONS", "FunctionDef", "Param"]
