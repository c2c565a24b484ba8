"""What tools/list costs a model's context: names, descriptions and input schemas of every tool."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from opper_mcp.tools.registry import TOOL_NAMES
from tests.support import connect, make_settings

pytestmark = pytest.mark.anyio

# Every tool together, as compact JSON. Each character is paid in every conversation of every client.
CONTEXT_BUDGET = 8_000


async def test_all_tools_fit_the_context_budget(tmp_path: Path) -> None:
    settings = make_settings("http://127.0.0.1:9", tmp_path, tools=TOOL_NAMES)  # every tool enabled
    async with connect(settings) as client:
        tools = (await client.list_tools()).tools
    assert [t.name for t in tools] == list(TOOL_NAMES)
    seen = [{"name": t.name, "description": t.description, "inputSchema": t.input_schema} for t in tools]
    sizes = {row["name"]: len(json.dumps(row, separators=(",", ":"))) for row in seen}
    total = len(json.dumps(seen, separators=(",", ":")))
    largest = max(sizes, key=lambda name: sizes[name])
    print(f"\ntools/list for the model: {total:,} chars, {len(tools)} tools; largest {largest} ({sizes[largest]:,})")
    assert total <= CONTEXT_BUDGET, sizes
