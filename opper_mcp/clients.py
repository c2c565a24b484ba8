"""Ready-to-paste MCP client configurations, install links and manifests.

Pure functions: nothing here reads the environment, the network or the disk. Every client
gets the same server (`uvx opper-mcp` on stdio, or a streamable-HTTP URL), written in that
client's own format and with the key referenced through that client's own secret syntax,
so no configuration file ever holds a key.

The files in `manifests/` and the configuration blocks in the README are generated from
here; tests regenerate them and fail on drift.
"""

from __future__ import annotations

import base64
import json
import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal
from urllib.parse import quote, urlsplit

import yaml

from opper_mcp import __version__
from opper_mcp.settings import DEFAULT_BASE_URL, is_loopback

Client = Literal["claude-code", "cursor", "vscode", "continue", "claude-desktop"]
CLIENTS: Final[tuple[Client, ...]] = ("claude-code", "cursor", "vscode", "continue", "claude-desktop")
CLIENT_TITLES: Final[dict[Client, str]] = {
    "claude-code": "Claude Code",
    "cursor": "Cursor",
    "vscode": "VS Code",
    "continue": "Continue",
    "claude-desktop": "Claude Desktop",
}

PACKAGE: Final = "opper-mcp"
DEFAULT_NAME: Final = "opper"
DEFAULT_HTTP_NAME: Final = "opper-http"
# `opper-mcp --transport http` binds here by default.
DEFAULT_HTTP_URL: Final = "http://127.0.0.1:8000/mcp"
KEY_VAR: Final = "OPPER_API_KEY"
TOKEN_VAR: Final = "OPPER_MCP_TOKEN"  # the client side of `--auth token` (or the caller's key for passthrough)
VSCODE_KEY_INPUT: Final = "opper-key"
VSCODE_TOKEN_INPUT: Final = "opper-mcp-token"
KEY_PLACEHOLDER: Final = "<your Opper API key>"
TOKEN_PLACEHOLDER: Final = "<your opper-mcp token>"

REGISTRY_NAME: Final = "io.github.opper-ai/opper-mcp"
REGISTRY_SCHEMA: Final = "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json"
REPOSITORY_URL: Final = "https://github.com/opper-ai/opper-mcp"
HOMEPAGE: Final = "https://opper.ai"
SUMMARY: Final = "Opper's LLM gateway as MCP tools: 300+ models, roundtables, web search, API spec, traces."

JSON = dict[str, Any]


@dataclass(frozen=True)
class Launch:
    """The command a client runs to start the server on stdio."""

    command: str
    args: tuple[str, ...] = ()


UVX: Final = Launch("uvx", (PACKAGE,))


# ---- the server entry, per client ----------------------------------------------------------


# How each client refers to the key without holding it (Claude Desktop cannot: it gets a placeholder).
KEY_REFS: Final[dict[Client, str]] = {
    "claude-code": f"${{{KEY_VAR}}}",
    "cursor": f"${{env:{KEY_VAR}}}",
    "vscode": f"${{input:{VSCODE_KEY_INPUT}}}",
    "continue": f"${{{{ secrets.{KEY_VAR} }}}}",
    "claude-desktop": KEY_PLACEHOLDER,
}


def _bearer(token_ref: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token_ref}"}


def _stdio(key_ref: str, *, typed: bool, launch: Launch) -> JSON:
    entry: JSON = {"type": "stdio"} if typed else {}
    entry.update({"command": launch.command, "args": list(launch.args), "env": {KEY_VAR: key_ref}})
    return entry


def mcp_remote_args(url: str) -> list[str]:
    """`npx` arguments running mcp-remote, the stdio↔HTTP bridge for stdio-only hosts.

    The header has no space after the colon: some hosts split arguments on spaces.
    mcp-remote expands `${OPPER_MCP_TOKEN}` from its own environment.
    """
    args = ["-y", "mcp-remote", url, "--header", f"Authorization:Bearer ${{{TOKEN_VAR}}}"]
    parts = urlsplit(url)
    if parts.scheme == "http" and not is_loopback(parts.hostname or ""):
        args.append("--allow-http")
    return args


