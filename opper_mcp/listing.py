"""The tools as served: `tools/list` answered from a recording, each tool built on its first call.

Building a tool (importing its module, its pydantic models, deriving and compacting its schemas) is
most of what start-up would otherwise cost beyond the SDK's own, and a `tools/list` needs none of it.
`tools_list.json` records every tool exactly as `make_tool` builds it; a test rebuilds them all and
requires the recording to match byte for byte (refresh: `UPDATE_SNAPSHOTS=1 uv run pytest
tests/test_tools_list_snapshot.py`), so the list served can never drift from the tools called.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mcp.server.mcpserver.tools import Tool
from mcp_types import ToolAnnotations
from pydantic import ConfigDict, PrivateAttr

from opper_mcp.compact_schema import compact
from opper_mcp.runtime.authorize import authorized
from opper_mcp.runtime.guard import guarded
from opper_mcp.runtime.result import OUTPUT_BUDGET_CHARS
from opper_mcp.tools.registry import ToolEntry
from opper_mcp.views.serve import tool_meta

if TYPE_CHECKING:
    from mcp.server.mcpserver.context import Context

RECORDING = Path(__file__).with_name("tools_list.json")
FIELDS = ("name", "title", "description", "inputSchema", "outputSchema", "annotations", "_meta")

# Results up to the output budget are expected, not accidents: Claude Code keeps them inline
# instead of spilling them to a file. The margin covers the JSON around a budget-sized text.
MAX_RESULT_META = {"anthropic/maxResultSizeChars": OUTPUT_BUDGET_CHARS + 2_000}


def make_tool(entry: ToolEntry) -> Tool:
    """A registered tool: errors made actionable, one-line description, compact schemas."""
    fn = entry.load()
    tool = Tool.from_function(
        guarded(authorized(entry, fn)),
        name=entry.name,
        title=entry.title,
        description=" ".join((fn.__doc__ or "").split()),
        annotations=ToolAnnotations(
            title=entry.title,
            read_only_hint=entry.read_only,
            destructive_hint=entry.destructive,
            idempotent_hint=entry.idempotent,
            open_world_hint=entry.open_world,
        ),
        meta={**(MAX_RESULT_META if entry.long_result else {}), **(tool_meta(entry.view) if entry.view else {})}
        or None,  # the view link is in _meta only: it costs the model's context nothing
    )
    tool.parameters = compact(tool.parameters)
    tool.fn_metadata.output_schema = compact(tool.fn_metadata.output_schema)
    if entry.trusted_output:
        tool.fn_metadata.output_model = None  # the SDK then publishes the schema without validating against it
    return tool


def listed(tool: Tool) -> dict[str, Any]:
    """A built tool as `tools/list` shows it, in the recording's field order."""
    wire = {
        "name": tool.name,
        "title": tool.title,
        "description": tool.description,
        "inputSchema": tool.parameters,
        "outputSchema": tool.output_schema,
        "annotations": tool.annotations.model_dump(by_alias=True, exclude_none=True) if tool.annotations else None,
        "_meta": tool.meta,
    }
    return {key: wire[key] for key in FIELDS if wire[key] is not None}


def render(tools: list[dict[str, Any]]) -> str:
    """The recording's text: one stable form, so a change to any tool is a readable diff."""
    return json.dumps(tools, indent=2, ensure_ascii=False) + "\n"


@cache
def recording() -> dict[str, dict[str, Any]]:
    return {tool["name"]: tool for tool in json.loads(RECORDING.read_text(encoding="utf-8"))}


class DeferredTool(Tool):
    """A tool listed from the recording; the first call builds the real one and every call runs it."""

    model_config = ConfigDict(defer_build=True)
    _entry: ToolEntry = PrivateAttr()
    _output_schema: dict[str, Any] | None = PrivateAttr(default=None)

    @classmethod
    def of(cls, entry: ToolEntry) -> DeferredTool:
        listing = recording().get(entry.name)
        if listing is None:
            raise RuntimeError(f"{entry.name} is not in {RECORDING.name}: refresh it (see opper_mcp.listing)")
        listed_fields: dict[str, Any] = {  # no function (and no fn_metadata) until the first call builds it
            "name": entry.name,
            "title": listing.get("title"),
            "description": listing.get("description", ""),
            "parameters": listing["inputSchema"],
            "is_async": True,
            "context_kwarg": None,
            "annotations": ToolAnnotations.model_validate(listing["annotations"]) if "annotations" in listing else None,
            "icons": None,
            "meta": listing.get("_meta"),
        }
        tool = cls.model_construct(**listed_fields)
        tool._entry = entry
        tool._output_schema = listing.get("outputSchema")
        return tool

    @property  # the SDK's is a cached_property of the built function's metadata
    def output_schema(self) -> dict[str, Any] | None:
        return self._output_schema

    def built(self) -> Tool:
        tool = BUILT.get(self.name)  # a plain dict: a pydantic private attribute costs a slow lookup per call
        if tool is None:
            tool = BUILT[self.name] = make_tool(self._entry)
        return tool

    async def run(self, arguments: dict[str, Any], context: Context[Any, Any], convert_result: bool = False) -> Any:
        return await self.built().run(arguments, context, convert_result=convert_result)


BUILT: dict[str, Tool] = {}
"""Each tool as its first call built it: the same for every server in the process (it depends on its entry only)."""
