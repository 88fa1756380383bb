"""``ExtractGrokPatterns``: grok (``%{SYNTAX:ID:TYPE}``) on Go-style regular expressions.

The pattern set is the common core (numbers, words, hosts, IPs, URIs, dates, syslog, HTTP)
plus the ECS-named AWS ELB URI patterns, written here from the grok conventions; custom
definitions can be passed as ``NAME=PATTERN`` strings.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from otlpy.ottl.contexts.common import Getter, TransformContext
from otlpy.ottl.functions.goregex import compile_go
from otlpy.ottl.functions.spec import Param, converter
from otlpy.ottl.values import OttlError

__all__ = ["PATTERNS", "compile_grok"]

Run = Callable[[TransformContext], Any]

_OCTET = r"(?:25[0-5]|2[0-4][0-9]|[0-1]?[0-9]{1,2})"
_H16 = r"[0-9A-Fa-f]{1,4}"

PATTERNS: dict[str, str] = {
    "USERNAME": r"[a-zA-Z0-9._-]+",
    "USER": r"%{USERNAME}",
    "EMAILLOCALPART": r"[a-zA-Z0-9!#$%&'*+\-/=?^_`{|}~]{1,64}(?:\.[a-zA-Z0-9!#$%&'*+\-/=?^_`{|}~]{1,62}){0,63}",  # noqa: E501
    "EMAILADDRESS": r"%{EMAILLOCALPART}@%{HOSTNAME}",
    "INT": r"(?:[+-]?(?:[0-9]+))",
    "BASE10NUM": r"(?:[+-]?(?:[0-9]+(?:\.[0-9]+)?|\.[0-9]+))",
    "NUMBER": r"(?:%{BASE10NUM})",
    "BASE16NUM": r"(?:[+-]?(?:0x)?(?:[0-9A-Fa-f]+))",
    "BASE16FLOAT": r"\b(?:[+-]?(?:0x)?(?:(?:[0-9A-Fa-f]+(?:\.[0-9A-Fa-f]*)?)|(?:\.[0-9A-Fa-f]+)))\b",  # noqa: E501
    "POSINT": r"\b(?:[1-9][0-9]*)\b",
    "NONNEGINT": r"\b(?:[0-9]+)\b",
    "WORD": r"\b\w+\b",
    "NOTSPACE": r"\S+",
    "SPACE": r"\s*",
    "DATA": r".*?",
    "GREEDYDATA": r".*",
    "QUOTEDSTRING": r"(?:\"(?:\\.|[^\\\"]+)*\"|'(?:\\.|[^\\']+)*'|`(?:\\.|[^\\`]+)*`)",
    "QS": r"%{QUOTEDSTRING}",
    "BOOL": r"(?i:true|false)",
    "UUID": r"[A-Fa-f0-9]{8}-(?:[A-Fa-f0-9]{4}-){3}[A-Fa-f0-9]{12}",
    "URN": r"urn:[0-9A-Za-z][0-9A-Za-z-]{0,31}:(?:%[0-9a-fA-F]{2}|[0-9A-Za-z()+,.:=@;$_!*'/?#-])+",
    "MAC": r"(?:%{CISCOMAC}|%{WINDOWSMAC}|%{COMMONMAC})",
    "CISCOMAC": r"(?:(?:[A-Fa-f0-9]{4}\.){2}[A-Fa-f0-9]{4})",
    "WINDOWSMAC": r"(?:(?:[A-Fa-f0-9]{2}-){5}[A-Fa-f0-9]{2})",
    "COMMONMAC": r"(?:(?:[A-Fa-f0-9]{2}:){5}[A-Fa-f0-9]{2})",
    "IPV4": rf"(?:{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET})",
    "IPV6": (
        rf"(?:(?:{_H16}:){{7}}{_H16}|(?:{_H16}:){{1,7}}:|(?:{_H16}:){{1,6}}:{_H16}"
        rf"|(?:{_H16}:){{1,5}}(?::{_H16}){{1,2}}|(?:{_H16}:){{1,4}}(?::{_H16}){{1,3}}"
        rf"|(?:{_H16}:){{1,3}}(?::{_H16}){{1,4}}|(?:{_H16}:){{1,2}}(?::{_H16}){{1,5}}"
        rf"|{_H16}:(?::{_H16}){{1,6}}|:(?:(?::{_H16}){{1,7}}|:)"
        rf"|(?:{_H16}:){{1,4}}:{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET})(?:%\w+)?"
    ),
    "IP": r"(?:%{IPV6}|%{IPV4})",
    "HOSTNAME": r"\b(?:[0-9A-Za-z][0-9A-Za-z-]{0,62})(?:\.(?:[0-9A-Za-z][0-9A-Za-z-]{0,62}))*(?:\.?|\b)",  # noqa: E501
    "HOST": r"%{HOSTNAME}",
    "IPORHOST": r"(?:%{IP}|%{HOSTNAME})",
    "HOSTPORT": r"%{IPORHOST}:%{POSINT}",
    "PATH": r"(?:%{UNIXPATH}|%{WINPATH})",
    "UNIXPATH": r"(?:/[\w_%!$@:.,+~-]*)+",
    "TTY": r"(?:/dev/(?:pts|tty(?:[pq])?)(?:\w+)?/?(?:[0-9]+))",
    "WINPATH": r"(?:[A-Za-z]+:|\\)(?:\\[^\\?*]*)+",
    "URIPROTO": r"[A-Za-z](?:[A-Za-z0-9+\-.]+)+",
    "URIHOST": r"%{IPORHOST}(?::%{POSINT})?",
    "URIPATH": r"(?:/[A-Za-z0-9$.+!*'(){},~:;=@#%&_\-]*)+",
    "URIQUERY": r"[A-Za-z0-9$.+!*'|(){},~@#%&/=:;_?\-\[\]<>]*",
    "URIPARAM": r"\?%{URIQUERY}",
    "URIPATHPARAM": r"%{URIPATH}(?:\?%{URIQUERY})?",
    "URI": (
        r"%{URIPROTO}://(?:%{USER}(?::[^@]*)?@)?(?:%{URIHOST})?(?:%{URIPATH}(?:\?%{URIQUERY})?)?"
    ),
    "MONTH": (
        r"\b(?:[Jj]an(?:uary|uar)?|[Ff]eb(?:ruary|ruar)?|[Mm](?:a|ä)?r(?:ch|z)?|[Aa]pr(?:il)?"
        r"|[Mm]a(?:y|i)?|[Jj]un(?:e|i)?|[Jj]ul(?:y|i)?|[Aa]ug(?:ust)?|[Ss]ep(?:tember)?"
        r"|[Oo](?:c|k)?t(?:ober)?|[Nn]ov(?:ember)?|[Dd]e(?:c|z)(?:ember)?)\b"
    ),
    "MONTHNUM": r"(?:0?[1-9]|1[0-2])",
    "MONTHNUM2": r"(?:0[1-9]|1[0-2])",
    "MONTHDAY": r"(?:(?:0[1-9])|(?:[12][0-9])|(?:3[01])|[1-9])",
    "DAY": (
        r"(?:Mon(?:day)?|Tue(?:sday)?|Wed(?:nesday)?|Thu(?:rsday)?|Fri(?:day)?"
        r"|Sat(?:urday)?|Sun(?:day)?)"
    ),
    "YEAR": r"(?:\d\d){1,2}",
    "HOUR": r"(?:2[0123]|[01]?[0-9])",
    "MINUTE": r"(?:[0-5][0-9])",
    "SECOND": r"(?:(?:[0-5]?[0-9]|60)(?:[:.,][0-9]+)?)",
    "TIME": r"%{HOUR}:%{MINUTE}(?::%{SECOND})",
    "DATE_US": r"%{MONTHNUM}[/-]%{MONTHDAY}[/-]%{YEAR}",
    "DATE_EU": r"%{MONTHDAY}[./-]%{MONTHNUM}[./-]%{YEAR}",
    "ISO8601_TIMEZONE": r"(?:Z|[+-]%{HOUR}(?::?%{MINUTE}))",
    "ISO8601_SECOND": r"%{SECOND}",
    "TIMESTAMP_ISO8601": (
        r"%{YEAR}-%{MONTHNUM}-%{MONTHDAY}[T ]%{HOUR}:?%{MINUTE}(?::?%{SECOND})?"
        r"%{ISO8601_TIMEZONE}?"
    ),
    "DATE": r"%{DATE_US}|%{DATE_EU}",
    "DATESTAMP": r"%{DATE}[- ]%{TIME}",
    "TZ": r"(?:[APMCE][SD]T|UTC)",
    "DATESTAMP_RFC822": r"%{DAY} %{MONTH} %{MONTHDAY} %{YEAR} %{TIME} %{TZ}",
    "DATESTAMP_RFC2822": r"%{DAY}, %{MONTHDAY} %{MONTH} %{YEAR} %{TIME} %{ISO8601_TIMEZONE}",
    "DATESTAMP_OTHER": r"%{DAY} %{MONTH} %{MONTHDAY} %{TIME} %{TZ} %{YEAR}",
    "DATESTAMP_EVENTLOG": r"%{YEAR}%{MONTHNUM2}%{MONTHDAY}%{HOUR}%{MINUTE}%{SECOND}",
    "SYSLOGTIMESTAMP": r"%{MONTH} +%{MONTHDAY} %{TIME}",
    "PROG": r"[\x21-\x5a\x5c\x5e-\x7e]+",
    "SYSLOGPROG": r"%{PROG:process.name}(?:\[%{POSINT:process.pid:int}\])?",
    "SYSLOGHOST": r"%{IPORHOST}",
    "SYSLOGFACILITY": r"<%{NONNEGINT:log.syslog.facility.code:int}.%{NONNEGINT:log.syslog.priority:int}>",  # noqa: E501
    "HTTPDATE": r"%{MONTHDAY}/%{MONTH}/%{YEAR}:%{TIME} %{INT}",
    "LOGLEVEL": (
        r"(?:[Aa]lert|ALERT|[Tt]race|TRACE|[Dd]ebug|DEBUG|[Nn]otice|NOTICE|[Ii]nfo?(?:rmation)?"
        r"|INFO?(?:RMATION)?|[Ww]arn?(?:ing)?|WARN?(?:ING)?|[Ee]rr?(?:or)?|ERR?(?:OR)?"
        r"|[Cc]rit?(?:ical)?|CRIT?(?:ICAL)?|[Ff]atal|FATAL|[Ss]evere|SEVERE|EMERG(?:ENCY)?"
        r"|[Ee]merg(?:ency)?)"
    ),
    "ELB_URIHOST": r"%{IPORHOST:url.domain}(?::%{POSINT:url.port:int})?",
    "ELB_URIPATHQUERY": r"%{URIPATH:url.path}(?:\?%{URIQUERY:url.query})?",
    "ELB_URIPATHPARAM": r"%{URIPATH:url.path}(?:\?%{URIQUERY:url.query})?",
    "ELB_URI": (
        r"%{URIPROTO:url.scheme}://(?:%{USER:url.username}(?::[^@]*)?@)?"
        r"(?:%{ELB_URIHOST})?(?:%{ELB_URIPATHQUERY})?"
    ),
}

_REF = re.compile(r"%\{(\w+)(?::([\w.@\[\]-]+))?(?::(\w+))?\}")
_TYPES: dict[str, Callable[[str], Any]] = {
    "int": int,
    "long": int,
    "float": float,
    "double": float,
    "bool": lambda v: v.lower() == "true",
    "boolean": lambda v: v.lower() == "true",
}


def compile_grok(
    pattern: str, named_only: bool, definitions: dict[str, str]
) -> tuple[re.Pattern[str], list[tuple[str, str, Callable[[str], Any] | None]]]:
    """The regex of a grok pattern and its captures: (group, field name, type converter)."""
    table = {**PATTERNS, **definitions}
    captures: list[tuple[str, str, Callable[[str], Any] | None]] = []

    def expand(text: str, depth: int) -> str:
        if depth > 50:
            raise OttlError("grok patterns nest too deeply (a cycle?)")

        def replace(m: re.Match[str]) -> str:
            name, field, kind = m.groups()
            if name not in table:
                raise OttlError(f"unknown grok pattern %{{{name}}}")
            inner = expand(table[name], depth + 1)
            if field is None and named_only:
                return f"(?:{inner})"
            group = f"grok{len(captures)}"
            convert = _TYPES.get(kind.lower()) if kind else None
            if kind and convert is None:
                raise OttlError(f"unsupported grok type {kind}")
            captures.append((group, field or name, convert))
            return f"(?P<{group}>{inner})"

        return _REF.sub(replace, text)

    expanded = expand(pattern, 0)
    try:
        compiled = compile_go(expanded)
    except ValueError as exc:
        raise OttlError(str(exc)) from None
    # named groups written as raw regex keep their own names
    for index, name in enumerate(compiled.names, start=1):
        if name and not name.startswith("grok"):
            captures.append((f"g{index}", str(name), None))
    renamed = []
    for group, field, convert in captures:
        if group.startswith("grok"):
            position = compiled.names.index(group) + 1
            renamed.append((f"g{position}", field, convert))
        else:
            renamed.append((group, field, convert))
    return compiled.regex, renamed


@converter(
    "ExtractGrokPatterns",
    Param("target", "str"),
    Param("pattern", "lit_str"),
    Param("named_captures_only", "lit_bool", optional=True),
    Param("pattern_definitions", "lit_list_str", optional=True),
)
def _extract_grok(
    target: Getter, pattern: str, named_only: bool | None, definitions: list[str] | None
) -> Run:
    custom: dict[str, str] = {}
    for definition in definitions or []:
        name, sep, body = definition.partition("=")
        if not sep or not name:
            raise OttlError(f"pattern {definition!r} is not a valid NAME=PATTERN definition")
        custom[name] = body
    regex, captures = compile_grok(pattern, bool(named_only), custom)
    if named_only and not captures:
        raise OttlError("at least 1 named capture group must be supplied in the given regex")

    def run(ctx: TransformContext) -> Any:
        match = regex.search(target(ctx))
        if match is None:
            return {}
        out: dict[str, Any] = {}
        for group, field, convert in captures:
            value = match.group(group)
            if value is None or (field in out and out[field] not in ("", None)):
                continue
            if convert is not None:
                try:
                    out[field] = convert(value)
                except ValueError:
                    out[field] = value
            else:
                out[field] = value
        return out

    return run
