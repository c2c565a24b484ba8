"""get_usage through an in-memory MCP client against the emulator's /v2/analytics/usage."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from opper_mcp.opper.schemas import UsageRow
from opper_mcp.tools.usage import date_range, money, summarise
from tests.fake_opper import FakeOpperServer
from tests.fake_opper.v2 import V2State
from tests.support import connect, data_of, error_text, make_settings

pytestmark = pytest.mark.anyio

# The emulator's fixed daily pattern (tests/fake_opper/v2.py seed_usage): 6 calls a day.
DAY_COST = 0.012 + 0.008 + 0.03 + 0.01 + 0.002 + 0.015
MINI_DAY_COST = 0.012 + 0.008 + 0.01 + 0.015


def v2(fake: FakeOpperServer) -> V2State:
    state: V2State = fake.state.v2  # type: ignore[attr-defined]
    return state


async def ok(client: Client, **args: Any) -> Any:
    return data_of(await client.call_tool("get_usage", args))


async def err(client: Client, **args: Any) -> str:
    return error_text(await client.call_tool("get_usage", args))


def today() -> date:
    return datetime.now(UTC).date()


async def test_default_is_the_last_seven_days(client: Client, fake_opper: FakeOpperServer) -> None:
    data = await ok(client)
    start, end = today() - timedelta(days=6), today()
    assert (data["from_date"], data["to_date"]) == (start.isoformat(), end.isoformat())
    sent = fake_opper.state.last_request("/v2/analytics/usage").query
    assert sent["from_date"] == f"{start}T00:00:00Z" and sent["to_date"] == f"{end + timedelta(days=1)}T00:00:00Z"
    assert sent["granularity"] == "day" and sent["group_by"] == "model"
    assert data["total_calls"] == 7 * 6  # the emulator seeds six calls a day, today's included
    assert data["total_cost_usd"] == pytest.approx(7 * DAY_COST)
    assert data["summary"] == f"$0.54 over 42 calls, {start}…{end}, most on openai/gpt-5-mini"
    assert data["top"][0]["group"] == "openai/gpt-5-mini"
    assert [t["cost_usd"] for t in data["top"]] == sorted((t["cost_usd"] for t in data["top"]), reverse=True)


async def test_explicit_range_with_numbers_as_strings(client: Client) -> None:
    end = today() - timedelta(days=2)
    start = end - timedelta(days=2)
    data = await ok(client, from_date=start.isoformat(), to_date=end.isoformat())
    assert data["total_calls"] == 18
    assert data["total_cost_usd"] == pytest.approx(3 * DAY_COST)
    assert data["summary"].startswith(f"$0.23 over 18 calls, {start}…{end}, most on openai/gpt-5-mini")
    mini = next(t for t in data["top"] if t["group"] == "openai/gpt-5-mini")
    assert mini == {"group": "openai/gpt-5-mini", "cost_usd": pytest.approx(3 * MINI_DAY_COST), "calls": 12}
    row = data["rows"][0]
    assert isinstance(row["cost_usd"], float) and isinstance(row["calls"], int)  # the emulator sent strings
    assert row["extra"] == {"total_tokens": row["calls"] * 1200}


async def test_group_by_name_and_hourly(client: Client, fake_opper: FakeOpperServer) -> None:
    day = (today() - timedelta(days=3)).isoformat()
    data = await ok(client, from_date=day, to_date=day, granularity="hour", group_by="name")
    assert fake_opper.state.last_request("/v2/analytics/usage").query["group_by"] == "name"
    assert {t["group"] for t in data["top"]} == {"chat", "review", "summarise"}
    assert data["summary"].endswith("most on chat")
    assert [t["group"] for t in data["top"]] == ["chat", "review", "summarise"]
    assert len(data["rows"]) == 6 and all(r["time_bucket"].startswith(day) for r in data["rows"])


async def test_rfc3339_times_and_no_grouping(client: Client) -> None:
    day = today() - timedelta(days=4)
    data = await ok(client, from_date=f"{day}T00:00:00Z", to_date=f"{day}T06:00:00Z", group_by=[])
    assert data["total_calls"] == 2 and "top" not in data and "most on" not in data["summary"]
    assert data["to_date"] == f"{day}T06:00:00Z"


async def test_empty_range(client: Client) -> None:
    data = await ok(client, from_date="2020-01-01", to_date="2020-01-31")
    assert data["summary"] == "$0.00 over 0 calls, 2020-01-01…2020-01-31"
    assert data["rows"] == [] and data["hint"] == "no usage recorded in this range"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ({"from_date": "2026-12-05", "to_date": "2026-12-01"}, "from_date 2026-12-05 is after to_date 2026-12-01"),
        ({"from_date": "2026-13-01"}, "from_date '2026-13-01' is not a date"),
        ({"to_date": "last tuesday"}, "to_date 'last tuesday' is not a date"),
        ({"from_date": "01/12/2026"}, "YYYY-MM-DD"),
        ({"to_date": "9999-12-31"}, "to_date '9999-12-31' is out of range"),
    ],
)
async def test_bad_dates(client: Client, fake_opper: FakeOpperServer, args: dict[str, str], expected: str) -> None:
    text = await err(client, **args)
    assert expected in text
    assert fake_opper.state.requests_to("/v2/analytics/usage") == []


async def test_bad_granularity_is_a_validation_error(client: Client) -> None:
    assert "granularity" in await err(client, granularity="week")


async def test_upstream_rejects_a_tag(client: Client) -> None:
    text = await err(client, group_by="colour")
    assert "HTTP 422" in text and "colour" in text


async def test_key_without_analytics_access(fake_opper: FakeOpperServer, tmp_path: Path, mode: str) -> None:
    key = "op-no-analytics-7788"
    fake_opper.state.api_keys.add(key)
    v2(fake_opper).no_access_keys.add(key)
    async with connect(make_settings(fake_opper.url, tmp_path / "c", api_key=key), mode) as c:
        text = await err(c)
    assert "HTTP 403" in text and "cannot read usage analytics" in text and key not in text


async def test_upstream_5xx(client: Client, fake_opper: FakeOpperServer) -> None:
    fake_opper.state.fail("/v2/analytics", 500, times=None)
    text = await err(client)
    assert "HTTP 500" in text and "retry in a moment" in text


async def test_transient_502_is_retried(client: Client, fake_opper: FakeOpperServer) -> None:
    fake_opper.state.fail("/v2/analytics", 502, times=1)
    assert (await ok(client))["total_calls"] > 0
    assert len(fake_opper.state.requests_to("/v2/analytics/usage")) == 2


# =========================================================================== pure parts


def test_date_range_defaults_and_order() -> None:
    assert date_range(None, None, date(2026, 12, 1)) == (date(2026, 11, 25), date(2026, 12, 1))
    assert date_range("2026-11-01", None, date(2026, 12, 1)) == (date(2026, 11, 1), date(2026, 12, 1))
    assert date_range(None, "2026-11-10", date(2026, 12, 1)) == (date(2026, 11, 4), date(2026, 11, 10))
    assert date_range("2026-11-10", "2026-11-10", date(2026, 12, 1))[0] == date(2026, 11, 10)


def test_summarise_tolerates_odd_rows() -> None:
    rows = [UsageRow.model_validate(r) for r in (
        {"time_bucket": "t1", "cost": "1.5", "count": "3", "model": "a"},
        {"time_bucket": "t2", "cost": "", "count": None, "model": "b"},
        {"time_bucket": "t3", "cost": "n/a", "count": "2.0"},
        {"cost": 0.25, "count": 1, "model": "a"},
    )]
    cost, calls, top, buckets = summarise(rows, ["model"])
    assert (cost, calls) == (1.75, 6)
    assert [(t.group, t.cost_usd, t.calls) for t in top] == [("a", 1.75, 4), ("(none)", 0.0, 2), ("b", 0.0, 0)]
    assert buckets[1].cost_usd is None and buckets[2].calls == 2


def test_money() -> None:
    assert (money(3.4149), money(0.004), money(0), money(1234.5)) == ("$3.41", "$0.0040", "$0.00", "$1,234.50")


async def test_rows_are_cut_to_the_output_budget(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    from opper_mcp.runtime import result

    monkeypatch.setattr(result, "OUTPUT_BUDGET_CHARS", 6_000)
    start = (today() - timedelta(days=20)).isoformat()
    data = await ok(client, from_date=start, granularity="hour")
    assert data["total_calls"] == 21 * 6  # totals always cover the whole range
    assert len(data["rows"]) < 21 * 6 and "to fit the output budget" in data["hint"]
    assert data["rows"][-1]["time_bucket"].startswith(today().isoformat())  # the newest rows are kept


async def test_arguments_too_long_for_a_url(client: Client, fake_opper: FakeOpperServer) -> None:
    """A query string past the URL length limit is a clear error before anything is sent, not an internal one."""
    before = len(fake_opper.state.requests)
    text = error_text(await client.call_tool("get_usage", {"group_by": ["t" * 70_000]}))
    assert "could not be made" in text and "shorten the arguments" in text and "internal error" not in text, text
    assert len(fake_opper.state.requests) == before
