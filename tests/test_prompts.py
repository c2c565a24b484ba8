"""Server surface for code context: prompts through a real client (`prompts/list`, `prompts/get`), the long-result
declarations in tools/list, and no start-up cost for the context package."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from mcp import Client

from opper_mcp.prompts import split_list
from opper_mcp.runtime.result import OUTPUT_BUDGET_CHARS

pytestmark = pytest.mark.anyio

LONG = {"chat", "roundtable", "review", "web_fetch", "grep_spec", "read_spec", "get_trace"}


def rendered_call(text: str) -> dict[str, Any]:
    """The JSON arguments block the prompt tells the assistant to pass."""
    match = re.search(r"\n\n(\{.*?\n\})\n\n", text, re.S)
    assert match, text
    return dict(json.loads(match.group(1)))


async def get_text(client: Client, name: str, args: dict[str, str]) -> str:
    result = await client.get_prompt(name, args)
    [message] = result.messages
    assert message.role == "user"
    return str(getattr(message.content, "text", ""))


async def test_prompts_are_listed_with_descriptions(client: Client) -> None:
    prompts = {p.name: p for p in (await client.list_prompts()).prompts}
    assert set(prompts) == {"review", "second_opinion"}
    for prompt in prompts.values():
        assert prompt.description and prompt.arguments
        assert all(arg.description for arg in prompt.arguments)
    required = {a.name for a in prompts["second_opinion"].arguments or [] if a.required}
    assert required == {"question"}
    assert not any(a.required for a in prompts["review"].arguments or [])


async def test_review_leads_to_the_review_tool_with_the_diff(client: Client) -> None:
    text = await get_text(client, "review", {})
    call = rendered_call(text)
    assert "`review`" in text and call == {"diff": "working"}  # the default panel: no models named
    assert "Do not paste the diff" in text and "conversation_id" in text
    focused = rendered_call(await get_text(client, "review", {"target": "HEAD~1..HEAD", "focus": "security"}))
    assert focused == {"diff": "HEAD~1..HEAD", "focus": "security"}


async def test_review_passes_the_models_named(client: Client) -> None:
    text = await get_text(client, "review", {"target": "staged", "models": "openai/gpt-5, anthropic/claude-sonnet-4-6"})
    assert rendered_call(text) == {"diff": "staged", "models": ["openai/gpt-5", "anthropic/claude-sonnet-4-6"]}


async def test_second_opinion_attaches_files_by_path(client: Client) -> None:
    text = await get_text(client, "second_opinion", {"question": "Is this thread-safe?",
                                                     "files": "src/a.py, src/b.py:10-40"})
    call = rendered_call(text)
    assert call["prompt"] == "Is this thread-safe?" and call["files"] == ["src/a.py", "src/b.py:10-40"]
    assert "do not paste" in text


def test_split_list_takes_commas_and_json() -> None:
    assert split_list(' a, b ,,c ') == ["a", "b", "c"]
    assert split_list('["x", "y"]') == ["x", "y"]
    assert split_list("") == []


async def test_long_results_are_declared(client: Client) -> None:
    tools = {t.name: t for t in (await client.list_tools()).tools}
    for name, tool in tools.items():
        declared = (tool.meta or {}).get("anthropic/maxResultSizeChars")
        if name in LONG:
            assert isinstance(declared, int) and declared > OUTPUT_BUDGET_CHARS, name
        else:
            assert declared is None, name


def test_start_up_builds_no_tool() -> None:
    """Start-up time is paid by every client; a tool's module, its models and the context reader only by its calls.

    The server as `serve` builds it answers tools/list from the recording (`opper_mcp.listing`).
    """
    import subprocess
    import sys

    from opper_mcp.tools.registry import TOOLS

    code = ("import sys; from opper_mcp.server import build_server; from opper_mcp.settings import Settings; "
            "build_server(Settings()); print(sorted(m for m in sys.modules if m.startswith(("
            "'opper_mcp.', 'detect_secrets', 'pathspec'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    loaded = set(eval(out))
    assert "opper_mcp.listing" in loaded  # the server was really built
    tool_modules = {f"opper_mcp.tools.{entry.function.partition(':')[0]}" for entry in TOOLS}
    assert loaded & tool_modules == set()
    assert {m for m in loaded if m.startswith(("opper_mcp.context.", "detect_secrets", "pathspec"))} == set()
