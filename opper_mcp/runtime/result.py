"""Building tool results: structured content plus the same data as compact JSON text.

Claude Code hands the model only `structuredContent` when both are present, other hosts only
`content`; both carry the complete result. `None` fields are left out to save context.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from mcp_types import CallToolResult, TextContent
from pydantic import BaseModel

# ~12k tokens: well under Claude Code's 25k-token default cap, leaving room for the rest of a turn.
OUTPUT_BUDGET_CHARS = 48_000


def _dump(model: BaseModel | dict[str, Any]) -> tuple[dict[str, Any], str]:
    # A dict is already what model_dump would give (a hot path that caches its rows).
    data = model.model_dump(mode="json", exclude_none=True, by_alias=True) if isinstance(model, BaseModel) else model
    return data, json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def render(model: BaseModel | dict[str, Any], shrink: Callable[[], bool] | None = None) -> tuple[dict[str, Any], str]:
    """`model` as (structured content, compact JSON text); while the text is over the budget, let
    `shrink` make it smaller.

    `shrink` mutates the model (or dict) by one step (cut a page, drop rows…) and says whether it
    could; the common case, a result within budget, is serialised exactly once.
    """
    data, text = _dump(model)
    while shrink is not None and len(text) > OUTPUT_BUDGET_CHARS and shrink():
        data, text = _dump(model)
    return data, text


def result_of(data: dict[str, Any], text: str) -> CallToolResult:
    """A tool result from a `render`ed pair; a cached pair is answered without serialising again."""
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=data)


def respond(model: BaseModel | dict[str, Any], shrink: Callable[[], bool] | None = None) -> CallToolResult:
    """`render` as a tool result."""
    return result_of(*render(model, shrink))


def clip(text: str, limit: int) -> tuple[str, bool]:
    """Cut `text` to `limit` characters; says whether it was cut."""
    if len(text) <= limit:
        return text, False
    return text[:limit], True
