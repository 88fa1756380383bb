"""The ``redaction`` processor: remove attributes not allowed and mask sensitive values.

On every attribute map (resources, spans, span events, log records, data points), as the
Collector's redaction processor does:

1. keys in ``ignored_keys`` are left alone;
2. keys not in ``allowed_keys`` are removed, unless ``allow_all_keys`` is true;
3. string values matching one of ``allowed_values`` are left alone;
4. values of keys matching ``blocked_key_patterns`` are masked whole;
5. parts of string values matching ``blocked_values`` are masked.

Masking writes ``****``, or the hex digest of the masked text when ``hash_function`` is
``md5``, ``sha1``, ``sha3`` (SHA3-256). String log bodies and the values inside map or list
bodies are treated like attribute values. ``summary`` adds ``redaction.*`` attributes saying what
was done: ``debug`` lists the keys and counts them, ``info`` only counts, ``silent`` adds nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from otlpy.component import Factory, Kind, Settings
from otlpy.consumer import Consumer
from otlpy.errors import ConfigProblem
from otlpy.ottl.values import PMap, any_to_py, as_string, to_python
from otlpy.pdata import Batch, Signal
from otlpy.processors.helper import FunctionProcessor
from otlpy.processors.matching import compile_regex

__all__ = ["RedactionConfig", "factory"]

_SEPARATOR = ","
_REDACTED_KEYS = "redaction.redacted.keys"
_REDACTED_COUNT = "redaction.redacted.count"
_MASKED_KEYS = "redaction.masked.keys"
_MASKED_COUNT = "redaction.masked.count"
_ALLOWED_KEYS = "redaction.allowed.keys"
_ALLOWED_COUNT = "redaction.allowed.count"
_IGNORED_COUNT = "redaction.ignored.count"
_BODY = "redaction.body."
# the processor's own summary attributes survive an allow list
_OWN_KEYS = (_REDACTED_KEYS, _REDACTED_COUNT, _MASKED_KEYS, _MASKED_COUNT, _IGNORED_COUNT)


@dataclass(frozen=True, kw_only=True)
class RedactionConfig:
    """The Collector's redaction processor settings."""

    allow_all_keys: bool = False
    allowed_keys: list[str] = field(default_factory=list)
    ignored_keys: list[str] = field(default_factory=list)
    blocked_values: list[str] = field(default_factory=list)
    blocked_key_patterns: list[str] = field(default_factory=list)
    allowed_values: list[str] = field(default_factory=list)
    hash_function: Literal["none", "md5", "sha1", "sha3", ""] = ""
    summary: Literal["debug", "info", "silent", ""] = "silent"

    def validate(self) -> list[ConfigProblem]:
        problems: list[ConfigProblem] = []
        for name in ("blocked_values", "blocked_key_patterns", "allowed_values"):
            for i, pattern in enumerate(getattr(self, name)):
                try:
                    compile_regex(pattern)
                except ValueError as exc:
                    problems.append(ConfigProblem(f"{name}[{i}]", str(exc)))
        return problems


def _masker(hash_function: str) -> Callable[[str], str]:
    if hash_function in ("md5", "sha1", "sha3"):
        algorithm = "sha3_256" if hash_function == "sha3" else hash_function
        return lambda text: hashlib.new(algorithm, text.encode()).hexdigest()
    return lambda text: "****"


