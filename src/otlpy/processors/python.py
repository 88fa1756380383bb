"""The ``python`` processor: run a Python function of yours on every batch, no build step.

``function: "mypkg.scrub:process"`` names a function taking a :class:`Telemetry` view of the
batch (see :mod:`otlpy.processors.python_view`); it may be a plain function or a coroutine
function. It changes items in place through the view and drops them with ``item.drop()``;
what it returns is ignored. The module is imported when the collector is built.

``error_mode`` says what an exception from the function does: ``propagate`` (the default)
refuses the batch (an otlpy ``RetryableError`` or ``PermanentError`` raised by the function is
passed on as it is, anything else becomes a ``PermanentError``); ``ignore`` logs it (at most
once every ten seconds) and passes the batch on with the changes made before the exception, but
without its drops; ``silent`` does the same without logging.
"""

from __future__ import annotations

import importlib
import inspect
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from otlpy.component import Factory, Kind, Settings
from otlpy.consumer import Consumer
from otlpy.errors import ConfigError, ConfigProblem, OtlpyError, PermanentError
from otlpy.pdata import Batch, Signal
from otlpy.processors.helper import FunctionProcessor
from otlpy.processors.ottl_config import ErrorModeName
from otlpy.processors.python_view import (
    Attributes,
    DataPoint,
    LogRecord,
    Resource,
    Scope,
    Span,
    Telemetry,
)

__all__ = [
    "Attributes",
    "DataPoint",
    "LogRecord",
    "PythonConfig",
    "Resource",
    "Scope",
    "Span",
    "Telemetry",
    "factory",
    "load_function",
]

_LOG_EVERY = 10.0


@dataclass(frozen=True, kw_only=True)
class PythonConfig:
    """Settings of the python processor."""

    #: ``module.path:function`` (``module.path:Class.method`` works too); empty passes data on
    function: str = ""
    error_mode: ErrorModeName = "propagate"

    def validate(self) -> list[ConfigProblem]:
        if not self.function:
            return []
        module, sep, name = self.function.partition(":")
        if not sep or not module or not name:
            return [
                ConfigProblem("function", 'expected "module.path:function", e.g. "mypkg.mod:fn"')
            ]
        parts = [*module.split("."), *name.split(".")]
        if not all(part.isidentifier() for part in parts):
            return [ConfigProblem("function", f"{self.function!r} is not a valid import path")]
        return []


def load_function(spec: str) -> Callable[[Telemetry], Any]:
    """Import ``module:function``; raises :class:`ConfigError` when that fails."""
    module_name, _, name = spec.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
        for part in name.split("."):
            target = getattr(target, part)
    except Exception as exc:  # an import runs user code: any error means "cannot load"
        raise ConfigError(
            [ConfigProblem("function", f"cannot load {spec!r}: {type(exc).__name__}: {exc}")]
        ) from exc
    if not callable(target):
        raise ConfigError([ConfigProblem("function", f"{spec!r} is not callable")])
    return target  # type: ignore[no-any-return]


def create(settings: Settings, config: PythonConfig, next_consumer: Consumer) -> Any:
    """One python processor for the pipeline ``settings.signal``."""
    signal = settings.signal or Signal.TRACES
    if not config.function:
        settings.logger.warning("python processor %s has no function: data passes", settings.id)

        async def passthrough(batch: Batch) -> Batch | None:
            return batch

        return FunctionProcessor(passthrough, next_consumer, mutates_data=False)
    fn = load_function(config.function)
    is_async = inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
        getattr(fn, "__call__", None)  # noqa: B004 - async callable objects
    )
    mode = config.error_mode
    state = {"last_log": 0.0, "failures": 0}

    def failed(exc: Exception) -> None:
        if mode == "propagate":
            if isinstance(exc, OtlpyError):
                raise exc
            raise PermanentError(
                f"python processor {settings.id}: {config.function} raised "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        state["failures"] += 1
        now = time.monotonic()
        if mode == "ignore" and now - state["last_log"] >= _LOG_EVERY:
            settings.logger.warning(
                "%s raised %s: %s (%d failures since last report); the batch passes on",
                config.function,
                type(exc).__name__,
                exc,
                state["failures"],
            )
            state["last_log"] = now
            state["failures"] = 0

    async def process(batch: Batch) -> Batch | None:
        view = Telemetry(signal, batch.mutable())
        try:
            result = fn(view)
            if is_async or inspect.isawaitable(result):
                await result
        except Exception as exc:
            failed(exc)
            return batch
        view._apply_drops()
        return batch

    return FunctionProcessor(process, next_consumer, mutates_data=True)


factory = Factory(
    type="python",
    kind=Kind.PROCESSOR,
    config=PythonConfig,
    create=create,
    description="runs a Python function on each batch",
    stability="alpha",
)
