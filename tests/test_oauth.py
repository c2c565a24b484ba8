"""OAuth 2.1 resource server against a real identity provider (panva's oidc-provider) and the real HTTP server.

Every token here is issued by the provider (or, for the attacks, made from one it issued); the server
runs as `python -m opper_mcp --transport http`, on real loopback HTTP, against the Opper emulator.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import socket
import time
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx2
import pytest
from joserfc.jwk import RSAKey
from mcp import Client
from mcp.client.auth import OAuthClientProvider
from mcp.client.auth.extensions.client_credentials import ClientCredentialsOAuthProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientMetadata
from mcp.shared.exceptions import MCPError

from opper_mcp.auth import named_tokens
from tests.cluster import Nginx, Replica
from tests.fake_opper import FakeOpperServer
from tests.oidc import CALL, READ, SECRET, Browser, Endpoint, MemoryStorage, oidc_provider, write_keys
from tests.services import RedisService
from tests.support import data_of, text_of
from tests.transport_support import (
    CHAT_MODEL,
    JS_DIR,
    TOOL_COUNT,
    HttpServer,
    free_port,
    http_server,
    last_json,
    node_env,
    run_node,
    server_env,
)

pytestmark = pytest.mark.anyio

CHAT_PATH = "/v3/compat/chat/completions"
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
REDIRECT = "http://127.0.0.1:1/callback"  # never opened: the provider's redirect to it carries the code
TS_OAUTH_CLIENT = JS_DIR / "ts_oauth_client.mjs"
SPENDERS = {"chat", "roundtable", "review", "conversations", "web_search", "web_fetch", "add_knowledge"}


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("oauth")


@pytest.fixture(scope="module")
def keys(work: Path) -> Path:
    return write_keys(work / "keys.json")


@pytest.fixture(scope="module")
def idp(work: Path, keys: Path) -> Iterator[list[Endpoint]]:
    """The provider, and an impostor: another issuer signing with the very same keys."""
    with oidc_provider(work / "idp", (None, None, keys), (None, None, keys)) as provider:
        yield provider.endpoints


@pytest.fixture(scope="module")
def team_token(work: Path) -> str:
    return named_tokens.add(work / "tokens", "carol")


@pytest.fixture(scope="module")
def server(emulator: FakeOpperServer, idp: list[Endpoint], work: Path, team_token: str) -> Iterator[HttpServer]:
    """OAuth and named tokens both on, introspection for opaque tokens, INFO logs (checked for secrets)."""
    env = server_env(emulator.url, work / "cache", OPPER_MCP_OAUTH_ISSUER=idp[0].issuer,
                     OPPER_MCP_OAUTH_CLIENT_SECRET=SECRET)
    with http_server(env, work / "logs", "--auth", "token", "--tokens-file", str(work / "tokens"),
                     "--oauth-client-id", "opper-mcp-rs", "--log-level", "INFO") as running:
        yield running


@pytest.fixture
def fake(emulator: FakeOpperServer) -> FakeOpperServer:
    emulator.state.reset()
    return emulator


def post(server: HttpServer, token: str | None = None, body: dict[str, Any] | None = None,
         **headers: str) -> httpx2.Response:
    """One raw JSON-RPC POST (a 2026-07-28 `tools/list` unless told otherwise)."""
    sent = {**MCP_HEADERS, "MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/list", **headers}
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    body = body or {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}}}}
    return httpx2.post(server.url, json=body, headers=sent, timeout=10)


def tool_call(server: HttpServer, token: str, tool: str, arguments: dict[str, Any]) -> httpx2.Response:
    meta = {"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}}
    body = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": tool, "arguments": arguments,
                                                                          "_meta": meta}}
    return post(server, token, body, **{"Mcp-Method": "tools/call", "Mcp-Name": tool})


@contextlib.asynccontextmanager
async def bearer(url: str, token: str, mode: str = "auto") -> AsyncIterator[Client]:
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=httpx2.Timeout(30, read=60))
    async with http, Client(streamable_http_client(url, http_client=http), mode=mode,
                            read_timeout_seconds=30) as client:
        yield client


@contextlib.asynccontextmanager
async def signed_in(url: str, login: str, seen: list[str] | None = None) -> AsyncIterator[Client]:
    """The MCP SDK client's own OAuth support, knowing only `url`: discovery from the first 401, dynamic
    registration, authorization code + PKCE through the provider's login and consent pages."""
    browser = Browser(login, REDIRECT, log=seen)
    metadata = OAuthClientMetadata(client_name=f"test client of {login}", redirect_uris=[REDIRECT])
    auth = OAuthClientProvider(url, metadata, MemoryStorage(), browser.redirect, browser.callback)

    async def note(response: httpx2.Response) -> None:
        if seen is not None:
            seen.append(f"{response.request.method} {response.request.url} -> {response.status_code}")

    http = httpx2.AsyncClient(auth=auth, timeout=httpx2.Timeout(30, read=60), event_hooks={"response": [note]})
    async with http, Client(streamable_http_client(url, http_client=http), read_timeout_seconds=30) as client:
        yield client


