"""Every standard function: results, and errors for wrong types, missing keys and nil."""

from __future__ import annotations

import re
from typing import Any

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from otlpy.ottl import (
    OttlError,
    OttlSyntaxError,
    Timestamp,
    iter_contexts,
    parse_conditions,
    parse_statements,
    parse_value_expression,
)
from otlpy.ottl.functions.hashing import murmur3_32
from otlpy.ottl.values import set_any, to_python

TIME = 1_581_452_772_000_000_321


def request(attributes: dict[str, Any] | None = None, body: Any = "body") -> Any:
    req = ExportLogsServiceRequest()
    record = req.resource_logs.add().scope_logs.add().log_records.add()
    record.time_unix_nano = TIME
    set_any(record.body, body)
    for key, item in (attributes or {}).items():
        set_any(record.attributes.add(key=key).value, item)
    return req


ATTRS = {
    "s": "Hello World",
    "i": 42,
    "f": 1.5,
    "b": True,
    "m": {"k": "v", "n": 1},
    "l": [3, 1, 2],
    "bytes": b"\x01\x02",
}


def evaluate(expression: str, attributes: dict[str, Any] | None = None) -> Any:
    req = request(ATTRS if attributes is None else attributes)
    ctx = next(iter_contexts(req, "log"))
    return parse_value_expression(expression, "log").evaluate(ctx)


