"""The README's generated blocks (client configs, tools table, flags table) match the code.

`UPDATE_README=1 uv run pytest tests/test_readme.py` rewrites every block between
`<!-- BEGIN x -->` and `<!-- END x -->` from the generators below.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest
from mcp import Client

from opper_mcp import __version__, clients, settings
from opper_mcp.cli import build_parser
from opper_mcp.server import build_server
from opper_mcp.settings import Settings
from opper_mcp.tools.registry import BY_NAME, DEFAULT_TOOLS, OFF_BY_DEFAULT, TOOL_NAMES

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
BLOCK = re.compile(r"(<!-- BEGIN (?P<name>[\w:-]+) -->\n)(?P<body>.*?)(<!-- END (?P=name) -->)", re.S)
HTTP = clients.DEFAULT_HTTP_URL


def fenced(lang: str, text: str) -> str:
    return f"```{lang}\n{text.rstrip(chr(10))}\n```\n"


def tools_table() -> str:
    async def list_tools() -> str:
        async with Client(build_server(Settings(tools=TOOL_NAMES)), mode="legacy") as client:
            tools = (await client.list_tools()).tools
        rows = ["| Tool | Title | What it does | Read-only | Open-world | Needs | OAuth scope |",
                "|---|---|---|---|---|---|---|"]
        for tool in tools:
            notes = tool.annotations
            assert notes is not None
            flags = ["yes" if flag else "no" for flag in (notes.read_only_hint, notes.open_world_hint)]
            description = clients.first_sentence(tool.description or "").replace("|", "\\|")
            if tool.name in OFF_BY_DEFAULT:
                description += " *Off by default: enable with `--tools`.*"
            needs = ", ".join(sorted(BY_NAME[tool.name].needs)) or "-"
            scope = "call" if BY_NAME[tool.name].needs_call_scope else "read"
            cells = [f"`{tool.name}`", tool.title or "", description, *flags, needs, scope]
            rows.append("| " + " | ".join(cells) + " |")
        return "\n".join(rows) + "\n"

    return anyio.run(list_tools)


NOT_READ_BY_THE_SERVER = (
    "| `OPPER_MCP_TOKEN` | Not read by the server: the variable the client configs above take the HTTP token from. |",
    "| `MAX_MCP_OUTPUT_TOKENS` | Not read by the server: Claude Code's cap on a tool result (see "
    "[Troubleshooting](#troubleshooting)). |",
)

GENERATORS: dict[str, Callable[[], str]] = {
    "tools": tools_table,
    "flags": settings.flags_table,
    "env": lambda: "\n".join(["| Environment variable | Meaning |", "|---|---|", *settings.env_only_rows(),
                              *NOT_READ_BY_THE_SERVER]) + "\n",
    "config:claude-code": lambda: fenced("bash", clients.claude_mcp_add()),
    "config:claude-code-json": lambda: fenced("json", clients.render("claude-code")),
    "config:claude-code-http": lambda: fenced("bash", clients.claude_mcp_add(clients.DEFAULT_HTTP_NAME, HTTP)),
    "config:cursor": lambda: fenced("json", clients.render("cursor")),
    "config:cursor-link": lambda: fenced("text", clients.cursor_deeplink()),
    "config:cursor-http": lambda: fenced("json", clients.render("cursor", http_url=HTTP)),
    "config:vscode": lambda: fenced("json", clients.render("vscode")),
    "config:vscode-link": lambda: fenced("text", clients.vscode_install_link())
    + "\n" + fenced("bash", clients.vscode_add_command()),
    "config:vscode-http": lambda: fenced("json", clients.render("vscode", http_url=HTTP)),
    "config:continue": lambda: fenced("yaml", clients.render("continue")),
    "config:continue-http": lambda: fenced("yaml", clients.render("continue", name="opper-remote", http_url=HTTP)),
    "config:claude-desktop": lambda: fenced("json", clients.render("claude-desktop")),
    "config:claude-desktop-http": lambda: fenced("json", clients.render("claude-desktop", http_url=HTTP)),
}


def regenerate(text: str) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group("name")
        assert name in GENERATORS, f"README has a block no generator knows: {name}"
        return f"{match.group(1)}{GENERATORS[name]()}{match.group(4)}"

    return BLOCK.sub(replace, text)


@pytest.fixture(scope="module")
def readme() -> str:
    text = README.read_text(encoding="utf-8")
    if os.environ.get("UPDATE_README") == "1":
        updated = regenerate(text)
        if updated != text:
            README.write_text(updated, encoding="utf-8")
        text = updated
    return text


def test_every_generator_has_a_block(readme: str) -> None:
    found = [m.group("name") for m in BLOCK.finditer(readme)]
    assert sorted(found) == sorted(GENERATORS), "each generated block appears exactly once"


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_generated_block_is_current(readme: str, name: str) -> None:
    bodies = {m.group("name"): m.group("body") for m in BLOCK.finditer(readme)}
    assert bodies.get(name) == GENERATORS[name](), (
        f"README block {name!r} drifted from the code: run UPDATE_README=1 uv run pytest tests/test_readme.py"
    )


def test_quick_start_opens_with_the_two_commands(readme: str) -> None:
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = [line.split("#")[0].strip() for block in re.findall(r"```(?:bash|sh)?\n(.*?)```", section, re.S)
                for line in block.splitlines() if line.strip()]
    assert commands[:2] == ["uv run opper-mcp", "uv run pytest"]
    started = f"opper-mcp {__version__}: stdio, base https://api.opper.ai, API key set, {len(DEFAULT_TOOLS)} tools"
    assert started in section


def test_registry_marker_and_sections(readme: str) -> None:
    assert "<!-- mcp-name: io.github.opper-ai/opper-mcp -->" in readme
    headings = re.findall(r"^##+ (.+)$", readme, re.M)
    for needed in ("Quick start", "Claude Code", "Cursor", "VS Code", "Continue", "Claude Desktop", "Tools",
                   "Configuration", "HTTP deployment", "Troubleshooting", "Performance", "Development"):
        assert needed in headings, needed
    performance = readme.split("## Performance", 1)[1].split("\n## ", 1)[0]
    assert "`uv run python -m tests.bench`" in performance
    # The table printed is the benchmark's own: every row it reports is in the README.
    bench = (ROOT / "tests/bench/__main__.py").read_text()
    for name in re.findall(r'report\(\s*f?"([^"{]+)', bench):
        assert name.strip() in performance, name


def test_every_setting_is_documented(readme: str) -> None:
    sources = [ROOT / "opper_mcp" / "settings.py", ROOT / "opper_mcp" / "cli.py", ROOT / "opper_mcp" / "clients.py"]
    names = set().union(*(re.findall(r"\bOPPER_[A-Z_]+\b", p.read_text()) for p in sources))
    missing = sorted(n for n in names if n not in readme)
    assert not missing, f"README does not mention {missing}"
    flags = {s for a in build_parser()._actions for s in a.option_strings if s.startswith("--")}
    assert not sorted(f for f in flags if f not in readme)


def test_troubleshooting_covers_what_breaks_most(readme: str) -> None:
    section = readme.split("## Troubleshooting", 1)[1].split("\n## ", 1)[0]
    for needle in ("which uvx", "uvx --refresh opper-mcp", f"opper-mcp@{__version__}",
                   "MAX_MCP_OUTPUT_TOKENS", "opper-mcp doctor", "progress"):
        assert needle in section, needle


def test_bundle_recipe_copies_what_a_uv_bundle_needs(readme: str) -> None:
    section = readme.split("### Claude Desktop", 1)[1].split("\n### ", 1)[0]
    recipe = re.search(r"```bash\n(.*?)```", section, re.S)
    assert recipe is not None
    for name in (*clients.MCPB_BUNDLE_FILES, "manifests/mcpb/manifest.json", "manifests/mcpb/.mcpbignore"):
        assert name in recipe.group(1), name
