"""What tools/list costs a model's context: names, descriptions and input schemas of every tool."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from opper_mcp.tools.registry import DEFAULT_TOOLS, OFF_BY_DEFAULT, TOOL_NAMES
from tests.support import connect, make_settings

pytestmark = pytest.mark.anyio

# The tools served by default, together, as compact JSON: each character is paid in every conversation of
# every client. A tool that is off by default is paid only by those who turn it on, within its own allowance.
CONTEXT_BUDGET = 8_000
OPT_IN_ALLOWANCE = 400


async def test_all_tools_fit_the_context_budget(tmp_path: Path) -> None:
    settings = make_settings("http://127.0.0.1:9", tmp_path, tools=TOOL_NAMES)  # every tool enabled
    async with connect(settings) as client:
        tools = (await client.list_tools()).tools
    assert [t.name for t in tools] == list(TOOL_NAMES)
    seen = [{"name": t.name, "description": t.description, "inputSchema": t.input_schema} for t in tools]
    sizes = {row["name"]: len(json.dumps(row, separators=(",", ":"))) for row in seen}
    served = len(json.dumps([row for row in seen if row["name"] in DEFAULT_TOOLS], separators=(",", ":")))
    total = len(json.dumps(seen, separators=(",", ":")))
    largest = max(sizes, key=lambda name: sizes[name])
    print(f"\ntools/list for the model: {served:,} chars for the {len(DEFAULT_TOOLS)} default tools, {total:,} for "
          f"all {len(tools)}; largest {largest} ({sizes[largest]:,})")
    assert served <= CONTEXT_BUDGET, sizes
    assert all(sizes[name] <= OPT_IN_ALLOWANCE for name in OFF_BY_DEFAULT), sizes
    # A host that renders MCP App views sees the very same names, descriptions and schemas: the view link is
    # in `_meta` only.
    async with connect(settings, apps=True) as client:
        apps_tools = (await client.list_tools()).tools
    assert [{"name": t.name, "description": t.description, "inputSchema": t.input_schema} for t in apps_tools] == seen
    assert any("ui" in (t.meta or {}) for t in apps_tools)