def attrs_after(statement: str, attributes: dict[str, Any] | None = None) -> dict[str, Any]:
    req = request(ATTRS if attributes is None else attributes)
    parse_statements(statement, "log").execute(req)
    record = req.resource_logs[0].scope_logs[0].log_records[0]
    from otlpy.ottl.values import PMap

    return to_python(PMap(record.attributes))


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ('Concat(["a", 1, 2.5, true, nil], "-")', "a-1-2.5-true-<nil>"),
        ('ConvertCase("MyHTTPServer", "snake")', "my_http_server"),
        ('ConvertCase("my_metric.name", "camel")', "MyMetricName"),
        ('ToSnakeCase("fooBar2Baz")', "foo_bar_2_baz"),
        ('ToUpperCase(attributes["s"])', "HELLO WORLD"),
        ('Split("a,b,,c", ",")', ["a", "b", "", "c"]),
        ('Split("ab", "")', ["a", "b"]),
        ('Substring("123456789", 2, 3)', "345"),
        ('Substring("一二三", 1, 6, true)', "二"),
        ('Format("%s=%d %05.2f %v %x", ["a", 3, 1.5, true, 255])', "a=3 01.50 true ff"),
        ('Format("%d %s", [1])', "1 %!s(MISSING)"),
        ('Format("%d", ["x"])', "%!d(string=x)"),
        ('Trim("!!a!!", "!")', "a"),
        ('Trim("  a ")', "a"),
        ('TrimPrefix("ingest_x", "ingest_")', "x"),
        ('TrimSuffix("x_service", "_service")', "x"),
        ('HasPrefix("abc", "ab")', True),
        ('HasSuffix("abc", "x")', False),
        ('IsMatch(attributes["i"], "^4")', True),
        ('IsMatch(attributes["missing"], ".*")', False),
        ('IsMatch(attributes["m"], "\\"k\\"")', True),
        ('String(attributes["bytes"])', "0102"),
        ('String(attributes["m"])', '{"k":"v","n":1}'),
        ("String(1.0)", "1"),
        ("String(nil)", None),
        ('Int("12")', 12),
        ('Int("1.5")', None),
        ("Int(-2.9)", -2),
        ('Double("2.5")', 2.5),
        ("Double(3)", 3.0),
        ('Bool("T")', True),
        ('Bool("nope")', None),
        ("Bool(0)", False),
        ('Hex(attributes["bytes"])', "0102"),
        ("Hex(nil)", None),
        ('IsString(attributes["s"])', True),
        ('IsInt(attributes["f"])', False),
        ('IsDouble(attributes["f"])', True),
        ('IsBool(attributes["b"])', True),
        ('IsMap(attributes["m"])', True),
        ('IsList(attributes["l"])', True),
        ('IsEmpty(attributes["missing"])', True),
        ('IsEmpty("")', True),
        ('IsEmpty(attributes["l"])', False),
        ('Len("héllo")', 6),
        ('Len(attributes["l"])', 3),
        ("Log(1)", 0.0),
        ("IsValidLuhn(17893729974)", True),
        ('IsInCIDR("10.1.2.3", ["10.0.0.0/8"])', True),
        ('IsInCIDR("not an ip", ["10.0.0.0/8"])', False),
        ('ParseInt("-0xFF", 0)', -255),
        ('ParseInt("0b1111_0000", 0)', 240),
        ('ParseInt("AA", 16)', 170),
        ('Keys(attributes["m"])', ["k", "n"]),
        ('Values({"a": 1, "b": [2]})', [1, [2]]),
        ('ContainsValue(attributes["l"], 2)', True),
        ("ContainsValue([1.5, 2.5], 2)", False),
        ('Index("hello world", "world")', 6),
        ('Index(attributes["l"], 2)', 2),
        ('Index(attributes["l"], 9)', -1),
        ('Coalesce([attributes["missing"], attributes["s"]])', "Hello World"),
        ("Coalesce([nil])", None),
        ('Sort(attributes["l"], "desc")', [3, 2, 1]),
        ('Sort(["b", "a"])', ["a", "b"]),
        ("Sort([])", []),
        ('SliceToMap([{"k": "a", "v": 1}, {"k": "b", "v": 2}], ["k"], ["v"])', {"a": 1, "b": 2}),
        ('SliceToMap([{"k": "a"}])', {"0": {"k": "a"}}),
        ('ParseJSON("{\\"a\\": 1, \\"b\\": [true, null]}")', {"a": 1.0, "b": [True, None]}),
        ('ParseJSON("[1]")', [1.0]),
        ('ParseKeyValue("a=1 b=\\"x y\\"")', {"a": "1", "b": "x y"}),
        ('ParseKeyValue("a:1|b:2", ":", "|")', {"a": "1", "b": "2"}),
        ('ToKeyValueString({"b": "2 3", "a": "1"}, "=", " ", true)', 'a=1 b="2 3"'),
        ('ParseCSV("1,\\"x,y\\"", "a,b")', {"a": "1", "b": "x,y"}),
        ('ParseCSV("1;\\"x", "a;b", ";", mode="ignoreQuotes")', {"a": "1", "b": '"x'}),
        (
            'ExtractPatterns("id=42", "id=(?P<id.num>\\\\d+)(?P<rest>x)?")',
            {"id.num": "42", "rest": ""},
        ),
        ('ExtractPatterns("nothing", "(?P<a>\\\\d+)")', {}),
        (
            'URL("https://u:p@example.com:8443/a/b.gif?q=1#frag")',
            {
                "url.original": "https://u:p@example.com:8443/a/b.gif?q=1#frag",
                "url.scheme": "https",
                "url.domain": "example.com",
                "url.path": "/a/b.gif",
                "url.port": 8443,
                "url.query": "q=1",
                "url.fragment": "frag",
                "url.username": "u",
                "url.password": "p",
                "url.user_info": "u:p",
                "url.extension": "gif",
            },
        ),
        ('Decode("aGk", "base64-raw")', "hi"),
        ('Decode("aGk=", "base64-url")', "hi"),
        ('Base64Decode("aGk=")', "hi"),
        ('Base64Encode("hi?", "base64-raw-url")', "aGk_"),
        ('SHA1("pass")', "9d4e1e23bd5b727046a9e3b4b7db57bd8d6ee684"),
        ('MD5("pass")', "1a1dc91c907325c69271ddf0c944bc72"),
        ('Len(SHA512("a"))', 128),
        ('FNV("hello")', -6615550055289275125),
        ('Murmur3Hash("Hello World")', murmur3_32(b"Hello World").to_bytes(4, "little").hex()),
        ('String(SpanID("0102030405060708"))', "[1,2,3,4,5,6,7,8]"),
        # published MurmurHash3 test vectors (the 128-bit one exercises the 16-byte blocks)
        (
            'Murmur3Hash128("The quick brown fox jumps over the lazy dog")',
            "6c1b07bc7bbc4be347939ac4a93c437a",
        ),
        ('Murmur3Hash("The quick brown fox jumps over the lazy dog")', "23f74f2e"),
        ("Hex(ProfileID(0x00112233445566778899aabbccddeeff))", "00112233445566778899aabbccddeeff"),
        ("Len(UUID())", 36),
        ("Substring(UUIDv7(), 14, 1)", "7"),
        (
            'FormatTime(Time("2023-05-26 12:34:56", "%Y-%m-%d %H:%M:%S"), "%A %e %B %y %I%p %j")',
            "Friday 26 May 23 12PM +00:00",
        ),
        ('UnixSeconds(Time("2023-05-26T12:34:56+0200", "%Y-%m-%dT%H:%M:%S%z"))', 1685097296),
        ('Hour(Time("2023-05-26 12:34:56", "%Y-%m-%d %H:%M:%S", "America/New_York"))', 12),
        (
            'UnixMilli(Time("Feb 15, 2023 01:02:03.500", "%b %d, %Y %H:%M:%S.%L"))',
            1676422923500,
        ),
        ("Year(time) * 100 + Month(time)", 202002),
        ("Day(time) + Weekday(time) + Minute(time) + Second(time)", 11 + 2 + 26 + 12),
        ("Nanosecond(time)", 321),
        ('UnixNano(TruncateTime(time, Duration("1h")))', 1581451200000000000),
        ("UnixSeconds(Unix(5, 1))", 5),
        ('Hours(Duration("90m"))', 1.5),
        ('Minutes(Duration("1h30m"))', 90.0),
        ('Seconds(Duration("-1.5s"))', -1.5),
        ('Microseconds(Duration("1.001ms"))', 1001),
        ('Nanoseconds(Duration("2us"))', 2000),
        ('UnixNano(time + Duration("1ns"))', TIME + 1),
        (
            'UserAgent("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/91.0.4472.124 Safari/537.36 Edg/91.0.864.59")["user_agent.name"]',
            "Edge",
        ),
        (
            'UserAgent("Mozilla/5.0 (X11; Linux x86_64; rv:126.0) Gecko/20100101 Firefox/126.0")["os.name"]',
            "Linux",
        ),
        ('UserAgent("something")["user_agent.name"]', "Other"),
        (
            'ExtractGrokPatterns("user=bob pid=7", "user=%{WORD:user} pid=%{POSINT:pid:int}", true)',
            {"user": "bob", "pid": 7},
        ),
        (
            'ExtractGrokPatterns("55 x", "%{NUMBER} %{WORD}")',
            {"NUMBER": "55", "BASE10NUM": "55", "WORD": "x"},
        ),
        ('ExtractGrokPatterns("a:b", "%{X:x}:%{X:y}", true, ["X=%{WORD}"])', {"x": "a", "y": "b"}),
        ('ExtractGrokPatterns("1.2.3.4", "%{IP:ip}", true)', {"ip": "1.2.3.4"}),
        (
            'ParseXML("<a x=\\"1\\">t<b>u</b></a>")',
            {
                "tag": "a",
                "attributes": {"x": "1"},
                "content": "t",
                "children": [{"tag": "b", "content": "u"}],
            },
        ),
        (
            'ParseSimplifiedXML("<a><b>1</b><b/><c><d>2</d></c></a>")',
            {"a": {"b": ["1"], "c": {"d": "2"}}},
        ),
        ('GetXML("<a><b x=\\"1\\">t</b><b x=\\"2\\"/></a>", "//b[@x=\'2\']")', '<b x="2"></b>'),
        ('GetXML("<a><b x=\\"1\\">t</b></a>", "/a/b/@x")', "1"),
        ('GetXML("<a><b>t</b></a>", "/a/b/text()")', "t"),
        ('GetXML("<a><b>1</b><b>2</b></a>", "/a/b[2]")', "<b>2</b>"),
        ('RemoveXML("<a><b foo=\\"x\\"/>z</a>", "/a/b/@foo")', "<a><b></b>z</a>"),
        (
            'RemoveXML("<a><b>sensitive</b><c/></a>", "//*[contains(text(), \'sensitive\')]")',
            "<a><c></c></a>",
        ),
        ('InsertXML("<a><b/></a>", "//b", "<c/>")', "<a><b><c></c></b></a>"),
        (
            'ConvertAttributesToElementsXML("<a foo=\\"bar\\"><b>baz</b></a>", "/a")',
            "<a><b>baz</b><foo>bar</foo></a>",
        ),
    ],
)
def test_converter_results(expression: str, expected: Any) -> None:
    assert evaluate(expression) == expected


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ('ConvertCase(attributes["i"], "upper")', "expected string but got int64"),
        ("ToLowerCase(nil)", "expected string but got nil"),
        ('Substring("abc", 2, 5)', "greater than the length"),
        ('Substring("abc", -1, 1)', "cannot be negative"),
        ('Len(attributes["i"])', "unsupported type"),
        ("Log(0)", "undefined"),
        ('Log("x")', "is nil"),
        ("IsValidLuhn(1.5)", "expected a string or an int"),
        ('IsValidLuhn("12a")', "digits only"),
        ('ParseInt("zz", 10)', "invalid syntax"),
        ('ParseInt("1", 1)', "invalid base"),
        ('Keys(attributes["l"])', "expected pcommon.Map"),
        ('ContainsValue("abc", "a")', "expected a slice"),
        ("Index(1, 1)", "expected a string or a slice"),
        ('Index("abc", 1)', "expected a string to search"),
        ('Sort([{"a": 1}])', "unsupported type"),
        ('Sort("abc")', "unsupported type"),
        ('SliceToMap(["x"])', "could not cast element 0"),
        ('SliceToMap([{"k": 1}], ["k"])', "does not point to a string"),
        ('SliceToMap([{"k": "a"}], ["k"], ["v"])', "value path"),
        ("SliceToMap(1)", "unsupported type"),
        ('ParseJSON("{")', "ParseJSON"),
        ('ParseKeyValue("")', "empty string"),
        ('ParseKeyValue("a")', "cannot split"),
        ('ParseKeyValue("a=\\"b")', "unterminated quote"),
        ('ParseCSV("1,2", "a")', "wrong number of fields"),
        ('ParseCSV("\\"a\\"b", "a")', "ParseCSV"),
        ('URL("http://[::1")', "failed to parse URL"),
        ('Decode("%%%", "base64")', "illegal base64"),
        ('Decode(1, "base64")', "unsupported type"),
        ('Base64Decode("aGk")', "illegal base64"),
        ('TraceID("abc")', "32 hex characters"),
        ('TraceID("zz000000000000000000000000000000")', "invalid"),
        ("TraceID(0x0102)", "exactly 16 bytes"),
        ("SpanID(1)", "byte slice or a hex string"),
        ('Time("2023", "%Y-%m")', "cannot parse"),
        ('Time("13-32", "%m-%d")', "parsing time"),
        ('Duration("1x")', "invalid duration"),
        ('Duration("")', "invalid duration"),
        ('FormatTime("x", "%Y")', "expected time.Time"),
        ('Hours("1h")', "expected time.Duration"),
        ('Unix("1")', "expected int64"),
        ('GetXML("<a>", "/a")', "cannot parse XML"),
        ('GetXML("<a/>", "/a[foo(1)]")', "unsupported xpath predicate"),
        ('ParseXML("<a/><b/>")', "exactly one root"),
        ('ExtractGrokPatterns("x", "%{NOPE:x}", true)', "unknown grok pattern"),
        ("1 / 0", "divide by 0"),
        ("1.0 / 0.0", "divide by 0"),
        ("1 + 1.0", "unsupported math operation"),
        ('attributes["s"] + 1', "unsupported math operation"),
        ('attributes["missing"] + 1', "nil"),
        ('attributes["l"][5]', "out of bounds"),
        ('attributes["l"]["x"]', "integer index in slice"),
        ('attributes["s"]["x"]', "does not support string indexing"),
        ('attributes[attributes["f"]]', "invalid key type"),
    ],
)
def test_converter_errors(expression: str, message: str) -> None:
    with pytest.raises((OttlError, OttlSyntaxError), match=re.escape(message)):
        evaluate(expression)


