"""The shared stores over TLS as a team deploys them. Redis (`rediss://`): a private CA named in the URL,
optionally a client certificate (mutual TLS), the server's name verified, and each misconfiguration
explained with the URL parameter that fixes it, never with the password. PostgreSQL: libpq's
`sslmode=verify-full` against a server that refuses connections without TLS."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from pydantic import SecretStr

from opper_mcp.doctor import check_store
from opper_mcp.settings import Settings
from opper_mcp.store import StoreUnavailable, open_store
from opper_mcp.store.url import tls_hint
from tests.fake_opper import FakeOpperServer
from tests.services import PostgresService, RedisService, running
from tests.support import connect, data_of, make_settings
from tests.transport_support import CHAT_MODEL

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def mutual_tls() -> Iterator[RedisService]:
    """Redis that also requires a client certificate signed by its CA."""
    yield from running(lambda: RedisService(client_certs=True))


@pytest.fixture(scope="module")
def misnamed() -> Iterator[RedisService]:
    """Redis whose certificate (from a trusted CA) is issued for another host name."""
    yield from running(lambda: RedisService(tls=True, server_names=("db.example.test",)))


async def ping_error(url: str) -> str:
    store = open_store(url, Path("/nonexistent"))
    try:
        with anyio.fail_after(10), pytest.raises(StoreUnavailable) as error:
            await store.ping()
    finally:
        await store.aclose()
    return str(error.value)


@pytest.mark.parametrize("service", ["rediss_service", "mutual_tls"])
async def test_threads_are_kept_and_continued_over_tls(
    request: pytest.FixtureRequest, service: str, fake_opper: FakeOpperServer, tmp_path: Path
) -> None:
    redis: RedisService = request.getfixturevalue(service)
    assert redis.url.startswith("rediss://")
    settings = make_settings(fake_opper.url, tmp_path / "cache", store=SecretStr(redis.url))
    async with connect(settings, "auto") as client:
        first = data_of(await client.call_tool("chat", {"model": CHAT_MODEL, "prompt": "over TLS"}))
        cid = first["conversation_id"]
        more = data_of(await client.call_tool("chat", {"model": CHAT_MODEL, "prompt": "still", "conversation_id": cid}))
        assert more["conversation_id"] == cid and "note" not in more
        listed = data_of(await client.call_tool("conversations", {}))["conversations"]
        assert [(c["conversation_id"], c["turns"]) for c in listed if c["conversation_id"] == cid] == [(cid, 4)]
    with redis.client() as raw:  # it is in that Redis (TLS only: it has no plaintext port)
        assert raw.exists(f"opper-mcp:conv:{cid}") == 1
        assert raw.config_get("port") == {"port": "0"}


async def test_a_certificate_for_another_name_is_refused(misnamed: RedisService) -> None:
    message = await ping_error(misnamed.url)
    assert "CERTIFICATE_VERIFY_FAILED" in message and "mismatch" in message, message
    assert "issued for another name" in message
    assert misnamed.password not in message


@pytest.mark.parametrize("case", ["untrusted CA", "missing CA file", "plaintext to TLS", "TLS to plaintext",
                                  "no client certificate"])
async def test_misconfigured_tls_says_what_to_change(
    case: str, rediss_service: RedisService, mutual_tls: RedisService, redis_service: RedisService
) -> None:
    bare = rediss_service.url.partition("?")[0]
    url, hint = {
        "untrusted CA": (bare, "?ssl_ca_certs=/path/ca.pem"),
        "missing CA file": (f"{bare}?ssl_ca_certs=/nonexistent/ca.pem", "does not exist"),
        "plaintext to TLS": (bare.replace("rediss://", "redis://"), "use rediss://"),
        "TLS to plaintext": (redis_service.url.replace("redis://", "rediss://"), "use redis://"),
        "no client certificate": (f"{mutual_tls.url.partition('&')[0]}", "add &ssl_certfile="),
    }[case]
    message = await ping_error(url)
    assert hint in message, message
    assert message.startswith(url.partition("://")[0] + "://:***@127.0.0.1:"), message
    for service in (rediss_service, mutual_tls, redis_service):
        assert service.password not in message


def test_hints_only_for_tls_trouble() -> None:
    assert tls_hint("redis://h:6379/0", "Error 111 connecting to h:6379. Connection refused.") == ""
    assert tls_hint("rediss://h:6379/0", "Error 111 connecting to h:6379. Connection refused.") == ""
    assert tls_hint("rediss://h/0?ssl_certfile=/c&ssl_keyfile=/k", "Connection reset by peer") == ""
    assert tls_hint("redis://h/0", "NOAUTH Authentication required.") == ""


async def test_doctor_shows_the_tls_url_and_its_trouble(rediss_service: RedisService, rediss_url: str,
                                                        tmp_path: Path) -> None:
    ok = await check_store(Settings(store=SecretStr(rediss_url), cache_dir=tmp_path))
    assert ok.status == "ok", ok
    assert ok.detail.startswith(f"rediss://:***@127.0.0.1:{rediss_service.port}/0?ssl_ca_certs={rediss_service.ca_file}")
    bad = await check_store(Settings(store=SecretStr(rediss_url.partition("?")[0]), cache_dir=tmp_path))
    assert bad.status == "fail" and "ssl_ca_certs" in bad.detail, bad
    assert rediss_service.password not in bad.detail + bad.fix


async def test_postgres_threads_over_verified_tls(postgres_tls_service: PostgresService, postgres_tls_url: str,
                                                  fake_opper: FakeOpperServer, tmp_path: Path) -> None:
    assert "sslmode=verify-full" in postgres_tls_url
    settings = make_settings(fake_opper.url, tmp_path / "cache", store=SecretStr(postgres_tls_url))
    async with connect(settings, "auto") as client:
        cid = data_of(await client.call_tool("chat", {"model": CHAT_MODEL, "prompt": "over TLS"}))["conversation_id"]
        more = data_of(await client.call_tool("chat", {"model": CHAT_MODEL, "prompt": "still", "conversation_id": cid}))
        assert more["conversation_id"] == cid and "note" not in more
    import psycopg

    with psycopg.connect(postgres_tls_url) as conn:
        assert conn.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone() == (True,)
        turns = conn.execute("SELECT count(*) FROM opper_mcp_turns WHERE conversation_id = %s", (cid,)).fetchone()
        assert turns == (4,)
    plaintext = await ping_error(postgres_tls_url.partition("?")[0] + "?sslmode=disable")
    assert "no encryption" in plaintext and postgres_tls_service.password not in plaintext, plaintext
