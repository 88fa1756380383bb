"""Building blocks shared by the contexts: the transform context, keyed map access, fields.

A context turns a path (its fields after any context prefix) into a :class:`GetSetter` of two
closures over a :class:`TransformContext`. The transform context is one mutable object per run
whose slots the sequence points at the current resource, scope and item, so nothing is
allocated per item except, when a statement uses it, the cache.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from operator import attrgetter
from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import KeyValueList

from otlpy.ottl.fusion import Source, indent, render, with_source
from otlpy.ottl.grammar import Field
from otlpy.ottl.values import (
    KeyIndex,
    OttlError,
    PMap,
    PSlice,
    Timestamp,
    TraceID,
    any_to_py,
    keys_changed,
    set_any,
    to_python,
    type_name,
    unix_nano,
)

__all__ = [
    "ContextSpec",
    "GetSetter",
    "Getter",
    "Key",
    "MapOp",
    "PathProblem",
    "PathResolver",
    "Setter",
    "TransformContext",
    "as_map_statement",
    "map_op_of",
]

Getter = Callable[["TransformContext"], Any]
Setter = Callable[["TransformContext", Any], None]
# A compiled index: (True, constant) or (False, getter).
Key = tuple[bool, Any]


class TransformContext:
    """What a statement sees: the current item and the resource and scope that hold it."""

    __slots__ = (
        "_cache",
        "_index",
        "datapoint",
        "event",
        "event_index",
        "log",
        "metric",
        "resource",
        "resource_container",
        "scope",
        "scope_container",
        "span",
    )

    def __init__(self) -> None:
        self._cache: Any = None
        # key indexes of the attribute maps touched on the current item, by id of the map
        self._index: dict[int, KeyIndex] | None = None
        self.resource: Any = None
        self.resource_container: Any = None
        self.scope: Any = None
        self.scope_container: Any = None
        self.span: Any = None
        self.event: Any = None
        self.event_index: int = 0
        self.log: Any = None
        self.metric: Any = None
        self.datapoint: Any = None

    @property
    def cache(self) -> PMap:
        """The per-item scratch map (``cache``), created on first use."""
        if self._cache is None:
            self._cache = KeyValueList().values
        return PMap(self._cache)

    def reset_cache(self) -> None:
        self._cache = None
        self._index = None


def key_index(ctx: TransformContext, kvs: Any) -> KeyIndex:
    """The key index of the attribute map ``kvs`` for the current item."""
    table = ctx._index
    if table is None:
        table = ctx._index = {}
    else:
        # the table holds the maps it indexes, so an id found there is still the same map
        index = table.get(id(kvs))
        if index is not None and index.epoch == KeyIndex.current and len(index.keys) == len(kvs):
            return index
    index = table[id(kvs)] = KeyIndex(kvs)
    return index


@dataclass(slots=True)
class GetSetter:
    """The compiled form of a path: how to read it and how to write it."""

    get: Getter
    set: Setter
    # for a single attribute: the AnyValue message holding it (None when absent), so an
    # editor can read and write it with one lookup
    ref: Getter | None = None
    # for a whole attribute map: its KeyIndex for the current item
    index: Callable[[TransformContext], KeyIndex] | None = None
    # for a single attribute: builds a statement storing one literal (``set`` with a constant)
    literal: Callable[[Any], Callable[[TransformContext], None] | None] | None = None
    # for an attribute map or one of its keys: which map (``span.attributes``), so the
    # statements of one item working on it can share its index (see ``MapOp``)
    map_id: str | None = None
    # for a single attribute: its key, and the index of the map holding it
    key: str | None = None
    owner_index: Callable[[TransformContext], KeyIndex] | None = None
    # for an int protobuf field: its attribute path from the context (``span.kind``)
    int_field: str | None = None


# One statement's work on an attribute map, given the map's index for the current item: the
# sequence runs consecutive statements on the same map with one index lookup per item.
MapOp = Callable[[TransformContext, KeyIndex], None]


def as_map_statement(
    run: Callable[[TransformContext], None],
    map_id: str,
    index_of: Callable[[TransformContext], KeyIndex],
    op: MapOp,
) -> Callable[[TransformContext], None]:
    """Mark the statement ``run`` as doing ``op`` on the map ``map_id`` (found by
    ``index_of``); ``run(ctx)`` must equal ``op(ctx, index_of(ctx))``."""
    run.ottl_map_op = (map_id, index_of, op)  # type: ignore[attr-defined]
    return run


def map_op_of(
    run: Callable[[TransformContext], None],
) -> tuple[str, Callable[[TransformContext], KeyIndex], MapOp] | None:
    """What :func:`as_map_statement` recorded for ``run``, or None."""
    found: tuple[str, Callable[[TransformContext], KeyIndex], MapOp] | None = getattr(
        run, "ottl_map_op", None
    )
    return found


# compiles one index expression of a path
KeyCompiler = Callable[[Any], Key]


class PathResolver:
    """Resolves a context's paths (the fields after the optional context name)."""

    def resolve(
        self, obj: str, fields: Sequence[Field], compile_key: KeyCompiler, path_text: str
    ) -> GetSetter:
        raise NotImplementedError


