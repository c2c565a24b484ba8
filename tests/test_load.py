"""Load: the HTTP server (a real subprocess) under 64 concurrent MCP clients making mixed tool calls
while the emulator injects ~10% faults (429, 500, slow answers, dropped streams).

Every call must come back as a result or an is_error result with a real message; /healthz keeps
answering 200; the server's memory after the run is back within 10% of where it was after a warm-up.
"""

from __future__ import annotations

import random
import re
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx2
import psutil  # type: ignore[import-untyped]
import pytest
from mcp import Client

from tests.fake_opper import SEED_TRACE_IDS, TEST_KEY, FakeOpperServer
from tests.support import text_of
from tests.transport_support import CHAT_MODEL, HttpServer, http_server, server_env

pytestmark = pytest.mark.anyio

CLIENTS = 64
CALLS_PER_CLIENT = 50
WARMUP_CALLS = 6
AFTER_CALLS = 3
FAULT_RATE = 0.10
CALL_TIMEOUT_S = 20.0
HEALTH_EVERY_S = 0.2
SETTLE_S = 1.5
RSS_TOLERANCE = 0.10
MODERN = "2026-07-28"

BARE = re.compile(r"Error executing tool [\w-]+:?\s*")
# What a valid call may fail with while the emulator misbehaves: Opper's status, a cut stream, a timeout.
UPSTREAM_FAILURE = re.compile(r"Opper returned HTTP (429|500)|stream from Opper was cut off|connection to Opper|"
                              r"Opper did not answer|stopped sending data|characters had arrived")

Call = tuple[str, dict[str, Any], bool]  # tool, arguments, must be rejected


def plan(client: int, count: int, phase: str) -> list[Call]:
    """A deterministic mix of calls for one client."""
    rng = random.Random(f"{phase}-{client}")
    calls: list[Call] = []
    for i in range(count):
        tag = f"{phase}-{client}-{i}"
        kind = rng.choices(
            ["grep_spec", "list_models", "list_traces", "web_search", "chat", "get_trace", "invalid"],
            weights=[3, 3, 2, 2, 4, 2, 1],
        )[0]
        if kind == "grep_spec":
            calls.append(("grep_spec", {"pattern": rng.choice(["trace_uuid", "operationId: listModels",
                                                                "ChatRequest", "trace"])}, False))
        elif kind == "list_models":
            calls.append(("list_models", rng.choice([{"query": "claude", "limit": 5}, {"type": "llm", "limit": 20},
                                                     {"provider": "openai", "offset": 3}]), False))
        elif kind == "list_traces":
            calls.append(("list_traces", {"limit": rng.choice([5, 20]), "name": rng.choice(["", "support"])},
                          False))
        elif kind == "web_search":
            calls.append(("web_search", {"query": f"load test {tag}", "max_results": 3}, False))
        elif kind == "chat":
            calls.append(("chat", {"model": CHAT_MODEL, "prompt": f"hello {tag}"}, False))
        elif kind == "get_trace":
            calls.append(("get_trace", {"trace_id": SEED_TRACE_IDS[0]}, False))
        else:
            invalid: list[Call] = [
                ("list_models", {"limit": 0}, True),
                ("grep_spec", {"pattern": ""}, True),
                ("chat", {"model": CHAT_MODEL}, True),
                ("get_trace", {"trace_id": "not a trace id!"}, True),
                ("web_fetch", {"url": "ftp://example.com/x"}, True),
            ]
            calls.append(rng.choice(invalid))
    for i, (name, args, bad) in enumerate(calls):
        calls[i] = (name, {k: v for k, v in args.items() if v is not None}, bad)
    return calls


@dataclass
class Tally:
    calls: int = 0
    ok: int = 0
    errors: int = 0  # is_error results of valid calls (upstream faults)
    rejected: int = 0  # is_error results of invalid calls
    failures: list[str] = field(default_factory=list)
    by_tool: Counter[str] = field(default_factory=Counter)
    slowest: float = 0.0


def check_result(tally: Tally, name: str, args: dict[str, Any], must_fail: bool, result: Any) -> None:
    text = text_of(result)
    where = f"{name}({args})"
    if TEST_KEY in text:
        tally.failures.append(f"{where}: the API key leaked into a result")
    if result.is_error:
        if not text.strip() or BARE.fullmatch(text.strip()):
            tally.failures.append(f"{where}: bare error {text!r} (an exception escaped the tool)")
        elif "internal error in" in text:
            tally.failures.append(f"{where}: unexpected exception: {text[:300]}")
        elif must_fail:
            tally.rejected += 1
        elif UPSTREAM_FAILURE.search(text):
            tally.errors += 1
        else:
            tally.failures.append(f"{where}: valid call failed for a reason other than a fault: {text[:300]}")
        return
    if must_fail:
        tally.failures.append(f"{where}: invalid arguments were accepted")
        return
    data: dict[str, Any] = result.structured_content or {}
    if name == "chat":
        good = args["prompt"] in data.get("text", "")
    elif name == "grep_spec":
        good = data.get("total_matches", 0) >= 1
    elif name == "get_trace":
        good = data.get("id") == args["trace_id"] and data.get("span_count") == 5
    elif name == "web_search":
        good = len(data.get("results", [])) == args["max_results"]
    elif name == "list_models":
        good = data.get("total", 0) >= 1
    else:
        good = isinstance(data.get("traces"), list)
    if good:
        tally.ok += 1
    else:
        tally.failures.append(f"{where}: wrong result {text[:300]}")


