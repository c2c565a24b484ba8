"""SARIF export: its structure, fingerprints that survive a re-run, and Microsoft's validator (GitHub rules too)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from opper_mcp import __version__
from opper_mcp.review.findings import Finding
from opper_mcp.review.locate import from_files, locate
from opper_mcp.review.merge import MergedFinding, merge
from opper_mcp.review.rank import rank
from opper_mcp.review.sarif import fingerprint, to_sarif
from tests.review_cases import CASES
from tests.review_eval import findings_of
from tests.transport_support import NODE_MODULES, missing

# `npx sarif-multitool` runs the package's bin.js, which hands its arguments to a shell: `--rule-kind Gh;Sarif` is
# cut at the `;`. The platform package's own executable takes them as they are (and needs no node).
_PLATFORM = {"linux": "linux", "darwin": "darwin", "win32": "win32"}.get(sys.platform, sys.platform)
MULTITOOL = (NODE_MODULES / "@microsoft" / f"sarif-multitool-{_PLATFORM}"
             / ("Sarif.Multitool.exe" if sys.platform == "win32" else "Sarif.Multitool"))


def realistic() -> list[MergedFinding]:
    """Twelve labelled cases' answers, located on files as attached and merged, in rank order."""
    out: list[MergedFinding] = []
    for case in CASES[:12]:
        per, _ = findings_of(case)
        shown = from_files([(f.file, 1, 500) for fs in per.values() for f in fs])
        located = {m: locate(fs, shown)[0] for m, fs in per.items()}
        out += merge(located, answered=len(per))
    return rank(out)


def test_structure() -> None:
    merged = realistic()
    log = to_sarif(merged)
    json.dumps(log)  # serialisable as it is
    assert log["version"] == "2.1.0" and log["$schema"].endswith("sarif-schema-2.1.0.json")
    (run,) = log["runs"]
    driver = run["tool"]["driver"]
    assert (driver["name"], driver["version"]) == ("opper-mcp", __version__)
    assert driver["informationUri"].startswith("https://")
    rules = driver["rules"]
    categories = sorted({m.category for m in merged})
    assert sorted(r["id"] for r in rules) == [f"review/{c}" for c in categories]
    for r in rules:
        assert {"id", "name", "shortDescription", "fullDescription", "help", "defaultConfiguration",
                "properties"} <= set(r)
        assert set(r["help"]) == {"text", "markdown"}
        assert r["properties"]["tags"]
    security = next(r for r in rules if r["id"] == "review/security")
    assert security["properties"]["tags"] == ["security"]
    assert security["properties"]["security-severity"] == "9.5"  # the worst security finding here is critical
    assert security["defaultConfiguration"]["level"] == "error"
    assert all("security-severity" not in r["properties"] for r in rules if r is not security)
    assert len(run["results"]) == len(merged)
    for res, m in zip(run["results"], merged, strict=True):
        assert rules[res["ruleIndex"]]["id"] == res["ruleId"] == f"review/{m.category}"
        assert res["level"] == {"critical": "error", "high": "error", "medium": "warning", "low": "note",
                                "info": "note"}[m.severity]
        loc = res["locations"][0]["physicalLocation"]
        assert loc["artifactLocation"] == {"uri": m.file, "uriBaseId": "%SRCROOT%"}
        assert loc["region"] == {"startLine": m.start_line, "endLine": m.end_line}
        assert m.title.rstrip(".") in res["message"]["text"]
        assert res["properties"]["agreement"] == f"{m.agreement}/{m.answered}"
        assert res["properties"]["found_by"] == m.found_by
        assert res["properties"]["severity_by_model"] == m.severities
        assert list(res["partialFingerprints"].values()) == [fingerprint(m.file, m.category, m.title)]


def test_uris_are_escaped() -> None:
    f = Finding(file="docs/my notes#1.md", start_line=1, end_line=1, severity="low", category="docs",
                title="Typo", explanation="")
    (res,) = to_sarif(merge({"m": [f]}, answered=1))["runs"][0]["results"]
    assert res["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "docs/my%20notes%231.md"


def _fp(file: str, line: int, title: str, category: str = "security", model: str = "openai/gpt-5",
        explanation: str = "") -> str:
    f = Finding(file=file, start_line=line, end_line=line + 2, severity="high", category=category, title=title,
                explanation=explanation)
    (res,) = to_sarif(merge({model: [f]}, answered=1))["runs"][0]["results"]
    return str(res["partialFingerprints"]["opperReviewFinding/v1"])


def test_fingerprints_survive_moves_and_other_models_but_not_other_problems() -> None:
    base = _fp("app/db.py", 42, "SQL injection via f-string in get_user")
    assert _fp("app/db.py", 97, "SQL injection via f-string in get_user") == base  # code above it grew
    assert _fp("app/db.py", 42, "SQL injection via f-string in get_user", model="xai/grok-4",
               explanation="other words") == base
    assert _fp("app/db.py", 42, "SQL Injection via f-string in `get_user`.") == base  # case, punctuation
    assert _fp("app/db.py", 42, "Lookup by email has no index") != base
    assert _fp("app/db.py", 42, "SQL injection via f-string in get_user", category="bug") != base
    assert _fp("app/users.py", 42, "SQL injection via f-string in get_user") != base


def _validate(path: Path, tmp_path: Path) -> list[dict[str, Any]]:
    if not MULTITOOL.exists():
        missing(f"{MULTITOOL} is absent: run `npm ci` in tests/js for the SARIF validator")
    out = tmp_path / "validation.sarif"
    proc = subprocess.run([str(MULTITOOL), "validate", str(path), "--rule-kind", "Gh;Sarif", "--output", str(out),
                           "--log", "ForceOverwrite"], capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results: list[dict[str, Any]] = json.loads(out.read_text(encoding="utf-8-sig"))["runs"][0]["results"]
    return results


def test_microsofts_validator_finds_no_errors_or_warnings(tmp_path: Path) -> None:
    """The multitool exits 0 even when it finds errors, so its own SARIF output is read for them."""
    log = tmp_path / "review.sarif"
    log.write_text(json.dumps(to_sarif(realistic()), indent=2))
    problems = [r for r in _validate(log, tmp_path) if r.get("level", "warning") in ("error", "warning")]
    assert problems == [], "\n".join(f"{r['ruleId']}: {r['message']}" for r in problems)


def test_the_validator_would_catch_a_broken_log(tmp_path: Path) -> None:
    """The check above can fail: a log without rules and with line 0 is reported."""
    broken = to_sarif(realistic())
    del broken["runs"][0]["tool"]["driver"]["rules"]
    broken["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"]["startLine"] = 0
    log = tmp_path / "broken.sarif"
    log.write_text(json.dumps(broken))
    ids = {r["ruleId"] for r in _validate(log, tmp_path) if r.get("level", "warning") == "error"}
    assert {"GH1018", "JSON1008"} <= ids
