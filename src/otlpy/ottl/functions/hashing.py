"""Hashes, ids and generated values: ``SHA256``, ``FNV``, ``Murmur3Hash``, ``TraceID``,
``UUID``, ``IsRootSpan``..."""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from collections.abc import Callable
from typing import Any

from otlpy.ottl.contexts.common import Getter, TransformContext
from otlpy.ottl.functions.spec import Param, converter
from otlpy.ottl.values import OttlError, ProfileID, SpanID, TraceID, type_name

__all__ = ["murmur3_32", "murmur3_x64_128"]

Run = Callable[[TransformContext], Any]
_M64 = (1 << 64) - 1
_M32 = (1 << 32) - 1


def _digest(algorithm: str) -> Callable[[Getter], Run]:
    def factory(target: Getter) -> Run:
        return lambda ctx: hashlib.new(algorithm, target(ctx).encode()).hexdigest()

    return factory


for _name, _algorithm in (
    ("SHA1", "sha1"),
    ("SHA256", "sha256"),
    ("SHA512", "sha512"),
    ("MD5", "md5"),
):
    converter(_name, Param("target", "str"))(_digest(_algorithm))


@converter("FNV", Param("target", "str"))
def _fnv(target: Getter) -> Run:
    def run(ctx: TransformContext) -> Any:
        h = 0xCBF29CE484222325
        for byte in target(ctx).encode():
            h ^= byte
            h = (h * 0x100000001B3) & _M64
        return h - (1 << 64) if h >= 1 << 63 else h

    return run


def _rotl32(x: int, r: int) -> int:
    return ((x << r) | (x >> (32 - r))) & _M32


def murmur3_32(data: bytes, seed: int = 0) -> int:
    """MurmurHash3 x86 32-bit."""
    c1, c2 = 0xCC9E2D51, 0x1B873593
    h = seed & _M32
    length = len(data)
    rounded = length - length % 4
    for i in range(0, rounded, 4):
        k = int.from_bytes(data[i : i + 4], "little")
        k = (k * c1) & _M32
        k = _rotl32(k, 15)
        k = (k * c2) & _M32
        h ^= k
        h = _rotl32(h, 13)
        h = (h * 5 + 0xE6546B64) & _M32
    k = 0
    tail = data[rounded:]
    if len(tail) >= 3:
        k ^= tail[2] << 16
    if len(tail) >= 2:
        k ^= tail[1] << 8
    if tail:
        k ^= tail[0]
        k = (k * c1) & _M32
        k = _rotl32(k, 15)
        k = (k * c2) & _M32
        h ^= k
    h ^= length
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & _M32
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & _M32
    h ^= h >> 16
    return h


def _rotl64(x: int, r: int) -> int:
    return ((x << r) | (x >> (64 - r))) & _M64


def _fmix64(k: int) -> int:
    k ^= k >> 33
    k = (k * 0xFF51AFD7ED558CCD) & _M64
    k ^= k >> 33
    k = (k * 0xC4CEB9FE1A85EC53) & _M64
    k ^= k >> 33
    return k


def murmur3_x64_128(data: bytes, seed: int = 0) -> tuple[int, int]:
    """MurmurHash3 x64 128-bit, as its two 64-bit halves."""
    c1, c2 = 0x87C37B91114253D5, 0x4CF5AD432745937F
    h1 = h2 = seed & _M64
    length = len(data)
    blocks = length // 16
    for i in range(blocks):
        k1 = int.from_bytes(data[16 * i : 16 * i + 8], "little")
        k2 = int.from_bytes(data[16 * i + 8 : 16 * i + 16], "little")
        k1 = (k1 * c1) & _M64
        k1 = _rotl64(k1, 31)
        k1 = (k1 * c2) & _M64
        h1 ^= k1
        h1 = _rotl64(h1, 27)
        h1 = (h1 + h2) & _M64
        h1 = (h1 * 5 + 0x52DCE729) & _M64
        k2 = (k2 * c2) & _M64
        k2 = _rotl64(k2, 33)
        k2 = (k2 * c1) & _M64
        h2 ^= k2
        h2 = _rotl64(h2, 31)
        h2 = (h2 + h1) & _M64
        h2 = (h2 * 5 + 0x38495AB5) & _M64
    tail = data[16 * blocks :]
    k1 = k2 = 0
    for i in range(len(tail) - 1, 7, -1):
        k2 ^= tail[i] << (8 * (i - 8))
    if len(tail) > 8:
        k2 = (k2 * c2) & _M64
        k2 = _rotl64(k2, 33)
        k2 = (k2 * c1) & _M64
        h2 ^= k2
    for i in range(min(len(tail), 8) - 1, -1, -1):
        k1 ^= tail[i] << (8 * i)
    if tail:
        k1 = (k1 * c1) & _M64
        k1 = _rotl64(k1, 31)
        k1 = (k1 * c2) & _M64
        h1 ^= k1
    h1 ^= length
    h2 ^= length
    h1 = (h1 + h2) & _M64
    h2 = (h2 + h1) & _M64
    h1 = _fmix64(h1)
    h2 = _fmix64(h2)
    h1 = (h1 + h2) & _M64
    h2 = (h2 + h1) & _M64
    return h1, h2


@converter("Murmur3Hash", Param("target", "str"))
def _murmur3(target: Getter) -> Run:
    return lambda ctx: murmur3_32(target(ctx).encode()).to_bytes(4, "little").hex()


@converter("Murmur3Hash128", Param("target", "str"))
def _murmur3_128(target: Getter) -> Run:
    def run(ctx: TransformContext) -> Any:
        h1, h2 = murmur3_x64_128(target(ctx).encode())
        return (h1.to_bytes(8, "little") + h2.to_bytes(8, "little")).hex()

    return run


def _id_factory(kind: type[bytes], size: int, label: str) -> Callable[[Getter], Run]:
    def factory(target: Getter) -> Run:
        def run(ctx: TransformContext) -> Any:
            value = target(ctx)
            if isinstance(value, str):
                if len(value) != 2 * size:
                    raise OttlError(f"{label} must be {2 * size} hex characters, got {len(value)}")
                try:
                    value = bytes.fromhex(value)
                except ValueError:
                    raise OttlError(f"invalid {label} hex string {value!r}") from None
            if not isinstance(value, bytes):
                raise OttlError(
                    f"{label} must be a byte slice or a hex string, got {type_name(value)}"
                )
            if len(value) != size:
                raise OttlError(f"{label} must be exactly {size} bytes")
            return kind(value)

        return run

    return factory


converter("TraceID", Param("target", "any"))(_id_factory(TraceID, 16, "traces ids"))
converter("SpanID", Param("target", "any"))(_id_factory(SpanID, 8, "span ids"))
converter("ProfileID", Param("target", "any"))(_id_factory(ProfileID, 16, "profile ids"))


@converter("UUID", pure=False)
def _uuid() -> Run:
    return lambda ctx: str(uuid.uuid4())


@converter("UUIDv7", pure=False)
def _uuid7() -> Run:
    def run(ctx: TransformContext) -> Any:
        millis = time.time_ns() // 1_000_000
        raw = bytearray(millis.to_bytes(6, "big") + os.urandom(10))
        raw[6] = (raw[6] & 0x0F) | 0x70
        raw[8] = (raw[8] & 0x3F) | 0x80
        return str(uuid.UUID(bytes=bytes(raw)))

    return run


@converter("IsRootSpan", pure=False, contexts=frozenset({"span", "spanevent"}))
def _is_root_span() -> Run:
    return lambda ctx: not any(ctx.span.parent_span_id)
