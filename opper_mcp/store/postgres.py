"""PostgreSQL: a shared store for N replicas (psycopg 3 with its async pool; the `postgres` extra).

Turns live in their own table with a bigserial order column, so an append is an INSERT, never a
read-modify-write. The append first updates its conversation's row (owner checked in the WHERE), which
takes that row's lock: concurrent appends to one conversation queue on it and their turns are numbered in
arrival order. Age is an `expires_at` column, filtered on every read and swept on writes (at most once a
minute per process). The schema is created on first use under an advisory lock, so N replicas starting
at once do not trip over each other. The pool connects lazily and replaces broken connections by itself;
checking a connection it hands out costs no round trip when it was in use lately (see `Liveness`), so a
store call is one round trip.
"""

from __future__ import annotations

import builtins
import json
import select
import time
import weakref
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

import anyio
import psycopg
from psycopg.pq import TransactionStatus
from psycopg_pool import AsyncConnectionPool, PoolClosed, PoolTimeout

from opper_mcp.store.base import (
    Bounds,
    Charge,
    ConversationSummary,
    Message,
    StoreUnavailable,
    UnknownConversation,
    encode,
    headline,
    new_id,
    with_system,
)
from opper_mcp.store.url import failure

T = TypeVar("T")
SCHEMA_LOCK = 0x6F707065  # "oppe": the advisory lock id held while the schema is created
SWEEP_INTERVAL_S = 60.0

SCHEMA = """
CREATE TABLE IF NOT EXISTS opper_mcp_conversations (
    id text PRIMARY KEY,
    owner text NOT NULL,
    model text NOT NULL,
    title text NOT NULL,
    system text,
    chars bigint NOT NULL DEFAULT 0,
    turns integer NOT NULL DEFAULT 0,
    created timestamptz NOT NULL DEFAULT now(),
    updated timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS opper_mcp_conversations_owner ON opper_mcp_conversations (owner, updated DESC);
CREATE INDEX IF NOT EXISTS opper_mcp_conversations_expires ON opper_mcp_conversations (expires_at);
CREATE TABLE IF NOT EXISTS opper_mcp_turns (
    seq bigserial PRIMARY KEY,
    conversation_id text NOT NULL REFERENCES opper_mcp_conversations (id) ON DELETE CASCADE,
    message text NOT NULL,
    size integer NOT NULL
);
CREATE INDEX IF NOT EXISTS opper_mcp_turns_conversation ON opper_mcp_turns (conversation_id, seq);
CREATE TABLE IF NOT EXISTS opper_mcp_spend (
    owner text NOT NULL,
    period text NOT NULL,
    nusd bigint NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (owner, period)
);
"""

# One statement, so one round trip: add the amount if store.base.within(spent, amount, limit) holds (a new row
# with spent = 0, an existing one under its row lock), else change nothing and report the total as it is.
CHARGE = """
WITH up AS (
    INSERT INTO opper_mcp_spend AS s (owner, period, nusd, expires_at)
    SELECT %(owner)s, %(period)s, %(amount)s, to_timestamp(%(expires)s)
    WHERE %(limit)s::bigint IS NULL OR (0 < %(limit)s::bigint AND %(amount)s::bigint <= %(limit)s::bigint)
    ON CONFLICT (owner, period) DO UPDATE SET nusd = s.nusd + EXCLUDED.nusd, expires_at = EXCLUDED.expires_at
    WHERE %(limit)s::bigint IS NULL OR (s.nusd < %(limit)s::bigint AND s.nusd + EXCLUDED.nusd <= %(limit)s::bigint)
    RETURNING s.nusd
)
SELECT true, nusd FROM up
UNION ALL
SELECT false, coalesce((SELECT nusd FROM opper_mcp_spend WHERE owner = %(owner)s AND period = %(period)s), 0)
WHERE NOT EXISTS (SELECT 1 FROM up)
"""

