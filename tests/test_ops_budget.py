"""Spend limits per caller, in process (SQLite, the default store): the hold before sending, the refusal, the
count from actual costs, the day's reset (an injected clock), calls racing at the limit, failures.

Named callers behind nginx on Redis and PostgreSQL are in test_ops_cluster.py.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from opper_mcp.ops.budget import NANO, Limits, nano, parse_limits, window_at
from opper_mcp.server import build_server, build_state
from opper_mcp.settings import Settings
from tests.fake_opper import FakeOpperServer
from tests.support import data_of, error_text, make_settings
from tests.transport_support import CHAT_MODEL, free_port

pytestmark = pytest.mark.anyio

CHAT_PATH = "/v3/compat/chat/completions"
DAY = 86_400


@asynccontextmanager
async def serving(settings: Settings, clock: Any = None) -> AsyncIterator[tuple[Client, Any]]:
    state = build_state(settings)
    assert state.ops is not None and state.ops.budget is not None
    if clock is not None:
        state.ops.budget.clock = clock
    async with Client(build_server(settings, state), raise_exceptions=True) as client:  # type: ignore[arg-type]
        yield client, state


def owner_of(state: Any) -> str:
    return str(state.opper.key_fingerprint)


async def spent(state: Any, now: float | None = None) -> int:
    window = window_at(now if now is not None else state.ops.budget.clock())
    return int(await state.conversations.spent(owner_of(state), window.id))


def chat(prompt: str = "hello budget", **more: Any) -> dict[str, Any]:
    return {"model": CHAT_MODEL, "prompt": prompt, **more}


# ---- pure parts ----------------------------------------------------------------------------------


def test_limits_file_lines() -> None:
    table = parse_limits("# team\nalice 25\nbob=2.5  # intern\ncarol: $0.75\nci-bot none\n\nbad line here\nneg -1\n")
    assert table == {"alice": 25.0, "bob": 2.5, "carol": 0.75, "ci-bot": None}


def test_limits_file_is_reread_and_names_win(tmp_path: Path) -> None:
    path = tmp_path / "budgets"
    path.write_text("alice 3\n")
    limits = Limits(10.0, path)
    assert limits.for_caller("alice", "name:alice") == 3.0
    assert limits.for_caller("bob", "name:bob") == 10.0  # the default
    path.write_text("alice none\nbob 1.5\n")
    assert limits.for_caller("alice", "name:alice") is None and limits.for_caller("bob", "name:bob") == 1.5
    path.unlink()  # a vanished file keeps the limits last read: nobody's limit is lifted
    assert limits.for_caller("bob", "name:bob") == 1.5


def test_window_is_the_utc_day() -> None:
    t = datetime(2026, 12, 7, 23, 59, 59, tzinfo=UTC).timestamp()
    assert window_at(t).id == "2026-12-07" and window_at(t + 1).id == "2026-12-08"
    assert window_at(t).resets == "2026-12-08 00:00 UTC"
    assert nano(0.1) == NANO // 10 and nano(1e-9) == 1


# ---- through the tools --------------------------------------------------------------------------


async def test_refusal_says_spent_limit_and_reset_and_sends_nothing(
    fake_opper: FakeOpperServer, tmp_path: Path
) -> None:
    noon = datetime(2026, 12, 7, 12, 0, tzinfo=UTC).timestamp()
    settings = make_settings(fake_opper.url, tmp_path / "cache", budget_usd_per_day=0.01)
    async with serving(settings, clock=lambda: noon) as (client, state):
        # Without max_tokens the estimate assumes a 4,096-token answer: $0.0205 at haiku's $5/Mtok, over $0.01.
        message = error_text(await client.call_tool("chat", chat()))
        assert fake_opper.state.request_count(CHAT_PATH) == 0
        assert re.search(r"daily spend limit reached for [0-9a-f]{16}: \$0 spent of \$0\.01 today; this call's "
                         r"estimate \$0\.0204\d* would pass it \(\$0\.01 left\)\. Nothing was sent\. The limit "
                         r"resets at 2026-12-08 00:00 UTC \(in 12 h 0 min\)", message), message
        assert "max_tokens" in message and "--budget-file" in message
        # a smaller answer cap fits: it is admitted, and the day's count is what Opper reported
        done = data_of(await client.call_tool("chat", chat(max_tokens=500)))
        assert done["cost_usd"] > 0 and done["est_cost_usd"] >= done["cost_usd"]
        assert await spent(state) == nano(done["cost_usd"])
        assert done["spend"] == f"${done['cost_usd']:.8f}".rstrip("0") + " of $0.01 spent today; resets " \
            "2026-12-08 00:00 UTC"


async def test_count_reaches_the_limit_then_refuses(fake_opper: FakeOpperServer, tmp_path: Path) -> None:
    settings = make_settings(fake_opper.url, tmp_path / "cache", budget_usd_per_day=0.0006)
    async with serving(settings) as (client, state):
        costs = []
        while True:
            result = await client.call_tool("chat", chat(max_tokens=20))
            if result.is_error:
                break
            costs.append(data_of(result)["cost_usd"])
            assert len(costs) < 50
        message = error_text(result)
        total = round(sum(costs), 10)
        assert await spent(state) == sum(nano(c) for c in costs) <= nano(0.0006)
        assert f"${total:.8f}".rstrip("0") + " spent of $0.0006 today" in message
        assert len(costs) >= 3
        assert fake_opper.state.request_count(CHAT_PATH) == len(costs)


async def test_the_day_resets_at_utc_midnight(fake_opper: FakeOpperServer, tmp_path: Path) -> None:
    now = [datetime(2026, 12, 7, 23, 59, 58, tzinfo=UTC).timestamp()]
    settings = make_settings(fake_opper.url, tmp_path / "cache", budget_usd_per_day=0.0003)
    async with serving(settings, clock=lambda: now[0]) as (client, state):
        while not (result := await client.call_tool("chat", chat(max_tokens=20))).is_error:
            pass
        assert "resets at 2026-12-08 00:00 UTC (in 2 s)" in error_text(result)
        before = await spent(state)
        now[0] += 2  # 00:00:00 UTC: a new day, a new count
        data_of(await client.call_tool("chat", chat(max_tokens=20)))
        assert 0 < await spent(state) < before
        assert await spent(state, now[0] - 1) == before  # yesterday's count is kept, untouched


async def test_a_failed_call_gives_its_hold_back(fake_opper: FakeOpperServer, tmp_path: Path) -> None:
    settings = make_settings(fake_opper.url, tmp_path / "cache", budget_usd_per_day=1.0)
    async with serving(settings) as (client, state):
        fake_opper.state.fail(CHAT_PATH, status=400, times=1)
        error_text(await client.call_tool("chat", chat()))
        assert await spent(state) == 0
        assert fake_opper.state.request_count(CHAT_PATH) == 1


async def test_dry_runs_hold_nothing_and_other_tools_are_not_limited(
    fake_opper: FakeOpperServer, tmp_path: Path
) -> None:
    settings = make_settings(fake_opper.url, tmp_path / "cache", budget_usd_per_day=0.0)
    async with serving(settings) as (client, state):
        assert "daily spend limit reached" in error_text(await client.call_tool("chat", chat(max_tokens=5)))
        assert data_of(await client.call_tool("chat", chat(dry_run=True)))["est_cost_usd"] > 0
        assert data_of(await client.call_tool("list_models", {"query": "haiku"}))["models"]
        assert await spent(state) == 0


async def test_roundtable_and_review_are_held_and_counted(fake_opper: FakeOpperServer, tmp_path: Path) -> None:
    settings = make_settings(fake_opper.url, tmp_path / "cache", budget_usd_per_day=5.0)
    async with serving(settings) as (client, state):
        panel = data_of(await client.call_tool("roundtable", {"input": "tabs or spaces?",
                                                              "models": [CHAT_MODEL, "openai/gpt-5-mini"]}))
        assert panel["total_cost_usd"] > 0 and panel["spend"].endswith("of $5 spent today; resets " +
                                                                       window_at(state.ops.budget.clock()).resets)
        assert await spent(state) == nano(panel["total_cost_usd"])
    settings = make_settings(fake_opper.url, tmp_path / "cache2", budget_usd_per_day=0.001)
    async with serving(settings) as (client, state):
        refused = error_text(await client.call_tool("roundtable", {"input": "tabs or spaces?",
                                                                   "models": [CHAT_MODEL, "openai/gpt-5"]}))
        assert "daily spend limit reached" in refused and await spent(state) == 0


async def test_store_down_refuses_with_a_clear_error(fake_opper: FakeOpperServer, tmp_path: Path) -> None:
    url = f"redis://:pw-planted-9f2@127.0.0.1:{free_port()}/0"  # nothing listens there
    settings = make_settings(fake_opper.url, tmp_path / "cache", budget_usd_per_day=1.0, store=url)
    async with serving(settings) as (client, _):
        message = error_text(await client.call_tool("chat", chat(max_tokens=10)))
    assert "the spend limit cannot be checked: the store that counts spend is unavailable (redis://:***@" in message
    assert "nothing was sent, retry" in message and "pw-planted-9f2" not in message
    assert fake_opper.state.request_count(CHAT_PATH) == 0


@pytest.fixture(params=["sqlite", "redis", "postgres"])
def two_replicas(
    request: pytest.FixtureRequest, fake_opper: FakeOpperServer, tmp_path: Path
) -> Iterator[list[Settings]]:
    """Two servers' settings on one store (a SQLite file, or a real Redis or PostgreSQL)."""
    name = str(request.param)
    store = f"sqlite://{tmp_path / 'shared.sqlite3'}" if name == "sqlite" else request.getfixturevalue(f"{name}_url")
    yield [make_settings(fake_opper.url, tmp_path / f"cache{n}", budget_usd_per_day=0.05, store=store)
           for n in range(2)]


