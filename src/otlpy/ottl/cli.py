"""``otlpy ottl``: try OTTL statements and conditions on OTLP/JSON from a file or stdin.

::

    otlpy ottl --context log --statement 'set(attributes["env"], "prod")' logs.json
    cat traces.json | otlpy ottl --condition 'kind == SPAN_KIND_SERVER' -

Statements change every item of the context; conditions keep only the items that match (any of
them). The result is printed as OTLP/JSON. A statement that does not parse, or fails on an item,
is reported with the column it points at, and the exit status is 1.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import orjson

from otlpy.errors import PermanentError
from otlpy.ottl.grammar import OttlSyntaxError
from otlpy.ottl.sequence import (
    ContextInferenceError,
    ErrorMode,
    parse_conditions,
    parse_statements,
)
from otlpy.ottl.values import OttlError
from otlpy.pdata import Signal
from otlpy.wire.otlp_json import decode_request, encode_request

__all__ = ["build_parser", "detect_signal", "run"]

_TOP_KEYS = {
    "resourceSpans": Signal.TRACES,
    "resource_spans": Signal.TRACES,
    "resourceMetrics": Signal.METRICS,
    "resource_metrics": Signal.METRICS,
    "resourceLogs": Signal.LOGS,
    "resource_logs": Signal.LOGS,
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="otlpy ottl",
        description="Apply OTTL statements (or keep what matches conditions) to OTLP/JSON.",
    )
    parser.add_argument(
        "--context",
        help="resource, scope, span, spanevent, metric, datapoint or log "
        "(default: inferred from path prefixes such as span.name)",
    )
    parser.add_argument(
        "--statement", action="append", default=[], help="an editor statement (repeatable)"
    )
    parser.add_argument(
        "--condition",
        action="append",
        default=[],
        help="keep only items matching any condition (repeatable)",
    )
    parser.add_argument(
        "--error-mode",
        choices=[m.value for m in ErrorMode],
        default=ErrorMode.PROPAGATE.value,
        help="what a failing statement does (default: propagate, i.e. stop with an error)",
    )
    parser.add_argument("file", nargs="?", default="-", help="OTLP/JSON file, or - for stdin")
    return parser


def detect_signal(document: object) -> Signal:
    """The signal of an OTLP/JSON document, from its top-level key."""
    if isinstance(document, dict):
        for key in document:
            if key in _TOP_KEYS:
                return _TOP_KEYS[key]
    raise ValueError(
        "not OTLP/JSON: expected a top-level resourceSpans, resourceMetrics or resourceLogs key"
    )


def _load(data: bytes, source: str) -> object:
    """The JSON document in ``data``; a ValueError that says where it stops being JSON."""
    if not data.strip():
        raise ValueError(f"{source} is empty: expected OTLP/JSON")
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ValueError(
            f"{source} is not OTLP/JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None


def run(argv: list[str]) -> int:
    """Run the command with ``argv`` (without the program name); returns the exit status."""
    args = build_parser().parse_args(argv)
    if not args.statement and not args.condition:
        print("otlpy ottl: give at least one --statement or --condition", file=sys.stderr)
        return 2
    try:
        data = sys.stdin.buffer.read() if args.file == "-" else Path(args.file).read_bytes()
    except OSError as exc:
        print(f"otlpy ottl: cannot read {args.file}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    source = "stdin" if args.file == "-" else args.file
    try:
        document = _load(data, source)
        try:
            signal = detect_signal(document)
        except ValueError as exc:
            raise ValueError(f"{source} is {exc}") from None
        request = decode_request(signal, data)
    except (ValueError, PermanentError) as exc:
        print(f"otlpy ottl: {exc}", file=sys.stderr)
        return 1
    mode = ErrorMode(args.error_mode)
    try:
        if args.statement:
            statements = parse_statements(args.statement, args.context, error_mode=mode)
            statements.execute(request)
        if args.condition:
            conditions = parse_conditions(args.condition, args.context, error_mode=mode)
            conditions.filter(request, keep_matching=True)
    except OttlSyntaxError as exc:
        print(f"otlpy ottl: {exc}", file=sys.stderr)
        return 1
    except ContextInferenceError:
        print(
            "otlpy ottl: cannot infer the context: give --context (resource, scope, span, "
            "spanevent, metric, datapoint or log), or prefix paths with it (e.g. span.name)",
            file=sys.stderr,
        )
        return 1
    except (OttlError, KeyError, ValueError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"otlpy ottl: {message}", file=sys.stderr)
        return 1
    sys.stdout.write(encode_request(request).decode())
    sys.stdout.write("\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(run(sys.argv[1:]))
