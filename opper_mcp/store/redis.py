"""Redis: a shared store for N replicas (redis-py's asyncio client; the `redis` extra).

Keys (a single Redis or a primary with replicas, not Redis Cluster: scripts touch keys they compute):
- `opper-mcp:conv:<id>`        hash: owner, model, title, system, chars, updated (ms)
- `opper-mcp:conv:<id>:turns`  list: one compact-JSON turn per element, oldest first
- `opper-mcp:owner:<owner>`    sorted set: the owner's conversation ids by last update (ms)
- `opper-mcp:spend:<window>:<owner>`  integer: the owner's spend in that window (nano-USD), expiring after it

Every write is one Lua script, so it checks the owner and appends (RPUSH) atomically, in arrival order,
without reading the turns back; it also trims the oldest turns past the size bound, and sets the
expiry (PEXPIRE) on every key it touches, so age is enforced by Redis itself.

The client connects on first use and needs no restart after an outage: a call while Redis is down fails
at once (connection refused), and the first call after it is back succeeds. Pooled connections that the
old server closed are replaced before use, and a connection that breaks under a command is retried once,
at once, on a new socket (see `_client_options`).
"""

from __future__ import annotations

import builtins
import json
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

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
from opper_mcp.store.url import failure, tls_hint

T = TypeVar("T")
PREFIX = "opper-mcp:"

# KEYS: conv, owner index. ARGV: id, owner, model, title, now ms, ttl ms, max count, prefix.
CREATE = """
redis.call('HSET', KEYS[1], 'owner', ARGV[2], 'model', ARGV[3], 'title', ARGV[4], 'chars', 0, 'updated', ARGV[5])
redis.call('PEXPIRE', KEYS[1], ARGV[6])
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. (tonumber(ARGV[5]) - tonumber(ARGV[6])))
local excess = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[7])
if excess > 0 then
  for _, old in ipairs(redis.call('ZRANGE', KEYS[2], 0, excess - 1)) do
    redis.call('DEL', ARGV[8] .. 'conv:' .. old, ARGV[8] .. 'conv:' .. old .. ':turns')
    redis.call('ZREM', KEYS[2], old)
  end
end
redis.call('PEXPIRE', KEYS[2], ARGV[6])
return 1
"""

# KEYS: conv, turns, owner index. ARGV: id, owner, now ms, ttl ms, max chars, system ('' = keep), turns...
APPEND = """
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[2] then return 0 end
local chars = tonumber(redis.call('HGET', KEYS[1], 'chars') or '0')
for i = 7, #ARGV do
  redis.call('RPUSH', KEYS[2], ARGV[i])
  chars = chars + string.len(ARGV[i])
end
while chars > tonumber(ARGV[5]) and redis.call('LLEN', KEYS[2]) > 1 do
  chars = chars - string.len(redis.call('LPOP', KEYS[2]))
end
if ARGV[6] ~= '' then redis.call('HSET', KEYS[1], 'system', ARGV[6]) end
redis.call('HSET', KEYS[1], 'chars', chars, 'updated', ARGV[3])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], ARGV[4]) end
return 1
"""

# KEYS: spend. ARGV: amount, limit ('' = none), expire at (ms). The rule is store.base.within.
CHARGE = """
local spent = tonumber(redis.call('GET', KEYS[1]) or '0')
if ARGV[2] ~= '' then
  local limit = tonumber(ARGV[2])
  if spent >= limit or spent + tonumber(ARGV[1]) > limit then return {0, spent} end
end
spent = redis.call('INCRBY', KEYS[1], ARGV[1])
redis.call('PEXPIREAT', KEYS[1], ARGV[3])
return {1, spent}
"""

# KEYS: conv, turns, owner index. ARGV: id, owner.
DELETE = """
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[2] then return 0 end
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('ZREM', KEYS[3], ARGV[1])
return 1
"""


def _now_ms() -> int:
    return int(time.time() * 1000)


def _client_options() -> dict[str, Any]:
    """How the pool survives a restarted Redis without failing a call on every connection the old one held.

    redis-py checks a pooled connection on checkout and reconnects it when the server has closed it,
    but skips that check while "maintenance notifications" (a Redis Enterprise/Cloud feature, on by
    default with RESP3) are enabled; and `from_url` pools get no retries. Together, each connection idle
    through an outage failed one call ("Connection closed by server") after Redis was back. So: no
    maintenance notifications (plain Redis sends none), and one immediate retry on a new socket for a
    connection that breaks under a command. Only connection errors are retried, never timeouts (a slow
    write must not run twice or take twice as long); the retry can repeat a write only if the server
    dropped the connection after running it and accepts a new one at once, which a stopped server cannot.
    """
    options: dict[str, Any] = {"retry": Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,))}
    try:
        from redis.maint_notifications import MaintNotificationsConfig
    except ImportError:  # an older redis-py: no such mode, the checkout check always runs
        return options
    options["maint_notifications_config"] = MaintNotificationsConfig(enabled=False)
    return options


