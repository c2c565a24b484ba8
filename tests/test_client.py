"""OpperClient against the emulator on real loopback HTTP: auth, retries, error mapping, pooling."""

from __future__ import annotations

import itertools
import socket
from collections.abc import AsyncIterator

import psutil
import pytest
from pydantic import SecretStr

from opper_mcp import __version__
from opper_mcp.opper.client import ClientConfig, OpperClient
from opper_mcp.opper.errors import (
    AuthenticationError,
    MissingKeyError,
    NotFoundError,
    OpperAPIError,
    OpperConnectionError,
    OpperError,
    OpperTimeoutError,
    PaymentRequiredError,
    RateLimitError,
    ServerError,
)
from tests.fake_opper import TEST_KEY, FakeOpperServer

pytestmark = pytest.mark.anyio

SEARCH = "/v3/tools/web/search"
SEARCH_BODY = {"query": "opper gateway", "max_results": 2}


def make_client(url: str, key: str | None = TEST_KEY, **config: float) -> OpperClient:
    cfg = {"timeout_s": 5.0, "max_retries": 2, "backoff_base_s": 0.01, **config}
    return OpperClient(
        ClientConfig(
            base_url=url,
            timeout_s=float(cfg["timeout_s"]),
            max_retries=int(cfg["max_retries"]),
            backoff_base_s=float(cfg["backoff_base_s"]),
        ),
        SecretStr(key) if key is not None else None,
    )


@pytest.fixture
async def opper(fake_opper: FakeOpperServer) -> AsyncIterator[OpperClient]:
    client = make_client(fake_opper.url)
    try:
        yield client
    finally:
        await client.aclose()


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def client_ports(server_port: int) -> set[int]:
    """Local ports of this process's established TCP connections to the emulator."""
    return {
        c.laddr.port
        for c in psutil.Process().net_connections(kind="tcp")
        if c.raddr and c.raddr.port == server_port and c.status == psutil.CONN_ESTABLISHED
    }


# --------------------------------------------------------------------------- headers and auth


async def test_sends_bearer_key_and_user_agent(opper: OpperClient, fake_opper: FakeOpperServer) -> None:
    response = await opper.request("GET", "/v3/traces", params={"limit": 1})
    assert response.status == 200
    (req,) = fake_opper.state.requests_to("/v3/traces")
    assert req.headers["authorization"] == f"Bearer {TEST_KEY}"
    assert req.headers["user-agent"] == f"opper-mcp/{__version__}"
    assert req.query == {"limit": "1"}


async def test_missing_key_refused_before_sending(fake_opper: FakeOpperServer) -> None:
    client = make_client(fake_opper.url, key=None)
    try:
        with pytest.raises(MissingKeyError, match="needs an Opper API key") as info:
            await client.request("GET", "/v3/traces")
        assert "OPPER_API_KEY" in str(info.value)
        with pytest.raises(MissingKeyError):
            async with client.stream("/v3/compat/chat/completions", {"model": "x", "messages": []}):
                pass
        assert fake_opper.state.requests == []
    finally:
        await client.aclose()


async def test_public_call_without_key_sends_no_authorization(fake_opper: FakeOpperServer) -> None:
    client = make_client(fake_opper.url, key=None)
    try:
        response = await client.request("GET", "/v3/models", params={"limit": 3}, auth_required=False)
        assert len(response.data["models"]) == 3
        (req,) = fake_opper.state.requests_to("/v3/models")
        assert "authorization" not in req.headers
    finally:
        await client.aclose()


async def test_spec_download_never_carries_the_key(opper: OpperClient, fake_opper: FakeOpperServer) -> None:
    status, text, headers = await opper.get_text("/v3/openapi.yaml")
    assert status == 200 and text == fake_opper.state.spec_text and headers.get("etag")
    (req,) = fake_opper.state.requests_to("/v3/openapi.yaml")
    assert "authorization" not in req.headers


# --------------------------------------------------------------------------- error bodies

CUSTOM = "project p1 is over its limit for this thing"
STATUS_CLASSES = [
    (400, OpperAPIError),
    (401, AuthenticationError),
    (402, PaymentRequiredError),
    (403, AuthenticationError),
    (404, NotFoundError),
    (429, RateLimitError),
    (500, ServerError),
    (503, ServerError),
]


@pytest.mark.parametrize("shape", ["spec", "string", "anthropic", "errors", "detail", "text", "html", "plain", "empty",
                                   "huge"])
