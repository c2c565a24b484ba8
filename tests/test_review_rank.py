"""Ranking merged findings and the one-line summary."""

from __future__ import annotations

from opper_mcp.review.findings import Finding
from opper_mcp.review.merge import MergedFinding, merge
from opper_mcp.review.rank import rank, summary

A, B, C = "openai/gpt-5", "anthropic/claude-sonnet-4-5", "gcp/gemini-2.5-pro"


def _merged(file: str, line: int, severity: str, models: list[str], title: str = "t") -> MergedFinding:
    f = Finding(file=file, start_line=line, end_line=line, severity=severity, category="bug", title=title,
                explanation="")
    (m,) = merge({model: [f] for model in models}, answered=3)
    return m


def test_rank_orders_by_agreement_then_severity_then_place() -> None:
    ms = [
        _merged("b.py", 5, "critical", [A]),
        _merged("a.py", 9, "low", [A, B, C]),
        _merged("a.py", 3, "high", [A, B]),
        _merged("a.py", 1, "medium", [A, B]),
        _merged("c.py", 1, "high", [A, B]),
        _merged("a.py", 2, "high", [A, B]),
        _merged("a.py", 1, "info", [B]),
    ]
    got = [(m.agreement, m.severity, m.file, m.start_line) for m in rank(ms)]
    assert got == [
        (3, "low", "a.py", 9),
        (2, "high", "a.py", 2), (2, "high", "a.py", 3), (2, "high", "c.py", 1),
        (2, "medium", "a.py", 1),
        (1, "critical", "b.py", 5),
        (1, "info", "a.py", 1),
    ]
    assert rank(reversed(ms)) == rank(ms)


def test_summary_line() -> None:
    ms = [_merged("a.py", 1, "high", [A, B, C]), _merged("a.py", 20, "high", [A, B, C]),
          _merged("b.py", 3, "medium", [A, B]), _merged("c.py", 3, "low", [C]), _merged("c.py", 30, "low", [A]),
          _merged("d.py", 3, "low", [B])]
    assert summary(ms, unlocated=1, answered=3, cost=0.0412, seconds=38.4) == (
        "6 findings — 2 high found by 3/3 models, 1 medium by 2/3, 3 low by 1/3; 1 unlocated; 3 models, $0.041, 38 s")
    assert summary([], answered=2, asked=3, cost=0.0004, seconds=4.25) == (
        "no findings; 2 of 3 models answered, $0.0004, 4.2 s")
    assert summary([_merged("a.py", 1, "high", [A])], answered=1) == "1 finding — 1 high found by 1/1 model; 1 model"
    many = [_merged("x.py", 10 * i + 1, sev, models) for i, (sev, models) in enumerate(
        [("critical", [A, B, C]), ("high", [A, B, C]), ("high", [A, B]), ("medium", [A, B]), ("low", [A]),
         ("info", [B])])]
    assert summary(many, answered=3, cost=12.5) == (
        "6 findings — 1 critical found by 3/3 models, 1 high by 3/3, 1 high by 2/3, 1 medium by 2/3, 2 more; "
        "3 models, $12.50")
