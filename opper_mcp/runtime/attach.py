"""Code context on the tool side: roots from the client, gathering off the event loop, and the report of what went.

The reading, confining and secret scanning live in `opper_mcp.context`; this module only asks
the client where its workspace is, runs `gather` in a worker thread and says in the result what
was attached and skipped. What the models can take and what it costs is `presend`'s.
"""

from __future__ import annotations

import contextlib
import os
import warnings
import weakref
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import anyio
from mcp.server.mcpserver import ListRoots
from mcp.server.mcpserver.exceptions import ToolError
from mcp.shared.exceptions import MCPDeprecationWarning
from mcp_types import ListRootsResult
from pydantic import BaseModel

from opper_mcp.context.roots import RootsError, workspace_roots
from opper_mcp.context.types import ContextError, Limits, Part, content_parts
from opper_mcp.runtime.state import ToolContext, app_state
from opper_mcp.settings import Settings

if TYPE_CHECKING:
    from opper_mcp.context.budget import CostEstimate

MODERN_ERA = "2026-07-28"

# Roots a client listed, kept for its connection's life (it is asked once).
_session_roots: weakref.WeakKeyDictionary[Any, list[str]] = weakref.WeakKeyDictionary()


class AttachedItem(BaseModel):
    path: str
    lines: str | None = None
    chars: int
    est_tokens: int


class SkippedItem(BaseModel):
    path: str
    reason: str


@dataclass
class Collected:
    """What `files`/`diff` produced, ready to go upstream."""

    gathered: list[Part]
    attached: list[AttachedItem]
    skipped: list[SkippedItem]

    @property
    def est_tokens(self) -> int:
        return sum(a.est_tokens for a in self.attached)

    @property
    def kinds(self) -> set[str]:
        return {p.kind for p in self.gathered}

    @cached_property
    def parts(self) -> list[dict[str, Any]]:
        """Chat content parts; images and PDFs are base64-encoded only when a request is really built."""
        return content_parts(self.gathered)

    @cached_property
    def text(self) -> str:
        """The text parts joined, for upstreams that take one string (roundtable)."""
        return "\n\n".join(p.text for p in self.gathered if p.kind == "text")


# ---- roots ------------------------------------------------------------------------------------


def wants_context(files: Any, diff: Any) -> bool:
    return bool(files) or bool(isinstance(diff, str) and diff.strip())


async def client_roots(ctx: ToolContext, files: Any, diff: Any) -> ListRoots | list[str] | None:
    """Resolver: the client's root URIs when the call attaches something and the client offers roots.

    Legacy sessions are asked directly (a failure falls back to the other roots) and cached;
    modern (2026-07-28) calls ask through the SDK's input-required round trip.
    """
    if not wants_context(files, diff):
        return None
    state = app_state(ctx)
    caps = ctx.client_capabilities
    if state.settings.transport == "http" or caps is None or caps.roots is None:
        return None
    session = ctx.session
    cached = _cached_roots(session)
    if cached is not None:
        return cached
    version = ctx.protocol_version or ""
    if version >= MODERN_ERA:
        return ListRoots()
    try:
        with warnings.catch_warnings():  # deprecated in the 2026 era, still how 2025-11-25 clients are asked
            warnings.simplefilter("ignore", MCPDeprecationWarning)
            result = await session.list_roots()
    except Exception:  # an error reply, a timeout, no back channel: no client roots, use the fallbacks
        return None
    return remember_roots(session, result)


def _connection(session: Any) -> Any:
    """The connection behind a request's session: sessions are per request in mcp 2.3, connections are not."""
    return getattr(session, "_connection", session)


def _cached_roots(session: Any) -> list[str] | None:
    try:
        return _session_roots.get(_connection(session))
    except TypeError:
        return None


def remember_roots(session: Any, result: ListRootsResult | list[str] | None) -> list[str] | None:
    if result is None:
        return None
    uris = result if isinstance(result, list) else [str(root.uri) for root in result.roots]
    with contextlib.suppress(TypeError):  # a session object that cannot be weakly referenced: ask every time
        _session_roots[_connection(session)] = uris
    return uris


def roots_for(settings: Settings, uris: list[str] | None) -> list[Path]:
    """The directories this call may read: the client's roots, else the fallbacks (see `context.roots`)."""
    try:
        return workspace_roots(transport=settings.transport, client_roots=uris, env=os.environ, cwd=Path.cwd(),
                               allow_paths=settings.allow_paths)
    except RootsError as exc:
        raise ToolError(str(exc)) from exc


# ---- gathering ---------------------------------------------------------------------------------


def limits_for(settings: Settings) -> Limits:
    return Limits(max_file_bytes=min(settings.context_max_file_bytes, settings.context_max_total_bytes),
                  max_total_bytes=settings.context_max_total_bytes)


async def read_context(
    ctx: ToolContext, files: list[str] | None, diff: str, roots: ListRootsResult | list[str] | None
) -> Collected | None:
    """Gather `files` and `diff` inside the workspace roots; None when the call attaches nothing."""
    if not wants_context(files, diff):
        return None
    # The reader and the secret scanner load here, where they are used: few calls attach code, while every
    # client pays start-up.
    from opper_mcp.context.assemble import gather

    settings = app_state(ctx).settings
    uris = remember_roots(ctx.session, roots)
    paths = roots_for(settings, uris)
    limits = limits_for(settings)
    secrets = settings.secrets()
    try:
        gathered = await anyio.to_thread.run_sync(
            lambda: gather(paths, files or (), diff.strip() or None, limits=limits, known_secrets=secrets)
        )
    except ContextError as exc:
        raise ToolError(str(exc)) from exc
    return Collected(
        gathered=gathered.parts,
        attached=[AttachedItem(path=a.path, lines=a.lines, chars=a.chars, est_tokens=a.est_tokens)
                  for a in gathered.attached],
        skipped=[SkippedItem(path=s.path, reason=s.reason) for s in gathered.skipped],
    )


def labels(collected: Collected) -> list[tuple[str, int]]:
    """(path[:lines], tokens) per attached item: what a window error lists as the largest."""
    return [(a.path + (f":{a.lines}" if a.lines else ""), a.est_tokens) for a in collected.attached]


class Reports(Protocol):
    """A tool result that says what went out (ChatResult, RoundtableResult)."""

    attached: list[AttachedItem] | None
    skipped: list[SkippedItem] | None
    est_cost_usd: float | None
    est_input_tokens: int | None
    note: str | None
    spend: str | None


def report(result: Reports, collected: Collected | None, est: CostEstimate | None) -> None:
    """Fill in what was attached and skipped and the estimates (with the note when prices are unknown)."""
    if collected is not None:
        result.attached = collected.attached
        result.skipped = collected.skipped or None
    if est is not None:
        result.est_cost_usd = est.cost_usd
        result.est_input_tokens = est.input_tokens
        if est.note:
            result.note = "; ".join(filter(None, [result.note, est.note]))
