from __future__ import annotations

import logging
from typing import Any

import orjson
import pytest
from google.protobuf import json_format
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.exporter.otlp.proto.common._internal._log_encoder import (
    encode_logs as official_encode_logs,
)
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler, ReadableLogRecord
from opentelemetry.sdk._logs.export import (
    LogRecordExporter,
    LogRecordExportResult,
    SimpleLogRecordProcessor,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from sdk_strategies import LOG_RECORDS
from wire_strategies import base64_ids_to_hex

from otlpy.wire.sdk_attributes import InvalidValueError
from otlpy.wire.sdk_logs import encode_logs, encode_logs_json

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
)


class Keep(LogRecordExporter):
    def __init__(self) -> None:
        self.records: list[ReadableLogRecord] = []

    def export(self, batch: Any) -> LogRecordExportResult:
        self.records.extend(batch)
        return LogRecordExportResult.SUCCESS

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


@SETTINGS
@given(batch=st.lists(LOG_RECORDS, max_size=5))
def test_byte_identical_to_the_official_encoder(batch: list[ReadableLogRecord]) -> None:
    assert encode_logs(batch) == official_encode_logs(batch).SerializeToString()


@SETTINGS
@given(batch=st.lists(LOG_RECORDS, max_size=4))
def test_json_agrees_with_json_format(batch: list[ReadableLogRecord]) -> None:
    printed = json_format.MessageToDict(official_encode_logs(batch), use_integers_for_enums=True)
    assert orjson.loads(encode_logs_json(batch)) == base64_ids_to_hex(printed)


@pytest.mark.filterwarnings("ignore:`LoggingHandler`:DeprecationWarning")
def test_records_from_the_sdk_pipeline() -> None:
    keep = Keep()
    provider = LoggerProvider(resource=Resource.create({"service.name": "svc"}))
    provider.add_log_record_processor(SimpleLogRecordProcessor(keep))
    logger = provider.get_logger("lib", "1.0", schema_url="https://s/1")
    tracer = TracerProvider().get_tracer("t")
    with tracer.start_as_current_span("s"):
        logger.emit(
            LogRecord(
                severity_number=SeverityNumber.WARN,
                severity_text="WARN",
                body={"msg": "hi", "items": [1, "two", {"three": b"\x03"}]},
                attributes={"nested": {"a": [1.5, None]}, "plain": "x"},
                event_name="my.event",
            )
        )
    handler = LoggingHandler(logger_provider=provider)
    std = logging.getLogger("otlpy.test.logs")
    std.addHandler(handler)
    try:
        std.error("failed: %s", "reason", exc_info=ValueError("boom"))
    finally:
        std.removeHandler(handler)
    assert len(keep.records) == 2
    assert encode_logs(keep.records) == official_encode_logs(keep.records).SerializeToString()
    message = ExportLogsServiceRequest.FromString(encode_logs(keep.records))
    first = message.resource_logs[0].scope_logs[0].log_records[0]
    assert first.event_name == "my.event"
    assert len(first.trace_id) == 16


def test_unencodable_body_raises_like_the_official_encoder() -> None:
    record = ReadableLogRecord(log_record=LogRecord(body=object()), resource=Resource({}))
    with pytest.raises(InvalidValueError, match="invalid type object"):
        encode_logs([record])
    with pytest.raises(Exception, match="Invalid type"):
        official_encode_logs([record])
