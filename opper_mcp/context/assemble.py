"""`gather`: files and diff in, labelled parts plus an account of what was attached and skipped out."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from . import files as reader
from .denylist import secret_file_kind
from .diff import run_diff
from .estimate import estimate_binary_tokens, estimate_tokens
from .paths import Target, collect, resolve_roots
from .secrets import Finding, describe, scan
from .types import Attached, ContextError, Gathered, Limits, Part, Skipped

BIGGEST_LISTED = 5
MAX_SKIPPED_LISTED = 50


def label(display: str, text: reader.TextFile, ranged: bool) -> str:
    """`=== path (lines A-B of N) ===`, then each line as `N| text` (right-aligned) so answers can cite lines."""
    if not text.text and text.last < text.first:
        return f"=== {display} (empty file) ==="
    of = f" of {text.total}" if text.total is not None and (ranged or text.total != text.last) else ""
    whole = ", whole file" if not ranged else ""
    width = len(str(text.last))
    body = "\n".join(f"{n:>{width}}| {ln}" for n, ln in enumerate(text.text.split("\n"), text.first))
    return f"=== {display} (lines {text.first}-{text.last}{of}{whole}) ===\n{body}"


def _attach_file(t: Target, limits: Limits, known: Sequence[str]) -> tuple[Attached, Part] | Skipped:
    what = secret_file_kind(t.display) or secret_file_kind(t.path.as_posix())
    if what is not None:
        return Skipped(t.display, f"secret-bearing file name ({what}); never sent")
    try:
        got = reader.read(t, limits)
    except reader.Unreadable as exc:
        return Skipped(t.display, str(exc))
    if isinstance(got, reader.BinaryFile):
        b64_chars = 4 * -(-len(got.data) // 3)
        part = Part(kind=got.kind, data=got.data, mime=got.mime, path=t.display)
        return Attached(t.display, None, b64_chars, estimate_binary_tokens(got.kind, got.data), got.kind), part
    findings = scan(got.text, t.display, known)
    if findings:
        shifted = [Finding(f.line + got.first - 1, f.kind) for f in findings]
        return Skipped(t.display, describe(shifted) + "; file left out")
    text = label(t.display, got, t.start is not None)
    lines = f"{got.first}-{got.last}" if t.start is not None else None
    return Attached(t.display, lines, len(text), estimate_tokens(text), "file"), Part(kind="text", text=text,
                                                                                       path=t.display)


def _size(part: Part) -> int:
    return len(part.text.encode("utf-8")) if part.kind == "text" else len(part.data)


def gather(
    roots: Sequence[Path],
    files: Sequence[str] = (),
    diff: str | None = None,
    *,
    limits: Limits = Limits(),  # noqa: B008 - frozen, shared safely
    known_secrets: Sequence[str] = (),
) -> Gathered:
    """Collect, confine, read, scan and size the requested context. Sync and blocking (run it in a worker thread).

    roots[0] is the base for relative paths. With `diff`, `files` narrows the diff instead of attaching files.
    Raises ContextError for input to fix (outside the roots, unknown ref, too much); files that cannot or must
    not be sent are listed in `skipped` with the reason.
    """
    if isinstance(files, str):  # one path given bare: never iterate its characters
        files = [files]
    real_roots = resolve_roots(roots)
    out = Gathered()
    if diff is not None:
        if not diff.strip():
            raise ContextError("diff is empty; use 'working', 'staged', a ref (main) or a range (HEAD~3..HEAD)")
        result = run_diff(real_roots, diff, files, limits, known_secrets)
        out.skipped.extend(result.skipped)
        out.parts.append(Part(kind="text", text=result.text, path=f"git diff {diff.strip()}"))
        out.attached.append(Attached(f"git diff {diff.strip()}", None, len(result.text),
                                     estimate_tokens(result.text), "diff"))
        if (total := _size(out.parts[0])) > limits.max_total_bytes:
            raise ContextError(_over_total(out, total, limits))
    else:
        targets, skipped = collect(real_roots, files, limits)
        out.skipped.extend(skipped)
        total = 0
        for i, t in enumerate(targets):
            got = _attach_file(t, limits, known_secrets)
            if isinstance(got, Skipped):
                out.skipped.append(got)
                continue
            out.attached.append(got[0])
            out.parts.append(got[1])
            total += _size(got[1])
            if total > limits.max_total_bytes:  # stop reading now: the rest cannot fit either
                raise ContextError(_over_total(out, total, limits, unread=len(targets) - i - 1))
    out.skipped = _bounded(out.skipped)
    return out


def _bounded(skipped: list[Skipped]) -> list[Skipped]:
    """At most MAX_SKIPPED_LISTED entries, secrets first; the rest summarised by reason in one last entry."""
    if len(skipped) <= MAX_SKIPPED_LISTED:
        return skipped
    ordered = sorted(skipped, key=lambda s: not s.reason.startswith("secret"))  # stable: order kept otherwise
    shown, rest = ordered[: MAX_SKIPPED_LISTED - 1], ordered[MAX_SKIPPED_LISTED - 1 :]
    counts = Counter(s.reason.split(";")[0].split(" (")[0] for s in rest)
    summary = ", ".join(f"{reason}: {n}" for reason, n in counts.most_common())
    return [*shown, Skipped(f"({len(rest)} more)", summary)]


def _over_total(out: Gathered, total: int, limits: Limits, unread: int = 0) -> str:
    sizes = sorted(zip(out.attached, out.parts, strict=True), key=lambda ap: -_size(ap[1]))[:BIGGEST_LISTED]
    biggest = ", ".join(
        f"{a.path}{':' + a.lines if a.lines else ''} ({_size(p):,} bytes)" for a, p in sizes
    )
    more = f" with {unread:,} more files not read yet" if unread else ""
    return (
        f"the context is {total:,} bytes{more}, over the limit of {limits.max_total_bytes:,}; biggest: {biggest}. "
        "Narrow it: line ranges (path:START-END), fewer files or a narrower glob, or a smaller diff "
        "(diff narrowed by files, or a shorter range)"
    )


