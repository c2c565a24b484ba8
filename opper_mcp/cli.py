"""Command line: flags + environment → Settings → stdio or HTTP transport.

stdout is the JSON-RPC wire on stdio, so everything human-readable goes to stderr.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError

from opper_mcp import __version__
from opper_mcp.settings import Settings, add_arguments, env_defaults, settings_from

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

    from opper_mcp.runtime.state import AppState


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
        epilog="Every flag falls back to the environment variable named in its help. "
        "The Opper API key is read only from OPPER_API_KEY (never a flag, so it stays out of process lists).",
    )
    parser.add_argument("--version", action="version", version=f"opper-mcp {__version__}")
    add_arguments(parser)
    parser.set_defaults(command="serve")
    return parser


def _fail(message: str) -> int:
    sys.stderr.write(f"opper-mcp: {message}\n")
    return 2


def _invalid(exc: ValidationError) -> int:
    return _fail("; ".join(f"{'.'.join(map(str, e['loc'])) or 'config'}: {e['msg']}" for e in exc.errors()))


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in SUBCOMMANDS:
        return SUBCOMMANDS[argv[0]](argv[1:])
    args = build_parser().parse_args(argv)
    try:
        settings = settings_from(args)
        if settings.transport == "http":
            settings.check_http()
        from opper_mcp.store import check_driver

        check_driver(settings.store_url or "sqlite://")
    except ValidationError as exc:
        return _invalid(exc)
    except ValueError as exc:
        return _fail(str(exc))
    configure_logging(settings)
    return serve(settings)


# ---- subcommands (human-facing: they write to stdout) ----------------------------------------


def doctor_main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="opper-mcp doctor",
        description="Check Python, uvx, the API key, Opper's reachability, the spec cache and the model list.",
        epilog="Reads the same environment variables as the server. The key is never printed.",
    )
    add_arguments(parser, ("base_url", "timeout_s", "cache_dir", "store"))
    args = parser.parse_args(argv)
    try:
        settings = settings_from(args)
    except ValidationError as exc:
        return _invalid(exc)
    configure_logging(settings)
    from opper_mcp.doctor import doctor

    return doctor(settings)


def config_main(argv: Sequence[str]) -> int:
    from opper_mcp import clients, launchers

    parser = argparse.ArgumentParser(
        prog="opper-mcp config",
        description="Print a ready-to-paste MCP configuration for a client, with install links and commands.",
    )
    parser.add_argument("client", choices=clients.CLIENTS)
    parser.add_argument("--http", metavar="URL", dest="http_url",
                        help="connect to a running opper-mcp HTTP server (e.g. http://127.0.0.1:8000/mcp) "
                        "instead of starting one with uvx")
    launcher = parser.add_mutually_exclusive_group()
    launcher.add_argument("--from-source", nargs="?", const="", metavar="DIR", type=str,
                          help="run a clone with `uv run --directory DIR opper-mcp` (default: this checkout); "
                          "works before the package is published")
    launcher.add_argument("--uvx", action="store_true",
                          help="always `uvx opper-mcp`, even when opper-mcp is installed (by default an installed "
                          "script, e.g. from `uv tool install opper-mcp`, is run by absolute path: faster starts)")
    parser.add_argument("--name", default=clients.DEFAULT_NAME, help="server name in the client (default opper)")
    parser.add_argument("--raw", action="store_true", help="print only the file content (to redirect into a file)")
    args = parser.parse_args(argv)
    if args.http_url is not None and not args.http_url.startswith(("http://", "https://")):
        parser.error("--http needs an http:// or https:// URL")
    source: Path | None = None
    if args.from_source is not None:
        source = Path(args.from_source) if args.from_source else launchers.clone_root()
        if source is None:
            parser.error("--from-source: this opper-mcp is not running from a clone; pass the clone's directory")
        if not (source / "pyproject.toml").is_file():
            parser.error(f"--from-source: {source} has no pyproject.toml (expected an opper-mcp clone)")
    found = launchers.choose(source=source, force_uvx=args.uvx or args.http_url is not None)
    if args.raw:
        sys.stdout.write(clients.render(args.client, name=args.name, http_url=args.http_url, launch=found.launch))
    else:
        sys.stdout.write(clients.setup_text(args.client, name=args.name, http_url=args.http_url, launch=found.launch,
                                            why=found.why))
    return 0


def token_main(argv: Sequence[str]) -> int:
    from opper_mcp.auth import named_tokens

    parser = argparse.ArgumentParser(
        prog="opper-mcp token",
        description="Add or remove a person's bearer token in a tokens file (only its SHA-256 hash is stored). "
        "Running servers pick the change up at their next request.",
    )
    parser.add_argument("action", choices=["add", "remove"])
    parser.add_argument("name", help=f"the person's name ({named_tokens.NAME_RULE})")
    parser.add_argument("--tokens-file", type=Path, help="the file (default: OPPER_MCP_TOKENS_FILE)")
    args = parser.parse_args(argv)
    from_env = env_defaults().get("tokens_file")
    path = args.tokens_file or (Path(str(from_env)) if from_env else None)
    if path is None:
        return _fail("token: give --tokens-file or set OPPER_MCP_TOKENS_FILE")
    try:
        if args.action == "add":
            token = named_tokens.add(path, args.name)
            sys.stderr.write(f"added {args.name!r} to {path}; the token below is shown only once:\n")
            sys.stdout.write(token + "\n")
        else:
            named_tokens.remove(path, args.name)
            sys.stderr.write(f"removed {args.name!r} from {path}; its token is refused from the next request\n")
    except named_tokens.TokensFileError as exc:
        return _fail(str(exc))
    return 0


def review_main(argv: Sequence[str]) -> int:
    from opper_mcp import review_cli

    return review_cli.main(argv)


SUBCOMMANDS: dict[str, Callable[[Sequence[str]], int]] = {
    "doctor": doctor_main, "config": config_main, "token": token_main, "review": review_main,
}


def start_up(settings: Settings) -> tuple[AppState, MCPServer[AppState]]:
    """Import the SDK and build the server with the garbage collector off, then freeze what was built.

    Start-up creates many objects that live as long as the process (the SDK's types, every tool's
    schemas) and frees few, so the collector's passes meanwhile are wasted work on every spawn;
    frozen afterwards, those objects stay out of every later collection too.
    """
    import gc

    gc.disable()
    try:
        from opper_mcp.server import build_server, build_state

        state = build_state(settings)
        return state, build_server(settings, state)
    finally:
        gc.freeze()
        gc.enable()


def auth_label(settings: Settings) -> str:
    if not settings.oauth_enabled:
        return settings.auth_mode
    return "oauth" if settings.auth_mode == "none" else f"{settings.auth_mode}+oauth"


def serve(settings: Settings) -> int:
    import anyio

    state, server = start_up(settings)
    where = (
        "stdio" if settings.transport == "stdio"
        else f"http://{settings.host}:{settings.port}/mcp (auth: {auth_label(settings)})"
    )
    key = "API key set" if settings.api_key else "no API key (public tools only)"
    if settings.auth_mode == "passthrough":
        key = "callers' own keys (pass-through)"
    count = len(settings.tools)
    if settings.transport == "http":
        where += f", replica {settings.replica}"
        if settings.tokens_file is not None:
            where += f", named tokens from {settings.tokens_file}"
        if settings.metrics_port is not None:
            where += f", metrics on http://{settings.metrics_host}:{settings.metrics_port}/metrics"
        if settings.oauth_issuer is not None:
            where += f", OAuth tokens from {settings.oauth_issuer} for {settings.oauth_resource_url}"
    store = ""
    if settings.store_url:
        from opper_mcp.store import redact_url

        store = f", store {redact_url(settings.store_url)}"
    sys.stderr.write(f"opper-mcp {__version__}: {where}, base {settings.base_url}, {key}, {count} tools{store}\n")
    sys.stderr.flush()
    try:
        if settings.transport == "stdio":
            anyio.run(server.run_stdio_async)
        else:
            import signal

            from opper_mcp.http import serve_http

            # uvicorn shuts down gracefully on SIGTERM, then re-raises it: make that a clean exit 0, like Ctrl-C.
            signal.signal(signal.SIGTERM, signal.default_int_handler)
            anyio.run(serve_http, server, settings, state.conversations, state.ops)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