@pytest.mark.parametrize(
    ("statement", "message"),
    [
        ('set(attributes["x"], ConvertCase("a", "title"))', "invalid case"),
        ('set(attributes["x"], Sort([1], "up"))', "invalid sort order"),
        ('set(attributes["x"], ExtractPatterns("a", "(\\\\d)"))', "named capture group"),
        ('set(attributes["x"], ExtractPatterns("a", "("))', "not a valid pattern"),
        ('set(attributes["x"], IsMatch("a", "("))', "not a valid regexp"),
        ('set(attributes["x"], ParseCSV("a", "b", mode="loose"))', "unknown mode"),
        ('set(attributes["x"], ParseCSV("a", "b", ";;"))', "single character"),
        ('set(attributes["x"], ParseKeyValue("a", "=", "="))', "cannot be equal"),
        ('set(attributes["x"], Decode("a", "klingon"))', "no decoder"),
        ('set(attributes["x"], Base64Encode("a", "base32"))', "unsupported base64 variant"),
        ('set(attributes["x"], Time("a", ""))', "format cannot be nil"),
        ('set(attributes["x"], Time("a", "%Y", "Mars/Base"))', "unknown time zone"),
        ('set(attributes["x"], Time("a", "%Y", "", "fr"))', "unsupported locale"),
        ('set(attributes["x"], Coalesce([]))', "at least one value"),
        ('set(attributes["x"], SliceToMap([], []))', "at least one element"),
        (
            'set(attributes["x"], ExtractGrokPatterns("a", "%{WORD:x:short}"))',
            "unsupported grok type",
        ),
        ('set(attributes["x"], GetXML("<a/>", ""))', "xpath cannot be empty"),
        ("limit(attributes, -1, [])", "cannot be negative"),
        ('limit(attributes, 1, ["a", "b"])', "priority"),
        ('merge_maps(attributes, attributes["m"], "merge")', "strategy"),
        ('replace_all_patterns(attributes, "both", "a", "b")', "invalid mode"),
        ("truncate_all(attributes, -1)", "cannot be negative"),
        ('truncate_all(attributes, 2, true, "...")', "longer than the limit"),
        ("flatten(attributes, depth=-1)", "cannot be negative"),
        ('append(attributes["x"])', "at least one of the optional arguments"),
        ('replace_match(attributes["s"], "[a", "x")', "invalid glob"),
        ('replace_pattern(attributes["s"], "a", "b", Nope)', "must be the name of a converter"),
        ('replace_pattern(attributes["s"], "a", "b", Substring)', "cannot be passed"),
    ],
)
def test_compile_time_argument_errors(statement: str, message: str) -> None:
    with pytest.raises(OttlSyntaxError, match=re.escape(message)):
        parse_statements(statement, "log")


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ('Duration("1s") - Duration("1ms") == Duration("999ms")', True),
        ('Duration("1s") > Duration("1ms")', True),
        ('time - time == Duration("0")', True),
        ("UnixNano(Now()) > 0", True),
        ("time < Now()", True),
        ('attributes["i"] == 42.0', True),
        ('attributes["i"] == "42"', False),
        ('attributes["i"] != "42"', True),
        ('attributes["i"] < "42"', False),
        ('attributes["s"] > "A"', True),
        ('attributes["b"] > false', True),
        ('attributes["missing"] == nil', True),
        ("nil != nil", False),
        ('attributes["m"] == {"k": "v", "n": 1}', True),
        ('attributes["m"] == {"k": "v", "n": 1.0}', False),
        ('attributes["m"] < {"k": "v"}', False),
        ('attributes["l"] == [3, 1, 2]', True),
        ('attributes["bytes"] == 0x0102', True),
        ('attributes["bytes"] < 0x0103', True),
        ('not (IsString(attributes["s"]) and attributes["i"] > 50) or false', True),
        ("trace_id == TraceID(0x00000000000000000000000000000000)", True),
        ("span_id != SpanID(0x0000000000000000)", False),
    ],
)
def test_conditions(condition: str, expected: bool) -> None:
    req = request(ATTRS)
    ctx = next(iter_contexts(req, "log"))
    assert parse_conditions(condition, "log").matches(ctx) is expected


