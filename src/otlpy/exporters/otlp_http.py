"""The ``otlphttp`` exporter: OTLP over HTTP, with the Collector's ``otlphttp`` settings.

One aiohttp session per exporter keeps connections open between requests. Protobuf bodies are
the bytes the batch arrived in (``batch.raw``); ``encoding: json`` sends OTLP JSON. ::

    exporters:
      otlphttp:
        endpoint: https://backend:4318      # /v1/traces, /v1/metrics, /v1/logs are appended
        compression: zstd

Answers are sorted as the OTLP specification says: 429, 502, 503 and 504 are retried (after
``Retry-After`` when the server sends one), other errors are permanent, a connection failure is
retried, and a 200 carrying a ``partial_success`` is a :class:`~otlpy.errors.PartialSuccess`.
"""

from __future__ import annotations

import asyncio
import email.utils
import ssl
import time
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

import aiohttp
import orjson
from google.protobuf.message import DecodeError
from google.rpc import status_pb2  # type: ignore[import-untyped]

from otlpy._version import __version__
from otlpy.component import Factory, Host, Kind, Settings
from otlpy.config.decode import ByteSize, Duration
from otlpy.config.tls import TLSClientConfig
from otlpy.errors import ConfigProblem, PermanentError, RetryableError, ThrottledError
from otlpy.exporterhelper import Exporter, QueueConfig, RetryConfig
from otlpy.exporters._responses import partial_success_from_json, partial_success_from_proto
from otlpy.pdata import Batch, Signal
from otlpy.wire.compression import compress, normalize_encoding
from otlpy.wire.otlp_json import encode_request, protobuf_to_json

__all__ = ["CompressionParams", "OTLPHttpConfig", "OTLPHttpExporter", "factory", "retry_after"]

_CONTENT_TYPES = {"proto": "application/x-protobuf", "json": "application/json"}
_RETRYABLE_STATUS = frozenset({429, 502, 503, 504})
# The response body is read only this far: enough for a status or partial success message.
_MAX_RESPONSE = 64 * 1024
# Bodies at least this large are compressed on a worker thread (zlib and zstd release the GIL).
_OFFLOAD_COMPRESSION = 256 * 1024


@dataclass(frozen=True, kw_only=True)
class CompressionParams:
    """``compression_params``: the codec's level; 0 means the codec's default."""

    level: int = 0


