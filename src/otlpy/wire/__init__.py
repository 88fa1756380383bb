"""The hot-path codecs: compression, OTLP/JSON and direct SDK-to-protobuf encoding.

Nothing here does I/O; receivers, exporters and the SDK integration call these functions. The
SDK encoders live in ``otlpy.wire.sdk_traces``, ``sdk_metrics`` and ``sdk_logs`` (they import the
OpenTelemetry SDK, an optional dependency, so they are not imported here).
"""

from __future__ import annotations

from otlpy.wire import _compiled

# before the codec modules load: it decides between their compiled and pure-Python forms
_compiled.install()

from otlpy.wire.compression import (  # noqa: E402
    BodyTooLargeError,
    CorruptBodyError,
    UnsupportedEncodingError,
    check_size,
    compress,
    decompress,
    normalize_encoding,
)
from otlpy.wire.otlp_json import (  # noqa: E402
    decode_request,
    encode_request,
    encode_request_to_dict,
    json_to_protobuf,
    protobuf_to_json,
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
    "normalize_encoding",
    "protobuf_to_json",
]
