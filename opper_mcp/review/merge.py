"""Several models' findings about the same problem -> one finding that says who found it and why they were joined.

Two findings can be the same problem only when they are in the same file on overlapping or nearby lines (at most
`NEAR_LINES` apart). Their `Link` score then adds up the evidence (see `link`): how alike their words are (all
their text, and their titles; `similar`), whether they share a category, whether their lines overlap, minus a
little per line apart and a penalty when one model reported both (a model rarely repeats itself, so two findings
from one model need stronger words to be joined). A `tests` finding (a missing or weak test) is never the same
problem as a finding about the code's behaviour.

Findings are then grouped by average-linkage clustering per file: the two groups with the highest mean pair
score are joined while that mean is at least `JOIN_AT` (pairs that cannot be compared count 0). Averaging,
rather than joining on any single good pair, keeps two distinct problems on one line apart even when one
wording happens to resemble both. Every join is recorded as a sentence (`MergedFinding.why`). The input is put
in a canonical order first, so the result does not depend on the order of models or of their findings.

The weights below were chosen on the labelled answers in tests/review_cases.py and checked on a held-out set
(tests/review_cases_heldout.py); `uv run python -m tests.bench.review` prints both figures.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict

from .findings import Finding, Severity, severity_rank
from .similar import Profile, dice, jaccard, profile, weighted_dice

NEAR_LINES = 3  # findings further apart than this are never the same problem
JOIN_AT = 0.38  # mean link score at which two groups are joined
W_TEXT = 1.0  # weighted Dice of all words (title, explanation, suggestion)
W_TITLE = 0.2  # Dice of title words
W_GRAMS = 0.3  # Jaccard of title character trigrams
SAME_CATEGORY = 0.15
OVERLAP = 0.1  # the line ranges share a line
PER_LINE_APART = 0.03
SAME_MODEL = 0.1


class Member(BaseModel):
    """One model's finding inside a merged one (the finding as that model gave it, after locating)."""

    model_config = ConfigDict(frozen=True)

    model: str
    finding: Finding


class MergedFinding(BaseModel):
    """One problem as the models together saw it."""

    file: str
    start_line: int  # the lines most members point at
    end_line: int
    severity: Severity  # the highest any member gave
    category: str  # the one most models gave (ties: the title's)
    title: str  # from the member whose words are closest to all the others'
    found_by: list[str]  # distinct models, sorted
    agreement: int  # len(found_by): k of `answered`
    answered: int  # models that answered the review
    severities: dict[str, Severity]  # each model's severity (its highest, if it reported the problem twice)
    members: list[Member]
    why: list[str]  # one sentence per join: which findings and on what evidence

    @property
    def lines(self) -> str:
        return f"{self.start_line}" if self.start_line == self.end_line else f"{self.start_line}-{self.end_line}"


@dataclass(frozen=True)
class Link:
    """The evidence that two findings describe the same problem, and its score."""

    score: float
    text: float
    title: float
    apart: int  # lines between the ranges, 0 when they overlap
    same_category: bool
    same_model: bool


@dataclass(frozen=True)
class _Item:
    model: str
    finding: Finding
    words: Profile


def _sort_key(i: _Item) -> tuple[str, int, int, str, str, str, str, str, str]:
    f = i.finding
    return (f.file, f.start_line, f.end_line, f.category, f.title, f.explanation, f.suggestion or "", f.severity,
            i.model)


def _apart(a: Finding, b: Finding) -> int:
    return max(0, max(a.start_line, b.start_line) - min(a.end_line, b.end_line))


def link(a: _Item, b: _Item) -> Link | None:
    """The link between two findings, or None when they cannot be the same problem."""
    fa, fb = a.finding, b.finding
    if fa.file != fb.file or (apart := _apart(fa, fb)) > NEAR_LINES:
        return None
    if (fa.category == "tests") != (fb.category == "tests"):
        return None
    text = weighted_dice(a.words.text, b.words.text)
    title = max(dice(a.words.title, b.words.title), jaccard(a.words.title_grams, b.words.title_grams))
    same_cat = fa.category == fb.category
    same_model = a.model == b.model
    score = (W_TEXT * text + W_TITLE * dice(a.words.title, b.words.title)
             + W_GRAMS * jaccard(a.words.title_grams, b.words.title_grams)
             + SAME_CATEGORY * same_cat + OVERLAP * (apart == 0) - PER_LINE_APART * apart - SAME_MODEL * same_model)
    return Link(score, text, title, apart, same_cat, same_model)


def _lines(f: Finding) -> str:
    return f"{f.start_line}" if f.start_line == f.end_line else f"{f.start_line}-{f.end_line}"


