"""SpecStore: TTL, ETag revalidation, disk cache, offline fallback, single flight.

The store's seam is the fetch callable; `FakeFetcher` stands in for the HTTP layer.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import anyio
import pytest

from opper_mcp.openapi.store import META_FILE, SPEC_FILE, SpecResponse, SpecSnapshot, SpecStore
from opper_mcp.opper.errors import OpperConnectionError, OpperError

pytestmark = pytest.mark.anyio

SPEC_V1 = "openapi: 3.1.0\npaths:\n  /v1/a:\n    get:\n      operationId: getA\n"
SPEC_V2 = SPEC_V1 + "  /v1/b:\n    get:\n      operationId: getB\n"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class FakeFetcher:
    """Answers from a script of responses/exceptions; records the ETag of each call."""

    def __init__(self, *script: SpecResponse | OpperError, delay: float = 0.0) -> None:
        self.script = list(script)
        self.etags: list[str | None] = []
        self.delay = delay

    @property
    def calls(self) -> int:
        return len(self.etags)

    async def __call__(self, etag: str | None) -> SpecResponse:
        self.etags.append(etag)
        if self.delay:
            await anyio.sleep(self.delay)
        step = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if isinstance(step, OpperError):
            raise step
        return step


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def ok(text: str = SPEC_V1, etag: str | None = '"v1"') -> SpecResponse:
    return SpecResponse(200, text, etag)


NOT_MODIFIED = SpecResponse(304, None, '"v1"')
DOWN = OpperConnectionError("could not connect to https://api.opper.ai", hint="check your network")
T0 = datetime(2025, 1, 2, 3, 4, tzinfo=UTC)


def make(fetch: FakeFetcher, cache: Path, clock: Clock | None = None, **kw: object) -> SpecStore:
    now: Callable[[], datetime] = lambda: T0  # noqa: E731
    return SpecStore(fetch, cache, clock=clock or Clock(), now=now, **kw)  # type: ignore[arg-type]


def op_ids(snap: SpecSnapshot) -> list[str | None]:
    return [op.operation_id for op in snap.index.operations]


async def test_nothing_happens_before_get(tmp_path: Path) -> None:
    fetch = FakeFetcher(ok())
    make(fetch, tmp_path / "deep" / "cache")
    assert fetch.calls == 0
    assert not (tmp_path / "deep").exists()


async def test_first_get_fetches_and_writes_cache(tmp_path: Path) -> None:
    cache = tmp_path / "deep" / "cache"
    fetch = FakeFetcher(ok())
    snap = await make(fetch, cache).get()
    assert (snap.source, snap.etag, snap.fetched_at, snap.stale_reason) == ("network", '"v1"', T0, None)
    assert op_ids(snap) == ["getA"]
    assert fetch.etags == [None]
    assert (cache / SPEC_FILE).read_text(encoding="utf-8") == SPEC_V1
    meta = json.loads((cache / META_FILE).read_text(encoding="utf-8"))
    assert meta["etag"] == '"v1"' and meta["fetched_at"] == T0.isoformat()
    assert [p.name for p in cache.iterdir() if p.name.endswith(".tmp")] == []


async def test_memory_within_ttl(tmp_path: Path) -> None:
    clock, fetch = Clock(), FakeFetcher(ok())
    store = make(fetch, tmp_path, clock)
    first = await store.get()
    clock.t += 299
    second = await store.get()
    assert second.source == "memory" and second.index is first.index
    assert fetch.calls == 1


async def test_after_ttl_revalidates_with_etag(tmp_path: Path) -> None:
    clock, fetch = Clock(), FakeFetcher(ok(), NOT_MODIFIED)
    store = make(fetch, tmp_path, clock)
    first = await store.get()
    clock.t += 301
    second = await store.get()
    assert second.source == "revalidated" and second.index is first.index
    assert fetch.etags == [None, '"v1"']
    clock.t += 10
    assert (await store.get()).source == "memory"


async def test_after_ttl_new_body_replaces_copy_and_cache(tmp_path: Path) -> None:
    clock, fetch = Clock(), FakeFetcher(ok(), ok(SPEC_V2, '"v2"'))
    store = make(fetch, tmp_path, clock)
    await store.get()
    clock.t += 301
    snap = await store.get()
    assert (snap.source, snap.etag, op_ids(snap)) == ("network", '"v2"', ["getA", "getB"])
    assert (tmp_path / SPEC_FILE).read_text(encoding="utf-8") == SPEC_V2


async def test_restart_offline_serves_disk_copy(tmp_path: Path) -> None:
    await make(FakeFetcher(ok()), tmp_path).get()
    fetch = FakeFetcher(DOWN)
    snap = await make(fetch, tmp_path).get()  # a new instance: simulated restart
    assert snap.source == "disk-offline" and op_ids(snap) == ["getA"]
    assert fetch.etags == ['"v1"']
    assert snap.stale_reason == (
        "Opper unreachable (could not connect to https://api.opper.ai — check your network); "
        "serving the copy fetched 2025-01-02 03:04 UTC (0 s ago)"
    )


async def test_restart_revalidates_disk_copy(tmp_path: Path) -> None:
    await make(FakeFetcher(ok()), tmp_path).get()
    fetch = FakeFetcher(NOT_MODIFIED)
    snap = await make(fetch, tmp_path).get()
    assert (snap.source, snap.etag, fetch.etags) == ("revalidated", '"v1"', ['"v1"'])


async def test_failures_back_off_then_recover(tmp_path: Path) -> None:
    clock, fetch = Clock(), FakeFetcher(ok(), DOWN, DOWN, NOT_MODIFIED)
    store = make(fetch, tmp_path, clock)
    await store.get()
    clock.t += 301
    assert (await store.get()).source == "disk-offline"
    clock.t += 29
    again = await store.get()
    assert again.source == "disk-offline" and again.stale_reason is not None
    assert fetch.calls == 2  # no hammering within the retry window
    clock.t += 2
    assert (await store.get()).source == "disk-offline"
    assert fetch.calls == 3
    clock.t += 31
    recovered = await store.get()
    assert (recovered.source, recovered.stale_reason, fetch.calls) == ("revalidated", None, 4)


async def test_offline_without_cache_raises(tmp_path: Path) -> None:
    fetch = FakeFetcher(DOWN)
    store = make(fetch, tmp_path)
    with pytest.raises(OpperConnectionError):
        await store.get()
    with pytest.raises(OpperConnectionError):
        await store.get()
    assert fetch.calls == 2  # nothing to serve, so every call tries again


async def test_concurrent_gets_fetch_once(tmp_path: Path) -> None:
    fetch = FakeFetcher(ok(), delay=0.05)
    store = make(fetch, tmp_path)
    results: list[SpecSnapshot] = []

    async def one() -> None:
        results.append(await store.get())

    async with anyio.create_task_group() as tg:
        for _ in range(8):
            tg.start_soon(one)
    assert fetch.calls == 1
    assert len({id(r.index) for r in results}) == 1
    assert sorted(r.source for r in results) == ["memory"] * 7 + ["network"]


@pytest.mark.parametrize("garbage", [b"paths: [unclosed\n", b"\xff\xfe\x00not utf-8", b"<html>oops</html>"])
async def test_corrupt_cache_is_ignored(tmp_path: Path, garbage: bytes, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / SPEC_FILE).write_bytes(garbage)
    (tmp_path / META_FILE).write_text('{"etag": "\\"old\\""}', encoding="utf-8")
    fetch = FakeFetcher(ok())
    with caplog.at_level(logging.WARNING, logger="opper_mcp.openapi.store"):
        snap = await make(fetch, tmp_path).get()
    assert snap.source == "network" and fetch.etags == [None]
    assert "ignoring unreadable spec cache" in caplog.text
    assert (tmp_path / SPEC_FILE).read_text(encoding="utf-8") == SPEC_V1  # repaired


async def test_corrupt_cache_offline_raises(tmp_path: Path) -> None:
    (tmp_path / SPEC_FILE).write_text("paths: [unclosed\n", encoding="utf-8")
    with pytest.raises(OpperConnectionError):
        await make(FakeFetcher(DOWN), tmp_path).get()


@pytest.mark.parametrize("meta", ["{not json", '{"etag": "\\"v1\\"", "sha256": "mismatch"}', "[]"])
async def test_untrusted_metadata_drops_etag_keeps_copy(tmp_path: Path, meta: str) -> None:
    (tmp_path / SPEC_FILE).write_text(SPEC_V1, encoding="utf-8")
    (tmp_path / META_FILE).write_text(meta, encoding="utf-8")
    fetch = FakeFetcher(DOWN)
    snap = await make(fetch, tmp_path).get()
    assert snap.source == "disk-offline" and snap.etag is None
    assert fetch.etags == [None]


async def test_unusable_body_falls_back_to_copy(tmp_path: Path) -> None:
    clock, fetch = Clock(), FakeFetcher(ok(), ok("<html>maintenance</html>", '"x"'))
    store = make(fetch, tmp_path, clock)
    await store.get()
    clock.t += 301
    snap = await store.get()
    assert snap.source == "disk-offline" and op_ids(snap) == ["getA"]
    assert snap.stale_reason is not None and snap.stale_reason.startswith("Opper served an unusable spec")
    assert (tmp_path / SPEC_FILE).read_text(encoding="utf-8") == SPEC_V1  # cache not overwritten


async def test_unusable_body_without_copy_raises(tmp_path: Path) -> None:
    with pytest.raises(OpperError, match="not an OpenAPI document"):
        await make(FakeFetcher(ok("just text")), tmp_path).get()
    assert not (tmp_path / SPEC_FILE).exists()


async def test_unwritable_cache_dir_is_not_fatal(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="opper_mcp.openapi.store"):
        snap = await make(FakeFetcher(ok()), blocker / "cache").get()
    assert snap.source == "network"
    assert "could not write the spec cache" in caplog.text
