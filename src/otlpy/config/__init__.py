"""Configuration: loading YAML with environment expansion, and validation reporting every error."""

from __future__ import annotations

from otlpy.config.decode import ByteSize, Duration, decode, parse_byte_size, parse_duration
from otlpy.config.loader import load_files
from otlpy.config.model import CollectorConfig, PipelineConfig, PipelineID, build

__all__ = [
    "ByteSize",
    "CollectorConfig",
    "Duration",
    "PipelineConfig",
    "PipelineID",
    "build",
    "decode",
    "load",
    "load_files",
    "parse_byte_size",
    "parse_duration",
]


def load(*paths: str) -> CollectorConfig:
    """Load and validate config files; raises :class:`~otlpy.errors.ConfigError`."""
    return build(load_files(paths))
