"""The ``probabilistic_sampler`` processor: keep a fraction of spans and log records, consistently.

Decisions depend only on the item (its trace id, or for logs a chosen attribute), so every
collector configured alike keeps the same traces. Three modes, as in the Collector:

- ``hash_seed`` (the default): FNV-1a of ``hash_seed`` and the trace id (or a log attribute),
  14 bits compared with the percentage;
- ``proportional``: the trace id's 56 bits of W3C randomness (or an ``rv`` in the tracestate)
  against a threshold that multiplies any probability the item arrived with;
- ``equalizing``: the same randomness against a fixed threshold, leaving items that arrived
  sampled at a lower probability as they are.

A sampled span's ``tracestate`` gets its threshold in the ``ot`` entry (``ot=th:c`` for 25%), and
in ``hash_seed`` mode also the randomness used (``rv``); log records get the
``sampling.threshold`` (and ``sampling.randomness``) attributes. A span attribute
``sampling.priority`` of 0 drops the span and a positive one keeps it; for logs, the attribute
named by ``sampling_priority`` is a percentage replacing the configured one. Items whose
sampling data is missing or broken are dropped when ``fail_closed`` (the default) and kept
otherwise. Decisions are counted in
``otelcol_processor_probabilistic_sampler_count_{traces,logs}_sampled{policy, sampled}``.
"""

from __future__ import annotations

import math
import struct
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from otlpy.component import Factory, Kind, Settings
from otlpy.consumer import Consumer
from otlpy.errors import ConfigProblem
from otlpy.ottl.values import PMap, any_to_py, as_string, to_python
from otlpy.pdata import Batch, Signal
from otlpy.processors.helper import FunctionProcessor
from otlpy.processors.sampling import (
    ALL_PROBABILITIES,
    ALWAYS,
    MAX_ADJUSTED_COUNT,
    NEVER,
    TraceState,
    TraceStateError,
    probability_to_threshold,
    randomness_from_hash,
    rvalue,
    rvalue_to_randomness,
    threshold_probability,
    trace_id_randomness,
    tvalue,
    tvalue_to_threshold,
)

__all__ = ["ProbabilisticSamplerConfig", "factory"]

_MIN_RATIO = 1.0 / MAX_ADJUSTED_COUNT


def _f32(value: float) -> float:
    """``value`` rounded to a float32, as the Collector holds the percentage."""
    return float(struct.unpack("f", struct.pack("f", value))[0])


@dataclass(frozen=True, kw_only=True)
class ProbabilisticSamplerConfig:
    """The Collector's probabilistic sampler settings and defaults."""

    sampling_percentage: float = 0.0
    hash_seed: int = 0
    mode: Literal["hash_seed", "proportional", "equalizing", ""] = ""
    fail_closed: bool = True
    sampling_precision: int = 4
    #: logs: where randomness comes from, ``traceID`` or ``record`` (the ``from_attribute``)
    attribute_source: Literal["traceID", "record"] = "traceID"
    from_attribute: str = ""
    #: logs: an attribute holding a sampling percentage for its record
    sampling_priority: str = ""

    def validate(self) -> list[ConfigProblem]:
        problems: list[ConfigProblem] = []
        pct = self.sampling_percentage
        if math.isinf(pct) or math.isnan(pct):
            problems.append(ConfigProblem("sampling_percentage", f"invalid: {pct}"))
        elif pct < 0:
            problems.append(ConfigProblem("sampling_percentage", f"negative: {pct}%"))
        elif 0 < _f32(pct) / 100 < _MIN_RATIO:
            problems.append(ConfigProblem("sampling_percentage", f"too small: {pct}%"))
        if not 1 <= self.sampling_precision <= 14:
            problems.append(
                ConfigProblem("sampling_precision", "must be between 1 and 14 hex digits")
            )
        if not 0 <= self.hash_seed < 2**32:
            problems.append(ConfigProblem("hash_seed", "must be a 32-bit unsigned integer"))
        return problems


class _Decision:
    """What one item's sampling needs: its randomness, policy name and carrier."""

    __slots__ = ("carrier", "policy", "randomness")

    def __init__(self, randomness: int | None, policy: str, carrier: Any) -> None:
        self.randomness = randomness
        self.policy = policy
        self.carrier = carrier


