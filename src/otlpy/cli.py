"""The ``otlpy`` command line: the only place that calls ``sys.exit``."""

from __future__ import annotations

import argparse
import asyncio
import functools
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from otlpy._version import __version__

if TYPE_CHECKING:
    from otlpy.config import CollectorConfig

__all__ = ["main"]

_DESCRIPTION = """\
otlpy: an OpenTelemetry Protocol collector, telemetry store and SDK exporters.

`otlpy run` with no config keeps what arrives on 4317 (gRPC) and 4318 (HTTP) in a local store
and shows it on http://localhost:16686; `otlpy run --config FILE` runs the pipelines of an
OpenTelemetry Collector style YAML file. `otlpy COMMAND --help` tells more.
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="otlpy",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"otlpy {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser(
        "run",
        help="run the collector",
        description="Run the collector. With no --config: the otlp receiver on 4317/4318, the "
        "batch processor and the embedded store, with the UI and query API on 16686.",
    )
    run.add_argument(
        "--config",
        "-c",
        action="append",
        metavar="FILE",
        help="config file (repeatable: later files override earlier ones; 'yaml:...' inline)",
    )
    run.add_argument(
        "--data",
        metavar="DIR",
        default=os.environ.get("OTLPY_DATA", "./otlpy-data"),
        help="where the default configuration keeps its store (env OTLPY_DATA; "
        "default ./otlpy-data)",
    )
    run.add_argument(
        "--shutdown-timeout",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="how long a graceful stop may take (default 30)",
    )

    validate = sub.add_parser(
        "validate",
        help="check a config without starting anything",
        description="Check config files and print every problem with its dotted path. "
        "Exit code 1 when there is any.",
    )
    validate.add_argument(
        "--config",
        "-c",
        action="append",
        required=True,
        metavar="FILE",
        help="config file (repeatable: later files override earlier ones; 'yaml:...' inline)",
    )

    sub.add_parser("version", help="print the version", description="Print otlpy's version.")
    sub.add_parser(
        "components",
        help="list the built-in and installed components",
        description="List the receivers, processors, exporters, extensions and connectors "
        "a config can use, with the signals each one handles.",
    )

    send = sub.add_parser(
        "send",
        help="generate and send telemetry (a load generator)",
        add_help=False,
    )
    send.add_argument("args", nargs=argparse.REMAINDER)
    ottl = sub.add_parser("ottl", help="apply OTTL statements to OTLP JSON", add_help=False)
    ottl.add_argument("args", nargs=argparse.REMAINDER)
    queue = sub.add_parser("queue", help="inspect a persistent queue", add_help=False)
    queue.add_argument("args", nargs=argparse.REMAINDER)
    query = sub.add_parser("query", help="query the embedded store", add_help=False)
    query.add_argument("args", nargs=argparse.REMAINDER)
    return parser


def _cmd_validate(paths: Sequence[str]) -> int:
    from otlpy.config import load
    from otlpy.errors import ConfigError

    try:
        load(*paths)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    print("configuration is valid")
    return 0


def _cmd_components() -> int:
    from otlpy.component import Kind, factories, load_failures

    by_kind: dict[Kind, list[tuple[str, str, str]]] = {}
    seen: set[tuple[Kind, str]] = set()
    for (kind, _name), factory in sorted(factories().items()):
        if (kind, factory.type) in seen:
            continue
        seen.add((kind, factory.type))
        aliases = f" (also: {', '.join(factory.aliases)})" if factory.aliases else ""
        signals = (
            "" if kind is Kind.EXTENSION else ",".join(sorted(s.value for s in factory.signals))
        )
        by_kind.setdefault(kind, []).append((factory.type + aliases, signals, factory.description))
    rows = [row for kind_rows in by_kind.values() for row in kind_rows]
    name_width = max((len(name) for name, _, _ in rows), default=0)
    signals_width = max((len(signals) for _, signals, _ in rows), default=0)
    for kind in Kind:
        if kind not in by_kind:
            continue
        print(f"{kind.plural}:")
        for name, signals, description in by_kind[kind]:
            print(f"  {name:<{name_width}}  {signals:<{signals_width}}  {description}")
    failures = load_failures()
    if failures:
        print("installed but not available:")
        for name, reason in sorted(failures.items()):
            print(f"  {name}  {reason}")
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from otlpy._logging import setup_logging
    from otlpy.config import build, load_files
    from otlpy.defaults import default_config
    from otlpy.errors import ConfigError

    # a config's store exporter and UI extension with no directory of their own use --data
    os.environ["OTLPY_DATA"] = args.data
    try:
        data = load_files(args.config) if args.config else default_config(args.data)
        config = build(data)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    logs = config.service.telemetry.logs
    setup_logging(logs.level, logs.encoding)
    on_started: Callable[[], None] | None = None
    if not args.config:
        from otlpy.defaults import print_banner

        on_started = functools.partial(print_banner, config, args.data)
    return _run_loop(_serve(config, args.shutdown_timeout, on_started))


async def _serve(
    config: CollectorConfig, shutdown_timeout: float, on_started: Callable[[], None] | None
) -> int:
    """Run the collector until it is told to stop; call ``on_started`` once it is up.

    The banner waits for the start: "otlpy is running" above "port 4317 is in use" would lie.
    """
    from otlpy.pipeline import run_collector

    started = asyncio.Event()

    async def announce() -> None:
        await started.wait()
        if on_started is not None:
            on_started()

    announcer = asyncio.create_task(announce())
    try:
        return await run_collector(config, shutdown_timeout=shutdown_timeout, started=started)
    finally:
        announcer.cancel()


def _run_loop(coro: object) -> int:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency where it builds
        return asyncio.run(coro)  # type: ignore[arg-type]
    return uvloop.run(coro)  # type: ignore[arg-type]


_DELEGATES = {
    "send": "otlpy.send",
    "ottl": "otlpy.ottl.cli",
    "queue": "otlpy.exporterhelper.inspect",
    "query": "otlpy.store.cli",
}


def _delegate(command: str, argv: list[str]) -> int:
    """Hand a sub-command to the module that owns it (imported only when used)."""
    module = importlib.import_module(_DELEGATES[command])
    return int(module.run(argv))


def dispatch(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in _DELEGATES:
        # argparse would eat the sub-command's own options (even --help): hand them over whole.
        return _delegate(argv[0], argv[1:])
    args = _parser().parse_args(argv)
    if args.command == "validate":
        return _cmd_validate(args.config)
    if args.command == "version":
        from otlpy.wire import _compiled

        print(f"otlpy {__version__}")
        print(f"wire codec: {_compiled.describe()}")
        return 0
    if args.command == "components":
        return _cmd_components()
    if args.command is None:
        _parser().print_help()
        return 0
    return _cmd_run(args)


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point."""
    sys.exit(dispatch(argv))
