"""``otlpy send``: a telemetry generator that loads an OTLP receiver and says what it accepted.

It generates realistic traces, metrics or logs (see :mod:`otlpy.send.generate`), encodes a few
requests up front and sends them over OTLP/gRPC or OTLP/HTTP (protobuf or JSON) with fresh trace
ids and timestamps, at a rate or as fast as possible, for a duration or a count::

    otlpy send --signal traces --rate 10000 --duration 30s --workers 4
    otlpy send --protocol http/json --endpoint http://collector:4318 --count 5000 --json

From Python, :func:`send` runs one process's worth of sending and returns its :class:`Stats`.
"""

from __future__ import annotations

import sys

from otlpy.send.options import SendOptions, parse_args
from otlpy.send.runner import run_loop, run_processes, send, send_until_signalled
from otlpy.send.stats import Stats, format_json, format_text, summary

__all__ = ["SendOptions", "Stats", "run", "send"]


def run(argv: list[str]) -> int:
    """The ``otlpy send`` command: 0 when anything was accepted, 1 when nothing was, 2 on bad
    options."""
    try:
        options, ns = parse_args(argv)
    except SystemExit as exc:  # argparse reports bad syntax (and --help) by exiting
        return int(exc.code or 0)
    problems = options.validate()
    if problems:
        # options, not a config file: one line each, as argparse words its own errors
        for problem in problems:
            print(f"otlpy send: {problem.path}: {problem.message}", file=sys.stderr)
        return 2
    try:
        if options.processes > 1:
            stats = run_processes(options)
        else:
            stats = run_loop(send_until_signalled(options))
    except (OSError, ValueError) as exc:
        # files named by --ca-file and friends, or placeholders that cannot be placed
        print(f"otlpy send: {exc}", file=sys.stderr)
        return 2
    document = summary(
        stats,
        signal=options.signal.value,
        item_name=options.signal.item_name,
        protocol=options.protocol,
        endpoint=options.resolved_endpoint,
    )
    print(format_json(document) if ns.json else format_text(document), flush=True)
    return 0 if stats.items_accepted > 0 else 1
