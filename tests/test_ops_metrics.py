"""/metrics of one real server process: where it is served (its own port, or the MCP port behind its own token),
what it counts after real calls, and `promtool check metrics` on it."""

from __future__ import annotations

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
from tests.fake_opper import TEST_KEY, FakeOpperServer
from tests.prometheus_support import promtool_check
from tests.support import data_of, error_text
from tests.transport_support import CHAT_MODEL, HttpServer, free_port, http_server, server_env

pytestmark = pytest.mark.anyio

METRICS_TOKEN = "metrics-token-7c1e55aa"


@pytest.fixture(scope="module")
def served(emulator: FakeOpperServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    work = tmp_path_factory.mktemp("metrics")
    tokens = work / "tokens"
    alice = named_tokens.add(tokens, "alice")
    budgets = work / "budgets"
    budgets.write_text("alice 1\ncarol 0\n")
    carol = named_tokens.add(tokens, "carol")
    port = free_port()
    env = server_env(emulator.url, work / "cache", OPPER_MCP_METRICS_TOKEN=METRICS_TOKEN)
    with http_server(env, work / "logs", "--auth", "token", "--tokens-file", str(tokens), "--budget-file",
                     str(budgets), "--metrics-port", str(port), "--replica-name", "m1") as server:
        yield {"server": server, "metrics_port": port, "alice": alice, "carol": carol}


@asynccontextmanager
async def as_caller(server: HttpServer, token: str) -> AsyncIterator[Client]:
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=httpx2.Timeout(30, read=60))
    async with http, Client(streamable_http_client(server.url, http_client=http), read_timeout_seconds=30) as client:
        yield client


def value(text: str, series: str) -> float:
    """The sample of one series (name and labels exactly as exposed), 0 when absent."""
    match = re.search(rf"^{re.escape(series)} (\S+)$", text, re.M)
    return float(match.group(1)) if match else 0.0


def test_metrics_port_and_token(served: dict[str, Any]) -> None:
    server: HttpServer = served["server"]
    on_port = httpx2.get(f"http://127.0.0.1:{served['metrics_port']}/metrics", timeout=5)
    assert on_port.status_code == 200 and on_port.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert "opper_mcp_build_info" in on_port.text
    assert httpx2.get(f"http://127.0.0.1:{served['metrics_port']}/mcp", timeout=5).status_code == 404
    # on the MCP port: only with the metrics token; a caller's token is not it
    assert httpx2.get(f"{server.base}/metrics", timeout=5).status_code == 401
    headers = {"Authorization": f"Bearer {served['alice']}"}
    assert httpx2.get(f"{server.base}/metrics", headers=headers, timeout=5).status_code == 401
    ok = httpx2.get(f"{server.base}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}, timeout=5)
    assert ok.status_code == 200 and 'opper_mcp_build_info{replica="m1"' in ok.text


async def test_what_the_metrics_count(served: dict[str, Any], emulator: FakeOpperServer) -> None:
    server: HttpServer = served["server"]
    metrics_url = f"http://127.0.0.1:{served['metrics_port']}/metrics"
    before = httpx2.get(metrics_url, timeout=5).text
    costs = []
    async with as_caller(server, served["alice"]) as alice:
        for n in range(2):
            costs.append(data_of(await alice.call_tool("chat", {"model": CHAT_MODEL, "prompt": f"m{n}",
                                                               "max_tokens": 100}))["cost_usd"])
        error_text(await alice.call_tool("chat", {"model": "nobody/no-such-model", "prompt": "x", "max_tokens": 5}))
        data_of(await alice.call_tool("list_models", {"query": "haiku"}))
    async with as_caller(server, served["carol"]) as carol:  # carol's limit is 0: refused
        assert "daily spend limit reached for carol" in error_text(
            await carol.call_tool("chat", {"model": CHAT_MODEL, "prompt": "c", "max_tokens": 5}))
    assert httpx2.post(server.url, json={}, timeout=5).status_code == 401
    assert httpx2.post(server.url, json={}, headers={"Authorization": "Bearer nope"}, timeout=5).status_code == 401
    text = httpx2.get(metrics_url, timeout=5).text

    def grew(series: str) -> float:
        return value(text, series) - value(before, series)

    assert grew('opper_mcp_tool_calls_total{outcome="ok",tool="chat"}') == 2
    assert grew('opper_mcp_tool_calls_total{outcome="error",tool="chat"}') == 1
    assert grew('opper_mcp_tool_calls_total{outcome="refused",tool="chat"}') == 1
    assert grew('opper_mcp_tool_calls_total{outcome="ok",tool="list_models"}') == 1
    assert grew('opper_mcp_tool_call_duration_seconds_count{tool="chat"}') == 4
    assert grew(f'opper_mcp_cost_usd_total{{caller="alice",model="{CHAT_MODEL}"}}') == pytest.approx(sum(costs))
    assert grew('opper_mcp_budget_refusals_total{caller="carol"}') == 1
    assert grew('opper_mcp_auth_failures_total{reason="missing_token"}') == 1
    assert grew('opper_mcp_auth_failures_total{reason="invalid_token"}') == 1
    assert grew('opper_mcp_upstream_requests_total{status="200"}') >= 2
    assert grew('opper_mcp_upstream_requests_total{status="404"}') == 1  # the unknown model
    assert value(text, "opper_mcp_upstream_streams_in_flight") == 0
    assert value(text, 'opper_mcp_store_up{backend="sqlite"}') == 1
    assert "process_resident_memory_bytes" in text
    for secret in (TEST_KEY, served["alice"], served["carol"], METRICS_TOKEN):
        assert secret not in text


def test_promtool_accepts_the_exposition(served: dict[str, Any]) -> None:
    body = httpx2.get(f"http://127.0.0.1:{served['metrics_port']}/metrics", timeout=5).content
    checked = promtool_check(body)
    print(f"\npromtool check metrics: exit {checked.returncode}; {checked.stdout.strip() or '(no findings)'}"
          f"{checked.stderr.strip()}")
    assert checked.returncode == 0 and checked.stdout.strip() == "" and checked.stderr.strip() == "", checked


def test_metrics_port_must_differ_from_the_mcp_port(emulator: FakeOpperServer, tmp_path: Path) -> None:
    from tests.transport_support import run_server_once

    env = server_env(emulator.url, tmp_path / "cache")
    done = run_server_once(env, "--transport", "http", "--port", "8123", "--metrics-port", "8123")
    assert done.returncode == 2 and "--metrics-port 8123 is the MCP port" in done.stderr
