"""The one step before a tool sends context to models: gather → estimate every call → window and cost → dry run.

Chat, roundtable and review each call `prepare` once. It gathers `files`/`diff` (see `attach`), lets the
tool build what it will send from them, and, when the call attaches context, sets `max_cost_usd` or asks for
a dry run, checks every planned model call against the catalogue: media the model cannot take, the context
window, and the cost estimate. Nothing is sent when a check fails, and a dry run sends nothing at all.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ListRootsResult

from opper_mcp.context.budget import BudgetError, Call, CostEstimate, Prices, call_cost, check_cost, check_window
from opper_mcp.context.budget import estimate as estimate_cost
from opper_mcp.context.estimate import IMAGE_TOKENS, estimate_tokens
from opper_mcp.opper.errors import OpperError
from opper_mcp.opper.schemas import ModelInfo
from opper_mcp.ops import ledger
from opper_mcp.runtime import accounting, attach
from opper_mcp.runtime.attach import Collected, Reports
from opper_mcp.runtime.state import ToolContext, app_state, opper_for

log = logging.getLogger("opper_mcp.tools")

T = TypeVar("T")
R = TypeVar("R", bound=Reports)

NEEDS = {"image": "vision", "pdf": "pdf"}  # a part's kind -> the catalogue capability a model needs for it


@dataclass(frozen=True)
class Ask:
    """One model call the tool plans: its whole input (attached context included) and its answer cap."""

    model: str
    input_tokens: int
    max_tokens: int | None = None


@dataclass(frozen=True)
class Summary:
    """A last call that reads every answer (roundtable's summary), priced at `model`'s rate; without a model,
    Opper picks the summariser and it is priced as the priciest ask, so the estimate errs high."""

    model: str
    prompt_tokens: int


@dataclass
class Plan(Generic[T]):
    """What the tool will send (`payload`) and the model calls that send it."""

    payload: T
    asks: list[Ask]
    summary: Summary | None = None


@dataclass
class Prepared(Generic[T]):
    payload: T
    collected: Collected | None = None
    estimate: CostEstimate | None = None
    dry_run: bool = False

    def report(self, result: R) -> R:
        """`result` with what was attached and skipped, the estimates and the caller's spend filled in."""
        attach.report(result, self.collected, self.estimate)
        result.spend = accounting.spend_line()
        return result


async def prepare(
    ctx: ToolContext,
    files: list[str] | None,
    diff: str,
    roots: ListRootsResult | list[str] | None,
    build: Callable[[Collected | None], Plan[T]],
    *,
    max_cost_usd: float | None,
    dry_run: bool,
) -> Prepared[T]:
    """Gather the context, `build` the request from it, and check every planned call before anything is sent.

    The catalogue is read only when the call attaches context, sets `max_cost_usd`, is a dry run or counts
    against a spend limit; then the estimate is held against the caller's limit (see `ops.budget`).
    """
    collected = await attach.read_context(ctx, files, diff, roots)
    plan = build(collected)
    ledger.asked(*(ask.model for ask in plan.asks))
    prepared = Prepared(plan.payload, collected, dry_run=dry_run)
    budgeted = accounting.budgeted(ctx)
    if collected is None and max_cost_usd is None and not dry_run and not budgeted:
        return prepared
    models = await catalog(ctx)
    calls: list[Call] = []
    for ask in plan.asks:
        info = find_model(models, ask.model)
        check_media(collected, ask.model, models)
        check_budget(collected, ask.model, info, ask.input_tokens, ask.max_tokens)
        calls.append(Call(ask.model, ask.input_tokens, ask.max_tokens, prices(info)))
    if plan.summary is not None and calls:
        answers = sum(c.output_tokens for c in calls)
        if plan.summary.model:
            name, price = plan.summary.model, prices(find_model(models, plan.summary.model))
        else:
            priciest = max(calls, key=lambda c: call_cost(c) or 0.0)
            name, price = f"summary ({priciest.model} rate)", priciest.prices
        calls.append(Call(name, plan.summary.prompt_tokens + answers, None, price))
    prepared.estimate = cost_guard(calls, max_cost_usd, models)
    if budgeted and not dry_run:
        await accounting.hold(ctx, prepared.estimate)
    return prepared


# ---- estimates ---------------------------------------------------------------------------------


def text_tokens(*texts: str) -> int:
    return sum(estimate_tokens(t) for t in texts)


def message_tokens(messages: list[dict[str, Any]]) -> int:
    """Estimated input tokens of chat messages: text by the heuristic; an image or PDF part from an earlier
    turn at the flat image rate (its base64 size says little about its token cost)."""
    total = 0
    for m in messages:
        content = m.get("content")
        if isinstance(content, str):
            total += estimate_tokens(content)
        elif isinstance(content, list):
            for part in content:
                text = part.get("text") if isinstance(part, dict) else None
                total += estimate_tokens(text) if isinstance(text, str) else IMAGE_TOKENS
        elif content is not None:
            total += estimate_tokens(json.dumps(content))
    return total


# ---- the catalogue: capabilities, window, prices ------------------------------------------------


async def catalog(ctx: ToolContext) -> list[ModelInfo] | None:
    """The cached catalogue, or None when it cannot be had (estimates then say so, max_cost_usd refuses)."""
    try:
        return await app_state(ctx).catalog.models(opper_for(ctx))
    except OpperError as exc:
        log.warning("model catalogue unavailable for context checks: %s", exc)
        return None


def find_model(models: list[ModelInfo] | None, name: str) -> ModelInfo | None:
    """The catalogue row for an id, alias or pool name (ids first)."""
    for m in models or []:
        if m.id == name:
            return m
    for m in models or []:
        if name in m.aliases or m.model == name:
            return m
    return None


def prices(info: ModelInfo | None) -> Prices | None:
    p = info.pricing if info is not None else None
    if p is None or not p.input or not p.output:
        return None
    return Prices(input=p.input, output=p.output, thresholds=p.thresholds)


def check_media(collected: Collected | None, model: str, models: list[ModelInfo] | None) -> None:
    """Images need a `vision` model and PDFs a `pdf` one; otherwise name a few models that take them."""
    if collected is None:
        return
    info = find_model(models, model)
    for kind, capability in NEEDS.items():
        if kind not in collected.kinds or info is None or capability in info.capabilities:
            continue
        able = [m.id for m in models or [] if capability in m.capabilities and not m.retired_at][:4]
        hint = f"models that do: {', '.join(able)}" if able else "find one with list_models capability=" + capability
        raise ToolError(f"{model} does not take {kind}s (no {capability!r} capability); leave the {kind} files "
                        f"out, or choose a model that takes them — {hint}")


def check_budget(
    collected: Collected | None, model: str, info: ModelInfo | None, input_tokens: int, max_tokens: int | None
) -> None:
    """Only attached context is held to the window here; a plain prompt is the caller's own business."""
    if collected is None:
        return
    try:
        check_window(model=model, window=info.context_window if info is not None else None,
                     input_tokens=input_tokens, answer_tokens=max_tokens, items=attach.labels(collected))
    except BudgetError as exc:
        raise ToolError(str(exc)) from exc


def cost_guard(calls: list[Call], max_cost_usd: float | None, models: list[ModelInfo] | None) -> CostEstimate:
    """The estimate for these calls; over `max_cost_usd` (or unknown while it is set) → ToolError."""
    est = estimate_cost(calls)
    if models is None:
        est.unpriced_reason = "the model catalogue could not be read"
        if max_cost_usd is not None:
            raise ToolError("max_cost_usd needs catalogue prices, but the model catalogue could not be read; "
                            "nothing was sent. Retry, or drop max_cost_usd")
    try:
        check_cost(est, max_cost_usd)
    except BudgetError as exc:
        raise ToolError(str(exc)) from exc
    return est
