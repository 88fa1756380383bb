"""Query results shaped as the Jaeger query service returns them.

The v1 HTTP API (``/api/traces``, ``/api/services``, ...) wraps data in
``{"data", "total", "limit", "offset", "errors"}`` and uses Jaeger's JSON trace model: spans
with ``references``, typed ``tags``, ``logs``, times in microseconds, and the resources as
``processes``. OTLP spans map to it as the Collector's Jaeger translator maps them: scope as
``otel.scope.*`` tags, kind as ``span.kind``, status as ``otel.status_code`` (and ``error``),
events as logs (their name in an ``event`` field), the parent as a ``CHILD_OF`` reference and
links as ``FOLLOWS_FROM`` references.

The v3 API (``/api/v3/...``) returns OTLP JSON: :func:`otlp_traces` builds ``TracesData``
(ids in hex, 64-bit integers as strings, enums as numbers) and :func:`v3_traces` wraps it in
``{"result": ...}`` as Jaeger's gRPC gateway does.

Every function returns plain data for ``orjson.dumps``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from otlpy.store._anyvalue import json_value_text
from otlpy.store._records import ResourceRecord, SpanRecord, TraceRecord
from otlpy.store._trace_queries import KIND_NAMES, DependencyLink, Operation

__all__ = [
    "dependencies_response",
    "error_response",
    "operation_names_response",
    "operations_response",
    "otlp_traces",
    "response",
    "services_response",
    "span",
    "tag",
    "trace",
    "traces_response",
    "v3_error",
    "v3_operations",
    "v3_services",
    "v3_traces",
]

JSON = dict[str, Any]

# Integers beyond this lose precision in JavaScript; Jaeger sends them as strings.
_JS_MAX_SAFE = 2**53 - 1
_STATUS_NAMES = {1: "OK", 2: "ERROR"}


def response(
    data: Any,
    *,
    total: int = 0,
    limit: int = 0,
    offset: int = 0,
    errors: list[JSON] | None = None,
) -> JSON:
    """The v1 envelope around ``data``."""
    return {"data": data, "total": total, "limit": limit, "offset": offset, "errors": errors}


def error_response(code: int, message: str, *, trace_id: str | None = None) -> JSON:
    """A v1 error body: ``code`` is the HTTP status sent with it."""
    error: JSON = {"code": code, "msg": message}
    if trace_id is not None:
        error["traceID"] = trace_id
    return response(None, errors=[error])


def tag(key: str, value: JSON) -> JSON:
    """A typed Jaeger tag from an OTLP JSON value."""
    if "stringValue" in value:
        return {"key": key, "type": "string", "value": value["stringValue"]}
    if "boolValue" in value:
        return {"key": key, "type": "bool", "value": value["boolValue"]}
    if "intValue" in value:
        number = int(value["intValue"])
        shown: int | str = number if abs(number) <= _JS_MAX_SAFE else str(number)
        return {"key": key, "type": "int64", "value": shown}
    if "doubleValue" in value:
        return {"key": key, "type": "float64", "value": value["doubleValue"]}
    if "bytesValue" in value:
        return {"key": key, "type": "binary", "value": value["bytesValue"]}
    # arrays and maps become their JSON text, as the Collector's translator does
    return {"key": key, "type": "string", "value": json_value_text(value)}


def _tags(attributes: Iterable[JSON], skip: str | None = None) -> list[JSON]:
    return [tag(kv["key"], kv["value"]) for kv in attributes if kv["key"] != skip]


def _string(key: str, value: str) -> JSON:
    return {"key": key, "type": "string", "value": value}


def _span_tags(record: SpanRecord) -> list[JSON]:
    tags = []
    if record["scope"]["name"]:
        tags.append(_string("otel.scope.name", record["scope"]["name"]))
    if record["scope"]["version"]:
        tags.append(_string("otel.scope.version", record["scope"]["version"]))
    tags += _tags(record["attributes"])
    kind = KIND_NAMES.get(record["kind"], "")
    if kind:
        tags.append(_string("span.kind", kind))
    code = record["status"]["code"]
    if code in _STATUS_NAMES:
        tags.append(_string("otel.status_code", _STATUS_NAMES[code]))
    if code == 2:
        tags.append({"key": "error", "type": "bool", "value": True})
    if record["status"]["message"]:
        tags.append(_string("otel.status_description", record["status"]["message"]))
    if record["trace_state"]:
        tags.append(_string("w3c.tracestate", record["trace_state"]))
    return tags


def _references(record: SpanRecord) -> list[JSON]:
    refs = []
    parent = record["parent_span_id"]
    if parent:
        refs.append({"refType": "CHILD_OF", "traceID": record["trace_id"], "spanID": parent})
    for link in record["links"]:
        ref_type = "FOLLOWS_FROM"
        for kv in link["attributes"]:
            if kv["key"] == "opentracing.ref_type":
                if kv["value"].get("stringValue") == "child_of":
                    ref_type = "CHILD_OF"
                break
        if parent and link["trace_id"] == record["trace_id"] and link["span_id"] == parent:
            # the parent again: the link only says what kind of reference it is
            refs[0]["refType"] = ref_type
            continue
        refs.append({"refType": ref_type, "traceID": link["trace_id"], "spanID": link["span_id"]})
    return refs


def _logs(record: SpanRecord) -> list[JSON]:
    logs = []
    for event in record["events"]:
        fields = []
        named = any(kv["key"] == "event" for kv in event["attributes"])
        if event["name"] and not named:
            fields.append(_string("event", event["name"]))
        fields += _tags(event["attributes"])
        logs.append({"timestamp": event["time_unix_nano"] // 1000, "fields": fields})
    return logs


def span(record: SpanRecord, process_id: str) -> JSON:
    """One span in Jaeger's JSON model."""
    out: JSON = {
        "traceID": record["trace_id"],
        "spanID": record["span_id"],
        "operationName": record["name"],
        "references": _references(record),
        "startTime": record["start_time_unix_nano"] // 1000,
        "duration": record["duration_nano"] // 1000,
        "tags": _span_tags(record),
        "logs": _logs(record),
        "processID": process_id,
        "warnings": None,
    }
    if record["flags"]:
        out["flags"] = record["flags"]
    return out


