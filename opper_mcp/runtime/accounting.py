"""The ops hooks at call time (spend limits, metrics, audit; see `opper_mcp.ops`).

The guard opens a record for each tool call (`begin`) and closes it (`finish`: the budget's hold settled with
the reported cost, the call counted in the metrics, its audit line written); `presend` holds the estimate
against the caller's limit before anything is sent (`hold`). With nothing configured, `begin` returns None
and the rest is never reached.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

import anyio
from mcp.server.mcpserver.exceptions import ToolError

from opper_mcp.ops.ledger import CallRecord, current
from opper_mcp.runtime.state import ToolContext, app_state, caller
from opper_mcp.store.base import StoreUnavailable

if TYPE_CHECKING:
    from opper_mcp.context.budget import CostEstimate

log = logging.getLogger("opper_mcp.ops")

SETTLE_TIMEOUT_S = 5.0


def begin(ctx: ToolContext, tool: str) -> CallRecord | None:
    """A record for this call when any of the ops is on (None otherwise: one attribute read)."""
    try:
        if app_state(ctx).ops is None:
            return None
    except (AttributeError, LookupError, ValueError):  # no request context (a tool called outside a request)
        return None
    try:
        who = caller(ctx)
        label, owner = who.label, who.owner
    except Exception:  # e.g. pass-through without a bearer: the tool itself says so
        label = owner = "-"
    return CallRecord(tool=tool, caller=label, owner=owner)


def budgeted(ctx: ToolContext) -> bool:
    ops = app_state(ctx).ops
    return ops is not None and ops.budget is not None and current.get() is not None


async def hold(ctx: ToolContext, estimate: CostEstimate | None) -> None:
    """Admit the call under the caller's spend limit, holding its estimate; over it, a ToolError that says what
    was spent, the limit and when it resets (nothing has been sent)."""
    from opper_mcp.ops.budget import OverBudget

    ops, record = app_state(ctx).ops, current.get()
    if ops is None or ops.budget is None or record is None:
        return
    record.estimate_usd = estimate.cost_usd if estimate is not None else None
    if record.owner == "-":
        raise ToolError("spend limits are on but this call's caller is unknown; nothing was sent")
    try:
        record.reservation = await ops.budget.hold(record.caller, record.owner, record.estimate_usd)
    except OverBudget as exc:
        record.refused = True
        raise ToolError(str(exc)) from exc
    except StoreUnavailable as exc:
        raise ToolError(f"the spend limit cannot be checked: the store that counts spend is unavailable "
                        f"({str(exc).rstrip('. ')}); nothing was sent, retry") from exc


def spend_line() -> str | None:
    """The caller's spend today against its limit, for the result of a call that held a budget."""
    record = current.get()
    if record is None or record.reservation is None:
        return None
    from opper_mcp.ops.budget import spend_line as line

    return line(record.reservation, record.cost_usd)


async def finish(ctx: ToolContext, record: CallRecord, outcome: str) -> None:
    """Settle, count, write: never raises, and runs to its end even when the call was cancelled."""
    ops = app_state(ctx).ops
    if ops is None:
        return
    if record.refused:
        outcome = "refused"
    with anyio.CancelScope(shield=True):
        if ops.budget is not None and (record.reservation is not None or record.costs) and record.owner != "-":
            try:
                with anyio.fail_after(SETTLE_TIMEOUT_S):
                    await ops.budget.settle(record.owner, record.reservation, record.cost_usd,
                                            failed=outcome == "error")
            except (StoreUnavailable, TimeoutError) as exc:
                log.warning("spend of %s on %s not settled (%s): the day's count keeps the estimate",
                            record.caller, record.tool, exc)
    try:
        if ops.metrics is not None:
            ops.metrics.tool_call(record.tool, outcome, time.monotonic() - record.started)
            for model, cost in record.costs:
                ops.metrics.charged(record.caller, model, cost)
            if record.refused:
                ops.metrics.refused(record.caller)
        if ops.audit is not None:
            ops.audit.write(record, outcome)
    except Exception:  # counting must never fail a call
        log.exception("ops hooks failed for %s", record.tool)
