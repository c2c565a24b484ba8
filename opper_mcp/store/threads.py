"""Saving chat turns to the conversation store: a store outage never costs the caller an answer it paid for."""

from __future__ import annotations

from opper_mcp.store.base import ConversationStore, Message, StoreUnavailable, UnknownConversation


def first_prompt(turns: list[Message]) -> str:
    """What a conversation listing shows: the first user message's text."""
    for turn in turns:
        if turn.get("role") == "user":
            content = turn.get("content")
            if isinstance(content, list):  # attached context comes first, the user's own words last
                texts = [str(p.get("text", "")) for p in content if isinstance(p, dict) and p.get("type") == "text"]
                content = texts[-1] if texts else ""
            return str(content or "")
    return ""


async def save_turns(
    store: ConversationStore, owner: str, conversation_id: str | None, model: str, system: str, turns: list[Message]
) -> tuple[str | None, str | None]:
    """Record one exchange; returns the id to hand back (None: nothing to continue) and a note when not saved.

    A store outage must not cost the caller an answer it has already paid for: chat answers and says so.
    """
    try:
        if conversation_id is None:
            conversation_id = await store.create(owner, model, first_prompt(turns))
            try:
                await store.append(conversation_id, owner, turns, system=system or None)
            except UnknownConversation:  # deleted between the two calls
                return None, "this conversation was deleted at once and could not be saved"
            return conversation_id, None
        await store.append(conversation_id, owner, turns, system=system or None)
    except StoreUnavailable as exc:
        if conversation_id is None:
            return None, f"the conversation could not be saved (store unavailable: {exc}); no conversation_id"
        return conversation_id, (f"this turn could not be saved (store unavailable: {exc}); the conversation "
                                 "keeps its earlier turns")
    except UnknownConversation:
        return None, "the conversation was deleted or expired meanwhile: this turn was not saved"
    return conversation_id, None
