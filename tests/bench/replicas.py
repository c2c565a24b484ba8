"""Throughput and latency through the real nginx (deploy/nginx.conf) for 1 and 3 replicas.

Also measures why replicas run with --stateless: how many 2025-11-25 (session) clients get through
stateful replicas behind round robin, behind `hash $http_mcp_session_id consistent`, and stateless
replicas behind round robin. Usage:

    uv run python -m tests.bench.replicas [--seconds 8] [--store URL]

Everything runs on this machine: the emulator and the load generator (this process), nginx, and the
replicas. CPU seconds per process are printed so the limit is visible.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
import httpx2
import psutil  # type: ignore[import-untyped]
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from opper_mcp.auth import named_tokens
from tests.bench.__main__ import tools_call
from tests.cluster import Nginx, Replica, cluster
from tests.fake_opper import FakeOpperServer
from tests.transport_support import CHAT_MODEL, server_env

CLIENTS = 32


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def load(url: str, token: str, tool: str, args: dict[str, Any], seconds: float) -> tuple[float, list[float], int]:
    """CLIENTS workers sending raw 2026-07-28 tools/call POSTs for `seconds`: (calls/s, latencies, errors)."""
    latencies: list[float] = []
    errors = 0
    body, headers = tools_call(tool, args)
    headers = {**headers, "Authorization": f"Bearer {token}"}
    limits = httpx2.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
    async with httpx2.AsyncClient(limits=limits, timeout=30) as http:
        for _ in range(3):  # warm every replica's caches (spec index, model list)
            await http.post(url, json=body, headers=headers)
        stop = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < stop:
                t = time.perf_counter()
                response = await http.post(url, json=body, headers=headers)
                if response.status_code == 200 and '"isError":false' in response.text:
                    latencies.append(time.perf_counter() - t)
                else:
                    errors += 1

        start = time.perf_counter()
        async with anyio.create_task_group() as tg:
            for _ in range(CLIENTS):
                tg.start_soon(worker)
        took = time.perf_counter() - start
    return len(latencies) / took, latencies, errors


def cpu_s(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        times = psutil.Process(pid).cpu_times()
        total += times.user + times.system
    return total


async def measure(replicas: list[Replica], nginx: Nginx, token: str, tool: str, args: dict[str, Any],
                  seconds: float, via_nginx: bool = True) -> dict[str, Any]:
    assert nginx.proc is not None
    url = nginx.url if via_nginx else replicas[0].url
    groups = {"replicas": [r.proc.pid for r in replicas if r.proc], "nginx": [nginx.proc.pid],
              "emulator+load": [os.getpid()]}
    nginx_pids = [c.pid for c in psutil.Process(nginx.proc.pid).children()]
    groups["nginx"] += nginx_pids
    before = {k: cpu_s(v) for k, v in groups.items()}
    machine = psutil.cpu_times()
    wall = time.perf_counter()
    rate, latencies, errors = await load(url, token, tool, args, seconds)
    wall = time.perf_counter() - wall
    used = {k: (cpu_s(v) - before[k]) / wall for k, v in groups.items()}  # cores busy, on average
    after = psutil.cpu_times()
    busy = sum(getattr(after, f) - getattr(machine, f) for f in ("user", "system", "nice", "irq", "softirq")
               if hasattr(after, f)) / wall
    used["others"] = max(0.0, busy - sum(used.values()))  # everything else on the machine meanwhile
    return {"rate": rate, "p50": pct(latencies, 0.5), "p99": pct(latencies, 0.99), "errors": errors, "cores": used}


async def legacy_sessions(url: str, token: str, clients: int) -> int:
    """How many of `clients` 2025-11-25 clients can initialize and make two tool calls."""
    ok = 0
    for _ in range(clients):
        http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=10)
        try:
            async with http, Client(streamable_http_client(url, http_client=http), mode="legacy",
                                    read_timeout_seconds=10) as client:
                for _ in range(2):
                    result = await client.call_tool("grep_spec", {"pattern": "trace_uuid"})
                    assert not result.is_error
            ok += 1
        except Exception:  # a session unknown to the replica that got the request: the figure counts these
            pass
    return ok


async def main(seconds: float, store: str | None) -> None:
    from contextlib import ExitStack

    with tempfile.TemporaryDirectory() as tmp, FakeOpperServer() as fake, ExitStack() as stack:
        work = Path(tmp)
        if store is None:  # a real redis-server when there is one, else one SQLite file all replicas open
            try:
                from tests.services import RedisService

                (work / "redis").mkdir()
                redis = RedisService(work / "redis")
                redis.start()
                stack.callback(redis.close)
                store = redis.url
            except FileNotFoundError:
                store = f"sqlite://{work / 'conversations.sqlite3'}"
        path = work / "tokens"
        token = named_tokens.add(path, "bench")
        env = server_env(fake.url, work / "cache")
        base = ["--auth", "token", "--tokens-file", str(path), "--store", store]
        cpus = os.cpu_count()
        print(f"replicas behind nginx on {cpus} cores, {CLIENTS} concurrent clients, {seconds:g} s per row, "
              f"store {store.split('://')[0]}", file=sys.stderr)
        rows: list[tuple[str, dict[str, Any]]] = []
        for count in (1, 3):
            with cluster(env, work / f"n{count}", count, *base, "--stateless") as (replicas, nginx):
                plan: list[tuple[str, str, dict[str, Any], bool]] = [
                    (f"{count} replica(s) via nginx, grep_spec", "grep_spec", {"pattern": "trace_uuid"}, True),
                    (f"{count} replica(s) via nginx, chat", "chat", {"model": CHAT_MODEL, "prompt": "bench"}, True),
                ]
                if count == 1:
                    plan.insert(0, ("1 replica direct (no nginx), grep_spec", "grep_spec",
                                    {"pattern": "trace_uuid"}, False))
                for label, tool, args, via in plan:
                    row = await measure(replicas, nginx, token, tool, args, seconds, via_nginx=via)
                    rows.append((label, row))
                    print(f"  {label}: {row['rate']:.0f}/s", file=sys.stderr, flush=True)
        print(f"\n| setup | calls/s | p50 | p99 | errors | cores busy (of {cpus}): replicas / nginx / "
              "emulator+load / other processes |")
        print("|---|---|---|---|---|---|")
        for name, r in rows:
            c = r["cores"]
            print(f"| {name} | {r['rate']:.0f} | {r['p50'] * 1000:.1f} ms | {r['p99'] * 1000:.1f} ms | {r['errors']} "
                  f"| {c['replicas']:.2f} / {c['nginx']:.2f} / {c['emulator+load']:.2f} / {c['others']:.2f} |")

        print("\n| 2025-11-25 clients (sessions) behind 3 replicas | got through |")
        print("|---|---|")
        trials = 30
        for label, extra, balance in (
            ("stateful replicas, round robin", [], None),
            ("stateful replicas, hash $http_mcp_session_id consistent", [], "hash $http_mcp_session_id consistent;"),
            ("--stateless replicas, round robin", ["--stateless"], None),
        ):
            with cluster(env, work / f"s{len(label)}", 3, *base, *extra, balance=balance) as (_, nginx):
                ok = await legacy_sessions(nginx.url, token, trials)
            print(f"| {label} | {ok}/{trials} |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--store", help="a shared store URL for the replicas (default: a private redis-server)")
    ns = parser.parse_args()
    anyio.run(main, ns.seconds, ns.store)
