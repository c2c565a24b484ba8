"""`diff` context: validate the spec, run `git diff`, and turn its output into readable, secret-free sections.

Specs: `"working"` = everything not committed (index and working tree) vs HEAD, with untracked files named in a
note (their content is not in `git diff`; attach them with `files`); `"staged"` = the index vs HEAD; otherwise a
ref (`main`: that commit vs the working tree) or a range (`A..B`, `A...B`). Refs are checked for syntax (no leading
`-`, git's ref-name rules plus `~N`/`^N` suffixes) and then for existence, before `git diff` runs.

Each changed file becomes a section headed `## modified|added|deleted|renamed|binary PATH`. A section whose path is
outside the roots or deny-listed, or whose text holds a secret, is left out and reported as skipped.
"""

from __future__ import annotations

import codecs
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from . import git
from .denylist import secret_file_kind
from .paths import MAGIC, inside, is_tool_folder, is_tool_name, parse_spec, roots_text
from .secrets import Finding, describe, scan
from .types import ContextError, Limits, Skipped

WORKING = "working"
STAGED = "staged"
MAX_UNTRACKED_LISTED = 20

_NAME = re.compile(
    r"(?!.*(?:\.\.|@\{|//|/\.|\.lock/|\.lock$|[/.]$))"  # git check-ref-format rules
    r"(?![/.])"  # no leading / or .
    r"[^\x00-\x20\x7f~^:?*\[\\]+"  # no control chars, space, ~ ^ : ? * [ backslash
    r"(?:[~^][0-9]*)*"  # revision suffixes: HEAD~3, v1^2
)


def check_ref(ref: str) -> str:
    """One side of a spec, syntactically safe to hand to git (never an option)."""
    if not ref:
        raise ContextError("an empty ref in diff; give e.g. main, HEAD~3..HEAD or a commit hash")
    if ref.startswith("-"):
        raise ContextError(f"refusing ref {ref!r}: refs cannot start with '-'")
    if ref != "@" and not _NAME.fullmatch(ref):
        raise ContextError(
            f"{ref!r} is not a valid ref: use a branch, tag or commit (main, v1.2, 3f2c1a9), optionally with ~N or ^N"
        )
    return ref


def split_spec(spec: str) -> tuple[str, ...]:
    """A spec's refs: ("main",), ("A", "B") for A..B, ("A", "...", "B") for A...B."""
    for sep in ("...", ".."):
        if sep in spec:
            a, _, b = spec.partition(sep)
            return (check_ref(a), sep, check_ref(b)) if sep == "..." else (check_ref(a), check_ref(b))
    return (check_ref(spec),)


@dataclass
class DiffResult:
    text: str  # labelled text for the model
    skipped: list[Skipped] = field(default_factory=list)


def _toplevel(cwd: Path, limits: Limits) -> Path:
    res = git.run(["rev-parse", "--show-toplevel"], cwd, timeout_s=limits.git_timeout_s, cap=65536)
    if res.returncode != 0:
        why = f" ({res.stderr.splitlines()[-1]})" if "dubious ownership" in res.stderr else ""
        raise ContextError(f"{cwd} is not a git repository; diff needs one{why}")
    return Path(os.fsdecode(res.stdout).strip()).resolve()


def _verify(ref: str, top: Path, limits: Limits) -> None:
    res = git.run(["rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}"], top,
                  timeout_s=limits.git_timeout_s, cap=65536)
    if res.returncode != 0:
        raise ContextError(f"unknown ref {ref!r}: no branch, tag or commit of that name in {top}")


def _pathspecs(files: Sequence[str], roots: Sequence[Path], top: Path) -> list[str]:
    """`files` as literal/glob pathspecs from the repository top; each must lie inside a root (it may be deleted)."""
    out: list[str] = []
    for raw in files:
        spec = parse_spec(raw, roots[0])
        magic = MAGIC.search(spec.path) is not None
        parts = Path(spec.path).parts
        n = next((i for i, p in enumerate(parts) if MAGIC.search(p)), len(parts)) if magic else len(parts)
        literal = Path(os.path.realpath(roots[0] / Path(*parts[:n]) if n else roots[0]))
        if inside(literal, roots) is None:
            raise ContextError(
                f"{raw!r} resolves to {literal}, outside the workspace roots ({roots_text(roots)})"
            )
        if not (literal == top or literal.is_relative_to(top)):
            raise ContextError(f"{raw!r} is outside the git repository at {top}")
        rel = literal.relative_to(top).as_posix()
        if magic:
            rest = "/".join(parts[n:])
            out.append(f":(top,glob){rel + '/' if rel != '.' else ''}{rest}")
        else:
            out.append(f":(top,literal){rel}")
    return out


