"""The conversation store contract, one suite run against SQLite, a real Redis and a real PostgreSQL (each also
over TLS).

What chat relies on: appends never lose a turn (also from two store instances at once, as two replicas
would be), another owner's id reads exactly like a missing one everywhere, and the age, count and size
bounds hold. The server backends must also fail clearly when down and recover without a restart.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import anyio
import pytest

from opper_mcp.store import Bounds, ConversationStore, StoreUnavailable, UnknownConversation, open_store
from opper_mcp.store.base import Charge, size_of
from tests.services import PostgresService, RedisService

pytestmark = pytest.mark.anyio

T = TypeVar("T")
ALICE = "owner-alice"
BOB = "owner-bob"
BACKENDS = ("sqlite", "redis", "rediss", "postgres", "postgres_tls")  # TLS ones: a private CA, verified


def turn(role: str, text: str) -> dict[str, Any]:
    return {"role": role, "content": text}


@dataclass
class Backend:
    """Makes store instances of one backend, all on the same data, and closes them at the end."""

    name: str
    url: str
    service: RedisService | PostgresService | None
    made: list[ConversationStore] = field(default_factory=list)

    def store(self, bounds: Bounds | None = None, **options: Any) -> ConversationStore:
        if options:  # backend-specific knobs (timeouts, sweep interval)
            store: ConversationStore
            if self.name.startswith("postgres"):
                from opper_mcp.store.postgres import PostgresConversationStore

                store = PostgresConversationStore(self.url, bounds, **options)
            else:
                from opper_mcp.store.redis import RedisConversationStore

                store = RedisConversationStore(self.url, bounds, **options)
        else:
            store = open_store(self.url, Path("/nonexistent"), bounds)
        self.made.append(store)
        return store

    def raw_count(self) -> int:
        """Conversations physically present, expired or not: proves a bound deletes, not just hides."""
        if self.name == "sqlite":
            with sqlite3.connect(self.url.removeprefix("sqlite://")) as db:
                return int(db.execute("SELECT count(*) FROM conversations").fetchone()[0])
        if self.name in ("redis", "rediss"):
            assert isinstance(self.service, RedisService)
            with self.service.client() as c:
                return len([k for k in c.keys("opper-mcp:conv:*") if not k.endswith(b":turns")])
        import psycopg

        with psycopg.connect(self.url) as conn:
            row = conn.execute("SELECT count(*) FROM opper_mcp_conversations").fetchone()
            assert row is not None
            return int(row[0])


@pytest.fixture(params=BACKENDS)
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    name = str(request.param)
    if name == "sqlite":
        b = Backend(name, f"sqlite://{tmp_path / 'c.sqlite3'}", None)
    else:
        url = request.getfixturevalue(f"{name}_url")
        b = Backend(name, url, request.getfixturevalue(f"{name}_service"))
    yield b
    for store in b.made:
        await store.aclose()


@pytest.fixture
def store(backend: Backend) -> ConversationStore:
    return backend.store()


# ---- create, append, load ------------------------------------------------------------------


async def test_create_append_load(store: ConversationStore) -> None:
    cid = await store.create(ALICE, "openai/gpt-5", "hello there")
    assert re.fullmatch(r"conv_[A-Za-z0-9_-]{8,64}", cid)
    assert await store.load(cid, ALICE) == []
    first = [turn("user", "héllo ✓"), {"role": "user", "content": [{"type": "text", "text": "parts"}], "name": "ada"},
             turn("assistant", "hi")]
    await store.append(cid, ALICE, first, system="Be brief.")
    assert await store.load(cid, ALICE) == [turn("system", "Be brief."), *first]
    await store.append(cid, ALICE, [turn("user", "more"), turn("assistant", "sure")])
    assert await store.load(cid, ALICE) == [turn("system", "Be brief."), *first, turn("user", "more"),
                                            turn("assistant", "sure")]
    # a new system prompt replaces the old one and stays first
    await store.append(cid, ALICE, [turn("user", "q3")], system="Be verbose.")
    loaded = await store.load(cid, ALICE)
    assert loaded[0] == turn("system", "Be verbose.")
    assert [m for m in loaded if m["role"] == "system"] == [turn("system", "Be verbose.")]
    assert loaded[-1] == turn("user", "q3")


async def test_ids_are_unique(store: ConversationStore) -> None:
    ids = {await store.create(ALICE, "m", f"p{i}") for i in range(20)}
    assert len(ids) == 20


async def test_unknown_ids_read_as_missing(store: ConversationStore) -> None:
    with pytest.raises(UnknownConversation):
        await store.load("conv_doesnotexist1", ALICE)
    with pytest.raises(UnknownConversation):
        await store.append("conv_doesnotexist1", ALICE, [turn("user", "x")])
    assert await store.delete("conv_doesnotexist1", ALICE) is False


async def test_a_second_instance_sees_the_same_data(backend: Backend) -> None:
    a, b = backend.store(), backend.store()
    cid = await a.create(ALICE, "m", "from a")
    await a.append(cid, ALICE, [turn("user", "from a")])
    assert await b.load(cid, ALICE) == [turn("user", "from a")]
    assert [c.id for c in await b.list(ALICE, 10)] == [cid]


# ---- list, delete --------------------------------------------------------------------------


async def test_list_shows_an_owners_threads_newest_first(store: ConversationStore) -> None:
    before = datetime.now(UTC) - timedelta(seconds=2)
    long_prompt = "Explain   the\nplan " + "in great detail " * 20
    first = await store.create(ALICE, "anthropic/claude-sonnet-4-6", long_prompt)
    await store.append(first, ALICE, [turn("user", long_prompt), turn("assistant", "ok")], system="sys")
    await anyio.sleep(0.01)
    second = await store.create(ALICE, "openai/gpt-5", "short one")
    await store.append(second, ALICE, [turn("user", "short one"), turn("assistant", "a")])
    await anyio.sleep(0.01)
    await store.append(first, ALICE, [turn("user", "again"), turn("assistant", "b")])  # now the newest

    listed = await store.list(ALICE, 10)
    assert [c.id for c in listed] == [first, second]
    top = listed[0]
    assert top.model == "anthropic/claude-sonnet-4-6"
    assert top.first_prompt.startswith("Explain the plan in great detail") and top.first_prompt.endswith("…")
    assert len(top.first_prompt) <= 80 and "\n" not in top.first_prompt
    assert top.turns == 4  # the system prompt is not a turn
    assert listed[1].first_prompt == "short one" and listed[1].turns == 2
    assert before < listed[1].updated <= listed[0].updated <= datetime.now(UTC) + timedelta(seconds=2)
    assert [c.id for c in await store.list(ALICE, 1)] == [first]


async def test_delete(store: ConversationStore) -> None:
    keep = await store.create(ALICE, "m", "keep")
    gone = await store.create(ALICE, "m", "gone")
    await store.append(gone, ALICE, [turn("user", "x")])
    assert await store.delete(gone, ALICE) is True
    with pytest.raises(UnknownConversation):
        await store.load(gone, ALICE)
    with pytest.raises(UnknownConversation):
        await store.append(gone, ALICE, [turn("user", "y")])
    assert [c.id for c in await store.list(ALICE, 10)] == [keep]
    assert await store.delete(gone, ALICE) is False


async def test_another_owner_reads_like_missing_everywhere(store: ConversationStore) -> None:
    cid = await store.create(ALICE, "m", "secret plan")
    await store.append(cid, ALICE, [turn("user", "secret plan")])
    for conversation_id in (cid, "conv_doesnotexist1"):
        with pytest.raises(UnknownConversation) as load_error:
            await store.load(conversation_id, BOB)
        assert str(load_error.value) == conversation_id
        with pytest.raises(UnknownConversation):
            await store.append(conversation_id, BOB, [turn("user", "hijack")], system="evil")
        assert await store.delete(conversation_id, BOB) is False
    assert await store.list(BOB, 10) == []
    # nothing of Bob's reached Alice's thread
    assert await store.load(cid, ALICE) == [turn("user", "secret plan")]
    assert [c.turns for c in await store.list(ALICE, 10)] == [1]


# ---- concurrency ---------------------------------------------------------------------------


async def test_concurrent_appends_from_two_instances_lose_nothing(backend: Backend) -> None:
    """Two replicas continuing one thread at once: every turn kept, each replica's in its own order."""
    replicas = [backend.store(), backend.store()]
    cid = await replicas[0].create(ALICE, "m", "race")
    rounds, writers = 25, 3  # per replica: `writers` tasks, each appending `rounds` exchanges in sequence

    async def writer(store: ConversationStore, tag: str) -> None:
        for n in range(rounds):
            await store.append(cid, ALICE, [turn("user", f"{tag} q{n}"), turn("assistant", f"{tag} a{n}")])

    async with anyio.create_task_group() as tg:
        for r, store in enumerate(replicas):
            for w in range(writers):
                tg.start_soon(writer, store, f"r{r}w{w}")

    loaded = await replicas[1].load(cid, ALICE)
    assert len(loaded) == 2 * rounds * writers * len(replicas)
    texts = [m["content"] for m in loaded]
    for r in range(len(replicas)):
        for w in range(writers):
            tag = f"r{r}w{w}"
            mine = [t for t in texts if t.startswith(tag + " ")]
            assert mine == [x for n in range(rounds) for x in (f"{tag} q{n}", f"{tag} a{n}")], tag
    # each exchange stayed together: an append is atomic
    for i in range(0, len(texts), 2):
        assert texts[i].replace(" q", " a", 1) == texts[i + 1]
    assert [c.turns for c in await replicas[0].list(ALICE, 5)] == [len(loaded)]


