"""The table of OTLP export services agrees with the protobuf descriptors it names."""

from __future__ import annotations

import pytest

from otlpy._export_services import EXPORT_SERVICES
from otlpy.pdata import Signal


@pytest.mark.parametrize("signal", list(Signal))
def test_entry_matches_the_proto_service(signal: Signal) -> None:
    service = EXPORT_SERVICES[signal]
    response = service.response.DESCRIPTOR
    partial = service.partial_success.DESCRIPTOR
    # The gRPC method is "/<package>.<Service>/Export", answered by the response message.
    package = response.file.package
    method = response.file.services_by_name[service.grpc_method.rsplit("/", 1)[0].split(".")[-1]]
    assert service.grpc_method == f"/{package}.{method.name}/Export"
    assert method.methods_by_name["Export"].output_type is response
    assert response.fields_by_name["partial_success"].message_type is partial
    field = partial.fields_by_name[service.rejected_field]
    assert field.json_name == service.rejected_json
