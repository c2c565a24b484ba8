"""Real streamable HTTP: `python -m opper_mcp --transport http` as a uvicorn subprocess, against the emulator."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.fake_opper import TEST_KEY, FakeOpperServer
from tests.support import MODES, data_of, text_of
from tests.transport_support import (
    CHAT_MODEL,
    TOOL_COUNT,
    HttpServer,
    clean_environ,
    http_server,
    run_server_once,
    server_env,
    stop_process,
)

pytestmark = pytest.mark.anyio

HTTP_TOKEN = "inbound-token-7f3a9c"
SECOND_KEY = "op-second-key-b2"
BAD_KEY = "op-not-a-real-key"
MAX_BODY = 65_536
CHAT_PATH = "/v3/compat/chat/completions"
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}},
}


@pytest.fixture
def fake(emulator: FakeOpperServer) -> FakeOpperServer:
    emulator.state.reset()
    emulator.state.api_keys.add(SECOND_KEY)
    return emulator


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("http-logs")


@pytest.fixture(scope="module")
def open_server(emulator: FakeOpperServer, logs: Path) -> Iterator[HttpServer]:
    env = server_env(emulator.url, logs / "cache-open")
    with http_server(env, logs, "--max-body-bytes", str(MAX_BODY)) as server:
        yield server


@pytest.fixture(scope="module")
def token_server(emulator: FakeOpperServer, logs: Path) -> Iterator[HttpServer]:
    env = server_env(emulator.url, logs / "cache-token", OPPER_MCP_HTTP_TOKEN=HTTP_TOKEN)
    with http_server(env, logs, "--auth", "token") as server:
        yield server


@pytest.fixture(scope="module")
def passthrough_server(emulator: FakeOpperServer, logs: Path) -> Iterator[HttpServer]:
    env = server_env(emulator.url, logs / "cache-pass", api_key=None)
    with http_server(env, logs, "--auth", "passthrough") as server:
        yield server


def bearer_client(url: str, token: str, mode: str) -> tuple[httpx2.AsyncClient, Client]:
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=httpx2.Timeout(30, read=60))
    return http, Client(streamable_http_client(url, http_client=http), mode=mode, read_timeout_seconds=30)


async def exercise(client: Client, prompt: str) -> list[tuple[float, float | None, str | None]]:
    """tools/list, grep_spec, and chat with progress; returns the progress seen."""
    tools = (await client.list_tools()).tools
    assert len(tools) == TOOL_COUNT, [t.name for t in tools]
    grep = data_of(await client.call_tool("grep_spec", {"pattern": "trace_uuid"}))
    assert grep["total_matches"] >= 1
    progress: list[tuple[float, float | None, str | None]] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append((value, total, message))

    chat = data_of(await client.call_tool("chat", {"model": CHAT_MODEL, "prompt": prompt},
                                          progress_callback=on_progress))
    assert prompt in chat["text"]
    assert chat["model"] == CHAT_MODEL
    assert chat["trace_id"]
    return progress


# ------------------------------------------------------------------------------------ both eras


@pytest.mark.parametrize("mode", MODES)
async def test_python_client_both_eras(open_server: HttpServer, fake: FakeOpperServer, mode: str) -> None:
    fake.state.chunk_delay = 0.05
    async with Client(open_server.url, mode=mode, read_timeout_seconds=30) as client:
        progress = await exercise(client, f"hello over http ({mode})")
    assert progress, "no progress notification over HTTP"
    values = [p[0] for p in progress]
    assert values == sorted(values) and len(set(values)) == len(values), values
    assert all(r.headers.get("authorization") == f"Bearer {TEST_KEY}" for r in fake.state.requests_to(CHAT_PATH))


def test_healthz(open_server: HttpServer) -> None:
    response = httpx2.get(f"{open_server.base}/healthz", timeout=5)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["status"] == "ok"
    assert body["tools"] == TOOL_COUNT


# ------------------------------------------------------------------------------------ Host / Origin / size


def test_foreign_origin_is_403(open_server: HttpServer) -> None:
    response = httpx2.post(open_server.url, json=INITIALIZE, headers={**MCP_HEADERS, "Origin": "http://evil.example"},
                           timeout=5)
    assert response.status_code == 403, response.text
    # Same request from the loopback origin works: the 403 is about the Origin, nothing else.
    ok = httpx2.post(open_server.url, json=INITIALIZE,
                     headers={**MCP_HEADERS, "Origin": f"http://127.0.0.1:{open_server.port}"}, timeout=5)
    assert ok.status_code == 200, ok.text


def test_foreign_host_is_421(open_server: HttpServer) -> None:
    response = httpx2.post(open_server.url, json=INITIALIZE, headers={**MCP_HEADERS, "Host": "evil.example"}, timeout=5)
    assert response.status_code == 421, response.text
    ok = httpx2.post(open_server.url, json=INITIALIZE, headers={**MCP_HEADERS, "Host": f"localhost:{open_server.port}"},
                     timeout=5)
    assert ok.status_code == 200, ok.text


def test_body_over_limit_is_413(open_server: HttpServer) -> None:
    big = json.loads(json.dumps(INITIALIZE))
    big["params"]["clientInfo"]["name"] = "x" * (MAX_BODY + 1)
    response = httpx2.post(open_server.url, json=big, headers=MCP_HEADERS, timeout=10)
    assert response.status_code == 413, response.text
    just_under = json.loads(json.dumps(INITIALIZE))
    just_under["params"]["clientInfo"]["name"] = "x" * (MAX_BODY - 1024)
    assert httpx2.post(open_server.url, json=just_under, headers=MCP_HEADERS, timeout=10).status_code == 200


# ------------------------------------------------------------------------------------ token mode


def test_token_mode_refuses_missing_and_wrong_bearer(token_server: HttpServer) -> None:
    missing = httpx2.post(token_server.url, json=INITIALIZE, headers=MCP_HEADERS, timeout=5)
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"].startswith("Bearer ")
    wrong = httpx2.post(token_server.url, json=INITIALIZE,
                        headers={**MCP_HEADERS, "Authorization": "Bearer not-the-token"}, timeout=5)
    assert wrong.status_code == 401
    assert wrong.headers["www-authenticate"].startswith("Bearer ")
    assert 'error="invalid_token"' in wrong.headers["www-authenticate"]
    not_bearer = httpx2.post(token_server.url, json=INITIALIZE,
                             headers={**MCP_HEADERS, "Authorization": f"Basic {HTTP_TOKEN}"}, timeout=5)
    assert not_bearer.status_code == 401
    right = httpx2.post(token_server.url, json=INITIALIZE,
                        headers={**MCP_HEADERS, "Authorization": f"Bearer {HTTP_TOKEN}"}, timeout=5)
    assert right.status_code == 200, right.text
    assert HTTP_TOKEN not in token_server.stderr()
    # /healthz stays open (load-balancer probes carry no token).
    assert httpx2.get(f"{token_server.base}/healthz", timeout=5).status_code == 200


@pytest.mark.parametrize("mode", MODES)
async def test_token_mode_right_token_works(token_server: HttpServer, fake: FakeOpperServer, mode: str) -> None:
    http, client = bearer_client(token_server.url, HTTP_TOKEN, mode)
    async with http, client:
        await exercise(client, f"token mode {mode}")
    # The inbound token is not an Opper key: upstream still gets the process key.
    sent = fake.state.requests_to(CHAT_PATH)
    assert sent and all(r.headers["authorization"] == f"Bearer {TEST_KEY}" for r in sent)
    assert all(HTTP_TOKEN not in json.dumps(r.headers) for r in fake.state.requests)


# ------------------------------------------------------------------------------------ pass-through mode


async def test_passthrough_keys_never_cross(passthrough_server: HttpServer, fake: FakeOpperServer,
                                            logs: Path) -> None:
    fake.state.chunk_delay = 0.02  # streams overlap, so the two callers really are concurrent
    callers = {"caller-a": (TEST_KEY, "auto"), "caller-b": (SECOND_KEY, "legacy")}
    conversations: dict[str, str] = {}
    calls = 3
    in_flight = max_in_flight = 0

    async def run(name: str, key: str, mode: str) -> None:
        nonlocal in_flight, max_in_flight
        http, client = bearer_client(passthrough_server.url, key, mode)
        async with http, client:
            for i in range(calls):
                in_flight += 1
                max_in_flight = max(max_in_flight, in_flight)
                try:
                    result = await client.call_tool("chat", {"model": CHAT_MODEL, "prompt": f"{name} #{i}",
                                                             "name": name})
                finally:
                    in_flight -= 1
                assert f"{name} #{i}" in data_of(result)["text"]
                conversations[name] = data_of(result)["conversation_id"]

    async with anyio.create_task_group() as tg:
        for name, (key, mode) in callers.items():
            tg.start_soon(run, name, key, mode)

    chats = fake.state.requests_to(CHAT_PATH)
    assert len(chats) == calls * len(callers)
    for name, (key, _) in callers.items():
        mine = [r for r in chats if r.headers.get("x-opper-name") == name]
        assert len(mine) == calls, name
        assert {r.headers["authorization"] for r in mine} == {f"Bearer {key}"}, name
        assert all(name in json.dumps(r.json) for r in mine)
    assert max_in_flight == len(callers), "the callers never overlapped; the test proves nothing about isolation"

    # A conversation belongs to the key that made it: caller b cannot continue caller a's.
    http, client = bearer_client(passthrough_server.url, SECOND_KEY, "auto")
    async with http, client:
        stolen = await client.call_tool(
            "chat", {"model": CHAT_MODEL, "prompt": "continue", "conversation_id": conversations["caller-a"]}
        )
    assert stolen.is_error, text_of(stolen)
    assert "unknown conversation_id" in text_of(stolen)

    # Neither key is written anywhere: not in the conversation store (owners are one-way fingerprints,
    # WAL and journal files included) nor in the server's log.
    stored = list((logs / "cache-pass").glob("conversations.sqlite3*"))
    assert stored, "the conversations were not stored where expected"
    for path in stored:
        assert TEST_KEY.encode() not in path.read_bytes() and SECOND_KEY.encode() not in path.read_bytes(), path
    assert TEST_KEY not in passthrough_server.stderr() and SECOND_KEY not in passthrough_server.stderr()


async def test_passthrough_invalid_key_is_tool_error(passthrough_server: HttpServer, fake: FakeOpperServer) -> None:
    http, client = bearer_client(passthrough_server.url, BAD_KEY, "auto")
    async with http, client:
        assert len((await client.list_tools()).tools) == TOOL_COUNT
        result = await client.call_tool("chat", {"model": CHAT_MODEL, "prompt": "hi", "name": "caller-bad"})
    assert result.is_error
    text = text_of(result)
    assert "401" in text, text
    assert BAD_KEY not in text
    sent = fake.state.requests_to(CHAT_PATH)
    assert sent and {r.headers["authorization"] for r in sent} == {f"Bearer {BAD_KEY}"}
    assert BAD_KEY not in passthrough_server.stderr()


def test_passthrough_requires_a_bearer(passthrough_server: HttpServer, fake: FakeOpperServer) -> None:
    response = httpx2.post(passthrough_server.url, json=INITIALIZE, headers=MCP_HEADERS, timeout=5)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer ")
    assert fake.state.requests == []


# ------------------------------------------------------------------------------------ start / stop


def test_public_bind_without_allowed_hosts_refuses(tmp_path: Path) -> None:
    env = {**clean_environ(), "OPPER_API_KEY": TEST_KEY, "OPPER_MCP_CACHE_DIR": str(tmp_path / "c"),
           "OPPER_MCP_HTTP_TOKEN": HTTP_TOKEN}
    result = run_server_once(env, "--transport", "http", "--host", "0.0.0.0", "--auth", "token", "--port", "1")
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert result.stdout == ""
    assert "refusing to bind 0.0.0.0" in result.stderr
    assert "--allowed-hosts" in result.stderr
    assert "Traceback" not in result.stderr
    # Without --auth it is refused too (first for the missing host allow-list).
    plain = run_server_once(env, "--transport", "http", "--host", "0.0.0.0", "--port", "1")
    assert plain.returncode == 2 and "--allowed-hosts" in plain.stderr


def test_sigterm_while_idle_exits_0(emulator: FakeOpperServer, tmp_path: Path) -> None:
    async def use(url: str) -> None:  # a little real traffic first, so shutdown has clients and streams to close
        async with Client(url, mode="legacy", read_timeout_seconds=30) as client:
            data_of(await client.call_tool("chat", {"model": CHAT_MODEL, "prompt": "before SIGTERM"}))

    with http_server(server_env(emulator.url, tmp_path / "cache"), tmp_path) as server:
        anyio.run(use, server.url)
        assert httpx2.get(f"{server.base}/healthz", timeout=5).status_code == 200
        started = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        try:
            code: Any = server.proc.wait(timeout=8)
        finally:
            stop_process(server.proc)
        took = time.monotonic() - started
        stderr = server.stderr()
    assert code == 0, f"exit code {code}; stderr:\n{stderr}"
    assert took < 5, took
    assert "Traceback" not in stderr, stderr


# ------------------------------------------------------------------------------------ stateless replicas


@pytest.fixture(scope="module")
def stateless_server(emulator: FakeOpperServer, logs: Path) -> Iterator[HttpServer]:
    env = server_env(emulator.url, logs / "cache-stateless", OPPER_MCP_STATELESS="1")
    with http_server(env, logs) as server:
        yield server


def test_stateless_mode_issues_no_session(stateless_server: HttpServer, open_server: HttpServer) -> None:
    stateless = httpx2.post(stateless_server.url, json=INITIALIZE, headers=MCP_HEADERS, timeout=5)
    stateful = httpx2.post(open_server.url, json=INITIALIZE, headers=MCP_HEADERS, timeout=5)
    assert stateless.status_code == stateful.status_code == 200
    assert "mcp-session-id" in stateful.headers  # the default keeps legacy sessions ...
    assert "mcp-session-id" not in stateless.headers  # ... --stateless keeps none, so any replica can answer


@pytest.mark.parametrize("mode", MODES)
async def test_stateless_mode_serves_both_eras_with_progress(
    stateless_server: HttpServer, fake: FakeOpperServer, mode: str
) -> None:
    fake.state.chunk_delay = 0.05
    async with Client(stateless_server.url, mode=mode, read_timeout_seconds=30) as client:
        progress = await exercise(client, f"stateless ({mode})")
    assert progress, "progress must still arrive without sessions (SSE responses)"


# ------------------------------------------------------------------------------------ browsers (CORS)

BROWSER_ORIGIN = "http://app.example"


@pytest.fixture(scope="module")
def browser_server(emulator: FakeOpperServer, logs: Path) -> Iterator[HttpServer]:
    env = server_env(emulator.url, logs / "cache-cors", OPPER_MCP_HTTP_TOKEN=HTTP_TOKEN)
    with http_server(env, logs, "--auth", "token", "--allowed-origins", BROWSER_ORIGIN) as server:
        yield server


def test_allowed_origin_gets_cors_preflight_and_headers(browser_server: HttpServer) -> None:
    preflight = httpx2.options(browser_server.url, timeout=5, headers={
        "Origin": BROWSER_ORIGIN, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type, mcp-method, mcp-protocol-version"})
    assert preflight.status_code == 200, preflight.text  # answered before auth: preflights carry no token
    assert preflight.headers["access-control-allow-origin"] == BROWSER_ORIGIN
    allowed = preflight.headers["access-control-allow-headers"].lower()
    assert "mcp-method" in allowed and "authorization" in allowed
    response = httpx2.post(browser_server.url, json=INITIALIZE, timeout=5, headers={
        **MCP_HEADERS, "Origin": BROWSER_ORIGIN, "Authorization": f"Bearer {HTTP_TOKEN}"})
    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == BROWSER_ORIGIN
    assert "mcp-session-id" in response.headers["access-control-expose-headers"].lower()


def test_other_origins_get_no_cors(browser_server: HttpServer) -> None:
    preflight = httpx2.options(browser_server.url, timeout=5, headers={
        "Origin": "http://evil.example", "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in preflight.headers
    response = httpx2.post(browser_server.url, json=INITIALIZE, timeout=5, headers={
        **MCP_HEADERS, "Origin": "http://evil.example", "Authorization": f"Bearer {HTTP_TOKEN}"})
    assert response.status_code == 403
    assert "access-control-allow-origin" not in response.headers
