"""Claude Code itself (its npm package's native binary) health-checks the shipped `.mcp.json`.

`claude mcp list` connects to every approved server of the project and prints "✔ Connected" or
"✘ Failed". It always exits 0, so the test reads its output. The manifest's entries are used as
shipped, except that `uvx opper-mcp` (PyPI) becomes this checkout and the HTTP URL the test server's.
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fake_opper import TEST_KEY, FakeOpperServer
from tests.transport_support import (
    NODE_MODULES,
    ROOT,
    HttpServer,
    clean_environ,
    http_server,
    missing,
    server_env,
)

CLAUDE = NODE_MODULES / "@anthropic-ai" / "claude-code-linux-x64" / "claude"
TOKEN = "cc-token-5d1e"


@pytest.fixture(scope="module")
def claude() -> Path:
    if not NODE_MODULES.is_dir():
        missing(f"{NODE_MODULES} is absent: run `npm ci` in tests/js to run the third-party client tests")
    if sys.platform != "linux" or platform.machine() != "x86_64" or not CLAUDE.exists():
        pytest.skip("the Claude Code binary installed by tests/js is the linux-x64 one")
    return CLAUDE


@pytest.fixture(scope="module")
def token_server(emulator: FakeOpperServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpServer]:
    logs = tmp_path_factory.mktemp("cc-http")
    env = server_env(emulator.url, logs / "cache", OPPER_MCP_HTTP_TOKEN=TOKEN)
    with http_server(env, logs, "--auth", "token") as server:
        yield server


def project(tmp: Path, url: str, cache: Path, base_url: str) -> tuple[Path, Path]:
    """A project whose `.mcp.json` is the shipped manifest, approved in an isolated Claude Code home."""
    manifest: dict[str, Any] = json.loads((ROOT / "manifests" / "claude-code.mcp.json").read_text())
    servers = manifest["mcpServers"]
    assert servers["opper"]["command"] == "uvx" and servers["opper"]["args"] == ["opper-mcp"]
    servers["opper"]["command"] = sys.executable
    servers["opper"]["args"] = ["-m", "opper_mcp"]
    servers["opper"]["env"].update({"OPPER_BASE_URL": base_url, "OPPER_MCP_CACHE_DIR": str(cache)})
    servers["opper-http"]["url"] = url
    proj, home = tmp / "project", tmp / "home"
    proj.mkdir()
    (home / ".claude").mkdir(parents=True)
    (proj / ".mcp.json").write_text(json.dumps(manifest))
    approved = {"projects": {str(proj): {"hasTrustDialogAccepted": True, "enabledMcpjsonServers": list(servers)}}}
    (home / ".claude" / ".claude.json").write_text(json.dumps(approved))
    return proj, home


def mcp_list(claude: Path, proj: Path, home: Path, **env: str) -> str:
    environ = {**clean_environ(), "HOME": str(home), "CLAUDE_CONFIG_DIR": str(home / ".claude"),
               "DISABLE_TELEMETRY": "1", "DISABLE_AUTOUPDATER": "1", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
               "PYTHONPATH": str(ROOT), **env}
    done = subprocess.run([str(claude), "mcp", "list"], cwd=proj, env=environ, capture_output=True, text=True,
                          timeout=90, stdin=subprocess.DEVNULL)
    return done.stdout + done.stderr


def line_of(output: str, name: str) -> str:
    return next((line for line in output.splitlines() if line.startswith(f"{name}:")), f"<no line for {name}>")


def test_shipped_entries_connect(claude: Path, token_server: HttpServer, emulator: FakeOpperServer,
                                 tmp_path: Path) -> None:
    proj, home = project(tmp_path, token_server.url, tmp_path / "cache", emulator.url)
    output = mcp_list(claude, proj, home, OPPER_API_KEY=TEST_KEY, OPPER_MCP_TOKEN=TOKEN)
    assert "✔ Connected" in line_of(output, "opper"), output
    assert "✔ Connected" in line_of(output, "opper-http"), output
    assert TEST_KEY not in output and TOKEN not in output


def test_wrong_token_fails_the_check(claude: Path, token_server: HttpServer, emulator: FakeOpperServer,
                                     tmp_path: Path) -> None:
    """The health check is real: the same HTTP entry with a wrong token does not connect."""
    proj, home = project(tmp_path, token_server.url, tmp_path / "cache", emulator.url)
    output = mcp_list(claude, proj, home, OPPER_API_KEY=TEST_KEY, OPPER_MCP_TOKEN="not-the-token")
    assert "✔ Connected" not in line_of(output, "opper-http"), output
    assert "✔ Connected" in line_of(output, "opper"), output
