"""Fetch, cache and revalidate Opper's OpenAPI spec.

The spec changes rarely but tools read it often, so: serve from memory within a TTL,
revalidate with the ETag after it, keep a disk copy so a restart while Opper is unreachable
still has a spec to serve, and never let concurrent tool calls fetch it twice.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

import anyio
import anyio.to_thread

from opper_mcp.atomic import write_atomically
from opper_mcp.openapi.errors import SpecParseError
from opper_mcp.opper.errors import OpperError

if TYPE_CHECKING:
    from opper_mcp.openapi.index import SpecIndex
    from opper_mcp.opper.client import OpperClient

log = logging.getLogger(__name__)

SPEC_PATH = "/v3/openapi.yaml"
SPEC_FILE = "openapi.yaml"
META_FILE = "openapi.meta.json"

Source = Literal["network", "revalidated", "memory", "disk-offline"]


@dataclass(frozen=True)
class SpecResponse:
    status: int  # 200 or 304
    text: str | None  # body on 200
    etag: str | None


class SpecFetcher(Protocol):
    async def __call__(self, etag: str | None) -> SpecResponse:
        """GET the spec, conditional on `etag` when given; raises `OpperError` on failure."""
        ...


def spec_fetcher(opper: OpperClient) -> SpecFetcher:
    """The store's seam to the network: a conditional GET of the spec."""

    async def fetch(etag: str | None) -> SpecResponse:
        headers = {"If-None-Match": etag, "Accept": "application/yaml, text/yaml, */*"} if etag else None
        status, text, response_headers = await opper.get_text(SPEC_PATH, headers=headers)
        return SpecResponse(status=status, text=text if status == 200 else None, etag=response_headers.get("etag"))

    return fetch


@dataclass(frozen=True)
class SpecSnapshot:
    index: SpecIndex
    etag: str | None
    fetched_at: datetime  # wall clock (UTC) when this body was downloaded
    source: Source
    stale_reason: str | None = None


@dataclass(frozen=True)
class _Copy:
    index: SpecIndex
    etag: str | None
    fetched_at: datetime


def _utcnow() -> datetime:
    return datetime.now(UTC)