def test_time_values_keep_nanoseconds() -> None:
    value = evaluate("time")
    assert isinstance(value, Timestamp)
    assert evaluate('UnixNano(time + Duration("1ms") - Duration("1ms"))') == TIME


# -- editors ---------------------------------------------------------------------------------


def test_set_and_nil() -> None:
    with pytest.raises(OttlError, match="type Empty does not support int indexing"):
        attrs_after('set(attributes["x"]["y"][0], 1)', {})
    assert attrs_after('set(attributes["x"], attributes["missing"])', {"a": 1}) == {"a": 1}
    assert attrs_after('set(attributes["a"]["b"], 2)', {"a": {"c": 1}}) == {"a": {"c": 1, "b": 2}}
    assert attrs_after('set(attributes["l"][1], "x")', {"l": [1, 2]}) == {"l": [1, "x"]}
    assert attrs_after('set(attributes, {"only": true})', {"a": 1}) == {"only": True}
    assert attrs_after("set(attributes, 5)", {"a": 1}) == {"a": 1}
    assert attrs_after('set(attributes["m"], attributes["m"])', {"m": {"a": 1}}) == {"m": {"a": 1}}
    assert attrs_after('set(attributes["n"]["x"], attributes["n"])', {"n": {"a": 1}}) == {
        "n": {"a": 1, "x": {"a": 1}}
    }


