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
from otlpy.wire.otlp_json import (
    decode_request,
    encode_request,
    encode_request_to_dict,
    json_to_protobuf,
)

__all__ = [
    "BodyTooLargeError",
    "CorruptBodyError",
    "UnsupportedEncodingError",
    "check_size",
    "compress",
    "decode_request",
    "decompress",
    "encode_request",
    "encode_request_to_dict",
    "json_to_protobuf",
]
