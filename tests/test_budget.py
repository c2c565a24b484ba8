"""context/budget.py: window and cost arithmetic, and the messages a caller acts on."""

from __future__ import annotations

import pytest

from opper_mcp.context.budget import (
    DEFAULT_ANSWER_TOKENS,
    BudgetError,
    Call,
    Prices,
    check_cost,
    check_window,
    estimate,
    tier,
)

FLAT = Prices(input=[1e-6], output=[4e-6])


def test_tiers_step_up_past_each_threshold() -> None:
    assert tier([1.0, 2.0], [200_000], 200_000) == 1.0
    assert tier([1.0, 2.0], [200_000], 200_001) == 2.0
    assert tier([1.0], [10, 20], 50) == 1.0  # fewer prices than thresholds: the last one
    assert tier([], [], 5) is None


def test_estimate_bounds_output_by_max_tokens_or_the_default() -> None:
    est = estimate([Call("a", 1_000, 500, FLAT), Call("b", 1_000, None, FLAT)])
    assert est.cost_usd == pytest.approx(2_000 * 1e-6 + (500 + DEFAULT_ANSWER_TOKENS) * 4e-6)
    assert est.input_tokens == 2_000 and est.output_tokens == 500 + DEFAULT_ANSWER_TOKENS
    assert est.note is None


def test_unknown_prices_give_no_estimate_never_zero() -> None:
    est = estimate([Call("priced", 10, None, FLAT), Call("mystery/model", 10, None, None)])
    assert est.cost_usd is None
    assert est.note is not None and "mystery/model" in est.note
    with pytest.raises(BudgetError, match="no prices"):
        check_cost(est, 1.0)
    check_cost(est, None)  # no limit: nothing to refuse


def test_cost_over_the_limit_is_refused_with_the_numbers() -> None:
    est = estimate([Call("a", 100_000, 1_000, FLAT)])
    check_cost(est, 1.0)
    with pytest.raises(BudgetError) as info:
        check_cost(est, 0.01)
    message = str(info.value)
    assert "$0.104 " in message and "$0.01 " in message and "nothing was sent" in message


def test_usd_shows_tiny_amounts() -> None:
    from opper_mcp.context.budget import usd

    assert (usd(0.104), usd(0.000001), usd(2.5), usd(0)) == ("$0.104", "$0.000001", "$2.5", "$0")


def test_window_overflow_names_the_largest_items_and_how_to_narrow() -> None:
    items = [(f"f{i}.py", i * 100) for i in range(10)] + [("git diff HEAD", 20_000)]
    check_window(model="m", window=40_000, input_tokens=30_000, answer_tokens=None, items=items)
    check_window(model="m", window=None, input_tokens=10**9, answer_tokens=None, items=items)  # unknown window
    with pytest.raises(BudgetError) as info:
        check_window(model="m", window=32_768, input_tokens=30_000, answer_tokens=None, items=items)
    message = str(info.value)
    assert "git diff HEAD (~20,000)" in message and "f9.py" in message and "f0.py" not in message
    assert "32,768" in message and "30,000" in message and "line ranges" in message
    with pytest.raises(BudgetError, match="8,000 kept"):
        check_window(model="m", window=32_768, input_tokens=25_000, answer_tokens=8_000, items=[])
