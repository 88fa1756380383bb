"""The few protobuf wire-format primitives the encoders need, tuned for CPython.

Protobuf messages are sequences of ``tag, value`` pairs where the tag is ``field_number << 3 |
wire_type`` as a varint. Encoders here build bytes directly: tags are computed once as ``bytes``
constants (:func:`tag`), varints of small numbers come from a table, and fixed-width numbers use
precompiled :class:`struct.Struct` packers. ::

    body = tag(1, LEN) + varint(len(name)) + name
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Final

__all__ = [
    "FIXED32",
    "FIXED64",
    "LEN",
    "VARINT",
    "field_bytes",
    "pack_double",
    "pack_fixed32",
    "pack_fixed64",
    "pack_sfixed64",
    "signed_varint",
    "tag",
    "varint",
    "zigzag32",
]

# wire types
VARINT: Final = 0
FIXED64: Final = 1
LEN: Final = 2
FIXED32: Final = 5

_UINT64_MOD: Final = 1 << 64

# Every one-byte varint, so the common case (small lengths, enum values, counts) is a lookup.
_SMALL: Final[tuple[bytes, ...]] = tuple(bytes((i,)) for i in range(0x80))
# The same seven bits with the continuation bit set: every byte of a varint but its last.
_MORE: Final[tuple[bytes, ...]] = tuple(bytes((i | 0x80,)) for i in range(0x80))

pack_fixed64: Final[Callable[[int], bytes]] = struct.Struct("<Q").pack
pack_sfixed64: Final[Callable[[int], bytes]] = struct.Struct("<q").pack
pack_fixed32: Final[Callable[[int], bytes]] = struct.Struct("<I").pack
pack_double: Final[Callable[[float], bytes]] = struct.Struct("<d").pack


def varint(value: int) -> bytes:
    """The base-128 varint of a non-negative ``value`` (below 2**64)."""
    if value < 0x80:
        return _SMALL[value]
    # unrolled for the sizes lengths and counts take; a loop is slower in CPython
    if value < 0x4000:
        return bytes((value & 0x7F | 0x80, value >> 7))
    # longer ones join table entries: fewer integer operations than computing each byte
    if value < 0x200000:
        return b"".join((_MORE[value & 0x7F], _MORE[value >> 7 & 0x7F], _SMALL[value >> 14]))
    if value < 0x10000000:
        return b"".join(
            (
                _MORE[value & 0x7F],
                _MORE[value >> 7 & 0x7F],
                _MORE[value >> 14 & 0x7F],
                _SMALL[value >> 21],
            )
        )
    if value < 0x800000000:
        return b"".join(
            (
                _MORE[value & 0x7F],
                _MORE[value >> 7 & 0x7F],
                _MORE[value >> 14 & 0x7F],
                _MORE[value >> 21 & 0x7F],
                _SMALL[value >> 28],
            )
        )
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def signed_varint(value: int) -> bytes:
    """The varint of an int32/int64/enum value: negatives take ten bytes (two's complement)."""
    return varint(value if value >= 0 else value + _UINT64_MOD)


def zigzag32(value: int) -> int:
    """The zigzag mapping of a sint32 value (small magnitudes stay small)."""
    return (value << 1) ^ (value >> 31)


def tag(field_number: int, wire_type: int) -> bytes:
    """The encoded key of a field: computed once per field, concatenated many times."""
    return varint(field_number << 3 | wire_type)


def field_bytes(field_tag: bytes, payload: bytes | bytearray) -> bytes:
    """A length-delimited field: ``tag``, the payload length, the payload."""
    size = len(payload)
    if size < 0x80:
        return field_tag + _SMALL[size] + payload
    return field_tag + varint(size) + payload