# ---- bounds --------------------------------------------------------------------------------


async def test_age_bound(backend: Backend) -> None:
    options = {"sweep_interval_s": 0.0} if backend.name.startswith("postgres") else {}
    store = backend.store(Bounds(max_age_s=1.0), **options)
    idle = await store.create(ALICE, "m", "idle")
    busy = await store.create(ALICE, "m", "busy")
    await anyio.sleep(0.6)
    await store.append(busy, ALICE, [turn("user", "still here")])  # a write restarts the clock
    await anyio.sleep(0.6)
    with pytest.raises(UnknownConversation):
        await store.load(idle, ALICE)
    assert await store.load(busy, ALICE) == [turn("user", "still here")]
    assert [c.id for c in await store.list(ALICE, 10)] == [busy]
    assert await store.delete(idle, ALICE) is False
    await anyio.sleep(1.1)
    with pytest.raises(UnknownConversation):
        await store.load(busy, ALICE)
    assert await store.list(ALICE, 10) == []
    await store.create(BOB, "m", "a write sweeps what expired")
    assert backend.raw_count() == 1


async def test_count_bound_is_per_owner(backend: Backend) -> None:
    store = backend.store(Bounds(max_conversations=3))
    bobs = await store.create(BOB, "m", "bob's only")
    ids = []
    for i in range(5):
        ids.append(await store.create(ALICE, "m", f"alice {i}"))
        await anyio.sleep(0.01)  # distinct update stamps
    assert [c.id for c in await store.list(ALICE, 10)] == ids[:1:-1]
    for old in ids[:2]:
        with pytest.raises(UnknownConversation):
            await store.load(old, ALICE)
    assert await store.load(bobs, BOB) == []
    # a write refreshes a thread, so the next eviction spares it
    await store.append(ids[2], ALICE, [turn("user", "still here")])
    await anyio.sleep(0.01)
    newest = await store.create(ALICE, "m", "newest")
    assert {c.id for c in await store.list(ALICE, 10)} == {ids[2], ids[4], newest}
    assert backend.raw_count() == 4


