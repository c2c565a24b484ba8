"""Chat conversations that survive restarts, so an agent can continue a thread by id alone.

`ConversationStore` is the seam: SQLite (stdlib) in the cache dir by default; a shared store
(Redis, Postgres…) can implement the same three methods for multi-replica HTTP deployments.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Protocol

import anyio

Message = dict[str, Any]

MAX_CONVERSATIONS = 1_000
MAX_AGE_S = 30 * 24 * 3600
MAX_CHARS = 400_000  # per conversation; the oldest turns are dropped first (the system prompt stays)


class UnknownConversation(LookupError):
    pass


class ConversationStore(Protocol):
    async def create(self, owner: str) -> str: ...
    async def load(self, conversation_id: str, owner: str) -> list[Message]: ...
    async def save(self, conversation_id: str, owner: str, messages: list[Message]) -> None: ...


def trim(messages: list[Message], max_chars: int = MAX_CHARS) -> list[Message]:
    """Drop the oldest non-system turns until the conversation fits `max_chars`."""
    sizes = [len(json.dumps(m, ensure_ascii=False)) for m in messages]
    keep = list(range(len(messages)))
    while sum(sizes[i] for i in keep) > max_chars and len(keep) > 1:
        drop = next((i for i in keep if messages[i].get("role") != "system"), None)
        if drop is None or drop == keep[-1]:
            break
        keep.remove(drop)
    return [messages[i] for i in keep]


class SQLiteConversationStore:
    """One small SQLite file; opened lazily so start-up writes nothing."""

    def __init__(
        self,
        path: Path,
        *,
        max_conversations: int = MAX_CONVERSATIONS,
        max_age_s: float = MAX_AGE_S,
        max_chars: int = MAX_CHARS,
    ) -> None:
        self.path = path
        self.max_conversations = max_conversations
        self.max_age_s = max_age_s
        self.max_chars = max_chars
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, check_same_thread=False, timeout=10)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS conversations ("
                " id TEXT PRIMARY KEY, owner TEXT NOT NULL, updated REAL NOT NULL, messages TEXT NOT NULL)"
            )
            self._conn = conn
        return self._conn

    def _run(self, fn: Any, *args: Any) -> Any:
        with self._lock:
            return fn(self._db(), *args)

    async def create(self, owner: str) -> str:
        conversation_id = "conv_" + secrets.token_urlsafe(12)
        await anyio.to_thread.run_sync(self._run, self._create, conversation_id, owner)
        return conversation_id

    def _create(self, db: sqlite3.Connection, conversation_id: str, owner: str) -> None:
        with db:
            db.execute("INSERT INTO conversations VALUES (?, ?, ?, '[]')", (conversation_id, owner, time.time()))
            self._prune(db)

    def _prune(self, db: sqlite3.Connection) -> None:
        db.execute("DELETE FROM conversations WHERE updated < ?", (time.time() - self.max_age_s,))
        db.execute(
            "DELETE FROM conversations WHERE id NOT IN (SELECT id FROM conversations ORDER BY updated DESC LIMIT ?)",
            (self.max_conversations,),
        )

    async def load(self, conversation_id: str, owner: str) -> list[Message]:
        row = await anyio.to_thread.run_sync(self._run, self._load, conversation_id)
        # Another owner's conversation is reported exactly like a missing one.
        if row is None or row[0] != owner or time.time() - row[1] > self.max_age_s:
            raise UnknownConversation(conversation_id)
        messages: list[Message] = json.loads(row[2])
        return messages

    @staticmethod
    def _load(db: sqlite3.Connection, conversation_id: str) -> tuple[str, float, str] | None:
        cur = db.execute("SELECT owner, updated, messages FROM conversations WHERE id = ?", (conversation_id,))
        row: tuple[str, float, str] | None = cur.fetchone()
        return row

    async def save(self, conversation_id: str, owner: str, messages: list[Message]) -> None:
        text = json.dumps(trim(messages, self.max_chars), ensure_ascii=False)
        await anyio.to_thread.run_sync(self._run, self._save, conversation_id, owner, text)

    @staticmethod
    def _save(db: sqlite3.Connection, conversation_id: str, owner: str, text: str) -> None:
        with db:
            db.execute(
                "INSERT INTO conversations VALUES (?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET "
                "updated = excluded.updated, messages = excluded.messages WHERE owner = excluded.owner",
                (conversation_id, owner, time.time(), text),
            )

    def count(self) -> int:
        result: int = self._run(lambda db: db.execute("SELECT COUNT(*) FROM conversations").fetchone()[0])
        return result

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
