"""What the server's lifespan owns and every tool reads: clients, caches, stores."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from cachetools import TTLCache
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import SecretStr

from opper_mcp.opper.catalog import ModelCatalog
from opper_mcp.opper.client import OpperClient
from opper_mcp.settings import Settings
from opper_mcp.store import ConversationStore

if TYPE_CHECKING:
    from opper_mcp.openapi.store import SpecStore
    from opper_mcp.ops import Ops


JUST_PRODUCED_S = 300.0  # how long after chat/roundtable returned an id a 404 may still mean "not written yet"


@dataclass
class AppState:
    settings: Settings
    opper: OpperClient
    catalog: ModelCatalog
    spec: SpecStore
    conversations: ConversationStore
    # (key fingerprint, url) -> (url, title, markdown): paging through a page costs one fetch
    web_pages: TTLCache[tuple[str, str], tuple[str, str, str]] = field(
        default_factory=lambda: TTLCache(maxsize=32, ttl=300.0))
    # (key fingerprint, name as asked) -> (id, name): one by-name lookup per base per 10 minutes
    knowledge_ids: TTLCache[tuple[str, str], tuple[str, str]] = field(
        default_factory=lambda: TTLCache(maxsize=256, ttl=600.0))
    # (owner, review id) -> a finished review: later pages and formats of it cost no model call
    reviews: TTLCache[tuple[str, str], object] = field(default_factory=lambda: TTLCache(maxsize=64, ttl=3600.0))
    # (key fingerprint, trace id) -> the trace as last fetched: get_trace's later pages (offset, span_id) read it
    # again without a refetch, and all pages of one look come from the same snapshot
    traces: TTLCache[tuple[str, str], object] = field(default_factory=lambda: TTLCache(maxsize=8, ttl=120.0))
    # (key fingerprint, trace id) of traces chat/roundtable just produced: get_trace waits for these to be written
    recent_traces: TTLCache[tuple[str, str], bool] = field(
        default_factory=lambda: TTLCache(maxsize=512, ttl=JUST_PRODUCED_S))
    ops: Ops | None = None  # spend limits, metrics, audit (opper_mcp.ops); None when none is configured



ToolContext = Context[AppState]


def remember_traces(ctx: ToolContext, opper: OpperClient, *trace_ids: str | None) -> None:
    """Note ids chat/roundtable just produced (sent or received), so get_trace waits for them to be written."""
    recent = app_state(ctx).recent_traces
    for trace_id in {t for t in trace_ids if t}:
        recent[(opper.key_fingerprint, trace_id)] = True


def just_produced(ctx: ToolContext, opper: OpperClient, trace_id: str) -> bool:
    return (opper.key_fingerprint, trace_id) in app_state(ctx).recent_traces


def app_state(ctx: ToolContext) -> AppState:
    return ctx.request_context.lifespan_context


@dataclass(frozen=True)
class Caller:
    """Who is calling: `owner` owns the conversations it creates, `name` is a named token's name."""

    owner: str
    name: str | None = None

    @property
    def label(self) -> str:
        """What logs and traces show: the person's name, else the key's fingerprint (never a secret)."""
        return self.name or self.owner


def _bearer(ctx: ToolContext) -> str:
    scheme, _, token = ((ctx.headers or {}).get("authorization") or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def caller(ctx: ToolContext) -> Caller:
    """The owner of what this call creates.

    An OAuth access token names its subject (`auth.identity`); with a tokens file, each person's token
    names them; either way each owns (and lists) only their own conversations. Otherwise the owner is
    the Opper key's fingerprint: the caller's own key in pass-through mode, the process key with one
    shared token — which everyone then shares.
    """
    settings = app_state(ctx).settings
    if settings.oauth_enabled:
        from opper_mcp.auth.identity import access_token_of, identity_of

        access = access_token_of(ctx.request_context.request)
        who = identity_of(access) if access is not None else None
        if who is not None:  # an OAuth caller: its token's subject
            return Caller(owner=who.owner, name=who.name)
    if settings.tokens_file is not None:
        from opper_mcp.auth.named_tokens import tokens_file

        token = _bearer(ctx)
        name = tokens_file(settings.tokens_file).who(token) if token else None
        if name is not None:
            return Caller(owner=f"name:{name}", name=name)  # the prefix keeps names apart from fingerprints
    return Caller(owner=opper_for(ctx).key_fingerprint)


def trace_name(who: Caller, name: str) -> str:
    """The trace name sent upstream (X-Opper-Name): Opper records it on the trace, so a named caller's
    spend shows under its name in traces and usage."""
    return f"{name}@{who.name}" if who.name else name


def opper_for(ctx: ToolContext) -> OpperClient:
    """The client for this call: the caller's own key in pass-through mode, else the process key.

    In pass-through mode the HTTP layer has already refused requests without a bearer token;
    the token is the caller's Opper key and goes upstream as is (Opper checks it).
    """
    state = app_state(ctx)
    if state.settings.auth_mode != "passthrough":
        return state.opper
    token = _bearer(ctx)
    if not token:
        raise ToolError("pass-through auth: this request carried no bearer token (send your Opper API key)")
    return state.opper.with_key(SecretStr(token), key_source="the bearer token you sent (your Opper key)")


def owner_of(ctx: ToolContext) -> str:
    """Who owns the conversations this call creates and sees (see `caller`)."""
    return caller(ctx).owner