async def test_size_bound_drops_the_oldest_turns(backend: Backend) -> None:
    limit = 2_000
    store = backend.store(Bounds(max_chars=limit))
    cid = await store.create(ALICE, "m", "long")
    history = [turn("user" if i % 2 == 0 else "assistant", f"turn {i} " + "x" * 200) for i in range(30)]
    for i in range(0, len(history), 2):
        await store.append(cid, ALICE, history[i : i + 2], system="You are terse.")
    loaded = await store.load(cid, ALICE)
    assert loaded[0] == turn("system", "You are terse.")
    tail = loaded[1:]
    assert tail == history[len(history) - len(tail) :]  # a contiguous, newest tail
    assert sum(size_of(m) for m in loaded) <= limit
    assert sum(size_of(m) for m in loaded) > limit - 2 * size_of(history[-1]) - size_of(loaded[0])
    assert [c.turns for c in await store.list(ALICE, 1)] == [len(tail)]
    # one turn larger than the bound on its own is still kept: the newest always stays
    big = turn("user", "y" * (2 * limit))
    await store.append(cid, ALICE, [big])
    assert (await store.load(cid, ALICE))[-1] == big


async def test_replicas_starting_at_once_on_an_empty_postgres_database(postgres_url: str) -> None:
    """Schema creation under an advisory lock: N stores' first calls at once all succeed."""
    stores = [open_store(postgres_url, Path("/nonexistent")) for _ in range(6)]
    ids: list[str] = []

    async def first_call(store: ConversationStore, n: int) -> None:
        cid = await store.create(ALICE, "m", f"replica {n}")
        await store.append(cid, ALICE, [turn("user", f"replica {n}")])
        ids.append(cid)

    try:
        async with anyio.create_task_group() as tg:
            for n, store in enumerate(stores):
                tg.start_soon(first_call, store, n)
        assert {c.id for c in await stores[0].list(ALICE, 10)} == set(ids) and len(ids) == 6
    finally:
        for store in stores:
            await store.aclose()


