"""`otlpy run` as a process: graceful stop, Go Collector configs, plugins, Prometheus scraping."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

import pytest
from run_helpers import free_port, start_otlpy, wait_for_port

from otlpy.exporters.file import read_file
from otlpy.pdata import Signal


def send(endpoint: str, count: int, *extra: str) -> dict[str, object]:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "otlpy",
            "send",
            "--endpoint",
            endpoint,
            "--count",
            str(count),
            "--insecure",
            "--json",
            *extra,
        ],
        capture_output=True,
        check=True,
        timeout=60,
    )
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def test_sigterm_flushes_the_batch_processor_and_exits_0(tmp_path: Path) -> None:
    grpc_port = free_port()
    out = tmp_path / "spans.jsonl"
    config = {
        "receivers": {"otlp": {"protocols": {"grpc": {"endpoint": f"127.0.0.1:{grpc_port}"}}}},
        # a batch that would wait an hour: only the graceful stop can send it
        "processors": {"batch": {"timeout": "1h", "send_batch_size": 100000}},
        "exporters": {"file": {"path": str(out)}},
        "service": {
            "telemetry": {"metrics": {"level": "none"}},
            "pipelines": {
                "traces": {"receivers": ["otlp"], "processors": ["batch"], "exporters": ["file"]}
            },
        },
    }
    process = start_otlpy(config, tmp_path)
    try:
        wait_for_port(grpc_port)
        report = send(f"127.0.0.1:{grpc_port}", 2048)
        assert report["items_accepted"] == 2048
        assert not out.exists() or out.stat().st_size == 0
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
    spans = sum(
        len(ss.spans)
        for m in read_file(out, Signal.TRACES)
        for rs in m.resource_spans
        for ss in rs.scope_spans
    )
    assert spans == 2048
    log = process.stdout.read().decode() if process.stdout else ""
    assert "stopped" in log


GO_COLLECTOR_CONFIG = """\
# A configuration written for the OpenTelemetry Collector, used unchanged.
extensions:
  health_check:
    endpoint: 127.0.0.1:${env:HEALTH_PORT}

receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:${env:GRPC_PORT}
        max_recv_msg_size_mib: 16
      http:
        endpoint: 127.0.0.1:${env:HTTP_PORT}
        cors:
          allowed_origins: ["http://*.example.com"]

processors:
  batch:
    send_batch_size: 1024
    timeout: 1s

exporters:
  otlp_grpc:
    endpoint: 127.0.0.1:${env:BACKEND_PORT}
    tls:
      insecure: true
    retry_on_failure:
      enabled: true
      initial_interval: 1s
      max_elapsed_time: 30s
    sending_queue:
      enabled: true
      queue_size: 100
  debug:
    verbosity: ${env:VERBOSITY:-basic}

service:
  extensions: [health_check]
  telemetry:
    logs:
      level: info
    metrics:
      level: detailed
      readers:
        - pull:
            exporter:
              prometheus:
                host: 127.0.0.1
                port: ${env:METRICS_PORT}
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [otlp_grpc, debug]
    logs:
      receivers: [otlp]
      processors: [batch]
      exporters: [otlp_grpc]
