"""Code context for chat and roundtable: files, globs, line ranges, git diffs, images and PDFs.

Pure and MCP-free: the tools call `gather` in a worker thread and `content_parts` to build the upstream message.
- `paths`: `files` entries -> confined targets (symlinks resolved, inside a root, walks bounded and gitignore-aware).
- `files`: bounded, race-checked reads; text, images and PDFs told apart by their bytes.
- `denylist` / `secrets`: secret-bearing names never sent; content scanned with detect-secrets' plugins.
- `diff` / `git`: `git diff` run safely; with `diff`, `files` narrows the diff rather than attaching files.
- `tokens`: the token heuristic. `types`: Limits, Attached, Skipped, Part, Gathered, ContextError.
"""

from .assemble import content_parts, gather
from .tokens import estimate_tokens
from .types import Attached, ContextError, Gathered, Limits, Part, Skipped

__all__ = [
    "Attached",
    "ContextError",
    "Gathered",
    "Limits",
    "Part",
    "Skipped",
    "content_parts",
    "estimate_tokens",
    "gather",
]
