"""Runtime configuration: environment first (what MCP client configs pass), flags on top.

Each setting is one field of `Settings`; a field that users set carries an `Option` (its flag,
its environment variable and its help). That one table drives `argparse`, the environment and
the README's configuration table.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationInfo, field_validator

from opper_mcp.tools.registry import DEFAULT_TOOLS, OFF_BY_DEFAULT, TOOL_NAMES

DEFAULT_BASE_URL = "https://api.opper.ai"

AuthMode = Literal["none", "token", "passthrough"]
Transport = Literal["stdio", "http"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]

CONTEXT_GROUP = "code context (chat/roundtable files and diff)"
HTTP_GROUP = "HTTP transport"
OPS_GROUP = "team service: spend limits, metrics, audit"
OAUTH_GROUP = "OAuth resource server (HTTP)"


@dataclass(frozen=True)
class Option:
    """How users set a field: `flag` (None: environment only), `env`, and the help both show."""

    flag: str | None
    env: str
    help: str
    group: str | None = None
    kind: Literal["value", "list", "switch"] = "value"  # list: comma-separated; switch: a flag without a value
    parse: type[int] | type[float] | type[Path] | None = None  # argparse's own check, for a message naming the flag


def default_cache_dir() -> Path:
    from platformdirs import user_cache_path

    return user_cache_path("opper-mcp", appauthor=False)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class Settings(BaseModel):
    """Everything the server needs to run. Built once by the CLI; immutable afterwards."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    api_key: Annotated[SecretStr | None, Option(
        None, "OPPER_API_KEY", "Your Opper API key. Never a flag, so it stays out of process lists; never logged.",
    )] = None
    transport: Annotated[Transport, Option("--transport", "OPPER_MCP_TRANSPORT", "stdio (default) or http")] = "stdio"
    base_url: Annotated[str, Option("--base-url", "OPPER_BASE_URL",
                                    f"Opper API base URL, without /v3 (default {DEFAULT_BASE_URL})")] = DEFAULT_BASE_URL
    timeout_s: Annotated[float, Field(gt=0, le=3600), Option(
        "--timeout", "OPPER_MCP_TIMEOUT", "seconds per upstream request (default 120)", parse=float)] = 120.0
    connect_timeout_s: float = Field(default=10.0, gt=0, le=600)
    max_retries: Annotated[int, Field(ge=0, le=10), Option(
        "--retries", "OPPER_MCP_RETRIES", "retries on 429/5xx/connect errors (default 3)", parse=int)] = 3
    retry_backoff_s: float = Field(default=0.5, ge=0, le=60)
    cache_dir: Annotated[Path | None, Option(
        "--cache-dir", "OPPER_MCP_CACHE_DIR", "where the spec and conversations are kept (default: user cache dir)",
        parse=Path)] = None
    # The conversation store URL (may hold a password); None: SQLite in the cache dir.
    store: Annotated[SecretStr | None, Option(
        "--store", "OPPER_MCP_STORE", "conversation store URL: sqlite:///path (default: a file in the cache dir), "
        "redis://… or postgresql://… (shared by replicas)")] = None
    tools: Annotated[tuple[str, ...], Option(
        "--tools", "OPPER_MCP_TOOLS", f"comma-separated allow-list of tools (default: {','.join(DEFAULT_TOOLS)}; "
        f"off unless listed: {','.join(sorted(OFF_BY_DEFAULT))})", kind="list")] = DEFAULT_TOOLS
    log_level: Annotated[LogLevel, Option(
        "--log-level", "OPPER_MCP_LOG_LEVEL", "stderr log level (default WARNING)")] = "WARNING"
    review_models: Annotated[tuple[str, ...], Option(
        "--review-models", "OPPER_MCP_REVIEW_MODELS", "comma-separated models the review tool asks by default "
        "(default: three strong models from different makers that the catalog lists with JSON-schema output)",
        kind="list")] = ()
    review_timeout_s: Annotated[float, Field(gt=0, le=3600), Option(
        "--review-timeout", "OPPER_MCP_REVIEW_TIMEOUT", "seconds each review model has to answer in full "
        "(default 300)", parse=float)] = 300.0
    models_ttl_s: float = Field(default=600.0, ge=0)
    spec_ttl_s: float = Field(default=300.0, ge=0)
    # Code context (chat/roundtable `files` and `diff`)
    allow_paths: Annotated[tuple[Path, ...], Option(
        "--allow-paths", "OPPER_MCP_ALLOW_PATHS", "comma-separated directories files may also come from; over HTTP "
        "the only ones (default none: no file context over HTTP)", CONTEXT_GROUP)] = ()
    context_max_file_bytes: Annotated[int, Field(ge=1_000), Option(
        "--context-max-file-bytes", "OPPER_MCP_CONTEXT_MAX_FILE_BYTES", "largest file attached (default 256000)",
        CONTEXT_GROUP, parse=int)] = 256_000
    context_max_total_bytes: Annotated[int, Field(ge=1_000), Option(
        "--context-max-total-bytes", "OPPER_MCP_CONTEXT_MAX_TOTAL_BYTES",
        "all attached context per call (default 2000000)", CONTEXT_GROUP, parse=int)] = 2_000_000
    # HTTP transport
    host: Annotated[str, Option("--host", "OPPER_MCP_HOST", "bind address (default 127.0.0.1)",
                                HTTP_GROUP)] = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535), Option("--port", "OPPER_MCP_PORT", "port (default 8000)", HTTP_GROUP,
                                                       parse=int)] = 8000
    allowed_hosts: Annotated[tuple[str, ...], Option(
        "--allowed-hosts", "OPPER_MCP_ALLOWED_HOSTS", "comma-separated Host names clients use; required off loopback",
        HTTP_GROUP, kind="list")] = ()
    allowed_origins: Annotated[tuple[str, ...], Option(
        "--allowed-origins", "OPPER_MCP_ALLOWED_ORIGINS", "comma-separated browser Origins to accept", HTTP_GROUP,
        kind="list")] = ()
    auth_mode: Annotated[AuthMode, Option(
        "--auth", "OPPER_MCP_AUTH", "inbound auth: none (loopback only), token (static bearer OPPER_MCP_HTTP_TOKEN) "
        "or passthrough (each caller's bearer is its own Opper key)", HTTP_GROUP)] = "none"
    http_token: Annotated[SecretStr | None, Option(
        None, "OPPER_MCP_HTTP_TOKEN", "The shared bearer token HTTP clients may send with `--auth token` "
        "(everyone who holds it is one caller).", HTTP_GROUP)] = None
    tokens_file: Annotated[Path | None, Option(
        "--tokens-file", "OPPER_MCP_TOKENS_FILE", "with --auth token: one named token per person, as hashes (make "
        "with `opper-mcp token add`), re-read when it changes", HTTP_GROUP, parse=Path)] = None
    replica_name: Annotated[str | None, Field(min_length=1, max_length=100, pattern=r"^[\x21-\x7e]+$"), Option(
        "--replica-name", "OPPER_MCP_REPLICA", "this replica's name in /healthz and the X-Opper-MCP-Replica "
        "response header (default host:port)", HTTP_GROUP)] = None
    stateless: Annotated[bool, Option(
        "--stateless", "OPPER_MCP_STATELESS", "no MCP sessions for 2025-11-25 clients either, so any replica can "
        "answer any request behind a load balancer (env: 1 or true)", HTTP_GROUP, kind="switch")] = False
    max_body_bytes: Annotated[int, Field(ge=1024), Option(
        "--max-body-bytes", "OPPER_MCP_MAX_BODY_BYTES", "largest request body accepted, else 413 (default 4 MiB)",
        HTTP_GROUP, parse=int)] = 4 * 1024 * 1024
    # Team service (opper_mcp.ops)
    budget_usd_per_day: Annotated[float | None, Field(ge=0, allow_inf_nan=False), Option(
        "--budget-usd-per-day", "OPPER_MCP_BUDGET_USD_PER_DAY", "spend limit per caller per UTC day, in USD, "
        "counted in the store (shared by replicas); default none", OPS_GROUP, parse=float)] = None
    budget_file: Annotated[Path | None, Option(
        "--budget-file", "OPPER_MCP_BUDGET_FILE", "per-caller limits, one `NAME USD` (or `NAME none`) per line, "
        "NAME a named token's name; re-read when it changes", OPS_GROUP, parse=Path)] = None
    metrics_port: Annotated[int | None, Field(ge=1, le=65535), Option(
        "--metrics-port", "OPPER_MCP_METRICS_PORT", "serve Prometheus metrics at /metrics on this port of "
        "--metrics-host, apart from the MCP port (default: off; OPPER_MCP_METRICS_TOKEN serves them on the MCP "
        "port behind that token)", OPS_GROUP, parse=int)] = None
    metrics_host: Annotated[str, Option(
        "--metrics-host", "OPPER_MCP_METRICS_HOST", "address of --metrics-port (default 127.0.0.1)",
        OPS_GROUP)] = "127.0.0.1"
    metrics_token: Annotated[SecretStr | None, Option(
        None, "OPPER_MCP_METRICS_TOKEN", "Serve Prometheus metrics at /metrics on the MCP port too, to "
        "`Authorization: Bearer <this token>` only (its own token: a caller's token is refused there).",
        OPS_GROUP)] = None
    audit_log: Annotated[str | None, Option(
        "--audit-log", "OPPER_MCP_AUDIT_LOG", "append one JSON line per tool call (time, caller, tool, models, "
        "cost, outcome, trace ids, replica) to this file; - for stderr", OPS_GROUP)] = None
    # OAuth 2.1 resource server (see opper_mcp.auth)
    oauth_issuer: Annotated[str | None, Option(
        "--oauth-issuer", "OPPER_MCP_OAUTH_ISSUER", "accept OAuth access tokens from this issuer (its URL, as in "
        "the tokens' iss; keys found through discovery); beside --auth token, either kind of bearer works",
        OAUTH_GROUP)] = None
    oauth_resource: Annotated[str | None, Option(
        "--oauth-resource", "OPPER_MCP_OAUTH_RESOURCE", "this server's public MCP URL, e.g. "
        "https://mcp.example.com/mcp: the audience tokens must carry (default http://HOST:PORT/mcp, loopback only)",
        OAUTH_GROUP)] = None
    oauth_read_scope: Annotated[str, Field(pattern=r"^[\x21\x23-\x5b\x5d-\x7e]*$"), Option(
        "--oauth-read-scope", "OPPER_MCP_OAUTH_READ_SCOPE", "scope every OAuth caller needs; it allows the "
        "read-only tools (default opper-mcp:read; empty: none needed)", OAUTH_GROUP)] = "opper-mcp:read"
    oauth_call_scope: Annotated[str, Field(pattern=r"^[\x21\x23-\x5b\x5d-\x7e]*$"), Option(
        "--oauth-call-scope", "OPPER_MCP_OAUTH_CALL_SCOPE", "scope also needed by tools that spend money or "
        "write (default opper-mcp:call; empty: none needed)", OAUTH_GROUP)] = "opper-mcp:call"
    oauth_client_id: Annotated[str | None, Option(
        "--oauth-client-id", "OPPER_MCP_OAUTH_CLIENT_ID", "this server's client id at the issuer, to check opaque "
        "(non-JWT) tokens by RFC 7662 introspection; with OPPER_MCP_OAUTH_CLIENT_SECRET", OAUTH_GROUP)] = None
    oauth_client_secret: Annotated[SecretStr | None, Option(
        None, "OPPER_MCP_OAUTH_CLIENT_SECRET", "The client secret that goes with `--oauth-client-id` "
        "(token introspection).", OAUTH_GROUP)] = None
    oauth_leeway_s: int = Field(default=30, ge=0, le=300)  # clock skew allowed on exp/nbf/iat

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("base_url")
    @classmethod
    def _strip_base(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"OPPER_BASE_URL must start with http:// or https://, got {value!r}")
        if value.endswith("/v3"):
            value = value[: -len("/v3")]
        return value

    @field_validator("tools")
    @classmethod
    def _known_tools(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(value) - set(TOOL_NAMES))
        if unknown:
            raise ValueError(f"unknown tool(s) {', '.join(unknown)}; choose from {', '.join(TOOL_NAMES)}")
        return tuple(name for name in TOOL_NAMES if name in value)

    @field_validator("store")
    @classmethod
    def _store_url(cls, value: SecretStr | None) -> SecretStr | None:
        from opper_mcp.store.url import backend_of

        url = value.get_secret_value().strip() if value is not None else ""
        if not url:
            return None
        backend_of(url)  # a ValueError that shows the URL redacted
        return SecretStr(url)

    @property
    def store_url(self) -> str | None:
        return self.store.get_secret_value() if self.store is not None else None

    @field_validator("budget_file")
    @classmethod
    def _budget_file_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"budget file {value} does not exist (one `NAME USD` line per caller)")
        return value

    @field_validator("oauth_issuer", "oauth_resource")
    @classmethod
    def _oauth_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        """Keys and audience over plain HTTP only on this machine: anyone on the path could swap the keys."""
        value = (value or "").strip()
        if not value:
            return None
        from urllib.parse import urlsplit

        parts = urlsplit(value)
        flag = "--" + info.field_name.replace("_", "-") if info.field_name else "URL"
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
            raise ValueError(f"{flag} must be an http(s) URL without query or fragment, got {value!r}")
        if parts.scheme == "http" and not is_loopback(parts.hostname):
            raise ValueError(f"{flag} must use https:// (plain http only on a loopback address), got {value!r}")
        return value

    @property
    def oauth_enabled(self) -> bool:
        return self.oauth_issuer is not None

    @property
    def oauth_resource_url(self) -> str:
        """The resource this server is (RFC 8707/9728): tokens must name it as their audience."""
        if self.oauth_resource:
            return self.oauth_resource
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/mcp"
    @field_validator("allow_paths", mode="before")
    @classmethod
    def _split_paths(cls, value: object) -> object:
        return split_paths(value) if isinstance(value, str) else value

    @field_validator("allow_paths")
    @classmethod
    def _existing_dirs(cls, value: tuple[Path, ...]) -> tuple[Path, ...]:
        """Resolved now, so a typo fails at start-up rather than on the first call that attaches a file."""
        dirs: list[Path] = []
        for path in value:
            resolved = path.expanduser().resolve()
            if not resolved.is_dir():
                raise ValueError(f"--allow-paths: {path} is not a directory")
            if resolved not in dirs:
                dirs.append(resolved)
        return tuple(dirs)

    @property
    def resolved_cache_dir(self) -> Path:
        return self.cache_dir or default_cache_dir()

    @property
    def replica(self) -> str:
        """This process's name among replicas: what operators see in /healthz and the response header."""
        if self.replica_name:
            return self.replica_name
        import socket

        return f"{socket.gethostname()}:{self.port}"

    def secrets(self) -> list[str]:
        """Strings that must never appear in output or logs."""
        from opper_mcp.store.url import passwords_of

        found = [s.get_secret_value() for s in (self.api_key, self.http_token) if s is not None]
        found += [self.metrics_token.get_secret_value()] if self.metrics_token is not None else []
        found = [s.get_secret_value() for s in (self.api_key, self.http_token, self.oauth_client_secret)
                 if s is not None]
        return found + (passwords_of(self.store_url) if self.store_url else [])

    def check_http(self) -> None:
        """Refuse HTTP configurations that would be unsafe, with a message that says what to do."""
        if not is_loopback(self.host) and not self.allowed_hosts:
            raise ValueError(
                f"refusing to bind {self.host}: a non-loopback address needs --allowed-hosts "
                "(the Host names clients use), or DNS-rebinding protection would be off"
            )
        if self.tokens_file is not None and self.auth_mode != "token":
            raise ValueError("--tokens-file needs --auth token (named tokens are bearer tokens)")
        if self.auth_mode == "token" and self.http_token is None and self.tokens_file is None:
            raise ValueError(
                "--auth token needs OPPER_MCP_HTTP_TOKEN (one shared bearer token) or --tokens-file "
                "(one named token per person)"
            )
        if self.tokens_file is not None and not self.tokens_file.is_file():
            raise ValueError(
                f"tokens file {self.tokens_file} does not exist: create it with "
                f"`opper-mcp token add NAME --tokens-file {self.tokens_file}`"
            )
        if self.metrics_port is not None and self.metrics_port == self.port:
            raise ValueError(f"--metrics-port {self.metrics_port} is the MCP port: choose another")
        if self.auth_mode == "none" and not is_loopback(self.host) and not self.oauth_enabled:
            raise ValueError(
                f"refusing to serve {self.host} without inbound auth: use --auth token, --auth passthrough "
                "or --oauth-issuer"
            )
        self._check_oauth()

    def _check_oauth(self) -> None:
        if (self.oauth_client_id is None) != (self.oauth_client_secret is None):
            raise ValueError("token introspection needs both --oauth-client-id and OPPER_MCP_OAUTH_CLIENT_SECRET")
        if not self.oauth_enabled:
            if self.oauth_resource or self.oauth_client_id:
                raise ValueError("--oauth-resource and --oauth-client-id need --oauth-issuer")
            return
        if self.auth_mode == "passthrough":
            raise ValueError("--oauth-issuer cannot go with --auth passthrough: a bearer token is either an "
                             "access token or an Opper key (use --auth token for named tokens beside OAuth)")
        if self.oauth_resource is None and not is_loopback(self.host):
            raise ValueError(f"serving {self.host} with --oauth-issuer needs --oauth-resource: the public URL "
                             "clients use for /mcp (tokens must be issued for it)")