async def run_client(client: Client, calls: list[Call], tally: Tally) -> None:
    for name, args, must_fail in calls:
        tally.calls += 1
        tally.by_tool[name] += 1
        started = time.monotonic()
        try:
            with anyio.fail_after(CALL_TIMEOUT_S):
                result = await client.call_tool(name, args)
        except TimeoutError:
            tally.failures.append(f"{name}({args}): no answer within {CALL_TIMEOUT_S:g} s")
            continue
        except Exception as exc:  # a transport failure: counted, and the run goes on
            tally.failures.append(f"{name}({args}): {type(exc).__name__}: {exc}"[:400])
            continue
        finally:
            tally.slowest = max(tally.slowest, time.monotonic() - started)
        check_result(tally, name, args, must_fail, result)


async def run_phase(clients: list[Client], count: int, phase: str, tally: Tally) -> None:
    async with anyio.create_task_group() as tg:
        for index, client in enumerate(clients):
            tg.start_soon(run_client, client, plan(index, count, phase), tally)


@dataclass
class Health:
    checks: int = 0
    failures: list[str] = field(default_factory=list)
    slowest: float = 0.0


async def poll_health(base: str, health: Health, stop: anyio.Event) -> None:
    async with httpx2.AsyncClient(timeout=5.0) as http:
        while not stop.is_set():
            started = time.monotonic()
            try:
                response = await http.get(f"{base}/healthz")
                if response.status_code != 200:
                    health.failures.append(f"HTTP {response.status_code}")
            except httpx2.HTTPError as exc:
                health.failures.append(f"{type(exc).__name__}: {exc}")
            health.checks += 1
            health.slowest = max(health.slowest, time.monotonic() - started)
            with anyio.move_on_after(HEALTH_EVERY_S):
                await stop.wait()


def rss_mib(pid: int) -> float:
    return float(psutil.Process(pid).memory_info().rss) / 2**20


@pytest.fixture
def emulator() -> Iterator[FakeOpperServer]:
    with FakeOpperServer() as server:
        yield server


@pytest.fixture
def server(emulator: FakeOpperServer, tmp_path: Path) -> Iterator[HttpServer]:
    env = server_env(emulator.url, tmp_path / "cache", OPPER_MCP_TIMEOUT="5", OPPER_MCP_RETRIES="1")
    with http_server(env, tmp_path / "logs") as running:
        yield running


async def test_64_clients_mixed_calls_with_faults(server: HttpServer, emulator: FakeOpperServer) -> None:
    started = time.monotonic()
    emulator.state.fault_rate(FAULT_RATE, seed=1234)
    pid = server.proc.pid
    warm, main, after = Tally(), Tally(), Tally()
    health = Health()
    stop = anyio.Event()

    async with anyio.create_task_group() as tg:
        tg.start_soon(poll_health, server.base, health, stop)
        async with AsyncExitStack() as stack:
            clients = [await stack.enter_async_context(Client(server.url, mode="auto", read_timeout_seconds=30))
                       for _ in range(CLIENTS)]
            versions = {c.protocol_version for c in clients}
            assert versions == {MODERN}, versions
            await run_phase(clients, WARMUP_CALLS, "warmup", warm)
            await anyio.sleep(SETTLE_S)
            rss_before = rss_mib(pid)
            main_started = time.monotonic()
            await run_phase(clients, CALLS_PER_CLIENT, "main", main)
            main_took = time.monotonic() - main_started
            await anyio.sleep(SETTLE_S)
            await run_phase(clients, AFTER_CALLS, "after", after)
            await anyio.sleep(SETTLE_S)
            rss_after = rss_mib(pid)
        stop.set()

    faults = dict(sorted(emulator.state.faults_injected.items()))
    print(
        f"\nload: {CLIENTS} clients x {CALLS_PER_CLIENT} calls = {main.calls} calls in {main_took:.1f} s "
        f"({main.calls / main_took:.0f}/s, slowest {main.slowest:.1f} s): {main.ok} ok, {main.errors} is_error "
        f"from faults, {main.rejected} invalid rejected, {len(main.failures)} failures; faults injected (all phases) "
        f"{faults}; healthz {health.checks} checks, {len(health.failures)} failed, slowest {health.slowest:.2f} s; "
        f"RSS {rss_before:.1f} -> {rss_after:.1f} MiB; wall {time.monotonic() - started:.1f} s"
    )

    failures = warm.failures + main.failures + after.failures
    assert failures == [], f"{len(failures)} bad calls, first ones:\n" + "\n".join(failures[:15])
    assert main.calls == CLIENTS * CALLS_PER_CLIENT
    assert main.ok + main.errors + main.rejected == main.calls
    assert health.failures == [], health.failures[:10]
    assert health.checks >= main_took / (HEALTH_EVERY_S + 0.3), "the health poller stalled"
    # The faults really happened, and reached the tools, without drowning the successes.
    assert {"429", "500", "slow", "drop_stream"} <= set(faults), faults
    assert main.errors > 0, "no fault ever surfaced as an is_error result"
    assert main.ok >= 0.75 * (main.calls - main.rejected), "fewer than 75% of valid calls succeeded"
    assert main.rejected > 0
    assert rss_after <= rss_before * (1 + RSS_TOLERANCE), f"RSS grew {rss_before:.1f} -> {rss_after:.1f} MiB"
    assert server.proc.poll() is None, "the server died"
    assert "Traceback" not in server.stderr(), server.stderr()[-3000:]
