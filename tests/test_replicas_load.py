"""Load with faults through the real nginx: 64 clients x 50 mixed calls against three replicas that share
a real Redis (append-only) or PostgreSQL, while the emulator injects ~10% upstream faults.

Mid-run one replica is SIGKILLed and the store is stopped and started again. Every call must end
within a bound (no hang) with a result or a clear error of a kind its moment allows; every chat turn
a client was told was saved must be in the store at the end (loaded directly from it).
"""

from __future__ import annotations

import random
import re
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from opper_mcp.auth import named_tokens
from tests.cluster import Nginx, Replica, cluster
from tests.fake_opper import FakeOpperServer
from tests.support import text_of
from tests.test_load import BARE, UPSTREAM_FAILURE
from tests.transport_support import CHAT_MODEL, missing, server_env

pytestmark = pytest.mark.anyio

CLIENTS = 64
CALLS_PER_CLIENT = 50
PEOPLE = ("alice", "bob", "carol", "dave")
FAULT_RATE = 0.10
CALL_TIMEOUT_S = 20.0  # a call that takes longer is a hang
KILL_AT = 0.2  # fraction of all calls done when a replica is SIGKILLed
OUTAGE_AT = 0.45  # … when the store is stopped
OUTAGE_S = 2.5  # how long it stays down
GRACE_S = 1.0  # calls that started this long after an event may still see its effects
RECOVERY_S = 0.0  # a call that starts once the store is back must find it working: no time to recover
SAVE_FAILED = re.compile(r"could not be saved|was not saved")
STORE_DOWN = re.compile(r"conversation store unavailable: .+, retry")


@dataclass
class Call:
    kind: str
    tool: str
    args: dict[str, Any]
    started: float = 0.0
    ended: float = 0.0


@dataclass
class Run:
    calls: int = 0
    ok: int = 0
    upstream_errors: int = 0  # is_error from an injected Opper fault
    rejected: int = 0  # is_error for invalid arguments, as planned
    killed: int = 0  # calls in flight on the SIGKILLed replica, ended with an error at the client
    kill_errors: Counter[str] = field(default_factory=Counter)
    degraded: int = 0  # chat answered but not saved, or continuation refused, during the store outage
    hangs: int = 0
    failures: list[str] = field(default_factory=list)
    saved: dict[tuple[str, str], list[str]] = field(default_factory=dict)  # (owner, conversation) -> prompts
    by_kind: Counter[str] = field(default_factory=Counter)
    kill_at: float | None = None
    down_at: float | None = None
    up_at: float | None = None
    t0: float = 0.0
    recovery: float = 0.0  # the latest store error after the restart, seconds after it
    first_saved: float | None = None  # the first turn saved by a call started after the restart, seconds after it

    def during_outage(self, call: Call) -> bool:
        if self.down_at is None or call.ended < self.down_at:
            return False
        if self.up_at is not None and call.started > self.up_at:
            self.recovery = max(self.recovery, call.ended - self.up_at)
        return self.up_at is None or call.started <= self.up_at + RECOVERY_S

    def in_flight_at_kill(self, call: Call) -> bool:
        return self.kill_at is not None and call.started <= self.kill_at + GRACE_S <= call.ended + GRACE_S


def plan(index: int) -> list[tuple[str, str, dict[str, Any]]]:
    rng = random.Random(f"replicas-{index}")
    out: list[tuple[str, str, dict[str, Any]]] = []
    for i in range(CALLS_PER_CLIENT):
        kind = rng.choices(["grep", "models", "search", "chat_new", "chat_more", "list", "invalid"],
                           weights=[3, 2, 2, 2, 5, 1, 1])[0]
        tag = f"c{index}-{i}"
        if kind == "grep":
            out.append((kind, "grep_spec", {"pattern": rng.choice(["trace_uuid", "ChatRequest"])}))
        elif kind == "models":
            out.append((kind, "list_models", {"query": "claude", "limit": 5}))
        elif kind == "search":
            out.append((kind, "web_search", {"query": f"replicas {tag}", "max_results": 3}))
        elif kind in ("chat_new", "chat_more"):
            out.append((kind, "chat", {"model": CHAT_MODEL, "prompt": f"turn {tag}"}))
        elif kind == "list":
            out.append((kind, "conversations", {"limit": 5}))
        else:
            out.append((kind, "chat", {"model": CHAT_MODEL}))
    return out


