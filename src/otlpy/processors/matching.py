"""``include`` / ``exclude`` matching: which items a processor acts on (the Collector's filterset).

A :class:`MatchProperties` names properties an item must have: ``services`` (the resource's
``service.name``), ``span_names``, ``span_kinds``, ``metric_names``, ``log_bodies``,
``log_severity_texts``, ``log_severity_number``, ``attributes``, ``resources`` and
``libraries``. Every property given must match (AND); within a list of names any entry may match
(OR), while every listed attribute or resource attribute must be present and match. Strings are
compared exactly (``match_type: strict``) or searched with a regular expression
(``match_type: regexp``, unanchored as in Go: use ``^`` and ``$`` to anchor).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from otlpy.errors import ConfigProblem
from otlpy.ottl.functions.goregex import compile_go
from otlpy.ottl.values import any_to_py, as_string, to_python
from otlpy.pdata import Signal

__all__ = [
    "AttributeMatch",
    "Item",
    "LibraryMatch",
    "MatchConfig",
    "MatchProperties",
    "Matcher",
    "SeverityNumberMatch",
    "compile_regex",
]

_KIND_NAMES = {
    "SPAN_KIND_UNSPECIFIED": 0,
    "SPAN_KIND_INTERNAL": 1,
    "SPAN_KIND_SERVER": 2,
    "SPAN_KIND_CLIENT": 3,
    "SPAN_KIND_PRODUCER": 4,
    "SPAN_KIND_CONSUMER": 5,
}

_SEVERITIES = {
    name: number
    for base, start in (
        ("TRACE", 1),
        ("DEBUG", 5),
        ("INFO", 9),
        ("WARN", 13),
        ("ERROR", 17),
        ("FATAL", 21),
    )
    for offset, name in enumerate((base, f"{base}2", f"{base}3", f"{base}4"))
    for number in (start + offset,)
}


def severity_number(value: object) -> int | None:
    """A severity given as a short name (``WARN``, ``error2``) or number 1..24."""
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 24:
        return value
    if isinstance(value, str):
        text = value.strip().upper()
        if text.isdigit() and 1 <= int(text) <= 24:
            return int(text)
        return _SEVERITIES.get(text)
    return None


def compile_regex(pattern: str) -> re.Pattern[str]:
    """A Go (RE2) regular expression compiled for Python; raises ``ValueError``."""
    return compile_go(pattern).regex


@dataclass(frozen=True, kw_only=True)
class AttributeMatch:
    """An attribute that must be present, and equal (or match) ``value`` when one is given."""

    key: str = ""
    value: Any = None

    def validate(self) -> list[ConfigProblem]:
        if not self.key:
            return [ConfigProblem("key", "an attribute to match needs a key")]
        return []


@dataclass(frozen=True, kw_only=True)
class LibraryMatch:
    """An instrumentation scope: its name, and version when given."""

    name: str = ""
    version: str | None = None


@dataclass(frozen=True, kw_only=True)
class SeverityNumberMatch:
    """Log records at or above ``min`` (a short name such as ``WARN``, or 1..24)."""

    min: str | int = ""
    match_undefined: bool = False

    def validate(self) -> list[ConfigProblem]:
        if severity_number(self.min) is None:
            return [ConfigProblem("min", f"{self.min!r} is not a valid severity")]
        return []


@dataclass(frozen=True, slots=True)
class Item:
    """What a matcher looks at: one span, log record, metric or data point in its place."""

    resource: Any
    scope: Any
    #: the item's own attributes (a repeated KeyValue), when it has some
    attributes: Any = None
    #: span or metric name
    name: str | None = None
    span_kind: int | None = None
    log: Any = None


Check = Callable[[Item], bool]


@dataclass(frozen=True, kw_only=True)
class MatchProperties:
    """The Collector's ``filterconfig.MatchProperties``."""

    match_type: Literal["strict", "regexp", "expr", ""] = ""
    #: regexp cache settings of the Collector; accepted, the cache is always on here
    regexp: dict[str, Any] | None = None
    services: list[str] = field(default_factory=list)
    span_names: list[str] = field(default_factory=list)
    span_kinds: list[str] = field(default_factory=list)
    metric_names: list[str] = field(default_factory=list)
    log_bodies: list[str] = field(default_factory=list)
    log_severity_texts: list[str] = field(default_factory=list)
    log_severity_number: SeverityNumberMatch | None = None
    attributes: list[AttributeMatch] = field(default_factory=list)
    resources: list[AttributeMatch] = field(default_factory=list)
    libraries: list[LibraryMatch] = field(default_factory=list)

    def is_empty(self) -> bool:
        return not (
            self.services
            or self.span_names
            or self.span_kinds
            or self.metric_names
            or self.log_bodies
            or self.log_severity_texts
            or self.log_severity_number
            or self.attributes
            or self.resources
            or self.libraries
        )

    def validate(self) -> list[ConfigProblem]:
        problems: list[ConfigProblem] = []
        if self.match_type == "expr":
            problems.append(
                ConfigProblem(
                    "match_type", "the expr match type is not supported: use OTTL conditions"
                )
            )
        elif not self.match_type:
            problems.append(ConfigProblem("match_type", "required: strict or regexp"))
        if self.match_type == "regexp":
            for name in ("services", "span_names", "metric_names", "log_bodies"):
                for i, pattern in enumerate(getattr(self, name)):
                    problems.extend(_regex_problem(f"{name}[{i}]", pattern))
            for i, text in enumerate(self.log_severity_texts):
                problems.extend(_regex_problem(f"log_severity_texts[{i}]", text))
            for name in ("attributes", "resources"):
                for i, attr in enumerate(getattr(self, name)):
                    if isinstance(attr.value, str):
                        problems.extend(_regex_problem(f"{name}[{i}].value", attr.value))
        for i, kind in enumerate(self.span_kinds):
            if kind not in _KIND_NAMES:
                problems.append(
                    ConfigProblem(
                        f"span_kinds[{i}]",
                        f"unknown span kind {kind!r} (use e.g. SPAN_KIND_SERVER)",
                    )
                )
        return problems

    def signal_problems(self, signal: Signal) -> list[str]:
        """Properties that make no sense for ``signal`` (the Collector refuses them)."""
        span_only = ("services", "span_names", "span_kinds")
        log_only = ("log_bodies", "log_severity_texts", "log_severity_number")
        wrong: tuple[str, ...] = ()
        if signal is Signal.TRACES:
            wrong = (*log_only, "metric_names")
        elif signal is Signal.LOGS:
            wrong = (*span_only, "metric_names")
        else:
            wrong = (*span_only, *log_only)
        return [name for name in wrong if getattr(self, name)]

    def compile(self) -> Matcher:
        """A predicate over :class:`Item` for these properties."""
        regexp = self.match_type == "regexp"
        checks: list[Check] = []

        def strings(values: Sequence[str]) -> Callable[[str], bool]:
            if regexp:
                patterns = [compile_regex(v) for v in values]
                return lambda s: any(p.search(s) for p in patterns)
            wanted = frozenset(values)
            return lambda s: s in wanted

        if self.services:
            match = strings(self.services)
            checks.append(
                lambda item: match(_string_attr(item.resource.attributes, "service.name"))
            )
        if self.span_names or self.metric_names:
            match_name = strings(self.span_names or self.metric_names)
            checks.append(lambda item: item.name is not None and match_name(item.name))
        if self.span_kinds:
            kinds = frozenset(_KIND_NAMES[k] for k in self.span_kinds)
            checks.append(lambda item: item.span_kind in kinds)
        if self.log_bodies:
            match_body = strings(self.log_bodies)
            checks.append(
                lambda item: (
                    item.log is not None
                    and match_body(as_string(to_python(any_to_py(item.log.body))))
                )
            )
        if self.log_severity_texts:
            match_text = strings(self.log_severity_texts)
            checks.append(lambda item: item.log is not None and match_text(item.log.severity_text))
        if self.log_severity_number is not None:
            minimum = severity_number(self.log_severity_number.min) or 0
            undefined = self.log_severity_number.match_undefined

            def severity(item: Item) -> bool:
                if item.log is None:
                    return False
                number = item.log.severity_number
                return number >= minimum if number else undefined

            checks.append(severity)
        if self.attributes:
            match_attrs = _attribute_checks(self.attributes, regexp)
            checks.append(lambda item: item.attributes is not None and match_attrs(item.attributes))
        if self.resources:
            match_resource = _attribute_checks(self.resources, regexp)
            checks.append(lambda item: match_resource(item.resource.attributes))
        if self.libraries:
            libraries = [
                (strings([lib.name]), None if lib.version is None else strings([lib.version]))
                for lib in self.libraries
            ]

            def library(item: Item) -> bool:
                scope = item.scope
                for name_ok, version_ok in libraries:
                    if name_ok(scope.name) and (version_ok is None or version_ok(scope.version)):
                        return True
                return False

            checks.append(library)
        return Matcher(tuple(checks))


