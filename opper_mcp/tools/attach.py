"""Code context on the tool side: roots from the client, gathering off the event loop, model checks, estimates.

The reading, confining and secret scanning live in `opper_mcp.context`; this module only asks
the client where its workspace is, runs `gather` in a worker thread, and decides what the chosen
model(s) can take and what the call would cost, before anything is sent.
"""

from __future__ import annotations

import contextlib
import json
import logging
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

from opper_mcp.opper.errors import OpperError
from opper_mcp.opper.schemas import ModelInfo
from opper_mcp.settings import Settings
from opper_mcp.tools.state import ToolContext, app_state, opper_for

if TYPE_CHECKING:
    from opper_mcp.context import Limits, Part
    from opper_mcp.context.budget import Call, CostEstimate, Prices

# `opper_mcp.context` (its regexes, the secret scanner) is imported on the first call that uses it,
# not at start-up: every client pays the server's start-up time, few calls attach files.

log = logging.getLogger("opper_mcp.tools")

MODERN_ERA = "2026-07-28"
NEEDS = {"image": "vision", "pdf": "pdf"}

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
        from opper_mcp.context import content_parts

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


def resolve_roots(settings: Settings, uris: list[str] | None) -> list[Path]:
    from opper_mcp.context.roots import RootsError, workspace_roots

    try:
        return workspace_roots(transport=settings.transport, client_roots=uris, env=os.environ, cwd=Path.cwd(),
                               allow_paths=settings.allow_paths)
    except RootsError as exc:
        raise ToolError(str(exc)) from exc


# ---- gathering ---------------------------------------------------------------------------------


def limits_for(settings: Settings) -> Limits:
    from opper_mcp.context import Limits

    return Limits(max_file_bytes=min(settings.context_max_file_bytes, settings.context_max_total_bytes),
                  max_total_bytes=settings.context_max_total_bytes)


async def collect(
    ctx: ToolContext, files: list[str] | None, diff: str, roots: ListRootsResult | list[str] | None
) -> Collected | None:
    """Gather `files` and `diff` inside the workspace roots; None when the call attaches nothing."""
    if not wants_context(files, diff):
        return None
    from opper_mcp.context import ContextError, gather

    settings = app_state(ctx).settings
    uris = remember_roots(ctx.session, roots)
    paths = resolve_roots(settings, uris)
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
    return [(a.path + (f":{a.lines}" if a.lines else ""), a.est_tokens) for a in collected.attached]


# ---- the catalogue: capabilities, window, prices ------------------------------------------------


async def catalogue(ctx: ToolContext) -> list[ModelInfo] | None:
    """The cached catalogue, or None when it cannot be had (estimates then say so, max_cost_usd refuses)."""
    try:
        return await app_state(ctx).catalog.models(opper_for(ctx))
    except OpperError as exc:
        log.warning("model catalogue unavailable for context checks: %s", exc)
        return None


def find_model(models: list[ModelInfo] | None, name: str) -> ModelInfo | None:
    """The catalogue row for an id, alias or pool name (ids first)."""
    for m in models or []:
        if m.id == name:
            return m
    for m in models or []:
        if name in m.aliases or m.model == name:
            return m
    return None


def prices(info: ModelInfo | None) -> Prices | None:
    from opper_mcp.context.budget import Prices

    p = info.pricing if info is not None else None
    if p is None or not p.input or not p.output:
        return None
    return Prices(input=p.input, output=p.output, thresholds=p.thresholds)


def check_media(collected: Collected | None, model: str, models: list[ModelInfo] | None) -> None:
    """Images need a `vision` model and PDFs a `pdf` one; otherwise name a few models that take them."""
    if collected is None:
        return
    info = find_model(models, model)
    for kind, capability in NEEDS.items():
        if kind not in collected.kinds or info is None or capability in info.capabilities:
            continue
        able = [m.id for m in models or [] if capability in m.capabilities and not m.retired_at][:4]
        hint = f"models that do: {', '.join(able)}" if able else "find one with list_models capability=" + capability
        raise ToolError(f"{model} does not take {kind}s (no {capability!r} capability); leave the {kind} files "
                        f"out, or choose a model that takes them — {hint}")


def message_tokens(messages: list[dict[str, Any]]) -> int:
    """Estimated input tokens of chat messages: text by the heuristic; an image or PDF part from an earlier
    turn at the flat image rate (its base64 size says little about its token cost)."""
    from opper_mcp.context import estimate_tokens
    from opper_mcp.context.tokens import IMAGE_TOKENS

    total = 0
    for m in messages:
        content = m.get("content")
        if isinstance(content, str):
            total += estimate_tokens(content)
        elif isinstance(content, list):
            for part in content:
                text = part.get("text") if isinstance(part, dict) else None
                total += estimate_tokens(text) if isinstance(text, str) else IMAGE_TOKENS
        elif content is not None:
            total += estimate_tokens(json.dumps(content))
    return total


def model_call(name: str, input_tokens: int, max_tokens: int | None, price: Prices | None) -> Call:
    from opper_mcp.context.budget import Call

    return Call(name, input_tokens, max_tokens, price)


def cost_of(call: Call) -> float:
    """The call's estimated cost, 0 when unpriced (for ranking only, never reported)."""
    from opper_mcp.context.budget import call_cost

    return call_cost(call) or 0.0


def text_tokens(*texts: str) -> int:
    from opper_mcp.context import estimate_tokens

    return sum(estimate_tokens(t) for t in texts)


def window_of(info: ModelInfo | None) -> int | None:
    return info.context_window if info is not None else None


def check_budget(
    collected: Collected | None, model: str, info: ModelInfo | None, input_tokens: int, max_tokens: int | None
) -> None:
    """Only attached context is held to the window here; a plain prompt is the caller's own business."""
    if collected is None:
        return
    from opper_mcp.context.budget import BudgetError, check_window

    try:
        check_window(model=model, window=window_of(info), input_tokens=input_tokens, answer_tokens=max_tokens,
                     items=labels(collected))
    except BudgetError as exc:
        raise ToolError(str(exc)) from exc


def cost_guard(calls: list[Call], max_cost_usd: float | None, models: list[ModelInfo] | None) -> CostEstimate:
    """The estimate for these calls; over `max_cost_usd` (or unknown while it is set) → ToolError."""
    from opper_mcp.context.budget import BudgetError, check_cost, estimate

    est = estimate(calls)
    if models is None:
        est.unpriced_reason = "the model catalogue could not be read"
        if max_cost_usd is not None:
            raise ToolError("max_cost_usd needs catalogue prices, but the model catalogue could not be read; "
                            "nothing was sent. Retry, or drop max_cost_usd")
    try:
        check_cost(est, max_cost_usd)
    except BudgetError as exc:
        raise ToolError(str(exc)) from exc
    return est


class Reports(Protocol):
    """A tool result that says what went out (ChatResult, RoundtableResult)."""

    attached: list[AttachedItem] | None
    skipped: list[SkippedItem] | None
    est_cost_usd: float | None
    est_input_tokens: int | None
    note: str | None


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
