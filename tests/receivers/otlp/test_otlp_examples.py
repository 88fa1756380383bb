"""Every OTLP/JSON example published with the specification is accepted over HTTP."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from google.protobuf import json_format

from otlpy.pdata import Signal, request_type

# shared/ lies beside the repository (in a worktree, beside the main checkout).
EXAMPLES = next(
    (
        path
        for path in (
            Path(__file__).resolve().parents[4] / "shared" / "otlp-examples",
            Path("/work/shared/otlp-examples"),
        )
        if path.is_dir()
    ),
    Path("shared/otlp-examples"),
)
CASES = {
    "trace.json": Signal.TRACES,
    "metrics.json": Signal.METRICS,
    "logs.json": Signal.LOGS,
    "events.json": Signal.LOGS,
}
ID_FIELDS = ("trace_id", "span_id", "parent_span_id")
HEX_ID = re.compile(rb'"(?:traceId|spanId|parentSpanId)"\s*:\s*"([0-9A-Fa-f]*)"')

pytestmark = pytest.mark.skipif(not EXAMPLES.is_dir(), reason="no OTLP examples on this machine")


def _walk(message: Any) -> Iterator[Any]:
    yield message
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        if field.is_repeated:
            for item in value:
                yield from _walk(item)
        else:
            yield from _walk(value)


def _ids(message: Any) -> list[str]:
    """Every non-empty id, in document order, as upper-case hex."""
    found = []
    for node in _walk(message):
        for name in ID_FIELDS:
            if name in node.DESCRIPTOR.fields_by_name and getattr(node, name):
                found.append(getattr(node, name).hex().upper())
    return found


def _without_ids(message: Any) -> Any:
    copy = type(message)()
    copy.CopyFrom(message)
    for node in _walk(copy):
        for name in ID_FIELDS:
            if name in node.DESCRIPTOR.fields_by_name:
                node.ClearField(name)
    return copy


def test_every_example_is_covered() -> None:
    assert sorted(p.name for p in EXAMPLES.glob("*.json")) == sorted(CASES)


@pytest.mark.parametrize(("name", "signal"), sorted(CASES.items()))
async def test_example_is_accepted_and_decodes_as_json_format_does(
    start_receiver: Any, name: str, signal: Signal
) -> None:
    text = (EXAMPLES / name).read_bytes()
    running = await start_receiver({"http": {"endpoint": "127.0.0.1:0"}})
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{running.http_url}/v1/{signal.value}",
            data=text,
            headers={"Content-Type": "application/json"},
        ) as response,
    ):
        assert response.status == 200, await response.text()
        assert await response.read() == b"{}"
    (batch,) = running.sink.batches
    assert batch.items > 0
    received = batch.message
    # json_format reads the hex ids as base64 (other bytes); everything else must match.
    expected = json_format.Parse(text, request_type(signal)(), ignore_unknown_fields=True)
    assert _without_ids(received) == _without_ids(expected)
    assert _ids(received) == [m.group(1).decode().upper() for m in HEX_ID.finditer(text)]