def assert_refused(response: httpx2.Response) -> None:
    assert response.status_code == 401, (response.status_code, response.text)
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith("Bearer ") and "resource_metadata=" in challenge, challenge


def no_secrets_in(server: HttpServer, *secrets: str) -> None:
    log = server.stderr()
    for secret in secrets:
        assert secret[-40:] not in log, "a token or secret reached the server log"
    assert "Traceback" not in log, log[-3000:]


# ------------------------------------------------------------------------------------ discovery


def test_metadata_and_401_point_clients_to_the_issuer(server: HttpServer, idp: list[Endpoint]) -> None:
    refused = post(server)
    assert_refused(refused)
    url = server.base + "/.well-known/oauth-protected-resource/mcp"
    assert f'resource_metadata="{url}"' in refused.headers["www-authenticate"]
    metadata = httpx2.get(url, timeout=5).json()
    assert metadata["resource"] == server.url
    assert metadata["authorization_servers"] == [idp[0].issuer]  # exactly: clients compare issuers as strings
    assert metadata["scopes_supported"] == [READ, CALL]
    assert httpx2.get(f"{server.base}/healthz", timeout=5).status_code == 200


def raw_post(server: HttpServer, authorization: bytes) -> tuple[int, bytes]:
    """POST /mcp with exactly these Authorization header bytes (HTTP clients refuse to send most of them)."""
    request = (b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\n"
               b"Accept: application/json, text/event-stream\r\nAuthorization: %s\r\nContent-Length: 2\r\n"
               b"Connection: close\r\n\r\n{}" % (server.port, authorization))
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head = answer.split(b"\r\n\r\n", 1)[0]
    return int(head.split(b" ", 2)[1]), head.lower()


@pytest.mark.parametrize("header", [
    b"Bearer", b"Bearer ", b"Bearer \t ", b"Basic Zm9vOmJhcg==", b"bearer a b c", b"Bearer \x7f\x01", b"Token abc",
    b"Bearer ..", b"Bearer eyJhbGciOiJSUzI1NiJ9.e30.", b"Bearer %%%.%%%.%%%", b"Bearer \xff\xfe.\xc3\xa9.x",
    b"Bearer " + "\u00e9".encode() * 10,
])
def test_malformed_authorization_is_a_clean_401(server: HttpServer, header: bytes) -> None:
    status, head = raw_post(server, header)
    assert status == 401, (header, status)
    assert b"www-authenticate: bearer " in head and b"resource_metadata=" in head


def test_a_100_kb_token_is_refused_and_the_server_lives_on(server: HttpServer, idp: list[Endpoint]) -> None:
    huge = "eyJ" + "A" * 100_000 + ".e30.sig"
    # uvicorn refuses a header this large itself (400) before any code of ours sees it, and closes the
    # connection: when that happens while the client is still sending, the client sees a reset instead.
    try:
        status: int | None = post(server, huge).status_code
    except httpx2.ReadError:
        status = None
    assert status in (None, 400, 401, 431), status
    assert post(server, idp[0].token("svc-full", server.url)).status_code == 200  # and it still serves
    no_secrets_in(server)


