from __future__ import annotations

import pytest
from processor_kit import Harness, problems_of

from builders import kv, logs, traces
from otlpy.ottl import PMap
from otlpy.pdata import Signal
from otlpy.processors import sampling
from otlpy.processors.probabilistic_sampler import factory

# randomness 0x80000000000000: sampled at 50%, not at 49%
TRACE_ID = bytes([0xFE] * 9) + bytes([0x80, 0, 0, 0, 0, 0, 0])


def one_span(tracestate: str = "", **attributes: object) -> object:
    request = traces(1)
    span = request.resource_spans[0].scope_spans[0].spans[0]
    span.trace_id = TRACE_ID
    span.trace_state = tracestate
    for key, value in attributes.items():
        span.attributes.append(kv(key, value))
    return request


# (name, config, arriving tracestate, span attributes, expected per mode: tracestate or None)
VECTORS = [
    ("100 percent", {"sampling_percentage": 100}, "", {}, {"*": "ot=th:0"}),
    ("50 percent", {"sampling_percentage": 50}, "", {}, {"*": "ot=th:8"}),
    (
        "1 percent, rv passes through as written",
        {"sampling_percentage": 1, "sampling_precision": 14},
        "ot=rv:FD70A3D70A3D71",
        {},
        {"*": "ot=rv:FD70A3D70A3D71;th:fd70a3d70a3d71"},
    ),
    (
        "1 percent not sampled",
        {"sampling_percentage": 1, "sampling_precision": 14},
        "ot=rv:FD70A3D70A3D70",
        {},
        {},
    ),
    ("49 percent not sampled", {"sampling_percentage": 49}, "", {}, {}),
    (
        "1 percent, lower-case rv",
        {"sampling_percentage": 1, "sampling_precision": 14},
        "ot=rv:fd70B000000000",
        {},
        {"*": "ot=rv:fd70B000000000;th:fd70a3d70a3d71"},
    ),
    (
        "sampled by priority",
        {"sampling_percentage": 1},
        "",
        {"sampling.priority": 2},
        {"*": "ot=th:0"},
    ),
    ("not sampled by priority", {"sampling_percentage": 99}, "", {"sampling.priority": 0}, {}),
    (
        "incoming 50 percent",
        {"sampling_percentage": 50},
        "ot=rv:90000000000000;th:80000000000000",
        {},
        {"equalizing": "ot=rv:90000000000000;th:8"},
    ),
    (
        "incoming 50 percent, no rv",
        {"sampling_percentage": 50},
        "ot=th:8",
        {},
        {"equalizing": "ot=th:8"},
    ),
    (
        "equalizing vs proportional",
        {"sampling_percentage": 50},
        "ot=rv:c0000000000000;th:8",
        {},
        {"equalizing": "ot=rv:c0000000000000;th:8", "proportional": "ot=rv:c0000000000000;th:c"},
    ),
    (
        "inconsistent threshold arriving, failing open",
        {"sampling_percentage": 100, "fail_closed": False},
        "ot=rv:40000000000000;th:8",
        {},
        {"*": "ot=rv:40000000000000;th:0"},
    ),
    ("inconsistent, not sampled", {"sampling_percentage": 1}, "ot=rv:40000000000000;th:8", {}, {}),
    (
        "40 percent precision 3",
        {"sampling_percentage": 40, "sampling_precision": 3},
        "ot=rv:a0000000000000",
        {},
        {"*": "ot=rv:a0000000000000;th:99a"},
    ),
    (
        "60 percent, inconsistent threshold, failing open",
        {"sampling_percentage": 60, "fail_closed": False},
        "ot=rv:70000000000000;th:8",
        {},
        {"*": "ot=rv:70000000000000;th:0"},
    ),
    (
        "inconsistent threshold, failing closed",
        {"sampling_percentage": 60},
        "ot=rv:70000000000000;th:8",
        {},
        {},
    ),
    (
        "60 percent",
        {"sampling_percentage": 60},
        "ot=rv:70000000000000",
        {},
        {"*": "ot=rv:70000000000000;th:6666"},
    ),
    (
        "other vendors keep their place after ot",
        {"sampling_percentage": 50},
        "vendor=a, ot=rv:c0000000000000;x:1",
        {},
        {"*": "ot=rv:c0000000000000;th:8;x:1,vendor=a"},
    ),
]


