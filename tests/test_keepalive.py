"""Streams leave their upstream connection reusable; cancelling one still closes it at once."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client
from pydantic import SecretStr

from opper_mcp.opper.client import ClientConfig, OpperClient
from tests.fake_opper import TEST_KEY, FakeOpperServer
from tests.support import cancel_mid_stream, connect, data_of, make_settings

pytestmark = pytest.mark.anyio

CHAT = "/v3/compat/chat/completions"
MODEL = "openai/gpt-5-mini"
PANEL = ["openai/gpt-5-mini", "anthropic/claude-sonnet-4-6"]
BODY = {"model": MODEL, "messages": [{"role": "user", "content": "hello there"}], "stream": True}


@pytest.fixture
async def opper(fake_opper: FakeOpperServer) -> AsyncIterator[OpperClient]:
    client = OpperClient(ClientConfig(base_url=fake_opper.url, timeout_s=5.0), SecretStr(TEST_KEY))
    try:
        yield client
    finally:
        await client.aclose()


async def read_stream(opper: OpperClient) -> list[dict[str, Any]]:
    async with opper.stream(CHAT, BODY) as stream:
        return [event async for event in stream.events()]


@pytest.mark.parametrize("ending", ["separate", "same"])
async def test_streams_reuse_one_connection(opper: OpperClient, fake_opper: FakeOpperServer, ending: str) -> None:
    fake_opper.state.stream_end = ending
    for _ in range(10):
        assert await read_stream(opper)
        await opper.request("GET", "/v3/traces", params={"limit": 1})
    assert all(record.finished for record in fake_opper.state.streams)
    assert fake_opper.connections_opened == 1


async def test_late_end_of_body_is_not_waited_for(opper: OpperClient, fake_opper: FakeOpperServer) -> None:
    """A server that never finishes the body after `[DONE]` costs a connection, not the caller's time."""
    fake_opper.state.stream_end_delay = 5.0
    started = time.monotonic()
    events = await read_stream(opper)
    assert events and time.monotonic() - started < 3.0  # the end of the body comes after 5 s
    await opper.request("GET", "/v3/traces", params={"limit": 1})
    assert fake_opper.connections_opened == 2  # the undrained connection was closed, not reused


async def mixed_calls(client: Client, n: int) -> None:
    calls: list[tuple[str, dict[str, Any]]] = [
        ("chat", {"model": MODEL, "prompt": "keep the line open"}),
        ("list_traces", {"limit": 2}),
        ("roundtable", {"input": "one word each", "models": PANEL}),
        ("web_search", {"query": "keep-alive"}),
        ("list_models", {"limit": 3}),
        ("grep_spec", {"pattern": "trace_uuid"}),
    ]
    for i in range(n):
        name, args = calls[i % len(calls)]
        data_of(await client.call_tool(name, args))


async def test_hundred_mixed_calls_use_at_most_two_connections(fake_opper: FakeOpperServer, tmp_path: Path) -> None:
    async with connect(make_settings(fake_opper.url, tmp_path)) as client:
        await mixed_calls(client, 100)
    streams = fake_opper.state.streams
    assert {s.path for s in streams} == {CHAT, "/v3/roundtable"} and all(s.finished for s in streams)
    print(f"\n100 mixed calls ({len(streams)} streamed): {fake_opper.connections_opened} upstream connection(s)")
    assert fake_opper.connections_opened <= 2


async def test_cancel_still_closes_the_upstream_at_once(fake_opper: FakeOpperServer, tmp_path: Path) -> None:
    fake_opper.state.chunk_delay = 0.05
    async with connect(make_settings(fake_opper.url, tmp_path)) as client:
        data_of(await client.call_tool("list_traces", {"limit": 1}))
        long_prompt = " ".join(f"w{i}" for i in range(200))
        cancelled_at = await cancel_mid_stream(client, fake_opper, "chat", {"model": MODEL, "prompt": long_prompt})
        record = await fake_opper.state.await_stream_closed(2.0)
        assert record.disconnected_at is not None and not record.finished
        assert record.disconnected_at - cancelled_at < 0.5
        fake_opper.state.chunk_delay = 0
        data_of(await client.call_tool("list_traces", {"limit": 1}))
    assert fake_opper.connections_opened == 2  # the cancelled stream's connection was not put back


@pytest.mark.parametrize("ending", ["separate", "same"])
async def test_emulator_ends_streams_both_ways(fake_opper: FakeOpperServer, ending: str) -> None:
    """`separate`: the end of the chunked body comes in its own write, a moment after `[DONE]`."""
    fake_opper.state.stream_end = ending
    fake_opper.state.stream_end_delay = 1.0
    headers = {"Authorization": f"Bearer {TEST_KEY}"}
    seen_done_at = None
    async with (httpx2.AsyncClient(base_url=fake_opper.url, headers=headers) as http,
                http.stream("POST", CHAT, json=BODY) as response):
        async for chunk in response.aiter_raw():
            if b"data: [DONE]" in chunk:
                seen_done_at = time.monotonic()
        ended_at = time.monotonic()
    assert seen_done_at is not None
    gap = ended_at - seen_done_at
    assert (gap >= 0.9) if ending == "separate" else (gap < 0.5), gap