async def test_every_error_shape_maps_to_class_and_message(fake_opper: FakeOpperServer, shape: str) -> None:
    client = make_client(fake_opper.url, max_retries=0)
    try:
        for status, cls in STATUS_CLASSES:
            fake_opper.state.fail("/v3/traces", status, shape=shape, message=CUSTOM)
            with pytest.raises(OpperAPIError) as info:
                await client.request("GET", "/v3/traces")
            exc = info.value
            assert type(exc) is cls, (status, shape)
            assert exc.status == status
            if shape in ("text", "html"):  # a proxy's HTML page: its title, not the markup, is the message
                assert exc.message.startswith(f"an HTML error page from a proxy: '{status} ")
                assert "<" not in str(exc) and "nginx" not in str(exc) and "console" not in str(exc)
                assert f"HTTP {status} ({exc.message})" in str(exc)
            elif shape in ("plain", "huge"):
                assert exc.message.startswith("a non-JSON body: '") and len(exc.message) <= 220
                assert not any(ord(ch) < 32 for ch in str(exc))
            elif shape == "empty":
                assert exc.message == "an empty body"
            else:
                assert exc.message == CUSTOM
            assert f"HTTP {status}" in str(exc) and exc.message in str(exc)
    finally:
        await client.aclose()


async def test_error_codes_are_kept(opper: OpperClient, fake_opper: FakeOpperServer) -> None:
    fake_opper.state.fail("/v3/traces", 402, shape="spec")
    with pytest.raises(PaymentRequiredError) as info:
        await opper.request("GET", "/v3/traces")
    assert info.value.code == "insufficient_balance"
    assert "balance" in info.value.message and "top up" in str(info.value)

    fake_opper.state.fail("/v3/traces", 401, shape="anthropic")
    with pytest.raises(AuthenticationError) as info2:
        await opper.request("GET", "/v3/traces")
    assert info2.value.code == "authentication_error"
    assert "check OPPER_API_KEY" in str(info2.value)


async def test_real_401_for_a_wrong_key(fake_opper: FakeOpperServer) -> None:
    client = make_client(fake_opper.url, key="op-wrong-key")
    try:
        with pytest.raises(AuthenticationError, match="invalid bearer token") as info:
            await client.request("GET", "/v3/traces")
        assert len(fake_opper.state.requests_to("/v3/traces")) == 1  # 401 is never retried
        assert "op-wrong-key" not in str(info.value)
    finally:
        await client.aclose()


# --------------------------------------------------------------------------- retries: GET


async def test_429_retry_after_is_honoured(opper: OpperClient, fake_opper: FakeOpperServer) -> None:
    fake_opper.state.fail("/v3/traces", 429, times=2, retry_after=0.2)
    response = await opper.request("GET", "/v3/traces")
    assert response.status == 200
    reqs = fake_opper.state.requests_to("/v3/traces")
    assert len(reqs) == 3
    gaps = [b.monotonic - a.monotonic for a, b in itertools.pairwise(reqs)]
    # the backoff alone would be ~0.01-0.03 s: the waits come from Retry-After
    assert all(g >= 0.18 for g in gaps), gaps


async def test_429_forever_says_it_was_retried(opper: OpperClient, fake_opper: FakeOpperServer) -> None:
    fake_opper.state.fail("/v3/traces", 429, times=None, retry_after=0)
    with pytest.raises(RateLimitError) as info:
        await opper.request("GET", "/v3/traces")
    assert len(fake_opper.state.requests_to("/v3/traces")) == 3  # 1 + max_retries
    text = str(info.value)
    assert "HTTP 429" in text and "after 2 retries" in text
    assert "rate limit exceeded" in text


@pytest.mark.parametrize("status", [502, 503, 504])
async def test_get_retried_on_gateway_errors(opper: OpperClient, fake_opper: FakeOpperServer, status: int) -> None:
    fake_opper.state.fail("/v3/traces", status, times=2)
    response = await opper.request("GET", "/v3/traces")
    assert response.status == 200 and response.data["data"]
    assert len(fake_opper.state.requests_to("/v3/traces")) == 3


async def test_get_gives_up_after_max_retries(opper: OpperClient, fake_opper: FakeOpperServer) -> None:
    fake_opper.state.fail("/v3/traces", 502, times=None)
    with pytest.raises(ServerError) as info:
        await opper.request("GET", "/v3/traces")
    assert len(fake_opper.state.requests_to("/v3/traces")) == 3
    assert "after 2 retries" in str(info.value)


