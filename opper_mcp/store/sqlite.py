"""The embedded default: one SQLite file in the cache dir, for one machine.

Each append runs inside one write transaction (BEGIN IMMEDIATE takes SQLite's write lock first), so
appends from several processes sharing the file are serialised, never lost. The file is opened on
first use, so starting the server writes nothing. Files written by earlier versions are upgraded in place.
"""

from __future__ import annotations

import builtins
import json
import sqlite3
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import anyio

from opper_mcp.store.base import (
    Bounds,
    Charge,
    ConversationSummary,
    Message,
    StoreUnavailable,
    UnknownConversation,
    headline,
    new_id,
    trim,
    within,
)

T = TypeVar("T")
COLUMNS = {  # added to files written before they existed
    "model": "TEXT NOT NULL DEFAULT ''",
    "title": "TEXT NOT NULL DEFAULT ''",
    "turns": "INTEGER NOT NULL DEFAULT 0",
}


class SQLiteConversationStore:
    backend = "sqlite"

    def __init__(self, path: Path, bounds: Bounds | None = None) -> None:
        self.path = path
        self.bounds = bounds or Bounds()
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, check_same_thread=False, timeout=10, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            self._write(conn, lambda: self._schema(conn))  # one process at a time: no upgrade runs twice
            self._conn = conn
        return self._conn

    @staticmethod
    def _schema(conn: sqlite3.Connection) -> None:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS conversations ("
            " id TEXT PRIMARY KEY, owner TEXT NOT NULL, updated REAL NOT NULL, messages TEXT NOT NULL)"
        )
        present = {row[1] for row in conn.execute("PRAGMA table_info(conversations)")}
        for name, decl in COLUMNS.items():
            if name not in present:
                conn.execute(f"ALTER TABLE conversations ADD COLUMN {name} {decl}")
        conn.execute("CREATE INDEX IF NOT EXISTS conversations_owner ON conversations (owner, updated)")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS spend ("
            " owner TEXT NOT NULL, period TEXT NOT NULL, nusd INTEGER NOT NULL, expires REAL NOT NULL,"
            " PRIMARY KEY (owner, period))"
        )

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        def call() -> T:
            with self._lock:
                try:
                    return fn(self._db())
                except sqlite3.Error as exc:
                    raise StoreUnavailable(f"sqlite {self.path}: {exc}") from exc

        return await anyio.to_thread.run_sync(call)

    @staticmethod
    def _write(db: sqlite3.Connection, fn: Callable[[], T]) -> T:
        db.execute("BEGIN IMMEDIATE")
        try:
            result = fn()
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        return result

    def _fresh(self) -> float:
        return time.time() - self.bounds.max_age_s

    async def create(self, owner: str, model: str, first_prompt: str) -> str:
        conversation_id = new_id()

        def run(db: sqlite3.Connection) -> None:
            def body() -> None:
                db.execute(
                    "INSERT INTO conversations (id, owner, updated, messages, model, title, turns) "
                    "VALUES (?, ?, ?, '[]', ?, ?, 0)",
                    (conversation_id, owner, time.time(), model, headline(first_prompt)),
                )
                db.execute("DELETE FROM conversations WHERE updated < ?", (self._fresh(),))
                db.execute(
                    "DELETE FROM conversations WHERE owner = ? AND id NOT IN "
                    "(SELECT id FROM conversations WHERE owner = ? ORDER BY updated DESC LIMIT ?)",
                    (owner, owner, self.bounds.max_conversations),
                )

            self._write(db, body)

        await self._run(run)
        return conversation_id

    async def append(
        self, conversation_id: str, owner: str, messages: builtins.list[Message], *, system: str | None = None
    ) -> None:
        def run(db: sqlite3.Connection) -> bool:
            def body() -> bool:
                row = db.execute(
                    "SELECT messages FROM conversations WHERE id = ? AND owner = ? AND updated >= ?",
                    (conversation_id, owner, self._fresh()),
                ).fetchone()
                if row is None:
                    return False
                stored: builtins.list[Message] = json.loads(row[0])
                if system:  # a new system prompt replaces the old one, and comes first
                    stored = [{"role": "system", "content": system}, *(m for m in stored if m.get("role") != "system")]
                stored = trim([*stored, *messages], self.bounds.max_chars)
                turns = sum(1 for m in stored if m.get("role") != "system")
                db.execute(
                    "UPDATE conversations SET messages = ?, updated = ?, turns = ? WHERE id = ?",
                    (json.dumps(stored, ensure_ascii=False), time.time(), turns, conversation_id),
                )
                return True

            return self._write(db, body)

        if not await self._run(run):
            raise UnknownConversation(conversation_id)

    async def load(self, conversation_id: str, owner: str) -> builtins.list[Message]:
        def run(db: sqlite3.Connection) -> tuple[str] | None:
            row: tuple[str] | None = db.execute(
                "SELECT messages FROM conversations WHERE id = ? AND owner = ? AND updated >= ?",
                (conversation_id, owner, self._fresh()),
            ).fetchone()
            return row

        row = await self._run(run)
        if row is None:
            raise UnknownConversation(conversation_id)
        messages: builtins.list[Message] = json.loads(row[0])
        return trim(messages, self.bounds.max_chars)

    async def list(self, owner: str, limit: int) -> builtins.list[ConversationSummary]:
        def run(db: sqlite3.Connection) -> builtins.list[Any]:
            return db.execute(
                "SELECT id, title, model, turns, updated FROM conversations WHERE owner = ? AND updated >= ? "
                "ORDER BY updated DESC LIMIT ?",
                (owner, self._fresh(), limit),
            ).fetchall()

        return [
            ConversationSummary(id=r[0], first_prompt=r[1], model=r[2], turns=r[3],
                                updated=datetime.fromtimestamp(r[4], UTC))
            for r in await self._run(run)
        ]

    async def delete(self, conversation_id: str, owner: str) -> bool:
        def run(db: sqlite3.Connection) -> bool:
            cur = db.execute("DELETE FROM conversations WHERE id = ? AND owner = ? AND updated >= ?",
                             (conversation_id, owner, self._fresh()))
            return cur.rowcount > 0

        return await self._run(run)

    async def ping(self) -> None:
        await self._run(lambda db: db.execute("SELECT 1").fetchone())

    async def charge(self, owner: str, window: str, amount: int, limit: int | None, *, expires_at: float) -> Charge:
        def run(db: sqlite3.Connection) -> Charge:
            def body() -> Charge:
                row = db.execute("SELECT nusd FROM spend WHERE owner = ? AND period = ? AND expires > ?",
                                 (owner, window, time.time())).fetchone()
                spent = int(row[0]) if row is not None else 0
                if not within(spent, amount, limit):
                    return Charge(False, spent)
                if row is None:  # a new window: replace an expired record, sweep the others
                    db.execute("DELETE FROM spend WHERE expires <= ?", (time.time(),))
                db.execute(
                    "INSERT INTO spend (owner, period, nusd, expires) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (owner, period) DO UPDATE SET nusd = nusd + excluded.nusd, expires = excluded.expires",
                    (owner, window, amount, expires_at),
                )
                return Charge(True, spent + amount)

            return self._write(db, body)

        return await self._run(run)

    async def spent(self, owner: str, window: str) -> int:
        def run(db: sqlite3.Connection) -> int:
            row = db.execute("SELECT nusd FROM spend WHERE owner = ? AND period = ? AND expires > ?",
                             (owner, window, time.time())).fetchone()
            return int(row[0]) if row is not None else 0

        return await self._run(run)

    def count(self) -> int:
        """Rows in the file (expired ones included until the next create sweeps them)."""
        with self._lock:
            result: int = self._db().execute("SELECT COUNT(*) FROM conversations").fetchone()[0]
            return result

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    async def aclose(self) -> None:
        self.close()
