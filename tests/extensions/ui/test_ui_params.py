"""Query-parameter parsing: Go durations, lookbacks, RFC 3339 times, tags as JSON or logfmt."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otlpy.extensions.ui._params import (
    ParamError,
    parse_attributes,
    parse_bool,
    parse_go_duration_ns,
    parse_int,
    parse_logfmt,
    parse_lookback_ns,
    parse_rfc3339_ns,
    parse_time_ns,
)


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("1.2s", 1_200_000_000),
        ("150ms", 150_000_000),
        ("1h30m", 5_400_000_000_000),
        ("250us", 250_000),
        ("250µs", 250_000),
        ("250μs", 250_000),
        ("7ns", 7),
        ("0", 0),
    ],
)
def test_go_durations(text: str, ns: int) -> None:
    assert parse_go_duration_ns(text, "minDuration") == ns


@pytest.mark.parametrize("text", ["abc", "10", "1.5", "s", "1d"])
def test_bad_go_durations_name_the_parameter(text: str) -> None:
    with pytest.raises(ParamError, match="unable to parse param 'minDuration'") as info:
        parse_go_duration_ns(text, "minDuration")
    assert info.value.param == "minDuration"


def test_lookbacks() -> None:
    assert parse_lookback_ns("1h") == 3600 * 10**9
    assert parse_lookback_ns("2d") == 2 * 86400 * 10**9
    assert parse_lookback_ns("1.5d") == 36 * 3600 * 10**9
    assert parse_lookback_ns("custom") is None
    assert parse_lookback_ns("") is None
    for bad in ("forever", "-1h", "0"):
        with pytest.raises(ParamError, match="lookback"):
            parse_lookback_ns(bad)


def test_rfc3339() -> None:
    base = int(datetime(2024, 5, 1, 10, 0, 0, tzinfo=UTC).timestamp()) * 10**9
    assert parse_rfc3339_ns("2024-05-01T10:00:00Z", "t") == base
    assert parse_rfc3339_ns("2024-05-01T10:00:00.5Z", "t") == base + 500_000_000
    assert parse_rfc3339_ns("2024-05-01T10:00:00.123456789Z", "t") == base + 123_456_789
    assert parse_rfc3339_ns("2024-05-01T12:30:00+02:30", "t") == base
    assert parse_rfc3339_ns("2024-05-01T07:00:00-03:00", "t") == base
    # a '+' lost to URL decoding comes back as a space
    assert parse_rfc3339_ns("2024-05-01T12:00:00 02:00", "t") == base
    for bad in ("2024-05-01", "yesterday", "2024-13-01T00:00:00Z", "2024-05-01T10:00:00"):
        with pytest.raises(ParamError, match="malformed parameter t"):
            parse_rfc3339_ns(bad, "t")


def test_times_in_nanoseconds_or_rfc3339() -> None:
    assert parse_time_ns("1714557600000000000", "end") == 1714557600 * 10**9
    assert parse_time_ns("2024-05-01T10:00:00Z", "end") == 1714557600 * 10**9


def test_ints_and_bools() -> None:
    assert parse_int(" 42 ", "limit") == 42
    with pytest.raises(ParamError, match="not an integer"):
        parse_int("4.2", "limit")
    with pytest.raises(ParamError, match="at least 1"):
        parse_int("0", "limit", minimum=1)
    assert parse_bool("TRUE", "raw") is True
    assert parse_bool("0", "raw") is False
    with pytest.raises(ParamError, match="not a boolean"):
        parse_bool("maybe", "raw")


def test_tags_as_json_or_logfmt() -> None:
    assert parse_attributes('{"http.status_code":"500","error":true,"n":3}', "tags") == {
        "http.status_code": "500",
        "error": "true",
        "n": "3",
    }
    assert parse_attributes('http.status_code=500 error  msg="two words" q="a\\"b"', "tags") == {
        "http.status_code": "500",
        "error": "true",
        "msg": "two words",
        "q": 'a"b',
    }
    assert parse_attributes("  ", "tags") == {}
    for bad, reason in (
        ("{nope", "cannot unmarshal JSON"),
        ('{"a": [1]}', "values must be strings"),
        ('k="open', "unterminated quote"),
        ('="x"', "expected a key"),
        ('k"x"', "unexpected quote"),
    ):
        with pytest.raises(ParamError, match=reason):
            parse_attributes(bad, "tags")
    # only an object is JSON here; anything else is logfmt
    assert parse_attributes("[1]", "tags") == {"[1]": "true"}


_KEYS = st.text(
    st.characters(min_codepoint=33, max_codepoint=126, exclude_characters='="\\'), min_size=1
)


@settings(max_examples=60)
@given(
    st.dictionaries(
        _KEYS, st.text(st.characters(exclude_categories=("Cs",)), max_size=12), max_size=5
    )
)
def test_quoted_logfmt_round_trips(pairs: dict[str, str]) -> None:
    text = " ".join(
        f'{k}="{v.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
        for k, v in pairs.items()
    )
    assert parse_logfmt(text) == pairs