@pytest.mark.parametrize(
    ("statement", "message"),
    [
        ('set(attributes["s"]["x"], 1)', "does not support string indexing"),
        ('set(attributes["l"][9], 1)', "out of bounds"),
        ('set(attributes["l"]["k"], 1)', "type Slice does not support string indexing"),
        ('set(attributes[1], "x")', "string index in map"),
        ('delete_key(attributes["s"], "x")', "expected pcommon.Map but got string"),
        ('delete_key(attributes["missing"], "x")', "expected pcommon.Map but got nil"),
        ('delete_index(attributes["s"], 0)', "must be a slice"),
        ('delete_index(attributes["l"], 5)', "out of bounds"),
        ('delete_index(attributes["l"], 1, 0)', "out of bounds"),
        ('merge_maps(attributes, attributes["s"], "upsert")', "expected pcommon.Map"),
    ],
)
def test_editor_runtime_errors(statement: str, message: str) -> None:
    req = request({"s": "x", "l": [1, 2]})
    before = req.SerializeToString()
    with pytest.raises(OttlError, match=re.escape(message)):
        parse_statements(statement, "log").execute(req)
    assert req.SerializeToString() == before


def test_map_editors() -> None:
    base = {"http.a": 1, "http.b": "x", "db": {"k": "v"}, "n": "abcdef"}
    assert attrs_after('delete_key(attributes, "db")', base) == {
        "http.a": 1,
        "http.b": "x",
        "n": "abcdef",
    }
    assert attrs_after('delete_matching_keys(attributes, "^http")', base) == {
        "db": {"k": "v"},
        "n": "abcdef",
    }
    assert attrs_after('keep_matching_keys(attributes, "^http")', base) == {
        "http.a": 1,
        "http.b": "x",
    }
    assert attrs_after('keep_keys(attributes, ["n"])', base) == {"n": "abcdef"}
    assert attrs_after("keep_keys(attributes, [])", base) == {}
    assert attrs_after('keep_keys(attributes["db"], ["k"])', base)["db"] == {"k": "v"}
    assert attrs_after('limit(attributes, 2, ["n"])', base) == {"http.a": 1, "n": "abcdef"}
    assert attrs_after("limit(attributes, 10, [])", base) == base
    merged = attrs_after('merge_maps(attributes, {"n": "new", "z": 1}, "insert")', base)
    assert merged["n"] == "abcdef" and merged["z"] == 1
    merged = attrs_after('merge_maps(attributes, {"n": "new", "z": 1}, "update")', base)
    assert merged["n"] == "new" and "z" not in merged
    assert attrs_after("truncate_all(attributes, 3)", base)["n"] == "abc"
    assert attrs_after('truncate_all(attributes, 4, truncation_marker="..")', base)["n"] == "ab.."
    assert attrs_after("truncate_all(attributes, 1)", {"u": "é"})["u"] == ""
    assert attrs_after("truncate_all(attributes, 1, false)", {"u": "éa"})["u"] == "\ufffd"
    assert attrs_after(
        "stringify_all(attributes)", {"i": 1, "f": 1.5, "b": True, "m": {"a": 1}, "y": b"\x00"}
    ) == {
        "i": "1",
        "f": "1.5",
        "b": "true",
        "m": '{"a":1}',
        "y": "AA==",
    }
    assert attrs_after('delete_key(cache, "x")', base) == base


