"""Scopes → tools: what an OAuth caller may call.

Two scopes, names configurable: the read scope lets a caller in at all (list the tools, use the
read-only ones); the call scope is also needed by every tool that spends money or writes, as the
tool registry says (`ToolEntry.needs_call_scope`). An empty name means that scope is not asked for.
Named and shared bearer tokens carry both: they are full team tokens, as before OAuth existed.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from opper_mcp.tools.registry import BY_NAME


@dataclass(frozen=True)
class ScopePolicy:
    read: str
    call: str

    @property
    def to_connect(self) -> list[str]:
        """Scopes every request needs (the SDK answers 403 insufficient_scope without them)."""
        return [self.read] if self.read else []

    @property
    def supported(self) -> list[str]:
        """What the protected resource metadata lists, so clients ask for both up front."""
        return [s for s in (self.read, self.call) if s]

    def needed(self, tool: str) -> list[str]:
        entry = BY_NAME.get(tool)
        needs_call = entry is None or entry.needs_call_scope  # an unknown name: the strictest answer
        return [s for s in (self.read, self.call if needs_call else "") if s]

    def missing(self, granted: Collection[str], tool: str) -> list[str]:
        return [s for s in self.needed(tool) if s not in granted]


def refusal(tool: str, missing: list[str], granted: Collection[str]) -> str:
    """What a caller without the scope reads: the scope by name, why, and what to do."""
    has = " ".join(sorted(granted)) or "no scopes"
    return (f"insufficient_scope: {tool} spends money or writes, so it needs the OAuth scope "
            f"{' '.join(missing)}; this access token has {has}. Sign in again granting it "
            f"(your identity provider's admin decides who may), or use the read-only tools")