def _regex_problem(path: str, pattern: str) -> list[ConfigProblem]:
    try:
        compile_regex(pattern)
    except (ValueError, re.error) as exc:
        return [ConfigProblem(path, f"invalid regular expression: {exc}")]
    return []


def _string_attr(kvs: Any, key: str) -> str:
    for kv in kvs:
        if kv.key == key:
            return str(kv.value.string_value)
    return ""


def _attribute_checks(wanted: Sequence[AttributeMatch], regexp: bool) -> Callable[[Any], bool]:
    """All of ``wanted`` must be in the attributes (and match their values when given)."""
    tests: list[tuple[str, Callable[[Any], bool] | None]] = []
    for attr in wanted:
        if attr.value is None:
            tests.append((attr.key, None))
        elif regexp:
            pattern = compile_regex(str(attr.value))

            def search(v: Any, pattern: re.Pattern[str] = pattern) -> bool:
                return pattern.search(as_string(v)) is not None

            tests.append((attr.key, search))
        else:
            expected = attr.value

            def equal(v: Any, expected: Any = expected) -> bool:
                return type(v) is type(expected) and bool(v == expected)

            tests.append((attr.key, equal))

    def check(kvs: Any) -> bool:
        present = {kv.key: kv.value for kv in kvs}
        for key, test in tests:
            value = present.get(key)
            if value is None:
                return False
            if test is not None and not test(to_python(any_to_py(value))):
                return False
        return True

    return check