def test_replace_editors() -> None:
    base = {"path": "/user/123/list/9", "other": "/x", "k_1": "v"}
    got = attrs_after('replace_pattern(attributes["path"], "/(\\\\d+)", "/{$1}")', base)
    assert got["path"] == "/user/{123}/list/{9}"
    got = attrs_after('replace_pattern(attributes["path"], "\\\\d+", "$$")', base)
    assert got["path"] == "/user/$/list/$"
    got = attrs_after(
        'replace_pattern(attributes["path"], "(?P<id>\\\\d+)", "${id}", SHA1, "h:%s")', base
    )
    assert got["path"].startswith("/user/h:") and len(got["path"]) > 40
    got = attrs_after('replace_all_patterns(attributes, "key", "^k_(\\\\d)", "key$1")', base)
    assert "key1" in got and "k_1" not in got
    got = attrs_after('replace_match(attributes["path"], "/user/*/list/*", "/user/{id}")', base)
    assert got["path"] == "/user/{id}"
    got = attrs_after('replace_match(attributes["path"], "/other*", "x")', base)
    assert got["path"] == base["path"]
    got = attrs_after('replace_all_matches(attributes, "/user/*", "{u}", SHA256, "u:%s")', base)
    assert got["path"].startswith("u:") and got["other"] == "/x"
    got = attrs_after('replace_pattern(body, "o", "0")', {})
    assert got == {}


