"""Components, their identities and factories, and the entry-point registry.

Every component (receiver, processor, exporter, extension, connector) has two coroutine methods,
``start(host)`` and ``shutdown()``. A :class:`Factory` names a component type, its config class
(a frozen, keyword-only dataclass with defaults and a pure ``validate()``) and a ``create``
function. Factories are found through the ``otlpy.components`` entry-point group, so a built-in
component and one from a third-party package are registered the same way::

    [project.entry-points."otlpy.components"]
    "exporter.myexporter" = "mypkg.exporter:factory"

``create`` takes, by kind:

- receiver: ``create(settings, config, consumers)`` where ``consumers`` maps each signal the
  receiver feeds to the consumer that takes it;
- processor: ``create(settings, config, next_consumer)``, returns a component that is also a
  consumer (one instance per pipeline, as in the Collector);
- exporter: ``create(settings, config)``, returns a component that is also a consumer (one
  instance shared by every pipeline that lists it);
- extension: ``create(settings, config)``;
- connector: ``create(settings, config, routes)`` where ``routes`` maps pipeline ids
  (``traces/name``) to consumers; it is a consumer in the pipelines that export to it.
"""

from __future__ import annotations

import enum
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from otlpy.pdata import Signal

if TYPE_CHECKING:
    from otlpy.telemetry import SelfTelemetry

__all__ = [
    "Component",
    "ComponentID",
    "Factory",
    "Host",
    "Kind",
    "Settings",
    "factories",
    "find_factory",
    "load_failure",
    "load_failures",
    "register",
    "unregister",
]

log = logging.getLogger(__name__)


class Kind(enum.StrEnum):
    RECEIVER = "receiver"
    PROCESSOR = "processor"
    EXPORTER = "exporter"
    EXTENSION = "extension"
    CONNECTOR = "connector"

    @property
    def plural(self) -> str:
        return f"{self.value}s"


_TYPE_RE = re.compile(r"^[a-zA-Z][0-9a-zA-Z_]{0,62}$")


@dataclass(frozen=True, slots=True, order=True)
class ComponentID:
    """A component's identity: ``type`` or ``type/name`` as written in the config."""

    type: str
    name: str = ""

    @classmethod
    def parse(cls, text: str) -> ComponentID:
        """Parse ``type[/name]``; raises ``ValueError`` with a readable reason."""
        if not isinstance(text, str) or not text.strip():
            raise ValueError("a component id must be a non-empty string")
        type_, sep, name = text.strip().partition("/")
        if not _TYPE_RE.match(type_):
            raise ValueError(f"invalid component type {type_!r}")
        if sep and not name:
            raise ValueError(f"component id {text!r} has an empty name after '/'")
        return cls(type_, name)

    def __str__(self) -> str:
        return f"{self.type}/{self.name}" if self.name else self.type


@runtime_checkable
class Component(Protocol):
    """Something the collector starts and stops."""

    async def start(self, host: Host) -> None: ...

    async def shutdown(self) -> None: ...


class Host(Protocol):
    """What a running component may ask of the collector that runs it."""

    def get_extension(self, id: ComponentID) -> Component | None: ...

    @property
    def extensions(self) -> Mapping[ComponentID, Component]: ...

    @property
    def receivers(self) -> Mapping[ComponentID, Component]:
        """The collector's receivers (the UI asks the otlp receiver where it listens)."""
        ...


@dataclass(frozen=True, slots=True)
class Settings:
    """What every component is given at creation besides its own config."""

    id: ComponentID
    kind: Kind
    telemetry: SelfTelemetry
    logger: logging.Logger
    signal: Signal | None = None
    pipeline: str | None = None


@dataclass(frozen=True, slots=True)
class Factory:
    """How to configure and create one type of component."""

    type: str
    kind: Kind
    config: Callable[[], Any]
    create: Callable[..., Any]
    signals: frozenset[Signal] = field(default_factory=lambda: frozenset(Signal))
    aliases: tuple[str, ...] = ()
    description: str = ""
    stability: str = "beta"
    #: signals accepted on the connector's exporting side -> signals it emits (connectors only)
    connects: Mapping[Signal, frozenset[Signal]] = field(default_factory=dict)

    def default_config(self) -> Any:
        return self.config()


_registered: dict[tuple[Kind, str], Factory] = {}


