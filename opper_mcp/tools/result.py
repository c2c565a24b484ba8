"""Building tool results: structured content plus the same data as compact JSON text.

Claude Code hands the model only `structuredContent` when both are present, other hosts only
`content`; both carry the complete result. `None` fields are left out to save context.
"""

from __future__ import annotations

import json
from typing import Any

from mcp_types import CallToolResult, TextContent
from pydantic import BaseModel

# ~12k tokens: well under Claude Code's 25k-token default cap, leaving room for the rest of a turn.
OUTPUT_BUDGET_CHARS = 48_000


def _dump(model: BaseModel) -> tuple[dict[str, Any], str]:
    data = model.model_dump(mode="json", exclude_none=True, by_alias=True)
    return data, json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def respond(model: BaseModel) -> CallToolResult:
    data, text = _dump(model)
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=data)


def json_size(model: BaseModel) -> int:
    """Length of the text `respond` writes for `model` (pydantic's own JSON differs, e.g. `1e-5` vs `1e-05`)."""
    return len(_dump(model)[1])


def clip(text: str, limit: int) -> tuple[str, bool]:
    """Cut `text` to `limit` characters; says whether it was cut."""
    if len(text) <= limit:
        return text, False
    return text[:limit], True
