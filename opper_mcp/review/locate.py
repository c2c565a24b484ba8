"""What the models were shown, and whether each finding points into it.

A finding on code nobody showed the model is a guess (a hallucinated file, a line past the end, a line outside
every hunk), so it is set aside with a reason rather than reported as if it were on the code. `Shown` records, per
path, the new-side line ranges a model saw: each hunk's new-side range (context lines included) for a diff, the
attached range (or 1..N) for a file. It also records renames, so a finding naming the old path of a renamed file
lands on the new one, and paths that were in the diff without any new-side lines (deleted, binary).

Tolerance, kept small and stated: a finding that overlaps shown lines is located and clamped to the shown part;
one that misses shown lines by at most `LINE_SLACK` lines (models miscount hunk offsets by one or two) is shifted
onto the nearest shown lines. Paths are compared after `normalise`; a path that is not shown as written also
matches when it is the shown path with a git `a/`/`b/` prefix, an absolute or longer path ending in a shown path,
or a unique suffix of one (`db.py` for `app/db.py` when no other shown file ends so).
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from .findings import Finding

Range = tuple[int, int]
LINE_SLACK = 2
MAX_LISTED = 4

_HUNK = re.compile(r"@@ -\d+(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
# `opper_mcp.context.diff` renders each file as `## STATUS PATH [notes]`; accept that text as well as git's own.
_SECTION = re.compile(r"## (modified|added|deleted|renamed|binary|unmerged) (.+?)"
                      r"(?: \(\d+% similar\))?(?: \(mode \S+ → \S+\))?$")


def normalise(path: str) -> str:
    """The comparable form of a path: trimmed, forward slashes, no `./`, no doubled or trailing slashes."""
    p = path.strip().strip("`'\"").replace("\\", "/")
    p = re.sub(r"/{2,}", "/", p)
    p = re.sub(r"(?:^|(?<=/))\./", "", p)
    return p.rstrip("/") if p != "/" else p


@dataclass(frozen=True)
class Shown:
    """Per path, the sorted disjoint new-side line ranges shown; renames old -> new; paths shown without lines."""

    lines: dict[str, tuple[Range, ...]] = field(default_factory=dict)
    renames: dict[str, str] = field(default_factory=dict)
    without_lines: dict[str, str] = field(default_factory=dict)  # path -> why (deleted, binary, rename only)

    def resolve(self, path: str) -> str | None:
        """The shown path a finding's path means, or None (see the module docstring for what matches)."""
        p = normalise(path)
        for q in (p, p[2:] if p[:2] in ("a/", "b/") else None):
            if q is not None and (hit := self._exact(q)) is not None:
                return hit
        known = [*self.lines, *self.without_lines, *self.renames]
        longer = [q for q in known if p.endswith("/" + q)]
        shorter = [q for q in known if q.endswith("/" + p)]
        for group in (longer, shorter):
            if len(group) == 1:
                return self._exact(group[0])
        return None

    def _exact(self, p: str) -> str | None:
        if p in self.lines or p in self.without_lines:
            return p
        return self.renames.get(p)


def combine(*parts: Shown) -> Shown:
    """Everything any part showed (a diff plus attached files, say)."""
    spans: dict[str, list[Range]] = {}
    renames: dict[str, str] = {}
    without: dict[str, str] = {}
    for s in parts:
        for path, ranges in s.lines.items():
            spans.setdefault(path, []).extend(ranges)
        renames.update(s.renames)
        without.update(s.without_lines)
    return Shown({p: _merged(r) for p, r in spans.items()}, renames,
                 {p: why for p, why in without.items() if p not in spans})


def from_files(files: Iterable[tuple[str, int, int]]) -> Shown:
    """Attached files as (path, first line, last line): 1..N for a whole file."""
    spans: dict[str, list[Range]] = {}
    for path, first, last in files:
        if last >= first:
            spans.setdefault(normalise(path), []).append((first, last))
    return Shown({p: _merged(r) for p, r in spans.items()})