def _split(value: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (value or "").split(",") if part.strip())


def split_paths(value: str) -> tuple[Path, ...]:
    """`a,b` or `a:b` (os.pathsep): both spellings are common in MCP client configs."""
    parts = value.replace(os.pathsep, ",").split(",")
    return tuple(Path(part.strip()) for part in parts if part.strip())


def options() -> dict[str, Option]:
    """Every user-settable field with its `Option`, in the order of `Settings`."""
    found: dict[str, Option] = {}
    for name, info in Settings.model_fields.items():
        for meta in info.metadata:
            if isinstance(meta, Option):
                found[name] = meta
    return found


def env_defaults(env: Mapping[str, str] | None = None) -> dict[str, object]:
    """Settings fields read from the environment (unset variables are left out)."""
    env = os.environ if env is None else env
    found: dict[str, object] = {}
    for field, option in options().items():
        value = env.get(option.env, "").strip()
        if value:
            found[field] = _split(value) if option.kind == "list" else value
    return found


def add_arguments(parser: argparse.ArgumentParser, fields: Iterable[str] | None = None) -> None:
    """One flag per `Option` (of `fields`, else all), grouped as in `--help`, each naming its variable."""
    table = options()
    groups: dict[str | None, Any] = {None: parser}
    for field in table if fields is None else fields:
        option = table[field]
        if option.flag is None:
            continue
        if option.group not in groups:
            groups[option.group] = parser.add_argument_group(option.group)
        kwargs: dict[str, Any] = {"dest": field, "help": f"{option.help} [{option.env}]"}
        if option.kind == "switch":
            kwargs.update(action="store_true", default=None)
        else:
            choices = _choices(field)
            if choices:
                kwargs["choices"] = choices
            if option.parse is not None:
                kwargs["type"] = option.parse
        groups[option.group].add_argument(option.flag, **kwargs)


