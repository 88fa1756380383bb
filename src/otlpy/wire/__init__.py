"""The hot-path codecs: compression, OTLP/JSON and direct SDK-to-protobuf encoding.

Nothing here does I/O; receivers, exporters and the SDK integration call these functions.
"""

from __future__ import annotations

from otlpy.wire.compression import (
    BodyTooLargeError,
    CorruptBodyError,
    UnsupportedEncodingError,
    check_size,
    compress,
    decompress,
)

__all__ = [
    "BodyTooLargeError",
    "CorruptBodyError",
    "UnsupportedEncodingError",
    "check_size",
    "compress",
    "decompress",
]