def _merged(ranges: Iterable[Range]) -> tuple[Range, ...]:
    out: list[Range] = []
    for a, b in sorted(ranges):
        if out and a <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return tuple(out)


def _unquote(p: str) -> str:
    """Git C-quotes unusual names (`"t\\303\\251st.py"`); a tab ends a name (plain diffs put a date after it)."""
    p = p.split("\t", 1)[0]
    if len(p) >= 2 and p[0] == '"' and p[-1] == '"':
        return bytes(codecs.escape_decode(p[1:-1].encode("utf-8"))[0]).decode("utf-8", "replace")
    return p


def _side(p: str) -> str:
    """A `---`/`+++`/`diff --git` path: unquoted and without its a/ b/ prefix."""
    p = _unquote(p)
    return p[2:] if p[:2] in ("a/", "b/") else p


@dataclass
class _File:
    old: str = ""
    new: str = ""
    status: str = "modified"
    ranges: list[Range] = field(default_factory=list)
    hunks: int = 0


def _header_paths(rest: str) -> tuple[str, str]:
    """`diff --git a/X b/Y` -> (X, Y): exact when quoted or when both names are equal (the usual case)."""
    if rest.startswith('"'):
        end = rest.find('" ', 1)
        if end > 0:
            return _side(rest[: end + 1]), _side(rest[end + 2 :])
    half = (len(rest) - 1) // 2
    if rest[2:half] == rest[half + 3 :]:
        return _side(rest[:half]), _side(rest[half + 1 :])
    a, sep, b = rest.partition(" b/")
    return (_side(a), b) if sep else (_side(rest), _side(rest))


def from_diff(text: str) -> Shown:
    """A unified diff (`git diff` output, or the per-file sections `opper_mcp.context` shows models) -> Shown."""
    files: list[_File] = []
    cur: _File | None = None
    old_left = new_left = 0
    for line in text.splitlines():
        if old_left > 0 or new_left > 0:  # inside a hunk: its counts say where it ends
            tag = line[:1]
            if tag == "\\":
                continue
            if tag in (" ", "") and old_left > 0 and new_left > 0:
                old_left, new_left = old_left - 1, new_left - 1
                continue
            if tag == "-" and old_left > 0:
                old_left -= 1
                continue
            if tag == "+" and new_left > 0:
                new_left -= 1
                continue
            old_left = new_left = 0  # a truncated hunk: read this line as a header
        if line.startswith("diff --git "):
            cur = _File(*_header_paths(line[11:]))
            files.append(cur)
        elif (m := _SECTION.match(line)) is not None:
            status, name = m.group(1), m.group(2)
            old, _, new = name.partition(" → ") if status == "renamed" else (name, "", name)
            cur = _File(old, new or old, "binary" if status == "binary" else status)
            files.append(cur)
        elif line.startswith("--- ") and (cur is None or cur.hunks):  # a plain (non-git) unified diff
            cur = _File()
            files.append(cur)
            _dash(cur, line)
        elif cur is None:
            continue
        elif line.startswith("--- "):
            _dash(cur, line)
        elif line.startswith("+++ "):
            if _unquote(line[4:]) == "/dev/null":
                cur.status = "deleted"
            else:
                cur.new = _side(line[4:])
                cur.old = cur.old or cur.new
        elif line.startswith("rename from "):
            cur.old, cur.status = _unquote(line[12:]), "renamed"
        elif line.startswith("rename to "):
            cur.new, cur.status = _unquote(line[10:]), "renamed"
        elif line.startswith("new file mode"):
            cur.status = "added"
        elif line.startswith("deleted file mode"):
            cur.status = "deleted"
        elif line.startswith(("Binary files ", "GIT binary patch", "(binary file changed)")):
            cur.status = "binary" if cur.status != "deleted" else "deleted"
        elif (h := _HUNK.match(line)) is not None:
            cur.hunks += 1
            old_left = int(h.group(1)) if h.group(1) is not None else 1
            start = int(h.group(2))
            new_left = int(h.group(3)) if h.group(3) is not None else 1
            if new_left > 0:
                cur.ranges.append((start, start + new_left - 1))
    return _shown(files)


