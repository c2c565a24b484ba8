"""The package's value types: limits in, attached/skipped/parts out, and the one error it raises."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal


class ContextError(ValueError):
    """Refused input: the message says what happened and what to do (and names the roots when paths are at fault)."""


@dataclass(frozen=True)
class Limits:
    """Bounds on what one request may attach; every one of them is checked before anything is read in full."""

    max_file_bytes: int = 256_000  # per text file; larger -> skipped with a hint to attach a line range
    max_total_bytes: int = 2_000_000  # all attached context together; over -> ContextError naming the biggest items
    max_files: int = 200  # files attached after expansion; over -> ContextError
    max_matches: int = 5_000  # entries a glob/directory walk may visit before giving up -> ContextError
    max_image_bytes: int = 5_000_000  # per image/PDF
    git_timeout_s: float = 10.0
    max_diff_bytes: int = 1_000_000
    max_range_scan_bytes: int = 32_000_000  # how far into a big file a line range may reach


@dataclass(frozen=True)
class Attached:
    """One item that goes upstream: a file (or line range of one), the diff, an image or a PDF."""

    path: str
    lines: str | None
    chars: int
    est_tokens: int
    kind: Literal["file", "diff", "image", "pdf"]


@dataclass(frozen=True)
class Skipped:
    """Something asked for (or found) but left out; `reason` never contains a secret value."""

    path: str
    reason: str


@dataclass(frozen=True)
class Part:
    """One content block for the upstream request: labelled text, or image/PDF bytes with their MIME type."""

    kind: Literal["text", "image", "pdf"]
    text: str = ""
    data: bytes = b""
    mime: str = ""
    path: str = ""


@dataclass
class Gathered:
    """What `gather` found: the attached items, the skipped ones with reasons, and the parts to send."""

    attached: list[Attached] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    parts: list[Part] = field(default_factory=list)

    @property
    def est_tokens(self) -> int:
        return sum(a.est_tokens for a in self.attached)

    @property
    def chars(self) -> int:
        return sum(a.chars for a in self.attached)


def content_parts(parts: Sequence[Part]) -> list[dict[str, Any]]:
    """OpenAI chat content parts: text blocks, images as data-URL `image_url`, PDFs as `file` with `file_data`."""
    out: list[dict[str, Any]] = []
    for p in parts:
        if p.kind == "text":
            out.append({"type": "text", "text": p.text})
        elif p.kind == "image":
            url = f"data:{p.mime};base64,{base64.b64encode(p.data).decode('ascii')}"
            out.append({"type": "image_url", "image_url": {"url": url}})
        else:
            data = f"data:{p.mime or 'application/pdf'};base64,{base64.b64encode(p.data).decode('ascii')}"
            out.append({"type": "file", "file": {"filename": Path(p.path).name or "document.pdf", "file_data": data}})
    return out
