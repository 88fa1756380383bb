"""The OTTL grammar: a tokenizer and a recursive-descent parser producing a small AST.

The language is the one of the Collector's ``pkg/ottl`` (editor invocations with an optional
``where`` clause, boolean expressions, values, paths, converters, math). Every node keeps the
0-based offset it starts at so errors can point at a column.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Arg",
    "BoolOp",
    "Call",
    "Compare",
    "EnumSym",
    "Field",
    "FuncName",
    "ListLit",
    "Literal",
    "MapLit",
    "MathOp",
    "Node",
    "Not",
    "OttlSyntaxError",
    "Path",
    "Statement",
    "parse_condition",
    "parse_statement",
    "parse_value",
]


class OttlSyntaxError(ValueError):
    """A statement, condition or expression does not parse; ``column`` is 1-based."""

    def __init__(self, message: str, text: str, offset: int) -> None:
        self.message = message
        self.text = text
        self.offset = max(0, min(offset, len(text)))
        self.column = self.offset + 1
        caret = " " * self.offset + "^"
        super().__init__(f"1:{self.column}: {message}\n  {text}\n  {caret}")


# -- AST -------------------------------------------------------------------------------------


@dataclass(slots=True)
class Node:
    pos: int


@dataclass(slots=True)
class Literal(Node):
    value: Any


@dataclass(slots=True)
class EnumSym(Node):
    name: str


@dataclass(slots=True)
class FuncName(Node):
    """A bare converter name passed as an argument (e.g. ``SHA256`` in ``replace_pattern``)."""

    name: str


@dataclass(slots=True)
class Field(Node):
    name: str
    keys: list[Node] = field(default_factory=list)


@dataclass(slots=True)
class Path(Node):
    fields: list[Field]

    def text(self) -> str:
        return ".".join(f.name for f in self.fields)


@dataclass(slots=True)
class Arg(Node):
    name: str | None
    value: Node


@dataclass(slots=True)
class Call(Node):
    name: str
    args: list[Arg]
    keys: list[Node]
    editor: bool


@dataclass(slots=True)
class ListLit(Node):
    items: list[Node]


@dataclass(slots=True)
class MapLit(Node):
    items: list[tuple[str, Node]]


@dataclass(slots=True)
class MathOp(Node):
    op: str
    left: Node
    right: Node


@dataclass(slots=True)
class Compare(Node):
    op: str
    left: Node
    right: Node


@dataclass(slots=True)
class BoolOp(Node):
    op: str
    items: list[Node]


@dataclass(slots=True)
class Not(Node):
    item: Node


@dataclass(slots=True)
class Statement(Node):
    editor: Call
    where: Node | None


# -- tokens ----------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<bytes>0x[0-9a-fA-F]*)
  | (?P<float>\d*\.\d+(?:[eE][-+]?\d+)?)
  | (?P<int>\d+)
  | (?P<string>"(?:\\.|[^\\"])*")
  | (?P<op>==|!=|>=|<=|>|<)
  | (?P<punct>[-+*/=(){}:,.\[\]])
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
    """,
    re.VERBOSE | re.DOTALL,
)

_KEYWORDS = {"where", "and", "or", "not", "true", "false", "nil"}


