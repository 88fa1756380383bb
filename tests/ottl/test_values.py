"""Values, comparison, arithmetic and the Go-compatible helpers (fmt, regexp, glob, JSON)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from otlpy.ottl import Duration, OttlError, PMap, PSlice, SpanID, Timestamp, TraceID
from otlpy.ottl.compile import arithmetic
from otlpy.ottl.functions.goformat import sprintf
from otlpy.ottl.functions.goregex import compile_glob, compile_go
from otlpy.ottl.functions.spec import (
    bool_like,
    bytes_like,
    float_like,
    go_json,
    int_like,
    string_like,
)
from otlpy.ottl.functions.timefmt import format_time, parse_duration, rfc3339nano
from otlpy.ottl.values import (
    as_string,
    compare,
    deep_equal,
    duration_ns,
    format_float,
    set_any,
    to_python,
    type_name,
    unix_nano,
)


def test_pmap_and_pslice_views() -> None:
    m = PMap.new()
    m.put("a", 1)
    m.put("b", {"c": [1, "x"]})
    m.put("a", 2)
    assert m.to_dict() == {"a": 2, "b": {"c": [1, "x"]}}
    assert "a" in m and "z" not in m and len(m) == 2
    nested = m.get("b")
    assert isinstance(nested, PMap)
    items = nested.get("c")
    assert isinstance(items, PSlice) and items[1] == "x" and list(items) == [1, "x"]
    items.append(True)
    assert m.to_dict()["b"]["c"] == [1, "x", True]
    assert m.put_empty("a").WhichOneof("value") is None
    assert m.remove("a") and not m.remove("a")
    m.replace({"z": 1.5})
    assert m.keys() == ["z"] and dict(m.items()) == {"z": 1.5}
    assert m == {"z": 1.5} and repr(m) == "PMap({'z': 1.5})"
    assert PSlice(AnyValue().array_value.values) == [] and "PSlice" in repr(items)
    m.clear()
    assert len(m) == 0


def test_set_any_types() -> None:
    holder = AnyValue()
    for value in ("s", True, 3, 2.5, b"\x00", [1, [2]], {"a": {"b": None}}, (1, 2)):
        set_any(holder, value)
        assert to_python(PSlice(AnyValue().array_value.values)) == []
    set_any(holder, datetime(2020, 1, 1))
    assert holder.WhichOneof("value") is None


def test_compare_rules() -> None:
    assert compare(1, 1.0, "==") and compare(2, 1.5, ">")
    assert not compare(1, "1", "==") and compare(1, "1", "!=")
    assert not compare(True, 1, "==")
    assert compare(False, True, "<")
    assert compare(None, None, "==") and not compare(None, None, "<=")
    assert compare(b"a", b"b", "<")
    assert not compare(TraceID(bytes(16)), bytes(16), "==")
    assert compare(SpanID(bytes(8)), SpanID(bytes(8)), "==")
    t = Timestamp.from_unix_nano(10)
    assert compare(t, Timestamp.from_unix_nano(11), "<")
    assert compare(Duration.from_ns(5), timedelta(0), ">")
    assert compare([1, {"a": 1}], [1, {"a": 1}], "==")
    assert not compare([1], [1.0], "==") and not compare([1], [1], "<")
    assert compare({"a": 1}, {"a": 2}, "!=")
    assert not deep_equal(float("nan"), float("nan"))


def test_times_and_durations() -> None:
    t = Timestamp.from_unix_nano(1_500_000_000_123_456_789)
    assert unix_nano(t) == 1_500_000_000_123_456_789
    assert unix_nano(datetime(1970, 1, 1)) == 0
    assert unix_nano(Timestamp.from_datetime(datetime(1970, 1, 1, tzinfo=UTC))) == 0
    d = Duration.from_ns(-1_500)
    assert duration_ns(d) == -1_500
    assert duration_ns(timedelta(seconds=1)) == 1_000_000_000
    assert unix_nano(arithmetic("+", t, d)) == unix_nano(t) - 1_500
    assert unix_nano(arithmetic("+", d, t)) == unix_nano(t) - 1_500
    assert unix_nano(arithmetic("-", t, d)) == unix_nano(t) + 1_500
    assert duration_ns(arithmetic("-", t, t)) == 0
    assert duration_ns(arithmetic("+", d, d)) == -3_000
    assert duration_ns(arithmetic("-", d, d)) == 0
    assert arithmetic("/", -7, 2) == -3 and arithmetic("*", 2**62, 4) == 0
    assert arithmetic("-", 1.5, 0.5) == 1.0 and arithmetic("*", 2.0, 2.0) == 4.0
    with pytest.raises(OttlError):
        arithmetic("*", t, d)
    assert rfc3339nano(t) == "2017-07-14T02:40:00.123456789Z"
    assert rfc3339nano(Timestamp.from_unix_nano(0)) == "1970-01-01T00:00:00Z"
    assert format_time(t, "%D %T %L %f %s %P %l %o %q %h %a %n%t%% %z %i %k %w %Z %c").startswith(
        "07/14/17 02:40:00 123 123456 123456789 am 2  7 7 Jul Fri \n\t% +0000 +00 +00:00:00 +000000"
    )
    with pytest.raises(OttlError):
        format_time(t, "%Q")
    assert parse_duration("1h1m1s1ms1us1ns") == 3_661_001_001_001
    assert parse_duration("+.5s") == 500_000_000 and parse_duration("0") == 0


def test_string_forms() -> None:
    assert format_float(1e21) == "1000000000000000000000"
    assert format_float(1e-7) == "0.0000001"
    assert format_float(math.inf) == "+Inf" and format_float(-math.inf) == "-Inf"
    assert format_float(math.nan) == "NaN"
    assert as_string(None) == "" and as_string(False) == "false" and as_string(b"\x00") == "AA=="
    assert as_string(SpanID(b"\x01" * 8)) == "01" * 8 and as_string(2.0) == "2"
    assert go_json(1e21) == "1e+21" and go_json(1.5) == "1.5" and go_json(1e-7) == "1e-07"
    assert go_json(Timestamp.from_unix_nano(0)) == '"1970-01-01T00:00:00Z"'
    assert go_json(Duration.from_ns(5)) == "5"
    assert go_json({"b": b"\x00"}) == '{"b":"AA=="}'
    with pytest.raises(OttlError):
        go_json(object())
    with pytest.raises(OttlError):
        go_json(math.nan)
    for value, name in [
        (None, "nil"),
        (True, "bool"),
        (1, "int64"),
        (1.0, "float64"),
        ("", "string"),
        (b"", "[]uint8"),
        (TraceID(b""), "pcommon.TraceID"),
        (SpanID(b""), "pcommon.SpanID"),
        (PMap.new(), "pcommon.Map"),
        ({}, "map[string]interface {}"),
        ([], "[]interface {}"),
        (Timestamp.from_unix_nano(0), "time.Time"),
        (Duration.from_ns(0), "time.Duration"),
        (object(), "object"),
    ]:
        assert type_name(value) == name


def test_like_conversions() -> None:
    assert string_like(b"\x0a") == "0a" and string_like(True) == "true" and string_like(3) == "3"
    assert string_like(TraceID(b"\x01" * 16)).startswith("[1,1")
    assert int_like(True) == 1 and int_like("+5") == 5 and int_like("9" * 30) is None
    assert int_like(None) is None and int_like("x") is None
    with pytest.raises(OttlError):
        int_like(math.inf)
    with pytest.raises(OttlError):
        int_like([1])
    assert float_like(False) == 0.0 and float_like("1_0") is None and float_like("x") is None
    with pytest.raises(OttlError):
        float_like({})
    assert bool_like(2) is True and bool_like("F") is False and bool_like(None) is None
    with pytest.raises(OttlError):
        bool_like("maybe")
    with pytest.raises(OttlError):
        bool_like([])
    assert bytes_like(1) == b"\x00" * 7 + b"\x01" and bytes_like(False) == b"\x00"
    assert bytes_like(None) is None
    with pytest.raises(OttlError):
        bytes_like({})


def test_sprintf() -> None:
    assert sprintf("%5s|%-5s|%.2s", ["a", "b", "xyz"]) == "    a|b    |xy"
    assert sprintf("%+d %x %X %o %b %#x", [3, 255, 255, 8, 5, 255]) == "+3 ff FF 10 101 0xff"
    assert sprintf("%e %E %g %G %.3g", [1500.0, 1500.0, 1e-5, 2.5, 3.14159]) == (
        "1.500000e+03 1.500000E+03 1e-05 2.5 3.14"
    )
    assert sprintf("%q %t %T %v %v %v", ['a"b', True, 1, None, [1, "a"], {"k": 1}]) == (
        '"a\\"b" true int64 <nil> [1 a] map[k:1]'
    )
    assert sprintf("%x %v", ["hi", b"\x01\x02"]) == "6869 [1 2]"
    assert sprintf("%d", [1.5]) == "%!d(float64=1.5)"
    assert sprintf("%f", [1]) == "%!f(int64=1)"
    assert sprintf("%x", [1.5]) == "%!x(float64=1.5)"
    assert sprintf("%q %t %y", [1, "x", 1]) == "%!q(int64=1) %!t(string=x) %!y(int64=1)"
    assert sprintf("%s", ["a", 1]) == "a%!(EXTRA int64=1)"
    assert sprintf("%*d|%.*f", [4, 7, 1, 2.25]) == "   7|2.2"
    assert sprintf("%05d %+.1f", [-42, 1.25]) == "-0042 +1.2"


def test_go_regexp_translation() -> None:
    regex = compile_go(r"(?P<a.b>\w+)-(?<c>\d)(x)?\z")
    m = regex.search("ab-1")
    assert m is not None
    assert regex.expand("$a.b|${a.b}|${c}|$1|$9|$$|${|$-", m) == ".b|${a.b}|1|ab||$|${|$-"
    assert regex.expand("${c}:$2:$3", m) == "1:1:"
    assert regex.replace_all("x-1 y-2", "${c}") == "x-1 2"
    assert compile_go("(?i)abc").search("ABC") is not None
    assert compile_go("a(?i)bc").search("aBC") is not None
    assert compile_go("[[:digit:]]+").search("x42") is not None
    assert compile_go("[]a]").search("]") is not None
    assert compile_go("[^]a]").search("b") is not None
    with pytest.raises(ValueError, match="invalid regular expression"):
        compile_go("(")


def test_globs() -> None:
    assert compile_glob("a?c").match("abc") and not compile_glob("a?c").match("ac")
    assert compile_glob("[!x]y").match("zy") and not compile_glob("[!x]y").match("xy")
    assert compile_glob("{foo,bar}*").match("barbaz")
    assert compile_glob("a\\*").match("a*") and not compile_glob("a\\*").match("ab")
    with pytest.raises(ValueError):
        compile_glob("[ab")
    with pytest.raises(ValueError):
        compile_glob("{a,b")