async def test_get_not_retried_on_500(opper: OpperClient, fake_opper: FakeOpperServer) -> None:
    fake_opper.state.fail("/v3/traces", 500, times=None)
    with pytest.raises(ServerError, match="internal server error"):
        await opper.request("GET", "/v3/traces")
    assert len(fake_opper.state.requests_to("/v3/traces")) == 1


async def test_get_retried_on_dropped_connection(opper: OpperClient, fake_opper: FakeOpperServer) -> None:
    fake_opper.state.drop("/v3/traces")
    response = await opper.request("GET", "/v3/traces")
    assert response.status == 200
    assert len(fake_opper.state.requests_to("/v3/traces")) == 2


async def test_get_dropped_every_time(opper: OpperClient, fake_opper: FakeOpperServer) -> None:
    fake_opper.state.drop("/v3/traces", times=None)
    with pytest.raises(OpperConnectionError, match="connection to Opper failed during GET /v3/traces") as info:
        await opper.request("GET", "/v3/traces")
    assert len(fake_opper.state.requests_to("/v3/traces")) == 3
    assert "retry the call" in str(info.value)


# --------------------------------------------------------------------------- retries: POST


@pytest.mark.parametrize("status", [502, 504])
async def test_post_not_resent_on_502_504(opper: OpperClient, fake_opper: FakeOpperServer, status: int) -> None:
    fake_opper.state.fail(SEARCH, status, times=None)
    with pytest.raises(ServerError) as info:
        await opper.request("POST", SEARCH, json_body=SEARCH_BODY)
    assert info.value.status == status
    assert len(fake_opper.state.requests_to(SEARCH)) == 1
    assert "retr" not in str(info.value)  # it must not claim retries it did not make


async def test_post_not_resent_on_dropped_connection(opper: OpperClient, fake_opper: FakeOpperServer) -> None:
    fake_opper.state.drop(SEARCH)  # once: a re-send would succeed, so only the log can tell
    with pytest.raises(OpperConnectionError) as info:
        await opper.request("POST", SEARCH, json_body=SEARCH_BODY)
    assert len(fake_opper.state.requests_to(SEARCH)) == 1
    assert "may or may not have been processed" in str(info.value)


@pytest.mark.parametrize("status", [429, 503])
async def test_post_resent_on_429_503(opper: OpperClient, fake_opper: FakeOpperServer, status: int) -> None:
    fake_opper.state.fail(SEARCH, status, times=1)
    response = await opper.request("POST", SEARCH, json_body=SEARCH_BODY)
    assert len(response.data["results"]) == 2
    reqs = fake_opper.state.requests_to(SEARCH)
    assert len(reqs) == 2
    assert reqs[0].json == reqs[1].json == SEARCH_BODY


@pytest.mark.parametrize(("retries", "attempts"), [(0, 1), (2, 3)])
@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_connect_errors_retried_for_every_method(method: str, retries: int, attempts: int) -> None:
    port = closed_port()
    client = make_client(f"http://127.0.0.1:{port}", max_retries=retries)
    try:
        with pytest.raises(OpperConnectionError) as info:
            await client.request(method, SEARCH if method == "POST" else "/v3/traces", json_body=None)
        text = str(info.value)
        assert f"cannot reach Opper at http://127.0.0.1:{port}" in text
        assert f"after {attempts} attempt(s)" in text
        assert "OPPER_BASE_URL" in text
    finally:
        await client.aclose()


# --------------------------------------------------------------------------- bodies and timeouts


async def test_non_json_success_body(opper: OpperClient, fake_opper: FakeOpperServer) -> None:
    fake_opper.state.non_json("/v3/traces")
    with pytest.raises(OpperError) as info:
        await opper.request("GET", "/v3/traces")
    assert not isinstance(info.value, OpperAPIError)
    assert str(info.value).startswith("Opper answered HTTP 200 with an HTML error page from a proxy: 'oops', not JSON")


async def test_timeout_raises_opper_timeout(fake_opper: FakeOpperServer) -> None:
    client = make_client(fake_opper.url, timeout_s=0.3, max_retries=0)
    try:
        fake_opper.state.delay("/v3/traces", 2.0)
        with pytest.raises(OpperTimeoutError, match=r"did not answer GET /v3/traces within 0\.3 s"):
            await client.request("GET", "/v3/traces")
    finally:
        await client.aclose()


