"""The conversation store contract: what chat and the conversations tool need, nothing more.

A conversation is an owner, a model, a headline (its first prompt, cut short), an optional system
prompt and a list of turns. Turns are only ever appended (never read, modified and written back),
so two continuations of one thread arriving at two replicas at once are both kept, in arrival order.

Bounds, enforced by every backend:
- age: a conversation not written for `max_age_s` is gone (its age restarts with every write);
- count: each owner keeps at most `max_conversations`; creating one more drops the owner's least
  recently updated (per owner, so one busy caller never evicts a colleague's threads);
- size: the stored turns of a conversation stay within `max_chars` (UTF-8 bytes of their JSON); an
  append that passes it drops the oldest turns, never the newest, and the system prompt is kept apart.

The store also keeps each caller's spend per window (`charge`, `spent`: `opper_mcp.ops.budget` decides what
they mean): an integer count of nano-USD per (owner, window), changed atomically, so N replicas share it.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

Message = dict[str, Any]

MAX_CONVERSATIONS = 1_000
MAX_AGE_S = 30 * 24 * 3600
MAX_CHARS = 400_000
HEADLINE_CHARS = 80


@dataclass(frozen=True)
class Bounds:
    max_age_s: float = MAX_AGE_S
    max_conversations: int = MAX_CONVERSATIONS
    max_chars: int = MAX_CHARS


@dataclass(frozen=True)
class ConversationSummary:
    id: str
    first_prompt: str
    model: str
    turns: int
    updated: datetime


@dataclass(frozen=True)
class Charge:
    """What `charge` did: `admitted` (the amount was added) and the window's total after it (or, refused, as it is)."""

    admitted: bool
    spent: int


def within(spent: int, amount: int, limit: int | None) -> bool:
    """The rule every backend applies atomically: with a limit, an amount is added only while the total was under
    it and stays within it (a zero amount is a pure check: admitted while under the limit)."""
    return limit is None or (spent < limit and spent + amount <= limit)


class UnknownConversation(LookupError):
    """Missing, expired, deleted, or another owner's: all read the same."""


class StoreUnavailable(RuntimeError):
    """The store could not be reached or answered with an error; the message names it (redacted) and why."""


class StoreConfigError(ValueError):
    """A store URL that cannot work (unknown scheme, missing driver); the message says how to fix it."""


class ConversationStore(Protocol):
    backend: str

    async def create(self, owner: str, model: str, first_prompt: str) -> str: ...
    async def append(
        self, conversation_id: str, owner: str, messages: list[Message], *, system: str | None = None
    ) -> None:
        """Add turns at the end; `system` (when given) replaces the conversation's system prompt."""
        ...

    async def load(self, conversation_id: str, owner: str) -> list[Message]:
        """The system prompt (if any) first, then the turns, within `max_chars`."""
        ...

    async def list(self, owner: str, limit: int) -> list[ConversationSummary]:
        """The owner's conversations, most recently updated first."""
        ...

    async def delete(self, conversation_id: str, owner: str) -> bool: ...
    async def ping(self) -> None:
        """Raises StoreUnavailable unless the store answers."""
        ...

    async def charge(self, owner: str, window: str, amount: int, limit: int | None, *, expires_at: float) -> Charge:
        """Add `amount` (nano-USD; negative to give back) to the owner's spend in `window`, in one atomic step
        and one round trip, if `within(spent, amount, limit)`; the record may go once `expires_at` (epoch s) passed."""
        ...

    async def spent(self, owner: str, window: str) -> int:
        """The owner's spend in `window` (0 when none was counted)."""
        ...

    async def aclose(self) -> None: ...


def new_id() -> str:
    return "conv_" + secrets.token_urlsafe(12)


def headline(text: str, limit: int = HEADLINE_CHARS) -> str:
    """The first prompt on one line, cut short for a listing."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def encode(message: Message) -> str:
    return json.dumps(message, ensure_ascii=False, separators=(",", ":"))


def size_of(message: Message) -> int:
    """A turn's size as every backend counts it: UTF-8 bytes of its compact JSON."""
    return len(encode(message).encode("utf-8"))


def trim(messages: list[Message], max_chars: int = MAX_CHARS) -> list[Message]:
    """Drop the oldest non-system turns until the conversation fits `max_chars`; the newest always stays."""
    sizes = [size_of(m) for m in messages]
    keep = list(range(len(messages)))
    while sum(sizes[i] for i in keep) > max_chars and len(keep) > 1:
        drop = next((i for i in keep if messages[i].get("role") != "system"), None)
        if drop is None or drop == keep[-1]:
            break
        keep.remove(drop)
    return [messages[i] for i in keep]


def with_system(system: str | None, turns: list[Message], max_chars: int) -> list[Message]:
    head: list[Message] = [{"role": "system", "content": system}] if system else []
    return trim([*head, *turns], max_chars)
