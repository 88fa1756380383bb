"""The OTTL grammar: what parses, into what, and where errors point."""

from __future__ import annotations

import pytest

from otlpy.ottl import OttlSyntaxError, parse_conditions, parse_statements
from otlpy.ottl.grammar import (
    BoolOp,
    Call,
    Compare,
    EnumSym,
    FuncName,
    ListLit,
    Literal,
    MapLit,
    MathOp,
    Not,
    Path,
    parse_condition,
    parse_statement,
    parse_value,
    tokenize,
    unquote,
)


def test_statement_with_where_clause() -> None:
    stmt = parse_statement('set(attributes["a"], "b") where name == "x" and not kind > 1')
    assert stmt.editor.name == "set" and stmt.editor.editor
    assert isinstance(stmt.editor.args[0].value, Path)
    assert isinstance(stmt.where, BoolOp) and stmt.where.op == "and"
    assert isinstance(stmt.where.items[1], Not)


def test_precedence_of_and_over_or() -> None:
    node = parse_condition("true or false and false")
    assert isinstance(node, BoolOp) and node.op == "or"
    assert isinstance(node.items[1], BoolOp) and node.items[1].op == "and"


def test_parenthesised_conditions_and_math() -> None:
    node = parse_condition('(1 + 2) * 3 > 4 and (name == "a" or name == "b")')
    assert isinstance(node, BoolOp)
    compare = node.items[0]
    assert isinstance(compare, Compare) and isinstance(compare.left, MathOp)
    assert compare.left.op == "*"


def test_literals() -> None:
    assert parse_value("-1.5e3").value == -1500.0  # type: ignore[attr-defined]
    assert parse_value(".5").value == 0.5  # type: ignore[attr-defined]
    assert parse_value("0x0aFF").value == b"\x0a\xff"  # type: ignore[attr-defined]
    assert parse_value("nil").value is None  # type: ignore[attr-defined]
    assert parse_value("true").value is True  # type: ignore[attr-defined]
    assert isinstance(parse_value("SPAN_KIND_SERVER"), EnumSym)
    assert isinstance(parse_value('[1, "a", [2]]'), ListLit)
    node = parse_value('{"a": {"b": 1}, "c": [1,2],}')
    assert isinstance(node, MapLit) and [k for k, _ in node.items] == ["a", "c"]


def test_string_escapes() -> None:
    assert unquote(r'"a\"b\\c\n\t"') == 'a"b\\c\n\t'
    assert unquote(r'"\d+ \x41\u00e9"') == "\\d+ A\u00e9"


def test_converter_with_keys_and_named_args() -> None:
    node = parse_value('Split(body, ",")[1]')
    assert isinstance(node, Call) and len(node.keys) == 1
    stmt = parse_statement('flatten(attributes, "p", resolveConflicts=true)')
    assert [a.name for a in stmt.editor.args] == [None, None, "resolveConflicts"]


def test_function_name_argument() -> None:
    stmt = parse_statement('replace_pattern(body, "a", "b", SHA256)')
    assert isinstance(stmt.editor.args[3].value, EnumSym)
    stmt = parse_statement('replace_pattern(body, "a", "b", ToLowerCase)')
    assert isinstance(stmt.editor.args[3].value, FuncName)


def test_expression_keys() -> None:
    node = parse_value('attributes[attributes["k"]][Len(x) - 1]["n"]')
    assert isinstance(node, Path)
    assert len(node.fields[0].keys) == 3


def test_negative_number_only_when_adjacent() -> None:
    node = parse_value("Len(x) - 1")
    assert isinstance(node, MathOp) and node.op == "-"
    assert isinstance(parse_value("-1"), Literal)


@pytest.mark.parametrize(
    ("text", "column", "fragment"),
    [
        ('set(attributes["a"] "b")', 21, 'unexpected token ""b""'),
        ("Set(name, 1)", 1, "editor names must start with a lowercase letter"),
        ('set(name, concat("a"))', 11, "converter names must start with an uppercase"),
        ("set(name, 1", 12, "unexpected end of input"),
        ('set(name, "abc)', 11, "unterminated string"),
        ("set(name, 1) where", 19, "unexpected end of input"),
        ("set(name, 1) where name", 24, "comparison operator"),
        ('set(name, "a" + "b")', 11, "math expression"),
        ("set(name, 1)[0]", 1, "only paths and converters may be indexed"),
        ("set(name, 0x1)", 11, "invalid byte slice literal"),
        ("set(name, x=1, 2)", 16, "unnamed arguments must come before named"),
        ("set(name, 1) # x", 14, "invalid character"),
    ],
)
def test_syntax_errors_point_at_the_column(text: str, column: int, fragment: str) -> None:
    with pytest.raises(OttlSyntaxError) as info:
        parse_statement(text)
    assert info.value.column == column, str(info.value)
    assert fragment in str(info.value)
    # the message shows the statement with a caret under the column
    assert str(info.value).splitlines()[-1].index("^") - 2 == column - 1


@pytest.mark.parametrize(
    ("text", "column", "fragment"),
    [
        ('set(attributez["a"], "b")', 5, 'segment "attributez"'),
        ('set(attributes["a"], Nope(1))', 22, 'undefined function "Nope"'),
        ('nope(attributes["a"], "b")', 1, 'undefined function "nope"'),
        ("set(severity_number, SEVERITY_NUMBER_NOPE)", 22, "enum symbol"),
        ('set(attributes["a"], "b", "c")', 27, "too many arguments"),
        ('delete_key(attributes, attributes["k"])', 24, "must be a string"),
        ('set(attributes["a"], ToLowerCase)', 22, "function name"),
        ('replace_pattern(body, "(", "x")', 1, "invalid arguments"),
        ('set(attributes["a"], Split(body))', 22, 'missing its "delimiter"'),
        ('set(attributes["a"], Split(body, ",", nope=1))', 39, 'no parameter named "nope"'),
    ],
)
def test_compile_errors_point_at_the_column(text: str, column: int, fragment: str) -> None:
    with pytest.raises(OttlSyntaxError) as info:
        parse_statements(text, "log")
    assert info.value.column == column, str(info.value)
    assert fragment in str(info.value)


def test_condition_errors() -> None:
    with pytest.raises(OttlSyntaxError, match="empty condition"):
        parse_conditions("", "span")
    with pytest.raises(OttlSyntaxError, match="comparison operator"):
        parse_conditions('"x"', "span")
    with pytest.raises(OttlSyntaxError, match="expected a boolean"):
        parse_conditions('Len("x")', "span")


def test_tokenizer_keywords_are_whole_words() -> None:
    kinds = [t.kind for t in tokenize("nothing not andy and")]
    assert kinds == ["ident", "not", "ident", "and", "eof"]
