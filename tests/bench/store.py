"""Latency of each conversation-store operation, per backend, on this machine, in one run.

Starts real servers the way the test fixtures do (Redis with append-only persistence; PostgreSQL with
fsync on, as in production), then times create / append / load / list / delete through the store API
(p50 and p99 over N sequential calls, plus 16 concurrent appenders for append throughput). Usage:

    uv run python -m tests.bench.store [-n 300]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio

from opper_mcp.store import Bounds, ConversationStore, open_store
from tests.services import PostgresService, RedisService

OWNER = "bench-owner"
EXCHANGE = [{"role": "user", "content": "What does this function do? " + "x" * 400},
            {"role": "assistant", "content": "It adds two numbers. " + "y" * 1200}]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def timed(n: int, call: Callable[[int], Awaitable[Any]]) -> list[float]:
    out = []
    for i in range(n):
        start = time.perf_counter()
        await call(i)
        out.append((time.perf_counter() - start) * 1000)
    return out


async def bench(name: str, store: ConversationStore, n: int) -> list[str]:
    await store.ping()
    ids: list[str] = []

    async def create(i: int) -> None:
        ids.append(await store.create(OWNER, "openai/gpt-5-mini", f"question {i}"))

    results = {"create": await timed(n, create)}
    results["append"] = await timed(n, lambda i: store.append(ids[i], OWNER, EXCHANGE, system="Be brief."))
    thread = ids[0]
    for _ in range(20):  # a 20-exchange thread to load
        await store.append(thread, OWNER, EXCHANGE)
    results["load (21 exchanges)"] = await timed(n, lambda i: store.load(thread, OWNER))
    results["list (20 newest)"] = await timed(n, lambda i: store.list(OWNER, 20))
    results["delete"] = await timed(n, lambda i: store.delete(ids[i], OWNER))

    target = await store.create(OWNER, "m", "concurrent")
    writers, each = 16, max(10, n // 16)
    start = time.perf_counter()

    async def writer() -> None:
        for _ in range(each):
            await store.append(target, OWNER, EXCHANGE)

    async with anyio.create_task_group() as tg:
        for _ in range(writers):
            tg.start_soon(writer)
    elapsed = time.perf_counter() - start
    kept = len(await store.load(target, OWNER))
    lines = [f"| {name} | {op} | {statistics.median(v):.2f} | {pct(v, 0.99):.2f} |" for op, v in results.items()]
    lines.append(f"| {name} | append, {writers} concurrent on one thread | {writers * each / elapsed:.0f} appends/s "
                 f"| {kept // 2}/{writers * each} kept |")
    return lines


async def main(n: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="opper-store-bench-"))
    redis = RedisService()
    postgres = PostgresService(durable=True)
    redis.start()
    postgres.start()
    try:
        roomy = Bounds(max_chars=10**9)  # so the concurrent run can count every turn it wrote
        stores = {
            "sqlite": open_store(f"sqlite://{tmp / 'bench.sqlite3'}", tmp, roomy),
            "redis": open_store(redis.url, tmp, roomy),
            "postgres": open_store(postgres.url_for(postgres.create_database()), tmp, roomy),
        }
        rows = ["| backend | operation | p50 ms | p99 ms |", "|---|---|---|---|"]
        for name, store in stores.items():
            print(f"  {name}…", file=sys.stderr, flush=True)
            try:
                rows += await bench(name, store, n)
            finally:
                await store.aclose()
        print("\n".join(rows))
    finally:
        redis.close()
        postgres.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=300, help="calls per operation (default 300)")
    anyio.run(main, parser.parse_args().n)