class _SpanCarrier:
    """The sampling values of a span's tracestate."""

    __slots__ = ("span", "state")

    def __init__(self, span: Any, state: TraceState) -> None:
        self.span = span
        self.state = state

    def threshold(self) -> int | None:
        return self.state.threshold if self.state.th else None

    def explicit_randomness(self) -> int | None:
        return self.state.randomness if self.state.rv else None

    def set_randomness(self, randomness: int) -> None:
        self.state.set_randomness(randomness)

    def clear_threshold(self) -> None:
        self.state.clear_threshold()

    def update_threshold(self, threshold: int) -> None:
        self.state.update_threshold(threshold)

    def save(self) -> None:
        self.span.trace_state = self.state.serialize()


class _LogCarrier:
    """The ``sampling.threshold`` / ``sampling.randomness`` attributes of a log record."""

    __slots__ = ("attrs", "rv", "th")

    def __init__(self, record: Any) -> None:
        self.attrs = PMap(record.attributes)
        th = self.attrs.get("sampling.threshold")
        rv = self.attrs.get("sampling.randomness")
        self.th = tvalue_to_threshold(th) if isinstance(th, str) and th else None
        self.rv = rvalue_to_randomness(rv) if isinstance(rv, str) and rv else None

    def threshold(self) -> int | None:
        return self.th

    def explicit_randomness(self) -> int | None:
        return self.rv

    def set_randomness(self, randomness: int) -> None:
        self.attrs.put("sampling.randomness", rvalue(randomness))

    def clear_threshold(self) -> None:
        self.th = None
        self.attrs.remove("sampling.threshold")

    def update_threshold(self, threshold: int) -> None:
        if self.th is not None and threshold < self.th:
            return  # would raise the probability the record arrived with
        self.th = threshold
        self.attrs.put("sampling.threshold", tvalue(threshold))

    def save(self) -> None:
        return None