def server_entry(client: Client, http_url: str | None = None, launch: Launch = UVX) -> JSON:
    """The inner server object (what goes under the server's name in the client's file)."""
    if http_url is None:
        return _stdio(KEY_REFS[client], typed=client in ("claude-code", "vscode"), launch=launch)
    if client == "claude-code":
        return {"type": "http", "url": http_url, "headers": _bearer(f"${{{TOKEN_VAR}}}")}
    if client == "cursor":
        return {"url": http_url, "headers": _bearer(f"${{env:{TOKEN_VAR}}}")}
    if client == "vscode":
        return {"type": "http", "url": http_url, "headers": _bearer(f"${{input:{VSCODE_TOKEN_INPUT}}}")}
    if client == "continue":
        return {
            "type": "streamable-http",
            "url": http_url,
            "requestOptions": {"headers": _bearer(f"${{{{ secrets.{TOKEN_VAR} }}}}")},
        }
    return {"command": "npx", "args": mcp_remote_args(http_url), "env": {TOKEN_VAR: TOKEN_PLACEHOLDER}}


def vscode_inputs(http: bool) -> list[JSON]:
    """The password prompt VS Code shows before it starts the server."""
    if http:
        return [{"type": "promptString", "id": VSCODE_TOKEN_INPUT, "description": "opper-mcp bearer token",
                 "password": True}]
    return [{"type": "promptString", "id": VSCODE_KEY_INPUT, "description": "Opper API key", "password": True}]


def config(client: Client, *, name: str = DEFAULT_NAME, http_url: str | None = None, launch: Launch = UVX) -> JSON:
    """The whole configuration file for one server."""
    entry = server_entry(client, http_url, launch)
    if client == "vscode":
        return {"inputs": vscode_inputs(http_url is not None), "servers": {name: entry}}
    if client == "continue":
        return {
            "name": "Opper" if http_url is None else "Opper (remote)",
            "version": __version__,
            "schema": "v1",
            "mcpServers": [{"name": name, **entry}],
        }
    return {"mcpServers": {name: entry}}


# ---- rendering ------------------------------------------------------------------------------


def to_json(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


_PLAIN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_./:@-]*$")


