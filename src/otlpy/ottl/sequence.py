"""Parsed statement and condition sequences, and running them over OTLP export requests.

``parse_statements`` / ``parse_conditions`` / ``parse_value_expression`` compile text once;
``StatementSequence.execute(request)`` walks a whole ``Export*ServiceRequest`` (or ``*Data``)
message for the sequence's context and runs every statement on every item, and
``ConditionSequence.filter(request)`` removes the items that match (or do not).
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from otlpy.ottl.compile import Compiler
from otlpy.ottl.contexts import CONTEXTS, ContextSpec, TransformContext, context_spec
from otlpy.ottl.contexts.common import MapOp, index_source, map_op_of
from otlpy.ottl.functions import FunctionDef
from otlpy.ottl.fusion import build, fuse, group_source, indent, render
from otlpy.ottl.grammar import (
    Arg,
    BoolOp,
    Call,
    Compare,
    ListLit,
    MapLit,
    MathOp,
    Node,
    Not,
    Path,
    Statement,
    parse_condition,
    parse_statement,
    parse_value,
)
from otlpy.ottl.onbytes import BytePlan, plan_bytes
from otlpy.ottl.values import KeyIndex, OttlError, to_python
from otlpy.wire.protobuf_edit import ATTRIBUTE_PATHS
from otlpy.wire.protobuf_scan import scan_items

__all__ = [
    "ConditionSequence",
    "ContextInferenceError",
    "ErrorMode",
    "OttlRuntimeError",
    "StatementSequence",
    "ValueExpression",
    "infer_context",
    "iter_contexts",
    "parse_conditions",
    "parse_statements",
    "parse_value_expression",
]

logger = logging.getLogger("otlpy.ottl")


class ErrorMode(enum.StrEnum):
    """What a failing statement or condition does (the Collector's ``error_mode``)."""

    PROPAGATE = "propagate"
    IGNORE = "ignore"
    SILENT = "silent"


class OttlRuntimeError(OttlError):
    """A statement or condition failed on an item (raised in ``propagate`` mode)."""

    def __init__(self, text: str, cause: BaseException) -> None:
        super().__init__(f"failed to execute statement: {text}, {cause}")
        self.text = text
        self.cause = cause


# -- context inference -----------------------------------------------------------------------

_DEPTH = {
    "resource": 0,
    "scope": 1,
    "instrumentation_scope": 1,
    "span": 2,
    "metric": 2,
    "log": 2,
    "spanevent": 3,
    "datapoint": 3,
}


def _walk(node: Node | None) -> Iterator[Node]:
    if node is None:
        return
    yield node
    children: Sequence[Node | None] = []
    if isinstance(node, Statement):
        children = [node.editor, node.where]
    elif isinstance(node, Call):
        children = [a.value for a in node.args] + list(node.keys)
    elif isinstance(node, Arg):
        children = [node.value]
    elif isinstance(node, Path):
        children = [k for f in node.fields for k in f.keys]
    elif isinstance(node, ListLit):
        children = list(node.items)
    elif isinstance(node, MapLit):
        children = [v for _, v in node.items]
    elif isinstance(node, MathOp | Compare):
        children = [node.left, node.right]
    elif isinstance(node, BoolOp):
        children = list(node.items)
    elif isinstance(node, Not):
        children = [node.item]
    for child in children:
        yield from _walk(child)


def paths_of(node: Node) -> list[Path]:
    """Every path in a parsed statement, condition or value."""
    return [n for n in _walk(node) if isinstance(n, Path)]


class ContextInferenceError(ValueError):
    """No path of the statements or conditions names their context, and none was given."""


def infer_context(nodes: Iterable[Node]) -> str:
    """The lowest context named by a path prefix (``span`` for ``span.name`` and
    ``resource.attributes``); raises ``ValueError`` when no path names one."""
    best: str | None = None
    for node in nodes:
        for path in paths_of(node):
            first = path.fields[0]
            if first.name in _DEPTH and len(path.fields) > 1 and not first.keys:
                name = "scope" if first.name == "instrumentation_scope" else first.name
                if best is None or _DEPTH[name] > _DEPTH[best]:
                    best = name
        for call in (n for n in _walk(node) if isinstance(n, Call)):
            if call.name == "IsRootSpan" and (best is None or _DEPTH[best] < 2):
                best = "span"
    if best is None:
        raise ContextInferenceError(
            "cannot infer the context: name it (the group's `context:` key in a config) or "
            "prefix paths with it (e.g. span.name)"
        )
    return best


def _resolve_context(context: str | None, nodes: Sequence[Node]) -> ContextSpec:
    return context_spec(infer_context(nodes) if context is None else context)


# -- walking requests ------------------------------------------------------------------------


def iter_contexts(request: Any, context: str) -> Iterator[TransformContext]:
    """The transform context of every item of ``context`` in an export request.

    One :class:`TransformContext` object is reused and updated for each item (its cache is
    cleared), so read it before advancing the iterator.
    """
    name = context_spec(context).name
    ctx = TransformContext()
    if hasattr(request, "resource_spans"):
        if name not in ("resource", "scope", "span", "spanevent"):
            raise ValueError(f"the {name} context does not apply to traces")
        for rs in request.resource_spans:
            ctx.resource_container = rs
            ctx.resource = rs.resource
            if name == "resource":
                ctx._cache = ctx._index = None
                yield ctx
                continue
            for ss in rs.scope_spans:
                ctx.scope_container = ss
                ctx.scope = ss.scope
                if name == "scope":
                    ctx._cache = ctx._index = None
                    yield ctx
                    continue
                for span in ss.spans:
                    ctx.span = span
                    if name == "span":
                        ctx._cache = ctx._index = None
                        yield ctx
                        continue
                    for index, event in enumerate(span.events):
                        ctx.event = event
                        ctx.event_index = index
                        ctx._cache = ctx._index = None
                        yield ctx
    elif hasattr(request, "resource_logs"):
        if name not in ("resource", "scope", "log"):
            raise ValueError(f"the {name} context does not apply to logs")
        for rl in request.resource_logs:
            ctx.resource_container = rl
            ctx.resource = rl.resource
            if name == "resource":
                ctx._cache = ctx._index = None
                yield ctx
                continue
            for sl in rl.scope_logs:
                ctx.scope_container = sl
                ctx.scope = sl.scope
                if name == "scope":
                    ctx._cache = ctx._index = None
                    yield ctx
                    continue
                for record in sl.log_records:
                    ctx.log = record
                    ctx._cache = ctx._index = None
                    yield ctx
    elif hasattr(request, "resource_metrics"):
        if name not in ("resource", "scope", "metric", "datapoint"):
            raise ValueError(f"the {name} context does not apply to metrics")
        for rm in request.resource_metrics:
            ctx.resource_container = rm
            ctx.resource = rm.resource
            if name == "resource":
                ctx._cache = ctx._index = None
                yield ctx
                continue
            for sm in rm.scope_metrics:
                ctx.scope_container = sm
                ctx.scope = sm.scope
                if name == "scope":
                    ctx._cache = ctx._index = None
                    yield ctx
                    continue
                for metric in sm.metrics:
                    ctx.metric = metric
                    if name == "metric":
                        ctx._cache = ctx._index = None
                        yield ctx
                        continue
                    kind = metric.WhichOneof("data")
                    if kind is None:
                        continue
                    for point in getattr(metric, kind).data_points:
                        ctx.datapoint = point
                        ctx._cache = ctx._index = None
                        yield ctx
    else:
        raise TypeError(f"not an OTLP export request: {type(request).__name__}")


class _Errors:
    """Collects failures of one run so ``ignore`` mode logs once per run, not per item."""

    __slots__ = ("count", "first", "mode")

    def __init__(self, mode: ErrorMode) -> None:
        self.mode = mode
        self.count = 0
        self.first: str | None = None

    def handle(self, text: str, exc: Exception) -> None:
        if self.mode is ErrorMode.PROPAGATE:
            raise OttlRuntimeError(text, exc) from exc
        self.count += 1
        if self.first is None:
            self.first = f"failed to execute statement: {text}, {exc}"

    def report(self) -> None:
        if self.count and self.mode is ErrorMode.IGNORE:
            logger.warning(
                "%d OTTL error(s) ignored (error_mode=ignore); first: %s", self.count, self.first
            )


class _MapGroup:
    """Consecutive statements working on the same attribute map: per item, the map's index is
    looked up once and handed to each statement's :data:`MapOp`."""

    __slots__ = ("index_of", "ops", "run")

    def __init__(
        self, index_of: Callable[[TransformContext], KeyIndex], ops: list[tuple[MapOp, str]]
    ) -> None:
        self.index_of = index_of
        self.ops = ops
        self.run = fuse(ops)


def _plan(
    statements: Sequence[tuple[Callable[[TransformContext], None], str]],
) -> list[tuple[Callable[[TransformContext], None], str] | _MapGroup]:
    """The statements in order, with runs of two or more on the same map made into groups."""
    plan: list[tuple[Callable[[TransformContext], None], str] | _MapGroup] = []
    run: list[tuple[Callable[[TransformContext], None], str]] = []
    run_id: str | None = None

    def flush() -> None:
        if len(run) > 1:
            first = map_op_of(run[0][0])
            assert first is not None
            ops: list[tuple[MapOp, str]] = []
            for statement, text in run:
                found = map_op_of(statement)
                assert found is not None
                ops.append((found[2], text))
            plan.append(_MapGroup(first[1], ops))
        else:
            plan.extend(run)
        run.clear()

    for statement, text in statements:
        found = map_op_of(statement)
        map_id = found[0] if found is not None else None
        if map_id is None or map_id != run_id:
            flush()
        run_id = map_id
        if map_id is None:
            plan.append((statement, text))
        else:
            run.append((statement, text))
    flush()
    return plan


# The loops over an export request down to the items of a context, for the contexts whose
# statements :func:`_walker` compiles into one function: (request field, scope field, items
# field, TransformContext slot) per context.
_WALKS = {
    "span": ("resource_spans", "scope_spans", "spans", "span"),
    "log": ("resource_logs", "scope_logs", "log_records", "log"),
}

Walk = Callable[
    [Any, TransformContext, "_Errors", "ConditionSequence | None", "list[Any] | None"], None
]


def _walker(
    context: str,
    plan: list[tuple[Callable[[TransformContext], None], str] | _MapGroup],
    guarded: bool,
) -> tuple[Walk, bool]:
    """One generated function running ``plan`` on every item of a request in ``context``,
    and whether it takes the attribute keys of the items from a scan of the request's bytes.

    It is what ``for ctx in iter_contexts(...)`` followed by each step does, with the loops,
    the steps and the fused statements of each map group in one body: per item this saves a
    generator step, a call per step and the group's call. ``guarded`` runs the steps only on
    the items matching the conditions handed to the function.
    """
    top, middle, items, slot = _WALKS[context]
    namespace: dict[str, Any] = {}
    steps: list[str] = []
    # only the first step sees the item as it was in the request's bytes
    scanned_map: str | None = f"{slot}.attributes"
    for step in plan:
        if type(step) is tuple:
            statement, text = step
            found = map_op_of(statement)
            if found is None:
                code, names = render(
                    "try:\n    {statement}(ctx)\nexcept Exception as exc:\n"
                    "    handle({text}, exc)\n",
                    {"statement": statement, "text": text},
                )
                namespace.update(names)
                steps.append(code)
                continue
            # a lone statement on a map: its source saves a call, as in a group
            index_of, ops = found[1], [(found[2], text)]
        else:
            assert isinstance(step, _MapGroup)
            index_of, ops = step.index_of, step.ops
        body, names = group_source(ops)
        namespace.update(names)
        # an index read from the item's bytes pays when a statement uses its value lengths
        serialize = any(getattr(op, "ottl_uses_lengths", False) for op, _text in ops)
        found_index = index_source(
            index_of, scanned_map if not steps else None, serialize
        ) or render(
            "index = {index_of}(ctx)\n"
            "kvs = index.kvs\n"
            "entries = index.entries\n"
            "keys = index.keys\n",
            {"index_of": index_of},
        )
        namespace.update(found_index[1])
        label, names = render("{text}", {"text": ops[0][1]})
        namespace.update(names)
        steps.append(
            f"try:\n{indent(found_index[0])}except Exception as exc:\n"
            f"    handle({label}, exc)\nelse:\n{indent(body)}"
        )
    uses_scans = "scans[n]" in "".join(steps)
    body = "".join(steps) or "pass\n"
    if guarded:
        body = "if conditions.matches(ctx, errors):\n" + indent(body)
    # only names made here and values handed over in ``namespace`` are in the source
    code = (
        "def walk(request, ctx, errors, conditions, scans):\n"
        "    handle = errors.handle\n"
        "    n = -1\n"
        f"    for rc in request.{top}:\n"
        "        ctx.resource_container = rc\n"
        "        ctx.resource = rc.resource\n"
        f"        for sc in rc.{middle}:\n"
        "            ctx.scope_container = sc\n"
        "            ctx.scope = sc.scope\n"
        f"            for item in sc.{items}:\n"
        f"                ctx.{slot} = item\n"
        + ("                n += 1\n" if uses_scans else "")
        + "                ctx._cache = ctx._index = None\n"
        + indent(body, " " * 16)
    )
    walk: Walk = build(code, namespace, "walk")
    return walk, uses_scans


class StatementSequence:
    """Compiled statements of one context, run in order on every item."""

    __slots__ = (
        "_byte_plan",
        "_plan",
        "_plan_source",
        "_walks",
        "context",
        "error_mode",
        "statements",
        "texts",
    )

    def __init__(
        self,
        context: str,
        statements: Sequence[Callable[[TransformContext], None]],
        texts: Sequence[str],
        error_mode: ErrorMode,
        plan_source: tuple[ContextSpec, list[Statement], dict[str, FunctionDef] | None]
        | None = None,
    ) -> None:
        self.context = context
        # what plan_bytes needs, until byte_plan is first read (planning costs about as much
        # as compiling, and most sequences never run on bytes)
        self._plan_source = plan_source
        self._byte_plan: BytePlan | None = None
        self.statements = list(zip(statements, texts, strict=True))
        self.texts = list(texts)
        self.error_mode = error_mode
        self._plan = _plan(self.statements)
        # generated on first use (per guarded or not): compiling costs more than one batch
        self._walks: dict[bool, tuple[Walk, bool]] = {}

    def run(self, ctx: TransformContext, errors: _Errors | None = None) -> None:
        """Run every statement on the item ``ctx`` points at."""
        _run_plan(self._plan, ctx, errors or _Errors(self.error_mode))

    @property
    def byte_plan(self) -> BytePlan | None:
        """The statements as edits of the request's bytes, or None when one of them cannot
        run that way (see :mod:`otlpy.ottl.onbytes`)."""
        source = self._plan_source
        if source is not None:
            self._plan_source = None
            self._byte_plan = plan_bytes(source[0], self.texts, source[1], source[2])
        return self._byte_plan

    def _check_guard(self, conditions: ConditionSequence | None) -> None:
        if conditions is not None and conditions.context != self.context:
            raise ValueError(
                f"conditions of the {conditions.context} context cannot guard statements "
                f"of the {self.context} context"
            )

    def execute_bytes(
        self, request: Any | None, raw: bytes, conditions: ConditionSequence | None = None
    ) -> tuple[bytes, int] | None:
        """Run the statements on ``raw``, the serialized ``request`` (unchanged), without
        changing ``request``: the new bytes and how many items of the context (resources,
        scopes, spans or log records) they hold. None when these statements, or this request,
        need the messages (see :mod:`otlpy.ottl.onbytes`); then call :meth:`execute`. Raises
        :class:`OttlRuntimeError` in propagate mode.

        ``request`` may be None when there are no ``conditions`` and the plan does not
        :attr:`~otlpy.ottl.onbytes.BytePlan.reads_request`: the bytes are not decoded then."""
        plan = self.byte_plan
        if plan is None:
            return None
        self._check_guard(conditions)
        errors = _Errors(self.error_mode)
        done = plan.execute(request, raw, conditions, errors)
        if done is not None:  # a request left to the messages reports its errors there
            errors.report()
        return done

    def execute(
        self,
        request: Any,
        conditions: ConditionSequence | None = None,
        raw: bytes | None = None,
    ) -> int:
        """Run the statements on every item of an export request; returns how many statement
        runs failed (and were ignored). Raises :class:`OttlRuntimeError` in propagate mode.

        With ``conditions`` (of the same context), the statements run only on the items that
        match them (the transform processor's group ``conditions``). ``raw``, when given, must
        be the request serialized as it is now (as received, before anything changed it): the
        keys of span and log attributes are then read from it, which costs far less than
        reading them from the messages."""
        errors = _Errors(self.error_mode)
        plan = self._plan
        self._check_guard(conditions)
        walk_fields = _WALKS.get(self.context)
        if walk_fields is not None and hasattr(request, walk_fields[0]):
            guarded = conditions is not None
            found = self._walks.get(guarded)
            if found is None:
                found = self._walks[guarded] = _walker(self.context, plan, guarded)
            walk, uses_scans = found
            scans = None
            if raw is not None and uses_scans and KeyIndex.from_bytes:
                scans = _scan_request(raw, request, self.context)
            walk(request, TransformContext(), errors, conditions, scans)
        elif conditions is not None:
            for ctx in iter_contexts(request, self.context):
                if conditions.matches(ctx, errors):
                    _run_plan(plan, ctx, errors)
        elif len(plan) == 1 and type(plan[0]) is tuple:
            statement, text = plan[0]
            for ctx in iter_contexts(request, self.context):
                try:
                    statement(ctx)
                except Exception as exc:
                    errors.handle(text, exc)
        else:
            # _run_plan inlined: this loop runs once per item
            handle = errors.handle
            for ctx in iter_contexts(request, self.context):
                for step in plan:
                    if type(step) is tuple:
                        statement, text = step
                        try:
                            statement(ctx)
                        except Exception as exc:
                            errors.handle(text, exc)
                        continue
                    try:
                        index = step.index_of(ctx)  # type: ignore[union-attr]
                    except Exception as exc:
                        errors.handle(step.ops[0][1], exc)  # type: ignore[union-attr]
                        continue
                    step.run(ctx, index, handle)  # type: ignore[union-attr]
        errors.report()
        return errors.count


def _scan_request(raw: bytes, request: Any, context: str) -> list[Any] | None:
    """The attribute keys and value lengths of every item of ``request`` read from ``raw``
    (see :func:`~otlpy.wire.protobuf_scan.scan_items`), or None when they cannot be."""
    try:
        scans = scan_items(raw, ATTRIBUTE_PATHS[context])
    except ValueError:  # not protobuf's own bytes: read the messages
        return None
    top, middle, items, _slot = _WALKS[context]
    count = sum(
        len(getattr(sc, items)) for rc in getattr(request, top) for sc in getattr(rc, middle)
    )
    # bytes of another request would put each item's keys on the wrong item
    return scans if len(scans) == count else None


def _run_plan(
    plan: list[tuple[Callable[[TransformContext], None], str] | _MapGroup],
    ctx: TransformContext,
    errors: _Errors,
) -> None:
    for step in plan:
        if type(step) is tuple:
            statement, text = step
            try:
                statement(ctx)
            except Exception as exc:
                errors.handle(text, exc)
            continue
        assert isinstance(step, _MapGroup)
        try:
            index = step.index_of(ctx)
        except Exception as exc:
            errors.handle(step.ops[0][1], exc)
            continue
        step.run(ctx, index, errors.handle)


class ConditionSequence:
    """Compiled conditions of one context, combined with ``or`` (default) or ``and``."""

    __slots__ = ("conditions", "context", "error_mode", "logic")

    def __init__(
        self,
        context: str,
        conditions: Sequence[Callable[[TransformContext], bool]],
        texts: Sequence[str],
        error_mode: ErrorMode,
        logic: str = "or",
    ) -> None:
        if logic not in ("or", "and"):
            raise ValueError(f"logic must be 'or' or 'and', not {logic!r}")
        self.context = context
        self.conditions = list(zip(conditions, texts, strict=True))
        self.error_mode = error_mode
        self.logic = logic

    def matches(self, ctx: TransformContext, errors: _Errors | None = None) -> bool:
        """Whether the item ``ctx`` points at matches; a failing condition counts as false
        (in ignore/silent mode)."""
        errors = errors or _Errors(self.error_mode)
        want_all = self.logic == "and"
        for condition, text in self.conditions:
            try:
                result = condition(ctx)
            except Exception as exc:
                errors.handle(text, exc)
                result = False
            if result and not want_all:
                return True
            if not result and want_all:
                return False
        return want_all

    def filter(self, request: Any, *, keep_matching: bool = False) -> int:
        """Remove the items that match (``keep_matching=False``, the filter processor) or that
        do not; containers left empty are removed too. Returns how many items were removed."""
        from otlpy.ottl.pruning import prune

        errors = _Errors(self.error_mode)

        def drop(ctx: TransformContext) -> bool:
            return self.matches(ctx, errors) != keep_matching

        removed = prune(request, self.context, drop)
        errors.report()
        return removed


class ValueExpression:
    """A compiled value expression (a path, literal, converter or math) of one context."""

    __slots__ = ("_get", "context", "text")

    def __init__(self, context: str, get: Callable[[TransformContext], Any], text: str) -> None:
        self.context = context
        self._get = get
        self.text = text

    def evaluate(self, ctx: TransformContext) -> Any:
        """The value for the item ``ctx`` points at, as plain Python (maps as dicts)."""
        try:
            return to_python(self._get(ctx))
        except OttlError:
            raise
        except Exception as exc:
            raise OttlRuntimeError(self.text, exc) from exc


def parse_statements(
    statements: str | Sequence[str],
    context: str | None = None,
    *,
    error_mode: ErrorMode | str = ErrorMode.PROPAGATE,
    functions: dict[str, FunctionDef] | None = None,
) -> StatementSequence:
    """Parse and compile editor statements for ``context`` (inferred from path prefixes when
    None). Raises :class:`~otlpy.ottl.grammar.OttlSyntaxError` pointing at the column."""
    texts = [statements] if isinstance(statements, str) else list(statements)
    parsed = [parse_statement(t) for t in texts]
    spec = _resolve_context(context, parsed)
    compiled = [
        Compiler(spec, t, functions).statement(p) for t, p in zip(texts, parsed, strict=True)
    ]
    return StatementSequence(
        spec.name,
        compiled,
        texts,
        ErrorMode(error_mode),
        (spec, parsed, functions),
    )


def parse_conditions(
    conditions: str | Sequence[str],
    context: str | None = None,
    *,
    error_mode: ErrorMode | str = ErrorMode.PROPAGATE,
    logic: str = "or",
    functions: dict[str, FunctionDef] | None = None,
) -> ConditionSequence:
    """Parse and compile boolean conditions (as used by the filter processor)."""
    texts = [conditions] if isinstance(conditions, str) else list(conditions)
    parsed = [parse_condition(t) for t in texts]
    spec = _resolve_context(context, parsed)
    compiled = [
        Compiler(spec, t, functions).condition(p) for t, p in zip(texts, parsed, strict=True)
    ]
    return ConditionSequence(spec.name, compiled, texts, ErrorMode(error_mode), logic)


def parse_value_expression(
    expression: str,
    context: str | None = None,
    *,
    functions: dict[str, FunctionDef] | None = None,
) -> ValueExpression:
    """Parse and compile one value expression (``resource.attributes["host.name"]``)."""
    node = parse_value(expression)
    spec = _resolve_context(context, [node])
    return ValueExpression(
        spec.name, Compiler(spec, expression, functions).expr(node).get, expression
    )


def known_contexts() -> list[str]:
    return sorted(CONTEXTS)