async def test_oversized_and_odd_tokens_are_refused_unread() -> None:
    """Behind a proxy that lets big headers through, the verifier itself refuses them before parsing
    or fetching anything (its issuer here does not even exist: a fetch would raise)."""
    from opper_mcp.auth.resource_server import MAX_TOKEN_CHARS, BearerTokens
    from opper_mcp.settings import Settings

    tokens = BearerTokens(Settings(transport="http", oauth_issuer=f"http://127.0.0.1:{free_port()}"))
    for token in ("eyJ" + "A" * MAX_TOKEN_CHARS + ".e30.sig", "a.b.\u00e9", "a.b.c\n", "", "x.y.z\x00"):
        assert await tokens.verify_token(token) is None


# ------------------------------------------------------------------------------------ flows


async def test_a_client_that_knows_only_the_url_signs_in(server: HttpServer, fake: FakeOpperServer,
                                                         idp: list[Endpoint]) -> None:
    seen: list[str] = []
    async with signed_in(server.url, "alice", seen) as client:
        tools = (await client.list_tools()).tools
        assert len(tools) == TOOL_COUNT
        chat = data_of(await client.call_tool("chat", {"model": CHAT_MODEL, "prompt": "hello via OAuth"}))
    assert "hello via OAuth" in chat["text"]
    # Who called is the person who signed in: Opper's trace name says so.
    assert fake.state.last_request(CHAT_PATH).headers["x-opper-name"] == "opper-mcp/chat@alice@example.test"
    print("\n".join(seen))
    issuer = idp[0].issuer
    assert seen[0].startswith(f"POST {server.url}") and seen[0].endswith("-> 401")
    assert any(s.startswith(f"GET {server.base}/.well-known/oauth-protected-resource/mcp") for s in seen)
    assert any(s.startswith(f"POST {issuer}/reg") and s.endswith("-> 201") for s in seen)  # registered itself
    assert any(s.startswith(f"  (browser) POST {issuer}/interaction/") for s in seen)  # alice signed in
    assert any(s.startswith(f"POST {issuer}/token") and s.endswith("-> 200") for s in seen)
    assert "-> 200" in seen[-1]


def test_the_typescript_sdk_signs_in_too(server: HttpServer, fake: FakeOpperServer, idp: list[Endpoint],
                                        tmp_path: Path) -> None:
    """An independent OAuth client (the TS SDK's), same flow from the same first 401."""
    config = {"url": server.url, "login": "ivan", "tool": "chat",
              "arguments": {"model": CHAT_MODEL, "prompt": "hello from TypeScript"}}
    result = run_node([str(TS_OAUTH_CLIENT), json.dumps(config)], node_env(tmp_path / "home"))
    summary = last_json(result.stdout)
    assert result.returncode == 0, (summary, result.stderr[-2000:])
    assert len(summary["tools"]) == TOOL_COUNT and not summary["isError"]
    assert "hello from TypeScript" in summary["result"]["text"]
    assert fake.state.last_request(CHAT_PATH).headers["x-opper-name"] == "opper-mcp/chat@ivan@example.test"
    steps = summary["steps"]
    assert steps[0].startswith(f"POST {server.url}") and steps[0].endswith("-> 401"), steps
    assert any(f"{idp[0].issuer}/reg" in s for s in steps) and any(f"{idp[0].issuer}/token" in s for s in steps)


async def test_authorization_request_uses_pkce_and_names_this_resource(server: HttpServer) -> None:
    browser = Browser("dave", REDIRECT)
    auth = OAuthClientProvider(server.url, OAuthClientMetadata(redirect_uris=[REDIRECT]), MemoryStorage(),
                               browser.redirect, browser.callback)
    async with httpx2.AsyncClient(auth=auth, timeout=30) as http, \
            Client(streamable_http_client(server.url, http_client=http)) as client:
        await client.list_tools()
    query = httpx2.URL(browser.visited[0]).params
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43
    assert query["resource"] == server.url
    assert {READ, CALL} <= set(query["scope"].split())  # (the SDK adds offline_access when offered)


