"""From `files` arguments to a confined, deterministic list of targets: parsing, resolution, globs, walks.

Every path is resolved with symlinks followed and must lie inside one of the roots. Walks never follow directory
symlinks (so a loop cannot loop), skip version-control, dependency, virtualenv and build folders, honour each
folder's `.gitignore`, and count the entries they visit so a glob over a huge tree stops early.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from .types import ContextError, Limits, Skipped

if TYPE_CHECKING:
    from pathspec import GitIgnoreSpec

# Folders a walk never enters: VCS data, dependencies, virtualenvs, caches and build output.
PRUNED_DIRS = frozenset({
    ".git", ".hg", ".svn", ".jj", "node_modules", "bower_components", ".venv", "venv", "__pycache__",
    "site-packages", "dist", "build", "target", "out", ".next", ".nuxt", ".svelte-kit", ".turbo", ".parcel-cache",
    ".tox", ".nox", ".mypy_cache", ".pytest_cache", ".ruff_cache", ".hypothesis", ".gradle", ".terraform",
    ".cache", "coverage", "htmlcov", ".eggs",
})
MAGIC = re.compile(r"[*?\[]")  # glob characters
_RANGE = re.compile(r"^(?P<path>.+?):(?P<start>\d+)(?:-(?P<end>\d+))?$")


@dataclass(frozen=True)
class Target:
    """A regular file to read: its resolved path, how to show it, and an optional 1-based inclusive line range."""

    path: Path
    display: str
    start: int | None = None
    end: int | None = None
    ident: tuple[int, int] | None = None  # (st_dev, st_ino) when listed: the reader insists on the same file


@dataclass(frozen=True)
class Spec:
    """One `files` entry split into path and line range."""

    raw: str
    path: str
    start: int | None = None
    end: int | None = None


def resolve_roots(roots: Sequence[Path]) -> list[Path]:
    """The roots, resolved; at least one must exist."""
    out: list[Path] = []
    for r in roots:
        try:
            rp = Path(r).resolve(strict=True)
        except (OSError, RuntimeError):
            continue
        if rp.is_dir() and rp not in out:
            out.append(rp)
    if not out:
        shown = ", ".join(str(r) for r in roots) or "none"
        raise ContextError(f"no usable workspace root (given: {shown}); file and diff context need an existing folder")
    return out


def roots_text(roots: Sequence[Path]) -> str:
    return ", ".join(str(r) for r in roots)


def inside(path: Path, roots: Sequence[Path]) -> Path | None:
    """The root that contains the resolved `path`, if any."""
    for r in roots:
        if path == r or path.is_relative_to(r):
            return r
    return None


def display(path: Path, roots: Sequence[Path]) -> str:
    """Relative to the first root when inside it (what the user typed), else the absolute path."""
    if path.is_relative_to(roots[0]):
        rel = path.relative_to(roots[0]).as_posix()
        return rel or "."
    return str(path)


def parse_spec(raw: str, base: Path) -> Spec:
    """`path`, `path:120` or `path:120-180`; a path that exists literally (colon and all) wins over a range."""
    if not raw or not raw.strip():
        raise ContextError("an empty entry in files; give a path, a glob or path:START-END")
    if "\0" in raw:
        raise ContextError(f"{raw!r} contains a NUL byte; give a plain path")
    m = _RANGE.match(raw)
    if m is None or _lexists(base / raw):
        return Spec(raw, raw)
    start = int(m.group("start"))
    end = int(m.group("end")) if m.group("end") else start
    if start < 1 or end < start:
        raise ContextError(f"bad line range in {raw!r}: lines count from 1 and END must not be before START")
    return Spec(raw, m.group("path"), start, end)


def _lexists(p: Path) -> bool:
    try:
        os.lstat(p)
    except (OSError, ValueError):
        return False
    return True


def _kind_of(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device file"
    return "not a regular file"


class _Budget:
    """Counts entries visited by all walks of one request."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.seen = 0

    def tick(self, what: str) -> None:
        self.seen += 1
        if self.seen > self.limit:
            raise ContextError(
                f"{what} reaches more than {self.limit:,} entries; narrow it: a subfolder, a more specific "
                f"pattern (src/**/*.py rather than **/*), or a few named files"
            )


class _Ignores:
    """The `.gitignore` files from a root down to the folder being walked (nested files refine outer ones)."""

    def __init__(self, specs: tuple[tuple[Path, GitIgnoreSpec], ...] = ()) -> None:
        self.specs = specs

    def child(self, folder: Path) -> _Ignores:
        spec = _load_gitignore(folder)
        return _Ignores((*self.specs, (folder, spec))) if spec is not None else self

    def ignored(self, path: Path, is_dir: bool) -> bool:
        verdict: bool | None = None
        for folder, spec in self.specs:
            rel = path.relative_to(folder).as_posix() + ("/" if is_dir else "")
            result = spec.check_file(rel)
            if result.include is not None:
                verdict = bool(result.include)
        return bool(verdict)