@dataclass(slots=True)
class ContextSpec:
    """A context: its name, the higher contexts it reaches, and its enums."""

    name: str
    obj: str
    resolver: PathResolver
    parents: dict[str, tuple[str, PathResolver]]
    enums: dict[str, int]


class PathProblem(Exception):
    """A path a context cannot resolve; ``pos`` is the offset in the statement."""

    def __init__(self, message: str, pos: int) -> None:
        super().__init__(message)
        self.message = message
        self.pos = pos


def path_error(text: str, field: Field, context: str) -> PathProblem:
    """The error for a path segment a context does not know."""
    return PathProblem(
        f'segment "{field.name}" from path "{text}" is not a valid path nor a valid OTTL '
        f"keyword for the {context.capitalize()} context",
        field.pos,
    )


def no_keys(field: Field, text: str) -> None:
    """Refuse ``[...]`` on a path segment that cannot be indexed."""
    if field.keys:
        raise PathProblem(f'cannot index "{field.name}" in path "{text}"', field.keys[0].pos)


def no_more(fields: Sequence[Field], index: int, text: str, context: str) -> None:
    if len(fields) > index:
        raise path_error(text, fields[index], context)


# -- runtime indexing ------------------------------------------------------------------------


def key_value(ctx: TransformContext, key: Key) -> Any:
    value = key[1] if key[0] else key[1](ctx)
    if type(value) is str or type(value) is int:
        return value
    raise OttlError(f"unable to resolve an index: invalid key type {type_name(value)}")


def index_into(ctx: TransformContext, current: Any, keys: Sequence[Key]) -> Any:
    """``current[k1][k2]...``: None when a key is missing, an error when a type cannot be
    indexed that way."""
    for key in keys:
        k = key_value(ctx, key)
        if isinstance(current, PMap | dict):
            if type(k) is not str:
                raise OttlError("unable to resolve a string index in map: invalid key type")
            current = current.get(k)
            if current is None:
                return None
        elif isinstance(current, PSlice | list):
            if type(k) is not int:
                raise OttlError("unable to resolve an integer index in slice: invalid key type")
            if k < 0 or k >= len(current):
                raise OttlError(f"index {k} out of bounds")
            current = current[k]
        elif current is None:
            return None
        else:
            what = "string" if type(k) is str else "int"
            raise OttlError(f"type {type_name(current)} does not support {what} indexing")
    return current


def set_in_any(ctx: TransformContext, target: Any, keys: Sequence[Key], value: Any) -> None:
    """Write ``value`` at ``target[k1][k2]...`` where ``target`` is an ``AnyValue`` message,
    creating maps for missing string keys like ``pcommon`` does."""
    if keys:
        # read the value first: it may be a view of what is about to change
        value = to_python(value)
    for key in keys:
        k = key_value(ctx, key)
        kind = target.WhichOneof("value")
        if type(k) is str:
            if kind == "kvlist_value":
                target = (
                    PMap(target.kvlist_value.values).get_any(k)
                    or target.kvlist_value.values.add(key=k).value
                )
            elif kind is None:
                target.kvlist_value.SetInParent()
                target = target.kvlist_value.values.add(key=k).value
            else:
                raise OttlError(f"type {_any_type(kind)} does not support string indexing")
        else:
            if kind != "array_value":
                raise OttlError(f"type {_any_type(kind)} does not support int indexing")
            values = target.array_value.values
            if k < 0 or k >= len(values):
                raise OttlError(f"index {k} out of bounds")
            target = values[k]
    set_any(target, value)