def _check_url(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return f"expected an http:// or https:// URL, got {url!r}"
    if not parts.hostname:
        return f"URL {url!r} has no host"
    try:
        parts.port  # noqa: B018 - reading it validates it
    except ValueError as exc:
        return f"URL {url!r}: {exc}"
    return None


@dataclass(frozen=True, kw_only=True)
class OTLPHttpConfig:
    """The ``otlphttp`` exporter's settings (the Collector's ``confighttp`` client keys).

    ``endpoint`` is the base URL; a per-signal ``*_endpoint`` is used as it is, and wins. It
    defaults to ``http://localhost:4318`` (the OTLP specification's default; the Collector has
    none and requires it).
    """

    endpoint: str = "http://localhost:4318"
    traces_endpoint: str = ""
    metrics_endpoint: str = ""
    logs_endpoint: str = ""
    encoding: Literal["proto", "json"] = "proto"
    compression: str = "gzip"
    compression_params: CompressionParams = field(default_factory=CompressionParams)
    tls: TLSClientConfig = field(default_factory=TLSClientConfig)
    headers: dict[str, str] = field(default_factory=dict)
    timeout: Duration = 30.0
    read_buffer_size: ByteSize = 0
    write_buffer_size: ByteSize = 512 * 1024
    max_conns_per_host: int = 0
    idle_conn_timeout: Duration = 90.0
    disable_keep_alives: bool = False
    proxy_url: str = ""
    retry_on_failure: RetryConfig = field(default_factory=RetryConfig)
    sending_queue: QueueConfig = field(default_factory=QueueConfig)

    def validate(self) -> list[ConfigProblem]:
        problems = []
        if not (
            self.endpoint or self.traces_endpoint or self.metrics_endpoint or self.logs_endpoint
        ):
            problems.append(ConfigProblem("", "at least one endpoint must be specified"))
        for key in ("endpoint", "traces_endpoint", "metrics_endpoint", "logs_endpoint"):
            value = getattr(self, key)
            problem = _check_url(value) if value else None
            if problem:
                problems.append(ConfigProblem(key, problem))
        try:
            normalize_encoding(self.compression)
        except PermanentError:
            problems.append(
                ConfigProblem(
                    "compression",
                    f"unsupported compression {self.compression!r} "
                    "(use gzip, zstd, deflate, zlib or none)",
                )
            )
        if self.proxy_url:
            problem = _check_url(self.proxy_url)
            if problem:
                problems.append(ConfigProblem("proxy_url", problem))
        for key in ("timeout", "idle_conn_timeout"):
            if getattr(self, key) < 0:
                problems.append(ConfigProblem(key, "must not be negative"))
        for key in ("read_buffer_size", "write_buffer_size", "max_conns_per_host"):
            if getattr(self, key) < 0:
                problems.append(ConfigProblem(key, "must not be negative"))
        return problems

    def url(self, signal: Signal) -> str:
        """Where ``signal`` is sent; empty when neither its endpoint nor ``endpoint`` is set."""
        override = getattr(self, f"{signal.value}_endpoint")
        if override:
            return str(override)
        if not self.endpoint:
            return ""
        return self.endpoint.rstrip("/") + f"/v1/{signal.value}"


def retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delay-seconds or an HTTP date."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _json_body(batch: Batch) -> bytes:
    """The batch as OTLP/JSON, read from its protobuf bytes (no message is built for it)."""
    try:
        return protobuf_to_json(batch.signal, batch.raw)
    except PermanentError:
        # only a message built deeper than protobuf's parser accepts gets here with valid data;
        # bytes that are not a request fail in ``batch.message`` with the decoder's own error
        return encode_request(batch.message)


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def _status_message(body: bytes, media_type: str) -> str:
    """The message of an error response: a google.rpc.Status (protobuf or JSON), or text."""
    if not body:
        return ""
    if media_type == "application/x-protobuf":
        status = status_pb2.Status()
        try:
            status.ParseFromString(body)
        except DecodeError:
            return ""
        return str(status.message)
    if media_type == "application/json":
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError:
            return ""
        return str(document.get("message", "")) if isinstance(document, dict) else ""
    return body[:512].decode("utf-8", "replace").strip()


async def _read_limited(response: aiohttp.ClientResponse) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while size < _MAX_RESPONSE:
        chunk = await response.content.read(_MAX_RESPONSE - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


class OTLPHttpExporter:
    """The HTTP client behind the ``otlphttp`` exporter: one session for every signal."""

    def __init__(self, config: OTLPHttpConfig, settings: Settings) -> None:
        self.config = config
        self.settings = settings
        self._session: aiohttp.ClientSession | None = None
        self._urls = {signal: config.url(signal) for signal in Signal}
        name = normalize_encoding(config.compression)
        self._encoding = "" if name == "identity" else name
        self._level = config.compression_params.level or None
        headers = dict(config.headers)
        headers["Content-Type"] = _CONTENT_TYPES[config.encoding]
        headers.setdefault("User-Agent", f"otlpy/{__version__}")
        if self._encoding:
            headers["Content-Encoding"] = self._encoding
        self._headers = headers

    def _ssl(self) -> ssl.SSLContext | bool:
        if not any(url.startswith("https://") for url in self._urls.values()):
            return True  # unused: plain http
        try:
            return self.config.tls.ssl_context()
        except (OSError, ssl.SSLError) as exc:
            raise PermanentError(f"cannot load the TLS settings: {exc}") from exc

    async def start(self, host: Host) -> None:
        """Create the session; connections are opened at the first request."""
        cfg = self.config
        connector = aiohttp.TCPConnector(
            ssl=self._ssl(),
            limit=0,
            limit_per_host=cfg.max_conns_per_host,
            keepalive_timeout=cfg.idle_conn_timeout if not cfg.disable_keep_alives else None,
            force_close=cfg.disable_keep_alives,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=cfg.timeout or None),
            read_bufsize=cfg.read_buffer_size or 2**16,
            auto_decompress=True,
        )

    async def shutdown(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def _body(self, batch: Batch) -> bytes:
        body = _json_body(batch) if self.config.encoding == "json" else batch.raw
        if not self._encoding:
            return body
        if len(body) >= _OFFLOAD_COMPRESSION:
            return await asyncio.to_thread(compress, body, self._encoding, self._level)
        return compress(body, self._encoding, self._level)

    async def push(self, batch: Batch) -> None:
        """Send one batch; raise what the server's answer means for a retry."""
        url = self._urls[batch.signal]
        if not url:
            raise PermanentError(
                f"no endpoint for {batch.signal.value}: set endpoint or "
                f"{batch.signal.value}_endpoint"
            )
        if self._session is None:
            raise RetryableError("the exporter is not started")
        body = await self._body(batch)
        cfg = self.config
        try:
            async with self._session.post(
                url,
                data=body,
                headers=self._headers,
                proxy=cfg.proxy_url or None,
                allow_redirects=False,
                server_hostname=cfg.tls.server_name_override or None,
            ) as response:
                content = await _read_limited(response)
                status = response.status
                media_type = _media_type(response.headers.get("Content-Type"))
                delay = retry_after(response.headers.get("Retry-After"))
        except aiohttp.InvalidURL as exc:
            raise PermanentError(f"invalid URL {url!r}: {exc}") from exc
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise RetryableError(f"cannot send to {url}: {exc or type(exc).__name__}") from exc
        if 200 <= status < 300:
            partial = self._partial(batch.signal, content, media_type)
            if partial is not None:
                raise partial
            return
        detail = _status_message(content, media_type)
        message = f"HTTP {status} from {url}" + (f": {detail}" if detail else "")
        if status == 429 or (status == 503 and delay is not None):
            raise ThrottledError(message, retry_after=delay)
        if status in _RETRYABLE_STATUS:
            raise RetryableError(message, retry_after=delay)
        raise PermanentError(message)

    @staticmethod
    def _partial(signal: Signal, body: bytes, media_type: str) -> Any:
        if media_type == "application/x-protobuf":
            return partial_success_from_proto(signal, body)
        if media_type == "application/json" and body:
            try:
                return partial_success_from_json(signal, orjson.loads(body))
            except orjson.JSONDecodeError:
                return None
        return None


def _create(settings: Settings, config: OTLPHttpConfig) -> Exporter:
    return Exporter.for_client(settings, OTLPHttpExporter(config, settings), config)


factory = Factory(
    type="otlphttp",
    kind=Kind.EXPORTER,
    config=OTLPHttpConfig,
    create=_create,
    aliases=("otlp_http",),
    description="sends OTLP over HTTP (protobuf or JSON) to another collector or a backend",
    stability="beta",
)
