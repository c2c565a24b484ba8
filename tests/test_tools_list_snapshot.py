"""Snapshot of tools/list: what every client (and model) sees. Drift must be deliberate.

The snapshot is the recording the server answers tools/list from (`opper_mcp/tools_list.json`): every
tool is built here as on its first call and must match it byte for byte, and what clients are served
must match the tools built.

Refresh after an intended change:  UPDATE_SNAPSHOTS=1 uv run pytest tests/test_tools_list_snapshot.py
"""

from __future__ import annotations

import difflib
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from opper_mcp.listing import FIELDS, RECORDING, listed, make_tool, render
from opper_mcp.tools.registry import TOOL_NAMES, TOOLS
from tests.fake_opper.catalogue import CATALOGUE
from tests.support import MODES, connect, make_settings

pytestmark = pytest.mark.anyio

HINTS = ("readOnlyHint", "destructiveHint", "idempotentHint", "openWorldHint")
# Compact tools/list JSON was 16,185 bytes when this budget was set (+15%). Every byte is paid by every
# conversation of every client that loads the server: raise it only for a feature worth the tokens.
# Raised for knowledge bases and usage (search_knowledge, add_knowledge, get_usage: ~3.9k with output schemas).
# Raised for review (~2.2k with its output schema; its input schema fits the model-visible 8,000 characters).
SIZE_BUDGET = 22_900
VIEW_LINKS_ALLOWANCE = 250  # four `"ui":{"resourceUri":"ui://opper/<view>.html"}` links, only for MCP Apps hosts
MAX_NAME = 30
PROVIDERS = sorted({entry.id.split("/")[0] for entry in CATALOGUE} | {"google", "azure", "bedrock", "vertex"})
MODEL_ID = re.compile(rf"\b(?:{'|'.join(map(re.escape, PROVIDERS))})/[A-Za-z0-9]")


async def list_tools(mode: str, tmp_path: Path, *, apps: bool = True) -> list[dict[str, Any]]:
    # Every tool, the off-by-default ones included: nothing is called, so no upstream is needed. By default listed
    # as a host that renders MCP App views sees them (a superset: other clients get it without `_meta.ui`).
    settings = make_settings("http://127.0.0.1:9", tmp_path / "cache", tools=TOOL_NAMES)
    async with connect(settings, mode, apps=apps) as client:
        result = await client.list_tools()
    return [tool.model_dump(by_alias=True, exclude_none=True, mode="json") for tool in result.tools]


@pytest.fixture(scope="module")
def built() -> list[dict[str, Any]]:
    """Every tool built from its function, as a call builds it, then shown as tools/list shows it."""
    return [listed(make_tool(entry)) for entry in TOOLS]


@pytest.fixture
async def tools(built: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [json.loads(json.dumps(tool)) for tool in built]


async def test_every_era_serves_the_tools_as_built(tools: list[dict[str, Any]], tmp_path: Path) -> None:
    for mode in MODES:
        served = await list_tools(mode, tmp_path)
        assert [{key: tool[key] for key in FIELDS if key in tool} for tool in served] == tools, mode
        assert [list(tool["inputSchema"]["properties"]) for tool in served] == [
            list(tool["inputSchema"]["properties"]) for tool in tools], "parameters keep their order"


async def test_tools_list_matches_snapshot(built: list[dict[str, Any]]) -> None:
    text = render(built)
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        RECORDING.write_text(text, encoding="utf-8")
    recorded = RECORDING.read_text(encoding="utf-8")
    if text != recorded:
        diff = "".join(
            difflib.unified_diff(
                recorded.splitlines(keepends=True),
                text.splitlines(keepends=True),
                fromfile="opper_mcp/tools_list.json (recorded)",
                tofile="tools/list (built now)",
            )
        )
        pytest.fail(
            "tools/list drifted from the snapshot. If intended, refresh it with "
            f"UPDATE_SNAPSHOTS=1 uv run pytest tests/{Path(__file__).name}\n{diff}",
            pytrace=False,
        )


async def test_order_is_the_documented_one(tools: list[dict[str, Any]]) -> None:
    assert [t["name"] for t in tools] == list(TOOL_NAMES)


def size_of(tools: list[dict[str, Any]]) -> int:
    return len(json.dumps({"tools": tools}, separators=(",", ":"), ensure_ascii=False).encode())


async def test_size_budget(tools: list[dict[str, Any]], tmp_path: Path) -> None:
    plain = await list_tools("legacy", tmp_path, apps=False)  # what a client without MCP Apps receives
    size = size_of(plain)
    assert size <= SIZE_BUDGET, f"tools/list is {size:,} bytes, over the {SIZE_BUDGET:,}-byte budget"
    # A host that renders the views gets one `_meta.ui` link per linked tool, and nothing else more.
    assert size_of(tools) - size <= VIEW_LINKS_ALLOWANCE
    strip = [{k: v for k, v in t.items() if k != "_meta"} for t in tools]
    assert strip == [{k: v for k, v in t.items() if k != "_meta"} for t in plain]


async def test_every_tool_is_fully_described(tools: list[dict[str, Any]]) -> None:
    problems: list[str] = []
    for tool in tools:
        name = tool["name"]
        if len(name) > MAX_NAME or not re.fullmatch(r"[a-z][a-z0-9_]*", name):
            problems.append(f"{name}: name must be snake_case and at most {MAX_NAME} chars")
        if not tool.get("title"):
            problems.append(f"{name}: no title")
        if not tool.get("description", "").strip():
            problems.append(f"{name}: no description")
        annotations = tool.get("annotations") or {}
        missing = [h for h in HINTS if not isinstance(annotations.get(h), bool)]
        if missing:
            problems.append(f"{name}: annotation hints not set: {missing}")
        if tool.get("inputSchema", {}).get("type") != "object":
            problems.append(f"{name}: inputSchema is not an object schema")
        if tool.get("outputSchema", {}).get("type") != "object":
            problems.append(f"{name}: no object outputSchema")
    assert problems == []


async def test_no_model_ids_in_schemas(tools: list[dict[str, Any]]) -> None:
    # Model ids go stale; list_models is where they come from. Schemas must not hard-code any.
    found = {
        tool["name"]: sorted({m.group(0) for m in MODEL_ID.finditer(json.dumps(tool[key]))})
        for tool in tools
        for key in ("inputSchema", "outputSchema")
        if key in tool and MODEL_ID.search(json.dumps(tool[key]))
    }
    assert found == {}
    catalogue_ids = {entry.id for entry in CATALOGUE}
    blob = json.dumps([{k: t.get(k) for k in ("inputSchema", "outputSchema")} for t in tools])
    assert sorted(i for i in catalogue_ids if i in blob) == []


def test_model_id_pattern_works() -> None:
    # Guards the guard: the regex must flag a real id and leave our own trace-name default alone.
    assert MODEL_ID.search('{"examples": ["openai/gpt-4o"]}')
    assert MODEL_ID.search("e.g. anthropic/claude-sonnet-4-6")
    assert not MODEL_ID.search('"default": "opper-mcp/chat"')
