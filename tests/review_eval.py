"""Pairwise precision and recall of `merge` on labelled cases (shared by the test and the benchmark).

Over every pair of findings in a case: a pair is *predicted* together when merge put both in one merged finding,
*truly* together when they carry the same label. Precision = right joins / all joins; recall = right joins / all
true pairs. Counts add up over all cases before dividing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

from opper_mcp.review.findings import Finding
from opper_mcp.review.merge import merge
from tests.review_cases import Case


@dataclass(frozen=True)
class Score:
    precision: float
    recall: float
    true_pairs: int
    joined_pairs: int
    right: int
    wrong: list[str]  # "joined: a || b" or "missed: a || b", for a failure message

    def __str__(self) -> str:
        return (f"precision {self.precision:.3f} ({self.right}/{self.joined_pairs} joins right), "
                f"recall {self.recall:.3f} ({self.right}/{self.true_pairs} true pairs joined)")


def findings_of(case: Case) -> tuple[dict[str, list[Finding]], dict[int, str]]:
    """The case as merge's input, and each finding's label by object id."""
    per_model: dict[str, list[Finding]] = {}
    labels: dict[int, str] = {}
    for model, items in case.answers.items():
        per_model[model] = []
        for it in items:
            f = Finding(file=it.file, start_line=it.start_line, end_line=it.end_line, severity=it.severity,
                        category=it.category, title=it.title, explanation=it.explanation, suggestion=it.suggestion)
            per_model[model].append(f)
            labels[id(f)] = it.label
    return per_model, labels


def score(cases: Sequence[Case]) -> Score:
    true_pairs = joined = right = 0
    wrong: list[str] = []
    for case in cases:
        per_model, labels = findings_of(case)
        group = {id(m.finding): i for i, mf in enumerate(merge(per_model, len(per_model))) for m in mf.members}
        everything = [f for fs in per_model.values() for f in fs]
        for a, b in combinations(everything, 2):
            truth = labels[id(a)] == labels[id(b)]
            predicted = group[id(a)] == group[id(b)]
            true_pairs += truth
            joined += predicted
            right += truth and predicted
            if truth != predicted:
                wrong.append(f"{'joined' if predicted else 'missed'} in {case.name!r}: {a.title!r} || {b.title!r}")
    return Score(right / joined if joined else 1.0, right / true_pairs if true_pairs else 1.0, true_pairs, joined,
                 right, wrong)
