"""Runs the OTTL conformance corpus (shared/ottl-conformance) the way its README describes.

Used by ``test_conformance.py``; run directly to print the pass rate::

    .venv/bin/python tests/ottl/ottl_conformance.py
"""

from __future__ import annotations

import base64
import json
import os
import sys
from pathlib import Path
from typing import Any

from otlpy.ottl import (
    OttlError,
    OttlSyntaxError,
    iter_contexts,
    parse_statements,
    parse_value_expression,
)
from otlpy.ottl.grammar import parse_statement, parse_value
from otlpy.ottl.sequence import paths_of
from otlpy.pdata import Signal
from otlpy.wire.otlp_json import decode_request, encode_request_to_dict

CONTEXT_NAMES = {
    "resource",
    "scope",
    "instrumentation_scope",
    "log",
    "span",
    "spanevent",
    "metric",
    "datapoint",
}


def corpus_dir() -> Path | None:
    """Where the corpus is: $OTTL_CONFORMANCE, /work/shared, or a shared/ beside the checkout."""
    candidates = [
        os.environ.get("OTTL_CONFORMANCE", ""),
        "/work/shared/ottl-conformance",
        str(Path(__file__).resolve().parents[3] / "shared" / "ottl-conformance"),
        str(Path(__file__).resolve().parents[2] / "shared" / "ottl-conformance"),
    ]
    for candidate in candidates:
        if candidate and (Path(candidate) / "cases.json").is_file():
            return Path(candidate)
    return None


def load_cases(root: Path) -> list[dict[str, Any]]:
    return list(json.loads((root / "cases.json").read_text()))


# -- normalisation for comparison ------------------------------------------------------------


def norm_any(value: dict[str, Any] | None) -> Any:
    if not value:
        return None
    (kind, inner), *_ = value.items()
    if kind == "stringValue":
        return ("s", inner)
    if kind == "intValue":
        return ("i", int(inner))
    if kind == "doubleValue":
        return ("d", float(inner))
    if kind == "boolValue":
        return ("b", bool(inner))
    if kind == "bytesValue":
        return ("y", base64.b64decode(inner))
    if kind == "arrayValue":
        return ("a", [norm_any(v) for v in (inner or {}).get("values", [])])
    if kind == "kvlistValue":
        return ("m", norm_attrs((inner or {}).get("values", [])))
    raise ValueError(kind)


def norm_attrs(attrs: list[dict[str, Any]] | None) -> dict[str, Any]:
    return {a["key"]: norm_any(a.get("value")) for a in attrs or []}


