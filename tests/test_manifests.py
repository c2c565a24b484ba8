"""manifests/: generated from opper_mcp.clients, byte for byte, and accepted by each format's validator.

`UPDATE_MANIFESTS=1 uv run pytest tests/test_manifests.py` rewrites the files from the generator.
Validators that run offline: mcpb (validate + pack), Continue's config-yaml, the MCP Registry schema
(jsonschema and skillsaw). Claude Code, Cursor and VS Code have no offline validator: they are
checked against the JSON Schemas below, written from each client's documented format.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from importlib.resources import files
from pathlib import Path
from typing import Any

import anyio
import jsonschema
import pytest
import yaml
from mcp import Client, StdioServerParameters

from opper_mcp import __version__, clients
from opper_mcp.server import build_server
from opper_mcp.settings import Settings
from tests.fake_opper import TEST_KEY, FakeOpperServer
from tests.transport_support import JS_DIR, NODE22, NODE_MODULES, ROOT, missing

MANIFESTS = ROOT / "manifests"
MCPB_CLI = NODE_MODULES / "@anthropic-ai" / "mcpb" / "dist" / "cli" / "cli.js"
CONTINUE_CLI = NODE_MODULES / "@continuedev" / "config-yaml" / "dist" / "cli.js"
REGISTRY_SCHEMA = "schemas/mcp_registry/v2025_12_11/server.schema.json"


def node(*args: str | Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run the pinned node 22 from tests/js (skips when `npm ci` has not been run there)."""
    if not NODE22.exists():
        missing(f"{NODE_MODULES} is absent: run `npm ci` in tests/js for the manifest validators")
    return subprocess.run([str(NODE22), *map(str, args)], cwd=JS_DIR, capture_output=True, text=True,
                          timeout=timeout, check=False)


# ---- shape schemas for the clients without an offline validator ---------------------------------

_STR_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
_STR_LIST = {"type": "array", "items": {"type": "string"}}
_STDIO_PROPS = {"command": {"type": "string", "minLength": 1}, "args": _STR_LIST, "env": _STR_MAP}

CLAUDE_CODE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["mcpServers"],
    "additionalProperties": False,
    "properties": {"mcpServers": {"type": "object", "minProperties": 1, "additionalProperties": {"oneOf": [
        {"type": "object", "required": ["command"], "additionalProperties": False,
         "properties": {"type": {"const": "stdio"}, **_STDIO_PROPS}},
        # A url without a type is skipped by Claude Code: type is required for remote entries.
        {"type": "object", "required": ["type", "url"], "additionalProperties": False,
         "properties": {"type": {"enum": ["http", "sse"]}, "url": {"type": "string", "pattern": "^https?://"},
                        "headers": _STR_MAP}},
    ]}}},
}

CURSOR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["mcpServers"],
    "additionalProperties": False,
    "properties": {"mcpServers": {"type": "object", "minProperties": 1, "additionalProperties": {"oneOf": [
        {"type": "object", "required": ["command"], "additionalProperties": False,
         "properties": {"type": {"const": "stdio"}, **_STDIO_PROPS, "envFile": {"type": "string"}}},
        {"type": "object", "required": ["url"], "additionalProperties": False,
         "properties": {"url": {"type": "string", "pattern": "^https?://"}, "headers": _STR_MAP}},
    ]}}},
}

VSCODE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["servers"],
    "additionalProperties": False,
    "properties": {
        "inputs": {"type": "array", "items": {
            "type": "object", "required": ["type", "id", "description"], "additionalProperties": False,
            "properties": {"type": {"const": "promptString"}, "id": {"type": "string"},
                           "description": {"type": "string"}, "password": {"type": "boolean"}}}},
        "servers": {"type": "object", "minProperties": 1, "additionalProperties": {"oneOf": [
            {"type": "object", "required": ["type", "command"], "additionalProperties": False,
             "properties": {"type": {"const": "stdio"}, **_STDIO_PROPS, "envFile": {"type": "string"}}},
            {"type": "object", "required": ["type", "url"], "additionalProperties": False,
             "properties": {"type": {"enum": ["http", "sse"]}, "url": {"type": "string", "pattern": "^https?://"},
                            "headers": _STR_MAP}},
        ]}},
    },
}

CLAUDE_DESKTOP_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["mcpServers"],
    "additionalProperties": False,
    "properties": {"mcpServers": {"type": "object", "minProperties": 1, "additionalProperties": {
        "type": "object", "required": ["command"], "additionalProperties": False, "properties": _STDIO_PROPS}}},
}

SHAPES: dict[str, dict[str, Any]] = {
    "claude-code": CLAUDE_CODE_SCHEMA,
    "cursor": CURSOR_SCHEMA,
    "vscode": VSCODE_SCHEMA,
    "claude-desktop": CLAUDE_DESKTOP_SCHEMA,
}


def check_shape(client: str, data: Any) -> None:
    jsonschema.validate(data, SHAPES[client])
    if client == "vscode":
        defined = {i["id"]: i for i in data.get("inputs", [])}
        used = set(re.findall(r"\$\{input:([^}]+)\}", json.dumps(data["servers"])))
        assert used <= defined.keys(), f"undefined inputs {used - defined.keys()}"
        assert all(defined[i].get("password") for i in used), "secrets must be password inputs"


