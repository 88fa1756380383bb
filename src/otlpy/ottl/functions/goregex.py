"""Go (RE2) regular expressions, globs and ``regexp.Expand`` templates on Python's ``re``.

The Collector's statements are written for Go's ``regexp``: named groups may contain dots
(``(?P<git.sha>...)``), ``(?<name>...)`` is allowed, ``\\z`` ends the text, and replacements
use ``$1`` / ``${name}``. This module translates those so the same statements work here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["GoRegex", "compile_glob", "compile_go"]


@dataclass(frozen=True, slots=True)
class GoRegex:
    """A compiled Go pattern: the Python regex and its group names in order (None if unnamed)."""

    regex: re.Pattern[str]
    names: tuple[str | None, ...]

    def search(self, text: str) -> re.Match[str] | None:
        return self.regex.search(text)

    def expand(self, template: str, match: re.Match[str]) -> str:
        """``regexp.Expand``: ``$n``, ``${n}``, ``$name``, ``${name}``, ``$$``; unknown groups
        expand to nothing."""
        out: list[str] = []
        i = 0
        n = len(template)
        while i < n:
            ch = template[i]
            if ch != "$" or i + 1 >= n:
                out.append(ch)
                i += 1
                continue
            nxt = template[i + 1]
            if nxt == "$":
                out.append("$")
                i += 2
                continue
            if nxt == "{":
                close = template.find("}", i + 2)
                if close < 0:
                    out.append(ch)
                    i += 1
                    continue
                name = template[i + 2 : close]
                if not _NAME.fullmatch(name):
                    out.append(ch)
                    i += 1
                    continue
                out.append(self._group(name, match))
                i = close + 1
                continue
            m = _NAME.match(template, i + 1)
            if m is None:
                out.append(ch)
                i += 1
                continue
            out.append(self._group(m.group(), match))
            i = m.end()
        return "".join(out)

    def _group(self, name: str, match: re.Match[str]) -> str:
        if name.isdigit():
            index = int(name)
            if index > len(self.names):
                return ""
            return match.group(index) or ""
        for index, group_name in enumerate(self.names, start=1):
            if group_name == name:
                return match.group(index) or ""
        return ""

    def replace_all(self, text: str, template: str) -> str:
        """``ReplaceAllString``: every match replaced by the expanded template."""
        return self.replace_all_count(text, template)[0]

    def replace_all_count(self, text: str, template: str) -> tuple[str, int]:
        """:meth:`replace_all` and how many matches were replaced."""
        if "$" not in template:
            # a literal replacement: let ``re`` substitute it without calling back
            return self.regex.subn(template.replace("\\", "\\\\"), text)
        return self.regex.subn(lambda m: self.expand(template, m), text)


_NAME = re.compile(r"[A-Za-z0-9_]+")
_GROUP = re.compile(r"\(\?P?<([^>=!][^>]*)>")


def compile_go(pattern: str) -> GoRegex:
    """Compile a Go regular expression; raises ``ValueError`` when it is not valid."""
    names: list[str | None] = []
    out: list[str] = []
    i = 0
    n = len(pattern)
    in_class = False
    flags = ""
    while i < n:
        ch = pattern[i]
        if ch == "\\" and i + 1 < n:
            nxt = pattern[i + 1]
            out.append("\\Z" if nxt == "z" and not in_class else pattern[i : i + 2])
            i += 2
            continue
        if in_class:
            if ch == "]":
                in_class = False
            elif ch == "[" and pattern.startswith("[:", i):
                end = pattern.find(":]", i + 2)
                if end > 0:
                    out.append(_POSIX.get(pattern[i + 2 : end], pattern[i : end + 2]))
                    i = end + 2
                    continue
            out.append(ch)
            i += 1
            continue
        if ch == "[":
            in_class = True
            out.append(ch)
            i += 1
            if i < n and pattern[i] == "^":
                out.append("^")
                i += 1
            if i < n and pattern[i] == "]":
                out.append("\\]")
                i += 1
            continue
        if ch == "(":
            m = _GROUP.match(pattern, i)
            if m:
                names.append(m.group(1))
                out.append(f"(?P<g{len(names)}>")
                i = m.end()
                continue
            flag = re.match(r"\(\?([imsU]+)\)", pattern[i:])
            if flag:
                # Go allows flags anywhere; Python only at the start, so hoist them
                flags += flag.group(1).replace("U", "")
                i += flag.end()
                continue
            if not pattern.startswith("(?", i):
                names.append(None)
        out.append(ch)
        i += 1
    source = "".join(out)
    if flags:
        source = f"(?{''.join(sorted(set(flags)))})" + source
    try:
        regex = re.compile(source)
    except re.error as exc:
        raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from exc
    return GoRegex(regex, tuple(names))


_POSIX = {
    "alnum": "0-9A-Za-z",
    "alpha": "A-Za-z",
    "ascii": "\\x00-\\x7F",
    "blank": "\\t ",
    "cntrl": "\\x00-\\x1F\\x7F",
    "digit": "0-9",
    "graph": "!-~",
    "lower": "a-z",
    "print": " -~",
    "punct": "!-/:-@[-`{-~",
    "space": "\\t\\n\\v\\f\\r ",
    "upper": "A-Z",
    "word": "0-9A-Za-z_",
    "xdigit": "0-9A-Fa-f",
}


def compile_glob(pattern: str) -> re.Pattern[str]:
    """A ``gobwas/glob`` pattern (as the Collector's ``replace_match`` uses) as a full-match
    regex: ``*`` and ``?`` match any characters, ``[...]``/``[!...]`` classes, ``{a,b}``
    alternatives, ``\\`` escapes."""
    out: list[str] = []
    i = 0
    n = len(pattern)
    depth = 0
    while i < n:
        ch = pattern[i]
        if ch == "*":
            out.append(".*")
        elif ch == "?":
            out.append(".")
        elif ch == "\\" and i + 1 < n:
            i += 1
            out.append(re.escape(pattern[i]))
        elif ch == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                raise ValueError(f"invalid glob pattern {pattern!r}: unterminated [")
            body = pattern[i + 1 : end]
            negate = body.startswith("!")
            body = body[1:] if negate else body
            body = body.replace("\\", "\\\\").replace("^", "\\^")
            out.append(f"[{'^' if negate else ''}{body}]")
            i = end
        elif ch == "{":
            depth += 1
            out.append("(?:")
        elif ch == "}" and depth:
            depth -= 1
            out.append(")")
        elif ch == "," and depth:
            out.append("|")
        else:
            out.append(re.escape(ch))
        i += 1
    if depth:
        raise ValueError(f"invalid glob pattern {pattern!r}: unterminated {{")
    try:
        return re.compile("".join(out) + r"\Z", re.DOTALL)
    except re.error as exc:
        raise ValueError(f"invalid glob pattern {pattern!r}: {exc}") from exc