async def test_calls_racing_at_the_limit_never_pass_it(
    two_replicas: list[Settings], fake_opper: FakeOpperServer
) -> None:
    """40 chats at once through two servers sharing one count: each is admitted against the count including
    every other call's hold, so the total stays within the limit (the emulator's answers cost less than their
    estimates: the documented bound, limit + what admitted calls cost beyond their estimates, is the limit)."""
    fake_opper.state.chunk_delay = 0.01  # calls overlap: holds are taken while others are in flight
    async with AsyncExitStack() as stack:
        pairs = [await stack.enter_async_context(serving(s)) for s in two_replicas]
        outcomes: list[str] = []
        est = data_of(await pairs[0][0].call_tool("chat", chat("race 0", max_tokens=2_000, dry_run=True)))
        fits = int(0.05 // est["est_cost_usd"])  # holds that fit side by side: 4 at ~$0.01 each

        async def one(n: int) -> None:
            client = pairs[n % 2][0]
            result = await client.call_tool("chat", chat(f"race {n}", max_tokens=2_000))  # est ~$0.01
            outcomes.append("refused" if result.is_error and "spend limit" in error_text(result) else
                            "ok" if not result.is_error else error_text(result))

        async with anyio.create_task_group() as tg:
            for n in range(40):
                tg.start_soon(one, n)
        total = await spent(pairs[0][1])
    admitted = outcomes.count("ok")
    assert outcomes.count("refused") + admitted == 40, outcomes
    assert fits <= admitted < 40 and total <= nano(0.05), (fits, admitted, total)
    assert fake_opper.state.request_count(CHAT_PATH) == admitted


async def test_a_cancelled_call_keeps_its_hold(fake_opper: FakeOpperServer, tmp_path: Path) -> None:
    """Opper may have billed a call cancelled mid-answer and reports no cost for it: its estimate counts."""
    from tests.support import cancel_mid_stream

    fake_opper.state.chunk_delay = 0.05
    settings = make_settings(fake_opper.url, tmp_path / "cache", budget_usd_per_day=1.0)
    async with serving(settings) as (client, state):
        args = chat("a long answer please " * 30, max_tokens=1_000)
        est = data_of(await client.call_tool("chat", {**args, "dry_run": True}))["est_cost_usd"]
        await cancel_mid_stream(client, fake_opper, "chat", args, chunks=2)
        with anyio.fail_after(5):
            while await spent(state) == 0:  # noqa: ASYNC110 (a store, not an event, says when the call ended)
                await anyio.sleep(0.02)
        assert await spent(state) == nano(est)
