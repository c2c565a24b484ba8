"""OpperClient: one shared httpx2 connection pool, auth, retries, error mapping, SSE streams.

Knows nothing about MCP. Tools hold an `OpperClient`; in pass-through HTTP mode each caller
gets `client.with_key(their_key)`, a view that shares the pool but never the process key.
"""

from __future__ import annotations

import contextlib
import email.utils
import hashlib
import json
import logging
import random
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import anyio
import httpx2
from pydantic import SecretStr

from opper_mcp import __version__
from opper_mcp.opper.errors import (
    MAX_BODY_CHARS,
    MissingKeyError,
    OpperAPIError,
    OpperConnectionError,
    OpperError,
    OpperTimeoutError,
    api_error,
    describe_body,
    redact,
)

log = logging.getLogger(__name__)

RETRY_STATUSES_GET = frozenset({429, 502, 503, 504})
# A POST answered with these was refused before any work was done, so re-sending is safe.
RETRY_STATUSES_POST = frozenset({429, 503})
MAX_RETRY_AFTER_S = 30.0
# After `[DONE]`, how long to wait for the end of the body so the connection can go back to the pool.
DRAIN_AFTER_DONE_S = 0.25


class UpstreamObserver(Protocol):
    """Told of each answer from Opper (`response("200")`, `"error"` for none) and each stream opened (+1) or
    closed (-1): what the metrics count. Must be quick and never raise."""

    def response(self, status: str) -> None: ...
    def stream(self, delta: int) -> None: ...


@dataclass(frozen=True)
class ClientConfig:
    base_url: str
    timeout_s: float = 120.0
    connect_timeout_s: float = 10.0
    max_retries: int = 3
    backoff_base_s: float = 0.5
    observer: UpstreamObserver | None = None


class _Pool:
    """The lazily created `httpx2.AsyncClient` shared by every key view."""

    def __init__(self, config: ClientConfig) -> None:
        self.config = config
        self._client: httpx2.AsyncClient | None = None

    def get(self) -> httpx2.AsyncClient:
        if self._client is None:
            cfg = self.config
            self._client = httpx2.AsyncClient(
                base_url=cfg.base_url,
                timeout=httpx2.Timeout(cfg.timeout_s, connect=cfg.connect_timeout_s),
                headers={"User-Agent": f"opper-mcp/{__version__}", "Accept": "application/json"},
                limits=httpx2.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=30),
                follow_redirects=True,  # Opper answers legacy /v3/beta/tools/* with a 307
            )
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()


@dataclass
class ApiResponse:
    data: Any
    headers: httpx2.Headers
    status: int


class SSEStream:
    """Parsed JSON events of one SSE response; `[DONE]` ends it."""

    def __init__(self, response: httpx2.Response, secrets: list[str]) -> None:
        self.response = response
        self.headers = response.headers
        self._secrets = secrets

    async def events(self) -> AsyncIterator[dict[str, Any]]:
        content_type = self.headers.get("content-type", "")
        try:
            if "text/event-stream" not in content_type:
                # Some gateways ignore `stream: true`; treat a plain JSON body as one event.
                body = await self.response.aread()
                yield _json_object(body.decode("utf-8", "replace"), self.response.status_code)
                return
            sse_events = aiter(httpx2.EventSource(self.response))
            async for sse in sse_events:
                # Error chunks can echo request text; never let the key through (as for error bodies).
                data = redact(sse.data.strip(), self._secrets)
                if not data:
                    continue
                if data == "[DONE]":
                    await _drain(sse_events)
                    return
                try:
                    event = json.loads(data)
                except ValueError:
                    log.debug("skipping non-JSON SSE data: %s", describe_body(data))
                    continue
                if isinstance(event, dict):
                    yield event
        except httpx2.TimeoutException as exc:
            raise OpperTimeoutError(
                "Opper stopped sending data mid-stream (read timeout)", hint="retry, or raise --timeout"
            ) from exc
        except httpx2.TransportError as exc:
            raise OpperConnectionError(
                redact(f"the stream from Opper was cut off: {exc or type(exc).__name__}", self._secrets),
                hint="retry the call",
            ) from exc


