"""Time-bounded regex search over the spec text, reporting matching lines with their location.

One `regex.finditer` over the whole text (MULTILINE) with a timeout: a single C-level scan is
much faster than a Python loop over lines, and the timeout turns a catastrophic pattern from
a hung server into a clear error.
"""

from __future__ import annotations

import regex

from opper_mcp.openapi.errors import SpecPatternError, SpecPatternTimeout
from opper_mcp.openapi.index import SpecIndex
from opper_mcp.openapi.results import GrepMatch, GrepResult

__all__ = ["GrepMatch", "GrepResult", "SpecPatternError", "grep"]

MAX_PATTERN_CHARS = 500
MAX_CONTEXT = 10
MAX_MATCHES = 100
LINE_CAP = 300
# regex.compile writes counted repeats out: `a{100000000}`, `((a{1000}){1000}){1000}` or 160 groups
# repeated {10000} times take gigabytes and seconds to minutes before the match timeout even starts.
# Bound the size of the pattern with its repeats written out instead.
MAX_EXPANDED_ATOMS = 10_000
_REPEAT = regex.compile(r"\{\s*(\d*)\s*(?:,\s*(\d*)\s*)?\}")
_VERBOSE = regex.compile(r"\(\?[\^\w-]*x")  # (?x) would let `{1 000 000}` or comments hide a count


def grep(
    index: SpecIndex,
    pattern: str,
    *,
    ignore_case: bool = True,
    context: int = 2,
    max_matches: int = 20,
    timeout_s: float = 1.0,
) -> GrepResult:
    """Lines of the spec matching `pattern`; a match spanning lines counts for its first line.

    Pure and thread-safe; the regex releases the GIL while it scans, so a slow pattern can run in a
    worker thread. The `grep_spec` tool remembers its rendered results per index.
    """
    _validate(pattern, context, max_matches)
    compiled = _compile(pattern, ignore_case)
    lines = _matching_lines(index, compiled, timeout_s)
    found = GrepResult(
        pattern=pattern,
        total_matches=len(lines),
        truncated=len(lines) > max_matches,
        matches=[_match(index, n, context) for n in lines[:max_matches]],
        next_hint=_hint(len(lines), max_matches, ignore_case),
    )
    return found


def _validate(pattern: str, context: int, max_matches: int) -> None:
    if not pattern:
        raise SpecPatternError("empty pattern: give a regular expression to search the spec for")
    if len(pattern) > MAX_PATTERN_CHARS:
        raise SpecPatternError(f"pattern is {len(pattern)} characters; the limit is {MAX_PATTERN_CHARS}")
    if not 0 <= context <= MAX_CONTEXT:
        raise SpecPatternError(f"context must be between 0 and {MAX_CONTEXT}, got {context}")
    if not 1 <= max_matches <= MAX_MATCHES:
        raise SpecPatternError(f"max_matches must be between 1 and {MAX_MATCHES}, got {max_matches}")
    if _VERBOSE.search(pattern):
        raise SpecPatternError("verbose mode (?x) is not supported: write the pattern without it")
    if _expanded_size(pattern) > MAX_EXPANDED_ATOMS:
        raise SpecPatternError(
            f"pattern repeats too much (more than {MAX_EXPANDED_ATOMS} elements once its {{n}} counts are "
            "written out); use + or * instead of large counts"
        )


def _expanded_size(pattern: str) -> int:
    """Atoms in `pattern` with every `{m}`/`{m,n}`/`{m,}`/`{,n}` repeat written out (the larger bound
    counts). Errs on the large side: a group counts everything in it, a class counts as one atom."""
    frames = [[0, 0]]  # per open group: [atoms so far, atoms of the last element]
    i, n = 0, len(pattern)
    while i < n:
        frame, char = frames[-1], pattern[i]
        count = _REPEAT.match(pattern, i) if char == "{" else None
        if count is not None:
            times = max([1, *(int(g) for g in count.groups() if g)])
            frame[0] += frame[1] * (times - 1)
            frame[1] *= times
            i = count.end()
            continue
        if char in "*+?":  # repeats without writing out: the last element stays what a {n} would repeat
            i += 1
            continue
        if char == "(":
            frames.append([0, 0])
            i += 1
            continue
        if char == ")" and len(frames) > 1:
            inner = frames.pop()[0]
            frames[-1][0] += inner
            frames[-1][1] = inner
            i += 1
            continue
        if char == "[":  # one class, up to its closing bracket (a leading ] or ^] is literal)
            j = i + 1 + (pattern.startswith("^", i + 1))
            j += pattern.startswith("]", j)
            while j < n and pattern[j] != "]":
                j += 2 if pattern[j] == "\\" else 1
            i = j + 1
        else:
            i += 2 if char == "\\" else 1
        frame[0] += 1
        frame[1] = 1
    return sum(f[0] for f in frames)


def _compile(pattern: str, ignore_case: bool) -> regex.Pattern[str]:
    flags = regex.MULTILINE | (regex.IGNORECASE if ignore_case else 0)
    try:
        return regex.compile(pattern, flags, cache_pattern=False)
    except (regex.error, ValueError, OverflowError) as exc:
        raise SpecPatternError(f"invalid regular expression: {exc}") from exc


def _matching_lines(index: SpecIndex, compiled: regex.Pattern[str], timeout_s: float) -> list[int]:
    """Distinct 1-based line numbers where a match starts, in order."""
    found: list[int] = []
    last = 0
    line_of = index.line_of_offset
    try:
        for m in compiled.finditer(index.text, timeout=timeout_s, concurrent=True):
            n = line_of(m.start())
            if n != last and n <= len(index.lines):
                found.append(n)
                last = n
    except TimeoutError as exc:
        raise SpecPatternTimeout(
            f"pattern took longer than {timeout_s:.1f} s (catastrophic backtracking?); simplify it"
        ) from exc
    return found


def _cap(text: str) -> str:
    return text if len(text) <= LINE_CAP else text[:LINE_CAP] + "…"


def _match(index: SpecIndex, line_no: int, context: int) -> GrepMatch:
    lines = index.lines
    i = line_no - 1
    return GrepMatch(
        line=line_no,
        text=_cap(lines[i]),
        location=index.location(line_no).compact(),
        before=[_cap(s) for s in lines[max(0, i - context) : i]],
        after=[_cap(s) for s in lines[i + 1 : i + 1 + context]],
    )


def _hint(total: int, max_matches: int, ignore_case: bool) -> str | None:
    if total == 0:
        case = "case-insensitive" if ignore_case else "case-sensitive"
        return (
            f"no line matches ({case} regular expression over the raw YAML); try a shorter pattern, "
            "or read_spec with an operationId, 'METHOD /path' or schema name"
        )
    if total > max_matches:
        return (
            f"showing {max_matches} of {total} matching lines; narrow the pattern or raise max_matches (≤{MAX_MATCHES})"
        )
    return None
