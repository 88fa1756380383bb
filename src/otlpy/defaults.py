"""The zero-config main job: what ``otlpy run`` does without ``--config``.

OTLP in on 4317 (gRPC) and 4318 (HTTP), batched, kept in the embedded store under the data
directory, and shown by the web UI on 16686, where Grafana's Jaeger data source can query it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from otlpy.component import ComponentID
from otlpy.config.model import CollectorConfig

__all__ = ["default_config", "print_banner"]


def default_config(data_dir: str) -> dict[str, Any]:
    """The default configuration: OTLP on 4317/4318, batched, stored in ``data_dir``,
    browsable on 16686."""
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
        "exporters": {"store": {"directory": data_dir}},
        "extensions": {
            "health_check": {},
            "otlpy_ui": {"endpoint": "0.0.0.0:16686", "directory": data_dir},
        },
        "service": {
            "extensions": ["health_check", "otlpy_ui"],
            "pipelines": {
                signal: {"receivers": ["otlp"], "processors": ["batch"], "exporters": ["store"]}
                for signal in ("traces", "metrics", "logs")
            },
        },
    }


def _port(endpoint: str, default: int) -> int:
    _, _, port = endpoint.rpartition(":")
    return int(port) if port.isdigit() else default


def print_banner(config: CollectorConfig, data_dir: str) -> None:
    """Tell the user where to send data and where to look."""
    ui = config.extensions.get(ComponentID("otlpy_ui"))
    ui_port = _port(getattr(ui, "endpoint", ""), 16686)
    health = config.extensions.get(ComponentID("health_check"))
    health_port = _port(getattr(health, "endpoint", ""), 13133)
    grpc_port, http_port = 4317, 4318
    otlp = config.receivers.get(ComponentID("otlp"))
    protocols = getattr(otlp, "protocols", None)
    if protocols is not None:
        grpc_port = _port(getattr(protocols.grpc, "endpoint", ""), grpc_port)
        http_port = _port(getattr(protocols.http, "endpoint", ""), http_port)
    ui_url = f"http://localhost:{ui_port}"
    print(
        "otlpy is running with its default configuration\n"
        f"  open the UI    {ui_url}/\n"
        f"  send OTLP to   localhost:{grpc_port} (gRPC)   http://localhost:{http_port} (HTTP)\n"
        f"  data kept in   {Path(data_dir).expanduser().resolve()}  (7 days)\n"
        f"  Grafana        add a Jaeger data source with URL {ui_url}\n"
        f"  health         http://localhost:{health_port}/\n"
        "  metrics        http://localhost:8888/metrics\n"
        "  try it with an OpenTelemetry SDK:\n"
        f"    export OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:{http_port}\n"
        "    export OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf\n"
        "    export OTEL_SERVICE_NAME=my-service\n"
        "  stop with Ctrl-C",
        flush=True,
    )