def run_diff(
    roots: Sequence[Path], spec: str, files: Sequence[str], limits: Limits, known_secrets: Sequence[str]
) -> DiffResult:
    """The diff for `spec` as labelled text, narrowed to `files` when given, secret-scanned per file."""
    spec = spec.strip()
    if spec == WORKING:
        mode: list[str] = ["HEAD"]
        refs: tuple[str, ...] = ("HEAD",)
    elif spec == STAGED:
        mode, refs = ["--cached"], ()
    else:
        parts = split_spec(spec)
        refs = tuple(p for p in parts if p != "...")
        mode = [spec]  # validated above: never an option, never more than one argument
    top = _toplevel(roots[0], limits)
    for ref in refs:
        if spec == WORKING:
            res = git.run(["rev-parse", "--verify", "--quiet", "HEAD^{commit}"], top,
                          timeout_s=limits.git_timeout_s, cap=65536)
            if res.returncode != 0:
                raise ContextError("the repository has no commits yet; use diff='staged' or attach files instead")
        else:
            _verify(ref, top, limits)
    specs = _pathspecs(files, roots, top) if files else _root_specs(roots, top)
    args = ["diff", "--no-ext-diff", "--no-textconv", "--no-color", "--no-relative", "-M", "--src-prefix=a/",
            "--dst-prefix=b/", "--submodule=short", *mode, "--", *specs]
    res = git.run(args, top, timeout_s=limits.git_timeout_s, cap=limits.max_diff_bytes)
    if res.truncated:
        raise ContextError(
            f"git diff {spec} is over {limits.max_diff_bytes:,} bytes; narrow it with files (paths or globs) "
            "or a smaller range"
        )
    if res.returncode != 0:
        raise ContextError(f"git diff {spec} failed: {res.stderr.splitlines()[-1] if res.stderr else 'no message'}")
    out = DiffResult("")
    sections = []
    for sec in _sections(res.stdout.decode("utf-8", "replace")):
        kept = _vet(sec, top, roots, known_secrets, out.skipped)
        if kept is not None:
            sections.append(kept)
    body = "\n".join(sections) if sections else "(no changes)"
    note = _untracked_note(top, roots, specs, limits) if spec == WORKING else ""
    out.text = f"=== git diff {spec} ===\n{body}{note}"
    return out


def _root_specs(roots: Sequence[Path], top: Path) -> list[str]:
    """Without `files`, a root below the repository top limits the diff to itself (none needed at the top)."""
    if any(top.is_relative_to(r) for r in roots):
        return []
    return [f":(top,literal){r.relative_to(top).as_posix()}" for r in roots if r.is_relative_to(top)]


@dataclass
class _Section:
    old: str
    new: str
    status: str
    lines: list[str]  # the hunks ("@@ ..." and body), or a one-line binary note
    extra: list[str]  # readable header notes (similarity, mode change)

    @property
    def path(self) -> str:
        return self.new if self.status != "deleted" else self.old

    def render(self) -> str:
        name = f"{self.old} → {self.new}" if self.status == "renamed" else self.path
        head = " ".join([f"## {self.status} {name}", *self.extra])
        return "\n".join([head, *self.lines])


def _unquote(p: str) -> str:
    """Git C-quotes odd names ("a\\tb"); prefixes a/ and b/ are stripped by the caller."""
    p = p.rstrip("\t")
    if len(p) >= 2 and p[0] == '"' and p[-1] == '"':
        raw = codecs.escape_decode(p[1:-1].encode("utf-8"))[0]
        return bytes(raw).decode("utf-8", "replace")
    return p


def _strip_prefix(p: str) -> str:
    p = _unquote(p)
    return p[2:] if p[:2] in ("a/", "b/") else p


