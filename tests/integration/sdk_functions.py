"""A user function for the python processor in the SDK integration test."""

from __future__ import annotations

from otlpy.processors.python import Telemetry


def tag_logs(batch: Telemetry) -> None:
    for record in batch.logs():
        if record.severity_number < 13:  # below WARN
            record.drop()
        else:
            record.attributes["checked"] = True
