"""AnyValue conversions and the byte patterns attribute search looks for."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from otlpy.store._anyvalue import (
    any_value_json,
    any_value_plain,
    any_value_text,
    attribute_patterns,
    json_value_text,
)
from otlpy.store.queries import attributes_dict
from store_builders import value


@pytest.mark.parametrize(
    ("given", "text"),
    [
        ("plain", "plain"),
        (True, "true"),
        (False, "false"),
        (-12, "-12"),
        (200.0, "200"),
        (1.5, "1.5"),
        (1e20, "1e+20"),
        (b"\x00\xff", "AP8="),
        (["a", 1, b"\x01"], '["a",1,"AQ=="]'),
        ({"k": {"n": [True]}}, '{"k":{"n":[true]}}'),
    ],
)
def test_text(given: Any, text: str) -> None:
    assert any_value_text(value(given)) == text
    assert json_value_text(any_value_json(value(given))) == text


def test_empty_value() -> None:
    assert any_value_json(AnyValue()) == {}
    assert any_value_text(AnyValue()) == ""
    assert any_value_plain({}) is None


@pytest.mark.parametrize(
    ("number", "shown"), [(math.nan, "NaN"), (math.inf, "Infinity"), (-math.inf, "-Infinity")]
)
def test_non_finite_doubles(number: float, shown: str) -> None:
    assert any_value_json(AnyValue(double_value=number)) == {"doubleValue": shown}


plain_values = st.recursive(
    st.one_of(
        st.text(),
        st.booleans(),
        st.integers(min_value=-(2**63), max_value=2**63 - 1),
        st.floats(allow_nan=False),
        st.binary(),
    ),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=50, deadline=None)
@given(plain_values)
def test_plain_values_round_trip(given: Any) -> None:
    assert any_value_plain(any_value_json(value(given))) == given


def test_attributes_dict_keeps_the_first_of_duplicates() -> None:
    attrs = [
        {"key": "a", "value": {"intValue": "1"}},
        {"key": "a", "value": {"intValue": "2"}},
        {"key": "b", "value": {"bytesValue": "AQ=="}},
    ]
    assert attributes_dict(attrs) == {"a": 1, "b": b"\x01"}


def _candidates(text: str) -> list[str]:
    found = []
    for pattern in attribute_patterns(9, "k", text):
        kv = KeyValue.FromString(pattern.encode("latin-1")[2:])  # tag 0x4a, one length byte
        found.append(kv.value.WhichOneof("value"))
    return found


@pytest.mark.parametrize(
    ("text", "kinds"),
    [
        ("abc", ["string_value"]),
        ("200", ["string_value", "int_value", "double_value"]),
        ("-1.5e3", ["string_value", "double_value"]),
        ("TRUE", ["string_value", "bool_value"]),
        ("1_000", ["string_value"]),
        ("nan", ["string_value"]),
        (str(2**64), ["string_value", "double_value"]),
    ],
)
def test_pattern_candidates(text: str, kinds: list[str]) -> None:
    assert _candidates(text) == kinds


def test_patterns_are_found_in_serialized_spans_only_for_the_right_field() -> None:
    span = Span(name="x", attributes=[KeyValue(key="code", value=AnyValue(int_value=200))])
    event = span.events.add(name="e")
    event.attributes.add(key="other").value.string_value = "v"
    wire = span.SerializeToString().decode("latin-1")
    assert any(p in wire for p in attribute_patterns(9, "code", "200"))
    assert not any(p in wire for p in attribute_patterns(9, "code", "20"))
    assert not any(p in wire for p in attribute_patterns(9, "cod", "200"))
    # an event attribute is not a span attribute
    assert not any(p in wire for p in attribute_patterns(9, "other", "v"))
    # a long key takes a two-byte length
    long_key = "k" * 200
    span.attributes.add(key=long_key).value.string_value = "v"
    wire = span.SerializeToString().decode("latin-1")
    assert any(p in wire for p in attribute_patterns(9, long_key, "v"))
