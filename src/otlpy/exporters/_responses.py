"""Reading OTLP export responses: partial success, from protobuf or OTLP JSON bodies.

Shared by the gRPC and HTTP exporters. A response whose ``partial_success`` carries a rejected
count or a message becomes a :class:`~otlpy.errors.PartialSuccess` (the data was accepted except
the rejected items, so it is never retried); an empty or absent ``partial_success`` is full
success.
"""

from __future__ import annotations

from typing import Any

from google.protobuf.message import DecodeError

from otlpy._export_services import EXPORT_SERVICES
from otlpy.errors import PartialSuccess
from otlpy.pdata import Signal

__all__ = ["partial_success_from_json", "partial_success_from_proto"]


def _partial(rejected: int, message: str) -> PartialSuccess | None:
    if rejected == 0 and not message:
        return None
    return PartialSuccess(rejected, message or f"{rejected} items rejected by the server")


def partial_success_from_proto(signal: Signal, body: bytes) -> PartialSuccess | None:
    """The partial success in a protobuf ``Export*ServiceResponse``, or None for full success.

    A body that is not a valid response is taken as success: the server said 200/OK, and the
    data must not be sent twice because its answer could not be read.
    """
    if not body:
        return None
    service = EXPORT_SERVICES[signal]
    response = service.response()
    try:
        response.ParseFromString(body)
    except DecodeError:
        return None
    if not response.HasField("partial_success"):
        return None
    partial = response.partial_success
    return _partial(int(getattr(partial, service.rejected_field)), str(partial.error_message))


def partial_success_from_json(signal: Signal, document: Any) -> PartialSuccess | None:
    """The partial success in an OTLP JSON response document (already parsed), or None."""
    if not isinstance(document, dict):
        return None
    partial = document.get("partialSuccess", document.get("partial_success"))
    if not isinstance(partial, dict):
        return None
    service = EXPORT_SERVICES[signal]
    raw: Any = partial.get(service.rejected_json, partial.get(service.rejected_field, 0))
    try:
        rejected = int(raw)  # int64 is a string in OTLP JSON, a number from lax encoders
    except (TypeError, ValueError):
        rejected = 0
    message = partial.get("errorMessage", partial.get("error_message", ""))
    return _partial(rejected, message if isinstance(message, str) else str(message))
