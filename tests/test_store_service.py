"""The stores as users meet them: the `conversations` tool, chat when the store is down (and back), pass-through
owners over HTTP, doctor and /healthz, password redaction, and a missing driver at start."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from pydantic import SecretStr

from opper_mcp.doctor import check_store
from opper_mcp.settings import Settings
from tests.fake_opper import TEST_KEY, FakeOpperServer
from tests.services import PostgresService, RedisService
from tests.support import connect, data_of, error_text, make_settings, text_of
from tests.transport_support import CHAT_MODEL, ROOT, HttpServer, http_server, server_env

pytestmark = pytest.mark.anyio

OTHER_KEY = "op-store-second-key"
SERVERS = ("redis", "postgres")


def chat_args(prompt: str, conversation_id: str | None = None, **more: Any) -> dict[str, Any]:
    args: dict[str, Any] = {"model": CHAT_MODEL, "prompt": prompt, **more}
    if conversation_id:
        args["conversation_id"] = conversation_id
    return args


# ---- the conversations tool (default SQLite store) -------------------------------------------------


async def test_conversations_lists_and_deletes(client: Client) -> None:
    assert data_of(await client.call_tool("conversations", {})) == {"conversations": []}
    first = data_of(await client.call_tool("chat", chat_args("What is the plan for the\nlaunch? " + "x" * 200,
                                                             system="Be brief.")))["conversation_id"]
    second = data_of(await client.call_tool("chat", chat_args("second thread")))["conversation_id"]
    data_of(await client.call_tool("chat", chat_args("more", first)))

    listed = data_of(await client.call_tool("conversations", {}))["conversations"]
    assert [c["conversation_id"] for c in listed] == [first, second]
    assert listed[0]["first_prompt"].startswith("What is the plan for the launch? xxx")
    assert listed[0]["first_prompt"].endswith("…") and len(listed[0]["first_prompt"]) == 80
    assert listed[0]["model"] == CHAT_MODEL and listed[0]["turns"] == 4
    assert listed[1]["turns"] == 2 and listed[0]["updated"].endswith("Z")
    assert [c["conversation_id"] for c in data_of(await client.call_tool("conversations", {"limit": 1}))[
        "conversations"]] == [first]

    assert data_of(await client.call_tool("conversations", {"delete": second})) == {"deleted": second}
    assert [c["conversation_id"] for c in data_of(await client.call_tool("conversations", {}))["conversations"]] == [
        first]
    again = error_text(await client.call_tool("conversations", {"delete": second}))
    assert f"unknown conversation_id {second!r}" in again
    gone = error_text(await client.call_tool("chat", chat_args("continue?", second)))
    assert "unknown conversation_id" in gone


async def test_conversations_tool_annotations(client: Client) -> None:
    tool = next(t for t in (await client.list_tools()).tools if t.name == "conversations")
    assert tool.annotations is not None
    hints = tool.annotations
    assert (hints.read_only_hint, hints.destructive_hint, hints.idempotent_hint, hints.open_world_hint) == (
        False, True, True, False)


async def test_another_key_sees_none_of_them(settings: Settings, fake_opper: FakeOpperServer, mode: str) -> None:
    fake_opper.state.api_keys.add(OTHER_KEY)
    other = make_settings(fake_opper.url, settings.resolved_cache_dir, api_key=SecretStr(OTHER_KEY))
    async with connect(settings, mode) as alice:
        cid = data_of(await alice.call_tool("chat", chat_args("private")))["conversation_id"]
    async with connect(other, mode) as bob:
        assert data_of(await bob.call_tool("conversations", {})) == {"conversations": []}
        theirs = error_text(await bob.call_tool("conversations", {"delete": cid}))
        missing = error_text(await bob.call_tool("conversations", {"delete": "conv_doesNotExist123"}))
        assert theirs.replace(cid, "ID") == missing.replace("conv_doesNotExist123", "ID")  # indistinguishable
    async with connect(settings, mode) as alice:
        assert [c["conversation_id"] for c in data_of(await alice.call_tool("conversations", {}))[
            "conversations"]] == [cid]


# ---- a shared store going down under a running server --------------------------------------------


def wait_up(service: RedisService | PostgresService) -> None:
    if service.proc is None or service.proc.poll() is not None:
        service.start()


@pytest.mark.parametrize("backend", SERVERS)
async def test_chat_degrades_while_the_store_is_down_and_recovers(
    request: pytest.FixtureRequest, backend: str, fake_opper: FakeOpperServer, tmp_path: Path
) -> None:
    url = request.getfixturevalue(f"{backend}_url")
    service: RedisService | PostgresService = request.getfixturevalue(f"{backend}_service")
    settings = make_settings(fake_opper.url, tmp_path / "cache", store=SecretStr(url))
    try:
        async with connect(settings, "auto") as client:
            saved = data_of(await client.call_tool("chat", chat_args("before the outage")))
            cid = saved["conversation_id"]
            assert "note" not in saved

            service.stop()
            with anyio.fail_after(30):
                fresh = data_of(await client.call_tool("chat", chat_args("during the outage")))
                assert "during the outage" in fresh["text"], "chat must still answer"
                assert "conversation_id" not in fresh
                assert "could not be saved" in fresh["note"] and "store unavailable" in fresh["note"]
                cont = error_text(await client.call_tool("chat", chat_args("go on", cid)))
                assert "conversation store unavailable: " in cont and cont.endswith(", retry"), cont
                listing = error_text(await client.call_tool("conversations", {}))
                assert "conversation store unavailable: " in listing and listing.endswith(", retry")
                assert data_of(await client.call_tool("list_models", {"limit": 1}))  # needs no store
            for text in (json.dumps(fresh), cont, listing):
                assert service.password not in text

            service.start()  # same address, same data: no restart of opper-mcp
            with anyio.fail_after(30):
                while (result := await client.call_tool("chat", chat_args("after", cid))).is_error:
                    assert "conversation store unavailable" in text_of(result)
                    await anyio.sleep(0.25)
            after = data_of(result)
            assert after["conversation_id"] == cid and "note" not in after
            sent = fake_opper.state.requests_to("/v3/compat/chat/completions")[-1].json["messages"]
            assert [m["content"] for m in sent if m["role"] == "user"] == ["before the outage", "after"]
            listed = data_of(await client.call_tool("conversations", {}))["conversations"]
            assert [(c["conversation_id"], c["turns"]) for c in listed] == [(cid, 4)]
    finally:
        wait_up(service)


async def test_doctor_checks_the_store(redis_service: RedisService, redis_url: str, tmp_path: Path) -> None:
    settings = Settings(store=SecretStr(redis_url), cache_dir=tmp_path)
    ok = await check_store(settings)
    assert ok.status == "ok" and ok.detail.startswith(f"redis://:***@127.0.0.1:{redis_service.port}/0 (redis, ")
    redis_service.stop()
    try:
        down = await check_store(settings)
    finally:
        redis_service.start()
    assert down.status == "fail" and "redis://:***@127.0.0.1" in down.detail
    assert redis_service.password not in down.detail + down.fix
    default = await check_store(Settings(cache_dir=tmp_path / "c"))
    assert default.status == "ok" and default.detail.startswith(f"sqlite://{tmp_path / 'c' / 'conversations.sqlite3'}")


# ---- over HTTP: /healthz, redaction everywhere, pass-through owners -------------------------------


def healthz(server: HttpServer) -> dict[str, Any]:
    response = httpx2.get(f"{server.base}/healthz", timeout=5)
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


async def test_http_server_starts_with_the_store_down_and_never_shows_its_password(
    postgres_service: PostgresService, postgres_url: str, emulator: FakeOpperServer, tmp_path: Path
) -> None:
    emulator.state.reset()
    password = postgres_service.password
    env = server_env(emulator.url, tmp_path / "cache", OPPER_MCP_STORE=postgres_url, OPPER_MCP_LOG_LEVEL="DEBUG")
    outputs: list[str] = []
    postgres_service.stop()
    try:
        with http_server(env, tmp_path / "logs") as server:
            down = healthz(server)
            assert down["status"] == "degraded"
            assert down["store"]["backend"] == "postgres" and down["store"]["ok"] is False
            assert "postgresql://postgres:***@127.0.0.1" in down["store"]["error"]
            async with Client(server.url, mode="auto", read_timeout_seconds=30) as client:
                answer = data_of(await client.call_tool("chat", chat_args("hello while down")))
                assert "could not be saved" in answer["note"] and "conversation_id" not in answer
                outputs += [json.dumps(down), json.dumps(answer)]
                postgres_service.start()
                with anyio.fail_after(30):
                    while not healthz(server)["store"]["ok"]:  # noqa: ASYNC110 (another process: poll)
                        await anyio.sleep(0.2)
                up = healthz(server)
                assert up["status"] == "ok" and up["store"] == {"backend": "postgres", "ok": True}
                cid = data_of(await client.call_tool("chat", chat_args("hello again")))["conversation_id"]
                listed = data_of(await client.call_tool("conversations", {}))
                assert [c["conversation_id"] for c in listed["conversations"]] == [cid]
                outputs += [json.dumps(up), json.dumps(listed)]
            log = server.stderr()
            assert "postgresql://postgres:***@127.0.0.1" in log, "the start-up line names the store (redacted)"
            outputs.append(log)
        with anyio.fail_after(60):
            doctor = await anyio.run_process([sys.executable, "-m", "opper_mcp", "doctor", "--store", postgres_url],
                                             env=server_env(emulator.url, tmp_path / "cache"), check=False, cwd=ROOT)
        stdout, stderr = doctor.stdout.decode(), doctor.stderr.decode()
        assert "✓ Conversation store: postgresql://postgres:***@127.0.0.1" in stdout, stdout
        outputs += [stdout, stderr]
    finally:
        wait_up(postgres_service)
    for text in outputs:
        assert password not in text


async def test_passthrough_callers_see_only_their_own(
    redis_url: str, emulator: FakeOpperServer, tmp_path: Path
) -> None:
    emulator.state.reset()
    emulator.state.api_keys.add(OTHER_KEY)
    env = server_env(emulator.url, tmp_path / "cache", api_key=None, OPPER_MCP_STORE=redis_url)
    with http_server(env, tmp_path / "logs", "--auth", "passthrough", "--stateless") as server:

        async def as_caller(key: str, mode: str, *calls: tuple[str, dict[str, Any]]) -> list[Any]:
            http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=30)
            async with http, Client(streamable_http_client(server.url, http_client=http), mode=mode) as client:
                return [await client.call_tool(name, args) for name, args in calls]

        [a1, a2] = await as_caller(TEST_KEY, "auto", ("chat", chat_args("alice one")), ("chat", chat_args("alice 2")))
        [b1] = await as_caller(OTHER_KEY, "legacy", ("chat", chat_args("bob one")))
        alice_ids = {data_of(a1)["conversation_id"], data_of(a2)["conversation_id"]}
        bob_id = data_of(b1)["conversation_id"]

        [alice_list, steal] = await as_caller(TEST_KEY, "legacy", ("conversations", {}),
                                              ("conversations", {"delete": bob_id}))
        [bob_list, cont] = await as_caller(OTHER_KEY, "auto", ("conversations", {}),
                                           ("chat", chat_args("mine?", sorted(alice_ids)[0])))
    assert {c["conversation_id"] for c in data_of(alice_list)["conversations"]} == alice_ids
    assert [c["conversation_id"] for c in data_of(bob_list)["conversations"]] == [bob_id]
    assert "unknown conversation_id" in error_text(steal)
    assert "unknown conversation_id" in error_text(cont)


# ---- start-up checks -----------------------------------------------------------------------------

BLOCKED = "import sys; sys.modules[{module!r}] = None; from opper_mcp.cli import main; sys.exit(main())"


@pytest.mark.parametrize(("url", "module", "extra"), [
    ("redis://:s3cret-pw@127.0.0.1:1/0", "redis", "redis"),
    ("postgresql://u:s3cret-pw@127.0.0.1:1/db", "psycopg", "postgres"),
])
def test_a_missing_driver_stops_the_start_with_the_fix(url: str, module: str, extra: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPPER_")}
    result = subprocess.run([sys.executable, "-c", BLOCKED.format(module=module), "--store", url], env=env,
                            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60, check=False, cwd=ROOT)
    assert result.returncode == 2, result.stderr
    assert f"uvx --with 'opper-mcp[{extra}]' opper-mcp" in result.stderr
    assert f"pip install 'opper-mcp[{extra}]'" in result.stderr
    assert "s3cret-pw" not in result.stderr and result.stdout == ""


def test_a_bad_store_url_is_refused_without_its_password() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPPER_")}
    env["OPPER_MCP_STORE"] = "mysql://root:s3cret-pw@db/x"
    result = subprocess.run([sys.executable, "-m", "opper_mcp"], env=env, stdin=subprocess.DEVNULL,
                            capture_output=True, text=True, timeout=60, check=False, cwd=ROOT)
    assert result.returncode == 2
    assert "mysql://root:***@db/x" in result.stderr and "redis://" in result.stderr
    assert "s3cret-pw" not in result.stderr


async def test_health_pings_fast_and_caches_for_a_second(redis_service: RedisService, redis_url: str) -> None:
    from opper_mcp.store import open_store
    from opper_mcp.store.health import StoreHealth

    store = open_store(redis_url, Path("/nonexistent"))
    health = StoreHealth(store, timeout_s=0.5, ttl_s=1.0)
    try:
        assert await health.state() == {"backend": "redis", "ok": True}
        redis_service.stop()
        assert (await health.state())["ok"] is True  # cached: probes within a second cost the store nothing
        await anyio.sleep(1.05)
        with anyio.fail_after(2):
            down = await health.state()
        assert down["ok"] is False and "redis://:***@" in down["error"]
        assert redis_service.password not in json.dumps(down)
    finally:
        wait_up(redis_service)
        await store.aclose()


async def test_a_turn_that_cannot_be_saved_keeps_the_thread_and_says_so(
    redis_service: RedisService, redis_url: str
) -> None:
    """The store fails after the answer came: the caller keeps the id (its earlier turns are safe) and a note."""
    from opper_mcp.store import open_store
    from opper_mcp.store.threads import save_turns

    store = open_store(redis_url, Path("/nonexistent"))
    exchange = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]
    try:
        cid, note = await save_turns(store, "owner", None, "m", "", exchange)
        assert cid is not None and note is None
        redis_service.stop()
        same, lost = await save_turns(store, "owner", cid, "m", "", exchange)
        assert same == cid and lost is not None and "could not be saved" in lost and "earlier turns" in lost
        none, failed = await save_turns(store, "owner", None, "m", "", exchange)
        assert none is None and failed is not None and "no conversation_id" in failed
        assert redis_service.password not in lost + failed
        redis_service.start()
        assert await store.load(cid, "owner") == exchange
        gone, deleted = await save_turns(store, "someone else", cid, "m", "", exchange)
        assert gone is None and deleted is not None and "not saved" in deleted
    finally:
        wait_up(redis_service)
        await store.aclose()
