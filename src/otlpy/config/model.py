"""The collector's configuration: the OpenTelemetry Collector's file shape, validated whole.

:func:`build` takes the loaded YAML mapping and returns a :class:`CollectorConfig`, or raises
:class:`~otlpy.errors.ConfigError` listing every problem with its dotted path: unknown keys,
wrong types, unknown component types, pipelines naming undefined components, components that
do not support a pipeline's signal, receivers used by no pipeline. It does no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from otlpy.component import ComponentID, Factory, Kind, factories, find_factory, load_failure
from otlpy.config.decode import decode, join_path
from otlpy.errors import ConfigError, ConfigProblem
from otlpy.pdata import Signal

__all__ = [
    "CollectorConfig",
    "LogsTelemetryConfig",
    "MetricsTelemetryConfig",
    "PipelineConfig",
    "PipelineID",
    "ServiceConfig",
    "TelemetryConfig",
    "build",
]

_SECTIONS: dict[str, Kind] = {
    "receivers": Kind.RECEIVER,
    "processors": Kind.PROCESSOR,
    "exporters": Kind.EXPORTER,
    "extensions": Kind.EXTENSION,
    "connectors": Kind.CONNECTOR,
}


@dataclass(frozen=True, slots=True, order=True)
class PipelineID:
    """``traces``, ``metrics/name``: a pipeline's signal and optional name."""

    signal: Signal
    name: str = ""

    @classmethod
    def parse(cls, text: str) -> PipelineID:
        type_, sep, name = str(text).partition("/")
        try:
            signal = Signal(type_)
        except ValueError:
            raise ValueError(
                f"unknown pipeline signal {type_!r} (expected traces, metrics or logs)"
            ) from None
        if sep and not name:
            raise ValueError(f"pipeline id {text!r} has an empty name after '/'")
        return cls(signal, name)

    def __str__(self) -> str:
        return f"{self.signal.value}/{self.name}" if self.name else self.signal.value


@dataclass(frozen=True, kw_only=True)
class PipelineConfig:
    receivers: tuple[ComponentID, ...]
    processors: tuple[ComponentID, ...]
    exporters: tuple[ComponentID, ...]


@dataclass(frozen=True, kw_only=True)
class _PipelineYAML:
    receivers: list[str] = field(default_factory=list)
    processors: list[str] = field(default_factory=list)
    exporters: list[str] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class PrometheusPullConfig:
    host: str = "localhost"
    port: int = 8888
    without_scope_info: bool = False
    without_type_suffix: bool = False
    without_units: bool = False


@dataclass(frozen=True, kw_only=True)
class PullExporterConfig:
    prometheus: PrometheusPullConfig | None = None


@dataclass(frozen=True, kw_only=True)
class PullReaderConfig:
    exporter: PullExporterConfig = field(default_factory=PullExporterConfig)


@dataclass(frozen=True, kw_only=True)
class ReaderConfig:
    pull: PullReaderConfig | None = None
    periodic: Any = None


@dataclass(frozen=True, kw_only=True)
class MetricsTelemetryConfig:
    """``service.telemetry.metrics``: ``level: none`` turns the endpoint off."""

    level: Literal["none", "basic", "normal", "detailed"] = "normal"
    address: str = ""
    readers: list[ReaderConfig] = field(default_factory=list)

    def endpoints(self) -> list[tuple[str, int]]:
        """Where to serve ``/metrics``: the readers' pull exporters, else ``address``."""
        if self.level == "none":
            return []
        found = [
            (r.pull.exporter.prometheus.host, r.pull.exporter.prometheus.port)
            for r in self.readers
            if r.pull is not None and r.pull.exporter.prometheus is not None
        ]
        if found:
            return found
        host, _, port = (self.address or "localhost:8888").rpartition(":")
        return [(host.strip("[]") or "0.0.0.0", int(port))]

    def validate(self) -> list[ConfigProblem]:
        problems = []
        if self.address:
            _, sep, port = self.address.rpartition(":")
            if not sep or not port.isdigit():
                problems.append(ConfigProblem("address", "expected host:port"))
        for i, reader in enumerate(self.readers):
            if reader.periodic is not None:
                problems.append(
                    ConfigProblem(f"readers[{i}].periodic", "periodic readers are not supported")
                )
        return problems


@dataclass(frozen=True, kw_only=True)
class LogsTelemetryConfig:
    level: Literal["debug", "info", "warn", "error"] = "info"
    encoding: Literal["console", "json"] = "console"
    development: bool = False
    disable_caller: bool = False
    disable_stacktrace: bool = False
    sampling: Any = None
    output_paths: list[str] = field(default_factory=list)
    error_output_paths: list[str] = field(default_factory=list)
    initial_fields: dict[str, Any] = field(default_factory=dict)
    processors: Any = None


