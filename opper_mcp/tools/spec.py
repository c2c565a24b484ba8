"""grep_spec and read_spec: Opper's live OpenAPI spec, searched and read piece by piece."""

from __future__ import annotations

import functools
from typing import Annotated

import anyio
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult
from pydantic import Field

from opper_mcp.openapi.errors import SpecPatternError, SpecPatternTimeout, SpecTargetError
from opper_mcp.openapi.grep import grep
from opper_mcp.openapi.read import read
from opper_mcp.openapi.results import GrepResult, ReadResult
from opper_mcp.openapi.store import SpecSnapshot
from opper_mcp.runtime.result import render, respond, result_of
from opper_mcp.runtime.state import ToolContext, app_state

INLINE_GREP_S = 0.02  # a usual search takes well under 2 ms on the event loop
GREP_TIMEOUT_S = 1.0


class GrepSpecResult(GrepResult):
    spec_source: str = Field(description="network, revalidated, memory or disk-offline")
    stale: str | None = Field(None, description="Set when the copy may be out of date")


class ReadSpecResult(ReadResult):
    spec_source: str
    stale: str | None = None


async def _snapshot(ctx: ToolContext) -> SpecSnapshot:
    return await app_state(ctx).spec.get()


async def grep_spec(
    ctx: ToolContext,
    pattern: Annotated[str, Field(description="Python regex", min_length=1, max_length=500)],
    ignore_case: bool = True,
    context: Annotated[int, Field(ge=0, le=10, description="Context lines")] = 2,
    max_matches: Annotated[int, Field(ge=1, le=100)] = 20,
) -> Annotated[CallToolResult, GrepSpecResult]:
    """Regex search of Opper's live OpenAPI spec; then read_spec."""
    snap = await _snapshot(ctx)
    # Agents repeat searches: the same search on the same spec text is answered as serialised the first time.
    key = (pattern, ignore_case, context, max_matches, snap.source, snap.stale_reason)
    rendered = snap.index.rendered
    if (hit := rendered.get(key)) is not None:
        return result_of(*hit)
    run = functools.partial(grep, snap.index, pattern, ignore_case=ignore_case, context=context,
                            max_matches=max_matches)
    try:
        try:
            found = run(timeout_s=INLINE_GREP_S)
        except SpecPatternTimeout:
            # A slow pattern gets the rest of its 1 s in a worker thread (the regex releases the GIL),
            # so it never stalls the other requests this server is answering.
            found = await anyio.to_thread.run_sync(functools.partial(run, timeout_s=GREP_TIMEOUT_S))
    except SpecPatternError as exc:
        raise ToolError(str(exc)) from exc
    result = GrepSpecResult.model_construct(**dict(found), spec_source=snap.source, stale=snap.stale_reason)

    def shrink() -> bool:
        if len(result.matches) <= 1:
            return False
        result.matches = result.matches[: -max(1, len(result.matches) // 10)]
        result.truncated = True
        result.next_hint = (f"showing {len(result.matches)} of {result.total_matches} matching lines to fit the "
                            "output budget; lower context or narrow the pattern")
        return True

    rendered[key] = pair = render(result, shrink)
    return result_of(*pair)


async def read_spec(
    ctx: ToolContext,
    target: Annotated[
        str,
        Field(
            description="operationId, 'METHOD /path' or schema name",
            min_length=1,
            max_length=300,
        ),
    ],
) -> Annotated[CallToolResult, ReadSpecResult]:
    """One operation or schema of Opper's live OpenAPI spec."""
    snap = await _snapshot(ctx)
    try:
        result = read(snap.index, target)
    except SpecTargetError as exc:
        raise ToolError(str(exc)) from exc
    return respond(ReadSpecResult(**result.model_dump(), spec_source=snap.source, stale=snap.stale_reason))