def _choices(field: str) -> list[str] | None:
    annotation = Settings.model_fields[field].annotation
    return list(typing.get_args(annotation)) if typing.get_origin(annotation) is Literal else None


def settings_from(args: argparse.Namespace, env: Mapping[str, str] | None = None) -> Settings:
    """The environment's values with the flags given on top (a flag not given is `None` on `args`)."""
    values = env_defaults(env)
    for field, option in options().items():
        value = getattr(args, field, None)
        if value is not None:
            values[field] = _split(value) if option.kind == "list" else value
    return Settings.model_validate(values)


def env_only_rows() -> list[str]:
    """README table rows for the settings read only from the environment (secrets: never a flag)."""
    return [f"| `{option.env}` | {option.help} |" for option in options().values() if option.flag is None]


def flags_table() -> str:
    """The README's configuration table: flag, environment variable, meaning."""
    rows = ["| Flag | Environment variable | Meaning |", "|---|---|---|"]
    for field, option in options().items():
        if option.flag is None:
            continue
        flag = option.flag
        choices = _choices(field)
        if choices:
            flag += " " + "\\|".join(choices)
        elif option.kind != "switch":
            flag += " " + field.upper()
        rows.append(f"| `{flag}` | `{option.env}` | {option.help.replace('|', chr(92) + '|')} |")
    return "\n".join(rows) + "\n"