async def _drain(rest: AsyncIterator[Any]) -> None:
    """Read the body to its end, briefly: only a fully read response returns its connection to the pool.

    Servers often end the chunked body in a write of its own after `[DONE]`. If that end does not come
    in time, the caller's `aclose()` closes the connection instead: never worse than not draining.
    """
    with anyio.move_on_after(DRAIN_AFTER_DONE_S), contextlib.suppress(httpx2.HTTPError):
        async for _ in rest:  # the answer is complete: whatever follows `[DONE]` is ignored
            pass


async def _read_error_body(response: httpx2.Response) -> str:
    """The start of an error body: enough to say what it is, bounded however much a proxy sends."""
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in response.aiter_bytes():
            chunks.append(chunk)
            size += len(chunk)
            if size >= MAX_BODY_CHARS:
                break
    except httpx2.TransportError:
        pass  # a status line and part of a body still make an error worth reporting
    finally:
        await response.aclose()
    return b"".join(chunks)[:MAX_BODY_CHARS].decode("utf-8", "replace")


def _json_object(text: str, status: int) -> Any:
    try:
        return json.loads(text) if text.strip() else None
    except ValueError:
        raise OpperError(
            f"Opper answered HTTP {status} with {describe_body(text)}, not JSON",
            hint="this is usually a proxy or outage page; retry shortly",
        ) from None