def norm_record(record: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, raw in record.items():
        value = raw
        if key == "attributes":
            value = norm_attrs(value)
            if not value:
                continue
        elif key == "body":
            value = norm_any(value)
        elif key in ("traceId", "spanId"):
            value = (value or "").lower()
            if not value.strip("0"):
                continue
        elif key in ("timeUnixNano", "observedTimeUnixNano"):
            value = int(value)
        if value in ("", 0, None, [], {}):
            continue
        out[key] = value
    return out


def norm_scope(scope: dict[str, Any] | None) -> dict[str, Any]:
    return norm_record(scope or {})


# -- running ---------------------------------------------------------------------------------


def prefix_paths(text: str, *, value: bool = False) -> str:
    """The statement with every unprefixed path given the ``log.`` context prefix."""
    node = parse_value(text) if value else parse_statement(text)
    inserts = []
    for path in paths_of(node):
        first = path.fields[0]
        if first.name in CONTEXT_NAMES and len(path.fields) > 1 and not first.keys:
            continue
        inserts.append(path.pos)
    for pos in sorted(inserts, reverse=True):
        text = text[:pos] + "log." + text[pos:]
    return text


def _fixture(root: Path, name: str) -> Any:
    return decode_request(Signal.LOGS, (root / name).read_bytes())


def run_case(root: Path, case: dict[str, Any], *, prefixed: bool = False) -> str | None:
    """Run one case; returns None when it passes, else what went wrong."""
    request = _fixture(root, case["fixture"])
    if case["kind"] == "value":
        text = case["expression"]
        if prefixed:
            text = prefix_paths(text, value=True)
        try:
            expression = parse_value_expression(text, "log")
            ctx = next(iter_contexts(request, "log"))
            got = expression.evaluate(ctx)
        except (OttlSyntaxError, OttlError) as exc:
            return f"error: {exc}"
        return _compare_value(got, case)
    texts = [case["statement"]] if case["kind"] == "statement" else list(case["statements"])
    if prefixed:
        texts = [prefix_paths(t) for t in texts]
    failed: Exception | None = None
    try:
        # each statement separately, so a failing one does not stop the next (as upstream)
        sequences = [parse_statements(t, "log") for t in texts]
        for seq in sequences:
            try:
                seq.execute(request)
            except OttlError as exc:
                failed = exc
    except OttlSyntaxError as exc:
        failed = exc
    if case.get("expectError"):
        if failed is None:
            return "expected an error, got none"
    elif failed is not None and case["source"] in (
        "Test_e2e_converters",
        "Test_e2e_ottl_value_expressions",
    ):
        return f"unexpected error: {failed}"
    elif isinstance(failed, OttlSyntaxError):
        return f"parse error: {failed}"
    return _compare_state(root, request, case)


def _compare_value(got: Any, case: dict[str, Any]) -> str | None:
    expected = case["expectValue"]
    if case.get("expectValueType") == "traceId":
        if bytes(got).hex() != case["expectHex"].lower():
            return f"value {got!r} != {case['expectHex']}"
        return None
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue

    from otlpy.ottl.values import set_any

    holder = AnyValue()
    set_any(holder, got)
    actual = norm_any(encode_request_to_dict(holder))
    if actual != norm_any(expected):
        return f"value {actual!r} != {norm_any(expected)!r}"
    return None


def _compare_state(root: Path, request: Any, case: dict[str, Any]) -> str | None:
    fixture = encode_request_to_dict(_fixture(root, case["fixture"]))
    result = encode_request_to_dict(request)
    resource_logs = result["resourceLogs"][0]
    scope_logs = resource_logs["scopeLogs"][0]
    record = scope_logs["logRecords"][0]
    want = norm_record(case["expect"]["logRecord"])
    got = norm_record(record)
    problems = []
    if got != want:
        problems.append(f"log record differs:\n  got  {got}\n  want {want}")
    base_resource = fixture["resourceLogs"][0].get("resource", {}).get("attributes")
    want_resource = case["expect"].get("resourceAttributes", base_resource)
    got_resource = resource_logs.get("resource", {}).get("attributes")
    if norm_attrs(got_resource) != norm_attrs(want_resource):
        problems.append(f"resource differs: {got_resource} != {want_resource}")
    want_scope = case["expect"].get(
        "scope", fixture["resourceLogs"][0]["scopeLogs"][0].get("scope")
    )
    if norm_scope(scope_logs.get("scope")) != norm_scope(want_scope):
        problems.append("scope differs")
    return "\n".join(problems) or None


def pass_rate(root: Path) -> tuple[int, int, list[tuple[str, str]]]:
    cases = load_cases(root)
    failures = []
    passed = 0
    total = 0
    for case in cases:
        for prefixed in (False, True):
            total += 1
            problem = run_case(root, case, prefixed=prefixed)
            if problem is None:
                passed += 1
            else:
                failures.append((case["id"] + (" (log.)" if prefixed else ""), problem))
    return passed, total, failures


if __name__ == "__main__":
    found = corpus_dir()
    if found is None:
        print("conformance corpus not found")
        sys.exit(2)
    ok, count, fails = pass_rate(found)
    for case_id, problem in fails:
        print(f"FAIL {case_id}: {problem}")
    print(f"{ok}/{count} passed ({100 * ok / count:.1f}%)")
