"""Cross-origin resource sharing for the OTLP/HTTP server, as the Collector's confighttp does.

The Collector wraps its HTTP handler in ``rs/cors`` with the configured origins, headers and
max age, and credentials allowed. The observable behaviour reproduced here:

- a preflight (``OPTIONS`` with ``Access-Control-Request-Method``) is answered ``204`` on any
  path; when the origin, method (GET, POST or HEAD) and headers are all allowed, the answer
  carries ``Access-Control-Allow-Origin`` (the origin, or ``*`` when ``*`` is configured),
  ``-Allow-Methods`` (the requested method), ``-Allow-Headers`` (the requested headers),
  ``-Allow-Credentials: true`` and ``-Max-Age`` when configured; otherwise it carries none,
  which makes the browser refuse the request;
- an actual request from an allowed origin gets ``Access-Control-Allow-Origin`` and
  ``-Allow-Credentials``; every response varies on ``Origin``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from otlpy.receivers.otlp.config import CORSConfig

__all__ = ["CORSPolicy"]

# Request headers a browser may always send (the CORS "safelisted" ones rs/cors allows).
_IMPLICIT_HEADERS = frozenset({"accept", "accept-language", "content-type", "content-language"})
# rs/cors's default when no header is configured.
_DEFAULT_HEADERS = frozenset({"x-requested-with"})
_ALLOWED_METHODS = frozenset({"GET", "POST", "HEAD"})
_PREFLIGHT_VARY = "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"


def _origin_pattern(origin: str) -> re.Pattern[str]:
    parts = [re.escape(part) for part in origin.strip().lower().split("*")]
    return re.compile(".*".join(parts))


class CORSPolicy:
    """Decides the CORS response headers for one request, from a :class:`CORSConfig`."""

    __slots__ = ("_all_headers", "_all_origins", "_headers", "_max_age", "_patterns")

    def __init__(self, config: CORSConfig) -> None:
        origins = [o.strip() for o in config.allowed_origins if o.strip()]
        self._all_origins = "*" in origins
        self._patterns = [_origin_pattern(o) for o in origins if o != "*"]
        headers = {h.strip().lower() for h in config.allowed_headers if h.strip()}
        self._all_headers = "*" in headers
        self._headers = headers | _IMPLICIT_HEADERS | {"origin"}
        if not headers:
            self._headers |= _DEFAULT_HEADERS
        self._max_age = config.max_age

    @property
    def enabled(self) -> bool:
        """CORS is on only when at least one origin is allowed (as in the Collector)."""
        return self._all_origins or bool(self._patterns)

    def origin_allowed(self, origin: str) -> bool:
        if self._all_origins:
            return True
        lowered = origin.lower()
        return any(p.fullmatch(lowered) for p in self._patterns)

    def _allow_origin_value(self, origin: str) -> str:
        return "*" if self._all_origins else origin

    @staticmethod
    def is_preflight(method: str, headers: Mapping[str, str]) -> bool:
        return method == "OPTIONS" and bool(headers.get("Access-Control-Request-Method"))

    def preflight(self, headers: Mapping[str, str]) -> dict[str, str]:
        """Response headers for a preflight request (answered 204 whatever they contain)."""
        out = {"Vary": _PREFLIGHT_VARY}
        origin = headers.get("Origin", "")
        if not origin or not self.origin_allowed(origin):
            return out
        method = headers.get("Access-Control-Request-Method", "").strip().upper()
        if method not in _ALLOWED_METHODS:
            return out
        requested = headers.get("Access-Control-Request-Headers", "")
        names = [h.strip().lower() for h in requested.split(",") if h.strip()]
        if not self._all_headers and any(name not in self._headers for name in names):
            return out
        out["Access-Control-Allow-Origin"] = self._allow_origin_value(origin)
        out["Access-Control-Allow-Methods"] = method
        if names:
            out["Access-Control-Allow-Headers"] = requested.strip()
        out["Access-Control-Allow-Credentials"] = "true"
        if self._max_age > 0:
            out["Access-Control-Max-Age"] = str(self._max_age)
        return out

    def actual(self, method: str, headers: Mapping[str, str]) -> dict[str, str]:
        """Response headers for a non-preflight request."""
        out = {"Vary": "Origin"}
        origin = headers.get("Origin", "")
        if origin and self.origin_allowed(origin) and method.upper() in _ALLOWED_METHODS:
            out["Access-Control-Allow-Origin"] = self._allow_origin_value(origin)
            out["Access-Control-Allow-Credentials"] = "true"
        return out