async def test_client_credentials(server: HttpServer, fake: FakeOpperServer, idp: list[Endpoint]) -> None:
    auth = ClientCredentialsOAuthProvider(server.url, MemoryStorage(), "svc-full", SECRET, scope=f"{READ} {CALL}",
                                          issuer=idp[0].issuer)
    async with httpx2.AsyncClient(auth=auth, timeout=30) as http, \
            Client(streamable_http_client(server.url, http_client=http)) as client:
        assert len((await client.list_tools()).tools) == TOOL_COUNT
        data_of(await client.call_tool("chat", {"model": CHAT_MODEL, "prompt": "from a service"}))
    assert fake.state.last_request(CHAT_PATH).headers["x-opper-name"] == "opper-mcp/chat@svc-full"


async def test_opaque_tokens_are_introspected(server: HttpServer, idp: list[Endpoint]) -> None:
    opaque = idp[0].token("svc-opaque", server.url)
    assert opaque.count(".") != 2  # not a JWT: only the provider can say what it grants
    async with bearer(server.url, opaque) as client:
        data_of(await client.call_tool("chat", {"model": CHAT_MODEL, "prompt": "opaque"}))
    assert_refused(post(server, "0-" + "x" * 41))  # a made-up one: the provider says inactive
    other = idp[0].token("svc-opaque", "http://127.0.0.1:1/another-api")
    assert_refused(post(server, other))  # active, but for another resource


async def test_named_tokens_keep_working_beside_oauth(server: HttpServer, fake: FakeOpperServer,
                                                      team_token: str) -> None:
    async with bearer(server.url, team_token) as client:
        data_of(await client.call_tool("chat", {"model": CHAT_MODEL, "prompt": "named token"}))
    assert fake.state.last_request(CHAT_PATH).headers["x-opper-name"] == "opper-mcp/chat@carol"
    assert_refused(post(server, team_token[:-2] + "xx"))


# ------------------------------------------------------------------------------------ scopes


def test_tools_that_spend_or_write_need_the_call_scope() -> None:
    from opper_mcp.auth.scopes import ScopePolicy
    from opper_mcp.tools.registry import TOOL_NAMES

    policy = ScopePolicy(read=READ, call=CALL)
    assert {t for t in TOOL_NAMES if CALL in policy.needed(t)} == SPENDERS
    assert all(policy.needed(t) == [READ] for t in set(TOOL_NAMES) - SPENDERS)


async def test_read_scope_lists_and_reads_but_may_not_spend(server: HttpServer, fake: FakeOpperServer,
                                                            idp: list[Endpoint]) -> None:
    reader = idp[0].token("svc-read", server.url, scope=READ)
    # 2026-07-28 requests name the tool in a header: the spec's step-up challenge, before the tool runs.
    refused = tool_call(server, reader, "chat", {"model": CHAT_MODEL, "prompt": "spend"})
    assert refused.status_code == 403, refused.text
    challenge = refused.headers["www-authenticate"]
    assert 'error="insufficient_scope"' in challenge and f'scope="{READ} {CALL}"' in challenge
    assert "resource_metadata=" in challenge
    error = refused.json()["error"]  # a JSON-RPC error, so MCP clients show its message
    assert CALL in error["message"] and error["data"] == {"error": "insufficient_scope", "scope": f"{READ} {CALL}"}
    for mode in ("auto", "legacy"):
        async with bearer(server.url, reader, mode) as client:
            assert len((await client.list_tools()).tools) == TOOL_COUNT
            models = data_of(await client.call_tool("list_models", {"query": "haiku"}))
            assert models["models"]
            if mode == "legacy":  # the tool name is only in the body: the tool refuses, saying why
                for tool, args in (("chat", {"model": CHAT_MODEL, "prompt": "x"}), ("conversations", {})):
                    result = await client.call_tool(tool, args)
                    assert result.is_error and "insufficient_scope" in text_of(result) and CALL in text_of(result)
            else:
                with pytest.raises(MCPError, match=f"insufficient_scope: web_search .* {CALL}"):
                    await client.call_tool("web_search", {"query": "x"})
    assert fake.state.requests_to(CHAT_PATH) == [] and fake.state.requests_to("/v3/tools/web/search") == []


