"""The findings schema models answer in, and the parser that reads their answers."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from opper_mcp.review.findings import CATEGORIES, FINDINGS_SCHEMA, SEVERITIES, Finding, parse

GOOD = {"file": "app/db.py", "start_line": 42, "end_line": 43, "severity": "high", "category": "security",
        "title": "SQL injection", "explanation": "f-string in the query", "suggestion": None}


def _objects(schema: Any) -> list[dict[str, Any]]:
    """Every object schema inside `schema`."""
    out: list[dict[str, Any]] = []
    if isinstance(schema, dict):
        if schema.get("type") == "object":
            out.append(schema)
        for v in schema.values():
            out.extend(_objects(v))
    elif isinstance(schema, list):
        for v in schema:
            out.extend(_objects(v))
    return out


def test_schema_is_valid_and_strict_in_the_openai_sense() -> None:
    jsonschema.Draft202012Validator.check_schema(FINDINGS_SCHEMA)
    objects = _objects(FINDINGS_SCHEMA)
    assert len(objects) == 2
    for obj in objects:  # strict mode: closed objects, every property required
        assert obj["additionalProperties"] is False
        assert sorted(obj["required"]) == sorted(obj["properties"])
    item = FINDINGS_SCHEMA["properties"]["findings"]["items"]
    assert item["properties"]["severity"]["enum"] == list(SEVERITIES)
    assert item["properties"]["category"]["enum"] == list(CATEGORIES)
    assert item["properties"]["suggestion"]["type"] == ["string", "null"]
    assert len(json.dumps(FINDINGS_SCHEMA)) < 1500  # it is sent with every request


def test_schema_accepts_what_parse_reads_and_rejects_extras() -> None:
    v = jsonschema.Draft202012Validator(FINDINGS_SCHEMA)
    assert not list(v.iter_errors({"findings": [GOOD]}))
    assert not list(v.iter_errors({"findings": []}))
    assert list(v.iter_errors({"findings": [{**GOOD, "confidence": 0.9}]}))
    assert list(v.iter_errors({"findings": [{k: x for k, x in GOOD.items() if k != "suggestion"}]}))
    found, problem = parse({"findings": [GOOD]})
    assert problem is None
    assert found == [Finding(**GOOD)]


def test_parse_reads_json_text_fenced_or_with_prose_around() -> None:
    body = json.dumps({"findings": [GOOD]})
    for raw in (body, f"```json\n{body}\n```", f"```\n{body}\n```", f"Here is my review:\n```json\n{body}\n```\nDone.",
                f"Sure! {body} Let me know."):
        found, problem = parse(raw)
        assert problem is None, raw
        assert [f.title for f in found] == ["SQL injection"]


def test_parse_forgives_the_usual_slips() -> None:
    slips = [
        {**GOOD, "start_line": "42", "end_line": "43"},
        {**GOOD, "start_line": 43, "end_line": 42},  # reversed
        {**GOOD, "severity": "HIGH"},
        {**GOOD, "severity": " High "},
        {**GOOD, "category": "Security"},
        {**GOOD, "start_line": "L42", "end_line": "line 43"},
        {**GOOD, "start_line": 42.0, "end_line": 43.0},
    ]
    found, problem = parse({"findings": slips})
    assert problem is None
    assert all((f.start_line, f.end_line, f.severity, f.category) == (42, 43, "high", "security") for f in found)
    (one,), _ = parse({"findings": [{k: v for k, v in GOOD.items() if k != "end_line"}]})
    assert (one.start_line, one.end_line) == (42, 42)  # missing end = start
    (rng,), _ = parse({"findings": [{**{k: v for k, v in GOOD.items() if k != "end_line"}, "start_line": "10-14"}]})
    assert (rng.start_line, rng.end_line) == (10, 14)
    (alias,), _ = parse([{"path": "a.py", "line": 3, "severity": "warning", "category": "bug", "title": "t",
                          "description": "d"}])
    assert (alias.file, alias.start_line, alias.end_line, alias.severity, alias.explanation) == ("a.py", 3, 3,
                                                                                                "medium", "d")
    (blank,), _ = parse({"findings": [{**GOOD, "suggestion": "  "}]})
    assert blank.suggestion is None


def test_parse_says_what_is_wrong_with_malformed_answers() -> None:
    found, problem = parse('{"findings": [{"file": "a.py", "start_line": 3,,}]}')
    assert found == []
    assert problem is not None and problem.startswith("answer is not JSON (")
    assert "line 1 column" in problem
    assert parse("")[1] == "empty answer"
    assert parse("I found no issues.")[1] is not None
    assert parse({"issues": []})[1] == "answer has no 'findings' list (keys: issues)"
    assert parse({"findings": "nope"})[1] == "'findings' is a string that is not a JSON list"
    assert parse({"findings": 3})[1] == "'findings' is int, not a list"
    assert parse({"findings": []}) == ([], None)
    assert parse({"findings": None}) == ([], None)
    assert parse({"findings": json.dumps([GOOD])})[0] == [Finding(**GOOD)]  # a list sent as JSON text


def test_parse_keeps_readable_findings_and_names_the_dropped_ones() -> None:
    items = [GOOD, {**GOOD, "severity": "catastrophic"}, {**GOOD, "start_line": "soon"},
             {k: v for k, v in GOOD.items() if k != "title"}, {**GOOD, "start_line": 0}, "not an object"]
    found, problem = parse({"findings": items})
    assert found == [Finding(**GOOD)]
    assert problem is not None
    assert problem.startswith("5 of 6 findings unreadable and dropped (#2 severity: ")
    assert "#3 start_line" in problem and "#4 title" in problem
    assert problem.endswith("…)")  # only the first few are listed


@pytest.mark.parametrize("bad", [{**GOOD, "file": ""}, {**GOOD, "title": "   "}, {**GOOD, "end_line": -1}])
def test_empty_or_impossible_values_are_refused(bad: dict[str, Any]) -> None:
    found, problem = parse({"findings": [bad]})
    assert found == [] and problem is not None and problem.startswith("1 of 1 findings unreadable")
