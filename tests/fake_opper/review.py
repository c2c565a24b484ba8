"""Reviewing models for the emulator: deterministic findings derived from the code a request carries.

A chat request whose JSON schema asks for `findings` is a review. The emulator reads the code it was sent the
way opper-mcp labels it (`=== path (lines a-b) ===` blocks of numbered lines, `=== git diff … ===` blocks of
unified diff) and reports the lines that carry a planted defect: each model with its own wording, severities
and line offsets, as different real models would. Some models misbehave on purpose: one invents a file and a
line past the end, one answers malformed JSON, one is slow, one fails.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

# (pattern, category, severity, titles per wording, explanation per wording)
DEFECTS: tuple[tuple[re.Pattern[str], str, str, tuple[str, str, str], tuple[str, str, str]], ...] = (
    (re.compile(r"\beval\("), "security", "critical",
     ("eval() runs untrusted input", "Arbitrary code execution through eval", "Avoid eval on user-controlled data"),
     ("eval executes whatever string it is given, so input from a caller runs as code.",
      "Calling eval on this value lets an attacker execute arbitrary Python.",
      "The argument can come from outside; eval turns that into code execution.")),
    (re.compile(r"shell=True"), "security", "high",
     ("Command injection via shell=True", "shell=True with interpolated arguments allows injection",
      "Shell injection risk in subprocess call"),
     ("Passing a string to the shell lets metacharacters in the arguments run other commands.",
      "With shell=True any ; or $() in the value is interpreted by the shell.",
      "The shell parses the command line, so crafted input can inject commands.")),
    (re.compile(r"except(\s+Exception)?\s*:\s*pass\b|except\s*:\s*$"), "bug", "medium",
     ("Exception silently swallowed", "Bare except hides errors", "Errors are caught and ignored"),
     ("The handler discards every error, so failures go unnoticed and leave state inconsistent.",
      "Catching everything and passing hides real bugs, including KeyboardInterrupt for a bare except.",
      "Ignoring the exception means the caller never learns the operation failed.")),
    (re.compile(r"\btime\.sleep\("), "performance", "medium",
     ("Blocking sleep in async code", "time.sleep blocks the event loop", "Synchronous sleep stalls other tasks"),
     ("time.sleep blocks the whole event loop; every other request waits.",
      "In a coroutine this sleep freezes the loop instead of yielding; use anyio.sleep.",
      "A synchronous sleep here stops all concurrent work for its duration.")),
    (re.compile(r"hashlib\.md5\("), "security", "medium",
     ("MD5 used for hashing", "Weak hash algorithm (MD5)", "md5 is not collision resistant"),
     ("MD5 is broken for integrity and password uses; choose SHA-256 or a password hash.",
      "Collisions for MD5 are cheap to produce, so it cannot protect integrity.",
      "An attacker can craft inputs with the same md5; use a modern hash.")),
)


@dataclass(frozen=True)
class Reviewer:
    wording: int  # which title/explanation each defect gets
    offset: int = 0  # added to the line it reports
    widen: int = 0  # reports start-widen..line+widen
    lower: bool = False  # one severity step lower than the planted one
    duplicate: bool = False  # reports its first finding twice, reworded
    invents: bool = False  # adds a finding in a file it was not shown, and one past the end of a real file
    categories: tuple[str, ...] = ("security", "bug", "performance")


REVIEWERS: dict[str, Reviewer] = {
    "anthropic/claude-sonnet-4-5": Reviewer(wording=0),
    "openai/gpt-5": Reviewer(wording=1, offset=1, lower=True, duplicate=True),
    "gemini/gemini-2.5-pro": Reviewer(wording=2, widen=1, invents=True, categories=("security", "bug")),
}
MALFORMED = "mistral/mistral-large-latest"  # answers broken JSON
SLOW = "xai/grok-4"  # answers like the first reviewer, after `FakeOpper.review_delay_s`
FAILING = "deepseek/deepseek-chat"  # answers HTTP 500
INVENTED_FILE = "src/imaginary_module.py"

_LOWER = {"critical": "high", "high": "medium", "medium": "low", "low": "info", "info": "info"}
_FILE_BLOCK = re.compile(r"^=== (?P<path>.+?) \(lines (?P<first>\d+)-(?P<last>\d+)[^)]*\) ===$")
_SECTION = re.compile(r"^## (modified|added|deleted|renamed|binary|unmerged) (.+)$")
_NUMBERED = re.compile(r"^\s*(\d+)\| ?(.*)$")


def prompt_of(messages: list[Any]) -> str:
    """Every text the request carries, one part per line block (labelled blocks start their own line)."""
    texts: list[str] = []
    for m in messages:
        content = m.get("content") if isinstance(m, dict) else None
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):
            texts += [p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)]
    return "\n".join(texts)


def is_review(schema: Any) -> bool:
    props = schema.get("properties") if isinstance(schema, dict) else None
    return isinstance(props, dict) and "findings" in props


def shown_lines(text: str) -> list[tuple[str, int, str]]:
    """(path, new-side line number, code) for every file line and every added diff line in the prompt."""
    out: list[tuple[str, int, str]] = []
    path: str | None = None
    in_diff = False
    new_line = 0
    for raw in text.split("\n"):
        if raw.startswith("=== git diff"):
            in_diff, path = True, None
            continue
        block = _FILE_BLOCK.match(raw)
        if block:
            in_diff, path = False, block.group("path")
            continue
        if in_diff:
            section = _SECTION.match(raw)
            if section:  # opper-mcp's own rendering: `## modified PATH`, `## renamed OLD → NEW (90% similar)`
                status, name = section.group(1), section.group(2)
                path = None if status in ("deleted", "binary") else name.split(" → ")[-1].split(" (")[0]
            elif raw.startswith("+++ "):  # git's own
                target = raw[4:].strip()
                path = None if target == "/dev/null" else target.removeprefix("b/")
            elif raw.startswith("@@"):
                m = re.match(r"@@ -\d+(?:,\d+)? \+(\d+)", raw)
                new_line = int(m.group(1)) if m else 0
            elif path and raw.startswith("+"):
                out.append((path, new_line, raw[1:]))
                new_line += 1
            elif path and raw.startswith(" "):
                new_line += 1
            continue
        numbered = _NUMBERED.match(raw)
        if path and numbered:
            out.append((path, int(numbered.group(1)), numbered.group(2)))
    return out


def findings_for(model: str, prompt: str) -> list[dict[str, Any]]:
    reviewer = REVIEWERS.get(model, REVIEWERS["anthropic/claude-sonnet-4-5"])
    found: list[dict[str, Any]] = []
    lines = shown_lines(prompt)
    last_line: dict[str, int] = {}
    for path, number, _ in lines:
        last_line[path] = max(last_line.get(path, 0), number)
    for path, number, code in lines:
        for pattern, category, severity, titles, explanations in DEFECTS:
            if category not in reviewer.categories or not pattern.search(code):
                continue
            line = number + reviewer.offset
            found.append({
                "file": path,
                "start_line": max(1, line - reviewer.widen),
                "end_line": line + reviewer.widen,
                "severity": _LOWER[severity] if reviewer.lower else severity,
                "category": category,
                "title": titles[reviewer.wording],
                "explanation": explanations[reviewer.wording],
                "suggestion": None,
            })
    if reviewer.duplicate and found:
        again = dict(found[0])
        again["title"] = again["title"] + " (again)"
        found.append(again)
    if reviewer.invents:
        found.append({"file": INVENTED_FILE, "start_line": 42, "end_line": 44, "severity": "high",
                      "category": "bug", "title": "Race condition in cache refresh",
                      "explanation": "Two workers can refresh the cache at once.", "suggestion": None})
        if last_line:
            path = sorted(last_line)[0]
            found.append({"file": path, "start_line": last_line[path] + 500, "end_line": last_line[path] + 502,
                          "severity": "low", "category": "style", "title": "Function too long",
                          "explanation": "Split it up.", "suggestion": None})
    return found


def answer(model: str, prompt: str) -> str:
    """The model's answer text: JSON findings, or for the malformed model a broken JSON document."""
    findings = findings_for(model, prompt)
    if model == MALFORMED:
        return "Here is my review:\n{\"findings\": [{\"file\": \"" + (findings[0]["file"] if findings else "x")
    return json.dumps({"findings": findings})
