"""Token and cost budgets, checked before anything is sent upstream.

Pure arithmetic over catalogue facts (context window, per-token prices) and token estimates.
Estimates, not measurements: input tokens come from the context package's heuristic, and the
answer is bounded by `max_tokens` when the caller gives it, else assumed to be at most
`DEFAULT_ANSWER_TOKENS`: enough for a review or an opinion, and the room kept free in the
window. A model without prices gets no estimate (None, with a note), never a guessed zero.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

DEFAULT_ANSWER_TOKENS = 4_096
LARGEST_SHOWN = 5


class BudgetError(ValueError):
    """Over a budget: the message says what was attached, the numbers, and how to narrow it."""


@dataclass(frozen=True)
class Prices:
    """Catalogue prices in USD per token; tiered lists align with `thresholds` (context sizes)."""

    input: Sequence[float]
    output: Sequence[float]
    thresholds: Sequence[int] = ()


@dataclass(frozen=True)
class Call:
    """One upstream model call as the estimate sees it."""

    model: str
    input_tokens: int
    max_output_tokens: int | None = None
    prices: Prices | None = None

    @property
    def output_tokens(self) -> int:
        return self.max_output_tokens or DEFAULT_ANSWER_TOKENS


@dataclass
class CostEstimate:
    cost_usd: float | None
    input_tokens: int
    output_tokens: int
    unpriced: list[str] = field(default_factory=list)
    unpriced_reason: str = ""

    @property
    def note(self) -> str | None:
        if not self.unpriced:
            return None
        why = self.unpriced_reason or f"the catalogue has no prices for {', '.join(sorted(set(self.unpriced)))}"
        return f"no cost estimate: {why}"


def usd(amount: float) -> str:
    """`$0.104`, `$0.000001`: enough digits for tiny amounts, no trailing zeros."""
    return "$" + f"{amount:.8f}".rstrip("0").rstrip(".")


def tier(prices: Sequence[float], thresholds: Sequence[int], input_tokens: int) -> float | None:
    """The price tier for a prompt of `input_tokens`: one step up per threshold the prompt exceeds."""
    if not prices:
        return None
    step = sum(1 for limit in thresholds if input_tokens > limit)
    return float(prices[min(step, len(prices) - 1)])


def call_cost(call: Call) -> float | None:
    if call.prices is None:
        return None
    p_in = tier(call.prices.input, call.prices.thresholds, call.input_tokens)
    p_out = tier(call.prices.output, call.prices.thresholds, call.input_tokens)
    if p_in is None or p_out is None:
        return None
    return call.input_tokens * p_in + call.output_tokens * p_out


def estimate(calls: Sequence[Call]) -> CostEstimate:
    """The sum over every call; unknown if any call has no prices (a partial sum would mislead)."""
    total = 0.0
    unpriced: list[str] = []
    for call in calls:
        cost = call_cost(call)
        if cost is None:
            unpriced.append(call.model)
        else:
            total += cost
    return CostEstimate(
        cost_usd=None if unpriced else round(total, 8),
        input_tokens=sum(c.input_tokens for c in calls),
        output_tokens=sum(c.output_tokens for c in calls),
        unpriced=unpriced,
    )


def check_cost(est: CostEstimate, max_cost_usd: float | None) -> None:
    """Refuse when the estimate is over the caller's limit, or when there is no estimate to compare."""
    if max_cost_usd is None:
        return
    if est.cost_usd is None:
        raise BudgetError(f"max_cost_usd is set but {est.note}; drop max_cost_usd or choose a priced model "
                          "(list_models include=pricing)")
    if est.cost_usd > max_cost_usd:
        raise BudgetError(
            f"estimated cost {usd(est.cost_usd)} is over max_cost_usd {usd(max_cost_usd)} "
            f"(~{est.input_tokens:,} input tokens, up to {est.output_tokens:,} output tokens); nothing was sent. "
            "Attach less (line ranges, fewer files, a smaller diff), lower max_tokens, use a cheaper model, "
            "or raise max_cost_usd"
        )


def check_window(
    *,
    model: str,
    window: int | None,
    input_tokens: int,
    answer_tokens: int | None,
    items: Sequence[tuple[str, int]],
) -> None:
    """The prompt plus the room kept for the answer must fit the model's context window.

    `items` are the attached things as (label, estimated tokens), named largest first in the error.
    """
    room = answer_tokens or DEFAULT_ANSWER_TOKENS
    if window is None or input_tokens + room <= window:
        return
    largest = sorted(items, key=lambda item: -item[1])[:LARGEST_SHOWN]
    shown = ", ".join(f"{label} (~{tokens:,})" for label, tokens in largest) or "nothing"
    raise BudgetError(
        f"too much context for {model}: ~{input_tokens:,} input tokens + {room:,} kept for the answer exceed "
        f"its {window:,}-token window; nothing was sent. Largest attached: {shown}. Narrow it with line ranges "
        "(path:120-180), fewer files or a narrower glob, a smaller diff (a shorter ref range, or narrow it with "
        "files), or choose a model with a larger window"
    )
