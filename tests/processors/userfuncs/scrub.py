"""User functions for the python processor tests (imported by module path)."""

from __future__ import annotations

import asyncio

from otlpy.errors import RetryableError
from otlpy.processors.python import Telemetry


def scrub(batch: Telemetry) -> None:
    for span in batch.spans():
        if span.attributes.get("index") == 1:
            span.drop()
            continue
        span.attributes["env"] = "prod"
        span.name = f"{span.resource.service_name}:{span.name}"


async def slow_upper(batch: Telemetry) -> None:
    await asyncio.sleep(0)
    for record in batch.logs():
        record.body = str(record.body).upper()
        record.severity_text = "WARN"


def broken(batch: Telemetry) -> None:
    for span in batch.spans():
        span.attributes["touched"] = True
        span.drop()
    raise ValueError("boom")


def busy(batch: Telemetry) -> None:
    raise RetryableError("try later")


def metrics(batch: Telemetry) -> None:
    for point in batch.data_points():
        if point.value == 0:
            point.drop()
        else:
            point.attributes["metric"] = point.metric_name


class Methods:
    @staticmethod
    def everything(batch: Telemetry) -> None:
        batch.drop_all()


NOT_CALLABLE = 3
