"""The ``routing`` connector: send telemetry to pipelines chosen by OTTL conditions.

Each route of the ``table`` has a ``condition`` (or a ``statement`` ``route() where <condition>``)
evaluated in its ``context`` (``resource`` by default, or ``span``, ``metric``, ``datapoint``,
``log``, ``request``) and the ``pipelines`` that get what matches. Routes are tried in order and
an item goes to the first route it matches (the Collector's behaviour since ``match_once``
was removed); what matches none goes to ``default_pipelines``. Items matched in an item context
travel with copies of their resource and scope. ``request`` conditions compare a header or gRPC
metadata value of the request (kept by the receiver's ``include_metadata``):
``request["X-Tenant"] == "acme"``. With ``error_mode: propagate`` (the default) a condition that
fails refuses the batch; with ``ignore``/``silent`` the item goes to the default pipelines.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.proto.metrics.v1.metrics_pb2 import Metric

from otlpy import client
from otlpy.component import Factory, Host, Kind, Settings
from otlpy.config.model import PipelineID
from otlpy.consumer import Capabilities, Consumer
from otlpy.errors import ConfigError, ConfigProblem, PermanentError, RetryableError
from otlpy.ottl import ConditionSequence, OttlRuntimeError, TransformContext
from otlpy.ottl.grammar import Call, OttlSyntaxError, parse_statement
from otlpy.ottl.pruning import prune
from otlpy.pdata import Batch, Signal, request_type
from otlpy.processors.ottl_config import SIGNAL_CONTEXTS, ErrorModeName, compile_conditions

__all__ = ["RouteConfig", "RoutingConfig", "RoutingConnector", "factory"]

_CONTEXTS = ("resource", "span", "metric", "datapoint", "log", "request")
_REQUEST = re.compile(r'^\s*request\[\s*"([^"]+)"\s*\]\s*(==|!=)\s*"([^"]*)"\s*$')
_TOP = {
    Signal.TRACES: ("resource_spans", "scope_spans", "spans"),
    Signal.METRICS: ("resource_metrics", "scope_metrics", "metrics"),
    Signal.LOGS: ("resource_logs", "scope_logs", "log_records"),
}


def _statement_condition(text: str) -> tuple[str, int]:
    """The condition of ``route() where <condition>`` and its offset in ``text``."""
    stmt = parse_statement(text)
    editor = stmt.editor
    if not isinstance(editor, Call) or editor.name != "route" or editor.args:
        raise OttlSyntaxError('a routing statement must be "route() where <condition>"', text, 0)
    if stmt.where is None:
        raise OttlSyntaxError('a routing statement needs a "where" condition', text, len(text))
    where = text.find("where", editor.pos) + len("where")
    return text[where:], where


@dataclass(frozen=True, kw_only=True)
class RouteConfig:
    """One route: a condition (or statement), its context and the pipelines it feeds."""

    context: str = "resource"
    condition: str = ""
    statement: str = ""
    pipelines: list[str] = field(default_factory=list)

    def condition_text(self) -> tuple[str, int]:
        if self.statement:
            return _statement_condition(self.statement)
        return self.condition, 0

    def validate(self) -> list[ConfigProblem]:
        problems: list[ConfigProblem] = []
        context = self.context.lower()
        if context not in _CONTEXTS:
            problems.append(
                ConfigProblem(
                    "context", f"unknown context {self.context!r} ({', '.join(_CONTEXTS)})"
                )
            )
        if bool(self.condition) == bool(self.statement):
            problems.append(ConfigProblem("", 'set exactly one of "condition" and "statement"'))
        if not self.pipelines:
            problems.append(ConfigProblem("pipelines", "at least one pipeline is needed"))
        for i, pid in enumerate(self.pipelines):
            try:
                PipelineID.parse(pid)
            except ValueError as exc:
                problems.append(ConfigProblem(f"pipelines[{i}]", str(exc)))
        if problems:
            return problems
        where = "statement" if self.statement else "condition"
        if context == "request":
            if self.statement:
                return [ConfigProblem("statement", "the request context takes a condition")]
            if not _REQUEST.match(self.condition):
                return [
                    ConfigProblem(
                        "condition",
                        'request conditions must read request["key"] == "value" (or !=)',
                    )
                ]
            return []
        try:
            text, offset = self.condition_text()
        except OttlSyntaxError as exc:
            return [ConfigProblem(where, f"invalid statement (column {exc.column}): {exc.message}")]
        _, found = compile_conditions([text], context, "propagate", None, where)
        return [_shift(p, where, offset) for p in found]


def _shift(problem: ConfigProblem, where: str, offset: int) -> ConfigProblem:
    message = problem.message
    match = re.match(r"invalid condition \(column (\d+)\)", message)
    if match and offset:
        column = int(match.group(1)) + offset
        message = f"invalid statement (column {column})" + message[match.end() :]
    return ConfigProblem(where, message)


@dataclass(frozen=True, kw_only=True)
class RoutingConfig:
    """The Collector's routing connector settings."""

    table: list[RouteConfig] = field(default_factory=list)
    default_pipelines: list[str] = field(default_factory=list)
    error_mode: ErrorModeName = "propagate"
    #: removed from the Collector in v0.120 (every route matches once); ``true`` is accepted
    match_once: bool | None = None

    def validate(self) -> list[ConfigProblem]:
        problems: list[ConfigProblem] = []
        if self.match_once is False:
            problems.append(
                ConfigProblem(
                    "match_once",
                    "match_once: false is no longer supported (removed in the Collector's "
                    "v0.120): an item goes to the first route it matches",
                )
            )
        for i, pid in enumerate(self.default_pipelines):
            try:
                PipelineID.parse(pid)
            except ValueError as exc:
                problems.append(ConfigProblem(f"default_pipelines[{i}]", str(exc)))
        return problems


