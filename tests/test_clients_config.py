"""opper_mcp.clients and `opper-mcp config`: every client's format, secret syntax, links and commands."""

from __future__ import annotations

import base64
import json
import shlex
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import yaml

from opper_mcp import clients
from opper_mcp.cli import main
from tests.test_manifests import MANIFESTS, check_shape

REMOTE = "https://mcp.example.com/mcp"
KEY_REFS = {
    "claude-code": "${OPPER_API_KEY}",
    "cursor": "${env:OPPER_API_KEY}",
    "vscode": "${input:opper-key}",
    "continue": "${{ secrets.OPPER_API_KEY }}",
    "claude-desktop": "<your Opper API key>",
}


@pytest.fixture(autouse=True)
def nothing_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`config` prefers an installed opper-mcp: these tests check the uvx configs, whatever this machine has."""
    monkeypatch.setenv("PATH", str(tmp_path / "empty-path"))


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(["config", *argv]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    return captured.out


def parse(client: str, text: str) -> object:
    return yaml.safe_load(text) if client == "continue" else json.loads(text)


def config_block(client: str, output: str) -> str:
    """The file content inside `opper-mcp config` output: between the header comment and the next section."""
    body = output.split("\n\n", 1)[1]
    return body.split("\n\n# ", 1)[0] + "\n"


# ---- formats -----------------------------------------------------------------------------------


@pytest.mark.parametrize("client", clients.CLIENTS)
@pytest.mark.parametrize("http_url", [None, clients.DEFAULT_HTTP_URL, REMOTE])
def test_every_config_has_the_client_shape(client: clients.Client, http_url: str | None) -> None:
    data = clients.config(client, http_url=http_url)
    if client == "continue":
        assert data["schema"] == "v1" and len(data["mcpServers"]) == 1
        entry = data["mcpServers"][0]
        assert entry["name"] == "opper"
        if http_url:
            assert entry["type"] == "streamable-http"  # `http` is invalid in Continue
            assert entry["requestOptions"]["headers"]["Authorization"] == "Bearer ${{ secrets.OPPER_MCP_TOKEN }}"
    else:
        check_shape(client, data)
    assert yaml.safe_load(clients.render(client, http_url=http_url)) == data  # JSON is YAML too


@pytest.mark.parametrize("client", clients.CLIENTS)
def test_stdio_runs_uvx_with_the_clients_secret_syntax(client: clients.Client) -> None:
    entry = clients.server_entry(client)
    assert entry["command"] == "uvx" and entry["args"] == ["opper-mcp"]
    assert entry["env"] == {"OPPER_API_KEY": KEY_REFS[client]}


def test_http_entries() -> None:
    url = clients.DEFAULT_HTTP_URL
    assert clients.server_entry("claude-code", url) == {
        "type": "http", "url": url, "headers": {"Authorization": "Bearer ${OPPER_MCP_TOKEN}"}}
    assert clients.server_entry("cursor", url) == {
        "url": url, "headers": {"Authorization": "Bearer ${env:OPPER_MCP_TOKEN}"}}
    assert clients.server_entry("vscode", url) == {
        "type": "http", "url": url, "headers": {"Authorization": "Bearer ${input:opper-mcp-token}"}}
    desktop = clients.server_entry("claude-desktop", url)
    assert desktop["command"] == "npx"
    assert desktop["args"] == ["-y", "mcp-remote", url, "--header", "Authorization:Bearer ${OPPER_MCP_TOKEN}"]
    assert desktop["env"] == {"OPPER_MCP_TOKEN": "<your opper-mcp token>"}


def test_mcp_remote_header_has_no_space_after_the_colon() -> None:
    for url in (clients.DEFAULT_HTTP_URL, REMOTE, "http://10.0.0.5:8000/mcp"):
        header = clients.mcp_remote_args(url)[4]
        assert header.startswith("Authorization:Bearer ")
    assert "--allow-http" in clients.mcp_remote_args("http://10.0.0.5:8000/mcp")  # plain HTTP off loopback
    assert "--allow-http" not in clients.mcp_remote_args(clients.DEFAULT_HTTP_URL)
    assert "--allow-http" not in clients.mcp_remote_args(REMOTE)


def test_no_config_holds_a_key_or_token() -> None:
    for client in clients.CLIENTS:
        for url in (None, REMOTE):
            text = clients.render(client, http_url=url)
            assert "op-" not in text and "sk-" not in text
    for text in clients.manifest_files().values():
        assert "op-" not in text and "sk-" not in text


def test_vscode_inputs_are_passwords() -> None:
    for url in (None, REMOTE):
        inputs = clients.config("vscode", http_url=url)["inputs"]
        assert inputs and all(i["type"] == "promptString" and i["password"] is True for i in inputs)


@pytest.mark.parametrize("value", ["plain", "with space", "a: b", "#hash", "true", "1.0", "", "${{ x }}", "it's",
                                   'quo"te', "null", "- dash", "[x]", "é"])
def test_yaml_emitter_round_trips(value: str) -> None:
    data = {"name": value, "list": [value, "b"], "nested": {"k": value}, "items": [{"a": value, "b": ["c"]}]}
    assert yaml.safe_load(clients.to_yaml(data)) == data


def test_first_sentence() -> None:
    assert clients.first_sentence("Ask any model. Returns\n    more.") == "Ask any model."
    assert clients.first_sentence("No full stop") == "No full stop"
    assert clients.first_sentence("Uses v3.1 here. Then") == "Uses v3.1 here."


# ---- links and commands ---------------------------------------------------------------------------


@pytest.mark.parametrize("http_url", [None, REMOTE])
def test_cursor_deeplink_carries_the_inner_server_object(http_url: str | None) -> None:
    link = clients.cursor_deeplink("opper", http_url)
    parts = urlsplit(link)
    assert (parts.scheme, parts.netloc, parts.path) == ("cursor", "anysphere.cursor-deeplink", "/mcp/install")
    query = parse_qs(parts.query)
    assert query["name"] == ["opper"]
    raw = query["config"][0]
    assert "+" not in raw and "/" not in raw  # URL-safe alphabet
    inner = json.loads(base64.urlsafe_b64decode(raw))
    assert inner == clients.server_entry("cursor", http_url)
    assert "opper" not in inner and "mcpServers" not in inner  # not wrapped in {name: {...}}


@pytest.mark.parametrize("http_url", [None, REMOTE])
def test_vscode_install_link(http_url: str | None) -> None:
    link = clients.vscode_install_link("opper", http_url)
    prefix = "vscode:mcp/install?"
    assert link.startswith(prefix)
    payload = json.loads(unquote(link[len(prefix):]))
    assert payload.pop("name") == "opper"
    assert payload.pop("inputs") == clients.vscode_inputs(http_url is not None)
    assert payload == clients.server_entry("vscode", http_url)
    argv = shlex.split(clients.vscode_add_command("opper", http_url))
    assert argv[:2] == ["code", "--add-mcp"] and json.loads(argv[2])["name"] == "opper"


def test_claude_mcp_add_lines() -> None:
    stdio = shlex.split(clients.claude_mcp_add())
    assert stdio == ["claude", "mcp", "add", "--scope", "user", "opper", "-e", "OPPER_API_KEY=${OPPER_API_KEY}",
                     "--", "uvx", "opper-mcp"]
    http = shlex.split(clients.claude_mcp_add("opper-http", REMOTE))
    assert http == ["claude", "mcp", "add", "--scope", "user", "--transport", "http", "opper-http", REMOTE,
                    "--header", "Authorization: Bearer ${OPPER_MCP_TOKEN}"]
    # Single-quoted, so the shell passes ${...} through for Claude Code to expand at launch.
    assert "'OPPER_API_KEY=${OPPER_API_KEY}'" in clients.claude_mcp_add()


# ---- `opper-mcp config` --------------------------------------------------------------------------

CLI_MANIFEST = {
    "cursor": "cursor.mcp.json",
    "vscode": "vscode.mcp.json",
    "claude-desktop": "claude_desktop_config.json",
    "continue": "continue/opper.yaml",
}


@pytest.mark.parametrize("client", clients.CLIENTS)
def test_config_output_parses_and_matches_the_manifest(client: clients.Client,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    raw = run_cli(capsys, client, "--raw")
    full = run_cli(capsys, client)
    assert parse(client, config_block(client, full)) == parse(client, raw)
    if client == "claude-code":
        http = run_cli(capsys, client, "--raw", "--http", clients.DEFAULT_HTTP_URL, "--name", "opper-http")
        merged = json.loads(raw)
        merged["mcpServers"].update(json.loads(http)["mcpServers"])
        assert json.dumps(merged, indent=2) + "\n" == (MANIFESTS / "claude-code.mcp.json").read_text()
    else:
        assert raw == (MANIFESTS / CLI_MANIFEST[client]).read_text()
    if client == "continue":
        remote = run_cli(capsys, client, "--raw", "--http", clients.DEFAULT_HTTP_URL, "--name", "opper-remote")
        assert remote == (MANIFESTS / "continue" / "opper-remote.yaml").read_text()


def test_config_output_carries_links_and_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert clients.claude_mcp_add() in run_cli(capsys, "claude-code")
    assert clients.cursor_deeplink() in run_cli(capsys, "cursor")
    assert clients.vscode_install_link() in run_cli(capsys, "vscode")
    out = run_cli(capsys, "cursor", "--http", REMOTE, "--name", "team")
    assert clients.cursor_deeplink("team", REMOTE) in out
    assert json.loads(config_block("cursor", out)) == {"mcpServers": {"team": clients.server_entry("cursor", REMOTE)}}


def test_config_rejects_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["config", "notepad"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        main(["config", "cursor", "--http", "example.com/mcp"])
    assert exc.value.code == 2
    assert "http://" in capsys.readouterr().err


def test_serving_flags_still_reach_the_server_parser(capsys: pytest.CaptureFixture[str]) -> None:
    """No subcommand = serve: its flags are parsed as before (a bad one fails before anything starts)."""
    assert main(["--tools", "nope"]) == 2
    assert "unknown tool" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0


def test_config_subprocess_stdout_is_only_the_file(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "opper_mcp", "config", "vscode", "--raw"], capture_output=True,
                            text=True, timeout=60, check=True)
    assert result.stdout == (MANIFESTS / "vscode.mcp.json").read_text()
