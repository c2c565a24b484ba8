"""get_usage: what Opper calls cost over time (`GET /v2/analytics/usage`), summary line first."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal

from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult
from pydantic import BaseModel, Field

from opper_mcp.opper.errors import OpperAPIError, with_service_hints
from opper_mcp.opper.schemas import UsageRow, list_items
from opper_mcp.runtime.args import CommaList
from opper_mcp.runtime.result import respond
from opper_mcp.runtime.state import ToolContext, opper_for

USAGE_PATH = "/v2/analytics/usage"
DEFAULT_DAYS = 7
TOP_GROUPS = 10
NO_ACCESS = (
    "this API key cannot read usage analytics (restricted key or role): use a key with analytics access, "
    "or see spend at https://platform.opper.ai (Usage)"
)
DATE_HELP = "use YYYY-MM-DD or an RFC 3339 time such as 2026-12-01T09:00:00Z"


class GroupTotal(BaseModel):
    group: str
    cost_usd: float
    calls: int


class UsageBucket(BaseModel):
    time_bucket: str | None = None
    group: str | None = None
    cost_usd: float | None = None
    calls: int | None = None
    extra: dict[str, Any] | None = None  # other fields Opper returned for the row


class UsageView(BaseModel):
    summary: str
    from_date: str
    to_date: str  # inclusive
    total_cost_usd: float
    total_calls: int
    top: list[GroupTotal] | None = None  # costliest groups first
    rows: list[UsageBucket]
    hint: str | None = None


Moment = date | datetime


def parse_moment(value: str, name: str) -> Moment:
    text = value.strip()
    moment: Moment
    try:
        if len(text) == 10:
            moment = date.fromisoformat(text)
        else:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ToolError(f"{name} {value[:40]!r} is not a date: {DATE_HELP}") from None
    if not 1970 <= moment.year <= 2200:
        raise ToolError(f"{name} {value[:40]!r} is out of range: usage is recorded from 1970 to 2200")
    if isinstance(moment, datetime) and moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment


def _start(moment: Moment) -> datetime:
    if isinstance(moment, datetime):
        return moment
    return datetime(moment.year, moment.month, moment.day, tzinfo=UTC)


def _end_exclusive(moment: Moment) -> datetime:
    """The API's to_date is exclusive; a date given here means through the end of that day."""
    return moment if isinstance(moment, datetime) else _start(moment) + timedelta(days=1)


def _label(moment: Moment) -> str:
    return _rfc3339(moment) if isinstance(moment, datetime) else moment.isoformat()


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def date_range(from_date: str | None, to_date: str | None, today: date) -> tuple[Moment, Moment]:
    """The range asked for; by default the last 7 days, today included."""
    end: Moment = parse_moment(to_date, "to_date") if to_date else today
    start: Moment = parse_moment(from_date, "from_date") if from_date else _start(end).date() - timedelta(
        days=DEFAULT_DAYS - 1
    )
    if _start(start) >= _end_exclusive(end):
        raise ToolError(
            f"from_date {_label(start)} is after to_date {_label(end)}: swap them "
            "(both ends are inclusive; one day is from_date = to_date)"
        )
    return start, end


def money(value: float) -> str:
    return f"${value:,.2f}" if value >= 0.01 or value == 0 else f"${value:.4f}"


def summarise(rows: list[UsageRow], group_by: list[str]) -> tuple[float, int, list[GroupTotal], list[UsageBucket]]:
    totals: dict[str, list[float]] = {}
    buckets: list[UsageBucket] = []
    cost_sum, calls_sum = 0.0, 0
    known = {"time_bucket", "cost", "count", *group_by}
    for row in rows:
        extra = row.model_extra or {}
        group = "/".join(str(extra.get(g) if extra.get(g) not in (None, "") else "(none)") for g in group_by) or None
        cost = float(row.cost) if row.cost is not None else None
        calls = round(row.count) if row.count is not None else None
        cost_sum += cost or 0.0
        calls_sum += calls or 0
        if group is not None:
            acc = totals.setdefault(group, [0.0, 0])
            acc[0] += cost or 0.0
            acc[1] += calls or 0
        others = {k: v for k, v in extra.items() if k not in known}
        buckets.append(UsageBucket(time_bucket=row.time_bucket, group=group, cost_usd=cost, calls=calls,
                                   extra=others or None))
    top = sorted(
        (GroupTotal(group=g, cost_usd=round(c, 6), calls=int(n)) for g, (c, n) in totals.items()),
        key=lambda t: (-t.cost_usd, -t.calls, t.group),
    )
    return cost_sum, calls_sum, top[:TOP_GROUPS], buckets


async def get_usage(
    ctx: ToolContext,
    from_date: Annotated[str | None, Field(description="YYYY-MM-DD; default 7 days ago")] = None,
    to_date: Annotated[str | None, Field(description="Inclusive; default today")] = None,
    granularity: Literal["hour", "day", "month"] | None = None,
    group_by: Annotated[list[str] | None, CommaList, Field(description="Tags; default [model]")] = None,
) -> Annotated[CallToolResult, UsageView]:
    """Opper spend and call counts over time."""
    start, end = date_range(from_date, to_date, datetime.now(UTC).date())
    groups = ["model"] if group_by is None else [g.strip() for g in group_by if g.strip()]
    params: dict[str, Any] = {
        "from_date": _rfc3339(_start(start)),
        "to_date": _rfc3339(_end_exclusive(end)),
        "granularity": granularity or "day",
    }
    if groups:
        params["group_by"] = groups
    try:
        response = await opper_for(ctx).request("GET", USAGE_PATH, params=params)
    except OpperAPIError as exc:
        raise with_service_hints(exc, forbidden=NO_ACCESS, service="analytics") from None
    rows = [UsageRow.model_validate(r) for r in list_items(response.data) if isinstance(r, dict)]
    cost, calls, top, buckets = summarise(rows, groups)
    span = f"{_label(start)}…{_label(end)}"
    summary = f"{money(cost)} over {calls:,} call{'' if calls == 1 else 's'}, {span}"
    if top and calls:
        summary += f", most on {top[0].group}"
    view = UsageView(
        summary=summary,
        from_date=_label(start),
        to_date=_label(end),
        total_cost_usd=round(cost, 6),
        total_calls=calls,
        top=top or None,
        rows=buckets,
        hint=None if rows else "no usage recorded in this range",
    )
    return respond(view, shrinker(view))


def shrinker(view: UsageView) -> Callable[[], bool]:
    """Over the output budget: keep the newest rows (totals and top groups already cover the rest)."""
    total = len(view.rows)

    def shrink() -> bool:
        if len(view.rows) <= 1:
            return False
        view.rows = view.rows[len(view.rows) // 5 or 1 :]
        view.hint = (f"showing the last {len(view.rows)} of {total} rows to fit the output budget; "
                     "use a coarser granularity or a shorter range for all of them")
        return True

    return shrink