class Sampler:
    """The decision rule of one mode, shared by traces and logs."""

    def __init__(self, config: ProbabilisticSamplerConfig) -> None:
        pct = _f32(min(config.sampling_percentage, 100.0))
        mode = config.mode or "hash_seed"
        self.mode = mode
        self.seed = config.hash_seed
        self.precision = config.sampling_precision
        self.from_attribute = config.from_attribute
        self.trace_id_source = config.attribute_source == "traceID"
        self.never = pct == 0
        ratio = max(pct / 100, _MIN_RATIO)
        self.ratio = ratio
        self.fixed = ALWAYS
        if mode == "equalizing":
            self.fixed = probability_to_threshold(ratio, self.precision) or ALWAYS
        elif mode == "hash_seed":
            # float32 arithmetic and truncation, as the original hash sampler computed it
            scaled = int(_f32(pct * _f32(16384 / 100.0)))
            if scaled == 0:
                self.never = True
            self.fixed = (0x4000 - min(scaled, 0x4000)) << 42

    # -- randomness ------------------------------------------------------------------------

    def from_span(self, span: Any) -> _Decision:
        trace_id = bytes(span.trace_id)
        empty = not any(trace_id)
        try:
            carrier: _SpanCarrier | None = _SpanCarrier(span, TraceState.parse(span.trace_state))
        except TraceStateError as exc:
            if self.never:
                decision = _Decision(ALL_PROBABILITIES, "sampling_priority", None)
                raise _Broken(decision, str(exc)) from exc
            if self.mode == "hash_seed":
                rnd = None if empty else randomness_from_hash(trace_id, self.seed)
                raise _Broken(_Decision(rnd, "trace_id_hash", None), str(exc)) from exc
            raise _Broken(_Decision(None, "missing_randomness", None), str(exc)) from exc
        assert carrier is not None
        if self.never:
            return _Decision(ALL_PROBABILITIES, "sampling_priority", carrier)
        if self.mode == "hash_seed":
            decision = _Decision(
                None if empty else randomness_from_hash(trace_id, self.seed),
                "trace_id_hash" if not empty else "missing_randomness",
                carrier,
            )
            if carrier.explicit_randomness() is not None:
                decision.carrier = None
                raise _Broken(decision, "item has sampling randomness, use another mode")
            if carrier.threshold() is not None:
                decision.carrier = None
                raise _Broken(decision, "item has sampling threshold, use another mode")
            carrier.set_randomness(
                decision.randomness if decision.randomness is not None else ALL_PROBABILITIES
            )
            return decision
        explicit = carrier.explicit_randomness()
        if explicit is not None:
            return _Decision(explicit, "sampling_randomness", carrier)
        if empty:
            return _Decision(None, "missing_randomness", carrier)
        return _Decision(trace_id_randomness(trace_id), "trace_id_w3c", carrier)

    def from_log(self, record: Any) -> _Decision:
        trace_id = bytes(record.trace_id)
        has_trace_id = any(trace_id)
        try:
            carrier: _LogCarrier | None = _LogCarrier(record)
        except TraceStateError as exc:
            raise _Broken(_Decision(None, "missing_randomness", None), str(exc)) from exc
        assert carrier is not None
        if self.never:
            return _Decision(ALL_PROBABILITIES, "sampling_priority", carrier)
        if self.mode == "hash_seed":
            decision = _Decision(None, "missing_randomness", carrier)
            if self.trace_id_source and has_trace_id:
                decision.randomness = randomness_from_hash(trace_id, self.seed)
                decision.policy = "trace_id_hash"
            if decision.randomness is None and self.from_attribute:
                self._from_attribute(record, decision)
            if carrier.explicit_randomness() is not None:
                decision.carrier = None
                raise _Broken(decision, "item has sampling randomness, use another mode")
            if carrier.threshold() is not None:
                decision.carrier = None
                raise _Broken(decision, "item has sampling threshold, use another mode")
            if decision.randomness is not None:
                carrier.set_randomness(decision.randomness)
            return decision
        explicit = carrier.explicit_randomness()
        if explicit is not None:
            return _Decision(explicit, "sampling_randomness", carrier)
        if has_trace_id:
            return _Decision(trace_id_randomness(trace_id), "trace_id_w3c", carrier)
        decision = _Decision(None, "missing_randomness", carrier)
        if self.from_attribute:
            self._from_attribute(record, decision)
        return decision

    def _from_attribute(self, record: Any, decision: _Decision) -> None:
        value = PMap(record.attributes).get_any(self.from_attribute)
        if value is None:
            return
        if value.WhichOneof("value") == "bytes_value":
            data = bytes(value.bytes_value)
        else:
            data = as_string(to_python(any_to_py(value))).encode()
        decision.randomness = randomness_from_hash(data, self.seed)
        decision.policy = self.from_attribute

    # -- the decision ----------------------------------------------------------------------

    def decide(self, carrier: Any) -> int:
        if self.never:
            return NEVER
        if self.mode == "hash_seed":
            return self.fixed
        arrived: int | None = carrier.threshold() if carrier is not None else None
        if self.mode == "equalizing":
            if arrived is not None and self.fixed < arrived:
                return arrived
            return self.fixed
        incoming = threshold_probability(arrived) if arrived is not None else 1.0
        threshold = probability_to_threshold(incoming * self.ratio, self.precision)
        return NEVER if threshold is None else threshold


class _Broken(Exception):
    """Randomness was found but the sampling data is unusable (fail_closed decides)."""

    def __init__(self, decision: _Decision, message: str) -> None:
        super().__init__(message)
        self.decision = decision


def _span_priority(span: Any) -> int | None:
    """``sampling.priority``: 0 never samples, a positive value always does."""
    value = PMap(span.attributes).get_any("sampling.priority")
    if value is None:
        return None
    kind = value.WhichOneof("value")
    number: float | None = None
    if kind == "int_value":
        number = float(value.int_value)
    elif kind == "double_value":
        number = float(value.double_value)
    elif kind == "string_value":
        try:
            number = float(value.string_value)
        except ValueError:
            number = None
    if number is None:
        return None
    if number == 0:
        return NEVER
    return ALWAYS if number > 0 else None


