from __future__ import annotations

import gzip
import os
import struct
import tracemalloc
import zlib
from collections.abc import Callable

import pytest
import zstandard

from otlpy.errors import PermanentError
from otlpy.wire.compression import (
    BodyTooLargeError,
    CorruptBodyError,
    UnsupportedEncodingError,
    check_size,
    compress,
    decompress,
    normalize_encoding,
)

PAYLOAD = b"".join(b"span-%d attribute value;" % i for i in range(2000)) + os.urandom(512)
MIB = 1 << 20
GIB = 1 << 30


def _gzip_bomb(size: int) -> bytes:
    """A valid gzip member holding ``size`` zero bytes, built without ever holding them."""
    chunk = bytes(MIB)
    deflater = zlib.compressobj(9, zlib.DEFLATED, -15)
    # After a full flush the deflater forgets its history, so every zero chunk compresses to the
    # same bytes: one compressed chunk repeated is a deflate stream of any length.
    block = deflater.compress(chunk) + deflater.flush(zlib.Z_FULL_FLUSH)
    assert deflater.compress(chunk) + deflater.flush(zlib.Z_FULL_FLUSH) == block
    crc = 0
    for _ in range(size // MIB):
        crc = zlib.crc32(chunk, crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    final = b"\x03\x00"  # an empty final fixed-Huffman block
    trailer = struct.pack("<II", crc, size & 0xFFFFFFFF)
    return header + block * (size // MIB) + final + trailer


def _zstd_bomb(size: int) -> bytes:
    chunk = bytes(MIB)
    compressor = zstandard.ZstdCompressor(level=1).compressobj()
    parts = [compressor.compress(chunk) for _ in range(size // MIB)]
    parts.append(compressor.flush())
    return b"".join(parts)


@pytest.mark.parametrize(
    ("encoding", "expected"),
    [
        ("", "identity"),
        ("identity", "identity"),
        ("none", "identity"),
        ("GZIP", "gzip"),
        (" x-gzip ", "gzip"),
        ("deflate", "deflate"),
        ("zlib", "deflate"),
        ("Zstd", "zstd"),
    ],
)
def test_normalize_encoding(encoding: str, expected: str) -> None:
    assert normalize_encoding(encoding) == expected


@pytest.mark.parametrize("encoding", ["br", "snappy", "gzip, identity", "lz4"])
def test_unsupported_encoding(encoding: str) -> None:
    with pytest.raises(UnsupportedEncodingError, match="unsupported content encoding") as info:
        decompress(b"abc", encoding, max_size=100)
    assert info.value.http_status == 415
    assert isinstance(info.value, PermanentError)
    with pytest.raises(UnsupportedEncodingError):
        compress(b"abc", encoding)


@pytest.mark.parametrize("encoding", ["", "identity", "gzip", "x-gzip", "deflate", "zstd"])
def test_round_trip(encoding: str) -> None:
    packed = compress(PAYLOAD, encoding)
    if encoding not in ("", "identity"):
        assert len(packed) < len(PAYLOAD)
    assert decompress(packed, encoding, max_size=len(PAYLOAD)) == PAYLOAD


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "zstd"])
def test_levels(encoding: str) -> None:
    fast = compress(PAYLOAD, encoding, level=1)
    assert decompress(fast, encoding, max_size=len(PAYLOAD)) == PAYLOAD


def test_interoperates_with_standard_tools() -> None:
    assert decompress(gzip.compress(PAYLOAD), "gzip", max_size=MIB) == PAYLOAD
    assert gzip.decompress(compress(PAYLOAD, "gzip")) == PAYLOAD
    assert zlib.decompress(compress(PAYLOAD, "deflate")) == PAYLOAD
    assert zstandard.ZstdDecompressor().decompress(compress(PAYLOAD, "zstd")) == PAYLOAD


def test_deflate_accepts_zlib_and_raw() -> None:
    raw = zlib.compressobj(6, zlib.DEFLATED, -15)
    raw_body = raw.compress(PAYLOAD) + raw.flush()
    assert decompress(raw_body, "deflate", max_size=MIB) == PAYLOAD
    assert decompress(zlib.compress(PAYLOAD), "deflate", max_size=MIB) == PAYLOAD
    # a one-byte body cannot carry a zlib header: it is read as raw deflate (and is corrupt)
    with pytest.raises(CorruptBodyError):
        decompress(b"\x78", "deflate", max_size=MIB)


def test_gzip_also_accepts_zlib_wrapper() -> None:
    assert decompress(zlib.compress(PAYLOAD), "gzip", max_size=MIB) == PAYLOAD


def test_concatenated_gzip_members_and_zstd_frames() -> None:
    body = gzip.compress(b"first ") + gzip.compress(b"second")
    assert decompress(body, "gzip", max_size=100) == b"first second"
    frames = compress(b"first ", "zstd") + compress(b"second", "zstd")
    assert decompress(frames, "zstd", max_size=100) == b"first second"


def test_zstd_skippable_frame_and_streamed_frame() -> None:
    skippable = struct.pack("<II", 0x184D2A53, 3) + b"xyz"
    assert decompress(skippable + compress(b"data", "zstd"), "zstd", max_size=10) == b"data"
    # a frame written by a streaming compressor has no content size and a checksum
    writer = zstandard.ZstdCompressor(write_checksum=True, write_content_size=False)
    streamed = writer.compressobj()
    body = streamed.compress(PAYLOAD) + streamed.flush()
    assert decompress(body, "zstd", max_size=len(PAYLOAD)) == PAYLOAD
    with_dict_id = zstandard.ZstdCompressor(write_dict_id=True).compress(b"x" * 100)
    assert decompress(with_dict_id, "zstd", max_size=100) == b"x" * 100


def test_empty_body_is_empty_for_every_encoding() -> None:
    for encoding in ("", "gzip", "deflate", "zstd"):
        assert decompress(b"", encoding, max_size=0) == b""


def test_limit_is_inclusive() -> None:
    body = compress(PAYLOAD, "gzip")
    assert decompress(body, "gzip", max_size=len(PAYLOAD)) == PAYLOAD
    with pytest.raises(BodyTooLargeError):
        decompress(body, "gzip", max_size=len(PAYLOAD) - 1)


@pytest.mark.parametrize("encoding", ["", "gzip", "deflate", "zstd"])
def test_too_large(encoding: str) -> None:
    body = compress(PAYLOAD, encoding)
    with pytest.raises(BodyTooLargeError, match="limit of 1000 bytes") as info:
        decompress(body, encoding, max_size=1000)
    assert info.value.http_status == 413
    assert info.value.limit == 1000


def test_check_size() -> None:
    assert check_size(b"abc", 3) == b"abc"
    with pytest.raises(BodyTooLargeError, match="limit of 2 bytes"):
        check_size(b"abc", 2)


def test_negative_limit_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="max_size"):
        decompress(b"abc", "", max_size=-1)


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "zstd"])
def test_truncated(encoding: str) -> None:
    body = compress(PAYLOAD, encoding)
    for cut in (len(body) - 1, len(body) // 2, 3):
        with pytest.raises(CorruptBodyError) as info:
            decompress(body[:cut], encoding, max_size=MIB)
        assert info.value.http_status == 400


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "zstd"])
def test_garbage(encoding: str) -> None:
    with pytest.raises(CorruptBodyError):
        decompress(b"this is not compressed at all", encoding, max_size=MIB)


