"""Order merged findings for a reader, and say the whole review in one line.

What several models found independently is the most likely to be real, so agreement comes first; severity
next; then place in the code, so equal findings read top to bottom.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from .findings import SEVERITIES, Severity, severity_rank
from .merge import MergedFinding

MAX_GROUPS_LISTED = 4


def rank_key(m: MergedFinding) -> tuple[int, int, str, int, int, str]:
    return (-m.agreement, -severity_rank(m.severity), m.file, m.start_line, m.end_line, m.title)


def rank(merged: Iterable[MergedFinding]) -> list[MergedFinding]:
    """Most models first, then most severe, then by file and line."""
    return sorted(merged, key=rank_key)


def _money(cost: float) -> str:
    if cost >= 1:
        return f"${cost:,.2f}"
    return f"${cost:.3f}" if cost >= 0.001 or cost == 0 else f"${cost:.4f}"


def _duration(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"


def summary(
    merged: Iterable[MergedFinding],
    *,
    unlocated: int = 0,
    answered: int,
    asked: int | None = None,
    cost: float | None = None,
    seconds: float | None = None,
) -> str:
    """E.g. `6 findings — 2 high found by 3/3 models, 1 medium by 2/3, 3 low by 1/3; 1 unlocated; 3 models, $0.041,
    38 s`. Groups are (agreement, severity) in rank order; `asked` > `answered` reads "2 of 3 models answered"."""
    ranked = rank(merged)
    groups = Counter((m.agreement, m.severity) for m in ranked)
    order: list[tuple[int, Severity]] = sorted(groups, key=lambda g: (-g[0], SEVERITIES.index(g[1])))
    parts: list[str] = []
    for i, (k, sev) in enumerate(order[:MAX_GROUPS_LISTED]):
        by = f"found by {k}/{answered} model{'s' if answered != 1 else ''}" if i == 0 else f"by {k}/{answered}"
        parts.append(f"{groups[k, sev]} {sev} {by}")
    if len(order) > MAX_GROUPS_LISTED:
        parts.append(f"{sum(groups[g] for g in order[MAX_GROUPS_LISTED:])} more")
    n = len(ranked)
    head = f"{n} finding{'s' if n != 1 else ''}" + (f" — {', '.join(parts)}" if parts else "") if n else "no findings"
    models = (f"{answered} of {asked} models answered" if asked is not None and asked != answered
              else f"{answered} model{'s' if answered != 1 else ''}")
    tail = [models, *([_money(cost)] if cost is not None else []),
            *([_duration(seconds)] if seconds is not None else [])]
    return "; ".join([head, *([f"{unlocated} unlocated"] if unlocated else []), ", ".join(tail)])