"""


def test_a_go_collector_config_runs_unchanged(tmp_path: Path) -> None:
    ports = {
        name: free_port()
        for name in (
            "HEALTH_PORT",
            "GRPC_PORT",
            "HTTP_PORT",
            "BACKEND_PORT",
            "METRICS_PORT",
            "BACKEND_METRICS",
        )
    }
    env = {k: str(v) for k, v in ports.items()}
    out = tmp_path / "backend.jsonl"
    backend_dir = tmp_path / "backend"
    backend_dir.mkdir()
    backend = start_otlpy(
        {
            "receivers": {
                "otlp": {"protocols": {"grpc": {"endpoint": f"127.0.0.1:{ports['BACKEND_PORT']}"}}}
            },
            "exporters": {"file": {"path": str(out)}},
            "service": {
                "telemetry": {"metrics": {"level": "none"}},
                "pipelines": {"traces": {"receivers": ["otlp"], "exporters": ["file"]}},
            },
        },
        backend_dir,
    )
    config = tmp_path / "otelcol.yaml"
    config.write_text(GO_COLLECTOR_CONFIG)
    check = subprocess.run(
        [sys.executable, "-m", "otlpy", "validate", "--config", str(config)],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        check=False,
    )
    assert check.returncode == 0, check.stderr
    collector = subprocess.Popen(
        [sys.executable, "-m", "otlpy", "run", "--config", str(config)],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(ports["BACKEND_PORT"])
        wait_for_port(ports["GRPC_PORT"])
        wait_for_port(ports["HEALTH_PORT"])
        with urllib.request.urlopen(f"http://127.0.0.1:{ports['HEALTH_PORT']}/") as response:
            assert json.loads(response.read())["status"] == "Server available"
        report = send(f"127.0.0.1:{ports['GRPC_PORT']}", 1000)
        assert report["items_accepted"] == 1000
        http_report = send(f"http://127.0.0.1:{ports['HTTP_PORT']}", 500, "--protocol", "http/json")
        assert http_report["items_accepted"] == 500
        collector.send_signal(signal.SIGTERM)
        assert collector.wait(timeout=30) == 0
        backend.send_signal(signal.SIGTERM)
        assert backend.wait(timeout=30) == 0
    finally:
        for p in (collector, backend):
            if p.poll() is None:
                p.kill()
    spans = sum(
        len(ss.spans)
        for m in read_file(out, Signal.TRACES)
        for rs in m.resource_spans
        for ss in rs.scope_spans
    )
    assert spans == 1500


def test_a_third_party_plugin_is_found_through_its_entry_point(tmp_path: Path) -> None:
    """A package adds a component by declaring an entry point: no rebuild, no registration call."""
    site = tmp_path / "site"
    package = site / "otlpy_hello"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(
        textwrap.dedent("""
        from __future__ import annotations
        from dataclasses import dataclass
        from pathlib import Path
        from otlpy.component import Factory, Kind
        from otlpy.consumer import Capabilities

        @dataclass(frozen=True, kw_only=True)
        class HelloConfig:
            path: str = "hello.txt"

        class Hello:
            capabilities = Capabilities()
            def __init__(self, config):
                self.config = config
            async def start(self, host):
                pass
            async def shutdown(self):
                pass
            async def consume(self, batch):
                with open(self.config.path, "a") as f:
                    f.write(f"{batch.signal.value} {batch.items}\\n")

        factory = Factory(type="hello", kind=Kind.EXPORTER, config=HelloConfig,
                          create=lambda settings, config: Hello(config),
                          description="says hello to every batch")
    """)
    )
    dist = site / "otlpy_hello-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: otlpy-hello\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[otlpy.components]\nexporter.hello = otlpy_hello:factory\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]),
    }
    listing = subprocess.run(
        [sys.executable, "-m", "otlpy", "components"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert "hello" in listing.stdout and "says hello to every batch" in listing.stdout

    grpc_port = free_port()
    out = tmp_path / "hello.txt"
    process = start_otlpy(
        {
            "receivers": {"otlp": {"protocols": {"grpc": {"endpoint": f"127.0.0.1:{grpc_port}"}}}},
            "exporters": {"hello": {"path": str(out)}},
            "service": {
                "telemetry": {"metrics": {"level": "none"}},
                "pipelines": {"logs": {"receivers": ["otlp"], "exporters": ["hello"]}},
            },
        },
        tmp_path,
        env={"PYTHONPATH": env["PYTHONPATH"]},
    )
    try:
        wait_for_port(grpc_port)
        send(f"127.0.0.1:{grpc_port}", 100, "--signal", "logs", "--batch-size", "50")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
    assert out.read_text().splitlines() == ["logs 50", "logs 50"]


PROMETHEUS = shutil.which("prometheus")


@pytest.mark.skipif(PROMETHEUS is None, reason="Debian's prometheus is not installed")
def test_prometheus_scrapes_the_self_metrics(tmp_path: Path) -> None:
    grpc_port, metrics_port, prom_port = free_port(), free_port(), free_port()
    collector = start_otlpy(
        {
            "receivers": {"otlp": {"protocols": {"grpc": {"endpoint": f"127.0.0.1:{grpc_port}"}}}},
            "exporters": {"debug": {}},
            "service": {
                "telemetry": {"metrics": {"address": f"127.0.0.1:{metrics_port}"}},
                "pipelines": {"traces": {"receivers": ["otlp"], "exporters": ["debug"]}},
            },
        },
        tmp_path,
    )
    prom_config = tmp_path / "prometheus.yml"
    prom_config.write_text(
        textwrap.dedent(f"""
        global:
          scrape_interval: 1s
        scrape_configs:
          - job_name: otlpy
            static_configs:
              - targets: ["127.0.0.1:{metrics_port}"]
    """)
    )
    prometheus = subprocess.Popen(
        [
            str(PROMETHEUS),
            f"--config.file={prom_config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{prom_port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(grpc_port)
        assert send(f"127.0.0.1:{grpc_port}", 1024)["items_accepted"] == 1024
        wait_for_port(prom_port)
        query = "otelcol_receiver_accepted_spans_total"
        url = f"http://127.0.0.1:{prom_port}/api/v1/query?query={query}"
        deadline = time.monotonic() + 60
        values: dict[str, float] = {}
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(url) as response:
                    body = json.loads(response.read())
            except OSError:
                body = {"data": {"result": []}}
            values = {
                r["metric"].get("transport", ""): float(r["value"][1])
                for r in body["data"]["result"]
            }
            if values.get("grpc") == 1024:
                break
            time.sleep(0.5)
        assert values.get("grpc") == 1024
        assert set(values) == {"grpc"}  # only the gRPC protocol is configured
        rss_url = f"http://127.0.0.1:{prom_port}/api/v1/query?query=otelcol_process_memory_rss"
        with urllib.request.urlopen(rss_url) as response:
            rss = json.loads(response.read())["data"]["result"]
        assert float(rss[0]["value"][1]) > 10 * 2**20
    finally:
        for p in (prometheus, collector):
            p.terminate()
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