Matcher = Callable[[TransformContext], bool]


@dataclass(slots=True)
class _Route:
    context: str
    pipelines: tuple[str, ...]
    conditions: ConditionSequence | None
    request: tuple[str, str, str] | None


class _Destinations:
    """The requests being built for each route, copying resources and scopes as needed."""

    def __init__(self, signal: Signal) -> None:
        self.signal = signal
        self.top, self.scopes, self.items = _TOP[signal]
        self.requests: dict[tuple[str, ...], Any] = {}
        self._last: dict[tuple[str, ...], tuple[Any, Any, Any, Any, Any, Any]] = {}

    def request(self, pipelines: tuple[str, ...]) -> Any:
        found = self.requests.get(pipelines)
        if found is None:
            found = self.requests[pipelines] = request_type(self.signal)()
        return found

    def add_resource(self, pipelines: tuple[str, ...], container: Any) -> None:
        getattr(self.request(pipelines), self.top).add().CopyFrom(container)

    def _shells(self, pipelines: tuple[str, ...], ctx: TransformContext) -> tuple[Any, Any]:
        last = self._last.get(pipelines)
        rc, sc = ctx.resource_container, ctx.scope_container
        if last is not None and last[0] is rc and last[1] is sc:
            return last[2], last[3]
        if last is not None and last[0] is rc:
            rc_shell = last[2]
        else:
            rc_shell = getattr(self.request(pipelines), self.top).add()
            rc_shell.resource.CopyFrom(rc.resource)
            rc_shell.schema_url = rc.schema_url
        sc_shell = getattr(rc_shell, self.scopes).add()
        sc_shell.scope.CopyFrom(sc.scope)
        sc_shell.schema_url = sc.schema_url
        self._last[pipelines] = (rc, sc, rc_shell, sc_shell, None, None)
        return rc_shell, sc_shell

    def add_item(self, pipelines: tuple[str, ...], ctx: TransformContext, item: Any) -> None:
        _, sc_shell = self._shells(pipelines, ctx)
        getattr(sc_shell, self.items).add().CopyFrom(item)

    def add_point(self, pipelines: tuple[str, ...], ctx: TransformContext) -> None:
        _, sc_shell = self._shells(pipelines, ctx)
        last = self._last[pipelines]
        metric = ctx.metric
        if last[4] is metric:
            shell = last[5]
        else:
            shell = sc_shell.metrics.add()
            template = Metric()
            template.CopyFrom(metric)
            kind = template.WhichOneof("data")
            if kind is not None:
                del getattr(template, kind).data_points[:]
            shell.CopyFrom(template)
            self._last[pipelines] = (*last[:4], metric, shell)
        kind = shell.WhichOneof("data")
        getattr(shell, kind).data_points.add().CopyFrom(ctx.datapoint)