async def run_client(url: str, token: str, index: int, run: Run, progress: Progress) -> None:
    """One agent: its calls in order, each bounded in time.

    A response cut by the SIGKILL can take the whole client down, not just its call: the SDK's transport
    lets a truncated body escape its task group. The agent then reconnects, as a real one would, and goes
    on with its next call; the cut call counts as killed when it was in flight at the kill.
    """
    owner = f"name:{PEOPLE[index % len(PEOPLE)]}"
    calls = plan(index)
    conversation: str | None = None
    reconnects = 0
    while calls:
        current: Call | None = None  # the call in flight
        last_cut: Call | None = None  # the call that ended this connection, when one did
        try:
            async with connect(url, token, index) as client:
                while calls:
                    kind, tool, args = calls.pop(0)
                    if kind == "chat_more" and conversation is not None:
                        args = {**args, "conversation_id": conversation}
                    elif kind == "chat_more":
                        kind = "chat_new"
                    current = Call(kind, tool, args, started=time.monotonic())
                    run.calls += 1
                    run.by_kind[kind] += 1
                    result: Any = None
                    error: str | None = None
                    try:
                        with anyio.fail_after(CALL_TIMEOUT_S):
                            result = await client.call_tool(tool, args)
                    except TimeoutError:
                        run.hangs += 1
                        error = "hang"
                    except Exception as exc:  # the connection (through nginx) to a replica that died mid-call
                        error = f"{type(exc).__name__}: {exc}"
                    current.ended = time.monotonic()
                    progress.tick()
                    if error is not None:
                        cut(run, current, error)
                        current, last_cut = None, current
                        break  # a fresh connection for the next call
                    conversation = check(run, current, result, owner, conversation)
                    current = None
        except Exception as exc:  # the transport itself died (see above), or connecting failed
            while isinstance(exc, ExceptionGroup) and len(exc.exceptions) == 1:
                exc = exc.exceptions[0]
            error = f"{type(exc).__name__}: {exc}"
            if current is not None:  # the call it died under
                current.ended = time.monotonic()
                progress.tick()
                cut(run, current, error)
            elif last_cut is not None and run.in_flight_at_kill(last_cut):
                pass  # the same cut again, raised as the dead client closed
            elif not run.in_flight_at_kill(Call("connect", "initialize", {}, time.monotonic(), time.monotonic())):
                run.failures.append(f"connecting at +{time.monotonic() - run.t0:.1f}s: {error}"[:400])
            reconnects += 1
            if reconnects > 5:
                run.failures.append(f"client {index} gave up after {reconnects} reconnects: {error}"[:400])
                return


def cut(run: Run, call: Call, error: str) -> None:
    """A call that ended without a result: killed by the SIGKILL if in flight then, else a failure."""
    if error != "hang" and error.strip() and run.in_flight_at_kill(call):
        run.killed += 1
        run.kill_errors[error[:120]] += 1
    else:
        run.failures.append(f"{call.tool}({call.args}) at +{call.started - run.t0:.1f}s: {error}"[:400])


