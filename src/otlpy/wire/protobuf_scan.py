"""The keys of an attribute list, read from a serialized message without building wrappers.

Finding one attribute of a upb message from Python touches a wrapper per ``KeyValue`` and per
key; for a span with ten attributes that is most of what an OTTL statement costs. Serializing
the span and walking its bytes once gives every key, and the byte length of every string value,
for a fraction of that::

    keys, entries = scan_attributes(span.SerializeToString(), 9)  # Span.attributes

``entries[i]`` is the byte length of the ``i``-th value when it is a ``string_value`` and -1
for any other value (or none): the OTTL key index keeps these numbers in place of the
``KeyValue`` wrappers until a statement needs one.

It is written for mypyc (the build compiles it). The bytes come from protobuf's own
serializer, so they are well formed; anything else (a truncated value, an invalid wire type,
group fields, invalid UTF-8 in a key) raises ``ValueError``, and the caller reads the
wrappers instead.
"""

from __future__ import annotations

from typing import Final

__all__ = ["read_varint", "scan_attributes", "scan_items", "skip_field"]

_VARINT: Final = 0
_I64: Final = 1
_LEN: Final = 2
_I32: Final = 5


def read_varint(data: bytes, pos: int, end: int) -> tuple[int, int]:
    """The varint at ``pos`` and the position after it."""
    result = 0
    shift = 0
    while True:
        if pos >= end or shift > 63:
            raise ValueError("truncated or overlong varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


def skip_field(data: bytes, pos: int, end: int, wire: int) -> int:
    """The position after a field value of wire type ``wire`` starting at ``pos``."""
    if wire == _VARINT:
        _, pos = read_varint(data, pos, end)
        return pos
    if wire == _LEN:
        size, pos = read_varint(data, pos, end)
        pos += size
    elif wire == _I64:
        pos += 8
    elif wire == _I32:
        pos += 4
    else:
        raise ValueError(f"unsupported wire type {wire}")
    if pos > end:
        raise ValueError("truncated field")
    return pos


def _string_size(data: bytes, pos: int, end: int, size: int) -> int:
    """``size`` updated by the ``AnyValue`` in ``data[pos:end]``: the byte length of its
    ``string_value`` when that is the member set last, -1 when another member is."""
    while pos < end:
        tag, pos = read_varint(data, pos, end)
        wire = tag & 7
        if tag >> 3 == 1 and wire == _LEN:
            length, pos = read_varint(data, pos, end)
            pos += length
            if pos > end:
                raise ValueError("truncated string value")
            size = length
        else:
            pos = skip_field(data, pos, end, wire)
            # any other member of the value oneof replaces a string set before it
            size = -1
    return size


def scan_attributes(data: bytes, number: int) -> tuple[list[str], list[int]]:
    """The keys of the ``KeyValue`` list at field ``number`` of the message ``data``, in
    order, and for each the byte length of its string value (-1 for other values)."""
    return _attributes(data, 0, len(data), number)


def scan_items(data: bytes, path: list[int]) -> list[tuple[list[str], list[int]]]:
    """:func:`scan_attributes` of every item of an export request, in order.

    ``path`` is the field numbers from the request down to the items, then the attribute
    list's: ``[1, 2, 2, 9]`` finds ``resource_spans`` / ``scope_spans`` / ``spans`` /
    ``attributes``. Items come in the order a parser appends them to their lists.
    """
    if len(path) < 2:
        raise ValueError("a path needs the items' field and the attributes' field")
    out: list[tuple[list[str], list[int]]] = []
    _descend(data, 0, len(data), path, 0, out)
    return out


def _descend(
    data: bytes,
    pos: int,
    end: int,
    path: list[int],
    level: int,
    out: list[tuple[list[str], list[int]]],
) -> None:
    wanted = (path[level] << 3) | _LEN
    items = level == len(path) - 2
    while pos < end:
        tag = data[pos]
        if tag < 0x80:
            pos += 1
        else:
            tag, pos = read_varint(data, pos, end)
        if tag != wanted:
            pos = skip_field(data, pos, end, tag & 7)
            continue
        length, pos = read_varint(data, pos, end)
        stop = pos + length
        if stop > end:
            raise ValueError("truncated message")
        if items:
            out.append(_attributes(data, pos, stop, path[level + 1]))
        else:
            _descend(data, pos, stop, path, level + 1, out)
        pos = stop


def _attributes(data: bytes, pos: int, end: int, number: int) -> tuple[list[str], list[int]]:
    keys: list[str] = []
    sizes: list[int] = []
    wanted = (number << 3) | _LEN
    while pos < end:
        tag = data[pos]
        if tag < 0x80:
            pos += 1
        else:
            tag, pos = read_varint(data, pos, end)
        if tag != wanted:
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
        key_start = pos
        key_stop = pos
        size = -1
        while pos < stop:
            tag = data[pos]
            if tag < 0x80:
                pos += 1
            else:
                tag, pos = read_varint(data, pos, stop)
            # key or value, both length-delimited (two compares: mypyc makes a set a lookup)
            if tag == 0x0A or tag == 0x12:  # noqa: PLR1714
                length = data[pos] if pos < stop else 0x80
                if length < 0x80:
                    pos += 1
                else:
                    length, pos = read_varint(data, pos, stop)
                after = pos + length
                if after > stop:
                    raise ValueError("truncated attribute field")
                if tag == 0x0A:
                    key_start = pos
                    key_stop = after
                else:
                    # a value met twice is merged, as protobuf's parser does
                    size = _string_size(data, pos, after, size)
                pos = after
            else:
                pos = skip_field(data, pos, stop, tag & 7)
        keys.append(data[key_start:key_stop].decode())
        sizes.append(size)
    return keys, sizes