# ---- spend (budgets) -------------------------------------------------------------------------

LATER = 4_102_444_800.0  # 2100-01-01: a record that does not expire during the test


async def test_charge_counts_per_owner_and_window(store: ConversationStore) -> None:
    assert await store.spent(ALICE, "2026-12-07") == 0
    assert await store.charge(ALICE, "2026-12-07", 300, None, expires_at=LATER) == Charge(True, 300)
    assert await store.charge(ALICE, "2026-12-07", 200, 1_000, expires_at=LATER) == Charge(True, 500)
    assert await store.charge(ALICE, "2026-12-07", -50, None, expires_at=LATER) == Charge(True, 450)  # a refund
    assert await store.spent(ALICE, "2026-12-07") == 450
    assert await store.spent(BOB, "2026-12-07") == 0 and await store.spent(ALICE, "2026-12-08") == 0
    assert await store.charge(BOB, "2026-12-07", 7, None, expires_at=LATER) == Charge(True, 7)
    assert await store.spent(ALICE, "2026-12-07") == 450


async def test_charge_refuses_past_the_limit_and_changes_nothing(store: ConversationStore) -> None:
    assert await store.charge(ALICE, "w", 900, 1_000, expires_at=LATER) == Charge(True, 900)
    assert await store.charge(ALICE, "w", 101, 1_000, expires_at=LATER) == Charge(False, 900)
    assert await store.charge(ALICE, "w", 100, 1_000, expires_at=LATER) == Charge(True, 1_000)  # exactly at it
    assert await store.charge(ALICE, "w", 0, 1_000, expires_at=LATER) == Charge(False, 1_000)  # at it: no more
    assert await store.spent(ALICE, "w") == 1_000
    # a first charge larger than the limit is refused too, and leaves no record
    assert await store.charge(BOB, "w", 2_000, 1_000, expires_at=LATER) == Charge(False, 0)
    assert await store.charge(BOB, "w", 0, 0, expires_at=LATER) == Charge(False, 0)  # a zero limit admits nothing
    assert await store.spent(BOB, "w") == 0
    # settling after the fact takes no limit, so the total may pass it (what the call really cost)
    assert await store.charge(ALICE, "w", 250, None, expires_at=LATER) == Charge(True, 1_250)
    assert await store.charge(ALICE, "w", 0, 5_000, expires_at=LATER) == Charge(True, 1_250)  # a check under it


async def test_concurrent_charges_from_two_instances_never_pass_the_limit(backend: Backend) -> None:
    """Replicas racing at the limit: exactly limit / amount charges admitted, the total never over it."""
    replicas = [backend.store(), backend.store()]
    admitted: list[int] = []
    refused = 0

    async def worker(store: ConversationStore) -> None:
        nonlocal refused
        while True:  # charge until refused: every worker ends up racing the others at the limit
            charge = await store.charge(ALICE, "race", 1_000, 10_000, expires_at=LATER)
            assert charge.spent <= 10_000
            if not charge.admitted:
                refused += 1
                return
            admitted.append(charge.spent)

    async with anyio.create_task_group() as tg:
        for n in range(8):  # 4 workers per instance (more would measure TLS handshakes under load, not the count)
            tg.start_soon(worker, replicas[n % 2])
    assert sorted(admitted) == list(range(1_000, 10_001, 1_000))  # each total seen once: atomic increments
    assert refused == 8 and await replicas[1].spent(ALICE, "race") == 10_000