# ---- generated == on disk -----------------------------------------------------------------------


def test_manifests_match_the_generator() -> None:
    generated = clients.manifest_files()
    if os.environ.get("UPDATE_MANIFESTS") == "1":
        for rel, text in generated.items():
            path = MANIFESTS / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(text.encode("utf-8"))
    on_disk = {p.relative_to(MANIFESTS).as_posix() for p in MANIFESTS.rglob("*") if p.is_file()}
    assert on_disk == set(generated), "manifests/ holds files the generator does not make (or misses some)"
    for rel, text in generated.items():
        assert (MANIFESTS / rel).read_bytes() == text.encode("utf-8"), (
            f"manifests/{rel} drifted from opper_mcp.clients: run UPDATE_MANIFESTS=1 uv run pytest "
            "tests/test_manifests.py"
        )


def test_versions_are_the_package_version() -> None:
    mcpb = json.loads((MANIFESTS / "mcpb" / "manifest.json").read_text())
    registry = json.loads((MANIFESTS / "server.json").read_text())
    assert mcpb["version"] == __version__
    assert registry["version"] == __version__
    assert [p["version"] for p in registry["packages"]] == [__version__]
    for name in ("opper.yaml", "opper-remote.yaml"):
        assert yaml.safe_load((MANIFESTS / "continue" / name).read_text())["version"] == __version__


@pytest.mark.parametrize("rel, client", [
    ("claude-code.mcp.json", "claude-code"),
    ("cursor.mcp.json", "cursor"),
    ("vscode.mcp.json", "vscode"),
    ("claude_desktop_config.json", "claude-desktop"),
])
def test_json_manifest_shapes(rel: str, client: str) -> None:
    check_shape(client, json.loads((MANIFESTS / rel).read_text()))


def test_claude_code_manifest_has_stdio_and_http() -> None:
    servers = json.loads((MANIFESTS / "claude-code.mcp.json").read_text())["mcpServers"]
    assert servers["opper"]["command"] == "uvx" and servers["opper"]["args"] == ["opper-mcp"]
    assert servers["opper"]["env"] == {"OPPER_API_KEY": "${OPPER_API_KEY}"}
    http = servers["opper-http"]
    assert http["type"] == "http"
    assert http["headers"] == {"Authorization": "Bearer ${OPPER_MCP_TOKEN}"}


@pytest.mark.anyio
async def test_mcpb_tools_are_the_live_tools() -> None:
    manifest = json.loads((MANIFESTS / "mcpb" / "manifest.json").read_text())
    async with Client(build_server(Settings()), mode="legacy") as client:
        live = (await client.list_tools()).tools
    assert [t["name"] for t in manifest["tools"]] == [t.name for t in live]
    for entry, tool in zip(manifest["tools"], live, strict=True):
        assert entry["description"] == clients.first_sentence(tool.description or "")
        assert 10 <= len(entry["description"]) <= 200


# ---- MCPB (Claude Desktop bundle) ------------------------------------------------------------------


def test_mcpb_manifest_validates() -> None:
    result = node(MCPB_CLI, "validate", MANIFESTS / "mcpb" / "manifest.json")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Manifest schema validation passes!" in result.stdout
    manifest = json.loads((MANIFESTS / "mcpb" / "manifest.json").read_text())
    assert manifest["manifest_version"] == "0.4" and manifest["server"]["type"] == "uv"
    assert manifest["user_config"]["opper_api_key"]["sensitive"] is True
    assert manifest["server"]["mcp_config"]["env"] == {"OPPER_API_KEY": "${user_config.opper_api_key}"}


def stage_bundle(dest: Path) -> Path:
    """What the README's bundle recipe stages: the manifest, .mcpbignore, and what the host builds the env from."""
    dest.mkdir(parents=True)
    for name in ("manifest.json", ".mcpbignore"):
        shutil.copy2(MANIFESTS / "mcpb" / name, dest / name)
    for name in clients.MCPB_BUNDLE_FILES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, dest / name)  # .mcpbignore keeps __pycache__ out of the archive
        else:
            shutil.copy2(source, dest / name)
    return dest


