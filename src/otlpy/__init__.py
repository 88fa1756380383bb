"""otlpy: the OpenTelemetry Protocol done properly in Python."""

from __future__ import annotations

from otlpy._version import __version__

__all__ = ["__version__"]
