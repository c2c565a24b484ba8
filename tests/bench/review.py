"""Review core figures: merge quality on the labelled sets, and the time of the pure pipeline at a realistic size.

    uv run python -m tests.bench.review

Quality: pairwise precision/recall of `merge` on tests/review_cases.py (and the held-out set). Time: a 2,000-line
unified diff (20 files, several hunks each) and 3 models x 30 findings written like real answers (the labelled
cases' wording, placed on the diff's hunks, a few off the shown lines), through Shown-from-diff, locate, merge,
rank, summary and SARIF (built and serialised). Target: under 100 ms for all of it.
"""

from __future__ import annotations

import json
import random
import statistics
import sys
import time

from opper_mcp.review.findings import Finding
from opper_mcp.review.locate import from_diff, locate
from opper_mcp.review.merge import merge
from opper_mcp.review.rank import rank, summary
from opper_mcp.review.sarif import to_sarif
from tests.review_cases import CASES
from tests.review_cases_heldout import HELDOUT
from tests.review_eval import findings_of, score

FILES = 20
HUNKS_PER_FILE = 5
HUNK_BODY = 20  # 20 body lines per hunk -> 20 files x 5 hunks x 20 = 2,000 lines
MODELS = ("openai/gpt-5", "anthropic/claude-sonnet-4-5", "gcp/gemini-2.5-pro")
PER_MODEL = 30
ROUNDS = 30


def say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def big_diff() -> tuple[str, list[tuple[str, int, int]]]:
    """The diff text and each hunk's (file, first, last) new-side line."""
    out: list[str] = []
    hunks: list[tuple[str, int, int]] = []
    for f in range(FILES):
        path = f"src/module_{f:02d}/service.py"
        out += [f"diff --git a/{path} b/{path}", "index 1111111..2222222 100644", f"--- a/{path}", f"+++ b/{path}"]
        for h in range(HUNKS_PER_FILE):
            start = 40 + h * 120
            out.append(f"@@ -{start},{HUNK_BODY - 4} +{start},{HUNK_BODY - 2} @@ def handler_{h}():")
            for i in range(HUNK_BODY):
                tag = "-" if i in (5, 6) else "+" if i in (7, 8, 9, 10) else " "
                out.append(f"{tag}    value_{i} = compute(request, {i})  # line {i}")
            hunks.append((path, start, start + HUNK_BODY - 3))
    return "\n".join(out) + "\n", hunks


def answers(hunks: list[tuple[str, int, int]], seed: int = 7) -> dict[str, list[Finding]]:
    """3 x 30 findings: the labelled cases' answers moved onto hunks; one in ten off the shown lines."""
    rng = random.Random(seed)
    per: dict[str, list[Finding]] = {m: [] for m in MODELS}
    cases = [c for c in CASES + HELDOUT if len(c.answers) >= 2]
    while min(len(v) for v in per.values()) < PER_MODEL:
        case = rng.choice(cases)
        path, first, last = rng.choice(hunks)
        base = min(f.start_line for fs in case.answers.values() for f in fs)
        offset = rng.randint(first, max(first, last - 8)) - base
        if rng.random() < 0.1:
            offset += 60  # between hunks: unlocated
        for model, items in zip(MODELS, case.answers.values(), strict=False):
            for it in items:
                if len(per[model]) < PER_MODEL:
                    per[model].append(Finding(
                        file=path, start_line=it.start_line + offset, end_line=it.end_line + offset,
                        severity=it.severity, category=it.category, title=it.title, explanation=it.explanation,
                        suggestion=it.suggestion))
    return per


def main() -> None:
    for name, cases in (("labelled set", CASES), ("held-out set", HELDOUT)):
        s = score(cases)
        findings = sum(len(fs) for c in cases for fs in findings_of(c)[0].values())
        say(f"merge quality, {name} ({len(cases)} cases, {findings} findings): {s}")
    text, hunks = big_diff()
    per = answers(hunks)
    body = FILES * HUNKS_PER_FILE * HUNK_BODY
    say(f"pipeline input: a diff of {body:,} hunk lines ({text.count(chr(10)):,} with headers, "
        f"{len(text) / 1e3:.0f} kB, {len(hunks)} hunks in {FILES} files), "
        f"{len(per)} models x {PER_MODEL} findings")
    steps: dict[str, list[float]] = {k: [] for k in ("shown", "locate", "merge", "rank+summary", "sarif", "total")}
    last: tuple[int, int, str] = (0, 0, "")
    for _ in range(ROUNDS):
        t0 = time.perf_counter()
        shown = from_diff(text)
        t1 = time.perf_counter()
        got = {m: locate(fs, shown) for m, fs in per.items()}
        t2 = time.perf_counter()
        merged = merge({m: g[0] for m, g in got.items()}, answered=len(per))
        t3 = time.perf_counter()
        ranked = rank(merged)
        line = summary(merged, unlocated=sum(len(g[1]) for g in got.values()), answered=len(per), cost=0.041,
                       seconds=38)
        t4 = time.perf_counter()
        blob = json.dumps(to_sarif(ranked))
        t5 = time.perf_counter()
        for k, v in zip(steps, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t5 - t0), strict=True):
            steps[k].append(v)
        last = (len(merged), len(blob), line)
    say(f"  -> {last[0]} merged findings, SARIF {last[1] / 1e3:.0f} kB; summary: {last[2]}")
    say(f"  time per run, median (min) of {ROUNDS}: " + ", ".join(
        f"{k} {statistics.median(v) * 1e3:.1f} ({min(v) * 1e3:.1f}) ms" for k, v in steps.items()))
    total = statistics.median(steps["total"]) * 1e3
    say(f"  total {total:.1f} ms: {'within' if total < 100 else 'OVER'} the 100 ms target")


if __name__ == "__main__":
    main()