@dataclass(frozen=True, kw_only=True)
class TelemetryConfig:
    metrics: MetricsTelemetryConfig = field(default_factory=MetricsTelemetryConfig)
    logs: LogsTelemetryConfig = field(default_factory=LogsTelemetryConfig)
    traces: Any = None
    resource: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class _ServiceYAML:
    extensions: list[str] = field(default_factory=list)
    pipelines: dict[str, _PipelineYAML] = field(default_factory=dict)
    telemetry: TelemetryConfig = field(default_factory=TelemetryConfig)


@dataclass(frozen=True, kw_only=True)
class ServiceConfig:
    extensions: tuple[ComponentID, ...]
    pipelines: Mapping[PipelineID, PipelineConfig]
    telemetry: TelemetryConfig


@dataclass(frozen=True, kw_only=True)
class CollectorConfig:
    """A validated collector configuration: component configs by id, and the service."""

    receivers: Mapping[ComponentID, Any]
    processors: Mapping[ComponentID, Any]
    exporters: Mapping[ComponentID, Any]
    extensions: Mapping[ComponentID, Any]
    connectors: Mapping[ComponentID, Any]
    service: ServiceConfig

    def section(self, kind: Kind) -> Mapping[ComponentID, Any]:
        return {
            Kind.RECEIVER: self.receivers,
            Kind.PROCESSOR: self.processors,
            Kind.EXPORTER: self.exporters,
            Kind.EXTENSION: self.extensions,
            Kind.CONNECTOR: self.connectors,
        }[kind]


def _decode_section(
    kind: Kind, data: Any, problems: list[ConfigProblem]
) -> tuple[dict[ComponentID, Any], dict[ComponentID, Factory]]:
    section = kind.plural
    configs: dict[ComponentID, Any] = {}
    found: dict[ComponentID, Factory] = {}
    if data is None:
        return configs, found
    if not isinstance(data, dict):
        problems.append(ConfigProblem(section, "expected a mapping of component ids to configs"))
        return configs, found
    for key, value in data.items():
        path = join_path(section, key)
        try:
            cid = ComponentID.parse(str(key))
        except ValueError as exc:
            problems.append(ConfigProblem(path, str(exc)))
            continue
        factory = find_factory(kind, cid.type)
        if factory is None:
            problems.append(ConfigProblem(path, _unknown_type(kind, cid.type)))
            continue
        config, sub = decode(factory.config, value, path)
        problems.extend(sub)
        configs[cid] = config
        found[cid] = factory
    return configs, found


def _unknown_type(kind: Kind, type_name: str) -> str:
    """Say why no factory was found: a component whose package is missing, or a typo."""
    failure = load_failure(kind, type_name)
    if failure is not None:
        return f"{kind.value} type {type_name!r} is installed but cannot be loaded: {failure}"
    known = sorted({factory.type for (k, _), factory in factories().items() if k is kind})
    return (
        f"unknown {kind.value} type {type_name!r} "
        f"(available: {', '.join(known) or 'none'}; `otlpy components` lists them)"
    )


def _defined_ids(data: Any) -> set[ComponentID]:
    """The ids a section defines, valid or not, so that a component whose definition was
    refused is not also reported as undefined wherever it is used."""
    if not isinstance(data, dict):
        return set()
    ids: set[ComponentID] = set()
    for key in data:
        try:
            ids.add(ComponentID.parse(str(key)))
        except ValueError:
            continue
    return ids


def _parse_ids(
    names: list[str], path: str, problems: list[ConfigProblem]
) -> tuple[ComponentID, ...]:
    ids: list[ComponentID] = []
    for i, name in enumerate(names):
        try:
            cid = ComponentID.parse(name)
        except ValueError as exc:
            problems.append(ConfigProblem(f"{path}[{i}]", str(exc)))
            continue
        if cid in ids:
            problems.append(ConfigProblem(f"{path}[{i}]", f"{cid} is listed twice"))
            continue
        ids.append(cid)
    return tuple(ids)


