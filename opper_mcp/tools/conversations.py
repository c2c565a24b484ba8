"""conversations: find saved chat threads again, or delete one.

One small tool with two parameters rather than an `action` enum or a parameter on `chat`: listing is
what it does unless `delete` names a thread, which keeps its tools/list entry short, and `chat` stays
about asking models.
"""

from __future__ import annotations

from typing import Annotated

from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult
from pydantic import BaseModel, Field

from opper_mcp.runtime.result import respond
from opper_mcp.runtime.state import ToolContext, app_state, owner_of


class Conversation(BaseModel):
    conversation_id: str
    first_prompt: str
    model: str
    turns: int = Field(description="Messages kept")
    updated: str


class ConversationsResult(BaseModel):
    conversations: list[Conversation] | None = None
    deleted: str | None = None


async def conversations(
    ctx: ToolContext,
    delete: Annotated[str, Field(description="conversation_id to delete", max_length=80)] = "",
    limit: Annotated[int, Field(ge=1, le=100)] = 20,
) -> Annotated[CallToolResult, ConversationsResult]:
    """Your saved chat conversations, newest first; delete removes one."""
    store = app_state(ctx).conversations
    owner = owner_of(ctx)
    if delete:
        if not await store.delete(delete, owner):
            raise ToolError(f"unknown conversation_id {delete!r} (expired or already deleted)")
        return respond(ConversationsResult(deleted=delete))
    found = await store.list(owner, limit)
    return respond(ConversationsResult(conversations=[
        Conversation(conversation_id=c.id, first_prompt=c.first_prompt, model=c.model, turns=c.turns,
                     updated=c.updated.isoformat(timespec="seconds").replace("+00:00", "Z"))
        for c in found
    ]))