def _process(resource: ResourceRecord, service: str) -> JSON:
    return {"serviceName": service, "tags": _tags(resource["attributes"], skip="service.name")}


def trace(record: TraceRecord) -> JSON:
    """A trace in Jaeger's JSON model: spans and the processes (resources) they point at."""
    processes: dict[str, JSON] = {}
    keys: dict[tuple[int, str], str] = {}
    spans = []
    for item in record["spans"]:
        key = (id(item["resource"]), item["service_name"])
        process_id = keys.get(key)
        if process_id is None:
            process_id = keys[key] = f"p{len(keys) + 1}"
            processes[process_id] = _process(item["resource"], item["service_name"])
        spans.append(span(item, process_id))
    return {"traceID": record["trace_id"], "spans": spans, "processes": processes}


def traces_response(traces: Iterable[TraceRecord], *, errors: list[JSON] | None = None) -> JSON:
    """The body of ``/api/traces`` and ``/api/traces/{id}``."""
    return response([trace(t) for t in traces], errors=errors)


def services_response(services: Sequence[str]) -> JSON:
    """The body of ``/api/services``."""
    return response(list(services), total=len(services))


def operations_response(operations: Sequence[Operation]) -> JSON:
    """The body of ``/api/operations?service=...``: names with span kinds."""
    data = [{"name": op["name"], "spanKind": op["span_kind"]} for op in operations]
    return response(data, total=len(data))


def operation_names_response(operations: Sequence[Operation]) -> JSON:
    """The body of ``/api/services/{service}/operations``: distinct names only."""
    names = sorted({op["name"] for op in operations})
    return response(names, total=len(names))


def dependencies_response(links: Sequence[DependencyLink]) -> JSON:
    """The body of ``/api/dependencies``."""
    return response(
        [{"parent": d["parent"], "child": d["child"], "callCount": d["call_count"]} for d in links]
    )