def _any_type(kind: str | None) -> str:
    return {
        "string_value": "Str",
        "int_value": "Int",
        "double_value": "Double",
        "bool_value": "Bool",
        "bytes_value": "Bytes",
        "array_value": "Slice",
        "kvlist_value": "Map",
        None: "Empty",
    }[kind]


def set_map(kvs: Any, value: Any) -> None:
    """Replace a whole map (``set(attributes, {...})``); other value types are ignored."""
    if isinstance(value, PMap | dict):
        PMap(kvs).replace(value)


# -- path builders ---------------------------------------------------------------------------


# the AnyValue field holding a literal of each scalar type, as ``set_any`` stores it
_LITERAL_FIELDS: dict[type, str] = {
    str: "string_value",
    bool: "bool_value",
    int: "int_value",
    float: "double_value",
}


def field_map_path(
    obj: str, field_name: str, head: Field, compile_key: KeyCompiler, number: int | None = None
) -> GetSetter:
    """The map field ``field_name`` (``attributes``, ``metadata``) of the item held in ``obj``,
    read whole or by the keys written after it; ``number`` is the field's protobuf number
    when its index may be read from the item's bytes (:meth:`KeyIndex.scanned`)."""
    where = f"{obj}.{field_name}"
    scan = None if number is None else (attrgetter(obj), number)
    return map_path(attrgetter(where), [compile_key(k) for k in head.keys], where, scan)