def _load_gitignore(folder: Path) -> GitIgnoreSpec | None:
    try:
        with open(folder / ".gitignore", encoding="utf-8", errors="replace") as f:
            lines = f.read(1_000_000).splitlines()
    except OSError:
        return None
    import pathspec

    return pathspec.GitIgnoreSpec.from_lines(lines)


def _ignores_down_to(root: Path, folder: Path) -> _Ignores:
    ig = _Ignores().child(root)
    current = root
    for part in folder.relative_to(root).parts:
        current = current / part
        ig = ig.child(current)
    return ig


def is_tool_name(name: str) -> bool:
    """Dependencies, caches or build output, told by the folder's name: what walks skip and diff notes
    leave unnamed."""
    return name in PRUNED_DIRS or name.endswith(".egg-info")


def is_tool_folder(folder: Path) -> bool:
    """A tool folder by its name, or a virtualenv (a `pyvenv.cfg` inside)."""
    return is_tool_name(folder.name) or os.path.exists(folder / "pyvenv.cfg")


def _walk(
    base: Path, root: Path, roots: Sequence[Path], budget: _Budget, what: str, max_depth: int | None,
    skipped: list[Skipped],
) -> Iterator[tuple[Path, Path | str]]:
    """(path as walked, resolved file or why it cannot be attached) under `base`, sorted.

    Directory symlinks are never followed, so a loop cannot loop.
    """
    stack: list[tuple[Path, _Ignores, int]] = [(base, _ignores_down_to(root, base), 0)]
    while stack:
        folder, ignores, depth = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = []
                for e in it:
                    budget.tick(what)
                    entries.append(e)
        except OSError as exc:
            skipped.append(Skipped(display(folder, roots), f"folder not readable ({exc.strerror})"))
            continue
        subdirs: list[tuple[Path, _Ignores, int]] = []
        files: list[tuple[Path, Path | str]] = []
        for e in sorted(entries, key=lambda x: x.name):
            p = Path(e.path)
            try:
                if e.is_dir(follow_symlinks=False):
                    if is_tool_folder(p):
                        continue
                    if ignores.ignored(p, True):
                        continue
                    if max_depth is None or depth < max_depth:
                        subdirs.append((p, ignores.child(p), depth + 1))
                    continue
                if ignores.ignored(p, False):
                    continue
                if e.is_symlink():
                    target = _symlink_target(p, roots)
                    if target is not None:
                        files.append((p, target))
                    continue
                if e.is_file(follow_symlinks=False):
                    files.append((p, p))
                else:
                    files.append((p, _kind_of(e.stat(follow_symlinks=False).st_mode)))
            except OSError:
                continue  # vanished mid-walk: nothing to attach
        yield from files
        stack.extend(reversed(subdirs))


def _symlink_target(link: Path, roots: Sequence[Path]) -> Path | str | None:
    """A symlink met during a walk: the file it points to if inside the roots, a skip reason, or None (dir)."""
    try:
        target = link.resolve(strict=True)
        st = target.stat()
    except (OSError, RuntimeError):
        return "broken or looping symlink"
    if stat.S_ISDIR(st.st_mode):
        return None  # never followed: keeps walks finite and inside the tree
    if inside(target, roots) is None:
        return "symlink pointing outside the workspace roots"
    if not stat.S_ISREG(st.st_mode):
        return f"symlink to {_kind_of(st.st_mode)}"
    return target