def check(run: Run, call: Call, result: Any, owner: str, conversation: str | None) -> str | None:
    """Classify one result; returns the client's conversation afterwards."""
    text = text_of(result)
    where = f"{call.tool}({call.args}) at +{call.started - run.t0:.1f}s"
    if result.is_error:
        if not text.strip() or BARE.fullmatch(text.strip()) or "internal error in" in text:
            run.failures.append(f"{where}: unclear error {text[:300]!r}")
        elif call.kind == "invalid":
            run.rejected += 1
        elif UPSTREAM_FAILURE.search(text):
            run.upstream_errors += 1
        elif STORE_DOWN.search(text) and run.during_outage(call):
            run.degraded += 1
        else:
            run.failures.append(f"{where}, ended +{call.ended - run.t0:.1f}s: {text[:300]}")
        return conversation
    if call.kind == "invalid":
        run.failures.append(f"{where}: invalid arguments accepted")
        return conversation
    data: dict[str, Any] = result.structured_content or {}
    if call.tool == "chat":
        if call.args["prompt"] not in data.get("text", ""):
            run.failures.append(f"{where}: wrong answer {text[:200]}")
            return conversation
        note = data.get("note") or ""
        if SAVE_FAILED.search(note):
            if not run.during_outage(call):
                run.failures.append(f"{where}: not saved outside the outage: {note}")
            run.degraded += 1
            return data.get("conversation_id") or conversation
        conversation = data["conversation_id"]
        run.saved.setdefault((owner, conversation), []).append(call.args["prompt"])
        if run.up_at is not None and call.started > run.up_at:
            took = call.ended - run.up_at
            run.first_saved = took if run.first_saved is None else min(run.first_saved, took)
    elif call.tool == "conversations" and not isinstance(data.get("conversations"), list):
        run.failures.append(f"{where}: wrong result {text[:200]}")
        return conversation
    run.ok += 1
    return conversation


@pytest.fixture(params=["redis", "postgres"])
def store(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A store service (the real server) with a clean database, and its URL."""
    from tests.services import PostgresService, RedisService

    service: Any
    try:
        service = RedisService() if request.param == "redis" else PostgresService()
    except FileNotFoundError as exc:
        missing(str(exc))
    service.start()
    try:
        service.store_url = service.url if request.param == "redis" else service.url_for(service.create_database())
        yield service
    finally:
        service.close()


@pytest.fixture
def deployment(store: Any, tmp_path: Path) -> Iterator[tuple[list[Replica], Nginx, FakeOpperServer, dict[str, str]]]:
    people = {name: named_tokens.add(tmp_path / "tokens", name) for name in PEOPLE}
    with FakeOpperServer() as fake:
        env = server_env(fake.url, tmp_path / "cache", OPPER_MCP_TIMEOUT="5", OPPER_MCP_RETRIES="1")
        with cluster(env, tmp_path, 3, "--auth", "token", "--tokens-file", str(tmp_path / "tokens"), "--stateless",
                     "--store", store.store_url) as (replicas, nginx):
            yield replicas, nginx, fake, people


class Progress:
    """Counts finished calls; its events fire when the run reaches the points set for the faults."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.done = 0
        self.kill = anyio.Event()
        self.outage = anyio.Event()

    def tick(self) -> None:
        self.done += 1
        if self.done >= KILL_AT * self.total:
            self.kill.set()
        if self.done >= OUTAGE_AT * self.total:
            self.outage.set()


async def events(run: Run, replicas: list[Replica], store: Any, progress: Progress) -> None:
    """SIGKILL a replica, then stop and restart the store, at set points of the run."""
    await progress.kill.wait()
    run.kill_at = time.monotonic()
    await anyio.to_thread.run_sync(replicas[1].kill)
    await progress.outage.wait()
    run.down_at = time.monotonic()
    await anyio.to_thread.run_sync(store.stop)
    await anyio.sleep(OUTAGE_S)
    await anyio.to_thread.run_sync(store.start)
    run.up_at = time.monotonic()


@asynccontextmanager
async def connect(url: str, token: str, index: int) -> AsyncIterator[Client]:
    """A client of the agent `index`; every eighth one speaks 2025-11-25 (stateless replicas serve it too)."""
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"},
                                  timeout=httpx2.Timeout(30, read=60)) as http:
        mode = "legacy" if index % 8 == 0 else "auto"
        async with Client(streamable_http_client(url, http_client=http), mode=mode, read_timeout_seconds=30) as client:
            yield client