def map_path(
    kvs_of: Getter,
    keys: Sequence[Key],
    map_id: str | None = None,
    scan: tuple[Getter, int] | None = None,
) -> GetSetter:
    """A map-valued field (attributes) read whole or by keys, through the item's key index;
    ``map_id`` names the field (``span.attributes``) so statements on it can be grouped;
    ``scan`` (the getter of the message holding the map, and the field's number) lets the
    generated code of :func:`index_source` read a new index from that message's bytes."""

    def index_of(ctx: TransformContext) -> KeyIndex:
        kvs = kvs_of(ctx)
        table = ctx._index
        if table is None:  # the first map touched on this item (key_index inlined)
            fresh = KeyIndex(kvs)
            ctx._index = {id(kvs): fresh}
            return fresh
        index = table.get(id(kvs))
        if index is None or index.epoch != KeyIndex.current or len(index.keys) != len(kvs):
            index = key_index(ctx, kvs)
        return index

    # for index_source
    index_of.ottl_kvs_of = kvs_of  # type: ignore[attr-defined]
    index_of.ottl_scan = scan  # type: ignore[attr-defined]
    index_of.ottl_map_id = map_id  # type: ignore[attr-defined]

    if not keys:

        def get_map(ctx: TransformContext) -> Any:
            kvs = kvs_of(ctx)
            return PMap(kvs, key_index(ctx, kvs))

        def set_whole(ctx: TransformContext, value: Any) -> None:
            set_map(kvs_of(ctx), value)

        return GetSetter(get_map, set_whole, index=index_of, map_id=map_id)

    first = keys[0]
    rest = list(keys[1:])
    if first[0] and type(first[1]) is str and not rest:
        name = first[1]

        # the index lookup is inlined: these run for every item and every statement
        def get_one(ctx: TransformContext) -> Any:
            kvs = kvs_of(ctx)
            table = ctx._index
            index = table.get(id(kvs)) if table is not None else None
            if index is None or index.epoch != KeyIndex.current or len(index.keys) != len(kvs):
                index = key_index(ctx, kvs)
            found = index.keys
            if name in found:
                return any_to_py(index.entry(found.index(name)).value)
            return None

        def set_one(ctx: TransformContext, value: Any) -> None:
            kvs = kvs_of(ctx)
            table = ctx._index
            index = table.get(id(kvs)) if table is not None else None
            if index is None or index.epoch != KeyIndex.current or len(index.keys) != len(kvs):
                index = key_index(ctx, kvs)
            found = index.keys
            if name in found:
                set_any(index.entry(found.index(name)).value, value)
            else:
                set_any(index.add(name), value)

        def ref_one(ctx: TransformContext) -> Any:
            kvs = kvs_of(ctx)
            table = ctx._index
            index = table.get(id(kvs)) if table is not None else None
            if index is None or index.epoch != KeyIndex.current or len(index.keys) != len(kvs):
                index = key_index(ctx, kvs)
            found = index.keys
            if name in found:
                return index.entry(found.index(name)).value
            return None

        def literal(value: Any) -> Callable[[TransformContext], None] | None:
            kind = type(value)
            field = _LITERAL_FIELDS.get(kind)
            if field is None:
                return None

            def put(ctx: TransformContext) -> None:
                kvs = kvs_of(ctx)
                table = ctx._index
                index = table.get(id(kvs)) if table is not None else None
                if index is None or index.epoch != KeyIndex.current or len(index.keys) != len(kvs):
                    index = key_index(ctx, kvs)
                found = index.keys
                if name in found:
                    setattr(index.entry(found.index(name)).value, field, value)
                else:
                    setattr(index.add(name), field, value)

            if map_id is None:
                return put

            def put_op(ctx: TransformContext, index: KeyIndex) -> None:
                found = index.keys
                if name in found:
                    setattr(index.entry(found.index(name)).value, field, value)
                else:
                    setattr(index.add(name), field, value)

            # ``field`` is one of the four names of _LITERAL_FIELDS, safe to write as code
            source = render(
                "if {key} in keys:\n"
                "    i = keys.index({key})\n"
                "    kv = entries[i]\n"
                "    if kv.__class__ is int:\n"  # not read yet (KeyIndex.entry)
                "        kv = entries[i] = kvs[i]\n"
                f"    kv.value.{field} = {{value}}\n"
                "else:\n"
                "    kv = kvs.add(key={key})\n"
                "    entries.append(kv)\n"
                "    keys.append({key})\n"
                f"    kv.value.{field} = {{value}}\n",
                {"key": name, "value": value},
            )
            return as_map_statement(put, map_id, index_of, with_source(put_op, source))

        return GetSetter(
            get_one,
            set_one,
            ref_one,
            literal=literal,
            map_id=map_id,
            key=name,
            owner_index=index_of,
        )

    def get_keyed(ctx: TransformContext) -> Any:
        kvs = kvs_of(ctx)
        return index_into(ctx, PMap(kvs, key_index(ctx, kvs)), keys)

    def set_keyed(ctx: TransformContext, value: Any) -> None:
        k = key_value(ctx, first)
        if type(k) is not str:
            raise OttlError("unable to resolve a string index in map: invalid key type")
        if rest:
            value = to_python(value)
        kvs = kvs_of(ctx)
        index = key_index(ctx, kvs)
        target = PMap(kvs, index).get_any(k)
        if target is None:
            target = index.add(k)
        set_in_any(ctx, target, rest, value)

    return GetSetter(get_keyed, set_keyed)


