"""Two replicas behind the real nginx, on Redis and on PostgreSQL: named callers' spend limits counted apart and
shared across replicas, the audit trail both replicas append to, and a real Prometheus scraping both.

The replicas run with `--auth token --tokens-file`, a `--budget-file` (re-read when it changes), a shared
`--audit-log` file and `OPPER_MCP_METRICS_TOKEN` (/metrics on each replica's MCP port, behind that token).
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from opper_mcp.auth import named_tokens
from opper_mcp.context.budget import usd
from opper_mcp.ops.budget import dollars, nano, window_at
from opper_mcp.store import open_store
from tests.cluster import Nginx, Replica, ReplicaLog, cluster
from tests.fake_opper import TEST_KEY, FakeOpperServer
from tests.prometheus_support import Prometheus, promtool_check
from tests.services import PostgresService, RedisService
from tests.support import data_of, error_text
from tests.transport_support import CHAT_MODEL, server_env

pytestmark = pytest.mark.anyio

METRICS_TOKEN = "metrics-token-cluster-4be1"
PLANTED = "PLANTED-SECRET-5e7d1c-in-the-prompt"
BUDGETS = "alice 1\nbob 1\n"


@pytest.fixture(scope="module", params=["redis", "postgres"])
def deployment(
    request: pytest.FixtureRequest, emulator: FakeOpperServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    backend = str(request.param)
    work = tmp_path_factory.mktemp(f"ops-{backend}")
    tokens = work / "tokens"
    team = {name: named_tokens.add(tokens, name) for name in ("alice", "bob")}
    budgets = work / "budgets"
    budgets.write_text(BUDGETS)
    audit = work / "audit.jsonl"
    service: RedisService | PostgresService = request.getfixturevalue(f"{backend}_service")
    if service.proc is None or service.proc.poll() is not None:
        service.start()
    if isinstance(service, RedisService):
        service.flush()
        url = service.url
    else:
        url = service.url_for(service.create_database())
    env = server_env(emulator.url, work / "cache", OPPER_MCP_METRICS_TOKEN=METRICS_TOKEN)
    with cluster(env, work, 2, "--auth", "token", "--tokens-file", str(tokens), "--stateless", "--store", url,
                 "--budget-file", str(budgets), "--budget-usd-per-day", "1", "--audit-log", str(audit),
                 "--log-level", "INFO") as (replicas, nginx):
        yield {"backend": backend, "replicas": replicas, "nginx": nginx, "budgets": budgets, "audit": audit,
               "store_url": url, "password": service.password, **team}


@asynccontextmanager
async def through(url: str, token: str, log: ReplicaLog | None = None) -> AsyncIterator[Client]:
    hooks = {"response": [log]} if log is not None else {}
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, event_hooks=hooks,
                              timeout=httpx2.Timeout(30, read=60))
    async with http, Client(streamable_http_client(url, http_client=http), read_timeout_seconds=30) as client:
        yield client


def write(path: Path, text: str) -> None:
    path.write_text(text)


def read(path: Path) -> str:
    return path.read_text()


def ask(prompt: str, **more: Any) -> dict[str, Any]:
    return {"model": CHAT_MODEL, "prompt": prompt, "max_tokens": 50, **more}


async def spent_today(store_url: str, owner: str) -> int:
    store = open_store(store_url, Path("/nonexistent"))
    try:
        return await store.spent(owner, window_at(time.time()).id)
    finally:
        await store.aclose()


async def test_budgets_are_counted_apart_and_shared_across_replicas(deployment: dict[str, Any]) -> None:
    r1, r2 = deployment["replicas"]
    nginx: Nginx = deployment["nginx"]
    budgets: Path = deployment["budgets"]
    try:
        async with through(r1.url, deployment["alice"]) as alice:  # alice spends on replica A
            first = data_of(await alice.call_tool("chat", ask("first")))
        spent = nano(first["cost_usd"])
        async with through(r2.url, deployment["alice"]) as alice:  # the same call's estimate, asked of replica B
            estimate = data_of(await alice.call_tool("chat", ask("second", dry_run=True)))["est_cost_usd"]
        limit = first["cost_usd"] + estimate / 2  # what is left is less than the next call's estimate
        write(budgets, f"alice {limit!r}\nbob 1\n")  # replicas re-read it at their next call

        async with through(r2.url, deployment["alice"]) as alice:  # refused on replica B: the count is shared
            message = error_text(await alice.call_tool("chat", ask("second")))
        assert f"daily spend limit reached for alice: {usd(dollars(spent))} spent of {usd(dollars(nano(limit)))} " \
            "today; this call's estimate" in message, message
        assert f"resets at {window_at(time.time()).resets}" in message

        async with through(r2.url, deployment["bob"]) as bob:  # bob's count is his own
            second = data_of(await bob.call_tool("chat", ask("bob's")))
        assert second["spend"].startswith(f"{usd(dollars(nano(second['cost_usd'])))} of $1 spent today")

        log = ReplicaLog()
        async with through(nginx.url, deployment["alice"], log) as alice:  # every replica refuses alice now
            for n in range(2):
                assert "daily spend limit reached for alice" in error_text(
                    await alice.call_tool("chat", ask(f"via nginx {n}")))
        assert sorted(log.calls()) == ["r1", "r2"]
        assert await spent_today(deployment["store_url"], "name:alice") == spent
        assert await spent_today(deployment["store_url"], "name:bob") == nano(second["cost_usd"])
    finally:
        write(budgets, BUDGETS)


async def test_audit_lines_from_both_replicas_hold_no_secret(deployment: dict[str, Any]) -> None:
    r1, r2 = deployment["replicas"]
    audit: Path = deployment["audit"]
    async with through(r1.url, deployment["alice"]) as alice:
        chat = data_of(await alice.call_tool("chat", ask(PLANTED, system=f"system {PLANTED}")))
    async with through(r2.url, deployment["bob"]) as bob:
        panel = data_of(await bob.call_tool("roundtable", {"input": PLANTED, "models": [CHAT_MODEL, "openai/gpt-5"]}))
        error_text(await bob.call_tool("chat", ask(PLANTED, model="nobody/unknown-model")))
    lines = [json.loads(line) for line in read(audit).splitlines()]
    assert all(set(line) == {"time", "replica", "caller", "tool", "outcome", "duration_ms", "models", "cost_usd",
                             "est_cost_usd", "trace_ids"} for line in lines)
    mine = next(line for line in lines if line["trace_ids"] == [chat["trace_id"]])
    assert mine["caller"] == "alice" and mine["replica"] == "r1" and mine["tool"] == "chat"
    assert mine["outcome"] == "ok" and mine["cost_usd"] == chat["cost_usd"] and mine["models"] == [CHAT_MODEL]
    theirs = next(line for line in lines if line["trace_ids"] == [panel["trace_id"]])
    assert theirs["caller"] == "bob" and theirs["replica"] == "r2" and theirs["tool"] == "roundtable"
    assert theirs["cost_usd"] == pytest.approx(panel["total_cost_usd"]) and len(theirs["models"]) == 2
    failed = [line for line in lines if line["models"] == ["nobody/unknown-model"]]
    assert failed and failed[-1]["outcome"] == "error" and failed[-1]["cost_usd"] is None
    text = read(audit) + "".join(r.stderr() for r in deployment["replicas"])
    for secret in (PLANTED, deployment["alice"], deployment["bob"], TEST_KEY, METRICS_TOKEN, deployment["password"]):
        assert secret not in text
    print("\n" + "\n".join(json.dumps(line) for line in (mine, theirs, failed[-1])))


@pytest.mark.parametrize("deployment", ["redis"], indirect=True)  # one store is enough to show the scrape
async def test_prometheus_scrapes_both_replicas(deployment: dict[str, Any]) -> None:
    replicas: list[Replica] = deployment["replicas"]
    prometheus = Prometheus([f"127.0.0.1:{r.port}" for r in replicas], bearer=METRICS_TOKEN)
    prometheus.start()
    try:
        log = ReplicaLog()
        async with through(deployment["nginx"].url, deployment["bob"], log) as bob:
            costs = [data_of(await bob.call_tool("chat", ask(f"scraped {n}")))["cost_usd"] for n in range(4)]
        assert sorted(set(log.calls())) == ["r1", "r2"]
        auth = {"Authorization": f"Bearer {METRICS_TOKEN}"}
        expositions = [httpx2.get(f"{r.base}/metrics", headers=auth, timeout=5).content for r in replicas]
        for body in expositions:
            assert promtool_check(body).returncode == 0
        series = 'opper_mcp_cost_usd_total{caller="bob",'  # every model bob used (a roundtable's too)
        direct = sum(float(line.split()[-1]) for body in expositions for line in body.decode().splitlines()
                     if line.startswith(series))
        assert direct >= sum(costs) > 0
        prometheus.wait_for('count(up{job="opper-mcp"} == 1)', lambda r: r and r[0]["value"][1] == "2")
        query = 'sum(opper_mcp_cost_usd_total{caller="bob"})'
        result = prometheus.wait_for(query, lambda r: r and abs(float(r[0]["value"][1]) - direct) < 1e-9)
        by_replica = prometheus.query('sum by (instance) (opper_mcp_cost_usd_total{caller="bob"})')
        assert len(by_replica) == 2 and all(float(r["value"][1]) > 0 for r in by_replica)
        print(f"\nPrometheus {query} = {result[0]['value'][1]} (replicas' own expositions sum to {direct}); "
              f"by instance: {[(r['metric']['instance'], r['value'][1]) for r in by_replica]}")
    finally:
        prometheus.stop()