class _Run:
    """Decides one item after another and counts the decisions by policy."""

    def __init__(self, sampler: Sampler, fail_closed: bool, priority_attr: str) -> None:
        self.sampler = sampler
        self.fail_closed = fail_closed
        self.priority_attr = priority_attr
        self.counts: Counter[tuple[str, str]] = Counter()
        self.errors = 0
        self.first_error = ""

    def _error(self, message: str) -> None:
        self.errors += 1
        if not self.first_error:
            self.first_error = message

    def keep(self, item: Any, randomness: Callable[[Any], _Decision], is_span: bool) -> bool:
        threshold: int
        try:
            decision = randomness(item)
            if decision.randomness is None:
                raise _Broken(decision, "missing randomness")
            carrier = decision.carrier
            arrived = carrier.threshold() if carrier is not None else None
            if arrived is not None and arrived > decision.randomness:
                carrier.clear_threshold()
                raise _Broken(decision, "inconsistent arriving threshold: should not be sampled")
            threshold = self.sampler.decide(carrier)
        except _Broken as broken:
            decision = broken.decision
            self._error(str(broken))
            threshold = NEVER if self.fail_closed else ALWAYS
        randomness_value = (
            decision.randomness if decision.randomness is not None else ALL_PROBABILITIES
        )
        policy = decision.policy
        if is_span:
            forced = _span_priority(item)
            if forced is not None:
                threshold = forced
                policy = "sampling_priority"
        elif self.priority_attr:
            forced = _log_priority(item, self.priority_attr, self.sampler.precision)
            if forced is not None:
                threshold = forced
                policy = "sampling_priority"
        sampled = threshold <= randomness_value and threshold < NEVER
        carrier = decision.carrier
        if sampled and carrier is not None:
            carrier.update_threshold(threshold)
            carrier.save()
        self.counts[(policy, "true" if sampled else "false")] += 1
        return sampled


def _log_priority(record: Any, name: str, precision: int) -> int | None:
    value = PMap(record.attributes).get_any(name)
    if value is None:
        return None
    kind = value.WhichOneof("value")
    if kind == "int_value":
        pct = float(value.int_value)
    elif kind == "double_value":
        pct = value.double_value
    else:
        return None
    if pct <= 0:
        return NEVER
    threshold = probability_to_threshold(min(pct, 100.0) / 100.0, precision)
    return NEVER if threshold is None else threshold


def _keep(repeated: Any, keep: Callable[[Any], bool]) -> None:
    doomed = [i for i, item in enumerate(repeated) if not keep(item)]
    for i in reversed(doomed):
        del repeated[i]


def create(settings: Settings, config: ProbabilisticSamplerConfig, next_consumer: Consumer) -> Any:
    """One sampler for the pipeline ``settings.signal`` (traces or logs)."""
    signal = settings.signal or Signal.TRACES
    sampler = Sampler(config)
    name = "traces" if signal is Signal.TRACES else "logs"
    counter = settings.telemetry.counter(
        f"processor_probabilistic_sampler_count_{name}_sampled",
        f"Count of {name} that were sampled or not",
        ("policy", "sampled"),
    )
    log = settings.logger

    async def process(batch: Batch) -> Batch | None:
        run = _Run(sampler, config.fail_closed, config.sampling_priority)
        request = batch.mutable()
        if signal is Signal.TRACES:

            def spans(scope: Any) -> bool:
                _keep(scope.spans, lambda s: run.keep(s, sampler.from_span, True))
                return len(scope.spans) > 0

            def resources(rs: Any) -> bool:
                _keep(rs.scope_spans, spans)
                return len(rs.scope_spans) > 0

            _keep(request.resource_spans, resources)
        else:

            def records(scope: Any) -> bool:
                _keep(scope.log_records, lambda r: run.keep(r, sampler.from_log, False))
                return len(scope.log_records) > 0

            def log_resources(rl: Any) -> bool:
                _keep(rl.scope_logs, records)
                return len(rl.scope_logs) > 0

            _keep(request.resource_logs, log_resources)
        for (policy, sampled), count in run.counts.items():
            counter.labels(policy, sampled).inc(count)
        if run.errors:
            log.debug("%d items had unusable sampling data; first: %s", run.errors, run.first_error)
        return batch

    return FunctionProcessor(process, next_consumer, mutates_data=True)


factory = Factory(
    type="probabilistic_sampler",
    kind=Kind.PROCESSOR,
    config=ProbabilisticSamplerConfig,
    create=create,
    signals=frozenset({Signal.TRACES, Signal.LOGS}),
    description="keeps a fraction of spans and log records, consistently",
    stability="beta",
)