def _dash(cur: _File, line: str) -> None:
    if _unquote(line[4:]) == "/dev/null":
        cur.status = "added"
    else:
        cur.old = _side(line[4:])
        cur.new = cur.new or cur.old


def _shown(files: list[_File]) -> Shown:
    spans: dict[str, list[Range]] = {}
    renames: dict[str, str] = {}
    without: dict[str, str] = {}
    for f in files:
        old, new = normalise(f.old or f.new), normalise(f.new or f.old)
        if not new:
            continue
        if f.status == "deleted":
            without[old] = "deleted in the diff: nothing on the new side to point at"
            continue
        if old != new:
            renames[old] = new
        if f.status == "binary":
            without[new] = "a binary file: no lines were shown"
        elif f.ranges:
            spans.setdefault(new, []).extend(f.ranges)
        elif f.hunks:
            without[new] = "only lines removed: nothing on the new side to point at"
        elif f.status != "unmerged":
            without[new] = "in the diff without changed lines (a rename or mode change only)"
    return Shown({p: _merged(r) for p, r in spans.items()}, renames,
                 {p: why for p, why in without.items() if p not in spans})


@dataclass(frozen=True)
class Unlocated:
    """A finding that does not point into what was shown, and why."""

    finding: Finding
    reason: str


def _span(a: int, b: int) -> str:
    return f"{a}" if a == b else f"{a}-{b}"


def _listed(items: list[str]) -> str:
    more = f", … ({len(items) - MAX_LISTED} more)" if len(items) > MAX_LISTED else ""
    return ", ".join(items[:MAX_LISTED]) + more


def place(finding: Finding, shown: Shown) -> Finding | Unlocated:
    """One finding on the shown code (path resolved, lines clamped or shifted within LINE_SLACK) or the reason not."""
    path = shown.resolve(finding.file)
    if path is None:
        return Unlocated(finding, f"file not reviewed: {finding.file} (shown: {_listed(sorted(shown.lines))})"
                         if shown.lines else f"file not reviewed: {finding.file} (no lines were shown)")
    ranges = shown.lines.get(path)
    if not ranges:
        return Unlocated(finding, f"{path}: {shown.without_lines.get(path, 'no lines were shown')}")
    s, e = finding.start_line, finding.end_line
    hit = [r for r in ranges if r[0] <= e and s <= r[1]]
    if hit:
        s, e = max(s, hit[0][0]), min(e, hit[-1][1])
    else:
        gap, shift, r = min((r[0] - e if e < r[0] else s - r[1], r[0] - e if e < r[0] else r[1] - s, r)
                            for r in ranges)
        if gap > LINE_SLACK:
            if s > ranges[-1][1]:
                return Unlocated(finding, f"line {s} past the end of what was shown of {path} "
                                          f"(last shown line {ranges[-1][1]})")
            return Unlocated(finding, f"lines {_span(s, e)} not in what was shown of {path} "
                                      f"(shown: {_listed([_span(a, b) for a, b in ranges])})")
        s, e = max(s + shift, r[0]), min(e + shift, r[1])
    if (path, s, e) == (finding.file, finding.start_line, finding.end_line):
        return finding
    return finding.model_copy(update={"file": path, "start_line": s, "end_line": e})


def locate(findings: Iterable[Finding], shown: Shown) -> tuple[list[Finding], list[Unlocated]]:
    """Split findings into those on shown code (normalised onto it) and the rest, each with its reason."""
    located: list[Finding] = []
    unlocated: list[Unlocated] = []
    for f in findings:
        got = place(f, shown)
        if isinstance(got, Unlocated):
            unlocated.append(got)
        else:
            located.append(got)
    return located, unlocated