def glob_regex(pattern: str) -> re.Pattern[str]:
    """Git-style glob: `*` and `?` stay within a folder, `**` spans folders, `[...]` is a character class."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif c == "*":
            out.append("[^/]*")
            i += 1
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "[":
            j = pattern.find("]", i + 2)
            if j < 0:
                out.append(re.escape(c))
                i += 1
            else:
                body = pattern[i + 1 : j]
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append(f"[{body.replace(chr(92), chr(92) * 2)}]")
                i = j + 1
        else:
            out.append(re.escape(c))
            i += 1
    return re.compile("".join(out) + r"\Z")


def _confined(p: Path, raw: str, roots: Sequence[Path]) -> tuple[Path, Path]:
    """Resolve an explicitly named path and insist it lies inside a root; returns (resolved, its root)."""
    try:
        resolved = p.resolve(strict=True)
    except FileNotFoundError:
        raise ContextError(
            f"{raw!r}: no such file or folder (relative paths start at {roots[0]})"
        ) from None
    except (OSError, RuntimeError) as exc:
        raise ContextError(f"{raw!r} cannot be resolved ({exc}); it may be a symlink loop") from None
    root = inside(resolved, roots)
    if root is None:
        raise ContextError(
            f"{raw!r} resolves to {resolved}, outside the workspace roots ({roots_text(roots)}); "
            "only files under a root can be attached"
        )
    return resolved, root


def collect(roots: Sequence[Path], files: Sequence[str], limits: Limits) -> tuple[list[Target], list[Skipped]]:
    """Expand `files` into targets (deduplicated, in argument order, expansions sorted) and skips."""
    targets: dict[tuple[Path, int | None, int | None], Target] = {}
    skipped: list[Skipped] = []
    budget = _Budget(limits.max_matches)
    base = roots[0]
    for raw in files:
        spec = parse_spec(raw, base)
        found: list[Path]
        if MAGIC.search(spec.path) and not _lexists(base / spec.path):
            found = _expand_glob(spec, roots, budget, skipped)
            if not found:
                skipped.append(Skipped(raw, "no files match this glob"))
        else:
            resolved, root = _confined(base / spec.path, raw, roots)
            st = resolved.stat()
            if stat.S_ISDIR(st.st_mode):
                if spec.start is not None:
                    raise ContextError(f"{raw!r} is a folder; line ranges apply to files")
                walk = _walk(resolved, root, roots, budget, f"folder {spec.path!r}", None, skipped)
                found = _keep(walk, roots, skipped)
                if not found:
                    skipped.append(Skipped(raw, "folder holds no attachable files"))
            elif stat.S_ISREG(st.st_mode):
                found = [resolved]
            else:
                raise ContextError(f"{raw!r} is {_kind_of(st.st_mode)}; only regular files can be attached")
        for p in found:
            key = (p, spec.start, spec.end)
            if key not in targets and (p, None, None) not in targets:
                targets[key] = Target(p, display(p, roots), spec.start, spec.end)
    merged = _merge_ranges(list(targets.values()))
    if len(merged) > limits.max_files:
        raise ContextError(
            f"files expands to {len(merged):,} files, over the limit of {limits.max_files:,}; "
            "name fewer files, a subfolder, or a narrower glob"
        )
    return [replace(t, ident=_ident(t.path)) for t in merged], skipped


def _ident(path: Path) -> tuple[int, int] | None:
    """The file's identity right after confinement, so a folder or file swapped in later is noticed."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _expand_glob(spec: Spec, roots: Sequence[Path], budget: _Budget, skipped: list[Skipped]) -> list[Path]:
    parts = Path(spec.path).parts
    n = next(i for i, part in enumerate(parts) if MAGIC.search(part))
    prefix = Path(*parts[:n]) if n else Path()
    rest = "/".join(parts[n:])
    base, root = _confined(roots[0] / prefix, spec.path, roots)
    if not base.is_dir():
        raise ContextError(f"{spec.raw!r}: {prefix} is not a folder")
    rx = glob_regex(rest)
    max_depth = None if "**" in rest else len(parts) - n - 1
    walk = _walk(base, root, roots, budget, f"glob {spec.path!r}", max_depth, skipped)
    return _keep(((w, r) for w, r in walk if rx.match(w.relative_to(base).as_posix())), roots, skipped)


def _keep(walked: Iterator[tuple[Path, Path | str]], roots: Sequence[Path], skipped: list[Skipped]) -> list[Path]:
    out: list[Path] = []
    for w, real in walked:
        if isinstance(real, str):
            skipped.append(Skipped(display(w, roots), real))
        else:
            out.append(real)
    return out


def _merge_ranges(targets: list[Target]) -> list[Target]:
    """One whole-file target absorbs ranges of the same file; overlapping ranges merge; order of first mention."""
    by_path: dict[Path, list[Target]] = {}
    for t in targets:
        by_path.setdefault(t.path, []).append(t)
    out: list[Target] = []
    for group in by_path.values():
        if any(t.start is None for t in group):
            out.append(Target(group[0].path, group[0].display))
            continue
        spans = sorted((t.start or 1, t.end or t.start or 1) for t in group)
        merged: list[list[int]] = []
        for s, e in spans:
            if merged and s <= merged[-1][1] + 1:
                merged[-1][1] = max(merged[-1][1], e)
            else:
                merged.append([s, e])
        out.extend(Target(group[0].path, group[0].display, s, e) for s, e in merged)
    return out