def test_flatten_and_append_and_delete_index() -> None:
    nested = {"a": {"b": {"c": 1}}, "l": [1, {"x": 2}]}
    assert attrs_after("flatten(attributes)", nested) == {"a.b.c": 1, "l.0": 1, "l.1.x": 2}
    assert attrs_after("flatten(attributes, depth=1)", nested) == {
        "a.b": {"c": 1},
        "l.0": 1,
        "l.1": {"x": 2},
    }
    assert attrs_after('flatten(attributes, "p", 0)', nested) == {
        "p.a": {"b": {"c": 1}},
        "p.l": [1, {"x": 2}],
    }
    assert attrs_after('append(attributes["t"], "x")', {"t": "a"}) == {"t": ["a", "x"]}
    assert attrs_after('append(attributes["t"], values=[1, 2])', {}) == {"t": [1, 2]}
    assert attrs_after('append(attributes["t"], attributes["t"])', {"t": [1]}) == {"t": [1, [1]]}
    assert attrs_after('delete_index(attributes["t"], 0, 2)', {"t": [1, 2, 3]}) == {"t": [3]}
    assert attrs_after('delete_index(attributes["t"], 1, 1)', {"t": [1, 2]}) == {"t": [1, 2]}
    assert attrs_after(
        'delete_index(attributes["t"], Len(attributes["t"]) - 1)', {"t": [1, 2]}
    ) == {"t": [1]}


def test_body_paths() -> None:
    req = request({}, body={"a": {"b": 1}})
    parse_statements(
        ['set(body["a"]["c"], body["a"]["b"] + 1)', 'set(attributes["s"], body.string)'], "log"
    ).execute(req)
    record = req.resource_logs[0].scope_logs[0].log_records[0]
    assert (
        to_python(record.body.kvlist_value.values[0].value.kvlist_value.values[1].value.int_value)
        == 2
    )
    assert record.attributes[0].value.string_value == '{"a":{"b":1,"c":2}}'
    parse_statements('set(body.string, "plain")', "log").execute(req)
    assert record.body.string_value == "plain"