async def test_spend_records_expire(backend: Backend) -> None:
    import time

    store = backend.store()
    await store.charge(ALICE, "old", 500, None, expires_at=time.time() + 1.0)
    assert await store.spent(ALICE, "old") == 500
    await anyio.sleep(1.3)
    assert await store.spent(ALICE, "old") == 0


# ---- outages -------------------------------------------------------------------------------

SERVERS = ("redis", "rediss", "postgres", "postgres_tls")


@pytest.fixture(params=SERVERS)
async def server_backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    name = str(request.param)
    service = request.getfixturevalue(f"{name}_service")
    b = Backend(name, request.getfixturevalue(f"{name}_url"), service)
    try:
        yield b
    finally:
        for store in b.made:
            await store.aclose()
        if service.proc is None or service.proc.poll() is not None:
            service.start()


async def once_up(call: Callable[[], Awaitable[T]]) -> T:
    """`call`'s result as soon as the store answers it (retried while it is unavailable, for up to 30 s)."""
    with anyio.fail_after(30):
        while True:
            try:
                return await call()
            except StoreUnavailable:
                await anyio.sleep(0.2)


async def test_outage_raises_store_unavailable_then_recovers(server_backend: Backend) -> None:
    service = server_backend.service
    assert service is not None
    store = server_backend.store()
    cid = await store.create(ALICE, "m", "before the outage")
    await store.append(cid, ALICE, [turn("user", "saved before"), turn("assistant", "kept")])

    service.stop()
    calls: list[tuple[str, Callable[[], Any]]] = [
        ("ping", store.ping),
        ("create", lambda: store.create(ALICE, "m", "x")),
        ("append", lambda: store.append(cid, ALICE, [turn("user", "lost")])),
        ("load", lambda: store.load(cid, ALICE)),
        ("list", lambda: store.list(ALICE, 5)),
        ("delete", lambda: store.delete(cid, ALICE)),
    ]
    password = service.password
    for name, call in calls:
        with anyio.fail_after(10), pytest.raises(StoreUnavailable) as error:
            await call()
        message = str(error.value)
        assert password not in message, name
        assert "***" in message or "@" not in message, message

    service.start()  # same port, same data; the store reconnects by itself
    await once_up(store.ping)
    assert await store.load(cid, ALICE) == [turn("user", "saved before"), turn("assistant", "kept")]
    await store.append(cid, ALICE, [turn("user", "after")])
    assert (await store.load(cid, ALICE))[-1] == turn("user", "after")
    assert [c.id for c in await store.list(ALICE, 5)] == [cid]


async def test_calls_during_an_outage_fail_fast(server_backend: Backend) -> None:
    """Once a call has found the server gone, the next ones fail as fast as a refused connection, not after
    the store's timeout (4 s here, so 10 calls would take 40 s): a chat during an outage is not held up.
    The first call after the server is back succeeds."""
    service = server_backend.service
    assert service is not None
    store = server_backend.store(timeout_s=4.0)
    cid = await store.create(ALICE, "m", "fail fast")
    await store.append(cid, ALICE, [turn("user", "kept")])
    service.stop()
    with anyio.fail_after(8), pytest.raises(StoreUnavailable):
        await store.load(cid, ALICE)  # this one may wait for the timeout
    with anyio.fail_after(3):
        for n in range(10):
            with pytest.raises(StoreUnavailable):
                await (store.append(cid, ALICE, [turn("user", "lost")]) if n % 2 else store.load(cid, ALICE))
    service.start()
    with anyio.fail_after(8):
        assert await store.load(cid, ALICE) == [turn("user", "kept")]


async def test_unreachable_at_start_then_comes_up(server_backend: Backend) -> None:
    """Lazy connect: a store made while its server is down works once the server is up."""
    service = server_backend.service
    assert service is not None
    service.stop()
    store = server_backend.store()
    with anyio.fail_after(10), pytest.raises(StoreUnavailable):
        await store.ping()
    service.start()
    cid = await once_up(lambda: store.create(ALICE, "m", "first"))
    await store.append(cid, ALICE, [turn("user", "hi")])
    assert await store.load(cid, ALICE) == [turn("user", "hi")]


