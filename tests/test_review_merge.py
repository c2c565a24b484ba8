"""Merging findings across models: measured on the labelled set, and the rules it must keep, case by case."""

from __future__ import annotations

import random

import pytest

from opper_mcp.review.findings import Finding
from opper_mcp.review.merge import JOIN_AT, NEAR_LINES, MergedFinding, merge
from tests.review_cases import CASES
from tests.review_cases_heldout import HELDOUT
from tests.review_eval import findings_of, score

A, B, C = "openai/gpt-5", "anthropic/claude-sonnet-4-5", "gcp/gemini-2.5-pro"


def test_the_labelled_set_is_big_and_varied_enough() -> None:
    assert len(CASES) >= 40
    assert all(2 <= len(c.answers) <= 4 for c in CASES)
    assert len({c.name for c in CASES}) == len(CASES)


def test_pairwise_precision_and_recall_on_the_labelled_set(capsys: pytest.CaptureFixture[str]) -> None:
    s = score(CASES)
    with capsys.disabled():
        print(f"\nreview merge, {len(CASES)} labelled cases: {s}")
    assert s.precision >= 0.95, "\n".join(s.wrong)
    assert s.recall >= 0.95, "\n".join(s.wrong)


def test_held_out_cases_as_a_regression_floor(capsys: pytest.CaptureFixture[str]) -> None:
    """Not fitted to; the floor is looser on purpose (lexical similarity misses some paraphrases it never saw)."""
    s = score(HELDOUT)
    with capsys.disabled():
        print(f"\nreview merge, {len(HELDOUT)} held-out cases: {s}")
    assert s.precision >= 0.9, "\n".join(s.wrong)
    assert s.recall >= 0.8, "\n".join(s.wrong)


def F(file: str, start: int, title: str, explanation: str = "", *, end: int | None = None, severity: str = "medium",
      category: str = "bug", suggestion: str | None = None) -> Finding:
    return Finding(file=file, start_line=start, end_line=end or start, severity=severity, category=category,
                   title=title, explanation=explanation, suggestion=suggestion)


def _one(merged: list[MergedFinding], title_part: str) -> MergedFinding:
    (hit,) = [m for m in merged if any(title_part in x.finding.title for x in m.members)]
    return hit


def test_agreement_severity_lines_and_explanations() -> None:
    per = {
        A: [F("app/db.py", 42, "SQL injection via f-string in get_user", "email is interpolated into the SQL",
              end=43, severity="high", category="security", suggestion="bind parameters")],
        B: [F("app/db.py", 42, "User input interpolated directly into SQL query", "request data reaches the SQL",
              severity="critical", category="security")],
        C: [F("app/db.py", 41, "Unparameterized SQL query allows injection", "string formatting builds the SQL",
              end=42, severity="high", category="security")],
    }
    (m,) = merge(per, answered=4)
    assert (m.file, m.start_line, m.end_line) == ("app/db.py", 42, 42)  # the line all three point at
    assert (m.agreement, m.answered, m.found_by) == (3, 4, sorted([A, B, C]))
    assert m.severity == "critical"
    assert m.severities == {A: "high", B: "critical", C: "high"}
    assert m.category == "security"
    assert m.title in {f.title for fs in per.values() for f in fs}
    assert [x.finding for x in m.members if x.model == A] == per[A]  # each model's own words are kept
    assert m.members[[x.model for x in m.members].index(A)].finding.suggestion == "bind parameters"
    assert len(m.why) == 2  # three findings, two joins
    for why in m.why:
        assert "same file, lines " in why and "word similarity 0." in why and "both security" in why
        assert why.endswith(f"≥ {JOIN_AT}")


