"""Shutdown and cancellation: nothing in flight is lost or left open.

- SIGTERM to the HTTP server while chat calls stream: they finish with results, the process exits 0,
  and every upstream stream ran to its end.
- Cancelling 10 streaming chat calls (in-memory client): every upstream connection is closed at once
  and no asyncio task is left behind.
- stdio: closing stdin in the middle of a call ends the process (exit 0) within 5 s.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from opper_mcp.settings import Settings
from tests.fake_opper import TEST_KEY, FakeOpperServer
from tests.support import connect, data_of
from tests.transport_support import CHAT_MODEL, ROOT, SERVER_CMD, HttpServer, http_server, server_env, stop_process

pytestmark = pytest.mark.anyio

CHAT_PATH = "/v3/compat/chat/completions"
GRACE_S = 10.0  # uvicorn's timeout_graceful_shutdown in opper_mcp.http


async def wait_for(predicate: Any, limit_s: float, what: str) -> None:
    with anyio.fail_after(limit_s):
        while not predicate():  # noqa: ASYNC110 - the state lives in the emulator's thread: poll it
            await anyio.sleep(0.01)


def wait_for_sync(predicate: Any, limit_s: float, what: str) -> None:
    deadline = time.monotonic() + limit_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.01)


def _leaves(exc: BaseException) -> str:
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(_leaves(e) for e in exc.exceptions)
    return f"{type(exc).__name__}: {exc}"


def started_streams(fake: FakeOpperServer) -> int:
    with fake.state._lock:
        return sum(1 for s in fake.state.streams if s.first_chunk_at is not None)


# ------------------------------------------------------------------------------------ HTTP + SIGTERM


@pytest.fixture
def http(fake_opper: FakeOpperServer, tmp_path: Path) -> Iterator[HttpServer]:
    with http_server(server_env(fake_opper.url, tmp_path / "cache"), tmp_path / "logs") as server:
        yield server


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_sigterm_lets_streaming_chats_finish(http: HttpServer, fake_opper: FakeOpperServer, mode: str) -> None:
    calls = 4
    fake_opper.state.chunk_delay = 0.17  # 9 gaps between events: each chat takes ~1.5 s
    results: dict[int, Any] = {}
    errors: list[str] = []

    started = anyio.Event()
    signalled = 0.0

    async def one(i: int) -> None:
        # Each client lives in its own task: whatever its session does as the server goes away stays here.
        client = Client(http.url, mode=mode, read_timeout_seconds=30)
        try:
            async with client:
                # Listed first, as clients do: the modern client otherwise fetches tools/list right after a
                # result (to check it against the output schema), which a stopping server can no longer serve.
                await client.list_tools()
                await started.wait()
                results[i] = await client.call_tool("chat", {"model": CHAT_MODEL, "prompt": f"shutdown {mode} {i}"})
                answered[i] = time.monotonic()
        except Exception as exc:
            if i not in results:
                errors.append(f"call {i}: {_leaves(exc)}")

    answered: dict[int, float] = {}
    with anyio.fail_after(GRACE_S + 10):
        async with anyio.create_task_group() as tg:
            for i in range(calls):
                tg.start_soon(one, i)
            started.set()
            await wait_for(lambda: started_streams(fake_opper) >= calls, 10, "streams to start")
            signalled = time.monotonic()
            http.proc.send_signal(signal.SIGTERM)
    took = max(answered.values(), default=signalled) - signalled

    assert errors == [], errors
    assert sorted(results) == list(range(calls))
    for i, result in results.items():
        chat = data_of(result)
        assert f"shutdown {mode} {i}" in chat["text"], chat
    assert took < GRACE_S, f"in-flight calls took {took:.1f} s after SIGTERM"

    code = await anyio.to_thread.run_sync(lambda: http.proc.wait(GRACE_S + 5))
    exited = time.monotonic() - signalled
    assert code == 0, http.stderr()
    assert exited < took + 3, f"exited {exited:.1f} s after SIGTERM, {exited - took:.1f} s after the last answer"
    streams = fake_opper.state.streams
    assert len(streams) == calls
    assert all(s.finished and s.disconnected_at is None and not s.dropped for s in streams), streams
    assert "Traceback" not in http.stderr(), http.stderr()[-3000:]
    assert TEST_KEY not in http.stderr()


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_sigterm_with_idle_clients_connected_exits_promptly(http: HttpServer, mode: str) -> None:
    """Listen-only streams (a legacy session's GET) must not hold the process for the whole grace period."""
    errors: list[str] = []
    connected = anyio.Event()
    count = 0

    async def idle() -> None:
        nonlocal count
        try:
            async with Client(http.url, mode=mode, read_timeout_seconds=30) as client:
                await client.list_tools()
                count += 1
                if count == 3:
                    connected.set()
                await anyio.sleep(GRACE_S + 5)  # until the server goes away
        except Exception as exc:
            errors.append(_leaves(exc))

    with anyio.fail_after(GRACE_S + 10):
        async with anyio.create_task_group() as tg:
            for _ in range(3):
                tg.start_soon(idle)
            await connected.wait()
            await anyio.sleep(0.3)  # let the legacy sessions open their GET streams
            signalled = time.monotonic()
            http.proc.send_signal(signal.SIGTERM)
            code = await anyio.to_thread.run_sync(lambda: http.proc.wait(GRACE_S + 5))
            exited = time.monotonic() - signalled
            tg.cancel_scope.cancel()
    assert code == 0, http.stderr()
    assert exited < 3.0, f"took {exited:.1f} s to exit with idle clients connected"
    assert "Traceback" not in http.stderr(), http.stderr()[-3000:]


# ------------------------------------------------------------------------------------ cancellation


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_cancelled_chats_close_upstream_and_leave_no_tasks(settings: Settings, fake_opper: FakeOpperServer,
                                                                 mode: str) -> None:
    calls = 10
    async with connect(settings, mode) as client:
        # Warm up: connection pool, conversation store and model catalogue exist before counting tasks.
        data_of(await client.call_tool("chat", {"model": CHAT_MODEL, "prompt": "warm up"}))
        await anyio.sleep(0.2)
        tasks_before = {t for t in asyncio.all_tasks() if not t.done()}
        already = len(fake_opper.state.streams)
        fake_opper.state.chunk_delay = 0.5  # each call would take ~4.5 s
        finished: list[int] = []

        async def one(i: int) -> None:
            await client.call_tool("chat", {"model": CHAT_MODEL, "prompt": f"cancel me {i}"})
            finished.append(i)

        async with anyio.create_task_group() as tg:
            for i in range(calls):
                tg.start_soon(one, i)
            await wait_for(lambda: started_streams(fake_opper) >= already + calls, 10, "streams to start")
            cancelled_at = time.monotonic()
            tg.cancel_scope.cancel()
        assert finished == []

        streams = fake_opper.state.streams[already:]
        assert len(streams) == calls
        await wait_for(lambda: all(s.disconnected_at is not None for s in streams), 3, "upstream disconnects")
        assert not any(s.finished for s in streams), "a cancelled call kept streaming to the end"
        slowest = max(s.disconnected_at or 0 for s in streams) - cancelled_at
        assert slowest < 1.0, f"an upstream stream stayed open {slowest:.2f} s after the cancel"

        await anyio.sleep(0.5)
        stray = {t for t in asyncio.all_tasks() if not t.done()} - tasks_before
        assert stray == set(), [t.get_coro() for t in stray]

        # Still serving, and without leftovers from the cancelled calls.
        fake_opper.state.chunk_delay = 0.0
        after = data_of(await client.call_tool("chat", {"model": CHAT_MODEL, "prompt": "after the cancel"}))
        assert "after the cancel" in after["text"]


# ------------------------------------------------------------------------------------ stdio


def _pump(stream: Any, sink: list[bytes]) -> None:
    for line in iter(stream.readline, b""):
        sink.append(line)


def test_stdio_exits_when_stdin_closes_mid_call(fake_opper: FakeOpperServer, tmp_path: Path) -> None:
    fake_opper.state.chunk_delay = 1.2  # the call would take ~11 s: exiting in time means it was cancelled
    proc = subprocess.Popen(list(SERVER_CMD), env=server_env(fake_opper.url, tmp_path / "cache"),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    out: list[bytes] = []
    err: list[bytes] = []
    pumps = [threading.Thread(target=_pump, args=(proc.stdout, out), daemon=True),
             threading.Thread(target=_pump, args=(proc.stderr, err), daemon=True)]
    for t in pumps:
        t.start()
    try:
        assert proc.stdin is not None
        for message in (
            {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}},
            {"jsonrpc": "2.0", "method": "notifications/initialized"},
            {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
             "params": {"name": "chat", "arguments": {"model": CHAT_MODEL, "prompt": "closing stdin"}}},
        ):
            proc.stdin.write(json.dumps(message).encode() + b"\n")
        proc.stdin.flush()
        wait_for_sync(lambda: started_streams(fake_opper) >= 1, 20, "the chat stream to start")
        proc.stdin.close()
        closed = time.monotonic()
        code = proc.wait(10)
        took = time.monotonic() - closed
    finally:
        stop_process(proc)
        for t in pumps:
            t.join(5)
    stderr = b"".join(err).decode(errors="replace")
    assert code == 0, stderr
    assert took < 5.0, f"exited {took:.1f} s after stdin closed"
    stream = fake_opper.state.wait_stream_closed(2.0)
    assert stream.disconnected_at is not None, "the upstream stream was not closed when the process ended"
    assert "Traceback" not in stderr, stderr
    responses = [json.loads(line) for line in out if line.strip()]
    assert [r.get("id") for r in responses if "id" in r][:1] == [1], responses
    assert not any(r.get("id") == 2 and "result" in r and not r["result"].get("isError") for r in responses)