def test_trailing_bytes() -> None:
    with pytest.raises(CorruptBodyError, match="unexpected bytes"):
        decompress(zlib.compress(PAYLOAD) + b"junk", "deflate", max_size=MIB)
    with pytest.raises(CorruptBodyError):
        decompress(gzip.compress(PAYLOAD) + b"junk", "gzip", max_size=MIB)
    with pytest.raises(CorruptBodyError, match="not a zstd frame"):
        decompress(compress(PAYLOAD, "zstd") + b"junk", "zstd", max_size=MIB)


def test_zstd_header_damage() -> None:
    body = compress(PAYLOAD, "zstd")
    with pytest.raises(CorruptBodyError, match="frame header"):
        decompress(body[:4], "zstd", max_size=MIB)
    with pytest.raises(CorruptBodyError, match="frame header"):
        decompress(body + b"\x28\xb5", "zstd", max_size=MIB)
    skippable = struct.pack("<II", 0x184D2A50, 10) + b"abc"
    with pytest.raises(CorruptBodyError, match="truncated"):
        decompress(skippable, "zstd", max_size=MIB)
    with pytest.raises(CorruptBodyError, match="skippable"):
        decompress(skippable[:6], "zstd", max_size=MIB)
    # a valid layout whose block content is damaged is caught by the decoder itself
    damaged = bytearray(body)
    damaged[len(damaged) // 2] ^= 0xFF
    with pytest.raises(CorruptBodyError):
        decompress(bytes(damaged), "zstd", max_size=MIB)


def test_zstd_window_larger_than_allowed() -> None:
    params = zstandard.ZstdCompressionParameters.from_level(3, window_log=30)
    streamed = zstandard.ZstdCompressor(compression_params=params).compressobj()
    body = streamed.compress(b"a" * 1000) + streamed.flush()
    with pytest.raises(CorruptBodyError, match="zstd"):
        decompress(body, "zstd", max_size=MIB)


def test_bomb_builders_make_valid_bodies() -> None:
    assert gzip.decompress(_gzip_bomb(4 * MIB)) == bytes(4 * MIB)
    assert zstandard.ZstdDecompressor().decompress(_zstd_bomb(4 * MIB), 4 * MIB) == bytes(4 * MIB)


@pytest.mark.parametrize(("encoding", "builder"), [("gzip", _gzip_bomb), ("zstd", _zstd_bomb)])
def test_compression_bomb_is_refused_with_bounded_memory(
    encoding: str, builder: Callable[[int], bytes]
) -> None:
    bomb = builder(GIB)
    assert len(bomb) < 2 * MIB
    limit = 4 * MIB
    tracemalloc.start()
    try:
        with pytest.raises(BodyTooLargeError):
            decompress(bomb, encoding, max_size=limit)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # the output kept in memory is bounded by the limit (plus one chunk), not by the 1 GiB
    assert peak < 4 * limit
