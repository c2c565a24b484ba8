"""Merged findings as a SARIF 2.1.0 log: what GitHub code scanning, IDE viewers and CI dashboards read.

One rule per category (GitHub groups alerts by rule), results located relative to `%SRCROOT%`, and a
`partialFingerprints` entry that stays the same when the same problem is found again on a later run, even after
the code above it moved: it hashes the file, the category and the title's normalised words (`similar.words`), not
line numbers or which models found it. Two findings with the same file, category and normalised title share a
fingerprint; that is rare and means they would be tracked as one alert.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from .. import __version__
from .findings import CATEGORIES, Severity, severity_rank
from .merge import MergedFinding
from .similar import words

SCHEMA_URI = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
TOOL_NAME = "opper-mcp"
INFORMATION_URI = "https://github.com/opper-ai/opper-mcp"
FINGERPRINT_KEY = "opperReviewFinding/v1"

LEVELS: dict[Severity, str] = {"critical": "error", "high": "error", "medium": "warning", "low": "note", "info": "note"}
# GitHub: > 9.0 critical, 7.0-8.9 high, 4.0-6.9 medium, 0.1-3.9 low.
SECURITY_SEVERITY: dict[Severity, str] = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0",
                                          "info": "1.0"}

_ABOUT: dict[str, str] = {
    "bug": "Code that does the wrong thing: wrong results, crashes, lost data, races or leaks.",
    "security": "A weakness an attacker could use: injection, broken access control, exposed secrets, unsafe "
                "deserialisation and the like.",
    "performance": "Work that is slower or heavier than it needs to be: needless queries, copies, or algorithms.",
    "tests": "Tests that are missing, do not check what they claim, or are flaky.",
    "maintainability": "Code that is harder than needed to read, change or reuse.",
    "style": "Departures from the language's or the project's conventions.",
    "docs": "Documentation or comments that are missing, wrong or misleading.",
}


def fingerprint(file: str, category: str, title: str) -> str:
    """Stable across runs for the same problem: file, category and the title's normalised words (sorted; code
    quoting ignored)."""
    key = "\0".join([file, category, " ".join(sorted(set(words(title.replace("`", "")))))])
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


def _rule_name(category: str) -> str:
    return "".join(p.capitalize() for p in category.replace("-", " ").replace("_", " ").split()) or "Finding"


def _rule(category: str, worst: Severity) -> dict[str, Any]:
    about = _ABOUT.get(category, f"Findings the reviewing models put in the category '{category}'.")
    props: dict[str, Any] = {"tags": [category]}
    if category == "security":  # GitHub ranks security alerts by this (a CVSS-like score as a string)
        props["security-severity"] = SECURITY_SEVERITY[worst]
    return {
        "id": f"review/{category}",
        "name": f"Review{_rule_name(category)}",
        "shortDescription": {"text": f"Review finding: {category}"},
        "fullDescription": {"text": about},
        "help": {
            "text": f"{about} Found by one or more language models reviewing the change; each result says which "
                    "models found it and how severe each judged it.",
            "markdown": f"**{category}**: {about}\n\nFound by one or more language models reviewing the change; "
                        "each result lists the models that found it (`found_by`), their agreement, and each "
                        "model's severity. See the explanation and suggestion in the result message.",
        },
        "helpUri": INFORMATION_URI,
        "defaultConfiguration": {"level": LEVELS[worst]},
        "properties": props,
    }


def _message(m: MergedFinding) -> str:
    lead = next((x.finding for x in m.members if x.finding.title == m.title), m.members[0].finding)
    text = m.title.rstrip(".") + "."
    if lead.explanation:
        text += " " + lead.explanation
    if lead.suggestion:
        text += f" Suggestion: {lead.suggestion}"
    return f"{text} (found by {m.agreement}/{m.answered} models: {', '.join(m.found_by)})"


def to_sarif(merged: Sequence[MergedFinding], *, tool_version: str = __version__) -> dict[str, Any]:
    """A SARIF 2.1.0 log (a JSON-serialisable dict) with one run holding every merged finding."""
    worst: dict[str, Severity] = {}
    for m in merged:
        if m.category not in worst or severity_rank(m.severity) > severity_rank(worst[m.category]):
            worst[m.category] = m.severity
    order = sorted(worst, key=lambda c: (CATEGORIES.index(c) if c in CATEGORIES else len(CATEGORIES), c))
    index = {c: i for i, c in enumerate(order)}
    results = []
    for m in merged:
        results.append({
            "ruleId": f"review/{m.category}",
            "ruleIndex": index[m.category],
            "level": LEVELS[m.severity],
            "message": {"text": _message(m)},
            "locations": [{
                "physicalLocation": {
                    "artifactLocation": {"uri": quote(m.file, safe="/"), "uriBaseId": "%SRCROOT%"},
                    "region": {"startLine": m.start_line, "endLine": m.end_line},
                }
            }],
            "partialFingerprints": {FINGERPRINT_KEY: fingerprint(m.file, m.category, m.title)},
            "properties": {
                "severity": m.severity,
                "agreement": f"{m.agreement}/{m.answered}",
                "found_by": m.found_by,
                "severity_by_model": m.severities,
            },
        })
    return {
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": TOOL_NAME,
                "version": tool_version,
                "semanticVersion": tool_version,
                "informationUri": INFORMATION_URI,
                "rules": [_rule(c, worst[c]) for c in order],
            }},
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    }
