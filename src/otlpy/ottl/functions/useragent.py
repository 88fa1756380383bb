"""``UserAgent``: name, version and OS of common user agents.

The Collector uses the full ua-parser rule set; this is a compact rule list covering the
browsers, command-line clients, HTTP libraries and crawlers seen most often. Unknown agents get
the name ``Other``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from otlpy.ottl.contexts.common import Getter, TransformContext
from otlpy.ottl.functions.spec import Param, converter

__all__ = ["parse_user_agent"]

Run = Callable[[TransformContext], Any]
_V = r"(\d+)(?:[._](\d+))?(?:[._](\d+))?"

# (regex with the version in groups 1-3, family name or None to use group "name")
_AGENTS: list[tuple[re.Pattern[str], str | None]] = [
    (
        re.compile(
            rf"(?P<name>curl|Wget|PostmanRuntime|okhttp|python-requests|Go-http-client|"
            rf"Apache-HttpClient|axios|node-fetch|HTTPie|aiohttp|libwww-perl|Java)/{_V}"
        ),
        None,
    ),
    (
        re.compile(
            rf"(?P<name>Googlebot|bingbot|YandexBot|DuckDuckBot|Baiduspider|facebookexternalhit|"
            rf"Slackbot|Twitterbot|AhrefsBot)(?:-\w+)?/{_V}"
        ),
        None,
    ),
    (re.compile(rf"Edg(?:e|A|iOS)?/{_V}"), "Edge"),
    (re.compile(rf"(?:OPR|Opera)/{_V}"), "Opera"),
    (re.compile(rf"SamsungBrowser/{_V}"), "Samsung Internet"),
    (re.compile(rf"YaBrowser/{_V}"), "Yandex Browser"),
    (re.compile(rf"FxiOS/{_V}"), "Firefox iOS"),
    (re.compile(rf"Firefox/{_V}.*Mobile|Mobile.*Firefox/{_V}"), "Firefox Mobile"),
    (re.compile(rf"Firefox/{_V}"), "Firefox"),
    (re.compile(rf"CriOS/{_V}"), "Chrome Mobile iOS"),
    (re.compile(rf"Chrome/{_V}.*Mobile"), "Chrome Mobile"),
    (re.compile(rf"(?:Chrome|Chromium)/{_V}"), "Chrome"),
    (re.compile(rf"Version/{_V}.*Mobile.*Safari/"), "Mobile Safari"),
    (re.compile(rf"Version/{_V}.*Safari/"), "Safari"),
    (re.compile(rf"MSIE {_V}"), "IE"),
    (re.compile(rf"Trident/7\.0.*rv:{_V}"), "IE"),
]

_WINDOWS = {"10.0": "10", "6.3": "8.1", "6.2": "8", "6.1": "7", "6.0": "Vista", "5.1": "XP"}

_OS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(rf"(?:iPhone|CPU) OS {_V}"), "iOS"),
    (re.compile(rf"iPad.*OS {_V}"), "iOS"),
    (re.compile(rf"Android {_V}"), "Android"),
    (re.compile(rf"Mac OS X {_V}"), "Mac OS X"),
    (re.compile(r"CrOS"), "Chrome OS"),
    (re.compile(r"Ubuntu"), "Ubuntu"),
    (re.compile(r"Linux"), "Linux"),
]


def _version(match: re.Match[str], offset: int = 0) -> str:
    groups = [g for g in match.groups() if g is not None and not g.isalpha() and g.isdigit()]
    return ".".join(groups[:3])


def parse_user_agent(text: str) -> dict[str, str]:
    """``user_agent.*`` and ``os.*`` attributes of a User-Agent header."""
    out = {"user_agent.original": text}
    name = "Other"
    version = ""
    for regex, family in _AGENTS:
        m = regex.search(text)
        if m:
            name = family or m.group("name")
            version = _version(m)
            break
    out["user_agent.name"] = name
    if version:
        out["user_agent.version"] = version
    m = re.search(r"Windows NT (\d+\.\d+)", text)
    if m:
        out["os.name"] = "Windows"
        out["os.version"] = _WINDOWS.get(m.group(1), m.group(1))
        return out
    for regex, os_name in _OS:
        m = regex.search(text)
        if m:
            out["os.name"] = os_name
            os_version = _version(m)
            if os_version:
                out["os.version"] = os_version
            break
    return out


@converter("UserAgent", Param("value", "str"))
def _user_agent(value: Getter) -> Run:
    return lambda ctx: parse_user_agent(value(ctx))