def register(factory: Factory) -> None:
    """Register a factory in this process, ahead of entry points (tests, embedding)."""
    for type_name in (factory.type, *factory.aliases):
        _registered[(factory.kind, type_name)] = factory


def unregister(factory: Factory) -> None:
    for type_name in (factory.type, *factory.aliases):
        _registered.pop((factory.kind, type_name), None)


def factories() -> Mapping[tuple[Kind, str], Factory]:
    """Every registered factory, keyed by (kind, type) including aliases."""
    return {**_entry_point_factories(), **_registered}


#: why an installed entry point (``"exporter.store"``) could not be loaded
_load_failures: dict[str, str] = {}


@cache
def _entry_points_by_name() -> Mapping[str, EntryPoint]:
    """The installed entry points (``"exporter.otlp"``), found without importing anything."""
    return {ep.name: ep for ep in entry_points(group="otlpy.components")}


@cache
def _load_entry_point(name: str) -> Factory | None:
    """Import one entry point's factory (once); record why when it cannot be loaded."""
    ep = _entry_points_by_name()[name]
    try:
        factory = ep.load()
    except ModuleNotFoundError as exc:
        # An optional dependency left out on purpose (a plugin installed without one of its
        # extras) is no error until a config uses the component: say so only then.
        _load_failures[ep.name] = _missing_module_reason(ep, exc)
        log.debug("component %s is not available: %s", ep.name, _load_failures[ep.name])
        return None
    except Exception as exc:  # a broken plugin must not take the collector down
        log.exception("cannot load component entry point %s = %s", ep.name, ep.value)
        _load_failures[ep.name] = f"{type(exc).__name__}: {exc}"
        return None
    if not isinstance(factory, Factory):
        log.error("entry point %s = %s is not an otlpy Factory", ep.name, ep.value)
        return None
    return factory


def _entry_point_factories() -> Mapping[tuple[Kind, str], Factory]:
    """Every installed factory (this imports every component: for listings, not for runs)."""
    found: dict[tuple[Kind, str], Factory] = {}
    for name in _entry_points_by_name():
        factory = _load_entry_point(name)
        if factory is None:
            continue
        for type_name in (factory.type, *factory.aliases):
            found.setdefault((factory.kind, type_name), factory)
    return found


def load_failures() -> Mapping[str, str]:
    """Installed components that cannot be loaded (``"exporter.store"``), with the reason."""
    _entry_point_factories()
    return dict(_load_failures)


def load_failure(kind: Kind, type_name: str) -> str | None:
    """Why the installed component ``kind.type_name`` cannot be loaded, or None.

    None also when no package declares such a component: then it is simply unknown.
    """
    name = f"{kind.value}.{type_name}"
    if name in _entry_points_by_name():
        _load_entry_point(name)
    return _load_failures.get(name)


def _missing_module_reason(ep: EntryPoint, exc: ModuleNotFoundError) -> str:
    """Name the missing package and, when the entry point's distribution has an extra that
    brings it, the ``pip install`` line that does."""
    missing = (exc.name or "").partition(".")[0]
    if not missing:
        return str(exc)
    reason = f"the Python package {missing!r} is not installed"
    dist = ep.dist
    if dist is None:
        return reason
    for requirement in dist.requires or []:
        match = _EXTRA_REQUIREMENT.match(requirement)
        if match and _normalise(match["name"]) == _normalise(missing):
            return f"{reason} (pip install '{dist.name}[{match['extra']}]')"
    return reason


#: ``somepkg>=1.1; extra == "kafka"`` -> name and extra
_EXTRA_REQUIREMENT = re.compile(
    r"\s*(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)[^;]*;.*\bextra\s*==\s*['\"](?P<extra>[^'\"]+)['\"]"
)


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def find_factory(kind: Kind, type_name: str) -> Factory | None:
    """The factory of ``kind`` and ``type_name``, importing only that component when its entry
    point is named ``kind.type`` (a forwarding config does not pay for the store's DuckDB);
    other names (a plugin's aliases) are found by loading every entry point."""
    found = _registered.get((kind, type_name))
    if found is not None:
        return found
    name = f"{kind.value}.{type_name}"
    if name in _entry_points_by_name():
        factory = _load_entry_point(name)
        if factory is not None and factory.kind is kind:
            return factory
    return _entry_point_factories().get((kind, type_name))
