"""What a reviewing model answers: `Finding`, the JSON schema it answers in, and a lenient parser for its answer.

The schema is strict (every object closed, every property required, optional values nullable) because
OpenAI-style `json_schema` with `strict: true` refuses anything else, and a strict schema is what makes most
models answer in shape. Not every model honours it, so `parse` forgives the slips models make (numbers as
strings, `High` for `high`, swapped or missing end lines, a ```json fence, prose around the JSON) and drops
only findings it cannot read, saying which and why.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

Severity = Literal["critical", "high", "medium", "low", "info"]
SEVERITIES: tuple[Severity, ...] = get_args(Severity)  # most severe first
CATEGORIES = ("bug", "security", "performance", "tests", "maintainability", "style", "docs")

_SEVERITY_WORDS: dict[str, Severity] = {
    "blocker": "critical", "severe": "critical", "major": "high", "error": "high", "moderate": "medium",
    "warning": "medium", "warn": "medium", "minor": "low", "trivial": "info", "note": "info", "nit": "info",
    "informational": "info", "information": "info",
}
_ALIASES = {"path": "file", "filename": "file", "line": "start_line", "start": "start_line", "end": "end_line",
            "description": "explanation", "message": "explanation", "fix": "suggestion"}
_RANGE = re.compile(r"\s*(?:lines?\s*|l)?(\d+)\s*[-\u2013:]\s*(?:l)?(\d+)\s*", re.I)
_FENCE = re.compile(r"```[A-Za-z0-9_-]*\s*\n?(.*?)```", re.S)
MAX_PROBLEMS_LISTED = 3


def severity_rank(severity: Severity) -> int:
    """4 for critical down to 0 for info: larger is more severe."""
    return len(SEVERITIES) - 1 - SEVERITIES.index(severity)


class Finding(BaseModel):
    """One problem one model found: where (new-side lines), how bad, what kind, and what to do."""

    model_config = ConfigDict(frozen=True, extra="ignore", str_strip_whitespace=True)

    file: str = Field(min_length=1)
    start_line: int = Field(ge=1)
    end_line: int = Field(ge=1)
    severity: Severity
    category: str = Field(min_length=1)
    title: str = Field(min_length=1)
    explanation: str = ""
    suggestion: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _lenient(cls, data: Any) -> Any:
        """Aliases, a missing end line (= start) and a reversed range (swapped)."""
        if not isinstance(data, dict):
            return data
        out = {_ALIASES.get(k, k): v for k, v in data.items() if k not in _ALIASES or _ALIASES[k] not in data}
        start, end = _line(out.get("start_line")), _line(out.get("end_line"))
        if isinstance(start, str) and end is None and (m := _RANGE.fullmatch(start)):  # "12-14" in one field
            start, end = int(m.group(1)), int(m.group(2))
        if start is not None:
            out["start_line"] = start
            out["end_line"] = start if end is None else end
            if isinstance(start, int) and isinstance(end, int) and end < start:
                out["start_line"], out["end_line"] = end, start
        return out

    @field_validator("severity", mode="before")
    @classmethod
    def _severity(cls, v: Any) -> Any:
        if isinstance(v, str):
            word = v.strip().lower()
            return _SEVERITY_WORDS.get(word, word)
        return v

    @field_validator("category", mode="before")
    @classmethod
    def _category(cls, v: Any) -> Any:
        return v.strip().lower() if isinstance(v, str) else v

    @field_validator("suggestion", mode="before")
    @classmethod
    def _no_empty_suggestion(cls, v: Any) -> Any:
        return None if isinstance(v, str) and not v.strip() else v


def _line(v: Any) -> Any:
    """`12`, `"12"`, `"L12"`, `"line 12"`, `12.0` -> 12; None stays None; anything else is left to fail."""
    if isinstance(v, bool) or v is None:
        return v
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, str):
        m = re.fullmatch(r"\s*(?:line\s*|l)?(\d+)\s*", v, re.I)
        return int(m.group(1)) if m else v
    return v


def _text_prop(description: str) -> dict[str, Any]:
    return {"type": "string", "description": description}


FINDINGS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["findings"],
    "properties": {
        "findings": {
            "type": "array",
            "description": "Real problems in the code shown, most severe first; an empty list when there are none.",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["file", "start_line", "end_line", "severity", "category", "title", "explanation",
                             "suggestion"],
                "properties": {
                    "file": _text_prop("Path exactly as shown (the new path of a renamed file)."),
                    "start_line": {"type": "integer", "description": "First line, numbered in the new file."},
                    "end_line": {"type": "integer", "description": "Last line (= start_line for one line)."},
                    "severity": {"type": "string", "enum": list(SEVERITIES)},
                    "category": {"type": "string", "enum": list(CATEGORIES)},
                    "title": _text_prop("The problem in under 12 words."),
                    "explanation": _text_prop("Why it is a problem and when it bites; 1-3 sentences."),
                    "suggestion": {"type": ["string", "null"], "description": "The fix, or null."},
                },
            },
        }
    },
}


def _load(raw: str) -> Any:
    """JSON from a model's text: as is, else the first fenced block, else the outermost {...} or [...]."""
    text = raw.strip()
    try:
        return json.loads(text)
    except ValueError as first:
        candidates = [m.group(1).strip() for m in _FENCE.finditer(text)]
        for open_, close in (("{", "}"), ("[", "]")):
            a, b = text.find(open_), text.rfind(close)
            if 0 <= a < b:
                candidates.append(text[a : b + 1])
        for c in candidates:
            try:
                return json.loads(c)
            except ValueError:
                continue
        raise first from None


def parse(raw: str | dict[str, Any] | list[Any]) -> tuple[list[Finding], str | None]:
    """One model's answer -> its findings and a problem (None when all went well).

    A malformed answer gives no findings and says why; a well-formed one with some unreadable findings keeps
    the rest and names the first few dropped (index and field)."""
    if isinstance(raw, str):
        if not raw.strip():
            return [], "empty answer"
        try:
            data: Any = _load(raw)
        except ValueError as exc:
            return [], f"answer is not JSON ({exc}): {raw.strip()[:80]!r}"
    else:
        data = raw
    if isinstance(data, dict):
        if "findings" not in data:
            return [], f"answer has no 'findings' list (keys: {', '.join(sorted(map(str, data))) or 'none'})"
        items = data["findings"]
        if isinstance(items, str):  # a list sent as JSON text
            try:
                items = json.loads(items)
            except ValueError:
                return [], "'findings' is a string that is not a JSON list"
    else:
        items = data
    if items is None:
        return [], None
    if not isinstance(items, list):
        return [], f"'findings' is {type(items).__name__}, not a list"
    found: list[Finding] = []
    dropped: list[str] = []
    for i, item in enumerate(items):
        try:
            found.append(Finding.model_validate(item))
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"]) or "finding"
            dropped.append(f"#{i + 1} {where}: {err['msg'].lower()}")
    if not dropped:
        return found, None
    listed = "; ".join(dropped[:MAX_PROBLEMS_LISTED]) + (" …" if len(dropped) > MAX_PROBLEMS_LISTED else "")
    return found, f"{len(dropped)} of {len(items)} findings unreadable and dropped ({listed})"
