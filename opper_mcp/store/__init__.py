"""Conversation stores behind one protocol, chosen by URL. Drivers are imported only for their URL."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from opper_mcp.store.base import (
    Bounds,
    ConversationStore,
    ConversationSummary,
    Message,
    StoreConfigError,
    StoreUnavailable,
    UnknownConversation,
)
from opper_mcp.store.url import backend_of, redact_url

DEFAULT_FILE = "conversations.sqlite3"
EXTRAS = {"redis": ("redis", ("redis",)), "postgres": ("postgres", ("psycopg", "psycopg_pool"))}


def default_url(cache_dir: Path) -> str:
    return f"sqlite://{cache_dir / DEFAULT_FILE}"


def check_driver(url: str) -> None:
    """Raise StoreConfigError, with the install line that fixes it, when the URL's driver is missing."""
    try:
        backend = backend_of(url)
    except ValueError as exc:
        raise StoreConfigError(str(exc)) from None
    if backend not in EXTRAS:
        return
    extra, modules = EXTRAS[backend]
    for module in modules:
        try:
            missing = importlib.util.find_spec(module) is None
        except (ImportError, ValueError):  # ValueError: sys.modules[module] is None (import blocked)
            missing = True
        if missing:
            raise StoreConfigError(
                f"the store {redact_url(url)} needs the {module} driver, which is not installed: run "
                f"`uvx --with 'opper-mcp[{extra}]' opper-mcp …` or `pip install 'opper-mcp[{extra}]'`"
            )


def sqlite_path(url: str) -> Path:
    """Like a file URL: everything after `sqlite://` is the path (`sqlite:///var/lib/x.sqlite3` is absolute)."""
    path = url.split("://", 1)[1]
    if not path.strip("/"):
        raise StoreConfigError(f"store URL {url!r} needs a file path: sqlite:///path/to/conversations.sqlite3")
    return Path(path).expanduser()


def open_store(url: str | None, cache_dir: Path, bounds: Bounds | None = None) -> ConversationStore:
    """The store a URL names (None: the SQLite file in the cache dir). Connects on first use, not here."""
    url = url or default_url(cache_dir)
    check_driver(url)
    backend = backend_of(url)
    if backend == "redis":
        from opper_mcp.store.redis import RedisConversationStore

        return RedisConversationStore(url, bounds)
    if backend == "postgres":
        from opper_mcp.store.postgres import PostgresConversationStore

        return PostgresConversationStore(url, bounds)
    from opper_mcp.store.sqlite import SQLiteConversationStore

    return SQLiteConversationStore(sqlite_path(url), bounds)


__all__ = ["Bounds", "ConversationStore", "ConversationSummary", "Message", "StoreConfigError", "StoreUnavailable",
           "UnknownConversation", "check_driver", "default_url", "open_store", "redact_url"]