def index_source(
    index_of: Callable[[TransformContext], KeyIndex],
    scanned_map: str | None = None,
    serialize: bool = False,
) -> Source | None:
    """Python lines doing what ``index_of`` (made by :func:`map_path`) does, leaving the map
    and its index in the locals ``kvs``, ``entries``, ``keys`` and ``index``; None for other
    functions.

    The first map an item's statements touch needs a new index: made inline, it costs no
    call to ``index_of`` and none to ``KeyIndex.__init__``, on every item. When the map is
    ``scanned_map`` (the item's attributes, for the first step run on an item), the lines
    take the keys and value lengths from ``scans[n]`` when ``scans`` is not None: a
    :func:`~otlpy.wire.protobuf_scan.scan_items` of the request's bytes, ``n`` the item's
    position in it. Otherwise, with ``serialize`` (set when a statement uses the lengths,
    as ``truncate_all`` does), they are read from the item serialized
    (:meth:`KeyIndex.scanned`).
    """
    kvs_of = getattr(index_of, "ottl_kvs_of", None)
    if kvs_of is None:
        return None
    scan: tuple[Getter, int] | None = getattr(index_of, "ottl_scan", None)
    values: dict[str, Any] = {
        "kvs_of": kvs_of,
        "key_of": attrgetter("key"),
        "new": object.__new__,
        "KeyIndex": KeyIndex,
        "index_of": index_of,
    }
    if scan is not None and serialize:
        values.update(scanned=KeyIndex.scanned, owner_of=scan[0], number=scan[1])
        fresh = "index = {scanned}(kvs, {owner_of}(ctx), {number})\n"
    else:
        fresh = (
            "index = {new}({KeyIndex})\n"
            "index.kvs = kvs\n"
            "index.entries = list(kvs)\n"
            "index.keys = list(map({key_of}, index.entries))\n"
            "index.epoch = {KeyIndex}.current\n"
        )
    if (
        scan is not None
        and scanned_map is not None
        and getattr(index_of, "ottl_map_id", None) == scanned_map
    ):
        fresh = (
            "if scans is not None and len(scans[n][0]) == len(kvs):\n"
            "    index = {new}({KeyIndex})\n"
            "    index.kvs = kvs\n"
            "    index.keys, index.entries = scans[n]\n"
            "    index.epoch = {KeyIndex}.current\n"
            "else:\n" + indent(fresh)
        )
    return render(
        "kvs = {kvs_of}(ctx)\n"
        "if ctx._index is None:\n" + indent(fresh) + "    ctx._index = {id(kvs): index}\n"
        "else:\n"
        "    index = {index_of}(ctx)\n"
        "    kvs = index.kvs\n"
        "entries = index.entries\n"
        "keys = index.keys\n",
        values,
    )


def any_path(any_of: Getter, keys: Sequence[Key]) -> GetSetter:
    """An ``AnyValue`` field (a log body) read whole or by keys."""
    if not keys:

        def get_whole(ctx: TransformContext) -> Any:
            return any_to_py(any_of(ctx))

        def set_whole(ctx: TransformContext, value: Any) -> None:
            set_any(any_of(ctx), value)

        return GetSetter(get_whole, set_whole)

    def get_keyed(ctx: TransformContext) -> Any:
        return index_into(ctx, any_to_py(any_of(ctx)), keys)

    def set_keyed(ctx: TransformContext, value: Any) -> None:
        set_in_any(ctx, any_of(ctx), keys, value)

    return GetSetter(get_keyed, set_keyed)


def cache_path(keys: Sequence[Key]) -> GetSetter:
    """The per-item ``cache`` map."""

    def kvs_of(ctx: TransformContext) -> Any:
        if ctx._cache is None:
            ctx._cache = KeyValueList().values
        return ctx._cache

    return map_path(kvs_of, keys)


def expect(value: Any, kind: type | tuple[type, ...], name: str) -> Any:
    if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        return value
    raise OttlError(f"expected {name} but got {type_name(value)}")


def scalar_field(obj: str, attr: str, kind: str) -> GetSetter:
    """A scalar protobuf field: ``kind`` is str, int, float or bool."""
    getter = attrgetter(f"{obj}.{attr}")
    owner = attrgetter(obj)
    if kind == "str":

        def set_str(ctx: TransformContext, value: Any) -> None:
            if type(value) is not str:
                raise OttlError(f"expected string but got {type_name(value)}")
            setattr(owner(ctx), attr, value)

        return GetSetter(getter, set_str)
    if kind == "int":

        def set_int(ctx: TransformContext, value: Any) -> None:
            if type(value) is not int:
                raise OttlError(f"expected int64 but got {type_name(value)}")
            try:
                setattr(owner(ctx), attr, value)
            except ValueError as exc:
                raise OttlError(f"value {value} out of range for {attr}") from exc

        return GetSetter(getter, set_int, int_field=f"{obj}.{attr}")
    if kind == "float":

        def set_float(ctx: TransformContext, value: Any) -> None:
            if type(value) is not float:
                raise OttlError(f"expected float64 but got {type_name(value)}")
            setattr(owner(ctx), attr, value)

        return GetSetter(getter, set_float)

    def set_bool(ctx: TransformContext, value: Any) -> None:
        if type(value) is not bool:
            raise OttlError(f"expected bool but got {type_name(value)}")
        setattr(owner(ctx), attr, value)

    return GetSetter(getter, set_bool)


