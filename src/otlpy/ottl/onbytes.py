"""Statements that only edit item attributes, run on the request's bytes.

Most transform statements operators write change nothing but the attributes of each span or
log record: ``set(attributes["k"], "v")``, ``delete_key``, ``keep_keys``, ``replace_pattern``
on one attribute, ``truncate_all``. For a sequence made only of these, the transform processor
does not need to change the decoded messages and encode them again: it rewrites each item's
attribute list in the bytes it received (:mod:`otlpy.wire.protobuf_edit`, compiled), which
costs a fraction of editing through protobuf's Python wrappers.

What a statement may use to run this way (:func:`plan_bytes` decides, once, when a
sequence's ``byte_plan`` is first read):

- the context is ``span``, ``spanevent``, ``log``, ``resource`` or ``scope`` (the last two in
  every signal);
- the editors ``set`` (on one literal key), ``delete_key``, ``delete_matching_keys``,
  ``keep_keys``, ``keep_matching_keys``, ``replace_pattern`` (on one literal key, without a
  function), ``replace_all_patterns`` (``"value"`` mode, without a function) and
  ``truncate_all``, on the item's own ``attributes``, with positional literal arguments;
- ``set`` of any value expression that reads no item attribute (``resource.attributes[...]``,
  ``name``, ``span_id.string``...), and a ``where`` condition on anything but item attributes.
  Conditions and values are read from the decoded request, which the item edits do not
  change, so they see what the statement would have seen. The first statement may read item
  attributes too, as nothing has changed them before it.

Anything else (other editors, ``cache``, named arguments, the ``metric`` and ``datapoint``
contexts) runs on the messages as before. A request the byte editor cannot
reproduce exactly (see its module) falls back to the messages too, per request, with no
difference in the result.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from otlpy.ottl.compile import Compiler
from otlpy.ottl.contexts import ContextSpec, TransformContext
from otlpy.ottl.functions import FUNCTIONS, FunctionDef
from otlpy.ottl.functions.editors import truncation
from otlpy.ottl.functions.goregex import GoRegex, compile_go
from otlpy.ottl.grammar import Compare, ListLit, Node, Path, Statement
from otlpy.wire import protobuf_edit
from otlpy.wire._compiled import is_compiled
from otlpy.wire.protobuf_edit import ATTRIBUTE_PATHS, Op, any_value, edit_items

if TYPE_CHECKING:
    from otlpy.ottl.sequence import ConditionSequence, _Errors

__all__ = ["FAST", "BytePlan", "plan_bytes"]

#: whether running on bytes pays: the editor is compiled (interpreted, it is slower than
#: editing the messages)
FAST = is_compiled(protobuf_edit.__name__)

# the contexts whose item is a message field its container holds once (or not at all)
_SINGULAR = frozenset({"resource", "scope"})

_SCALARS = (str, bool, int, float)


class _Fallback(Exception):
    """A request that must be edited through its messages."""


@dataclass(slots=True)
class _Step:
    op: Op
    text: str
    condition: Callable[[TransformContext], bool] | None = None
    value: Callable[[TransformContext], Any] | None = None


class BytePlan:
    """The statements of one sequence as byte edits (see the module)."""

    __slots__ = ("_ops", "_path", "_read", "_singular", "context", "steps")

    def __init__(self, context: str, steps: Sequence[_Step]) -> None:
        self.context = context
        self.steps = list(steps)
        self._ops = [step.op for step in self.steps]
        self._path = ATTRIBUTE_PATHS[context]
        self._singular = context in _SINGULAR
        # the steps whose condition or value is read from the decoded request, per item
        self._read = [
            (k, step)
            for k, step in enumerate(self.steps)
            if step.condition is not None or step.value is not None
        ]

    @property
    def reads_request(self) -> bool:
        """Whether a condition or value is read from the decoded request (without group
        conditions, the bytes alone are enough otherwise)."""
        return bool(self._read)

    def execute(
        self,
        request: Any | None,
        raw: bytes,
        conditions: ConditionSequence | None,
        errors: _Errors,
    ) -> tuple[bytes, int] | None:
        """``raw`` (the serialized ``request``, unchanged) with the statements applied, and
        how many items it holds; None when this request must be edited as messages."""
        from otlpy.ottl.sequence import iter_contexts

        count = len(self.steps)
        mask: list[bool] | None = None
        guards: list[list[bool] | None] = [None] * count
        values: list[list[bytes | None] | None] = [None] * count
        expected = -1
        if self._read or conditions is not None:
            if request is None:
                raise ValueError("these statements read the decoded request: pass it")
            expected = 0
            read = self._read
            for k, step in read:
                if step.condition is not None:
                    guards[k] = []
                if step.value is not None:
                    values[k] = []
            mask = [] if conditions is not None else None
            try:
                for ctx in iter_contexts(request, self.context):
                    expected += 1
                    if mask is not None:
                        assert conditions is not None
                        matched = conditions.matches(ctx, errors)
                        mask.append(matched)
                        if not matched:
                            _skip_item(read, guards, values)
                            continue
                    _read_item(ctx, read, guards, values, errors)
            except _Fallback:
                return None
        try:
            out, items = edit_items(
                raw, self._path, self._ops, mask, guards, values, self._singular
            )
        except (ValueError, IndexError):
            return None
        if expected >= 0 and items != expected:
            return None  # the bytes are not this request's
        return out, items


def _skip_item(
    read: list[tuple[int, _Step]],
    guards: list[list[bool] | None],
    values: list[list[bytes | None] | None],
) -> None:
    for k, _step in read:
        guard = guards[k]
        if guard is not None:
            guard.append(False)
        found = values[k]
        if found is not None:
            found.append(None)


def _read_item(
    ctx: TransformContext,
    read: list[tuple[int, _Step]],
    guards: list[list[bool] | None],
    values: list[list[bytes | None] | None],
    errors: _Errors,
) -> None:
    """Evaluate the conditions and values of one item, as the statements would have."""
    for k, step in read:
        allowed = True
        condition = step.condition
        if condition is not None:
            try:
                allowed = condition(ctx)
            except Exception as exc:
                errors.handle(step.text, exc)
                allowed = False
            guards[k].append(allowed)  # type: ignore[union-attr]
        get = step.value
        if get is not None:
            encoded = None
            if allowed:
                try:
                    value = get(ctx)
                except Exception as exc:
                    errors.handle(step.text, exc)
                    value = None
                if value is not None:  # set(x, nil) changes nothing
                    if type(value) not in _SCALARS:
                        raise _Fallback  # maps, lists, ids: the messages' setters
                    try:
                        encoded = any_value(value)
                    except ValueError:
                        raise _Fallback from None
            values[k].append(encoded)  # type: ignore[union-attr]


def plan_bytes(
    spec: ContextSpec,
    texts: Sequence[str],
    statements: Sequence[Statement],
    functions: dict[str, FunctionDef] | None = None,
) -> BytePlan | None:
    """The statements as byte edits, or None when one of them cannot run that way."""
    if spec.name not in ATTRIBUTE_PATHS:
        return None
    steps = []
    for i, (text, statement) in enumerate(zip(texts, statements, strict=True)):
        try:
            step = _step(spec, text, statement, functions, first=i == 0)
        except Exception:  # anything unusual: leave it to the messages
            return None
        if step is None:
            return None
        steps.append(step)
    return BytePlan(spec.name, steps) if steps else None


def _step(
    spec: ContextSpec,
    text: str,
    statement: Statement,
    functions: dict[str, FunctionDef] | None,
    first: bool,
) -> _Step | None:
    call = statement.editor
    name = call.name
    if call.keys or any(arg.name is not None for arg in call.args):
        return None
    if functions is not None and functions.get(name) is not FUNCTIONS.get(name):
        return None  # a function table of the caller's: its editors may differ
    compiler = Compiler(spec, text, functions)
    args = [arg.value for arg in call.args]
    if not args or not isinstance(args[0], Path):
        return None
    target = args[0]
    attributes = f"{spec.obj}.attributes"
    if compiler.path_getsetter(target).map_id != attributes:
        return None
    last = target.fields[-1]
    key = _literal(compiler, last.keys[0], str) if len(last.keys) == 1 else None
    if type(key) is not str:
        key = None
    whole = not last.keys
    consts = [_literal(compiler, node, object) for node in args[1:]]
    condition = None
    guard = None
    if statement.where is not None:
        guard = _enum_guard(compiler, statement.where, _ENUM_FIELDS.get(spec.name, {}))
        if guard is None:
            if _reads_item(compiler, spec, statement.where, attributes) and not first:
                return None
            condition = compiler.condition(statement.where)
    op: Op | None = None
    value = None
    if name == "set" and key is not None and len(args) == 2:
        found = consts[0]
        if found is _NOT_LITERAL:
            if _reads_item(compiler, spec, args[1], attributes) and not first:
                return None
            value = compiler.expr(args[1]).get
            op = Op(protobuf_edit.SET, key=key)
        elif type(found) in _SCALARS:
            op = Op(protobuf_edit.SET, key=key, value=any_value(found))
    elif whole and name == "delete_key" and _all_are(consts, str, 1):
        op = Op(protobuf_edit.DELETE, key=consts[0])
    elif whole and name == "keep_keys" and len(consts) == 1 and isinstance(args[1], ListLit):
        kept = [_literal(compiler, item, str) for item in args[1].items]
        if all(type(k) is str for k in kept):
            op = Op(protobuf_edit.KEEP_KEYS, keys=frozenset(str(k).encode() for k in kept))
    elif whole and name in ("delete_matching_keys", "keep_matching_keys"):
        if _all_are(consts, str, 1):
            code = protobuf_edit.DELETE_MATCHING
            if name == "keep_matching_keys":
                code = protobuf_edit.KEEP_MATCHING
            op = Op(code, test=_searcher(compile_go(consts[0])))
    elif name == "replace_pattern" and key is not None and _all_are(consts, str, 2):
        op = Op(protobuf_edit.REPLACE, key=key, rewrite=_replacer(consts[0], consts[1]))
    elif whole and name == "replace_all_patterns" and _all_are(consts, str, 3):
        if consts[0] == "value":
            op = Op(protobuf_edit.REPLACE_VALUES, rewrite=_replacer(consts[1], consts[2]))
    elif whole and name == "truncate_all" and 1 <= len(consts) <= 3:
        limit, *rest = consts
        safe = rest[0] if rest else None
        marker = rest[1] if len(rest) > 1 else None
        if (
            type(limit) is int
            and (safe is None or type(safe) is bool)
            and (marker is None or type(marker) is str)
        ):
            truncation(limit, safe, marker)  # the editor's own checks of its arguments
            op = Op(
                protobuf_edit.TRUNCATE,
                limit=limit,
                marker=marker or "",
                utf8_safe=safe is not False,
            )
    if op is None:
        return None
    if guard is not None:
        op.field, op.expect, op.equal = guard
    return _Step(op, text, condition, value)


# the enum fields of each context's items, by the name the compiler gives them, and their
# field numbers (a span event's context reads ``span.kind`` too, but from its span)
_ENUM_FIELDS = {"span": {"span.kind": 6}, "log": {"log.severity_number": 2}}


def _enum_guard(
    compiler: Compiler, node: Node, fields: dict[str, int]
) -> tuple[int, int, bool] | None:
    """``kind == SPAN_KIND_SERVER`` (an item's enum field against an int) as the field's
    number, the value and whether they must be equal; None for any other condition."""
    if not isinstance(node, Compare) or node.op not in ("==", "!="):
        return None
    left, right = node.left, node.right
    if isinstance(left, Path) is isinstance(right, Path):
        return None
    path, other = (left, right) if isinstance(left, Path) else (right, left)
    assert isinstance(path, Path)
    number = fields.get(compiler.path_getsetter(path).int_field or "")
    value = _literal(compiler, other, int)
    if number is None or type(value) is not int or not -(2**31) <= value < 2**31:
        return None
    return number, value, node.op == "=="


_NOT_LITERAL = object()


def _literal(compiler: Compiler, node: Node, kind: type) -> Any:
    """The constant ``node`` stands for, or ``_NOT_LITERAL``."""
    expr = compiler.expr(node)
    if not expr.const or not isinstance(expr.value, kind):
        return _NOT_LITERAL
    return expr.value


def _all_are(values: list[Any], kind: type, count: int) -> bool:
    return len(values) == count and all(type(v) is kind for v in values)


def _reads_item(compiler: Compiler, spec: ContextSpec, node: Node, attributes: str) -> bool:
    """Whether ``node`` may read the item's attributes (or the per-item ``cache``)."""
    from otlpy.ottl.sequence import paths_of

    for path in paths_of(node):
        names = [f.name for f in path.fields]
        if "cache" in names[:2]:
            return True
        upper = spec.parents.get(names[0])
        if len(names) == 1 and not path.fields[0].keys and upper and upper[0] == spec.obj:
            return True  # the whole item
        if compiler.path_getsetter(path).map_id == attributes:
            return True
    return False


def _searcher(regex: GoRegex) -> Callable[[str], bool]:
    search = regex.search

    def test(key: str) -> bool:
        return search(key) is not None

    return test


def _replacer(pattern: str, template: str) -> Callable[[str], str | None]:
    """``replace_pattern``'s change of one string: the new text, or None without a match."""
    regex = compile_go(pattern)
    if "$" in template:
        replace = regex.replace_all_count

        def expand(text: str) -> str | None:
            new, count = replace(text, template)
            return new if count else None

        return expand
    # a literal replacement (as GoRegex.replace_all_count substitutes it)
    subn = regex.regex.subn
    literal = template.replace("\\", "\\\\")

    def rewrite(text: str) -> str | None:
        new, count = subn(literal, text)
        return new if count else None

    return rewrite
