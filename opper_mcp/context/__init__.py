"""Code context for chat and roundtable: files, globs, line ranges, git diffs, images and PDFs.

Pure and MCP-free: paths are confined to the given roots (symlinks resolved), secret-bearing files and contents
are left out (`denylist`, `secrets`), and every read and git call is bounded (`Limits`). The tools call `gather`
in a worker thread and `content_parts` to build the upstream message.
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
