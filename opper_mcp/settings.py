"""Runtime configuration: environment first (what MCP client configs pass), flags on top."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

DEFAULT_BASE_URL = "https://api.opper.ai"
TOOL_NAMES = (
    "list_models",
    "chat",
    "roundtable",
    "conversations",
    "web_search",
    "web_fetch",
    "grep_spec",
    "read_spec",
    "get_trace",
    "list_traces",
    "search_knowledge",
    "add_knowledge",
    "get_usage",
)
# Tools that change data on Opper: served only when named in --tools / OPPER_MCP_TOOLS.
OFF_BY_DEFAULT = frozenset({"add_knowledge"})
DEFAULT_TOOLS = tuple(name for name in TOOL_NAMES if name not in OFF_BY_DEFAULT)

AuthMode = Literal["none", "token", "passthrough"]
Transport = Literal["stdio", "http"]


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

    api_key: SecretStr | None = None
    base_url: str = DEFAULT_BASE_URL
    timeout_s: float = Field(default=120.0, gt=0, le=3600)
    connect_timeout_s: float = Field(default=10.0, gt=0, le=600)
    max_retries: int = Field(default=3, ge=0, le=10)
    retry_backoff_s: float = Field(default=0.5, ge=0, le=60)
    cache_dir: Path | None = None
    tools: tuple[str, ...] = DEFAULT_TOOLS
    models_ttl_s: float = Field(default=600.0, ge=0)
    spec_ttl_s: float = Field(default=300.0, ge=0)
    store: SecretStr | None = None  # conversation store URL (may hold a password); None: SQLite in the cache dir
    # HTTP transport
    transport: Transport = "stdio"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    allowed_hosts: tuple[str, ...] = ()
    allowed_origins: tuple[str, ...] = ()
    auth_mode: AuthMode = "none"
    http_token: SecretStr | None = None
    tokens_file: Path | None = None
    replica_name: str | None = Field(default=None, min_length=1, max_length=100, pattern=r"^[\x21-\x7e]+$")
    max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    stateless: bool = False
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "WARNING"
    # Code context (chat/roundtable `files` and `diff`)
    allow_paths: tuple[Path, ...] = ()
    context_max_file_bytes: int = Field(default=256_000, ge=1_000)
    context_max_total_bytes: int = Field(default=2_000_000, ge=1_000)

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
        if self.auth_mode == "none" and not is_loopback(self.host):
            raise ValueError(
                f"refusing to serve {self.host} without inbound auth: use --auth token or --auth passthrough"
            )


def _split(value: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (value or "").split(",") if part.strip())


def split_paths(value: str) -> tuple[Path, ...]:
    """`a,b` or `a:b` (os.pathsep): both spellings are common in MCP client configs."""
    parts = value.replace(os.pathsep, ",").split(",")
    return tuple(Path(part.strip()) for part in parts if part.strip())


def env_defaults(env: Mapping[str, str] | None = None) -> dict[str, object]:
    """Settings fields read from the environment (unset variables are left out)."""
    env = os.environ if env is None else env
    found: dict[str, object] = {}
    table = {
        "OPPER_API_KEY": "api_key",
        "OPPER_BASE_URL": "base_url",
        "OPPER_MCP_TIMEOUT": "timeout_s",
        "OPPER_MCP_RETRIES": "max_retries",
        "OPPER_MCP_CACHE_DIR": "cache_dir",
        "OPPER_MCP_HOST": "host",
        "OPPER_MCP_PORT": "port",
        "OPPER_MCP_AUTH": "auth_mode",
        "OPPER_MCP_HTTP_TOKEN": "http_token",
        "OPPER_MCP_LOG_LEVEL": "log_level",
        "OPPER_MCP_MAX_BODY_BYTES": "max_body_bytes",
        "OPPER_MCP_TRANSPORT": "transport",
        "OPPER_MCP_STATELESS": "stateless",
        "OPPER_MCP_TOKENS_FILE": "tokens_file",
        "OPPER_MCP_REPLICA": "replica_name",
        "OPPER_MCP_STORE": "store",
        "OPPER_MCP_ALLOW_PATHS": "allow_paths",
        "OPPER_MCP_CONTEXT_MAX_FILE_BYTES": "context_max_file_bytes",
        "OPPER_MCP_CONTEXT_MAX_TOTAL_BYTES": "context_max_total_bytes",
    }
    for var, field in table.items():
        value = env.get(var, "").strip()
        if value:
            found[field] = value.upper() if field == "log_level" else value
    for var, field in {
        "OPPER_MCP_TOOLS": "tools",
        "OPPER_MCP_ALLOWED_HOSTS": "allowed_hosts",
        "OPPER_MCP_ALLOWED_ORIGINS": "allowed_origins",
    }.items():
        if env.get(var, "").strip():
            found[field] = _split(env[var])
    return found