@dataclass(slots=True)
class Token:
    kind: str
    text: str
    pos: int


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into tokens; raises :class:`OttlSyntaxError` at the first bad character."""
    tokens: list[Token] = []
    pos = 0
    end = len(text)
    match = _TOKEN.match
    while pos < end:
        m = match(text, pos)
        if m is None:
            if text[pos] == '"':
                raise OttlSyntaxError("unterminated string literal", text, pos)
            raise OttlSyntaxError(f"invalid character {text[pos]!r}", text, pos)
        kind = m.lastgroup or ""
        value = m.group()
        if kind == "bytes" and (len(value) == 2 or len(value) % 2):
            raise OttlSyntaxError(f"invalid byte slice literal {value}", text, pos)
        if (kind == "ident" and value in _KEYWORDS) or kind in ("op", "punct"):
            kind = value
        if kind != "ws":
            tokens.append(Token(kind, value, pos))
        pos = m.end()
    tokens.append(Token("eof", "", end))
    return tokens


_ESCAPES = {
    "n": "\n",
    "t": "\t",
    "r": "\r",
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "v": "\v",
    "\\": "\\",
    '"': '"',
    "'": "'",
}


def unquote(literal: str) -> str:
    """The value of a double-quoted OTTL string literal (Go escapes; unknown ones are kept)."""
    body = literal[1:-1]
    if "\\" not in body:
        return body
    out: list[str] = []
    i = 0
    n = len(body)
    while i < n:
        ch = body[i]
        if ch != "\\" or i + 1 >= n:
            out.append(ch)
            i += 1
            continue
        nxt = body[i + 1]
        if nxt in _ESCAPES:
            out.append(_ESCAPES[nxt])
            i += 2
        elif nxt in "xuU":
            width = {"x": 2, "u": 4, "U": 8}[nxt]
            digits = body[i + 2 : i + 2 + width]
            if len(digits) == width and all(c in "0123456789abcdefABCDEF" for c in digits):
                out.append(chr(int(digits, 16)))
                i += 2 + width
            else:
                out.append(ch)
                i += 1
        elif nxt in "01234567" and re.fullmatch(r"[0-7]{3}", body[i + 1 : i + 4]):
            out.append(chr(int(body[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def _is_enum_name(name: str) -> bool:
    return name[0].isupper() and all(c.isupper() or c.isdigit() or c == "_" for c in name)


# -- parser ----------------------------------------------------------------------------------


class _Parser:
    __slots__ = ("i", "text", "tokens")

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0

    # helpers
    def peek(self, ahead: int = 0) -> Token:
        return self.tokens[min(self.i + ahead, len(self.tokens) - 1)]

    def next(self) -> Token:
        tok = self.tokens[self.i]
        if tok.kind != "eof":
            self.i += 1
        return tok

    def error(self, message: str, tok: Token | None = None) -> OttlSyntaxError:
        tok = tok or self.peek()
        return OttlSyntaxError(message, self.text, tok.pos)

    def unexpected(self, expected: str) -> OttlSyntaxError:
        tok = self.peek()
        if tok.kind == "eof":
            return self.error(f"unexpected end of input, expected {expected}")
        return self.error(f'unexpected token "{tok.text}", expected {expected}')

    def expect(self, kind: str, what: str | None = None) -> Token:
        if self.peek().kind != kind:
            raise self.unexpected(what or f'"{kind}"')
        return self.next()

    def finish(self) -> None:
        if self.peek().kind != "eof":
            raise self.error(f'unexpected token "{self.peek().text}"')

    # statements
    def statement(self) -> Statement:
        tok = self.peek()
        if tok.kind != "ident":
            raise self.unexpected("an editor invocation")
        if self.peek(1).kind != "(":
            raise OttlSyntaxError(
                f'unexpected token "{self.peek(1).text or "end of input"}", expected "("',
                self.text,
                self.peek(1).pos,
            )
        call = self.call()
        if not call.editor:
            raise self.error(
                f"editor names must start with a lowercase letter but got '{call.name}'", tok
            )
        if call.keys:
            raise self.error(
                f"only paths and converters may be indexed, not editors, but got {call.name}",
                tok,
            )
        where = None
        if self.peek().kind == "where":
            self.next()
            where = self.bool_expr()
        self.finish()
        return Statement(tok.pos, call, where)

    # boolean expressions
    def bool_expr(self) -> Node:
        start = self.peek().pos
        items = [self.term()]
        while self.peek().kind == "or":
            self.next()
            items.append(self.term())
        return items[0] if len(items) == 1 else BoolOp(start, "or", items)

    def term(self) -> Node:
        start = self.peek().pos
        items = [self.bool_value()]
        while self.peek().kind == "and":
            self.next()
            items.append(self.bool_value())
        return items[0] if len(items) == 1 else BoolOp(start, "and", items)

    def bool_value(self) -> Node:
        tok = self.peek()
        if tok.kind == "not":
            self.next()
            return Not(tok.pos, self.bool_value())
        mark = self.i
        failure: OttlSyntaxError | None = None
        try:
            left = self.value()
        except OttlSyntaxError as exc:
            failure = exc
        else:
            op = self.peek()
            if op.kind in ("==", "!=", "<", "<=", ">", ">="):
                self.next()
                right = self.value()
                return Compare(op.pos, op.kind, left, right)
            if isinstance(left, Literal) and isinstance(left.value, bool):
                return left
            if isinstance(left, Call):
                return left
        self.i = mark
        if tok.kind == "(":
            self.next()
            inner = self.bool_expr()
            self.expect(")", '")"')
            return inner
        if failure is not None:
            raise failure
        self.i = mark
        self.value()
        raise self.unexpected("a comparison operator")

    # values
    def value(self) -> Node:
        return self.additive()

    def additive(self) -> Node:
        left = self.multiplicative()
        while self.peek().kind in ("+", "-"):
            op = self.next()
            right = self.multiplicative()
            left = MathOp(op.pos, op.kind, self._math_operand(left), self._math_operand(right))
        return left

    def multiplicative(self) -> Node:
        left = self.primary()
        while self.peek().kind in ("*", "/"):
            op = self.next()
            right = self.primary()
            left = MathOp(op.pos, op.kind, self._math_operand(left), self._math_operand(right))
        return left

    def _math_operand(self, node: Node) -> Node:
        if isinstance(node, MathOp | Path | Call):
            return node
        if isinstance(node, Literal) and type(node.value) in (int, float):
            return node
        if isinstance(node, Literal) and node.value is None:
            raise OttlSyntaxError("nil cannot be used in a math expression", self.text, node.pos)
        raise OttlSyntaxError(
            "only numbers, paths and converters can be used in a math expression",
            self.text,
            node.pos,
        )

    def primary(self) -> Node:
        tok = self.peek()
        kind = tok.kind
        if kind == "string":
            self.next()
            return Literal(tok.pos, unquote(tok.text))
        if kind == "int":
            self.next()
            return Literal(tok.pos, int(tok.text))
        if kind == "float":
            self.next()
            return Literal(tok.pos, float(tok.text))
        following = self.peek(1)
        if (
            kind in ("-", "+")
            and following.kind in ("int", "float")
            and following.pos == tok.pos + 1
        ):
            self.next()
            num = self.next()
            value: float = int(num.text) if num.kind == "int" else float(num.text)
            return Literal(tok.pos, -value if kind == "-" else value)
        if kind == "bytes":
            self.next()
            return Literal(tok.pos, bytes.fromhex(tok.text[2:]))
        if kind in ("true", "false"):
            self.next()
            return Literal(tok.pos, kind == "true")
        if kind == "nil":
            self.next()
            return Literal(tok.pos, None)
        if kind == "[":
            return self.list_literal()
        if kind == "{":
            return self.map_literal()
        if kind == "(":
            self.next()
            inner = self.additive()
            self.expect(")", '")"')
            return self._math_operand(inner)
        if kind == "ident":
            if self.peek(1).kind == "(":
                call = self.call()
                if call.editor:
                    raise self.error(
                        f"converter names must start with an uppercase letter but got "
                        f"'{call.name}'",
                        tok,
                    )
                return call
            if tok.text[0].isupper():
                self.next()
                if _is_enum_name(tok.text):
                    return EnumSym(tok.pos, tok.text)
                return FuncName(tok.pos, tok.text)
            return self.path()
        raise self.unexpected("a value")

    def list_literal(self) -> ListLit:
        start = self.expect("[")
        items: list[Node] = []
        if self.peek().kind != "]":
            items.append(self.value())
            while self.peek().kind == ",":
                self.next()
                items.append(self.value())
        self.expect("]", '"]"')
        return ListLit(start.pos, items)

    def map_literal(self) -> MapLit:
        start = self.expect("{")
        items: list[tuple[str, Node]] = []
        while self.peek().kind != "}":
            key = self.expect("string", "a string key")
            self.expect(":", '":"')
            items.append((unquote(key.text), self.value()))
            if self.peek().kind == ",":
                self.next()
            elif self.peek().kind != "}":
                raise self.unexpected('"," or "}"')
        self.expect("}")
        return MapLit(start.pos, items)

    def keys(self) -> list[Node]:
        keys: list[Node] = []
        while self.peek().kind == "[":
            self.next()
            tok = self.peek()
            if tok.kind == "]":
                raise self.error("empty index")
            key = self.value()
            if isinstance(key, Literal) and type(key.value) not in (str, int):
                raise self.error("an index must be a string, an int or an expression", tok)
            if isinstance(key, ListLit | MapLit | EnumSym | FuncName):
                raise self.error("an index must be a string, an int or an expression", tok)
            keys.append(key)
            self.expect("]", '"]"')
        return keys

    def path(self) -> Path:
        start = self.peek()
        fields: list[Field] = []
        while True:
            tok = self.expect("ident", "a path field")
            if not tok.text[0].islower() and tok.text[0] != "_":
                raise self.error(f"path fields must be lowercase but got '{tok.text}'", tok)
            fields.append(Field(tok.pos, tok.text, self.keys()))
            if self.peek().kind == "." and self.peek(1).kind == "ident":
                self.next()
                continue
            if self.peek().kind == ".":
                self.next()
                raise self.unexpected("a path field")
            break
        return Path(start.pos, fields)

    def call(self) -> Call:
        name = self.next()
        self.expect("(")
        args: list[Arg] = []
        named_seen = False
        if self.peek().kind != ")":
            while True:
                tok = self.peek()
                arg_name = None
                if tok.kind == "ident" and self.peek(1).kind == "=":
                    self.next()
                    self.next()
                    arg_name = tok.text
                    named_seen = True
                elif named_seen:
                    raise self.error("unnamed arguments must come before named arguments")
                args.append(Arg(tok.pos, arg_name, self.value()))
                if self.peek().kind == ",":
                    self.next()
                    continue
                break
        self.expect(")", '"," or ")"')
        keys = self.keys()
        editor = not name.text[0].isupper()
        return Call(name.pos, name.text, args, keys, editor)


def parse_statement(text: str) -> Statement:
    """Parse one editor statement (``editor(args) [where condition]``)."""
    return _Parser(text).statement()


def parse_condition(text: str) -> Node:
    """Parse a boolean expression (a filter condition or a ``where`` clause on its own)."""
    parser = _Parser(text)
    if parser.peek().kind == "eof":
        raise parser.error("empty condition")
    node = parser.bool_expr()
    parser.finish()
    return node


def parse_value(text: str) -> Node:
    """Parse a value expression (a literal, path, converter, math expression, list or map)."""
    parser = _Parser(text)
    node = parser.value()
    parser.finish()
    return node
