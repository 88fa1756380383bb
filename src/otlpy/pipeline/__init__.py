"""Graph building, fan-out, start/stop ordering and the running collector."""

from __future__ import annotations

from otlpy.pipeline.collector import Collector, run_collector
from otlpy.pipeline.fanout import Fanout, fanout
from otlpy.pipeline.graph import Graph, build_graph

__all__ = ["Collector", "Fanout", "Graph", "build_graph", "fanout", "run_collector"]
