"""Command line: flags + environment → Settings → stdio or HTTP transport.

stdout is the JSON-RPC wire on stdio, so everything human-readable goes to stderr.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from opper_mcp import __version__
from opper_mcp.settings import DEFAULT_BASE_URL, TOOL_NAMES, Settings, env_defaults


class RedactingFilter(logging.Filter):
    """Last line of defence: no log record ever carries a secret."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if len(s) >= 4]

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            message = record.getMessage()
            cleaned = message
            for secret in self.secrets:
                cleaned = cleaned.replace(secret, "[redacted]")
            if cleaned != message:
                record.msg, record.args = cleaned, None
            if record.exc_info and record.exc_info[1] is not None:
                text = logging.Formatter().formatException(record.exc_info)
                for secret in self.secrets:
                    text = text.replace(secret, "[redacted]")
                record.exc_info, record.exc_text = None, text
        return True


def configure_logging(settings: Settings) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter(settings.secrets()))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="opper-mcp",
        description="MCP server for the Opper LLM gateway (stdio by default, or streamable HTTP).",
        epilog="Every flag falls back to the environment variable named in its help.",
    )
    parser.add_argument("--version", action="version", version=f"opper-mcp {__version__}")
    add = parser.add_argument
    add("--transport", choices=["stdio", "http"], help="stdio (default) or http [OPPER_MCP_TRANSPORT]")
    add("--base-url", help=f"Opper API base URL, without /v3 (default {DEFAULT_BASE_URL}) [OPPER_BASE_URL]")
    add("--timeout", type=float, dest="timeout_s", help="seconds per upstream request (default 120) "
        "[OPPER_MCP_TIMEOUT]")
    add("--retries", type=int, dest="max_retries", help="retries on 429/5xx/connect errors (default 3) "
        "[OPPER_MCP_RETRIES]")
    add("--cache-dir", type=Path, help="where the spec and conversations are kept (default: user cache dir) "
        "[OPPER_MCP_CACHE_DIR]")
    add("--tools", help=f"comma-separated allow-list of tools (default all: {','.join(TOOL_NAMES)}) [OPPER_MCP_TOOLS]")
    add("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="stderr log level (default WARNING) "
        "[OPPER_MCP_LOG_LEVEL]")
    http = parser.add_argument_group("HTTP transport")
    http.add_argument("--host", help="bind address (default 127.0.0.1) [OPPER_MCP_HOST]")
    http.add_argument("--port", type=int, help="port (default 8000) [OPPER_MCP_PORT]")
    http.add_argument("--allowed-hosts", help="comma-separated Host names clients use; required off loopback "
                      "[OPPER_MCP_ALLOWED_HOSTS]")
    http.add_argument("--allowed-origins", help="comma-separated browser Origins to accept "
                      "[OPPER_MCP_ALLOWED_ORIGINS]")
    http.add_argument("--auth", dest="auth_mode", choices=["none", "token", "passthrough"],
                      help="inbound auth: none (loopback only), token (static bearer OPPER_MCP_HTTP_TOKEN) or "
                      "passthrough (each caller's bearer is its own Opper key) [OPPER_MCP_AUTH]")
    http.add_argument("--max-body-bytes", type=int, help="largest request body accepted, else 413 (default 4 MiB) "
                      "[OPPER_MCP_MAX_BODY_BYTES]")
    parser.set_defaults(command="serve")
    return parser


def settings_from(args: argparse.Namespace, env: dict[str, str] | None = None) -> Settings:
    import os

    environ = dict(os.environ) if env is None else env
    values = env_defaults(environ)
    if environ.get("OPPER_MCP_TRANSPORT", "").strip():
        values["transport"] = environ["OPPER_MCP_TRANSPORT"].strip()
    for field in ("transport", "base_url", "timeout_s", "max_retries", "cache_dir", "log_level", "host", "port",
                  "auth_mode", "max_body_bytes"):
        value = getattr(args, field, None)
        if value is not None:
            values[field] = value
    for field in ("tools", "allowed_hosts", "allowed_origins"):
        value = getattr(args, field, None)
        if value is not None:
            values[field] = tuple(p.strip() for p in value.split(",") if p.strip())
    return Settings.model_validate(values)


def _fail(message: str) -> int:
    sys.stderr.write(f"opper-mcp: {message}\n")
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = settings_from(args)
        if settings.transport == "http":
            settings.check_http()
    except ValidationError as exc:
        return _fail("; ".join(f"{'.'.join(map(str, e['loc'])) or 'config'}: {e['msg']}" for e in exc.errors()))
    except ValueError as exc:
        return _fail(str(exc))
    configure_logging(settings)
    return serve(settings)


def serve(settings: Settings) -> int:
    import anyio

    from opper_mcp.server import build_server, enabled_tools

    server = build_server(settings)
    where = (
        "stdio" if settings.transport == "stdio"
        else f"http://{settings.host}:{settings.port}/mcp (auth: {settings.auth_mode})"
    )
    key = "API key set" if settings.api_key else "no API key (public tools only)"
    if settings.auth_mode == "passthrough":
        key = "callers' own keys (pass-through)"
    count = len(enabled_tools(settings))
    sys.stderr.write(f"opper-mcp {__version__}: {where}, base {settings.base_url}, {key}, {count} tools\n")
    sys.stderr.flush()
    try:
        if settings.transport == "stdio":
            anyio.run(server.run_stdio_async)
        else:
            from opper_mcp.http import serve_http

            anyio.run(serve_http, server, settings)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