def retry_after_seconds(value: str | None) -> float | None:
    """Parse a Retry-After header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class OpperClient:
    """Typed-agnostic REST access: JSON requests and SSE streams with retries and clean errors."""

    def __init__(
        self,
        config: ClientConfig,
        api_key: SecretStr | None = None,
        *,
        key_source: str = "OPPER_API_KEY",
        _pool: _Pool | None = None,
    ):
        self.config = config
        self.api_key = api_key
        self.key_source = key_source  # named in the hint when Opper rejects the key
        self._pool = _pool or _Pool(config)

    def with_key(self, api_key: SecretStr | None, *, key_source: str | None = None) -> OpperClient:
        """A view on the same connection pool that authenticates with another key."""
        return OpperClient(self.config, api_key, key_source=key_source or self.key_source, _pool=self._pool)

    @property
    def key_fingerprint(self) -> str:
        """A short one-way id of the key: separates callers' caches and conversations, reveals nothing."""
        secret = self.api_key.get_secret_value() if self.api_key else ""
        return hashlib.sha256(b"opper-mcp:" + secret.encode()).hexdigest()[:16] if secret else "anonymous"

    @property
    def has_key(self) -> bool:
        return self.api_key is not None and bool(self.api_key.get_secret_value())

    async def aclose(self) -> None:
        await self._pool.aclose()

    # ---- plumbing -------------------------------------------------------------------------

    def _secrets(self) -> list[str]:
        return [self.api_key.get_secret_value()] if self.api_key is not None else []

    def _headers(self, extra: Mapping[str, str] | None, *, auth: bool, required: bool) -> dict[str, str]:
        headers = dict(extra or {})
        if auth and self.has_key:
            assert self.api_key is not None
            headers["Authorization"] = f"Bearer {self.api_key.get_secret_value()}"
        elif auth and required:
            raise MissingKeyError(
                "this tool needs an Opper API key and none is set",
                hint="set OPPER_API_KEY in the MCP server's environment (get a key at https://platform.opper.ai)",
            )
        return headers

    def _transport_failure(
        self, exc: httpx2.TransportError, method: str, path: str, attempt: int
    ) -> tuple[bool, OpperError]:
        """Whether re-sending is safe, and the error to raise if it is not retried."""
        name = type(exc).__name__
        if isinstance(exc, httpx2.ConnectError | httpx2.ConnectTimeout | httpx2.PoolTimeout):
            # Never reached Opper: safe to retry for every method.
            return True, OpperConnectionError(
                f"cannot reach Opper at {self.config.base_url} ({name}) after {attempt + 1} attempt(s)",
                hint="check the network and OPPER_BASE_URL",
            )
        # Otherwise the request may have reached Opper: only idempotent GETs are re-sent.
        if isinstance(exc, httpx2.TimeoutException):
            return method == "GET", OpperTimeoutError(
                f"Opper did not answer {method} {path} within {self.config.timeout_s:g} s",
                hint="retry, or raise the timeout with --timeout / OPPER_MCP_TIMEOUT",
            )
        return method == "GET", OpperConnectionError(
            redact(f"connection to Opper failed during {method} {path}: {name}", self._secrets()),
            hint="retry the call" if method == "GET" else
            "the request may or may not have been processed; check list_traces before retrying",
        )

    def _may_retry(self, method: str, attempt: int) -> bool:
        return attempt < self.config.max_retries

    async def _backoff(self, attempt: int, retry_after: float | None) -> None:
        if retry_after is not None:
            delay = min(retry_after, MAX_RETRY_AFTER_S)
        else:
            delay = self.config.backoff_base_s * (2**attempt)
            delay += random.uniform(0, delay / 2)
        await anyio.sleep(delay)

    async def _send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None,
        json_body: Any,
        headers: dict[str, str],
        stream: bool,
    ) -> httpx2.Response:
        """Send with bounded retries; returns a response with a success status (or raises)."""
        client = self._pool.get()
        retry_statuses = RETRY_STATUSES_GET if method == "GET" else RETRY_STATUSES_POST
        attempt = 0
        while True:
            try:
                request = client.build_request(method, path, params=params, json=json_body, headers=headers)
            except httpx2.InvalidURL as exc:  # e.g. a query string past the URL length limit
                raise OpperError(f"the request to {path} could not be made: {exc}", hint="shorten the arguments") \
                    from exc
            observer = self.config.observer
            try:
                response = await client.send(request, stream=stream)
            except httpx2.TransportError as exc:
                if observer is not None:
                    observer.response("error")
                safe, error = self._transport_failure(exc, method, path, attempt)
                if safe and self._may_retry(method, attempt):
                    log.info("%s %s: %s, retrying (%d)", method, path, type(exc).__name__, attempt + 1)
                    await self._backoff(attempt, None)
                    attempt += 1
                    continue
                raise error from exc

            status = response.status_code
            if observer is not None:
                observer.response(str(status))
            if status < 400:
                return response
            body = await _read_error_body(response)
            if status in retry_statuses and self._may_retry(method, attempt):
                delay = retry_after_seconds(response.headers.get("retry-after"))
                log.info("%s %s: HTTP %d, retrying (%d)", method, path, status, attempt + 1)
                await self._backoff(attempt, delay)
                attempt += 1
                continue
            error = api_error(status, redact(body, self._secrets()))
            if status == 401 and self.key_source != "OPPER_API_KEY":
                error.hint = f"Opper rejected {self.key_source}"
            if status in retry_statuses and attempt:
                error.hint = f"still HTTP {status} after {attempt} retr{'y' if attempt == 1 else 'ies'}; " + (
                    error.hint or "try again later"
                )
            raise error

    # ---- public ---------------------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
        auth: bool = True,
        auth_required: bool = True,
    ) -> ApiResponse:
        """One JSON request. `auth_required=False` sends the key if there is one (public endpoints)."""
        hdrs = self._headers(headers, auth=auth, required=auth_required)
        response = await self._send(method, path, params=params, json_body=json_body, headers=hdrs, stream=False)
        return ApiResponse(_json_object(response.text, response.status_code), response.headers, response.status_code)

    async def get_text(
        self, path: str, *, headers: Mapping[str, str] | None = None
    ) -> tuple[int, str, httpx2.Headers]:
        """GET a text document (the spec); 304 is returned, not raised."""
        hdrs = self._headers(headers, auth=False, required=False)
        response = await self._send("GET", path, params=None, json_body=None, headers=hdrs, stream=False)
        return response.status_code, response.text, response.headers

    @asynccontextmanager
    async def stream(
        self, path: str, json_body: Any, *, headers: Mapping[str, str] | None = None
    ) -> AsyncIterator[SSEStream]:
        """POST with `stream: true`; closing the context closes the upstream connection at once."""
        hdrs = self._headers(headers, auth=True, required=True)
        hdrs["Accept"] = "text/event-stream"
        response = await self._send("POST", path, params=None, json_body=json_body, headers=hdrs, stream=True)
        observer = self.config.observer
        if observer is not None:
            observer.stream(1)
        try:
            yield SSEStream(response, self._secrets())
        finally:
            if observer is not None:
                observer.stream(-1)
            with anyio.CancelScope(shield=True):
                await response.aclose()


__all__ = ["ApiResponse", "ClientConfig", "OpperAPIError", "OpperClient", "SSEStream"]