def time_field(obj: str, attr: str) -> GetSetter:
    """A ``*_unix_nano`` field read and written as a :class:`Timestamp`."""
    nanos = attrgetter(f"{obj}.{attr}")
    owner = attrgetter(obj)

    def get(ctx: TransformContext) -> Any:
        return Timestamp.from_unix_nano(nanos(ctx))

    def set_(ctx: TransformContext, value: Any) -> None:
        if not isinstance(value, datetime):
            raise OttlError(f"expected time.Time but got {type_name(value)}")
        ns = unix_nano(value)
        setattr(owner(ctx), attr, max(ns, 0))

    return GetSetter(get, set_)


def id_field(obj: str, attr: str, kind: type[bytes], string: bool) -> GetSetter:
    """A trace or span id, as the id type or (``.string``) as lowercase hex."""
    raw = attrgetter(f"{obj}.{attr}")
    owner = attrgetter(obj)
    size = 16 if kind is TraceID else 8
    if string:

        def get_hex(ctx: TransformContext) -> Any:
            value = raw(ctx)
            return value.hex() if value else "0" * (2 * size)

        def set_hex(ctx: TransformContext, value: Any) -> None:
            if type(value) is not str:
                raise OttlError(f"expected string but got {type_name(value)}")
            try:
                data = bytes.fromhex(value)
            except ValueError as exc:
                raise OttlError(f"invalid id {value!r}: not hexadecimal") from exc
            if len(data) != size:
                raise OttlError(f"invalid id {value!r}: must be {2 * size} hex characters")
            setattr(owner(ctx), attr, b"" if not any(data) else data)

        return GetSetter(get_hex, set_hex)

    def get_id(ctx: TransformContext) -> Any:
        value = raw(ctx)
        return kind(value if len(value) == size else bytes(size))

    def set_id(ctx: TransformContext, value: Any) -> None:
        if type(value) is not kind:
            raise OttlError(f"expected {type_name(kind(bytes(size)))} but got {type_name(value)}")
        setattr(owner(ctx), attr, b"" if not any(value) else bytes(value))

    return GetSetter(get_id, set_id)


def message_field(obj: str, attr: str | None, cls_name: str) -> GetSetter:
    """A whole sub-message (``resource``, ``status``): read as the message, set by copy."""
    getter = attrgetter(f"{obj}.{attr}" if attr else obj)

    def set_(ctx: TransformContext, value: Any) -> None:
        target = getter(ctx)
        if type(value).__name__ != cls_name:
            raise OttlError(f"expected {cls_name} but got {type_name(value)}")
        if value is not target:
            target.CopyFrom(value)
            keys_changed()  # the attribute maps inside were replaced

    return GetSetter(getter, set_)


def repeated_field(obj: str, attr: str, cls_name: str) -> GetSetter:
    """A repeated message field (events, links): read as a list, replaced by a copy."""
    getter = attrgetter(f"{obj}.{attr}")

    def get(ctx: TransformContext) -> Any:
        return list(getter(ctx))

    def set_(ctx: TransformContext, value: Any) -> None:
        if not isinstance(value, list) or any(type(v).__name__ != cls_name for v in value):
            raise OttlError(f"expected a list of {cls_name} but got {type_name(value)}")
        copies = [type(v)() for v in value]
        for copy, v in zip(copies, value, strict=True):
            copy.CopyFrom(v)
        target = getter(ctx)
        del target[:]
        target.extend(copies)
        keys_changed()

    return GetSetter(get, set_)
