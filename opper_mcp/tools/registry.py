"""Every tool the server can serve, in one table: settings, server and clients all read it.

Adding a tool is its module in `opper_mcp.tools` plus one entry here. The entry names the
tool's function as `module:function` so that reading the table (the CLI validating `--tools`,
`opper-mcp config`) does not import the tools and the MCP SDK behind them.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final, Literal

Need = Literal["key", "store", "files"]
"""What a tool needs besides itself: an Opper key, the conversation store, the caller's files."""


@dataclass(frozen=True, kw_only=True)
class ToolEntry:
    name: str
    function: str  # "module:function" in opper_mcp.tools
    title: str
    read_only: bool
    open_world: bool
    idempotent: bool
    destructive: bool = False
    default: bool = True  # served unless --tools says otherwise; tools that write to Opper are off by default
    needs: frozenset[Need] = frozenset({"key"})
    long_result: bool = False  # may answer up to the result budget: hosts should keep it inline
    # The tool builds its structured content from its output model itself, so the SDK's check of
    # every result against that model again is pure cost (the outputSchema is still published).
    trusted_output: bool = False
    # Each call costs money on the caller's behalf (a model, a paid web API). With `read_only`, this
    # decides the OAuth scope a tool needs (`needs_call_scope`).
    spends: bool = False

    @property
    def needs_call_scope(self) -> bool:
        """Spends money or writes something: over OAuth it needs the call scope, not only the read scope."""
        return self.spends or not self.read_only
    view: str | None = None  # the MCP App view (opper_mcp.views) hosts that render them show for its result

    def load(self) -> Callable[..., Awaitable[Any]]:
        module, _, function = self.function.partition(":")
        fn: Callable[..., Awaitable[Any]] = getattr(importlib.import_module(f"opper_mcp.tools.{module}"), function)
        return fn


_KEY: Final[frozenset[Need]] = frozenset({"key"})
_CONTEXT: Final[frozenset[Need]] = frozenset({"key", "store", "files"})

TOOLS: Final[tuple[ToolEntry, ...]] = (
    ToolEntry(name="list_models", function="models:list_models", title="List Opper models",
              read_only=True, open_world=False, idempotent=True, needs=frozenset(), trusted_output=True),
    ToolEntry(name="chat", function="chat:chat", title="Chat with an Opper model",
              read_only=True, open_world=True, idempotent=False, needs=_CONTEXT, long_result=True, spends=True),
    ToolEntry(name="roundtable", function="roundtable:roundtable", title="Ask several models at once",
              read_only=True, open_world=True, idempotent=False, needs=frozenset({"key", "files"}), long_result=True,
              spends=True, view="compare"),
    ToolEntry(name="review", function="review:review", title="Review code with several models",
              read_only=True, open_world=True, idempotent=False, needs=_CONTEXT, long_result=True, spends=True,
              view="compare"),
    ToolEntry(name="conversations", function="conversations:conversations", title="List or delete saved chats",
              read_only=False, open_world=False, idempotent=True, destructive=True, needs=frozenset({"store"})),
    ToolEntry(name="web_search", function="web:web_search", title="Search the web",
              read_only=True, open_world=True, idempotent=False, spends=True),
    ToolEntry(name="web_fetch", function="web:web_fetch", title="Fetch a web page as markdown",
              read_only=True, open_world=True, idempotent=True, long_result=True, spends=True),
    ToolEntry(name="grep_spec", function="spec:grep_spec", title="Search the Opper API spec",
              read_only=True, open_world=False, idempotent=True, needs=frozenset(), long_result=True,
              trusted_output=True),
    ToolEntry(name="read_spec", function="spec:read_spec", title="Read part of the Opper API spec",
              read_only=True, open_world=False, idempotent=True, needs=frozenset(), long_result=True,
              trusted_output=True),
    ToolEntry(name="get_trace", function="traces:get_trace", title="Show an Opper trace",
              read_only=True, open_world=False, idempotent=True, long_result=True, view="trace"),
    ToolEntry(name="list_traces", function="traces:list_traces", title="List Opper traces",
              read_only=True, open_world=False, idempotent=True),
    ToolEntry(name="search_knowledge", function="knowledge:search_knowledge", title="Search an Opper knowledge base",
              read_only=True, open_world=False, idempotent=True),
    ToolEntry(name="add_knowledge", function="knowledge:add_knowledge", title="Add a document to a knowledge base",
              read_only=False, open_world=False, idempotent=False, default=False),
    ToolEntry(name="get_usage", function="usage:get_usage", title="Show Opper spend",
              read_only=True, open_world=False, idempotent=True, view="spend"),
)

BY_NAME: Final[dict[str, ToolEntry]] = {entry.name: entry for entry in TOOLS}
TOOL_NAMES: Final[tuple[str, ...]] = tuple(BY_NAME)
DEFAULT_TOOLS: Final[tuple[str, ...]] = tuple(entry.name for entry in TOOLS if entry.default)
OFF_BY_DEFAULT: Final[tuple[str, ...]] = tuple(entry.name for entry in TOOLS if not entry.default)