APPEND = """
WITH c AS (
    UPDATE opper_mcp_conversations
    SET updated = now(), expires_at = now() + %(ttl)s, chars = chars + %(size)s, turns = turns + %(count)s,
        system = coalesce(%(system)s, system)
    WHERE id = %(id)s AND owner = %(owner)s AND expires_at > now()
    RETURNING id, chars
), t AS (
    INSERT INTO opper_mcp_turns (conversation_id, message, size)
    SELECT c.id, m.message, m.size FROM c, unnest(%(messages)s::text[], %(sizes)s::int[]) WITH ORDINALITY
        AS m(message, size, ord)
    ORDER BY m.ord
)
SELECT chars FROM c
"""

# Drop the oldest turns until the rest fit; the newest always stays. Runs under the row lock APPEND took.
TRIM = """
WITH kept AS (
    SELECT seq, sum(size) OVER (ORDER BY seq DESC) AS tail, max(seq) OVER () AS newest
    FROM opper_mcp_turns WHERE conversation_id = %(id)s
), gone AS (
    DELETE FROM opper_mcp_turns WHERE seq IN (SELECT seq FROM kept WHERE tail > %(max)s AND seq < newest)
    RETURNING size
)
UPDATE opper_mcp_conversations
SET chars = chars - (SELECT coalesce(sum(size), 0) FROM gone), turns = turns - (SELECT count(*) FROM gone)
WHERE id = %(id)s
"""


class Liveness:
    """The pool's check of a connection it hands out, without a round trip for one in recent use.

    psycopg_pool's own check sends an empty query on every checkout: a second round trip for every store call.
    A connection handed out within the last `recheck_s` whose socket has nothing to read is alive as far as one
    more round trip could tell: a server that closed it (restart, crash, termination) left an error message or
    an end of stream there. Anything else (data waiting, an older or unknown connection, not idle) gets the full
    check, which fails on a dead connection so the pool replaces it before anyone uses it.
    """

    def __init__(self, recheck_s: float = 30.0) -> None:
        self.recheck_s = recheck_s
        self._seen: weakref.WeakKeyDictionary[psycopg.AsyncConnection[Any], float] = weakref.WeakKeyDictionary()

    async def __call__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        now = time.monotonic()
        last = self._seen.get(conn)
        if last is None or now - last >= self.recheck_s or not _quiet(conn):
            await AsyncConnectionPool.check_connection(conn)
        self._seen[conn] = now


def _quiet(conn: psycopg.AsyncConnection[Any]) -> bool:
    """Idle, open, and nothing from the server waiting on the socket (a zero-timeout poll, no I/O)."""
    if conn.closed or conn.broken or conn.info.transaction_status != TransactionStatus.IDLE:
        return False
    try:
        readable, _, _ = select.select([conn.pgconn.socket], [], [], 0)
    except (OSError, ValueError, psycopg.Error):
        return False
    return not readable


