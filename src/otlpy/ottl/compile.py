"""Compile the OTTL AST into closures, once, so running a statement walks no tree.

Every value becomes an :class:`Expr` (a getter, plus its value when it is a compile-time
constant); conditions become ``ctx -> bool`` closures; a statement becomes ``ctx -> None``.
Errors found here (unknown function, path, enum, wrong argument) are
:class:`~otlpy.ottl.grammar.OttlSyntaxError` pointing at the column of the offending part.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from otlpy.ottl.contexts import ContextSpec, GetSetter, TransformContext
from otlpy.ottl.contexts.common import (
    Key,
    PathProblem,
    as_map_statement,
    cache_path,
    map_op_of,
    message_field,
)
from otlpy.ottl.functions import FUNCTIONS
from otlpy.ottl.functions.spec import FunctionDef, Param, typed_getter
from otlpy.ottl.fusion import indent, render, source_of, with_source
from otlpy.ottl.grammar import (
    Arg,
    BoolOp,
    Call,
    Compare,
    EnumSym,
    FuncName,
    ListLit,
    Literal,
    MapLit,
    MathOp,
    Node,
    Not,
    OttlSyntaxError,
    Path,
    Statement,
)
from otlpy.ottl.values import (
    Duration,
    KeyIndex,
    OttlError,
    Timestamp,
    compare,
    duration_ns,
    type_name,
    unix_nano,
)

__all__ = ["Compiler", "Expr"]

Getter = Callable[[TransformContext], Any]
Condition = Callable[[TransformContext], bool]


@dataclass(slots=True)
class Expr:
    """A compiled value: its getter, whether it is constant (and then its value)."""

    get: Getter
    node: Node
    const: bool = False
    value: Any = None
    path: GetSetter | None = None


def _const(value: Any, node: Node) -> Expr:
    def get(ctx: TransformContext) -> Any:
        return value

    # lets editors skip calling the getter for a literal (see ``constant_of``)
    get.ottl_constant = (value,)  # type: ignore[attr-defined]
    return Expr(get, node, True, value)


_WHOLE_MESSAGES = {"resource": "Resource", "scope": "InstrumentationScope", "span": "Span"}


class Compiler:
    """Compiles statements, conditions and values of one context."""

    def __init__(
        self,
        spec: ContextSpec,
        text: str,
        functions: Mapping[str, FunctionDef] | None = None,
    ) -> None:
        self.spec = spec
        self.text = text
        self.functions = FUNCTIONS if functions is None else functions

    def error(self, message: str, node: Node | int) -> OttlSyntaxError:
        pos = node if isinstance(node, int) else node.pos
        return OttlSyntaxError(message, self.text, pos)

    # -- statements and conditions -----------------------------------------------------------

    def statement(self, stmt: Statement) -> Callable[[TransformContext], None]:
        run_editor = self.call(stmt.editor).get
        if stmt.where is None:
            return run_editor
        cond = self.condition(stmt.where)

        def run_where(ctx: TransformContext) -> None:
            if cond(ctx):
                run_editor(ctx)

        found = map_op_of(run_editor)
        if found is None:
            return run_where
        map_id, index_of, op = found

        # conditions only read, so the map's index stays valid across them
        def where_op(ctx: TransformContext, index: KeyIndex) -> None:
            if cond(ctx):
                op(ctx, index)

        # truncate_all's reads of value lengths (see index_source) happen under a where too
        where_op.ottl_uses_lengths = getattr(  # type: ignore[attr-defined]
            op, "ottl_uses_lengths", False
        )
        body = source_of(op)
        if body is not None:
            test = source_of(cond) or render("{cond}(ctx)", {"cond": cond})
            with_source(where_op, (f"if {test[0]}:\n{indent(body[0])}", {**test[1], **body[1]}))
        return as_map_statement(run_where, map_id, index_of, where_op)

    def condition(self, node: Node) -> Condition:
        if isinstance(node, BoolOp):
            parts = [self.condition(item) for item in node.items]
            if node.op == "and":
                if len(parts) == 2:
                    a, b = parts
                    return lambda ctx: a(ctx) and b(ctx)
                return lambda ctx: all(p(ctx) for p in parts)
            if len(parts) == 2:
                a, b = parts
                return lambda ctx: a(ctx) or b(ctx)
            return lambda ctx: any(p(ctx) for p in parts)
        if isinstance(node, Not):
            inner = self.condition(node.item)
            return lambda ctx: not inner(ctx)
        if isinstance(node, Compare):
            return self.comparison(node)
        expr = self.expr(node)
        if expr.const:
            if type(expr.value) is not bool:
                raise self.error(f"expected a boolean but got {type_name(expr.value)}", node)
            value = expr.value
            return lambda ctx: value
        get = expr.get

        def check(ctx: TransformContext) -> bool:
            result = get(ctx)
            if type(result) is not bool:
                raise OttlError(f"expected a boolean but got {type_name(result)}")
            return result

        return check

    def comparison(self, node: Compare) -> Condition:
        left = self.expr(node.left)
        right = self.expr(node.right)
        op = node.op
        if left.const and right.const:
            result = compare(left.value, right.value, op)
            return lambda ctx: result
        lget = left.get
        if right.const:
            rvalue = right.value
            if op == "==" and type(rvalue) is int:
                # the common "kind == SPAN_KIND_SERVER" shape: skip the generic rules
                def eq_int(ctx: TransformContext) -> bool:
                    v = lget(ctx)
                    if type(v) is int or type(v) is float:
                        return bool(v == rvalue)
                    return False

                field = left.path.int_field if left.path is not None else None
                if field is not None:
                    # an int field always reads as an int: a plain comparison, when fused
                    with_source(eq_int, render(f"ctx.{field} == {{value}}", {"value": rvalue}))
                return eq_int
            if op == "==" and type(rvalue) is str:

                def eq_str(ctx: TransformContext) -> bool:
                    v = lget(ctx)
                    return type(v) is str and v == rvalue

                return eq_str
            return lambda ctx: compare(lget(ctx), rvalue, op)
        rget = right.get
        return lambda ctx: compare(lget(ctx), rget(ctx), op)

    # -- values ------------------------------------------------------------------------------

    def expr(self, node: Node) -> Expr:
        if isinstance(node, Literal):
            return _const(node.value, node)
        if isinstance(node, EnumSym):
            try:
                return _const(self.spec.enums[node.name], node)
            except KeyError:
                raise self.error(f"enum symbol, {node.name}, not found", node) from None
        if isinstance(node, FuncName):
            raise self.error(
                f"{node.name} is a function name and can only be passed to a function "
                "parameter that takes a function",
                node,
            )
        if isinstance(node, Path):
            return self.path(node)
        if isinstance(node, Call):
            return self.call(node)
        if isinstance(node, ListLit):
            return self.list_literal(node)
        if isinstance(node, MapLit):
            return self.map_literal(node)
        if isinstance(node, MathOp):
            return self.math(node)
        if isinstance(node, Compare | BoolOp | Not):
            raise self.error("a condition cannot be used as a value", node)
        raise self.error(f"unsupported expression {type(node).__name__}", node)

    def list_literal(self, node: ListLit) -> Expr:
        items = [self.expr(item) for item in node.items]
        if all(item.const for item in items):
            values = [item.value for item in items]
            # a fresh list each time: functions may keep or change what they are given
            return Expr(lambda ctx: list(values), node, True, values)
        getters = [item.get for item in items]
        return Expr(lambda ctx: [g(ctx) for g in getters], node)

    def map_literal(self, node: MapLit) -> Expr:
        items = [(key, self.expr(value)) for key, value in node.items]
        if all(e.const for _, e in items):
            values = {key: e.value for key, e in items}
            return Expr(lambda ctx: dict(values), node, True, values)
        pairs = [(key, e.get) for key, e in items]
        return Expr(lambda ctx: {key: g(ctx) for key, g in pairs}, node)

    def math(self, node: MathOp) -> Expr:
        left = self.expr(node.left)
        right = self.expr(node.right)
        op = node.op
        if left.const and right.const:
            try:
                return _const(arithmetic(op, left.value, right.value), node)
            except OttlError as exc:
                raise self.error(str(exc), node) from None
        lget = left.get
        rget = right.get
        return Expr(lambda ctx: arithmetic(op, lget(ctx), rget(ctx)), node)

    def key(self, node: Node) -> Key:
        if isinstance(node, Literal):
            return (True, node.value)
        expr = self.expr(node)
        if expr.const:
            if type(expr.value) not in (str, int):
                raise self.error("an index must be a string or an int", node)
            return (True, expr.value)
        return (False, expr.get)

    def path(self, node: Path) -> Expr:
        gs = self.path_getsetter(node)
        return Expr(gs.get, node, path=gs)

    def path_getsetter(self, node: Path) -> GetSetter:
        fields = node.fields
        spec = self.spec
        text = self.text[node.pos : _path_end(node, self.text)]
        first = fields[0]
        try:
            if first.name == "cache":
                return self._cache(fields, 0, text)
            upper = spec.parents.get(first.name)
            if upper is not None and not first.keys and len(fields) > 1:
                obj, resolver = upper
                if fields[1].name == "cache" and obj == spec.obj:
                    return self._cache(fields, 1, text)
                return resolver.resolve(obj, fields[1:], self.key, text)
            if upper is not None and len(fields) == 1 and not first.keys:
                obj = upper[0]
                if obj in _WHOLE_MESSAGES:
                    return message_field(obj, None, _WHOLE_MESSAGES[obj])
            return spec.resolver.resolve(spec.obj, fields, self.key, text)
        except PathProblem as exc:
            raise self.error(exc.message, exc.pos) from None

    def _cache(self, fields: Sequence[Any], index: int, text: str) -> GetSetter:
        if len(fields) > index + 1:
            raise PathProblem(
                f'cache has no field "{fields[index + 1].name}"', fields[index + 1].pos
            )
        return cache_path([self.key(k) for k in fields[index].keys])

    # -- function calls ----------------------------------------------------------------------

    def call(self, node: Call) -> Expr:
        definition = self.functions.get(node.name)
        if definition is None:
            kind = "editor" if node.editor else "converter"
            raise self.error(f'undefined function "{node.name}" ({kind})', node)
        if definition.contexts is not None and self.spec.name not in definition.contexts:
            raise self.error(f"{node.name} is not supported in the {self.spec.name} context", node)
        bound, all_const = self.bind(definition, node.args, node)
        try:
            run = definition.factory(*bound)
        except OttlError as exc:
            raise self.error(f"invalid arguments to {node.name}: {exc}", node) from None
        result = Expr(run, node)
        if not definition.is_editor and definition.pure and all_const:
            try:
                value = run(TransformContext())
            except (OttlError, ValueError, TypeError, ArithmeticError):
                pass  # leave it to run (and fail) per item, as the Collector does
            else:
                result = _const(value, node)
        if node.keys:
            keys = [self.key(k) for k in node.keys]
            base = result.get
            from otlpy.ottl.contexts.common import index_into

            result = Expr(lambda ctx: index_into(ctx, base(ctx), keys), node)
        return result

    def bind(
        self, definition: FunctionDef, args: Sequence[Arg], node: Call
    ) -> tuple[list[Any], bool]:
        params = definition.params
        slots: list[Arg | None] = [None] * len(params)
        index = {_norm(p.name): i for i, p in enumerate(params)}
        position = 0
        for arg in args:
            if arg.name is None:
                if position >= len(params):
                    raise self.error(
                        f"too many arguments to {definition.name}: expected at most "
                        f"{len(params)}, got {len(args)}",
                        arg,
                    )
                slots[position] = arg
                position += 1
                continue
            i = index.get(_norm(arg.name))
            if i is None:
                raise self.error(f'{definition.name} has no parameter named "{arg.name}"', arg)
            if slots[i] is not None:
                raise self.error(f'argument "{arg.name}" given twice', arg)
            slots[i] = arg
        bound: list[Any] = []
        all_const = True
        for param, slot in zip(params, slots, strict=True):
            if slot is None:
                if not param.optional:
                    raise self.error(
                        f'{definition.name} is missing its "{param.name}" argument', node
                    )
                bound.append(None)
                continue
            value, const = self.argument(definition, param, slot.value)
            all_const = all_const and const
            bound.append(value)
        return bound, all_const

    def argument(self, definition: FunctionDef, param: Param, node: Node) -> tuple[Any, bool]:
        kind = param.kind
        where = f"{definition.name}'s {param.name} argument"
        if kind == "getsetter":
            if not isinstance(node, Path):
                raise self.error(f"{where} must be a path", node)
            return self.path_getsetter(node), False
        if kind == "func":
            name = node.name if isinstance(node, FuncName | EnumSym) else None
            target = self.functions.get(name) if name else None
            if target is None or target.is_editor:
                raise self.error(f"{where} must be the name of a converter", node)
            return self._function_value(target, node), True
        if kind == "enum":
            if not isinstance(node, EnumSym):
                raise self.error(f"{where} must be an enum", node)
            return self.expr(node).value, True
        if kind.startswith("lit_"):
            return self._literal(kind, node, where), True
        if kind.startswith("list:"):
            if not isinstance(node, ListLit):
                raise self.error(f"{where} must be a list", node)
            item_kind = kind[5:]
            items = [self.expr(item) for item in node.items]
            return [typed_getter(item_kind, e.get) for e in items], all(e.const for e in items)
        expr = self.expr(node)
        # constants of the wrong type fail when run, as in the Collector (not at startup)
        return typed_getter(kind, expr.get), expr.const

    def _check_constant(self, kind: str, expr: Expr, where: str) -> None:
        value = expr.value
        strict = {
            "str": str,
            "int": int,
            "float": float,
            "bool": bool,
            "time": datetime,
            "duration": timedelta,
        }
        expected = strict.get(kind)
        if expected is not None and not (
            isinstance(value, expected) and (expected is not int or type(value) is int)
        ):
            raise self.error(f"{where} must be a {kind} but got {type_name(value)}", expr.node)

    def _literal(self, kind: str, node: Node, where: str) -> Any:
        if kind == "lit_list_str":
            if not isinstance(node, ListLit):
                raise self.error(f"{where} must be a list of strings", node)
            out = []
            for item in node.items:
                if not (isinstance(item, Literal) and type(item.value) is str):
                    raise self.error(f"{where} must be a list of strings", item)
                out.append(item.value)
            return out
        expected = {"lit_str": str, "lit_int": int, "lit_float": float, "lit_bool": bool}[kind]
        if isinstance(node, Literal) and type(node.value) is expected:
            return node.value
        if expected is float and isinstance(node, Literal) and type(node.value) is int:
            return float(node.value)
        label = {str: "a string", int: "an int", float: "a float", bool: "a bool"}[expected]
        raise self.error(f"{where} must be {label}", node)

    def _function_value(self, target: FunctionDef, node: Node) -> Callable[[Any], Any]:
        """A converter passed by name: called later with one value as its first argument."""
        if not target.params or any(not p.optional for p in target.params[1:]):
            raise self.error(f"{target.name} cannot be passed as a function argument", node)
        first = target.params[0]

        def call(value: Any) -> Any:
            args: list[Any] = [typed_getter(first.kind, lambda ctx: value)]
            args.extend(None for _ in target.params[1:])
            return target.factory(*args)(TransformContext())

        return call


def _norm(name: str) -> str:
    return name.replace("_", "").lower()


def _path_end(node: Path, text: str) -> int:
    last = node.fields[-1]
    end = last.pos + len(last.name)
    if last.keys:
        depth = 0
        i = last.keys[-1].pos
        while i < len(text):
            if text[i] == "[":
                depth += 1
            elif text[i] == "]":
                if depth == 0:
                    return i + 1
                depth -= 1
            i += 1
    return end


# -- arithmetic ------------------------------------------------------------------------------


def arithmetic(op: str, a: Any, b: Any) -> Any:
    """``a op b`` with OTTL's rules: int with int, float with float, times and durations."""
    ta = type(a)
    tb = type(b)
    if ta is int and tb is int:
        if op == "+":
            return _wrap64(a + b)
        if op == "-":
            return _wrap64(a - b)
        if op == "*":
            return _wrap64(a * b)
        if b == 0:
            raise OttlError("attempted to divide by 0")
        quotient = abs(a) // abs(b)
        return quotient if (a >= 0) == (b >= 0) else -quotient
    if ta is float and tb is float:
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            return a * b
        if b == 0:
            raise OttlError("attempted to divide by 0")
        return a / b
    a_time = isinstance(a, datetime)
    b_time = isinstance(b, datetime)
    a_dur = isinstance(a, timedelta)
    b_dur = isinstance(b, timedelta)
    if a_time and b_time and op == "-":
        return Duration.from_ns(unix_nano(a) - unix_nano(b))
    if a_time and b_dur and op in "+-":
        delta = duration_ns(b)
        return Timestamp.from_unix_nano(unix_nano(a) + (delta if op == "+" else -delta))
    if a_dur and b_time and op == "+":
        return Timestamp.from_unix_nano(unix_nano(b) + duration_ns(a))
    if a_dur and b_dur and op in "+-":
        return Duration.from_ns(
            duration_ns(a) + duration_ns(b) if op == "+" else duration_ns(a) - duration_ns(b)
        )
    if a is None or b is None:
        raise OttlError(f"cannot use nil in a math expression ({op})")
    raise OttlError(f"unsupported math operation: {type_name(a)} {op} {type_name(b)}")


def _wrap64(value: int) -> int:
    # Go's int64 arithmetic wraps around
    return ((value + 2**63) % 2**64) - 2**63