def build(data: Mapping[str, Any]) -> CollectorConfig:
    """Validate a loaded config mapping; raises :class:`ConfigError` with every problem."""
    problems: list[ConfigProblem] = []
    for key in data:
        if key not in _SECTIONS and key != "service":
            allowed = ", ".join([*_SECTIONS, "service"])
            problems.append(ConfigProblem(str(key), f"unknown top-level key (allowed: {allowed})"))
    sections: dict[Kind, dict[ComponentID, Any]] = {}
    found: dict[Kind, dict[ComponentID, Factory]] = {}
    defined: dict[Kind, set[ComponentID]] = {}
    for name, kind in _SECTIONS.items():
        sections[kind], found[kind] = _decode_section(kind, data.get(name), problems)
        defined[kind] = _defined_ids(data.get(name))

    service_yaml, sub = decode(_ServiceYAML, data.get("service"), "service")
    problems.extend(sub)
    if service_yaml is None:
        service_yaml = _ServiceYAML()

    extensions = _parse_ids(service_yaml.extensions, "service.extensions", problems)
    for i, cid in enumerate(extensions):
        if cid not in defined[Kind.EXTENSION]:
            problems.append(
                ConfigProblem(f"service.extensions[{i}]", f"extension {cid} is not defined")
            )

    pipelines: dict[PipelineID, PipelineConfig] = {}
    used_receivers: set[ComponentID] = set()
    connector_sides: dict[ComponentID, set[str]] = {}
    pipelines_reported = any(p.path.startswith("service.pipelines") for p in problems)
    if not service_yaml.pipelines and not pipelines_reported:
        problems.append(ConfigProblem("service.pipelines", "at least one pipeline is required"))
    for key, pipe in service_yaml.pipelines.items():
        path = f"service.pipelines.{key}"
        try:
            pid = PipelineID.parse(key)
        except ValueError as exc:
            problems.append(ConfigProblem(path, str(exc)))
            continue
        receivers = _parse_ids(pipe.receivers, f"{path}.receivers", problems)
        processors = _parse_ids(pipe.processors, f"{path}.processors", problems)
        exporters = _parse_ids(pipe.exporters, f"{path}.exporters", problems)
        if not pipe.receivers:
            problems.append(ConfigProblem(f"{path}.receivers", "a pipeline needs a receiver"))
        if not pipe.exporters:
            problems.append(ConfigProblem(f"{path}.exporters", "a pipeline needs an exporter"))
        for role, ids, kind in (
            ("receivers", receivers, Kind.RECEIVER),
            ("processors", processors, Kind.PROCESSOR),
            ("exporters", exporters, Kind.EXPORTER),
        ):
            for i, cid in enumerate(ids):
                where = f"{path}.{role}[{i}]"
                factory = found[kind].get(cid)
                if factory is None and kind is not Kind.PROCESSOR:
                    factory = found[Kind.CONNECTOR].get(cid)
                    if factory is not None:
                        connector_sides.setdefault(cid, set()).add(role)
                        _check_connector(factory, cid, role, pid.signal, where, problems)
                        continue
                if factory is None:
                    if cid in defined[kind] or cid in defined[Kind.CONNECTOR]:
                        continue  # defined but invalid: already reported at its definition
                    problems.append(
                        ConfigProblem(where, f"{kind.value} {cid} is not defined in {kind.plural}")
                    )
                    continue
                if pid.signal not in factory.signals:
                    problems.append(
                        ConfigProblem(
                            where, f"{kind.value} {cid} does not support {pid.signal.value}"
                        )
                    )
                if kind is Kind.RECEIVER:
                    used_receivers.add(cid)
        pipelines[pid] = PipelineConfig(
            receivers=receivers, processors=processors, exporters=exporters
        )

    for cid in sections[Kind.RECEIVER]:
        if cid not in used_receivers:
            problems.append(
                ConfigProblem(f"receivers.{cid}", f"receiver {cid} is not used in any pipeline")
            )
    for cid in sections[Kind.CONNECTOR]:
        sides = connector_sides.get(cid, set())
        if sides and sides != {"receivers", "exporters"}:
            missing = "receiver" if "receivers" not in sides else "exporter"
            problems.append(
                ConfigProblem(
                    f"connectors.{cid}",
                    f"connector {cid} must be used as an exporter in one pipeline and as a "
                    f"receiver in another; it is never used as a {missing}",
                )
            )

    if problems:
        raise ConfigError(problems)
    return CollectorConfig(
        receivers=sections[Kind.RECEIVER],
        processors=sections[Kind.PROCESSOR],
        exporters=sections[Kind.EXPORTER],
        extensions=sections[Kind.EXTENSION],
        connectors=sections[Kind.CONNECTOR],
        service=ServiceConfig(
            extensions=extensions, pipelines=pipelines, telemetry=service_yaml.telemetry
        ),
    )


def _check_connector(
    factory: Factory,
    cid: ComponentID,
    role: str,
    signal: Signal,
    where: str,
    problems: list[ConfigProblem],
) -> None:
    if role == "exporters":
        ok = signal in factory.connects
    else:
        ok = any(signal in out for out in factory.connects.values())
    if not ok:
        side = "exporter" if role == "exporters" else "receiver"
        problems.append(ConfigProblem(where, f"connector {cid} cannot be a {signal.value} {side}"))