class RoutingConnector:
    """Routes each batch's resources or items to the pipelines of the first matching route."""

    def __init__(
        self,
        settings: Settings,
        config: RoutingConfig,
        routes: Mapping[str, Consumer],
    ) -> None:
        self._settings = settings
        self._routes = dict(routes)
        self._propagate = config.error_mode == "propagate"
        problems: list[ConfigProblem] = []
        base = f"connectors.{settings.id}"

        def check(pids: Sequence[str], path: str) -> tuple[str, ...]:
            out = []
            for i, pid in enumerate(pids):
                key = str(PipelineID.parse(pid))
                if key not in self._routes:
                    problems.append(
                        ConfigProblem(
                            f"{path}[{i}]",
                            f"pipeline {pid} does not take data from this connector "
                            f"(it feeds: {', '.join(sorted(self._routes)) or 'none'})",
                        )
                    )
                out.append(key)
            return tuple(out)

        default = check(config.default_pipelines, f"{base}.default_pipelines")
        if not config.table and not default:
            default = tuple(sorted(self._routes))  # an empty table forwards everything
        self._default = default
        signals = {PipelineID.parse(pid).signal for pid in self._routes}
        self._tables: dict[Signal, list[_Route]] = {s: [] for s in signals}
        for i, route in enumerate(config.table):
            path = f"{base}.table[{i}]"
            pipelines = check(route.pipelines, f"{path}.pipelines")
            context = route.context.lower()
            for signal in signals:
                if context == "request":
                    match = _REQUEST.match(route.condition)
                    assert match is not None
                    request = (match.group(1), match.group(2), match.group(3))
                    self._tables[signal].append(_Route(context, pipelines, None, request))
                    continue
                if context != "resource" and context not in SIGNAL_CONTEXTS[signal]:
                    problems.append(
                        ConfigProblem(
                            f"{path}.context",
                            f"the {context} context cannot route {signal.value}",
                        )
                    )
                    continue
                text, _ = route.condition_text()
                seq, found = compile_conditions(
                    [text], context, config.error_mode, signal, f"{path}.condition"
                )
                problems.extend(found)
                if seq is not None:
                    self._tables[signal].append(_Route(context, pipelines, seq, None))
        if problems:
            raise ConfigError(problems)

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(mutates_data=False)

    async def start(self, host: Host) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    async def consume(self, batch: Batch) -> None:
        table = self._tables.get(batch.signal, [])
        if not batch.items:
            return
        sends: list[tuple[tuple[str, ...], Batch]] = []
        remaining: Any = None  # a copy of the request, made when a route takes part of it
        destinations = _Destinations(batch.signal)
        for route in table:
            if route.request is not None:
                if self._request_matches(route.request):
                    if remaining is None:
                        sends.append((route.pipelines, batch))
                        return await self._send(sends, shared=batch)
                    for container in getattr(remaining, destinations.top):
                        destinations.add_resource(route.pipelines, container)
                    del getattr(remaining, destinations.top)[:]
                    break
                continue
            if remaining is None:
                remaining = request_type(batch.signal)()
                remaining.CopyFrom(batch.message)
            self._route(route, remaining, destinations)
        if remaining is None or not destinations.requests:
            # nothing was taken: the batch goes on as it came, without re-encoding
            return await self._send([(self._default, batch)], shared=batch)
        for pipelines, request in destinations.requests.items():
            sends.append((pipelines, Batch.from_message(batch.signal, request)))
        leftover = Batch.from_message(batch.signal, remaining)
        if leftover.items:
            sends.append((self._default, leftover))
        await self._send(sends, shared=None)

    def _request_matches(self, request: tuple[str, str, str]) -> bool:
        key, op, value = request
        found = value in client.current().get(key)
        return found if op == "==" else not found

    def _route(self, route: _Route, remaining: Any, destinations: _Destinations) -> None:
        assert route.conditions is not None
        conditions = route.conditions
        pipelines = route.pipelines
        context = route.context
        default = self._default
        propagate = self._propagate

        def matches(ctx: TransformContext) -> bool | None:
            try:
                return bool(conditions.matches(ctx))
            except OttlRuntimeError as exc:
                raise PermanentError(f"routing connector {self._settings.id}: {exc}") from exc

        if not propagate:

            def matches(ctx: TransformContext) -> bool | None:
                for condition, _text in conditions.conditions:
                    try:
                        if condition(ctx):
                            return True
                    except Exception:
                        return None  # failed: the item goes to the default pipelines
                return False

        def take(ctx: TransformContext) -> bool:
            matched = matches(ctx)
            if matched is False:
                return False
            target = pipelines if matched else default
            if context == "resource":
                destinations.add_resource(target, ctx.resource_container)
            elif context == "datapoint":
                destinations.add_point(target, ctx)
            else:
                destinations.add_item(target, ctx, getattr(ctx, context))
            return True

        prune(remaining, context, take)

    async def _send(self, sends: list[tuple[tuple[str, ...], Batch]], shared: Batch | None) -> None:
        calls = []
        for pipelines, batch in sends:
            for pid in pipelines:
                consumer = self._routes[pid]
                # a batch seen by others (upstream, or another pipeline here) is copied for
                # a pipeline that changes data
                copy = consumer.capabilities.mutates_data and (
                    batch is shared or len(pipelines) > 1
                )
                calls.append(consumer.consume(batch.copy() if copy else batch))
        results = await asyncio.gather(*calls, return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        for error in errors:
            if not isinstance(error, Exception):
                raise error
        for error in errors:
            if isinstance(error, RetryableError):
                raise error
        if errors:
            raise errors[0]


def create(settings: Settings, config: RoutingConfig, routes: Mapping[str, Consumer]) -> Any:
    return RoutingConnector(settings, config, routes)


factory = Factory(
    type="routing",
    kind=Kind.CONNECTOR,
    config=RoutingConfig,
    create=create,
    connects={s: frozenset({s}) for s in Signal},
    description="routes telemetry to pipelines by OTTL conditions",
    stability="alpha",
)