class Redactor:
    """Compiled redaction rules, applied to attribute maps and log bodies in place."""

    def __init__(self, config: RedactionConfig) -> None:
        self.allow_all = config.allow_all_keys
        self.allowed = frozenset(config.allowed_keys) | frozenset(_OWN_KEYS)
        self.ignored = frozenset(config.ignored_keys)
        self.blocked = [compile_regex(p) for p in config.blocked_values]
        self.blocked_keys = [compile_regex(p) for p in config.blocked_key_patterns]
        self.allowed_values = [compile_regex(p) for p in config.allowed_values]
        self.mask = _masker(config.hash_function)
        self.summary = config.summary or "silent"

    def _allowed_value(self, text: str) -> bool:
        return any(p.search(text) for p in self.allowed_values)

    def _masked_key(self, key: str) -> bool:
        return any(p.search(key) for p in self.blocked_keys)

    def _process_string(self, text: str) -> str:
        for pattern in self.blocked:
            if pattern.search(text):
                text = pattern.sub(lambda m: self.mask(m.group()), text)
        return text

    def attributes(self, kvs: Any) -> None:
        """Redact one attribute map and add the summary attributes."""
        redacted: list[str] = []
        masked: list[str] = []
        allowed: list[str] = []
        ignored: list[str] = []
        for kv in kvs:
            key = kv.key
            if key in self.ignored:
                ignored.append(key)
                continue
            if not self.allow_all and key not in self.allowed:
                redacted.append(key)
                continue
            value = kv.value
            # like pcommon's Str(): only string values are inspected
            text = value.string_value if value.WhichOneof("value") == "string_value" else ""
            if self.allowed_values and self._allowed_value(text):
                allowed.append(key)
                continue
            if self.blocked_keys and self._masked_key(key):
                masked.append(key)
                value.string_value = self.mask(text)
                continue
            if self.blocked:
                processed = self._process_string(text)
                if processed != text:
                    masked.append(key)
                    value.string_value = processed
        attrs = PMap(kvs)
        if redacted:
            gone = set(redacted)
            attrs.remove_if(lambda key, _value: key in gone)
        self._summarise(attrs, redacted, _REDACTED_KEYS, _REDACTED_COUNT)
        self._summarise(attrs, masked, _MASKED_KEYS, _MASKED_COUNT)
        self._summarise(attrs, allowed, _ALLOWED_KEYS, _ALLOWED_COUNT)
        self._summarise(attrs, ignored, "", _IGNORED_COUNT)

    def log_body(self, record: Any) -> None:
        """Redact a log record's body; the summary goes to the record's attributes."""
        redacted: list[str] = []
        masked: list[str] = []
        allowed: list[str] = []
        ignored: list[str] = []
        body = record.body
        kind = body.WhichOneof("value")
        if kind == "kvlist_value":
            self._body_map(body.kvlist_value.values, "", redacted, masked, allowed, ignored)
        elif kind == "array_value":
            for i, item in enumerate(body.array_value.values):
                self._body_value(f"[{i}]", item, redacted, masked, allowed, ignored)
        elif kind is not None:
            text = as_string(to_python(any_to_py(body)))
            if self.allowed_values and self._allowed_value(text):
                allowed.append("body")
            else:
                processed = self._process_string(text)
                if processed != text:
                    masked.append("body")
                    body.string_value = processed
        attrs = PMap(record.attributes)
        self._summarise(attrs, redacted, _BODY + "redacted.keys", _BODY + "redacted.count")
        self._summarise(attrs, masked, _BODY + "masked.keys", _BODY + "masked.count")
        self._summarise(attrs, allowed, _BODY + "allowed.keys", _BODY + "allowed.count")
        self._summarise(attrs, ignored, "", _BODY + "ignored.count")

    def _body_map(
        self,
        kvs: Any,
        prefix: str,
        redacted: list[str],
        masked: list[str],
        allowed: list[str],
        ignored: list[str],
    ) -> None:
        gone: list[str] = []
        for kv in kvs:
            key = kv.key
            path = f"{prefix}.{key}" if prefix else key
            if key in self.ignored:
                ignored.append(path)
            elif not self.allow_all and key not in self.allowed:
                gone.append(key)
                redacted.append(path)
            elif self.blocked_keys and self._masked_key(key):
                masked.append(path)
                value = kv.value
                text = value.string_value if value.WhichOneof("value") == "string_value" else ""
                value.string_value = self.mask(text)
            else:
                self._body_value(path, kv.value, redacted, masked, allowed, ignored)
        if gone:
            doomed = set(gone)
            PMap(kvs).remove_if(lambda key, _value: key in doomed)

    def _body_value(
        self,
        path: str,
        value: Any,
        redacted: list[str],
        masked: list[str],
        allowed: list[str],
        ignored: list[str],
    ) -> None:
        kind = value.WhichOneof("value")
        if kind == "kvlist_value":
            self._body_map(value.kvlist_value.values, path, redacted, masked, allowed, ignored)
            return
        if kind == "array_value":
            for i, item in enumerate(value.array_value.values):
                self._body_value(f"{path}.[{i}]", item, redacted, masked, allowed, ignored)
            return
        text = as_string(to_python(any_to_py(value)))
        if self.allowed_values and self._allowed_value(text):
            allowed.append(path)
            return
        processed = self._process_string(text)
        if processed != text:
            masked.append(path)
            value.string_value = processed

    def _summarise(self, attrs: PMap, keys: list[str], keys_attr: str, count_attr: str) -> None:
        if not keys or self.summary == "silent":
            return
        if self.summary == "debug" and keys_attr:
            existing = attrs.get(keys_attr)
            listed = list(keys)
            if isinstance(existing, str) and existing:
                listed.extend(existing.split(_SEPARATOR))
            attrs.put(keys_attr, _SEPARATOR.join(sorted(listed)))
        count = len(keys)
        existing_count = attrs.get(count_attr)
        if type(existing_count) is int:
            count += existing_count
        attrs.put(count_attr, count)


def _walk(signal: Signal, request: Any, redactor: Redactor) -> None:
    attributes = redactor.attributes
    if signal is Signal.TRACES:
        for rs in request.resource_spans:
            attributes(rs.resource.attributes)
            for ss in rs.scope_spans:
                for span in ss.spans:
                    attributes(span.attributes)
                    for event in span.events:
                        attributes(event.attributes)
    elif signal is Signal.LOGS:
        for rl in request.resource_logs:
            attributes(rl.resource.attributes)
            for sl in rl.scope_logs:
                for record in sl.log_records:
                    attributes(record.attributes)
                    redactor.log_body(record)
    else:
        for rm in request.resource_metrics:
            attributes(rm.resource.attributes)
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    kind = metric.WhichOneof("data")
                    if kind is None:
                        continue
                    for point in getattr(metric, kind).data_points:
                        attributes(point.attributes)


def create(settings: Settings, config: RedactionConfig, next_consumer: Consumer) -> Any:
    """One redaction processor for the pipeline ``settings.signal``."""
    signal = settings.signal or Signal.TRACES
    redactor = Redactor(config)

    async def process(batch: Batch) -> Batch | None:
        _walk(signal, batch.mutable(), redactor)
        return batch

    return FunctionProcessor(process, next_consumer, mutates_data=True)


factory = Factory(
    type="redaction",
    kind=Kind.PROCESSOR,
    config=RedactionConfig,
    create=create,
    description="removes attributes not allowed and masks sensitive values",
    stability="beta",
)