# -- v3: OTLP JSON ---------------------------------------------------------------------------


def _put(out: JSON, key: str, value: Any) -> None:
    # proto3 JSON leaves out fields holding their default value
    if value:
        out[key] = value


def _otlp_span(record: SpanRecord) -> JSON:
    out: JSON = {"traceId": record["trace_id"], "spanId": record["span_id"]}
    _put(out, "traceState", record["trace_state"])
    _put(out, "parentSpanId", record["parent_span_id"])
    _put(out, "flags", record["flags"])
    out["name"] = record["name"]
    _put(out, "kind", record["kind"])
    out["startTimeUnixNano"] = str(record["start_time_unix_nano"])
    out["endTimeUnixNano"] = str(record["end_time_unix_nano"])
    _put(out, "attributes", record["attributes"])
    _put(out, "droppedAttributesCount", record["dropped_attributes_count"])
    events = []
    for event in record["events"]:
        item: JSON = {"timeUnixNano": str(event["time_unix_nano"]), "name": event["name"]}
        _put(item, "attributes", event["attributes"])
        _put(item, "droppedAttributesCount", event["dropped_attributes_count"])
        events.append(item)
    _put(out, "events", events)
    _put(out, "droppedEventsCount", record["dropped_events_count"])
    links = []
    for link in record["links"]:
        item = {"traceId": link["trace_id"], "spanId": link["span_id"]}
        _put(item, "traceState", link["trace_state"])
        _put(item, "attributes", link["attributes"])
        _put(item, "droppedAttributesCount", link["dropped_attributes_count"])
        _put(item, "flags", link["flags"])
        links.append(item)
    _put(out, "links", links)
    _put(out, "droppedLinksCount", record["dropped_links_count"])
    status: JSON = {}
    _put(status, "message", record["status"]["message"])
    _put(status, "code", record["status"]["code"])
    out["status"] = status
    return out


def otlp_traces(traces: Iterable[TraceRecord]) -> JSON:
    """OTLP JSON ``TracesData`` holding the spans of ``traces``, grouped by resource and
    scope in order of first appearance."""
    resources: dict[tuple[int, str], JSON] = {}
    scopes: dict[tuple[int, str, str, str], list[JSON]] = {}
    for record in traces:
        for item in record["spans"]:
            resource = item["resource"]
            rkey = (id(resource), item["service_name"])
            entry = resources.get(rkey)
            if entry is None:
                body: JSON = {}
                _put(body, "attributes", resource["attributes"])
                _put(body, "droppedAttributesCount", resource["dropped_attributes_count"])
                entry = resources[rkey] = {"resource": body, "scopeSpans": []}
                _put(entry, "schemaUrl", resource["schema_url"])
            scope = item["scope"]
            skey = (*rkey, scope["name"], scope["version"])
            spans = scopes.get(skey)
            if spans is None:
                spans = scopes[skey] = []
                scope_json: JSON = {}
                _put(scope_json, "name", scope["name"])
                _put(scope_json, "version", scope["version"])
                entry["scopeSpans"].append({"scope": scope_json, "spans": spans})
            spans.append(_otlp_span(item))
    return {"resourceSpans": list(resources.values())}


def v3_traces(traces: Iterable[TraceRecord]) -> JSON:
    """The body of ``/api/v3/traces`` and ``/api/v3/traces/{id}``."""
    return {"result": otlp_traces(traces)}


def v3_services(services: Sequence[str]) -> JSON:
    """The body of ``/api/v3/services``."""
    return {"services": list(services)}


def v3_operations(operations: Sequence[Operation]) -> JSON:
    """The body of ``/api/v3/operations``."""
    return {"operations": [{"name": op["name"], "spanKind": op["span_kind"]} for op in operations]}


def v3_error(code: int, message: str) -> JSON:
    """A v3 error body (Jaeger answers ``No traces found`` with 404)."""
    return {"error": {"httpCode": code, "message": message}}
