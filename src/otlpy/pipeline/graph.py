"""Build the running graph from a validated config: create every component, wire consumers.

Receivers feed a fan-out over the pipelines that list them; each pipeline is a chain of its own
processor instances ending in a fan-out over its exporters; exporters and connectors are created
once and shared by the pipelines that list them. A connector is an exporter in some pipelines
and feeds the pipelines that list it as a receiver, so pipelines are built downstream first.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from otlpy.component import Component, ComponentID, Factory, Kind, Settings, find_factory
from otlpy.config.model import CollectorConfig, PipelineID
from otlpy.consumer import Consumer
from otlpy.errors import ConfigError, ConfigProblem
from otlpy.pdata import Signal
from otlpy.pipeline.fanout import fanout
from otlpy.telemetry import SelfTelemetry

__all__ = ["Graph", "build_graph"]


@dataclass
class Graph:
    """Every component of a running collector, in start order by layer."""

    extensions: dict[ComponentID, Component] = field(default_factory=dict)
    exporters: dict[ComponentID, Any] = field(default_factory=dict)
    connectors: dict[ComponentID, Any] = field(default_factory=dict)
    #: processors per pipeline, in pipeline order
    processors: dict[PipelineID, list[Any]] = field(default_factory=dict)
    receivers: dict[ComponentID, Component] = field(default_factory=dict)
    #: each pipeline's first consumer
    entries: dict[PipelineID, Consumer] = field(default_factory=dict)

    def start_order(self) -> list[tuple[str, Component]]:
        """Downstream first: extensions, exporters, connectors, processors, receivers."""
        order: list[tuple[str, Component]] = []
        order += [(f"extension {i}", c) for i, c in self.extensions.items()]
        order += [(f"exporter {i}", c) for i, c in self.exporters.items()]
        order += [(f"connector {i}", c) for i, c in self.connectors.items()]
        for pid, procs in self.processors.items():
            order += [(f"processor in {pid}", p) for p in reversed(procs)]
        order += [(f"receiver {i}", c) for i, c in self.receivers.items()]
        return order


def _factory(kind: Kind, cid: ComponentID) -> Factory:
    factory = find_factory(kind, cid.type)
    if factory is None:  # pragma: no cover - validation guarantees it
        raise ConfigError([ConfigProblem(f"{kind.plural}.{cid}", "unknown type")])
    return factory


def build_graph(config: CollectorConfig, telemetry: SelfTelemetry) -> Graph:
    """Create every component named by the service's pipelines and extensions."""
    graph = Graph()
    pipelines = config.service.pipelines

    def settings(kind: Kind, cid: ComponentID, pid: PipelineID | None = None) -> Settings:
        return Settings(
            id=cid,
            kind=kind,
            telemetry=telemetry,
            logger=logging.getLogger(f"otlpy.{kind.value}.{cid}"),
            signal=pid.signal if pid else None,
            pipeline=str(pid) if pid else None,
        )

    for cid in config.service.extensions:
        graph.extensions[cid] = _factory(Kind.EXTENSION, cid).create(
            settings(Kind.EXTENSION, cid), config.extensions[cid]
        )

    building: set[PipelineID] = set()

    def build_connector(cid: ComponentID) -> Any:
        if cid in graph.connectors:
            return graph.connectors[cid]
        routes: dict[str, Consumer] = {}
        for pid, pipe in pipelines.items():
            if cid in pipe.receivers:
                routes[str(pid)] = build_pipeline(pid)
        connector = _factory(Kind.CONNECTOR, cid).create(
            settings(Kind.CONNECTOR, cid), config.connectors[cid], routes
        )
        graph.connectors[cid] = connector
        return connector

    def build_pipeline(pid: PipelineID) -> Consumer:
        if pid in graph.entries:
            return graph.entries[pid]
        if pid in building:
            raise ConfigError(
                [ConfigProblem(f"service.pipelines.{pid}", "connectors form a cycle")]
            )
        building.add(pid)
        pipe = pipelines[pid]
        targets: list[Consumer] = []
        for cid in pipe.exporters:
            if cid in config.connectors:
                targets.append(build_connector(cid))
                continue
            if cid not in graph.exporters:
                graph.exporters[cid] = _factory(Kind.EXPORTER, cid).create(
                    settings(Kind.EXPORTER, cid), config.exporters[cid]
                )
            targets.append(graph.exporters[cid])
        consumer: Consumer = fanout(targets)
        procs: list[Any] = []
        for cid in reversed(pipe.processors):
            processor = _factory(Kind.PROCESSOR, cid).create(
                settings(Kind.PROCESSOR, cid, pid), config.processors[cid], consumer
            )
            procs.insert(0, processor)
            consumer = processor
        graph.processors[pid] = procs
        graph.entries[pid] = consumer
        building.discard(pid)
        return consumer

    for pid in pipelines:
        build_pipeline(pid)

    receiver_pipes: dict[ComponentID, dict[Signal, list[Consumer]]] = {}
    for pid, pipe in pipelines.items():
        for cid in pipe.receivers:
            if cid in config.connectors:
                continue
            receiver_pipes.setdefault(cid, {}).setdefault(pid.signal, []).append(graph.entries[pid])
    for cid, by_signal in receiver_pipes.items():
        consumers: Mapping[Signal, Consumer] = {s: fanout(c) for s, c in by_signal.items()}
        graph.receivers[cid] = _factory(Kind.RECEIVER, cid).create(
            settings(Kind.RECEIVER, cid), config.receivers[cid], consumers
        )
    return graph
