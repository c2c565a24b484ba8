"""Which directories `files` and `diff` may read: the workspace roots, decided once per call.

The client's MCP roots say where the user is working; without them `CLAUDE_PROJECT_DIR` (set by
Claude Code for the servers it starts), else the server's working directory. `--allow-paths`
adds directories. Over HTTP the server runs elsewhere than the caller, so neither the client's
roots nor the server's cwd mean anything: only the allow paths count, and without them file
context is off.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from urllib.parse import unquote, urlparse


class RootsError(ValueError):
    """No usable root: the message says what to configure."""


HTTP_OFF = (
    "file and diff context are off over HTTP: this server cannot see your disk. An operator can start it "
    "with --allow-paths DIR (or OPPER_MCP_ALLOW_PATHS) to let calls read that directory on the server; "
    "otherwise paste the text into the prompt"
)


def path_from_uri(uri: str) -> Path | None:
    """A local directory from a `file://` root URI; other schemes (and remote hosts) are not ours to read."""
    parsed = urlparse(uri)
    if parsed.scheme != "file" or parsed.netloc not in ("", "localhost"):
        return None
    path = Path(unquote(parsed.path))
    return path if path.is_absolute() else None


def workspace_roots(
    *,
    transport: str,
    client_roots: Sequence[str] | None,
    env: Mapping[str, str],
    cwd: Path,
    allow_paths: Sequence[Path] = (),
) -> list[Path]:
    """The roots in priority order; the first is the base for relative paths.

    `client_roots` are the URIs the client listed (None: it offers no roots, or asking failed).
    """
    if transport == "http":
        if not allow_paths:
            raise RootsError(HTTP_OFF)
        return _unique([Path(p) for p in allow_paths])
    base: list[Path] = []
    for uri in client_roots or ():
        path = path_from_uri(uri)
        if path is not None and path.is_dir():
            base.append(path)
    if not base:
        project = env.get("CLAUDE_PROJECT_DIR", "").strip()
        base = [Path(project)] if project and Path(project).is_dir() else [cwd]
    return _unique([*base, *allow_paths])


def _unique(paths: Sequence[Path]) -> list[Path]:
    out: list[Path] = []
    for path in paths:
        resolved = path.expanduser().resolve()
        if resolved not in out:
            out.append(resolved)
    return out
