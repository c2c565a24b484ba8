"""Three replicas behind the real nginx (deploy/nginx.conf): named tokens, both protocol eras, any replica.

The replicas share one conversation store (a real redis-server) and one tokens file, as
deploy/README.md says they must.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from opper_mcp.auth import named_tokens
from tests.cluster import NGINX_CONF, REPLICA_HEADER, Nginx, Replica, ReplicaLog, cluster, render_nginx_conf
from tests.fake_opper import FakeOpperServer
from tests.services import RedisService
from tests.support import MODES, data_of, error_text
from tests.transport_support import CHAT_MODEL, server_env

pytestmark = pytest.mark.anyio

CHAT_PATH = "/v3/compat/chat/completions"
SHARED_TOKEN = "shared-team-token-4d1c9e"
PANEL = [CHAT_MODEL, "openai/gpt-5-mini"]


@pytest.fixture(scope="module")
def team(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    work = tmp_path_factory.mktemp("team")
    path = work / "tokens"
    alice, bob = named_tokens.add(path, "alice"), named_tokens.add(path, "bob")
    return {"work": work, "tokens_file": path, "alice": alice, "bob": bob}


@pytest.fixture(scope="module")
def deployment(
    emulator: FakeOpperServer, team: dict[str, Any], redis_service: RedisService
) -> Iterator[tuple[list[Replica], Nginx]]:
    work: Path = team["work"]
    if redis_service.proc is None or redis_service.proc.poll() is not None:
        redis_service.start()
    redis_service.flush()
    env = server_env(emulator.url, work / "cache", OPPER_MCP_HTTP_TOKEN=SHARED_TOKEN)
    with cluster(env, work, 3, "--auth", "token", "--tokens-file", str(team["tokens_file"]), "--stateless",
                 "--store", redis_service.url, "--log-level", "INFO") as running:
        yield running


@pytest.fixture
def fake(emulator: FakeOpperServer) -> FakeOpperServer:
    emulator.state.reset()
    return emulator


@asynccontextmanager
async def through(url: str, token: str, mode: str, log: ReplicaLog) -> AsyncIterator[Client]:
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, event_hooks={"response": [log]},
                              timeout=httpx2.Timeout(30, read=60))
    async with http, Client(streamable_http_client(url, http_client=http), mode=mode,
                            read_timeout_seconds=30) as client:
        yield client


def test_rendered_conf_changes_only_the_ports() -> None:
    shipped = NGINX_CONF.read_text()
    rendered = render_nginx_conf(shipped, [5001, 5002], 6000)
    assert "server 127.0.0.1:5001 max_fails=1 fail_timeout=5s;" in rendered
    assert "listen 127.0.0.1:6000;" in rendered and "8001" not in rendered

    def without_ports(text: str) -> list[str]:
        return [line for line in text.splitlines() if not re.search(r"127\.0\.0\.1:\d+", line)]

    assert without_ports(rendered) == without_ports(shipped)
    for directive in ("proxy_buffering off;", "proxy_http_version 1.1;", 'proxy_set_header Connection "";',
                      "proxy_read_timeout 3600s;", "keepalive 32;", "proxy_next_upstream error timeout;",
                      "location = /healthz"):
        assert directive in shipped, directive
    assert "non_idempotent" not in shipped.replace("`non_idempotent` is deliberately absent", "")


def test_healthz_through_nginx_names_each_replica(deployment: tuple[list[Replica], Nginx]) -> None:
    replicas, nginx = deployment
    seen = set()
    for _ in range(6):
        response = httpx2.get(f"{nginx.base}/healthz", timeout=5)
        assert response.status_code == 200
        body = response.json()
        assert body["status"] == "ok" and body["replica"] == response.headers[REPLICA_HEADER]
        assert body["store"]["backend"] == "redis" and body["store"]["ok"] is True
        seen.add(body["replica"])
    assert seen == {"r1", "r2", "r3"}
    # refusals name the replica too
    refused = httpx2.post(replicas[0].url, json={}, timeout=5)
    assert refused.status_code == 401 and refused.headers[REPLICA_HEADER] == "r1"


@pytest.mark.parametrize("mode", MODES)
async def test_conversation_continues_on_other_replicas(
    deployment: tuple[list[Replica], Nginx], fake: FakeOpperServer, team: dict[str, Any], mode: str
) -> None:
    _, nginx = deployment
    log = ReplicaLog()
    prompts = [f"{mode} turn {i}" for i in range(4)]
    async with through(nginx.url, team["alice"], mode, log) as client:
        first = data_of(await client.call_tool("chat", {"model": CHAT_MODEL, "prompt": prompts[0]}))
        conversation = first["conversation_id"]
        for prompt in prompts[1:]:
            turn = data_of(await client.call_tool(
                "chat", {"model": CHAT_MODEL, "prompt": prompt, "conversation_id": conversation}))
            assert turn["conversation_id"] == conversation
    served = log.calls()
    assert len(served) == 4 and set(served) == {"r1", "r2", "r3"}, served  # round robin: every replica took part
    assert all(a != b for a, b in itertools.pairwise(served)), served  # each turn on another replica
    # the last request upstream carried the whole thread, whichever replica started each turn
    history = [m["content"] for m in fake.state.last_request(CHAT_PATH).json["messages"] if m["role"] == "user"]
    assert history == prompts


async def test_named_tokens_keep_conversations_apart_and_name_the_caller(
    deployment: tuple[list[Replica], Nginx], fake: FakeOpperServer, team: dict[str, Any]
) -> None:
    replicas, nginx = deployment
    log = ReplicaLog()
    async with through(nginx.url, team["alice"], "auto", log) as alice:
        mine = data_of(await alice.call_tool("chat", {"model": CHAT_MODEL, "prompt": "alice's secret plan"}))
        panel = data_of(await alice.call_tool("roundtable", {"input": "which queue?", "models": PANEL}))
    upstream = fake.state.last_request(CHAT_PATH)
    assert upstream.headers["x-opper-name"] == "opper-mcp/chat@alice"  # Opper records it as the trace name
    assert fake.state.get_trace(mine["trace_id"])["name"] == "opper-mcp/chat@alice"
    assert fake.state.last_request("/v3/roundtable").headers["x-opper-name"] == "opper-mcp/roundtable@alice"
    assert fake.state.get_trace(panel["trace_id"])["name"] == "opper-mcp/roundtable@alice"
    for mode in MODES:  # bob, on every replica in turn, cannot continue alice's conversation
        async with through(nginx.url, team["bob"], mode, log) as bob:
            for _ in range(3):
                refused = await bob.call_tool("chat", {"model": CHAT_MODEL, "prompt": "show me",
                                                       "conversation_id": mine["conversation_id"]})
                assert "unknown conversation_id" in error_text(refused)
    assert "alice's secret plan" not in str([r.json for r in fake.state.requests_to(CHAT_PATH)[1:]])
    async with through(nginx.url, SHARED_TOKEN, "auto", log) as shared:  # nor can the shared token's holder
        refused = await shared.call_tool("chat", {"model": CHAT_MODEL, "prompt": "x",
                                                  "conversation_id": mine["conversation_id"]})
        assert "unknown conversation_id" in error_text(refused)
    logs = "".join(r.stderr() for r in replicas)
    assert re.search(r"tool=chat caller=alice duration_ms=\d+ outcome=ok", logs)
    assert re.search(r"tool=chat caller=bob duration_ms=\d+ outcome=error", logs)
    assert team["alice"] not in logs and team["bob"] not in logs and SHARED_TOKEN not in logs


async def test_named_callers_list_and_delete_only_their_own(
    deployment: tuple[list[Replica], Nginx], fake: FakeOpperServer, team: dict[str, Any]
) -> None:
    _, nginx = deployment
    log = ReplicaLog()

    async def listed(client: Client) -> set[str]:
        data = data_of(await client.call_tool("conversations", {"limit": 100}))
        return {c["conversation_id"] for c in data["conversations"]}

    async with through(nginx.url, team["alice"], "auto", log) as alice, \
            through(nginx.url, team["bob"], "legacy", log) as bob:
        mine = [data_of(await alice.call_tool("chat", {"model": CHAT_MODEL, "prompt": f"alice list {i}"}))
                ["conversation_id"] for i in range(2)]
        theirs = data_of(await bob.call_tool("chat", {"model": CHAT_MODEL, "prompt": "bob list"}))["conversation_id"]
        for _ in range(3):  # each listing on another replica: every one sees the same thing
            assert set(mine) <= await listed(alice) and theirs not in await listed(alice)
            assert theirs in await listed(bob) and not set(mine) & await listed(bob)
        refused = await bob.call_tool("conversations", {"delete": mine[0]})
        assert "unknown conversation_id" in error_text(refused)
        data_of(await alice.call_tool("chat", {"model": CHAT_MODEL, "prompt": "still mine",
                                               "conversation_id": mine[0]}))
        assert data_of(await alice.call_tool("conversations", {"delete": mine[0]}))["deleted"] == mine[0]
        gone = await alice.call_tool("chat", {"model": CHAT_MODEL, "prompt": "x", "conversation_id": mine[0]})
        assert "unknown conversation_id" in error_text(gone)
        assert mine[0] not in await listed(alice) and mine[1] in await listed(alice)
    assert len(set(log.calls())) == 3, log.calls()


async def test_removed_token_is_refused_by_every_replica(
    deployment: tuple[list[Replica], Nginx], fake: FakeOpperServer, team: dict[str, Any]
) -> None:
    replicas, nginx = deployment
    path: Path = team["tokens_file"]
    carol = named_tokens.add(path, "carol")
    try:
        headers = {"Authorization": f"Bearer {carol}"}
        log = ReplicaLog()
        async with through(nginx.url, carol, "auto", log) as client:
            assert "carol" in data_of(await client.call_tool("chat", {"model": CHAT_MODEL, "prompt": "carol"}))["text"]
        named_tokens.remove(path, "carol")
        for replica in replicas:
            response = httpx2.post(replica.url, headers=headers, json={}, timeout=5)
            assert response.status_code == 401, (replica.name, response.text)
            assert response.headers[REPLICA_HEADER] == replica.name
        for _ in range(3):
            assert httpx2.post(nginx.url, headers=headers, json={}, timeout=5).status_code == 401
        async with through(nginx.url, team["alice"], "auto", log) as alice:  # the others are unaffected
            data_of(await alice.call_tool("chat", {"model": CHAT_MODEL, "prompt": "still here"}))
    finally:
        if "carol" in named_tokens.TokensFile(path).names():
            named_tokens.remove(path, "carol")