@pytest.mark.parametrize("mode", ["equalizing", "proportional"])
@pytest.mark.parametrize(("name", "config", "state", "attributes", "expected"), VECTORS)
async def test_consistent_modes_match_the_collector(
    mode: str,
    name: str,
    config: dict[str, object],
    state: str,
    attributes: dict[str, object],
    expected: dict[str, str],
) -> None:
    h = Harness(factory, {**config, "mode": mode})
    out = await h.run(one_span(state, **attributes))
    want = expected.get(mode, expected.get("*"))
    if want is None:
        assert out is None, name
    else:
        assert out is not None, name
        assert out.resource_spans[0].scope_spans[0].spans[0].trace_state == want, name


async def test_hash_seed_mode_is_deterministic_and_records_randomness() -> None:
    h = Harness(factory, {"sampling_percentage": 25, "hash_seed": 123})
    request = traces(400)
    kept = await h.run(request)
    count = sum(len(ss.spans) for rs in kept.resource_spans for ss in rs.scope_spans)
    assert 50 < count < 150  # about a quarter
    for span in kept.resource_spans[0].scope_spans[0].spans:
        rnd = sampling.randomness_from_hash(bytes(span.trace_id), 123)
        assert span.trace_state == f"ot=rv:{sampling.rvalue(rnd)};th:c"
    again = Harness(factory, {"sampling_percentage": 25, "hash_seed": 123})
    ids = {bytes(s.trace_id) for s in kept.resource_spans[0].scope_spans[0].spans}
    fresh = traces(0)
    ss = fresh.resource_spans[0].scope_spans[0]
    for trace_id in sorted(ids):
        ss.spans.add(trace_id=trace_id)
    out = await again.run(fresh)
    assert len(out.resource_spans[0].scope_spans[0].spans) == len(ids)
    labels = {"policy": "trace_id_hash", "sampled": "true"}
    assert (
        h.metric("otelcol_processor_probabilistic_sampler_count_traces_sampled_total", labels)
        == count
    )


async def test_hash_seed_refuses_items_with_consistent_sampling_data() -> None:
    closed = Harness(factory, {"sampling_percentage": 100})
    assert await closed.run(one_span("ot=th:8")) is None
    assert await closed.run(one_span("ot=rv:80000000000000")) is None
    assert await closed.run(one_span("not a tracestate")) is None
    opened = Harness(factory, {"sampling_percentage": 100, "fail_closed": False})
    out = await opened.run(one_span("ot=th:8"))
    assert out.resource_spans[0].scope_spans[0].spans[0].trace_state == "ot=th:8"


async def test_missing_randomness_fails_closed_or_open() -> None:
    request = one_span()
    request.resource_spans[0].scope_spans[0].spans[0].trace_id = b""
    closed = Harness(factory, {"sampling_percentage": 100, "mode": "proportional"})
    assert await closed.run(request) is None
    opened = Harness(
        factory, {"sampling_percentage": 100, "mode": "proportional", "fail_closed": False}
    )
    request = one_span()
    request.resource_spans[0].scope_spans[0].spans[0].trace_id = b""
    assert await opened.run(request) is not None


async def test_zero_percent_drops_everything_but_priority() -> None:
    h = Harness(factory, {"sampling_percentage": 0})
    assert await h.run(one_span()) is None
    out = await h.run(one_span(**{"sampling.priority": "1.5"}))
    assert out is not None
    assert await h.run(one_span(**{"sampling.priority": 0.0})) is None


def log_batch(**attributes: object) -> object:
    request = logs(1)
    record = request.resource_logs[0].scope_logs[0].log_records[0]
    for key, value in attributes.items():
        record.attributes.append(kv(key, value))
    return request