async def test_acknowledged_turns_survive_a_killed_server(server_backend: Backend) -> None:
    """SIGKILL, not a clean stop: what an append acknowledged is there after the restart."""
    service = server_backend.service
    assert service is not None
    store = server_backend.store()
    cid = await store.create(ALICE, "m", "crash")
    written = [turn("user", f"turn {n}") for n in range(50)]
    for message in written:
        await store.append(cid, ALICE, [message])
    service.kill()
    service.start()
    loaded = await once_up(lambda: store.load(cid, ALICE))
    assert loaded == written


BUSY = 12  # calls at once: the pool holds this many connections when the server goes away


async def all_at_once(store: ConversationStore, cid: str, tag: str) -> tuple[int, list[str]]:
    """BUSY calls of every kind at once; returns how many turns they appended and what failed."""
    failed: list[str] = []
    kinds: list[tuple[str, Callable[[], Any]]] = [
        ("append", lambda: store.append(cid, ALICE, [turn("user", tag)])),
        ("load", lambda: store.load(cid, ALICE)),
        ("list", lambda: store.list(ALICE, 5)),
        ("create", lambda: store.create(ALICE, "m", tag)),
        ("ping", store.ping),
    ]

    async def one(name: str, call: Callable[[], Any]) -> None:
        try:
            await call()
        except StoreUnavailable as exc:
            failed.append(f"{name}: {exc}")

    async with anyio.create_task_group() as tg:
        for n in range(BUSY):
            tg.start_soon(one, *kinds[n % len(kinds)])
    return len(range(0, BUSY, len(kinds))), failed


@pytest.mark.parametrize("fault", ["stop", "kill"])
async def test_the_first_calls_after_a_restart_succeed(server_backend: Backend, fault: str) -> None:
    """No call fails once the server is back: connections the old server held are never handed out
    (not one failed call per pooled connection), and a call during the outage fails at once."""
    service = server_backend.service
    assert service is not None
    store = server_backend.store()
    cid = await store.create(ALICE, "m", "restart")
    appended, failed = await all_at_once(store, cid, "before")
    assert failed == []

    await anyio.to_thread.run_sync(getattr(service, fault))  # the client sees its connections close
    with anyio.fail_after(3), pytest.raises(StoreUnavailable):
        await store.load(cid, ALICE)
    await anyio.to_thread.run_sync(service.start)

    with anyio.fail_after(10):
        more, failed = await all_at_once(store, cid, "after")
    assert failed == [], f"{len(failed)} of {BUSY} calls failed right after the restart: {failed[:3]}"
    assert [m["content"] for m in await store.load(cid, ALICE)] == ["before"] * appended + ["after"] * more


async def test_a_restart_the_client_has_not_noticed_yet(server_backend: Backend) -> None:
    """The server goes down and up while the client is busy elsewhere (its event loop blocked): the pooled
    connections' end is still unread when the next calls go out, and they must succeed all the same."""
    service = server_backend.service
    assert service is not None
    store = server_backend.store()
    cid = await store.create(ALICE, "m", "unnoticed")
    appended, failed = await all_at_once(store, cid, "before")
    assert failed == []

    service.stop()  # no await from here on: nothing reads the closed sockets
    service.start()
    with anyio.fail_after(10):
        more, failed = await all_at_once(store, cid, "after")
    assert failed == [], f"{len(failed)} of {BUSY} calls failed right after the restart: {failed[:3]}"
    assert [m["content"] for m in await store.load(cid, ALICE)] == ["before"] * appended + ["after"] * more


def test_stored_turns_are_plain_json(tmp_path: Path) -> None:
    """SQLite keeps the whole thread as one JSON list in a plain table (readable without opper-mcp)."""
    from opper_mcp.store.sqlite import SQLiteConversationStore

    async def run() -> str:
        store = SQLiteConversationStore(tmp_path / "c.sqlite3")
        cid = await store.create(ALICE, "m", "x")
        await store.append(cid, ALICE, [turn("user", "x")])
        await store.aclose()
        return cid

    cid = anyio.run(run)
    with sqlite3.connect(tmp_path / "c.sqlite3") as raw:
        rows = raw.execute("SELECT id, owner, messages, model, title, turns FROM conversations").fetchall()
    assert rows == [(cid, ALICE, json.dumps([turn("user", "x")]), "m", "x", 1)]