@pytest.mark.anyio
async def test_mcpb_pack_builds_a_bundle_that_serves(tmp_path: Path, fake_opper: FakeOpperServer) -> None:
    """`mcpb pack` makes a bundle; unpacked and started with its mcp_config, it serves the tools."""
    if not NODE22.exists():
        missing(f"{NODE_MODULES} is absent: run `npm ci` in tests/js for the manifest validators")
    out = tmp_path / "opper-mcp.mcpb"
    packed = await anyio.run_process([str(NODE22), str(MCPB_CLI), "pack", str(stage_bundle(tmp_path / "bundle")),
                                      str(out)], cwd=JS_DIR, check=False)
    assert packed.returncode == 0, packed.stdout.decode() + packed.stderr.decode()
    assert "Manifest schema validation passes!" in packed.stdout.decode()
    installed = tmp_path / "installed"
    with zipfile.ZipFile(out) as archive:
        names = set(archive.namelist())
        assert {"manifest.json", "pyproject.toml", "uv.lock", "README.md", "opper_mcp/__main__.py"} <= names
        assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
        manifest = json.loads(archive.read("manifest.json"))
        assert manifest["server"]["entry_point"] in names
        archive.extractall(installed)

    # Start it the way the host does: mcp_config, with ${__dirname} = where the bundle was unpacked.
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not on PATH")
    config = manifest["server"]["mcp_config"]
    assert config["command"] == "uv"
    args = [a.replace("${__dirname}", str(installed)) for a in config["args"]]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPPER_", "VIRTUAL_ENV", "UV_PROJECT"))}
    warm = await anyio.run_process([uv, *args, "--version"], env=env, check=False)  # builds the env once
    stderr = warm.stderr.decode(errors="replace")
    if warm.returncode != 0 and re.search(r"(?i)network|dns error|failed to fetch|offline", stderr):
        pytest.skip(f"uv could not fetch the bundle's dependencies: {stderr.strip()[-300:]}")
    assert warm.returncode == 0, stderr
    assert warm.stdout.decode().strip() == f"opper-mcp {__version__}"

    env.update({k: v.replace("${user_config.opper_api_key}", TEST_KEY) for k, v in config["env"].items()})
    env.update({"OPPER_BASE_URL": fake_opper.url, "OPPER_MCP_CACHE_DIR": str(tmp_path / "cache")})
    params = StdioServerParameters(command=uv, args=args, env=env)
    async with Client(params, mode="legacy", read_timeout_seconds=60) as client:
        tools = (await client.list_tools()).tools
        assert [t.name for t in tools] == [t["name"] for t in manifest["tools"]]
        result = await client.call_tool("list_traces", {"limit": 1})
        assert not result.is_error, result.content


# ---- Continue ------------------------------------------------------------------------------------------

CONTINUE_BLOCK_CHECK = """
import { readFileSync } from "fs";
import { parseBlock } from "@continuedev/config-yaml";
for (const file of process.argv.slice(1)) {
  const block = parseBlock(readFileSync(file, "utf-8"));
  console.log(`block ok: ${block.mcpServers.length} server(s)`);
}
"""


@pytest.mark.parametrize("name", ["opper.yaml", "opper-remote.yaml"])
def test_continue_blocks_validate(name: str) -> None:
    path = MANIFESTS / "continue" / name
    result = node(CONTINUE_CLI, path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "✅ Config file is valid!" in result.stdout
    # The block schema (a file in .continue/mcpServers/) admits exactly one server.
    block = node("--input-type=module", "-e", CONTINUE_BLOCK_CHECK, path)
    assert block.returncode == 0, block.stderr
    assert block.stdout.strip() == "block ok: 1 server(s)"
    data = yaml.safe_load(path.read_text())
    assert data["schema"] == "v1" and len(data["mcpServers"]) == 1


def test_continue_rejects_what_we_avoid(tmp_path: Path) -> None:
    """The validator is live: `type: http` (valid elsewhere) is refused by Continue."""
    data = yaml.safe_load((MANIFESTS / "continue" / "opper-remote.yaml").read_text())
    data["mcpServers"][0]["type"] = "http"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data))
    result = node(CONTINUE_CLI, bad)
    assert result.returncode == 1


# ---- MCP Registry -------------------------------------------------------------------------------


def registry_validator() -> jsonschema.Draft7Validator:
    skillsaw = pytest.importorskip("skillsaw")
    schema = json.loads((files(skillsaw) / REGISTRY_SCHEMA).read_text(encoding="utf-8"))
    return jsonschema.Draft7Validator(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)


def test_server_json_matches_the_registry_schema() -> None:
    data = json.loads((MANIFESTS / "server.json").read_text())
    validator = registry_validator()
    assert [e.message for e in validator.iter_errors(data)] == []
    assert data["$schema"].endswith("/2025-12-11/server.schema.json")
    assert data["name"] == "io.github.opper-ai/opper-mcp"
    assert len(data["description"]) <= 100
    package = data["packages"][0]
    assert (package["registryType"], package["identifier"], package["runtimeHint"]) == ("pypi", "opper-mcp", "uvx")
    assert package["transport"] == {"type": "stdio"}
    env = {v["name"]: v for v in package["environmentVariables"]}
    assert env["OPPER_API_KEY"]["isSecret"] is True and env["OPPER_API_KEY"]["isRequired"] is True
    assert "OPPER_BASE_URL" in env
    # The schema is live: it refuses what the registry refuses.
    assert not validator.is_valid({**data, "description": "x" * 101})
    assert not validator.is_valid({**data, "name": "opper-mcp"})


def test_server_json_passes_skillsaw(tmp_path: Path) -> None:
    registry_validator()  # skips when skillsaw is not installed
    shutil.copy2(MANIFESTS / "server.json", tmp_path / "server.json")
    result = subprocess.run([sys.executable, "-m", "skillsaw", "lint", str(tmp_path)], capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "All checks passed" in result.stdout
