"""Request body compression: bounded decompression and compression for HTTP and gRPC bodies.

:func:`decompress` never produces more than ``max_size + 1`` bytes, whatever the input claims: a
compression bomb (a few kilobytes that inflate to gigabytes) is refused after inflating just past
the limit, so memory stays bounded by the limit, not by the attacker. ::

    body = decompress(raw, request.headers.get("Content-Encoding", ""), max_size=20 << 20)

Accepted encodings (case-insensitive): ``""``, ``identity`` and ``none`` (no compression),
``gzip`` and ``x-gzip`` (several gzip members in a row are one body, as in Go's reader),
``deflate`` and ``zlib`` (zlib-wrapped or raw deflate, since HTTP clients send either) and
``zstd`` (several frames in a row are one body).

Errors are :class:`~otlpy.errors.PermanentError` subclasses that carry the HTTP status to answer
with: :class:`UnsupportedEncodingError` (415), :class:`BodyTooLargeError` (413) and
:class:`CorruptBodyError` (400).
"""

from __future__ import annotations

import io
import zlib
from typing import ClassVar

import zstandard

from otlpy.errors import PermanentError

__all__ = [
    "ENCODINGS",
    "BodyTooLargeError",
    "CorruptBodyError",
    "UnsupportedEncodingError",
    "check_size",
    "compress",
    "decompress",
    "normalize_encoding",
]

#: Every accepted encoding name, after :func:`normalize_encoding`.
ENCODINGS = frozenset({"identity", "gzip", "deflate", "zstd"})

_ALIASES = {
    "": "identity",
    "identity": "identity",
    "none": "identity",
    "gzip": "gzip",
    "x-gzip": "gzip",
    "deflate": "deflate",
    "zlib": "deflate",
    "zstd": "zstd",
}

# zlib window bits: 15 = zlib wrapper, -15 = raw deflate, 47 = gzip or zlib (auto-detected)
_ZLIB_WBITS = 15
_RAW_WBITS = -15
_GZIP_OR_ZLIB_WBITS = 47
_GZIP_WBITS = 31

# zstd frames: magic numbers and the largest window a body may ask the decoder to allocate.
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_ZSTD_SKIPPABLE_LOW = 0x184D2A50
_ZSTD_SKIPPABLE_HIGH = 0x184D2A5F
_ZSTD_MIN_WINDOW = 8 << 20  # what level-19 streaming compression uses; smaller would refuse it
_ZSTD_MAX_WINDOW = 128 << 20  # zstd's own default limit
_ZSTD_READ_CHUNK = 1 << 20


class UnsupportedEncodingError(PermanentError):
    """The body uses a content encoding otlpy does not decode (HTTP 415)."""

    http_status: ClassVar[int] = 415


class BodyTooLargeError(PermanentError):
    """The body, once decompressed, is larger than the configured limit (HTTP 413)."""

    http_status: ClassVar[int] = 413

    def __init__(self, limit: int) -> None:
        super().__init__(f"request body is larger than the limit of {limit} bytes")
        self.limit = limit


class CorruptBodyError(PermanentError):
    """The compressed body is malformed or truncated (HTTP 400)."""

    http_status: ClassVar[int] = 400


def normalize_encoding(encoding: str) -> str:
    """The canonical name of ``encoding`` (one of :data:`ENCODINGS`).

    Raises :class:`UnsupportedEncodingError` for anything else.
    """
    name = _ALIASES.get(encoding.strip().lower())
    if name is None:
        supported = ", ".join(sorted(ENCODINGS))
        raise UnsupportedEncodingError(
            f"unsupported content encoding {encoding!r} (supported: {supported})"
        )
    return name


def check_size(body: bytes, max_size: int) -> bytes:
    """Return ``body`` when it fits in ``max_size`` bytes, else raise BodyTooLargeError."""
    if len(body) > max_size:
        raise BodyTooLargeError(max_size)
    return body


def decompress(body: bytes, encoding: str, *, max_size: int) -> bytes:
    """Decode ``body`` sent with ``Content-Encoding: encoding``, refusing more than ``max_size``.

    At most ``max_size + 1`` bytes are ever inflated. An empty body is an empty result whatever
    the encoding (an empty request is valid OTLP).
    """
    if max_size < 0:
        raise ValueError("max_size must not be negative")
    name = normalize_encoding(encoding)
    if name == "identity" or not body:
        return check_size(body, max_size)
    if name == "gzip":
        return _inflate(body, _GZIP_OR_ZLIB_WBITS, max_size, members=True)
    if name == "deflate":
        wbits = _ZLIB_WBITS if _has_zlib_header(body) else _RAW_WBITS
        return _inflate(body, wbits, max_size, members=False)
    return _unzstd(body, max_size)