async def test_logs_by_trace_id_and_attribute() -> None:
    h = Harness(factory, {"sampling_percentage": 50, "mode": "proportional"}, Signal.LOGS)
    request = log_batch()
    request.resource_logs[0].scope_logs[0].log_records[0].trace_id = TRACE_ID
    out = await h.run(request)
    record = out.resource_logs[0].scope_logs[0].log_records[0]
    assert PMap(record.attributes).get("sampling.threshold") == "8"
    by_attr = Harness(
        factory,
        {"sampling_percentage": 100, "attribute_source": "record", "from_attribute": "id"},
        Signal.LOGS,
    )
    out = await by_attr.run(log_batch(id="abc"))
    got = PMap(out.resource_logs[0].scope_logs[0].log_records[0].attributes).to_dict()
    rnd = sampling.randomness_from_hash(b"abc", 0)
    assert got["sampling.randomness"] == sampling.rvalue(rnd)
    assert got["sampling.threshold"] == "0"
    # no randomness at all: fail closed drops the record
    assert await by_attr.run(log_batch()) is None


async def test_log_priority_attribute() -> None:
    h = Harness(factory, {"sampling_percentage": 0.5, "sampling_priority": "prio"}, Signal.LOGS)
    # no randomness (fail closed), but priority decides after that, as in the Collector
    out = await h.run(log_batch(id="x", prio=100))
    assert (
        PMap(out.resource_logs[0].scope_logs[0].log_records[0].attributes).get("sampling.threshold")
        == "0"
    )
    assert await h.run(log_batch(id="x")) is None
    h2 = Harness(
        factory,
        {
            "sampling_percentage": 1,
            "sampling_priority": "prio",
            "attribute_source": "record",
            "from_attribute": "id",
        },
        Signal.LOGS,
    )
    out = await h2.run(log_batch(id="x", prio=100.0))
    got = PMap(out.resource_logs[0].scope_logs[0].log_records[0].attributes).to_dict()
    assert got["sampling.threshold"] == "0"
    assert await h2.run(log_batch(id="x", prio=0)) is None


def test_threshold_arithmetic() -> None:
    assert sampling.tvalue(sampling.probability_to_threshold(0.25, 4) or 0) == "c"
    assert sampling.probability_to_threshold(1.0, 4) == sampling.ALWAYS
    assert sampling.probability_to_threshold(0.0, 4) is None
    assert sampling.tvalue(sampling.NEVER) == ""
    assert sampling.tvalue_to_threshold("8") == 0x80000000000000
    for bad in ("", "123456789abcdef", "xyz", "+1"):
        with pytest.raises(sampling.TraceStateError):
            sampling.tvalue_to_threshold(bad)
    with pytest.raises(sampling.TraceStateError):
        sampling.rvalue_to_randomness("123")
    assert sampling.fnv32a(b"") == 0x811C9DC5
    assert sampling.fnv32a(b"a") == 0xE40C292C  # the FNV-1a test vector
    assert sampling.trace_id_randomness(TRACE_ID) == 0x80000000000000
    state = sampling.TraceState.parse("a=1,ot=th:8;rv:0123456789abcd;z:q")
    assert (state.th, state.rv, state.ot_extra, state.members) == (
        "8",
        "0123456789abcd",
        [("z", "q")],
        [("a", "1")],
    )
    assert state.update_threshold(0x40000000000000) is False  # would raise the probability
    for bad in (
        "=x",
        "a",
        "ot=th:zz",
        "ot=Bad",
        "x" * 1025,
        ",".join(f"k{i}=v" for i in range(33)),
    ):
        with pytest.raises(sampling.TraceStateError):
            sampling.TraceState.parse(bad)


def test_validation() -> None:
    problems = problems_of(
        factory,
        {
            "sampling_percentage": -1,
            "sampling_precision": 15,
            "hash_seed": -1,
            "mode": "random",
            "attribute_source": "elsewhere",
        },
    )
    assert set(problems) >= {
        "sampling_percentage",
        "sampling_precision",
        "hash_seed",
        "mode",
        "attribute_source",
    }
    assert (
        "too small" in problems_of(factory, {"sampling_percentage": 1e-20})["sampling_percentage"]
    )
    assert (
        "invalid"
        in problems_of(factory, {"sampling_percentage": float("nan")})["sampling_percentage"]
    )
    assert factory.signals == {Signal.TRACES, Signal.LOGS}