class SpecStore:
    """Memory → ETag revalidation → disk fallback, with a single in-flight fetch.

    Nothing happens at construction: no directory is created and no request is sent until
    `get()` is awaited.
    """

    def __init__(
        self,
        fetch: SpecFetcher,
        cache_dir: Path,
        *,
        ttl_s: float = 300.0,
        retry_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._fetch = fetch
        self._dir = Path(cache_dir)
        self._ttl = ttl_s
        self._retry = min(retry_s, ttl_s)
        self._clock = clock
        self._now = now
        self._lock = anyio.Lock()
        self._copy: _Copy | None = None
        self._disk_tried = False
        self._checked_at: float | None = None
        self._fresh_for = 0.0
        self._stale_reason: str | None = None

    async def get(self) -> SpecSnapshot:
        """The current spec; fetches at most once per TTL (or retry window after a failure)."""
        if self._is_fresh():  # the common case needs no lock: nothing awaits between check and use
            return self._snapshot("memory")
        async with self._lock:
            if self._is_fresh():
                return self._snapshot("memory")
            if self._copy is None and not self._disk_tried:
                self._disk_tried = True
                self._copy = await anyio.to_thread.run_sync(self._load_disk)
            return await self._refresh()

    def _is_fresh(self) -> bool:
        if self._copy is None or self._checked_at is None:
            return False
        return self._clock() - self._checked_at < self._fresh_for

    def _snapshot(self, source: Source) -> SpecSnapshot:
        assert self._copy is not None
        if self._stale_reason is not None:
            source = "disk-offline"
        c = self._copy
        return SpecSnapshot(c.index, c.etag, c.fetched_at, source, self._stale_reason)

    async def _refresh(self) -> SpecSnapshot:
        try:
            response = await self._fetch(self._copy.etag if self._copy else None)
            copy, source = await self._accept(response)
        except OpperError as exc:
            if self._copy is None:
                raise
            self._mark_checked(self._retry)
            self._stale_reason = self._stale_message(exc, self._copy)
            log.warning("serving cached OpenAPI spec: %s", self._stale_reason)
            return self._snapshot("disk-offline")
        self._copy = copy
        self._stale_reason = None
        self._mark_checked(self._ttl)
        return self._snapshot(source)

    def _mark_checked(self, fresh_for: float) -> None:
        self._checked_at = self._clock()
        self._fresh_for = fresh_for

    async def _accept(self, response: SpecResponse) -> tuple[_Copy, Source]:
        """Turn a fetch answer into the copy to keep; bad answers raise `OpperError`."""
        if response.status == 304:
            if self._copy is None:
                raise OpperError("Opper answered 304 Not Modified but no cached spec exists")
            return self._copy, "revalidated"
        if response.status != 200 or response.text is None:
            raise OpperError(f"unexpected answer fetching the OpenAPI spec (HTTP {response.status})")
        text, etag, fetched_at = response.text, response.etag, self._now()
        from opper_mcp.openapi.index import SpecIndex

        index = await anyio.to_thread.run_sync(SpecIndex.build, text)  # ~30 ms on the full spec
        await anyio.to_thread.run_sync(self._write_disk, text, etag, fetched_at)
        return _Copy(index, etag, fetched_at), "network"

    def _stale_message(self, exc: OpperError, copy: _Copy) -> str:
        what = "Opper served an unusable spec" if isinstance(exc, SpecParseError) else "Opper unreachable"
        return f"{what} ({exc}); serving the copy fetched {_describe_time(copy.fetched_at, self._now())}"

    # disk (run in a worker thread)

    def _load_disk(self) -> _Copy | None:
        """The cached copy, or None if absent or unusable (a bad cache is logged, never fatal)."""
        spec_path = self._dir / SPEC_FILE
        try:
            raw = spec_path.read_bytes()
            text = raw.decode("utf-8")
            from opper_mcp.openapi.index import SpecIndex

            index = SpecIndex.build(text)
            mtime = datetime.fromtimestamp(spec_path.stat().st_mtime, UTC)
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError, SpecParseError) as exc:
            log.warning("ignoring unreadable spec cache %s: %s", spec_path, exc)
            return None
        etag, fetched_at = self._load_meta(hashlib.sha256(raw).hexdigest(), mtime)
        return _Copy(index, etag, fetched_at)

    def _load_meta(self, sha256: str, mtime: datetime) -> tuple[str | None, datetime]:
        """ETag and fetch time; without trustworthy metadata the ETag is dropped (full refetch)."""
        meta_path = self._dir / META_FILE
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None, mtime
        except (OSError, ValueError) as exc:
            log.warning("ignoring unreadable spec cache metadata %s: %s", meta_path, exc)
            return None, mtime
        if not isinstance(meta, dict) or meta.get("sha256") != sha256:
            log.warning("spec cache metadata %s does not match the cached spec; ignoring it", meta_path)
            return None, mtime
        etag = meta.get("etag")
        return (etag if isinstance(etag, str) else None), _parse_time(meta.get("fetched_at"), mtime)

    def _write_disk(self, text: str, etag: str | None, fetched_at: datetime) -> None:
        """Spec first, then metadata naming its hash: a torn pair is detected on load."""
        data = text.encode("utf-8")
        meta = {"etag": etag, "fetched_at": fetched_at.isoformat(), "sha256": hashlib.sha256(data).hexdigest()}
        try:
            self._dir.mkdir(parents=True, exist_ok=True)
            write_atomically(self._dir / SPEC_FILE, data)
            write_atomically(self._dir / META_FILE, json.dumps(meta).encode("utf-8"))
        except OSError as exc:
            log.warning("could not write the spec cache in %s: %s", self._dir, exc)


def _parse_time(value: object, fallback: datetime) -> datetime:
    if not isinstance(value, str):
        return fallback
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return fallback
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _describe_time(when: datetime, now: datetime) -> str:
    """E.g. "2025-11-26 12:58 UTC (3 h ago)"."""
    seconds = max(0.0, (now - when).total_seconds())
    if seconds < 120:
        age = f"{int(seconds)} s"
    elif seconds < 7200:
        age = f"{int(seconds // 60)} min"
    elif seconds < 172800:
        age = f"{int(seconds // 3600)} h"
    else:
        age = f"{int(seconds // 86400)} d"
    return f"{when.astimezone(UTC):%Y-%m-%d %H:%M} UTC ({age} ago)"