async def test_load_with_faults_replica_kill_and_store_restart(
    deployment: tuple[list[Replica], Nginx, FakeOpperServer, dict[str, str]], store: Any
) -> None:
    from opper_mcp.store import UnknownConversation, open_store

    replicas, nginx, fake, people = deployment
    run = Run()
    total = CLIENTS * CALLS_PER_CLIENT
    progress = Progress(total)
    fake.state.fault_rate(FAULT_RATE, seed=99)
    run.t0 = time.monotonic()
    async with anyio.create_task_group() as tg:
        tg.start_soon(events, run, replicas, store, progress)
        for index in range(CLIENTS):
            tg.start_soon(run_client, nginx.url, people[PEOPLE[index % len(PEOPLE)]], index, run, progress)
    took = time.monotonic() - run.t0
    fake.state.fault_rate(0)

    # Every turn a client was told was saved is in the store, in order (loaded from the store itself).
    lost: list[str] = []
    reader = open_store(store.store_url, Path("/nonexistent"))
    try:
        for (owner, conversation), prompts in run.saved.items():
            try:
                kept = [m.get("content") for m in await reader.load(conversation, owner) if m.get("role") == "user"]
            except UnknownConversation:
                lost.append(f"{conversation}: gone ({len(prompts)} turns)")
                continue
            positions = [kept.index(p) if p in kept else -1 for p in prompts]
            if -1 in positions or positions != sorted(positions):
                lost.append(f"{conversation}: saved {prompts}, store has {kept}")
    finally:
        await reader.aclose()

    faults = dict(sorted(fake.state.faults_injected.items()))
    turns = sum(len(p) for p in run.saved.values())
    print(
        f"\nreplicas load ({store.__class__.__name__}): {run.calls} calls in {took:.1f} s through nginx to 3 "
        f"replicas ({run.calls / took:.0f}/s); faults injected {faults} ({sum(faults.values())}); {run.ok} ok, "
        f"{run.upstream_errors} is_error from faults, {run.rejected} invalid rejected, {run.killed} cut by the "
        f"SIGKILL, {run.degraded} degraded during the store outage, {len(run.failures)} other errors, "
        f"{run.hangs} hangs; {turns} turns in {len(run.saved)} conversations saved, {len(lost)} lost; "
        f"errors seen by the calls cut by the SIGKILL: {dict(run.kill_errors)}; "
        f"kill at +{(run.kill_at or 0) - run.t0:.1f}s, store down +{(run.down_at or 0) - run.t0:.1f}s "
        f"to +{(run.up_at or 0) - run.t0:.1f}s, last store error {run.recovery:.1f}s and first turn saved "
        f"{run.first_saved if run.first_saved is None else round(run.first_saved, 2)}s after the restart"
    )
    logs = "".join(p.read_text(errors="replace")[-1500:] for p in store.root.glob("*.log"))
    assert run.failures == [], f"{len(run.failures)} bad calls:\n" + "\n".join(run.failures[:15]) + "\n" + logs
    assert run.hangs == 0 and lost == [], lost[:10]
    assert run.calls == total
    upstream = len(fake.state.requests_to("/v3/"))
    assert sum(faults.values()) > 0.05 * upstream and run.upstream_errors > 0, (faults, upstream)
    assert run.degraded > 0, "the store outage never showed"
    assert replicas[1].proc is not None and replicas[1].proc.poll() is not None
    assert all(r.proc is not None and r.proc.poll() is None for r in (replicas[0], replicas[2]))
    assert turns > CLIENTS, "too few turns saved to mean anything"
    assert took < 90, f"the run took {took:.0f} s"