def test_a_token_without_the_read_scope_gets_403(server: HttpServer, idp: list[Endpoint]) -> None:
    nothing = idp[0].token("svc-none", server.url, scope=None)
    response = post(server, nothing)
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]


# ------------------------------------------------------------------------------------ bad tokens


def _segments(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    head, body, _ = token.split(".")
    return (json.loads(base64.urlsafe_b64decode(head + "==")), json.loads(base64.urlsafe_b64decode(body + "==")))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _forge(header: dict[str, Any], claims: dict[str, Any], sign: Any) -> str:
    """An attacker's token: any header and claims, signed by `sign(signing_input) -> bytes`."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    return f"{signing_input}.{_b64(sign(signing_input.encode()))}"


def test_wrong_audience_and_wrong_issuer_are_refused(server: HttpServer, idp: list[Endpoint]) -> None:
    good = idp[0].token("svc-full", server.url)
    assert post(server, good).status_code == 200  # the control: same provider, same client
    assert_refused(post(server, idp[0].token("svc-full", "http://127.0.0.1:1/another-api")))
    impostor = idp[1].token("svc-full", server.url)  # signed with the real keys, but another `iss`
    assert _segments(impostor)[0]["kid"] == _segments(good)[0]["kid"]
    assert_refused(post(server, impostor))


def test_expired_and_not_yet_valid_tokens_are_refused(server: HttpServer, idp: list[Endpoint], keys: Path,
                                                      work: Path) -> None:
    """The same issuer and keys, on providers whose clocks are an hour behind (tokens long expired) and
    an hour ahead (tokens not valid yet: `iat` in the future), far beyond the 30 s leeway."""
    issuer = idp[0].issuer
    for offset in (-3600, 3600):
        with oidc_provider(work / f"skew{offset}", (None, issuer, keys), clock_offset_s=offset) as skewed:
            token = skewed.main.token("svc-full", server.url)
        claims = _segments(token)[1]
        assert claims["iss"] == issuer and abs(claims["iat"] - time.time() - offset) < 60
        assert_refused(post(server, token))


def test_alg_none_and_hmac_with_the_public_key_are_refused(server: HttpServer, idp: list[Endpoint],
                                                           keys: Path) -> None:
    good = idp[0].token("svc-full", server.url)
    header, claims = _segments(good)
    public = RSAKey.import_key(json.loads(keys.read_text())["keys"][0]).as_dict(private=False)
    public_pem = RSAKey.import_key(public).as_pem(private=False)
    forged = {
        "alg none": _forge({**header, "alg": "none"}, claims, lambda _: b""),
        "alg None": _forge({**header, "alg": "None"}, claims, lambda _: b""),
        "HS256, the public key PEM as secret": _forge(
            {**header, "alg": "HS256"}, claims, lambda m: hmac.new(public_pem, m, hashlib.sha256).digest()),
        "HS256, the public JWK JSON as secret": _forge(
            {**header, "alg": "HS256"}, claims,
            lambda m: hmac.new(json.dumps(public).encode(), m, hashlib.sha256).digest()),
        "HS256 without kid": _forge({"alg": "HS256", "typ": "at+jwt"}, claims,
                                    lambda m: hmac.new(public_pem, m, hashlib.sha256).digest()),
        "claims changed under a real signature": ".".join(
            [good.split(".")[0], _b64(json.dumps({**claims, "sub": "admin"}).encode()), good.split(".")[2]]),
    }
    for name, token in forged.items():
        response = post(server, token)
        assert response.status_code == 401, f"{name}: {response.status_code}"
    assert post(server, good).status_code == 200
    no_secrets_in(server, good, *forged.values())


# ------------------------------------------------------------------------------------ two callers


async def test_two_people_never_see_each_others_conversations(server: HttpServer, fake: FakeOpperServer) -> None:
    async with signed_in(server.url, "erin") as erin:
        mine = data_of(await erin.call_tool("chat", {"model": CHAT_MODEL, "prompt": "erin's plan"}))
    async with signed_in(server.url, "frank") as frank:
        data_of(await frank.call_tool("chat", {"model": CHAT_MODEL, "prompt": "frank's plan"}))
        listed = data_of(await frank.call_tool("conversations", {}))["conversations"]
        assert [c["first_prompt"] for c in listed] == ["frank's plan"]
        stolen = await frank.call_tool("chat", {"model": CHAT_MODEL, "prompt": "more",
                                                "conversation_id": mine["conversation_id"]})
        assert stolen.is_error and "unknown conversation_id" in text_of(stolen)
    async with signed_in(server.url, "erin") as erin:  # a new sign-in, a new token: still erin's
        listed = data_of(await erin.call_tool("conversations", {}))["conversations"]
        assert [c["conversation_id"] for c in listed] == [mine["conversation_id"]]


# ------------------------------------------------------------------------------------ keys


@pytest.fixture(scope="module")
def rotating(emulator: FakeOpperServer, work: Path) -> Iterator[tuple[Endpoint, HttpServer, Any]]:
    """A provider and a server of their own (the rotation test changes the keys; the next one stops it)."""
    with oidc_provider(work / "rotating") as provider:
        env = server_env(emulator.url, work / "cache-rot", OPPER_MCP_OAUTH_ISSUER=provider.main.issuer)
        with http_server(env, work / "logs-rot", "--log-level", "INFO") as running:
            yield provider.main, running, provider


def _key_loads(server: HttpServer) -> int:
    return server.stderr().count("signing key(s) of")


def test_key_rotation_while_the_service_runs(rotating: tuple[Endpoint, HttpServer, Any]) -> None:
    provider, server, _ = rotating
    first = provider.token("svc-full", server.url)
    assert post(server, first).status_code == 200 and _key_loads(server) == 1
    for _ in range(5):
        assert post(server, first).status_code == 200
    assert _key_loads(server) == 1  # cached: no fetch per request

    new_kid = provider.rotate()  # a new key signs from now on; the old one is still published
    second = provider.token("svc-full", server.url)
    assert _segments(second)[0]["kid"] == new_kid
    assert post(server, second).status_code == 200  # unknown kid: keys fetched again, at once
    assert post(server, first).status_code == 200
    assert _key_loads(server) == 2

    # Made-up key ids cannot make the server hammer the provider: the requests that arrive together share
    # one fetch, and there is at most one a second.
    header, claims = _segments(second)
    forged = [_forge({**header, "kid": f"made-up-{i}"}, claims, lambda _: b"x" * 256) for i in range(16)]
    started = time.monotonic()
    with ThreadPoolExecutor(len(forged)) as pool:
        for response in pool.map(lambda token: post(server, token), forged):
            assert_refused(response)
    took = time.monotonic() - started
    fetches = _key_loads(server) - 2
    assert fetches <= min(int(took) + 2, len(forged) // 2), (fetches, took)  # ~1 a second, not 1 a token

    provider.rotate(drop=True)  # the old keys are withdrawn (say, one leaked)
    third = provider.token("svc-full", server.url)
    assert post(server, third).status_code == 200
    assert_refused(post(server, first))  # signed by a key the provider no longer publishes
    no_secrets_in(server, first, second, third)


def test_provider_down(rotating: tuple[Endpoint, HttpServer, Any], emulator: FakeOpperServer, work: Path) -> None:
    endpoint, server, provider = rotating
    token = endpoint.token("svc-full", server.url)
    assert post(server, token).status_code == 200
    provider.stop()
    for _ in range(3):
        assert post(server, token).status_code == 200  # cached keys keep working
    assert_refused(post(server, token[:-4] + "AAAA"))

    # A server that never had the keys: every request is a clear 503, nothing crashes, health stays up.
    dead = f"http://127.0.0.1:{free_port()}"
    env = server_env(emulator.url, work / "cache-dead", OPPER_MCP_OAUTH_ISSUER=dead)
    with http_server(env, work / "logs-dead") as lost:
        for _ in range(3):
            response = post(lost, token)
            assert response.status_code == 503, response.text
            assert response.json()["error"] == "temporarily_unavailable"
            assert dead in response.json()["error_description"]
            assert response.headers["retry-after"]
        assert_refused(post(lost))  # no token at all is still a 401 that points to the metadata
        assert httpx2.get(f"{lost.base}/healthz", timeout=5).status_code == 200
        stderr = lost.stderr()
    assert "Traceback" not in stderr and token[-40:] not in stderr


def test_settings_refuse_unsafe_oauth_configurations() -> None:
    from opper_mcp.settings import Settings

    issuer = "https://idp.example"
    with pytest.raises(ValueError, match="https"):
        Settings(oauth_issuer="http://idp.example")
    with pytest.raises(ValueError, match="passthrough"):
        Settings(oauth_issuer=issuer, auth_mode="passthrough").check_http()
    with pytest.raises(ValueError, match="--oauth-resource"):
        Settings(oauth_issuer=issuer, host="0.0.0.0", allowed_hosts=("mcp.example",)).check_http()
    with pytest.raises(ValueError, match="introspection"):
        Settings(oauth_issuer=issuer, oauth_client_id="rs").check_http()
    Settings(oauth_issuer=issuer, host="0.0.0.0", allowed_hosts=("mcp.example",),
             oauth_resource="https://mcp.example/mcp").check_http()  # OAuth alone is auth enough off loopback


# ------------------------------------------------------------------------------------ a deployment


@pytest.fixture(scope="module")
def behind_nginx(emulator: FakeOpperServer, idp: list[Endpoint], work: Path,
                 redis_service: RedisService) -> Iterator[tuple[Nginx, RedisService]]:
    """A replica behind the real nginx (deploy/nginx.conf), conversations in Redis; the resource is the
    public URL, the one clients use, so tokens are issued for nginx's address, not the replica's."""
    if redis_service.proc is None or redis_service.proc.poll() is not None:
        redis_service.start()
    redis_service.flush()
    public = free_port()
    env = server_env(emulator.url, work / "cache-lb", OPPER_MCP_OAUTH_ISSUER=idp[0].issuer,
                     OPPER_MCP_OAUTH_RESOURCE=f"http://127.0.0.1:{public}/mcp")
    (work / "lb-logs").mkdir(exist_ok=True)
    replica = Replica("r1", free_port(), ("--stateless", "--store", redis_service.url), env, work / "lb-logs")
    nginx = Nginx(work / "nginx", [replica.port], port=public)
    try:
        replica.start()
        nginx.start()
        yield nginx, redis_service
    finally:
        nginx.stop()
        replica.stop()


async def test_two_people_behind_nginx_with_redis(behind_nginx: tuple[Nginx, RedisService],
                                                  fake: FakeOpperServer) -> None:
    nginx, redis = behind_nginx
    async with signed_in(nginx.url, "grace") as grace:
        hers = data_of(await grace.call_tool("chat", {"model": CHAT_MODEL, "prompt": "grace's draft"}))
    async with signed_in(nginx.url, "heidi") as heidi:
        data_of(await heidi.call_tool("chat", {"model": CHAT_MODEL, "prompt": "heidi's draft"}))
        listed = data_of(await heidi.call_tool("conversations", {}))["conversations"]
        assert [c["first_prompt"] for c in listed] == ["heidi's draft"]
        stolen = await heidi.call_tool("chat", {"model": CHAT_MODEL, "prompt": "and?",
                                                "conversation_id": hers["conversation_id"]})
        assert stolen.is_error and "unknown conversation_id" in text_of(stolen)
        deleted = await heidi.call_tool("conversations", {"delete": hers["conversation_id"]})
        assert deleted.is_error and "unknown conversation_id" in text_of(deleted)
    async with signed_in(nginx.url, "grace") as grace:
        listed = data_of(await grace.call_tool("conversations", {}))["conversations"]
        assert [c["conversation_id"] for c in listed] == [hers["conversation_id"]]
    with redis.client() as r:
        owners = {key.decode() for key in r.keys("opper-mcp:owner:*")}
    assert len(owners) == 2 and all(o.startswith("opper-mcp:owner:oauth:") for o in owners), owners
