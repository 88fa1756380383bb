from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pytest

from otlpy.config.decode import ByteSize, Duration, decode, parse_byte_size, parse_duration
from otlpy.errors import ConfigProblem


@dataclass(frozen=True, kw_only=True)
class Inner:
    port: int = 1
    names: list[str] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class Outer:
    name: str = "x"
    ratio: float = 0.5
    on: bool = False
    wait: Duration = 1.0
    size: ByteSize = 10
    mode: Literal["a", "b"] = "a"
    inner: Inner = field(default_factory=Inner)
    maybe: Inner | None = None
    table: dict[str, int] = field(default_factory=dict)
    renamed: int = field(default=0, metadata={"key": "other-name"})

    def validate(self) -> list[ConfigProblem]:
        if self.ratio > 1:
            return [ConfigProblem("ratio", "must be at most 1")]
        return []


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("5s", 5.0),
        ("200ms", 0.2),
        ("1m30s", 90.0),
        ("1h", 3600.0),
        ("1.5s", 1.5),
        ("10us", 1e-5),
        ("0", 0.0),
        (0, 0.0),
        ("-2s", -2.0),
        ("3ns", 3e-9),
    ],
)
def test_parse_duration(text: object, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("bad", ["5", "s", "5x", "", 5, True, [1], "1s2"])
def test_parse_duration_refuses(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(bad)


@pytest.mark.parametrize(
    ("text", "size"),
    [
        (1024, 1024),
        ("1KiB", 1024),
        ("4MiB", 4 << 20),
        ("2MB", 2_000_000),
        ("3 gib", 3 << 30),
        ("100", 100),
    ],
)
def test_parse_byte_size(text: object, size: int) -> None:
    assert parse_byte_size(text) == size


@pytest.mark.parametrize("bad", ["lots", True, 1.5, "1 XB"])
def test_parse_byte_size_refuses(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_byte_size(bad)


def test_decode_all_field_kinds() -> None:
    value, problems = decode(
        Outer,
        {
            "name": "n",
            "ratio": 1,
            "on": True,
            "wait": "250ms",
            "size": "1KiB",
            "mode": "B",
            "inner": {"port": 9, "names": ["a", "b"]},
            "maybe": {"port": 2},
            "table": {"k": 3},
            "other-name": 7,
        },
    )
    assert problems == []
    assert value == Outer(
        name="n",
        ratio=1.0,
        on=True,
        wait=0.25,
        size=1024,
        mode="b",
        inner=Inner(port=9, names=["a", "b"]),
        maybe=Inner(port=2),
        table={"k": 3},
        renamed=7,
    )


def test_decode_null_means_defaults() -> None:
    value, problems = decode(Outer, None)
    assert problems == []
    assert value == Outer()


def test_decode_reports_every_problem_with_its_path() -> None:
    _, problems = decode(
        Outer,
        {
            "name": ["not", "a", "string"],
            "ratio": 5,
            "on": "yes",
            "wait": "soon",
            "mode": "c",
            "inner": {"port": "x", "names": [1, {"a": 1}], "extra": 1},
            "table": {"k": "v"},
            "unknown": 1,
        },
        "root",
    )
    paths = {p.path for p in problems}
    assert paths == {
        "root.name",
        "root.ratio",
        "root.on",
        "root.wait",
        "root.mode",
        "root.inner.port",
        "root.inner.names[1]",
        "root.inner.extra",
        "root.table.k",
        "root.unknown",
    }
    unknown = next(p for p in problems if p.path == "root.unknown")
    assert "unknown key" in unknown.message
    assert "inner" in unknown.message  # lists the allowed keys


def test_decode_wrong_container_types() -> None:
    _, problems = decode(Outer, {"inner": [1], "table": "x", "maybe": 3})
    assert {p.path for p in problems} == {"inner", "table", "maybe"}
    _, problems = decode(Outer, "scalar")
    assert problems[0].message.startswith("expected a mapping")
    _, problems = decode(Inner, {"names": "a"})
    assert problems == [ConfigProblem("names", "expected a list, got str 'a'")]


def test_string_field_takes_numbers_as_text() -> None:
    value, problems = decode(Inner | None, None)
    assert value is None and problems == []
    value, problems = decode(Outer, {"name": 42})
    assert problems == [] and value.name == "42"


def test_union_of_several_types_reports_once() -> None:
    value, problems = decode(int | list[str], ["a"])
    assert value == ["a"] and problems == []
    _, problems = decode(int | list[str], {"a": 1}, "p")
    assert len(problems) == 1 and problems[0].path == "p"


@dataclass(frozen=True, kw_only=True)
class Sections:
    on: Inner | None = field(default=None, metadata={"null": "defaults"})
    plain: Inner | None = None


def test_null_can_mean_present_with_defaults() -> None:
    value, problems = decode(Sections, {"on": None, "plain": None})
    assert problems == []
    assert value == Sections(on=Inner(), plain=None)
    value, _ = decode(Sections, {})
    assert value == Sections(on=None, plain=None)
    value, _ = decode(Sections, {"on": {"port": 3}})
    assert value.on == Inner(port=3)