def explain(a: _Item, b: _Item, ln: Link, mean: float) -> str:
    """One join as a sentence a reviewer can check."""
    where = "overlapping" if ln.apart == 0 else f"{ln.apart} line{'s' if ln.apart > 1 else ''} apart"
    cat = f"both {a.finding.category}" if ln.same_category else f"{a.finding.category} vs {b.finding.category}"
    who = f"{b.model} again" if ln.same_model else b.model
    return (f"{a.model} “{a.finding.title}” + {who} “{b.finding.title}”: same file, lines {_lines(a.finding)} vs "
            f"{_lines(b.finding)} ({where}), word similarity {ln.text:.2f}, title similarity {ln.title:.2f}, {cat}; "
            f"group score {mean:.2f} ≥ {JOIN_AT}")


def _cluster(items: list[_Item]) -> list[tuple[list[int], list[str]]]:
    """Average-linkage groups of `items` (one file, canonical order) with the sentences that joined them."""
    links: dict[tuple[int, int], Link] = {}
    for i in range(len(items)):
        for j in range(i + 1, len(items)):
            ln = link(items[i], items[j])
            if ln is not None and ln.score > 0:
                links[i, j] = ln
    groups: dict[int, list[int]] = {i: [i] for i in range(len(items))}
    why: dict[int, list[str]] = {i: [] for i in range(len(items))}
    sums: dict[tuple[int, int], float] = {pair: ln.score for pair, ln in links.items()}
    while sums:
        (g, h), total = max(sums.items(), key=lambda kv: (kv[1] / (len(groups[kv[0][0]]) * len(groups[kv[0][1]])),
                                                          -kv[0][0], -kv[0][1]))
        mean = total / (len(groups[g]) * len(groups[h]))
        if mean < JOIN_AT:
            break
        best = max(((a, b) for a in groups[g] for b in groups[h] if (min(a, b), max(a, b)) in links),
                   key=lambda ab: links[min(ab), max(ab)].score)
        a, b = min(best), max(best)
        why[g] += [*why.pop(h), explain(items[a], items[b], links[a, b], mean)]
        groups[g] += groups.pop(h)
        merged: dict[tuple[int, int], float] = {}
        for (x, y), s in sums.items():
            if (x, y) == (g, h):
                continue
            x, y = (g if x == h else x), (g if y == h else y)
            key = (min(x, y), max(x, y))
            merged[key] = merged.get(key, 0.0) + s
        sums = merged
    return [(sorted(members), why[g]) for g, members in sorted(groups.items())]


def _consensus(items: Sequence[_Item]) -> tuple[int, int]:
    """The span of lines covered by the most models (the first such span when there are several); a model that
    reported the problem twice counts once."""
    covered: dict[str, set[int]] = {}
    for it in items:
        covered.setdefault(it.model, set()).update(range(it.finding.start_line, it.finding.end_line + 1))
    depth: dict[int, int] = {}
    for lines in covered.values():
        for n in lines:
            depth[n] = depth.get(n, 0) + 1
    top = max(depth.values())
    start = min(n for n, d in depth.items() if d == top)
    end = start
    while depth.get(end + 1) == top:
        end += 1
    return start, end


def _build(items: list[_Item], why: list[str], answered: int) -> MergedFinding:
    def centrality(i: int) -> float:
        return sum((ln.score if (ln := link(items[i], items[j])) else 0.0) for j in range(len(items)) if j != i)

    order = sorted(range(len(items)), key=lambda i: (-centrality(i), -severity_rank(items[i].finding.severity),
                                                      len(items[i].finding.title), _sort_key(items[i])))
    lead = items[order[0]].finding
    severities: dict[str, Severity] = {}
    for it in items:
        prev = severities.get(it.model)
        if prev is None or severity_rank(it.finding.severity) > severity_rank(prev):
            severities[it.model] = it.finding.severity
    votes: dict[str, set[str]] = {}
    for it in items:
        votes.setdefault(it.finding.category, set()).add(it.model)
    category = max(votes, key=lambda c: (len(votes[c]), c == lead.category, c))
    start, end = _consensus(items)
    found_by = sorted(severities)
    return MergedFinding(
        file=lead.file, start_line=start, end_line=end,
        severity=max(severities.values(), key=severity_rank), category=category, title=lead.title,
        found_by=found_by, agreement=len(found_by), answered=answered, severities=dict(sorted(severities.items())),
        members=[Member(model=it.model, finding=it.finding) for it in items], why=why,
    )


def merge(per_model: Mapping[str, Sequence[Finding]], answered: int) -> list[MergedFinding]:
    """Group the models' findings into problems; `answered` is how many models answered (the n of k-of-n)."""
    items = sorted((_Item(m, f, profile(f.title, f.explanation, f.suggestion)) for m, fs in per_model.items()
                    for f in fs), key=_sort_key)
    by_file: dict[str, list[_Item]] = {}
    for it in items:
        by_file.setdefault(it.finding.file, []).append(it)
    out: list[MergedFinding] = []
    for file_items in by_file.values():
        for members, why in _cluster(file_items):
            out.append(_build([file_items[i] for i in members], why, answered))
    return sorted(out, key=lambda m: (m.file, m.start_line, m.end_line, m.title))