class RedisConversationStore:
    backend = "redis"

    def __init__(self, url: str, bounds: Bounds | None = None, *, timeout_s: float = 5.0, prefix: str = PREFIX) -> None:
        self.url = url
        self.bounds = bounds or Bounds()
        self.prefix = prefix
        self._ttl_ms = max(1, int(self.bounds.max_age_s * 1000))
        # No connection is made here: the first command connects, a failed one reconnects next time.
        self._redis = aioredis.Redis.from_url(
            url, decode_responses=True, socket_connect_timeout=min(timeout_s, 3.0), socket_timeout=timeout_s,
            health_check_interval=30, **_client_options(),
        )
        self._create = self._redis.register_script(CREATE)
        self._append = self._redis.register_script(APPEND)
        self._delete = self._redis.register_script(DELETE)
        self._charge = self._redis.register_script(CHARGE)

    def _conv(self, conversation_id: str) -> str:
        return f"{self.prefix}conv:{conversation_id}"

    def _owner(self, owner: str) -> str:
        return f"{self.prefix}owner:{owner}"

    async def _call(self, fn: Callable[[], Awaitable[T]]) -> T:
        try:
            return await fn()
        except (RedisError, OSError) as exc:
            raise StoreUnavailable(failure(self.url, exc, tls_hint(self.url, str(exc)))) from exc

    async def create(self, owner: str, model: str, first_prompt: str) -> str:
        conversation_id = new_id()
        conv = self._conv(conversation_id)
        await self._call(lambda: self._create(
            keys=[conv, self._owner(owner)],
            args=[conversation_id, owner, model, headline(first_prompt), _now_ms(), self._ttl_ms,
                  self.bounds.max_conversations, self.prefix],
        ))
        return conversation_id

    async def append(
        self, conversation_id: str, owner: str, messages: builtins.list[Message], *, system: str | None = None
    ) -> None:
        conv = self._conv(conversation_id)
        done = await self._call(lambda: self._append(
            keys=[conv, conv + ":turns", self._owner(owner)],
            args=[conversation_id, owner, _now_ms(), self._ttl_ms, self.bounds.max_chars, system or "",
                  *(encode(m) for m in messages)],
        ))
        if not done:
            raise UnknownConversation(conversation_id)

    async def load(self, conversation_id: str, owner: str) -> builtins.list[Message]:
        conv = self._conv(conversation_id)

        async def read() -> builtins.list[Any]:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.hmget(conv, "owner", "system")
                pipe.lrange(conv + ":turns", 0, -1)
                result: builtins.list[Any] = await pipe.execute()
                return result

        (stored_owner, system), turns = await self._call(read)
        if stored_owner != owner:
            raise UnknownConversation(conversation_id)
        return with_system(system, [json.loads(t) for t in turns], self.bounds.max_chars)

    async def list(self, owner: str, limit: int) -> builtins.list[ConversationSummary]:
        index = self._owner(owner)

        async def read() -> builtins.list[ConversationSummary]:
            await self._redis.zremrangebyscore(index, "-inf", f"({_now_ms() - self._ttl_ms}")
            ids = [str(i) for i in await self._redis.zrevrange(index, 0, max(0, limit - 1))]
            async with self._redis.pipeline(transaction=False) as pipe:
                for conversation_id in ids:
                    pipe.hmget(self._conv(conversation_id), "owner", "title", "model", "updated")
                    pipe.llen(self._conv(conversation_id) + ":turns")
                rows = await pipe.execute()
            found = []
            for i, conversation_id in enumerate(ids):
                (stored_owner, title, model, updated), turns = rows[2 * i], rows[2 * i + 1]
                if stored_owner == owner:  # expired (or evicted) ones have no hash any more
                    found.append(ConversationSummary(
                        id=conversation_id, first_prompt=title or "", model=model or "", turns=int(turns),
                        updated=datetime.fromtimestamp(int(updated) / 1000, UTC),
                    ))
            return found

        return await self._call(read)

    async def delete(self, conversation_id: str, owner: str) -> bool:
        conv = self._conv(conversation_id)
        done = await self._call(lambda: self._delete(
            keys=[conv, conv + ":turns", self._owner(owner)], args=[conversation_id, owner]
        ))
        return bool(done)

    async def ping(self) -> None:
        await self._call(self._redis.ping)

    def _spend(self, owner: str, window: str) -> str:
        return f"{self.prefix}spend:{window}:{owner}"

    async def charge(self, owner: str, window: str, amount: int, limit: int | None, *, expires_at: float) -> Charge:
        admitted, spent = await self._call(lambda: self._charge(
            keys=[self._spend(owner, window)],
            args=[amount, "" if limit is None else limit, int(expires_at * 1000)],
        ))
        return Charge(bool(admitted), int(spent))

    async def spent(self, owner: str, window: str) -> int:
        value = await self._call(lambda: self._redis.get(self._spend(owner, window)))
        return int(value or 0)

    async def aclose(self) -> None:
        await self._redis.aclose()