def _yaml_scalar(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    text = str(value)
    if _PLAIN.match(text) and yaml.safe_load(text) == text:
        return text
    return json.dumps(text, ensure_ascii=False)  # a JSON string is a valid double-quoted YAML scalar


def _yaml_lines(value: Any, indent: int) -> list[str]:
    pad = " " * indent
    lines: list[str] = []
    if isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(item, Mapping) or (isinstance(item, list) and any(isinstance(i, Mapping) for i in item)):
                lines.append(f"{pad}{_yaml_scalar(key)}:")
                lines.extend(_yaml_lines(item, indent + 2))
            else:
                lines.append(f"{pad}{_yaml_scalar(key)}: {_yaml_inline(item)}")
    elif isinstance(value, list):
        for item in value:
            block = _yaml_lines(item, indent + 2) if isinstance(item, Mapping) else [f"{pad}  {_yaml_inline(item)}"]
            lines.append(f"{pad}- {block[0].lstrip()}")
            lines.extend(block[1:])
    return lines


def _yaml_inline(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_yaml_inline(v) for v in value) + "]"
    return _yaml_scalar(value)


def to_yaml(data: Mapping[str, Any]) -> str:
    """Small, predictable YAML (block mappings, flow lists of scalars) for Continue's files."""
    return "\n".join(_yaml_lines(data, 0)) + "\n"


def render(client: Client, *, name: str = DEFAULT_NAME, http_url: str | None = None, launch: Launch = UVX) -> str:
    """The configuration file's text, exactly as it should be saved."""
    data = config(client, name=name, http_url=http_url, launch=launch)
    return to_yaml(data) if client == "continue" else to_json(data)


# ---- install links and commands --------------------------------------------------------------


def cursor_deeplink(name: str = DEFAULT_NAME, http_url: str | None = None, launch: Launch = UVX) -> str:
    """Cursor's one-click install link: URL-safe base64 of the inner server object."""
    inner = json.dumps(server_entry("cursor", http_url, launch), separators=(",", ":"))
    encoded = base64.urlsafe_b64encode(inner.encode()).decode()
    return f"cursor://anysphere.cursor-deeplink/mcp/install?name={quote(name, safe='')}&config={encoded}"


def vscode_install_link(name: str = DEFAULT_NAME, http_url: str | None = None, launch: Launch = UVX) -> str:
    """VS Code's install link: the server object with its name (and password input), URL-encoded."""
    payload = {"name": name, **server_entry("vscode", http_url, launch), "inputs": vscode_inputs(http_url is not None)}
    return "vscode:mcp/install?" + quote(json.dumps(payload, separators=(",", ":")), safe="")


def vscode_add_command(name: str = DEFAULT_NAME, http_url: str | None = None, launch: Launch = UVX) -> str:
    payload = {"name": name, **server_entry("vscode", http_url, launch), "inputs": vscode_inputs(http_url is not None)}
    return shlex.join(["code", "--add-mcp", json.dumps(payload, separators=(",", ":"))])


def claude_mcp_add(
    name: str = DEFAULT_NAME, http_url: str | None = None, scope: str = "user", launch: Launch = UVX
) -> str:
    """The `claude mcp add` line; the single quotes keep `${...}` for Claude Code to expand at launch."""
    if http_url is None:
        argv = ["claude", "mcp", "add", "--scope", scope, name, "-e", f"{KEY_VAR}=${{{KEY_VAR}}}",
                "--", launch.command, *launch.args]
    else:
        argv = ["claude", "mcp", "add", "--scope", scope, "--transport", "http", name, http_url,
                "--header", f"Authorization: Bearer ${{{TOKEN_VAR}}}"]
    return shlex.join(argv)


# ---- what `opper-mcp config <client>` prints ----------------------------------------------------

WHERE: Final[dict[Client, str]] = {
    "claude-code": ".mcp.json in your project (shared, needs approval) — or use the command below",
    "cursor": ".cursor/mcp.json in your project, or ~/.cursor/mcp.json",
    "vscode": ".vscode/mcp.json in your workspace, or the user mcp.json (MCP: Open User Configuration)",
    "continue": ".continue/mcpServers/{name}.yaml in your workspace",
    "claude-desktop": "claude_desktop_config.json (Settings → Developer → Edit Config); merge into mcpServers",
}


@dataclass(frozen=True)
class Extra:
    title: str
    text: str


def extras(
    client: Client, *, name: str = DEFAULT_NAME, http_url: str | None = None, launch: Launch = UVX
) -> list[Extra]:
    """Links, commands and notes that go with a client's configuration."""
    secret = TOKEN_VAR if http_url else KEY_VAR
    out: list[Extra] = []
    if client == "claude-code":
        out.append(Extra("Or add it from the command line", claude_mcp_add(name, http_url, launch=launch)))
        out.append(Extra("Note", f"Claude Code expands ${{{secret}}} from its own environment; export it first."))
    elif client == "cursor":
        out.append(Extra("One-click install link", cursor_deeplink(name, http_url, launch)))
        out.append(Extra("Note", f"Cursor expands ${{env:{secret}}} from the environment it was started in."))
    elif client == "vscode":
        out.append(Extra("One-click install link", vscode_install_link(name, http_url, launch)))
        out.append(Extra("Or from the command line", vscode_add_command(name, http_url, launch)))
        out.append(Extra("Note", "VS Code asks for the secret once (password prompt) and stores it securely."))
    elif client == "continue":
        out.append(Extra("Note", f"Continue resolves ${{{{ secrets.{secret} }}}} from your secrets or a .env file."))
    elif http_url is None:
        out.append(Extra("Note", f"Claude Desktop does not expand variables: replace {KEY_PLACEHOLDER!r} with "
                         "your key, or install the opper-mcp.mcpb bundle, which asks for it and keeps it in the OS "
                         "keychain."))
    else:
        out.append(Extra("Note", f"Replace {TOKEN_PLACEHOLDER!r}; mcp-remote (needs Node.js) bridges stdio to HTTP."))
    return out


def setup_text(
    client: Client, *, name: str = DEFAULT_NAME, http_url: str | None = None, launch: Launch = UVX, why: str = ""
) -> str:
    """Human-oriented output: where the file goes, the file, then links and commands (and why this launcher)."""
    where = WHERE[client].format(name=name)
    text = render(client, name=name, http_url=http_url, launch=launch).rstrip("\n")
    header = f"# {CLIENT_TITLES[client]}: save as {where}"
    if why and http_url is None:
        header += f"\n# Launcher: {why}"
    parts = [header, text]
    for extra in extras(client, name=name, http_url=http_url, launch=launch):
        parts.append(f"# {extra.title}:\n{extra.text}")
    return "\n\n".join(parts) + "\n"


# ---- manifests --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ToolInfo:
    name: str
    description: str


def first_sentence(text: str) -> str:
    """The first sentence of a tool description, on one line."""
    flat = " ".join(text.split())
    match = re.search(r"(?<=[.!?])\s", flat)
    return flat[: match.start()] if match else flat


def server_tools() -> list[ToolInfo]:
    """The tools served by default, with one-sentence descriptions (the same text `tools/list` starts with)."""
    import inspect

    from opper_mcp.tools.registry import BY_NAME, DEFAULT_TOOLS

    return [ToolInfo(name, first_sentence(inspect.getdoc(BY_NAME[name].load()) or "")) for name in DEFAULT_TOOLS]


def mcpb_manifest(tools: Iterable[ToolInfo]) -> JSON:
    """A Claude Desktop bundle (MCPB 0.4, `uv` server: the host installs Python and the dependencies)."""
    return {
        "manifest_version": "0.4",
        "name": PACKAGE,
        "display_name": "Opper",
        "version": __version__,
        "description": SUMMARY,
        "long_description": "Ask any of Opper's 300+ models, get several models' opinions at once, search and "
        "read the web, look things up in Opper's live API spec and inspect traces, from Claude Desktop.",
        "author": {"name": "Opper", "url": HOMEPAGE},
        "homepage": HOMEPAGE,
        "repository": {"type": "git", "url": REPOSITORY_URL},
        "license": "MIT",
        "keywords": ["opper", "llm", "gateway", "models", "roundtable", "web-search", "openapi", "traces"],
        "server": {
            "type": "uv",
            "entry_point": "opper_mcp/__main__.py",
            "mcp_config": {
                "command": "uv",
                "args": ["run", "--no-dev", "--directory", "${__dirname}", PACKAGE],
                "env": {KEY_VAR: "${user_config.opper_api_key}"},
            },
        },
        "tools": [{"name": t.name, "description": t.description} for t in tools],
        "user_config": {
            "opper_api_key": {
                "type": "string",
                "title": "Opper API key",
                "description": "Your Opper API key (https://platform.opper.ai). Stored in the OS keychain.",
                "sensitive": True,
                "required": True,
            }
        },
        "compatibility": {"platforms": ["darwin", "win32", "linux"], "runtimes": {"python": ">=3.11"}},
    }


def registry_server() -> JSON:
    """The MCP Registry entry (`server.json`, schema 2025-12-11)."""
    return {
        "$schema": REGISTRY_SCHEMA,
        "name": REGISTRY_NAME,
        "title": "Opper",
        "description": SUMMARY,
        "version": __version__,
        "websiteUrl": HOMEPAGE,
        "repository": {"url": REPOSITORY_URL, "source": "github"},
        "packages": [
            {
                "registryType": "pypi",
                "identifier": PACKAGE,
                "version": __version__,
                "runtimeHint": "uvx",
                "transport": {"type": "stdio"},
                "environmentVariables": [
                    {"name": KEY_VAR, "description": "Opper API key", "isRequired": True, "isSecret": True,
                     "format": "string"},
                    {"name": "OPPER_BASE_URL", "description": "Opper API base URL, without /v3",
                     "isRequired": False, "isSecret": False, "format": "string", "default": DEFAULT_BASE_URL},
                ],
            }
        ],
    }


# What a `uv` bundle holds next to manifest.json: the host builds the environment from pyproject.toml.
MCPB_BUNDLE_FILES: Final = ("pyproject.toml", "uv.lock", "README.md", "opper_mcp")
MCPB_IGNORE: Final = "__pycache__/\n*.pyc\n.venv/\n"


def _merged(client: Client) -> JSON:
    """A project file with the stdio server and, next to it, the same server over HTTP."""
    data = config(client)
    data["mcpServers"][DEFAULT_HTTP_NAME] = server_entry(client, DEFAULT_HTTP_URL)
    return data


def manifest_files(tools: Sequence[ToolInfo] | None = None) -> dict[str, str]:
    """Every file under `manifests/`, by relative path."""
    return {
        "claude-code.mcp.json": to_json(_merged("claude-code")),
        "cursor.mcp.json": render("cursor"),
        "vscode.mcp.json": render("vscode"),
        "claude_desktop_config.json": render("claude-desktop"),
        "continue/opper.yaml": render("continue"),
        "continue/opper-remote.yaml": render("continue", name="opper-remote", http_url=DEFAULT_HTTP_URL),
        "mcpb/manifest.json": to_json(mcpb_manifest(server_tools() if tools is None else tools)),
        "mcpb/.mcpbignore": MCPB_IGNORE,
        "server.json": to_json(registry_server()),
    }