@dataclass(frozen=True, slots=True)
class Matcher:
    """Compiled :class:`MatchProperties`: every check must pass."""

    checks: tuple[Check, ...]

    def __call__(self, item: Item) -> bool:
        return all(check(item) for check in self.checks)


@dataclass(frozen=True, kw_only=True)
class MatchConfig:
    """``include`` / ``exclude`` of a processor: act on included items not excluded."""

    include: MatchProperties | None = None
    exclude: MatchProperties | None = None

    def problems_for(self, signals: Sequence[Signal]) -> list[ConfigProblem]:
        """Properties that cannot apply to the pipelines' signals."""
        problems: list[ConfigProblem] = []
        for name in ("include", "exclude"):
            props: MatchProperties | None = getattr(self, name)
            if props is None:
                continue
            if props.is_empty():
                problems.append(ConfigProblem(name, "at least one property to match is needed"))
            wrong = {p for signal in signals for p in props.signal_problems(signal)}
            if len(signals) == len(Signal):
                # one config serves every signal: refuse only what fits none of them
                wrong = {p for p in wrong if all(p in props.signal_problems(s) for s in signals)}
            for prop in sorted(wrong):
                problems.append(
                    ConfigProblem(f"{name}.{prop}", "does not apply to this processor's data")
                )
        return problems

    def compile(self) -> Callable[[Item], bool] | None:
        """A predicate telling which items to act on; None when everything is."""
        include = self.include.compile() if self.include else None
        exclude = self.exclude.compile() if self.exclude else None
        if include is None and exclude is None:
            return None

        def selected(item: Item) -> bool:
            if include is not None and not include(item):
                return False
            return not (exclude is not None and exclude(item))

        return selected
