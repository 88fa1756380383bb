"""OTTL values: live views over OTLP maps and slices, ids, times, and the comparison rules.

Reading a path gives plain Python values (``str``, ``int``, ``float``, ``bool``, ``bytes``,
``None``) or, for OTLP maps and arrays, a :class:`PMap` / :class:`PSlice` that is a live view of
the protobuf message: changing the view changes the telemetry, like ``pcommon.Map`` in the
Collector. Converters that build new maps or lists return ``dict`` / ``list``; both kinds are
accepted wherever a map or list is expected. :func:`to_python` turns any value into plain Python.

Times are :class:`Timestamp` (a UTC ``datetime`` that keeps nanoseconds) and durations are
:class:`Duration` (a ``timedelta`` that keeps nanoseconds).
"""

from __future__ import annotations

import base64
import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, tzinfo
from operator import attrgetter
from typing import Any

import orjson
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValueList

from otlpy.wire._compiled import is_compiled
from otlpy.wire.protobuf_scan import scan_attributes

__all__ = [
    "Duration",
    "KeyIndex",
    "OttlError",
    "PMap",
    "PSlice",
    "ProfileID",
    "SpanID",
    "Timestamp",
    "TraceID",
    "any_to_py",
    "compare",
    "deep_equal",
    "duration_ns",
    "is_map",
    "is_slice",
    "keys_changed",
    "set_any",
    "to_python",
    "type_name",
    "unix_nano",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class OttlError(Exception):
    """An OTTL statement or condition failed while running (not while parsing)."""


class TraceID(bytes):
    """A 16-byte trace id (``pcommon.TraceID``): compares equal only to another TraceID."""

    __slots__ = ()


class SpanID(bytes):
    """An 8-byte span id (``pcommon.SpanID``)."""

    __slots__ = ()


class ProfileID(bytes):
    """A 16-byte profile id."""

    __slots__ = ()


class Timestamp(datetime):
    """A UTC point in time with nanosecond precision (``time.Time``)."""

    __slots__ = ("_sub",)
    _sub: int

    @classmethod
    def from_unix_nano(cls, ns: int, tz: tzinfo | None = None) -> Timestamp:
        """The time ``ns`` nanoseconds after the Unix epoch (shown in ``tz``, UTC by default)."""
        micros, sub = divmod(ns, 1000)
        moment = _EPOCH + timedelta(microseconds=micros)
        if tz is not None:
            moment = moment.astimezone(tz)
        t = cls(
            moment.year,
            moment.month,
            moment.day,
            moment.hour,
            moment.minute,
            moment.second,
            moment.microsecond,
            tzinfo=moment.tzinfo,
            fold=moment.fold,
        )
        t._sub = sub
        return t

    @classmethod
    def from_datetime(cls, value: datetime) -> Timestamp:
        """Keep ``value`` (naive values are taken as UTC) with nanosecond precision."""
        return cls.from_unix_nano(unix_nano(value))


class Duration(timedelta):
    """A signed span of time with nanosecond precision (``time.Duration``)."""

    __slots__ = ("_sub",)
    _sub: int

    @classmethod
    def from_ns(cls, ns: int) -> Duration:
        """A duration of ``ns`` nanoseconds (truncated toward zero below a microsecond)."""
        sign = -1 if ns < 0 else 1
        micros, sub = divmod(abs(ns), 1000)
        d = cls(microseconds=sign * micros)
        d._sub = sign * sub
        return d


def unix_nano(value: datetime) -> int:
    """Nanoseconds since the Unix epoch of ``value`` (naive datetimes are UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    delta = value - _EPOCH
    ns = (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000
    return ns + (getattr(value, "_sub", 0) if isinstance(value, Timestamp) else 0)


def duration_ns(value: timedelta) -> int:
    """Nanoseconds in ``value``."""
    ns = (value.days * 86_400 + value.seconds) * 1_000_000_000 + value.microseconds * 1000
    return ns + (getattr(value, "_sub", 0) if isinstance(value, Duration) else 0)


_KEY_OF = attrgetter("key")
_SCAN_COMPILED = is_compiled("otlpy.wire.protobuf_scan")


class KeyIndex:
    """The keys of one attribute map, in order, shared by the statements run on one item.

    Finding a key in an OTLP map means touching every ``KeyValue`` message before it; the
    index reads the keys once per item and is kept in step by the changes made through it.
    Any other change to a map's keys calls :func:`keys_changed`, which retires every index.

    ``entries[i]`` is the ``KeyValue`` message of ``keys[i]`` or, in an index read from the
    serialized item (:meth:`scanned`), an ``int`` until something asks for that entry: the
    byte length of its string value, -1 for other values. Such a number is exact, because
    every write to an entry's value goes through a message that was first put in its place
    (by :meth:`entry`, :meth:`all_entries` or the generated code doing what they do), and
    :func:`keys_changed` retires the index on any other change: ``truncate_all`` reads only
    the entries whose number says the text may be too long.
    """

    __slots__ = ("entries", "epoch", "keys", "kvs")

    #: bumped by :func:`keys_changed`
    current = 0

    #: read the keys of span and log attribute maps from the serialized item (set when the
    #: compiled scanner is installed: the pure-Python scan costs more than it saves)
    from_bytes = _SCAN_COMPILED
    #: maps with fewer entries are read from their messages (serializing costs more)
    scan_min = 4

    def __init__(self, kvs: Any) -> None:
        self.kvs = kvs
        # holding the KeyValue wrappers keeps upb from building them again on the next pass,
        # which costs several times more than the first
        self.entries: list[Any] = list(kvs)
        self.keys: list[str] = list(map(_KEY_OF, self.entries))
        self.epoch = KeyIndex.current

    @classmethod
    def scanned(cls, kvs: Any, owner: Any, number: int) -> KeyIndex:
        """The index of ``kvs``, the ``KeyValue`` list at field ``number`` of the message
        ``owner``, read from ``owner``'s serialized bytes when that is cheaper."""
        if not cls.from_bytes or len(kvs) < cls.scan_min:
            return cls(kvs)
        try:
            keys, sizes = scan_attributes(owner.SerializeToString(), number)
        except ValueError:  # not expected from protobuf's own bytes: read the messages
            return cls(kvs)
        if len(keys) != len(kvs):  # ``owner`` does not hold ``kvs`` at ``number``
            return cls(kvs)
        index: KeyIndex = object.__new__(cls)
        index.kvs = kvs
        index.keys = keys
        index.entries = sizes
        index.epoch = KeyIndex.current
        return index

    def entry(self, i: int) -> Any:
        """The ``KeyValue`` message at position ``i``."""
        kv = self.entries[i]
        if kv.__class__ is int:
            kv = self.entries[i] = self.kvs[i]
        return kv

    def all_entries(self) -> list[Any]:
        """Every ``KeyValue`` message, in order (the list the index keeps, filled in)."""
        entries = self.entries
        for i, kv in enumerate(entries):
            if kv.__class__ is int:
                entries[i] = self.kvs[i]
        return entries

    def add(self, key: str) -> Any:
        """Append ``key`` (known to be absent) and return its ``AnyValue``."""
        kv = self.kvs.add(key=key)
        self.entries.append(kv)
        self.keys.append(key)
        return kv.value

    def delete(self, i: int) -> None:
        del self.kvs[i]
        del self.entries[i]
        del self.keys[i]

    def valid(self) -> bool:
        return self.epoch == KeyIndex.current and len(self.keys) == len(self.kvs)


def keys_changed() -> None:
    """Retire every :class:`KeyIndex` (a map's keys changed behind their back)."""
    KeyIndex.current += 1


class PMap:
    """A live view of an OTLP key/value list (attributes, a kvlist value, the cache).

    Keys are unique as in ``pcommon.Map``; :meth:`put` replaces an existing key in place.
    A view made with a :class:`KeyIndex` finds keys through it and keeps it up to date.
    """

    __slots__ = ("index", "kvs")

    def __init__(self, kvs: Any, index: KeyIndex | None = None) -> None:
        self.kvs = kvs
        self.index = index

    @classmethod
    def new(cls) -> PMap:
        """A new, empty map not attached to any telemetry."""
        return cls(KeyValueList().values)

    def _index(self) -> KeyIndex | None:
        index = self.index
        if (
            index is not None
            and index.epoch == KeyIndex.current
            and len(index.keys) == len(self.kvs)
        ):
            return index
        return None

    def _keys(self) -> list[str] | None:
        index = self._index()
        return None if index is None else index.keys

    def entries(self) -> Any:
        """The ``KeyValue`` messages, from the index when there is one."""
        index = self._index()
        return self.kvs if index is None else index.all_entries()

    def get(self, key: str) -> Any:
        index = self._index()
        if index is not None:
            keys = index.keys
            return any_to_py(index.entry(keys.index(key)).value) if key in keys else None
        for kv in self.kvs:
            if kv.key == key:
                return any_to_py(kv.value)
        return None

    def get_any(self, key: str) -> Any:
        """The ``AnyValue`` message under ``key``, or None."""
        index = self._index()
        if index is not None:
            keys = index.keys
            return index.entry(keys.index(key)).value if key in keys else None
        for kv in self.kvs:
            if kv.key == key:
                if self.index is not None:
                    # the caller may write the value behind the back of a newer index
                    keys_changed()
                return kv.value
        return None

    def __contains__(self, key: object) -> bool:
        keys = self._keys()
        if keys is not None:
            return key in keys
        return any(kv.key == key for kv in self.kvs)

    def put(self, key: str, value: Any) -> None:
        index = self._index()
        if index is not None:
            keys = index.keys
            if key in keys:
                set_any(index.entry(keys.index(key)).value, value)
            else:
                set_any(index.add(key), value)
            return
        for kv in self.kvs:
            if kv.key == key:
                set_any(kv.value, value)
                # a value changed without an index: the lengths a newer index holds are stale
                keys_changed()
                return
        set_any(self.kvs.add(key=key).value, value)
        keys_changed()

    def put_empty(self, key: str) -> Any:
        """Make ``key`` hold an empty value and return its ``AnyValue``."""
        for kv in self.entries():
            if kv.key == key:
                kv.value.Clear()
                if self._index() is None:
                    keys_changed()
                return kv.value
        keys_changed()
        return self.kvs.add(key=key).value

    def remove(self, key: str) -> bool:
        kvs = self.kvs
        index = self._index()
        if index is not None:
            if key not in index.keys:
                return False
            index.delete(index.keys.index(key))
            return True
        for i, kv in enumerate(kvs):
            if kv.key == key:
                del kvs[i]
                keys_changed()
                return True
        return False

    def remove_if(self, predicate: Any) -> None:
        """Remove every entry for which ``predicate(key, any_value)`` is true."""
        kvs = self.kvs
        keep = [kv for kv in kvs if not predicate(kv.key, kv.value)]
        if len(keep) != len(kvs):
            copies = [(kv.key, _copy_any(kv.value)) for kv in keep]
            del kvs[:]
            for key, value in copies:
                kvs.add(key=key).value.CopyFrom(value)
            keys_changed()

    def clear(self) -> None:
        del self.kvs[:]
        keys_changed()

    def keys(self) -> list[str]:
        keys = self._keys()
        return list(keys) if keys is not None else [kv.key for kv in self.kvs]

    def items(self) -> Iterator[tuple[str, Any]]:
        for kv in self.entries():
            yield kv.key, any_to_py(kv.value)

    def raw_items(self) -> Iterator[tuple[str, Any]]:
        """(key, AnyValue message) pairs."""
        for kv in self.entries():
            yield kv.key, kv.value

    def __len__(self) -> int:
        return len(self.kvs)

    def to_dict(self) -> dict[str, Any]:
        return {kv.key: to_python(any_to_py(kv.value)) for kv in self.entries()}

    def replace(self, value: Any) -> None:
        """Make this map hold exactly the entries of ``value`` (a dict or PMap)."""
        source = to_python(value)
        del self.kvs[:]
        for key, item in source.items():
            set_any(self.kvs.add(key=key).value, item)
        keys_changed()

    def __repr__(self) -> str:
        return f"PMap({self.to_dict()!r})"

    def __eq__(self, other: object) -> bool:
        return deep_equal(self, other)

    __hash__ = None  # type: ignore[assignment]


class PSlice:
    """A live view of an OTLP array value."""

    __slots__ = ("values",)

    def __init__(self, values: Any) -> None:
        self.values = values

    def __len__(self) -> int:
        return len(self.values)

    def __getitem__(self, index: int) -> Any:
        return any_to_py(self.values[index])

    def get_any(self, index: int) -> Any:
        return self.values[index]

    def __iter__(self) -> Iterator[Any]:
        for v in self.values:
            yield any_to_py(v)

    def append(self, value: Any) -> None:
        set_any(self.values.add(), value)

    def to_list(self) -> list[Any]:
        return [to_python(any_to_py(v)) for v in self.values]

    def __repr__(self) -> str:
        return f"PSlice({self.to_list()!r})"

    def __eq__(self, other: object) -> bool:
        return deep_equal(self, other)

    __hash__ = None  # type: ignore[assignment]


def _copy_any(value: Any) -> Any:
    copy = AnyValue()
    copy.CopyFrom(value)
    return copy


_READERS: dict[str | None, Any] = {
    "string_value": lambda v: v.string_value,
    "int_value": lambda v: v.int_value,
    "double_value": lambda v: v.double_value,
    "bool_value": lambda v: v.bool_value,
    "bytes_value": lambda v: v.bytes_value,
    "kvlist_value": lambda v: PMap(v.kvlist_value.values),
    "array_value": lambda v: PSlice(v.array_value.values),
    None: lambda v: None,
}


def any_to_py(value: Any) -> Any:
    """The value held by an ``AnyValue`` message (maps and arrays as live views)."""
    return _READERS[value.WhichOneof("value")](value)


def set_any(target: Any, value: Any) -> None:
    """Store a Python/OTTL value into an ``AnyValue`` message (like ``pcommon.Value`` setters).

    Values of types OTLP cannot hold (times, durations, None) leave an empty value.
    """
    kind = type(value)
    if kind is str:
        target.string_value = value
    elif kind is bool:
        target.bool_value = value
    elif kind is int:
        target.int_value = value
    elif kind is float:
        target.double_value = value
    elif isinstance(value, bytes):
        target.bytes_value = bytes(value)
    elif isinstance(value, PMap | dict):
        items = to_python(value)
        target.Clear()
        kvs = target.kvlist_value.values
        target.kvlist_value.SetInParent()
        for key, item in items.items():
            set_any(kvs.add(key=key).value, item)
    elif isinstance(value, PSlice | list | tuple):
        items = to_python(value)
        target.Clear()
        target.array_value.SetInParent()
        values = target.array_value.values
        for item in items:
            set_any(values.add(), item)
    elif isinstance(value, bool | int):
        target.int_value = int(value)
    elif isinstance(value, float):
        target.double_value = float(value)
    elif isinstance(value, str):
        target.string_value = str(value)
    else:
        target.Clear()


def to_python(value: Any) -> Any:
    """A plain Python copy of ``value``: live views become ``dict`` / ``list``."""
    if isinstance(value, PMap):
        return value.to_dict()
    if isinstance(value, PSlice):
        return value.to_list()
    if type(value) is dict:
        return {k: to_python(v) for k, v in value.items()}
    if type(value) is list or type(value) is tuple:
        return [to_python(v) for v in value]
    return value


def is_map(value: Any) -> bool:
    return isinstance(value, PMap | dict)


def is_slice(value: Any) -> bool:
    return isinstance(value, PSlice | list)


def type_name(value: Any) -> str:
    """The Go-like name of ``value``'s type, for error messages."""
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int64"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, TraceID):
        return "pcommon.TraceID"
    if isinstance(value, SpanID):
        return "pcommon.SpanID"
    if isinstance(value, bytes):
        return "[]uint8"
    if isinstance(value, PMap):
        return "pcommon.Map"
    if isinstance(value, PSlice):
        return "pcommon.Slice"
    if isinstance(value, dict):
        return "map[string]interface {}"
    if isinstance(value, list):
        return "[]interface {}"
    if isinstance(value, datetime):
        return "time.Time"
    if isinstance(value, timedelta):
        return "time.Duration"
    return type(value).__name__


# -- comparison ------------------------------------------------------------------------------

_ORDERED = {"<", "<=", ">", ">="}


def _kind(value: Any) -> str:
    if value is None:
        return "nil"
    t = type(value)
    if t is bool:
        return "bool"
    if t is int or t is float:
        return "num"
    if t is str:
        return "str"
    if t is bytes:
        return "bytes"
    if isinstance(value, TraceID | SpanID | ProfileID):
        return t.__name__
    if isinstance(value, bytes):
        return "bytes"
    if isinstance(value, datetime):
        return "time"
    if isinstance(value, timedelta):
        return "duration"
    if isinstance(value, PMap | dict):
        return "map"
    if isinstance(value, PSlice | list):
        return "slice"
    return "other"


def _ordered(a: Any, b: Any, op: str) -> bool:
    if op == "==":
        return bool(a == b)
    if op == "!=":
        return bool(a != b)
    if op == "<":
        return bool(a < b)
    if op == "<=":
        return bool(a <= b)
    if op == ">":
        return bool(a > b)
    return bool(a >= b)


def compare(a: Any, b: Any, op: str) -> bool:
    """Apply a comparison operator with the Collector's rules (LANGUAGE.md, Comparison Rules).

    Values of different kinds are "not equal": ``!=`` is true and every other operator false.
    """
    ta = type(a)
    if ta is type(b) and (ta is str or ta is int or ta is float):
        return _ordered(a, b, op)
    ka = _kind(a)
    kb = _kind(b)
    if ka != kb:
        return op == "!="
    if ka == "nil":
        return op == "=="
    if ka in ("num", "str", "bool", "bytes"):
        return _ordered(a, b, op)
    if ka == "time":
        return _ordered(unix_nano(a), unix_nano(b), op)
    if ka == "duration":
        return _ordered(duration_ns(a), duration_ns(b), op)
    if op in _ORDERED:
        return False
    equal = deep_equal(a, b)
    return equal if op == "==" else not equal


def deep_equal(a: Any, b: Any) -> bool:
    """Structural equality that, like Go's ``reflect.DeepEqual``, tells 1 from 1.0 and True."""
    a = to_python(a)
    b = to_python(b)
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(deep_equal(v, b[k]) for k, v in a.items())
    if isinstance(a, list):
        return len(a) == len(b) and all(deep_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and math.isnan(a) and math.isnan(b):
        return False
    return bool(a == b)


# -- string forms ----------------------------------------------------------------------------


def format_float(value: float) -> str:
    """``strconv.FormatFloat(f, 'f', -1, 64)``: the shortest decimal, never an exponent."""
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    text = repr(value)
    if "e" in text or "E" in text:
        text = _expand_exponent(value)
    if text.endswith(".0"):
        text = text[:-2]
    return text


def _expand_exponent(value: float) -> str:
    from decimal import Decimal

    return format(Decimal(repr(value)), "f")


def json_text(value: Any) -> str:
    """Compact JSON of a map or slice value, keys in map order (pcommon's AsString)."""
    return orjson.dumps(_jsonable(to_python(value))).decode()


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def as_string(value: Any) -> str:
    """The canonical string of a value (``pcommon.Value.AsString``)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format_float(value)
    if isinstance(value, TraceID | SpanID | ProfileID):
        return bytes(value).hex()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, PMap | PSlice | dict | list):
        return json_text(value)
    return str(value)