def compress(data: bytes, encoding: str, level: int | None = None) -> bytes:
    """Encode ``data`` for ``Content-Encoding: encoding``; ``level`` is the codec's own scale.

    ``deflate`` produces the zlib format, which is what RFC 9110 calls deflate.
    """
    name = normalize_encoding(encoding)
    if name == "identity":
        return data
    if name == "zstd":
        # the checksum lets the receiver tell damaged data from a different request
        zstd = zstandard.ZstdCompressor(level=3 if level is None else level, write_checksum=True)
        packed: bytes = zstd.compress(data)
        return packed
    wbits = _GZIP_WBITS if name == "gzip" else _ZLIB_WBITS
    compressor = zlib.compressobj(-1 if level is None else level, zlib.DEFLATED, wbits)
    return compressor.compress(data) + compressor.flush()


def _has_zlib_header(body: bytes) -> bool:
    """True when ``body`` starts with a zlib header (RFC 1950), False for raw deflate."""
    if len(body) < 2:
        return False
    cmf, flg = body[0], body[1]
    return cmf & 0x0F == 8 and cmf >> 4 <= 7 and ((cmf << 8) | flg) % 31 == 0


def _inflate(body: bytes, wbits: int, max_size: int, *, members: bool) -> bytes:
    """zlib/gzip/raw-deflate decoding that stops as soon as the output passes ``max_size``."""
    limit = max_size + 1
    parts: list[bytes] = []
    total = 0
    data = body
    try:
        while True:
            inflater = zlib.decompressobj(wbits)
            while True:
                # max_length bounds this call's output; the rest of the input waits in the tail.
                chunk = inflater.decompress(data, limit - total)
                total += len(chunk)
                if total > max_size:
                    raise BodyTooLargeError(max_size)
                parts.append(chunk)
                if inflater.eof:
                    break
                data = inflater.unconsumed_tail
                if not chunk and not data:
                    raise CorruptBodyError("compressed body is truncated")
            data = inflater.unused_data
            if not data:
                break
            if not members:
                raise CorruptBodyError(
                    f"{len(data)} unexpected bytes after the end of the compressed body"
                )
    except zlib.error as exc:
        raise CorruptBodyError(f"cannot decompress body: {exc}") from exc
    return b"".join(parts)


def _unzstd(body: bytes, max_size: int) -> bytes:
    """zstd decoding that stops as soon as the output passes ``max_size``."""
    # The stream reader reports a truncated frame as a silent end of data, so the frame layout is
    # checked first: a cut body must be an error, never a shorter request.
    _check_zstd_frames(body)
    window = min(_ZSTD_MAX_WINDOW, max(_ZSTD_MIN_WINDOW, max_size))
    limit = max_size + 1
    parts: list[bytes] = []
    total = 0
    try:
        decompressor = zstandard.ZstdDecompressor(max_window_size=window)
        with decompressor.stream_reader(
            io.BytesIO(body), read_across_frames=True, closefd=False
        ) as reader:
            while True:
                chunk = reader.read(min(_ZSTD_READ_CHUNK, limit - total))
                if not chunk:
                    break
                total += len(chunk)
                if total > max_size:
                    raise BodyTooLargeError(max_size)
                parts.append(chunk)
    except zstandard.ZstdError as exc:
        raise CorruptBodyError(f"cannot decompress zstd body: {exc}") from exc
    return b"".join(parts)


def _check_zstd_frames(body: bytes) -> None:
    """Walk the frame and block headers of a zstd body; raise if it is cut short or has junk.

    Only headers are read (RFC 8878 section 3.1): the payload is left to the decoder.
    """
    pos = 0
    end = len(body)
    while pos < end:
        if end - pos < 4:
            raise CorruptBodyError("zstd body ends inside a frame header")
        magic = int.from_bytes(body[pos : pos + 4], "little")
        if _ZSTD_SKIPPABLE_LOW <= magic <= _ZSTD_SKIPPABLE_HIGH:
            if end - pos < 8:
                raise CorruptBodyError("zstd body ends inside a skippable frame header")
            pos += 8 + int.from_bytes(body[pos + 4 : pos + 8], "little")
            if pos > end:
                raise CorruptBodyError("zstd body is truncated")
            continue
        if body[pos : pos + 4] != _ZSTD_MAGIC:
            raise CorruptBodyError(f"not a zstd frame at byte {pos}")
        if end - pos < 5:
            raise CorruptBodyError("zstd body ends inside a frame header")
        descriptor = body[pos + 4]
        fcs_flag = descriptor >> 6
        single_segment = descriptor >> 5 & 1
        checksum = descriptor >> 2 & 1
        dict_id_size = (0, 1, 2, 4)[descriptor & 3]
        fcs_size = (single_segment, 2, 4, 8)[fcs_flag]
        pos += 5 + (0 if single_segment else 1) + dict_id_size + fcs_size
        while True:
            if end - pos < 3:
                raise CorruptBodyError("zstd body is truncated")
            header = int.from_bytes(body[pos : pos + 3], "little")
            block_type = header >> 1 & 3
            pos += 3 + (1 if block_type == 1 else header >> 3)
            if header & 1:
                break
        pos += 4 * checksum
        if pos > end:
            raise CorruptBodyError("zstd body is truncated")