def _sections(text: str) -> list[_Section]:
    out: list[_Section] = []
    chunks = re.split(r"^(?=diff --git |\* Unmerged path )", text, flags=re.MULTILINE)
    for chunk in chunks:
        if chunk.startswith("* Unmerged path "):  # --cached during a merge: the conflict is not in the index
            name = _unquote(chunk.split("\n", 1)[0][len("* Unmerged path ") :])
            out.append(_Section(name, name, "unmerged", ["(merge conflict not resolved yet; not in the index)"], []))
            continue
        if not chunk.startswith("diff --git "):
            continue
        lines = chunk.rstrip("\n").split("\n")
        header_end = next((i for i, ln in enumerate(lines) if ln.startswith(("@@", "Binary files", "GIT binary"))),
                          len(lines))
        header, body = lines[:header_end], lines[header_end:]
        old = new = ""
        status = "modified"
        extra: list[str] = []
        for ln in header[1:]:
            if ln.startswith("rename from "):
                old, status = ln[12:], "renamed"
            elif ln.startswith("rename to "):
                new = ln[10:]
            elif ln.startswith("similarity index "):
                extra.append(f"({ln[17:]} similar)")
            elif ln.startswith("new file mode"):
                status = "added"
            elif ln.startswith("deleted file mode"):
                status = "deleted"
            elif ln.startswith("old mode "):
                extra.append(f"(mode {ln[9:]}")
            elif ln.startswith("new mode "):
                extra.append(f"→ {ln[9:]})")
            elif ln.startswith("--- ") and ln[4:] != "/dev/null":
                old = old or _strip_prefix(ln[4:])
            elif ln.startswith("+++ ") and ln[4:] != "/dev/null":
                new = new or _strip_prefix(ln[4:])
        if status == "renamed":
            old, new = _unquote(old), _unquote(new)
        if not old and not new:
            old = new = _header_path(header[0])
        old, new = old or new, new or old
        if body and body[0].startswith(("Binary files", "GIT binary")):
            body = ["(binary file changed)"]
            status = {"modified": "binary"}.get(status, status)
        out.append(_Section(old, new, status, body, extra))
    return out


def _header_path(line: str) -> str:
    """`diff --git a/X b/X` (same name both sides, as for binary or mode-only changes) -> X."""
    s = line[len("diff --git ") :]
    if s.startswith('"'):
        end = s.find('" ', 1)
        return _strip_prefix(s[: end + 1]) if end > 0 else s
    half = (len(s) - 1) // 2
    return _strip_prefix(s[:half])


def _new_side_lines(sec: _Section) -> tuple[str, list[int]]:
    """The section's content without +/-/space prefixes, and each line's number in the file it came from."""
    texts: list[str] = []
    numbers: list[int] = []
    old_no = new_no = 0
    for ln in sec.lines:
        m = re.match(r"@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@", ln)
        if m:
            old_no, new_no = int(m.group(1)), int(m.group(2))
            texts.append(ln)
            numbers.append(new_no)
            continue
        body = ln[1:]
        if ln.startswith("\\"):  # "\ No newline at end of file"
            continue
        if ln.startswith("-"):
            texts.append(body)
            numbers.append(old_no)
            old_no += 1
        elif ln.startswith("+"):
            texts.append(body)
            numbers.append(new_no)
            new_no += 1
        else:
            texts.append(body)
            numbers.append(new_no)
            old_no += 1
            new_no += 1
    return "\n".join(texts), numbers


def _vet(
    sec: _Section, top: Path, roots: Sequence[Path], known: Sequence[str], skipped: list[Skipped]
) -> str | None:
    for p in dict.fromkeys((sec.old, sec.new)):
        real = Path(os.path.realpath(top / p))
        if inside(real, roots) is None:
            skipped.append(Skipped(p, "outside the workspace roots; left out of the diff"))
            return None
        what = secret_file_kind(p)
        if what is not None:
            skipped.append(Skipped(p, f"secret-bearing file name ({what}); left out of the diff"))
            return None
    content, numbers = _new_side_lines(sec)
    findings = scan(content, sec.path, known) if content else []
    if not findings and sec.status == "renamed":
        findings = scan(f"{sec.old}\n{sec.new}", "", known)
    if findings:
        line = numbers[findings[0].line - 1] if findings[0].line <= len(numbers) else findings[0].line
        first = Finding(line, findings[0].kind)
        skipped.append(Skipped(sec.path, describe([first, *findings[1:]], " of the file (in the diff)")
                               + "; left out of the diff"))
        return None
    return sec.render()


def _tool_folder(top: Path, name: str) -> bool:
    """Dependency, virtualenv, cache or build output: not worth naming (the same folders walks skip)."""
    return any(is_tool_name(part) for part in Path(name).parts) or is_tool_folder(top / name)


def _untracked_note(top: Path, roots: Sequence[Path], specs: Sequence[str], limits: Limits) -> str:
    res = git.run(["ls-files", "--others", "--exclude-standard", "--directory", "--no-empty-directory", "-z", "--",
                   *specs], top,
                  timeout_s=limits.git_timeout_s, cap=1_000_000)
    if res.returncode != 0:
        return ""
    names = [n for n in os.fsdecode(res.stdout).split("\0") if n]
    names = [n for n in names if inside(Path(os.path.realpath(top / n)), roots) and not _tool_folder(top, n)]
    if not names:
        return ""
    shown = ", ".join(names[:MAX_UNTRACKED_LISTED])
    more = f" and {len(names) - MAX_UNTRACKED_LISTED} more" if len(names) > MAX_UNTRACKED_LISTED else ""
    return f"\n\nUntracked files (not in this diff; attach them with files to include them): {shown}{more}"
