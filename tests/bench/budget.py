"""What the spend-limit check costs per tool call: store round trips (counted on the wire) and time, per backend.

The check before sending is `Budget.hold` (one atomic `charge` with the limit); `settle` runs after the call.
Redis and PostgreSQL are real servers reached through a loopback TCP relay that counts round trips: a burst of
bytes from the client that follows an answer (or opens a connection) is one round trip, and the calls run one
at a time so bursts cannot overlap. The baseline is one plain command of the same store (Redis GET, PostgreSQL
`SELECT 1` through the same pool). SQLite has no wire: its figure is time only. Usage:

    uv run python -m tests.bench.budget [-n 500]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from opper_mcp.ops.budget import Budget, Limits
from opper_mcp.store import ConversationStore, open_store
from tests.bench.store import pct, timed
from tests.services import PostgresService, RedisService
from tests.transport_support import free_port


class Relay:
    """127.0.0.1:port → target, counting round trips (client bursts that follow server data or a new connection)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self.round_trips = 0
        self.connections = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection("127.0.0.1", self.target_port)
        self.connections += 1
        last = ["server"]  # a new connection's first bytes start a round trip

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter, side: str) -> None:
            try:
                while data := await src.read(65536):
                    if side == "client" and last[0] != "client":
                        self.round_trips += 1
                    last[0] = side
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.close()

        with contextlib.suppress(asyncio.CancelledError):  # the run ends with connections still open
            await asyncio.gather(pump(client_r, server_w, "client"), pump(server_r, client_w, "server"))

    def reset(self) -> None:
        self.round_trips = 0

    def close(self) -> None:
        if self._server is not None:
            self._server.close()


async def measure(name: str, store: ConversationStore, baseline: Callable[[], Awaitable[Any]], relay: Relay | None,
                  n: int) -> list[str]:
    budget = Budget(store, Limits(1_000_000.0))
    for _ in range(5):  # warm: connections, schema, scripts loaded
        await budget.settle("warm", await budget.hold("warm", "warm", 0.001), 0.0005, failed=False)
        await baseline()

    rows = []
    for label, call in (
        ("baseline: one plain store command", lambda i: baseline()),
        ("budget check before sending (hold)", lambda i: budget.hold("bench", f"bench-{i % 8}", 0.0123)),
        ("after the call (settle to the reported cost)",
         lambda i: budget.settle(f"bench-{i % 8}", None, 0.0042, failed=False)),
    ):
        if relay is not None:
            relay.reset()
        took = [ms * 1000 for ms in await timed(n, call)]  # microseconds
        trips = f"{relay.round_trips / n:.2f}" if relay is not None else "-"
        rows.append(f"{name:10} | {label:46} | {trips:>11} | {statistics.median(took):8.0f} | {pct(took, 0.99):8.0f}")
    return rows


async def main(n: int) -> None:
    rows = []
    root = Path(tempfile.mkdtemp(prefix="opper-budget-bench-"))
    sqlite = open_store(f"sqlite://{root / 'b.sqlite3'}", root)
    rows += await measure("sqlite", sqlite, lambda: sqlite.spent("x", "w"), None, n)
    await sqlite.aclose()

    redis = RedisService(root / "redis")
    (root / "redis").mkdir()
    redis.start()
    relay = Relay(redis.port)
    await relay.start()
    store = open_store(redis.url.replace(f":{redis.port}/", f":{relay.port}/"), root)
    rows += await measure("redis", store, lambda: store.spent("x", "w"), relay, n)
    await store.aclose()
    relay.close()
    redis.close()

    pg = PostgresService(durable=True)
    pg.start()
    relay = Relay(pg.port)
    await relay.start()
    store = open_store(pg.url.replace(f":{pg.port}/", f":{relay.port}/"), root)

    async def select_1() -> None:
        await store._call(lambda conn: conn.execute("SELECT 1"))  # type: ignore[attr-defined]

    rows += await measure("postgres", store, select_1, relay, n)
    await store.aclose()
    relay.close()
    pg.close()

    print(f"budget check cost, {n} sequential calls each (times in microseconds)")
    print(f"{'store':10} | {'operation':46} | round trips | {'p50 us':>8} | {'p99 us':>8}")
    for row in rows:
        print(row)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=500)
    args = parser.parse_args()
    asyncio.run(main(args.n))
    sys.exit(0)