def test_one_model_saying_it_twice_counts_once() -> None:
    per = {
        A: [F("bot/handlers.py", 55, "Coroutine `save()` never awaited", "repo.save is async and not awaited",
              severity="high"),
            F("bot/handlers.py", 55, "save() called without await", "the coroutine returned by save is discarded",
              severity="critical")],
        B: [F("bot/handlers.py", 55, "Missing await on save", "calling the async save without await does nothing")],
    }
    (m,) = merge(per, answered=2)
    assert m.found_by == sorted([A, B]) and m.agreement == 2
    assert len(m.members) == 3
    assert m.severities[A] == "critical"  # the model's highest
    assert any(f"{A} again" in w for w in m.why)


def test_two_problems_on_one_line_stay_apart() -> None:
    per = {
        A: [F("hooks.py", 22, "TLS verification disabled (verify=False)",
              "requests.get(url, verify=False) accepts any certificate", category="security")],
        B: [F("hooks.py", 22, "SSRF: user-supplied URL fetched server-side",
              "the callback URL can point at internal services", category="security")],
        C: [F("hooks.py", 22, "Certificate validation turned off", "verify=False disables certificate checks",
              category="security"),
            F("hooks.py", 21, "Server-side request forgery via callback url", "arbitrary URLs are requested",
              end=22, category="security")],
    }
    merged = merge(per, answered=3)
    assert len(merged) == 2
    assert {x.model for x in _one(merged, "TLS").members} == {A, C}
    assert {x.model for x in _one(merged, "SSRF").members} == {B, C}


def test_same_title_in_different_files_and_far_apart_lines_stay_apart() -> None:
    title = "Missing error handling for network call"
    per = {A: [F("sync/client.py", 50, title), F("sync/client.py", 50 + NEAR_LINES + 1 + 3, title, end=60)],
           B: [F("sync/worker.py", 50, title)]}
    assert len(merge(per, answered=2)) == 3


def test_a_tests_finding_is_never_merged_with_a_code_finding() -> None:
    per = {A: [F("api/page.py", 88, "Off-by-one in page slice drops the last item", "slice end is exclusive")],
           B: [F("api/page.py", 88, "No test for the page slice dropping the last item", "slice end untested",
                 category="tests")]}
    assert len(merge(per, answered=2)) == 2


def test_near_miss_lines_still_merge() -> None:
    per = {A: [F("shop/cart.py", 12, "Float used for currency amounts", "prices are floats; use Decimal")],
           B: [F("shop/cart.py", 14, "Rounding error when summing prices as floats", "float sums drift; Decimal")]}
    (m,) = merge(per, answered=2)
    assert "2 lines apart" in m.why[0]


@pytest.mark.parametrize("seed", range(5))
def test_order_of_models_and_findings_does_not_matter(seed: int) -> None:
    rng = random.Random(seed)
    for case in CASES[:20]:
        per, _ = findings_of(case)
        base = merge(per, answered=len(per))
        models = list(per)
        rng.shuffle(models)
        shuffled = {m: rng.sample(per[m], len(per[m])) for m in models}
        again = merge(shuffled, answered=len(per))
        assert [x.model_dump() for x in again] == [x.model_dump() for x in base], case.name


def test_nothing_in_nothing_out() -> None:
    assert merge({}, answered=0) == []
    assert merge({A: []}, answered=1) == []


def test_words_reduce_wording_to_what_carries_meaning() -> None:
    from opper_mcp.review.similar import grams, jaccard, words

    assert words("The `any` type is used") == ["any", "typ"]  # stop words dropped, code in backticks kept
    assert words("Use select_related, forEach") == ["selectrelated", "select", "relat", "foreach"]
    assert words("XSS") == words("cross-site scripting")
    assert set(words("Hardcoded credentials")) == set(words("secret literal")) == {"~hardcoded", "~secret"}
    assert words("unvalidated input") == words("validated input: not")
    assert words("Unique index") == ["uniqu", "index"]  # `un` that is no negation stays
    assert words("retries") == words("retry") and words("caching") == words("cache")
    assert jaccard(grams("unsanitised filename"), grams("unsanitized filename")) > 0.7
