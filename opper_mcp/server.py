"""build_server(settings) -> MCPServer: the lifespan owns the clients; the tools are listed (opper_mcp.listing)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.prompts import Prompt
from mcp.server.mcpserver.resources import TextResource

from opper_mcp import __version__, guide, prompts
from opper_mcp.listing import DeferredTool
from opper_mcp.openapi.store import SpecStore, spec_fetcher
from opper_mcp.opper.catalog import ModelCatalog
from opper_mcp.opper.client import ClientConfig, OpperClient
from opper_mcp.ops import wanted as ops_wanted
from opper_mcp.runtime.state import AppState
from opper_mcp.settings import Settings
from opper_mcp.store import open_store
from opper_mcp.tools.registry import BY_NAME
from opper_mcp.views import serve as views

INSTRUCTIONS = """\
Opper is an LLM gateway to 300+ models. Use these tools to:
- find a model id: list_models (filters; include=pricing for prices);
- ask another model, optionally with JSON-schema output or web search: chat (continue with conversation_id);
- get several models' opinions at once: roundtable; have code reviewed by several models, findings merged: review;
- find or delete saved chat threads: conversations;
- give chat/roundtable/review code as files (paths, globs, path:10-40) or diff (working, staged, a ref range)
  instead of pasting it: they read it, leave out secrets, and report what they attached;
- search or read the web without a model: web_search, web_fetch;
- answer questions about Opper's API: grep_spec, then read_spec on what it found;
- inspect what a call did (spans, tokens, cost, errors): get_trace with the trace_id from chat/roundtable,
  or list_traces;
- search the team's knowledge bases: search_knowledge; see what calls cost: get_usage.
Platform guide as resources opper://guide/<topic>: concepts, endpoints, migration, gotchas and more (resources/list).
"""


def build_state(settings: Settings) -> AppState:
    """Construct (but do not start) everything the tools share. No network, no files."""
    conversations = open_store(settings.store_url, settings.resolved_cache_dir)
    ops = None
    if ops_wanted(settings):  # spend limits, metrics, audit: loaded only when configured
        from opper_mcp.ops import build_ops

        ops = build_ops(settings, conversations)
    opper = OpperClient(
        ClientConfig(
            base_url=settings.base_url,
            timeout_s=settings.timeout_s,
            connect_timeout_s=settings.connect_timeout_s,
            max_retries=settings.max_retries,
            backoff_base_s=settings.retry_backoff_s,
            observer=ops.metrics if ops is not None else None,
        ),
        None if settings.auth_mode == "passthrough" else settings.api_key,
    )
    return AppState(
        settings=settings,
        opper=opper,
        catalog=ModelCatalog(ttl_s=settings.models_ttl_s),
        spec=SpecStore(spec_fetcher(opper), settings.resolved_cache_dir, ttl_s=settings.spec_ttl_s),
        conversations=conversations,
        ops=ops,
    )


def build_server(settings: Settings, state: AppState | None = None) -> MCPServer[AppState]:
    app_state = state or build_state(settings)
    entries = [BY_NAME[name] for name in settings.tools]
    linked = sorted({entry.view for entry in entries if entry.view})

    @asynccontextmanager
    async def lifespan(_: MCPServer[AppState]) -> AsyncIterator[AppState]:
        try:
            yield app_state
        finally:
            await app_state.opper.aclose()
            await app_state.conversations.aclose()
            if app_state.ops is not None and app_state.ops.audit is not None:
                app_state.ops.audit.close()

    server: MCPServer[AppState] = MCPServer(
        "opper-mcp",
        title="Opper",
        version=__version__,
        instructions=INSTRUCTIONS,
        website_url="https://opper.ai",
        lifespan=lifespan,
        log_level=settings.log_level,
        tools=[DeferredTool.of(entry) for entry in entries],
        extensions=[views.extension(linked)] if linked else None,  # MCP App views, for hosts that render them
        middleware=[views.hide_from_other_clients],
    )
    for resource in guide_resources():
        server.add_resource(resource)
    for prompt in make_prompts():
        server.add_prompt(prompt)
    return server


def make_prompts() -> list[Prompt]:
    """Slash commands that lead the assistant to attach code by reference (see `opper_mcp.prompts`)."""
    return [
        Prompt.from_function(prompts.review, name="review", title="Review changes with several models",
                             description="Review uncommitted changes, staged changes or a ref range with several "
                             "models at once (the review tool)."),
        Prompt.from_function(prompts.second_opinion, name="second_opinion", title="Second opinion on files",
                             description="Ask another model a question about some files, attached by path."),
    ]


def guide_resources() -> list[TextResource]:
    """The platform guide, one static markdown resource per topic (clients list and @-mention them)."""
    return [
        TextResource(
            uri=f"{guide.URI_PREFIX}{topic.name}",
            name=f"opper-guide-{topic.name}",
            title=topic.title,
            description=topic.description,
            mime_type="text/markdown",
            text=guide.read(topic.name),
        )
        for topic in guide.TOPICS
    ]
