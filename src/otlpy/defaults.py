"""The zero-config main job: what ``otlpy run`` does without ``--config``."""

from __future__ import annotations

from typing import Any

from otlpy.config.model import CollectorConfig

__all__ = ["default_config", "print_banner"]


def default_config(data_dir: str) -> dict[str, Any]:
    """The default configuration: OTLP on 4317/4318, batched, kept where it can be seen."""
    return {
        "receivers": {
            "otlp": {
                "protocols": {
                    "grpc": {"endpoint": "0.0.0.0:4317"},
                    "http": {"endpoint": "0.0.0.0:4318"},
                }
            }
        },
        "processors": {"batch": {}},
        "exporters": {"debug": {"verbosity": "basic"}},
        "extensions": {"health_check": {}},
        "service": {
            "extensions": ["health_check"],
            "pipelines": {
                signal: {"receivers": ["otlp"], "processors": ["batch"], "exporters": ["debug"]}
                for signal in ("traces", "metrics", "logs")
            },
        },
    }


def print_banner(config: CollectorConfig, data_dir: str) -> None:
    """Tell the user where to send data and where to look."""
    print(
        "otlpy is running with its default configuration\n"
        "  send OTLP to   grpc://localhost:4317   http://localhost:4318\n"
        "  health         http://localhost:13133/\n"
        "  metrics        http://localhost:8888/metrics\n"
        "  stop with Ctrl-C",
        flush=True,
    )