class PostgresConversationStore:
    backend = "postgres"

    def __init__(self, url: str, bounds: Bounds | None = None, *, timeout_s: float = 2.0,
                 sweep_interval_s: float = SWEEP_INTERVAL_S) -> None:
        self.url = url
        self.bounds = bounds or Bounds()
        self.timeout_s = timeout_s
        self.sweep_interval_s = sweep_interval_s
        self._ttl = timedelta(seconds=self.bounds.max_age_s)
        self._pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]] | None = None
        self._schema_ready = False
        self._last_sweep = 0.0
        self._down = False  # the last call found the server unreachable: probe before waiting on the pool
        self._opening = anyio.Lock()  # one pool, one schema check, however many first calls arrive at once

    def _make_pool(self) -> AsyncConnectionPool[psycopg.AsyncConnection[Any]]:
        return AsyncConnectionPool(
            self.url, min_size=1, max_size=8, open=False, timeout=self.timeout_s,
            kwargs={"connect_timeout": max(1, int(min(self.timeout_s, 3))), "autocommit": True},
            check=Liveness(), reconnect_timeout=3600, name="opper-mcp-store",
        )

    async def _conn_pool(self) -> AsyncConnectionPool[psycopg.AsyncConnection[Any]]:
        if self._pool is not None and self._schema_ready:
            return self._pool
        async with self._opening:
            # A local reference: `aclose()` (a call that found the server back) may drop `self._pool`
            # while this one awaits; then this pool is closed and the caller's retry takes a new one.
            pool = self._pool
            if pool is None:
                pool = self._make_pool()
                await pool.open(wait=False)
                self._pool = pool
            if not self._schema_ready:
                async with pool.connection() as conn, conn.transaction():
                    await conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
                    await conn.execute(SCHEMA)
                self._schema_ready = True
            return pool

    async def _call(self, fn: Callable[[psycopg.AsyncConnection[Any]], Awaitable[T]]) -> T:
        if self._down:
            await self._recheck()
        for attempt in (1, 2):
            try:
                pool = await self._conn_pool()
                async with pool.connection() as conn:
                    return await fn(conn)
            except PoolTimeout as exc:
                # The pool only says it waited; one direct attempt says why (refused, auth, unknown host…).
                failure = await self._probe()
                self._down = failure is not None
                if failure is not None or attempt == 2 or not self._pool_is_starved():
                    raise self._unavailable(failure or exc) from exc
                # The server is back but the pool, having lost every connection, is still backing off
                # between reconnection attempts: start a fresh pool rather than wait for it.
                await self.aclose()
            except PoolClosed as exc:  # another call replaced the pool under this one: use the new one
                if attempt == 2:
                    raise self._unavailable(exc) from exc
            except (psycopg.OperationalError, OSError) as exc:  # the connection broke: is the server gone?
                self._down = await self._probe() is not None
                raise self._unavailable(exc) from exc
            except psycopg.Error as exc:
                raise self._unavailable(exc) from exc
        raise AssertionError("unreachable")

    async def _recheck(self) -> None:
        """During an outage a call fails as fast as one direct connection attempt (a refusal takes
        microseconds) instead of waiting the pool's timeout; the first attempt that succeeds ends the
        outage and replaces the pool, which would otherwise still be backing off between reconnections."""
        failure = await self._probe()
        if failure is not None:
            raise self._unavailable(failure)
        if self._down:  # the first call to see the server back (no await since the check): one fresh pool
            self._down = False
            await self.aclose()

    def _pool_is_starved(self) -> bool:
        """No connection to hand out, yet not because all of them are busy: it is reconnecting."""
        if self._pool is None:
            return True
        stats = self._pool.get_stats()
        return stats.get("pool_available", 0) == 0 and stats.get("pool_size", 0) < self._pool.max_size

    def _unavailable(self, exc: BaseException) -> StoreUnavailable:
        return StoreUnavailable(failure(self.url, exc))

    async def _probe(self) -> BaseException | None:
        try:
            conn = await psycopg.AsyncConnection.connect(self.url, connect_timeout=max(1, int(self.timeout_s)))
        except (psycopg.Error, OSError) as exc:
            return exc
        await conn.close()
        return None

    async def _maybe_sweep(self, conn: psycopg.AsyncConnection[Any]) -> None:
        now = time.monotonic()
        if now - self._last_sweep >= self.sweep_interval_s:
            self._last_sweep = now
            await conn.execute("DELETE FROM opper_mcp_conversations WHERE expires_at <= now()")
            await conn.execute("DELETE FROM opper_mcp_spend WHERE expires_at <= now()")

    async def create(self, owner: str, model: str, first_prompt: str) -> str:
        conversation_id = new_id()

        async def run(conn: psycopg.AsyncConnection[Any]) -> None:
            async with conn.transaction():
                await conn.execute(
                    "INSERT INTO opper_mcp_conversations (id, owner, model, title, expires_at) "
                    "VALUES (%s, %s, %s, %s, now() + %s)",
                    (conversation_id, owner, model, headline(first_prompt), self._ttl),
                )
                await conn.execute(
                    "DELETE FROM opper_mcp_conversations WHERE owner = %(owner)s AND id NOT IN ("
                    " SELECT id FROM opper_mcp_conversations WHERE owner = %(owner)s AND expires_at > now()"
                    " ORDER BY updated DESC, created DESC LIMIT %(max)s)",
                    {"owner": owner, "max": self.bounds.max_conversations},
                )
            await self._maybe_sweep(conn)

        await self._call(run)
        return conversation_id

    async def append(
        self, conversation_id: str, owner: str, messages: builtins.list[Message], *, system: str | None = None
    ) -> None:
        texts = [encode(m) for m in messages]
        sizes = [len(text.encode("utf-8")) for text in texts]  # size_of(m) without encoding twice

        async def run(conn: psycopg.AsyncConnection[Any]) -> bool:
            async with conn.transaction():
                cur = await conn.execute(APPEND, {
                    "id": conversation_id, "owner": owner, "ttl": self._ttl, "size": sum(sizes),
                    "count": len(texts), "system": system or None, "messages": texts, "sizes": sizes,
                })
                row = await cur.fetchone()
                if row is None:
                    return False
                if row[0] > self.bounds.max_chars:
                    await conn.execute(TRIM, {"id": conversation_id, "max": self.bounds.max_chars})
            await self._maybe_sweep(conn)
            return True

        if not await self._call(run):
            raise UnknownConversation(conversation_id)

    async def load(self, conversation_id: str, owner: str) -> builtins.list[Message]:
        async def run(conn: psycopg.AsyncConnection[Any]) -> tuple[bool, str | None, builtins.list[Any]]:
            # One statement, one snapshot: the conversation row and its turns as they were together.
            cur = await conn.execute(
                "SELECT c.system, t.message FROM opper_mcp_conversations c "
                "LEFT JOIN opper_mcp_turns t ON t.conversation_id = c.id "
                "WHERE c.id = %s AND c.owner = %s AND c.expires_at > now() ORDER BY t.seq",
                (conversation_id, owner),
            )
            rows = await cur.fetchall()
            if not rows:
                return False, None, []
            return True, rows[0][0], [r[1] for r in rows if r[1] is not None]

        found, system, turns = await self._call(run)
        if not found:
            raise UnknownConversation(conversation_id)
        return with_system(system, [json.loads(t) for t in turns], self.bounds.max_chars)

    async def list(self, owner: str, limit: int) -> builtins.list[ConversationSummary]:
        async def run(conn: psycopg.AsyncConnection[Any]) -> builtins.list[Any]:
            cur = await conn.execute(
                "SELECT id, title, model, turns, updated FROM opper_mcp_conversations "
                "WHERE owner = %s AND expires_at > now() ORDER BY updated DESC, created DESC LIMIT %s",
                (owner, limit),
            )
            return await cur.fetchall()

        return [ConversationSummary(id=r[0], first_prompt=r[1], model=r[2], turns=r[3], updated=r[4])
                for r in await self._call(run)]

    async def delete(self, conversation_id: str, owner: str) -> bool:
        async def run(conn: psycopg.AsyncConnection[Any]) -> bool:
            cur = await conn.execute(
                "DELETE FROM opper_mcp_conversations WHERE id = %s AND owner = %s AND expires_at > now()",
                (conversation_id, owner),
            )
            return cur.rowcount > 0

        return await self._call(run)

    async def ping(self) -> None:
        """A fresh connection, not a pooled one: answers at once when the server refuses, and proves
        that new connections (what a restarted server needs) work."""
        failure = await self._probe()
        if failure is not None:
            raise self._unavailable(failure)

    async def charge(self, owner: str, window: str, amount: int, limit: int | None, *, expires_at: float) -> Charge:
        params = {"owner": owner, "period": window, "amount": amount, "limit": limit, "expires": expires_at}

        async def run(conn: psycopg.AsyncConnection[Any]) -> Charge:
            cur = await conn.execute(CHARGE, params)
            row = await cur.fetchone()
            assert row is not None
            return Charge(bool(row[0]), int(row[1]))

        return await self._call(run)

    async def spent(self, owner: str, window: str) -> int:
        async def run(conn: psycopg.AsyncConnection[Any]) -> int:
            cur = await conn.execute(
                "SELECT nusd FROM opper_mcp_spend WHERE owner = %s AND period = %s AND expires_at > now()",
                (owner, window))
            row = await cur.fetchone()
            return int(row[0]) if row is not None else 0

        return await self._call(run)

    async def aclose(self) -> None:
        pool, self._pool = self._pool, None
        self._schema_ready = False
        if pool is not None:
            await pool.close(timeout=1.0)