async def test_timeout_retried_for_get_not_post(fake_opper: FakeOpperServer) -> None:
    client = make_client(fake_opper.url, timeout_s=0.3, max_retries=1)
    try:
        fake_opper.state.delay("/v3/traces", 2.0, times=1)
        response = await client.request("GET", "/v3/traces")
        assert response.status == 200
        assert len(fake_opper.state.requests_to("/v3/traces")) == 2

        fake_opper.state.delay(SEARCH, 2.0, times=1)
        with pytest.raises(OpperTimeoutError):
            await client.request("POST", SEARCH, json_body=SEARCH_BODY)
        assert len(fake_opper.state.requests_to(SEARCH)) == 1
    finally:
        await client.aclose()


# --------------------------------------------------------------------------- the key never leaks


async def test_echoed_key_is_redacted_from_errors(opper: OpperClient, fake_opper: FakeOpperServer) -> None:
    bodies = [
        f'{{"error": {{"code": "bad", "message": "key {TEST_KEY} is not allowed here"}}}}',
        f"upstream said: Authorization: Bearer {TEST_KEY} rejected",
        f'{{"detail": {{"header": "Bearer {TEST_KEY}"}}}}',
    ]
    for status in (400, 401, 429, 500, 502):
        for body in bodies:
            fake_opper.state.fail("/v3/traces", status, times=None, body=body)
            with pytest.raises(OpperAPIError) as info:
                await opper.request("GET", "/v3/traces")
            fake_opper.state.clear_faults()
            exc = info.value
            for text in (str(exc), repr(exc), exc.message, exc.hint, *map(str, exc.args)):
                assert TEST_KEY not in text, (status, body, text)
            assert "[redacted]" in exc.message


# --------------------------------------------------------------------------- pool, redirects, views


async def test_keep_alive_reuses_one_connection(opper: OpperClient, fake_opper: FakeOpperServer) -> None:
    seen: set[int] = set()
    for _ in range(20):
        await opper.request("GET", "/v3/traces", params={"limit": 1})
        seen |= client_ports(fake_opper.port)
    assert len(fake_opper.state.requests_to("/v3/traces")) == 20
    assert len(seen) == 1, seen


async def test_beta_redirect_followed_with_body_and_auth(opper: OpperClient, fake_opper: FakeOpperServer) -> None:
    response = await opper.request("POST", "/v3/beta/tools/web/search", json_body=SEARCH_BODY)
    assert response.status == 200 and len(response.data["results"]) == 2
    first, second = fake_opper.state.requests
    assert (first.method, first.path) == ("POST", "/v3/beta/tools/web/search")
    assert (second.method, second.path) == ("POST", SEARCH)
    assert first.json == second.json == SEARCH_BODY
    assert second.headers["authorization"] == f"Bearer {TEST_KEY}"


async def test_with_key_views_share_the_pool_but_not_the_key(opper: OpperClient, fake_opper: FakeOpperServer) -> None:
    other = "op-other-key"
    fake_opper.state.api_keys.add(other)
    view = opper.with_key(SecretStr(other))
    anonymous = opper.with_key(None)
    seen: set[int] = set()
    for client in (opper, view, opper, view):
        await client.request("GET", "/v3/traces")
        seen |= client_ports(fake_opper.port)
    await anonymous.request("GET", "/v3/models", params={"limit": 1}, auth_required=False)
    seen |= client_ports(fake_opper.port)
    with pytest.raises(MissingKeyError):
        await anonymous.request("GET", "/v3/traces")

    auths = [r.headers.get("authorization") for r in fake_opper.state.requests]
    assert auths == [f"Bearer {TEST_KEY}", f"Bearer {other}", f"Bearer {TEST_KEY}", f"Bearer {other}", None]
    assert len(seen) == 1, seen  # one upstream connection served every view
    assert view.key_fingerprint != opper.key_fingerprint and anonymous.key_fingerprint == "anonymous"
    assert other not in view.key_fingerprint and TEST_KEY not in opper.key_fingerprint


async def test_huge_error_body_is_read_only_in_part(opper: OpperClient, fake_opper: FakeOpperServer) -> None:
    """A runaway proxy body costs a bounded read and a closed connection, not megabytes of memory."""
    fake_opper.state.fail("/v3/traces", 500, shape="huge")
    with pytest.raises(ServerError) as info:
        await opper.request("GET", "/v3/traces")
    assert info.value.message.endswith("…'") and len(str(info.value)) < 300
    assert (await opper.request("GET", "/v3/traces", params={"limit": 1})).status == 200
