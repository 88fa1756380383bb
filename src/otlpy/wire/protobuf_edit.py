"""Edits of span and log attributes made on a serialized export request, without decoding it.

The transform processor's most common statements (``set`` an attribute to a literal,
``delete_key``, ``keep_keys``, ``replace_pattern`` on one attribute, ``truncate_all``...) only
change the attribute list of each item. Decoding the request into messages, changing them
through Python wrappers and encoding them again costs far more than copying the bytes once and
rewriting each item's attribute fields::

    new, items = edit_items(raw, [1, 2, 2, 9], ops, None, guards, values)

``path`` is the field numbers from the request down to the items, then the items' attribute
list (``resource_spans`` / ``scope_spans`` / ``spans`` / ``attributes``). With ``singular``,
the items are a message field each container holds at most once (``resource_spans`` /
``resource`` / ``attributes`` is ``[1, 1, 1]``): an absent one is edited as an empty message
(and written when that adds attributes), one written twice (protobuf merges the two) is
refused. Each :class:`Op`
edits every item in order, where ``guards[k]`` (one flag per item, or None for every item)
allows it; ``values[k]`` gives a ``set`` its encoded value per item (None leaves the item
alone). ``mask`` (one flag per item, or None) skips whole items.

The output decodes to the message that making the same changes through protobuf gives: items
and their other fields keep their bytes and order, the attribute list is written where its
first entry was. Anything this module does not reproduce exactly raises ``ValueError`` and the
caller edits the messages instead: a ``KeyValue`` with a repeated or unknown field, an
``AnyValue`` with more than one member, truncated or malformed bytes.

It is written for mypyc (the build compiles it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from otlpy.wire.protobuf_scan import read_varint, skip_field
from otlpy.wire.protobuf_writer import pack_double, varint

__all__ = [
    "ATTRIBUTE_PATHS",
    "DELETE",
    "DELETE_MATCHING",
    "INSERT",
    "KEEP_KEYS",
    "KEEP_MATCHING",
    "REPLACE",
    "REPLACE_VALUES",
    "SET",
    "TRANSFORM",
    "TRUNCATE",
    "UPDATE",
    "Op",
    "any_value",
    "edit_items",
]

#: ``set``: the value of ``key`` becomes ``value`` (an encoded ``AnyValue``), added when absent
SET: Final = 0
#: ``delete_key``: the first entry of ``key`` is removed
DELETE: Final = 1
#: ``keep_keys``: entries whose key is not in ``keys`` are removed
KEEP_KEYS: Final = 2
#: ``delete_matching_keys``: entries whose key passes ``test`` are removed
DELETE_MATCHING: Final = 3
#: ``keep_matching_keys``: entries whose key fails ``test`` are removed
KEEP_MATCHING: Final = 4
#: ``replace_pattern`` on one attribute: its string value becomes ``rewrite(value)`` unless None
REPLACE: Final = 5
#: ``replace_all_patterns`` on values: every string value, as ``REPLACE``
REPLACE_VALUES: Final = 6
#: ``truncate_all``: every string value longer than ``limit`` bytes, as ``REPLACE``
TRUNCATE: Final = 7
#: the attributes processor's ``insert``: as ``SET`` when ``key`` is absent, else nothing
INSERT: Final = 8
#: its ``update``: as ``SET`` when ``key`` is present, else nothing
UPDATE: Final = 9
#: its ``hash``: ``transform`` (encoded ``AnyValue`` in and out) of the first value of
#: ``key`` (when given), then of the first value of each key passing ``test`` (when given)
TRANSFORM: Final = 10

_LEN: Final = 2

#: the field numbers from an export request down to the attribute list of each OTTL
#: context's items (the same in traces, metrics and logs for the resource and the scope)
ATTRIBUTE_PATHS: Final[dict[str, list[int]]] = {
    "span": [1, 2, 2, 9],  # resource_spans / scope_spans / spans / attributes
    "spanevent": [1, 2, 2, 11, 3],  # ... / spans / events / attributes
    "log": [1, 2, 2, 6],  # resource_logs / scope_logs / log_records / attributes
    "resource": [1, 1, 1],  # resource_* / resource / attributes
    "scope": [1, 2, 1, 3],  # resource_* / scope_* / scope / attributes
}
# the tags of AnyValue's other members: bool, int, double, array, kvlist, bytes
_MEMBERS: Final = frozenset({0x10, 0x18, 0x21, 0x2A, 0x32, 0x3A})


def _no_rewrite(text: str) -> str | None:
    return None


def _no_test(key: str) -> bool:
    return False


def _no_transform(value: bytes) -> bytes | None:
    return None


class Op:
    """One edit of an item's attribute list (see the module's constants).

    ``field`` (the number of an enum field of the item, 0 for none) guards it: the op runs
    only where that field, read as an int32 as protobuf reads enums, equals ``expect``
    (``equal``) or differs from it.
    """

    def __init__(
        self,
        code: int,
        key: str = "",
        value: bytes = b"",
        keys: frozenset[bytes] = frozenset(),
        test: Callable[[str], bool] | None = None,
        rewrite: Callable[[str], str | None] | None = None,
        transform: Callable[[bytes], bytes | None] | None = None,
        limit: int = 0,
        marker: str = "",
        utf8_safe: bool = True,
        field: int = 0,
        expect: int = 0,
        equal: bool = True,
    ) -> None:
        self.code = code
        self.key: bytes = key.encode()
        self.value = value
        self.keys = keys
        self.test: Callable[[str], bool] = test or _no_test
        self.matching = test is not None
        self.transform: Callable[[bytes], bytes | None] = transform or _no_transform
        self.rewrite: Callable[[str], str | None] = rewrite or _no_rewrite
        self.limit = limit
        self.marker: bytes = marker.encode()
        if code == TRUNCATE and (limit < 0 or len(self.marker) > limit):
            raise ValueError("the truncation marker must fit in the limit")
        self.utf8_safe = utf8_safe
        self.field = field
        self.expect = expect
        self.equal = equal
        self.slot = -1  # where the item's value of ``field`` is kept (set by _Run)


def _string_value(data: bytes) -> bytes:
    """An ``AnyValue`` holding the UTF-8 text ``data``."""
    return b"\x0a" + varint(len(data)) + data


def any_value(value: object) -> bytes:
    """``value`` (str, bool, int, float or bytes) encoded as an ``AnyValue`` message; raises
    ``ValueError`` for any other type and for ints outside int64."""
    if isinstance(value, str):
        return _string_value(value.encode())
    if isinstance(value, bool):
        return b"\x10\x01" if value else b"\x10\x00"
    if isinstance(value, int):
        if value < -(1 << 63) or value >= 1 << 63:
            raise ValueError("an int attribute must fit in 64 bits")
        return b"\x18" + varint(value & 0xFFFFFFFFFFFFFFFF)
    if isinstance(value, float):
        return b"\x21" + pack_double(value)
    if isinstance(value, bytes):
        return b"\x3a" + varint(len(value)) + value
    raise ValueError(f"cannot write a {type(value).__name__} as an attribute")


class _Run:
    """The state of one :func:`edit_items` call."""

    def __init__(
        self,
        path: list[int],
        ops: list[Op],
        mask: list[bool] | None,
        guards: list[list[bool] | None],
        values: list[list[bytes | None] | None],
        singular: bool,
    ) -> None:
        if len(path) < 2:
            raise ValueError("a path needs the items' field and the attributes' field")
        if len(guards) != len(ops) or len(values) != len(ops):
            raise ValueError("one guard and one value list per op")
        self.path = path
        self.singular = singular
        self.ops = ops
        self.mask = mask
        self.guards = guards
        self.values = values
        self.items = 0
        # whether an op reads string values, and the varint tags of the guarding fields
        self.strings = False
        self.guard_tags: list[int] = []
        for op in ops:
            if op.code in (REPLACE, REPLACE_VALUES, TRUNCATE):
                self.strings = True
            if op.field > 0:
                tag = op.field << 3
                if tag not in self.guard_tags:
                    self.guard_tags.append(tag)
                op.slot = self.guard_tags.index(tag)
        number = path[len(path) - 1]
        self.tag = varint((number << 3) | _LEN)
        self.wanted = (number << 3) | _LEN


def edit_items(
    data: bytes,
    path: list[int],
    ops: list[Op],
    mask: list[bool] | None,
    guards: list[list[bool] | None],
    values: list[list[bytes | None] | None],
    singular: bool = False,
) -> tuple[bytes, int]:
    """The request ``data`` with ``ops`` applied to every item's attributes, and how many
    items it holds; ``data`` itself when nothing changed."""
    run = _Run(path, ops, mask, guards, values, singular)
    out = _container(data, 0, len(data), 0, run)
    return (data if out is None else out), run.items


def _container(data: bytes, start: int, end: int, level: int, run: _Run) -> bytes | None:
    """``data[start:end]`` with the items below it edited, or None when none changed."""
    wanted = (run.path[level] << 3) | _LEN
    items = level == len(run.path) - 2
    parts: list[bytes] = []
    pos = start
    copied = start  # bytes before this are in parts already
    found = 0
    while pos < end:
        field_start = pos
        tag, pos = read_varint(data, pos, end)
        if tag != wanted:
            pos = skip_field(data, pos, end, tag & 7)
            continue
        length, pos = read_varint(data, pos, end)
        stop = pos + length
        if stop > end:
            raise ValueError("truncated message")
        if items:
            found += 1
            if found > 1 and run.singular:
                raise ValueError("a message field written twice (protobuf merges them)")
            new = _item(data, pos, stop, run)
        else:
            new = _container(data, pos, stop, level + 1, run)
        if new is not None:
            parts.append(data[copied:field_start])
            parts.append(data[field_start : field_start + 1] if tag < 0x80 else varint(tag))
            parts.append(varint(len(new)))
            parts.append(new)
            copied = stop
        pos = stop
    if items and run.singular and not found:
        # absent: edited as an empty message, written only if that gives it attributes
        new = _item(data, end, end, run)
        if new is not None:
            parts.append(data[copied:end])
            parts.append(varint(wanted))
            parts.append(varint(len(new)))
            parts.append(new)
            copied = end
    if not parts:
        return None
    parts.append(data[copied:end])
    return b"".join(parts)


def _string_member(data: bytes, pos: int, end: int) -> tuple[int, int]:
    """The offset and length of the ``string_value`` of the ``AnyValue`` in
    ``data[pos:end]``, or (-1, -1) when another member (or none) is set."""
    if pos == end:
        return -1, -1
    tag, after = read_varint(data, pos, end)
    if tag == 0x0A:
        length, offset = read_varint(data, after, end)
        stop = offset + length
        found = offset
    elif tag in _MEMBERS:
        stop = skip_field(data, after, end, tag & 7)
        found = length = -1
    else:
        raise ValueError("an AnyValue with an unknown field")
    if stop != end:
        # a second member (protobuf keeps the last) or bytes past the end
        raise ValueError("an AnyValue with more than one member")
    return found, length


def _item(data: bytes, start: int, end: int, run: _Run) -> bytes | None:
    """One item with the ops applied, or None when they change nothing."""
    n = run.items
    run.items = n + 1
    mask = run.mask
    if mask is not None and not mask[n]:
        return None
    wanted = run.wanted
    strings = run.strings
    guard_tags = run.guard_tags
    numbers = [0] * len(guard_tags)  # the guarded fields' values (0 when absent)
    fields: list[bytes] = []  # each attribute, whole: tag, length, KeyValue
    keys: list[bytes] = []
    offsets: list[int] = []  # where the string value starts in fields[i], -1 for others
    sizes: list[int] = []  # its byte length, -1 for others
    after: list[bytes] = []  # the item's other fields after its first attribute
    first = -1
    copied = start
    pos = start
    while pos < end:
        field_start = pos
        tag = data[pos]
        if tag < 0x80:
            pos += 1
        else:
            tag, pos = read_varint(data, pos, end)
        if tag != wanted:
            if guard_tags and tag & 7 == 0:
                for g in range(len(guard_tags)):
                    if guard_tags[g] == tag:
                        numbers[g], pos = read_varint(data, pos, end)
                        break
                else:
                    pos = skip_field(data, pos, end, 0)
            else:
                pos = skip_field(data, pos, end, tag & 7)
            continue
        length = data[pos] if pos < end else 0x80
        if length < 0x80:
            pos += 1
        else:
            length, pos = read_varint(data, pos, end)
        stop = pos + length
        if stop > end:
            raise ValueError("truncated attribute")
        if first < 0:
            first = field_start
        elif copied < field_start:
            after.append(data[copied:field_start])
        key_start = key_stop = value_start = value_stop = -1
        while pos < stop:
            tag = data[pos]
            pos += 1
            if tag != 0x0A and tag != 0x12:  # noqa: PLR1714 (two compares: mypyc makes a set a lookup)
                raise ValueError("a KeyValue with an unknown field")
            length = data[pos] if pos < stop else 0x80
            if length < 0x80:
                pos += 1
            else:
                length, pos = read_varint(data, pos, stop)
            part_stop = pos + length
            if part_stop > stop:
                raise ValueError("truncated attribute field")
            if tag == 0x0A:
                if key_start >= 0:
                    raise ValueError("a KeyValue with two keys")
                key_start = pos
                key_stop = part_stop
            else:
                if value_start >= 0:
                    raise ValueError("a KeyValue with two values")
                value_start = pos
                value_stop = part_stop
            pos = part_stop
        fields.append(data[field_start:stop])
        keys.append(data[key_start:key_stop] if key_start >= 0 else b"")
        if value_start < 0:
            offsets.append(-1)
            sizes.append(-1)
        elif strings:
            offset, size = _string_member(data, value_start, value_stop)
            offsets.append(offset - field_start if offset >= 0 else -1)
            sizes.append(size)
        else:  # no op reads values: they are copied as they are
            offsets.append(-1)
            sizes.append(-1)
        copied = stop
    if first < 0:
        head = data[start:end]
    else:
        head = data[start:first]
        if copied < end:
            after.append(data[copied:end])
    if not _apply(run, n, numbers, fields, keys, offsets, sizes):
        return None
    return b"".join([head, *fields, *after])


def _find(keys: list[bytes], key: bytes) -> int:
    for i in range(len(keys)):
        if keys[i] == key:
            return i
    return -1


def _value_of(field: bytes) -> bytes:
    """The encoded ``AnyValue`` of an attribute field (empty when it has none)."""
    end = len(field)
    _, pos = read_varint(field, 0, end)  # the attribute's tag
    _, pos = read_varint(field, pos, end)  # its length
    value = b""
    while pos < end:
        tag, pos = read_varint(field, pos, end)
        length, pos = read_varint(field, pos, end)
        if tag == 0x12:
            value = field[pos : pos + length]
        pos += length
    return value


def _entry(run: _Run, key: bytes, value: bytes) -> tuple[bytes, int, int]:
    """An attribute field for ``key`` and the encoded ``AnyValue`` ``value``, with the offset
    and length of its string value (-1, -1 for other values)."""
    inner = b"".join((b"\x0a", varint(len(key)), key, b"\x12", varint(len(value)), value))
    field = b"".join((run.tag, varint(len(inner)), inner))
    if value[:1] == b"\x0a":
        size, offset = read_varint(value, 1, len(value))
        return field, len(field) - len(value) + offset, size
    return field, -1, -1


def _rewrite(
    run: _Run,
    op: Op,
    i: int,
    fields: list[bytes],
    keys: list[bytes],
    offsets: list[int],
    sizes: list[int],
) -> bool:
    """Replace the string value of entry ``i`` with ``op.rewrite`` of it; True if it did."""
    offset = offsets[i]
    text = fields[i][offset : offset + sizes[i]].decode()
    new = op.rewrite(text)
    if new is None:
        return False
    data = new.encode()
    fields[i], offsets[i], sizes[i] = _entry(run, keys[i], _string_value(data))
    return True


def _truncate(
    run: _Run,
    op: Op,
    i: int,
    fields: list[bytes],
    keys: list[bytes],
    offsets: list[int],
    sizes: list[int],
) -> None:
    """Cut the string value of entry ``i`` (longer than ``op.limit`` bytes) to the limit,
    the marker included, without splitting a character (or marking the split one with
    U+FFFD when ``op.utf8_safe`` is off)."""
    offset = offsets[i]
    field = fields[i]
    marker = op.marker
    keep = op.limit - len(marker)
    cut = keep
    # the bytes are valid UTF-8 (protobuf checks strings): back up over continuation bytes
    while cut > 0 and field[offset + cut] & 0xC0 == 0x80:
        cut -= 1
    head = field[offset : offset + cut]
    if cut < keep and not op.utf8_safe:
        head += b"\xef\xbf\xbd"
    value = head + marker
    fields[i], offsets[i], sizes[i] = _entry(run, keys[i], _string_value(value))


def _put(
    run: _Run,
    key: bytes,
    value: bytes,
    i: int,
    fields: list[bytes],
    keys: list[bytes],
    offsets: list[int],
    sizes: list[int],
) -> None:
    """Store the encoded ``AnyValue`` ``value`` of ``key`` as entry ``i``, or as a new last
    entry when ``i`` is -1."""
    field, offset, size = _entry(run, key, value)
    if i >= 0:
        fields[i] = field
        offsets[i] = offset
        sizes[i] = size
    else:
        fields.append(field)
        keys.append(key)
        offsets.append(offset)
        sizes.append(size)


def _apply(
    run: _Run,
    n: int,
    numbers: list[int],
    fields: list[bytes],
    keys: list[bytes],
    offsets: list[int],
    sizes: list[int],
) -> bool:
    """Run every op on item ``n``'s attributes; True if any changed them."""
    changed = False
    ops = run.ops
    for k in range(len(ops)):
        op = ops[k]
        guard = run.guards[k]
        if guard is not None and not guard[n]:
            continue
        if op.field > 0:
            number = numbers[op.slot] & 0xFFFFFFFF
            if number >= 0x80000000:
                number -= 0x100000000
            if (number == op.expect) != op.equal:
                continue
        code = op.code
        if code in (INSERT, UPDATE):
            i = _find(keys, op.key)
            if (i >= 0) == (code == UPDATE):
                _put(run, op.key, op.value, i, fields, keys, offsets, sizes)
                changed = True
        elif code == TRANSFORM:
            names: list[bytes] = [op.key] if op.key else []
            if op.matching:
                for name in keys:
                    if op.test(name.decode()):
                        names.append(name)
            for name in names:
                i = _find(keys, name)
                if i < 0:
                    continue
                new = op.transform(_value_of(fields[i]))
                if new is not None:
                    fields[i], offsets[i], sizes[i] = _entry(run, name, new)
                    changed = True
        elif code == SET:
            value = op.value
            per_item = run.values[k]
            if per_item is not None:
                found = per_item[n]
                if found is None:
                    continue
                value = found
            _put(run, op.key, value, _find(keys, op.key), fields, keys, offsets, sizes)
            changed = True
        elif code == DELETE:
            i = _find(keys, op.key)
            if i >= 0:
                del fields[i]
                del keys[i]
                del offsets[i]
                del sizes[i]
                changed = True
        elif code in (KEEP_KEYS, DELETE_MATCHING, KEEP_MATCHING):
            i = 0
            while i < len(keys):
                if code == KEEP_KEYS:
                    drop = keys[i] not in op.keys
                elif code == DELETE_MATCHING:
                    drop = op.test(keys[i].decode())
                else:
                    drop = not op.test(keys[i].decode())
                if drop:
                    del fields[i]
                    del keys[i]
                    del offsets[i]
                    del sizes[i]
                    changed = True
                else:
                    i += 1
        elif code == REPLACE:
            i = _find(keys, op.key)
            if i >= 0 and offsets[i] >= 0 and _rewrite(run, op, i, fields, keys, offsets, sizes):
                changed = True
        elif code == REPLACE_VALUES:
            for i in range(len(keys)):
                if offsets[i] >= 0 and _rewrite(run, op, i, fields, keys, offsets, sizes):
                    changed = True
        elif code == TRUNCATE:
            limit = op.limit
            for i in range(len(keys)):
                if offsets[i] >= 0 and sizes[i] > limit:
                    _truncate(run, op, i, fields, keys, offsets, sizes)
                    changed = True
        else:
            raise ValueError(f"unknown op {code}")
    return changed
