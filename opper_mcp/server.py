"""build_server(settings) -> MCPServer: the lifespan owns the clients, the tools are registered here."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.prompts import Prompt
from mcp.server.mcpserver.resources import TextResource
from mcp.server.mcpserver.tools import Tool
from mcp_types import ToolAnnotations

from opper_mcp import __version__, guide, prompts
from opper_mcp.opper.client import ClientConfig, OpperClient
from opper_mcp.schemas import compact
from opper_mcp.settings import Settings
from opper_mcp.spec.store import SpecStore
from opper_mcp.store import open_store
from opper_mcp.tools import chat, conversations, knowledge, models, roundtable, spec, traces, usage, web
from opper_mcp.tools.catalog import ModelCatalog
from opper_mcp.tools.errors import guarded
from opper_mcp.tools.result import OUTPUT_BUDGET_CHARS
from opper_mcp.tools.state import AppState

INSTRUCTIONS = """\
Opper is an LLM gateway to 300+ models. Use these tools to:
- find a model id: list_models (filters; include=pricing for prices);
- ask another model, optionally with JSON-schema output or web search: chat (continue with conversation_id);
- get several models' opinions at once: roundtable;
- find or delete saved chat threads: conversations;
- give chat/roundtable code as files (paths, globs, path:10-40) or diff (working, staged, a ref range)
  instead of pasting it: they read it, leave out secrets, and report what they attached;
- search or read the web without a model: web_search, web_fetch;
- answer questions about Opper's API: grep_spec, then read_spec on what it found;
- inspect what a call did (spans, tokens, cost, errors): get_trace with the trace_id from chat/roundtable,
  or list_traces;
- search the team's knowledge bases: search_knowledge; see what calls cost: get_usage.
Platform guide as resources opper://guide/<topic>: concepts, endpoints, migration, gotchas and more (resources/list).
"""


@dataclass(frozen=True)
class ToolSpec:
    fn: Callable[..., Awaitable[Any]]
    title: str
    read_only: bool
    open_world: bool
    idempotent: bool
    destructive: bool = False
    long_result: bool = False
    # The tool builds its structured content from its output model itself, so the SDK's check of
    # every result against that model again is pure cost (the outputSchema is still published).
    trusted_output: bool = False


# Results up to the output budget are expected, not accidents: Claude Code keeps them inline
# instead of spilling them to a file. The margin covers the JSON around a budget-sized text.
MAX_RESULT_META = {"anthropic/maxResultSizeChars": OUTPUT_BUDGET_CHARS + 2_000}


def tool_specs() -> dict[str, ToolSpec]:
    return {
        "list_models": ToolSpec(models.list_models, "List Opper models", True, False, True, trusted_output=True),
        "chat": ToolSpec(chat.chat, "Chat with an Opper model", True, True, False, long_result=True),
        "roundtable": ToolSpec(roundtable.roundtable, "Ask several models at once", True, True, False,
                               long_result=True),
        "conversations": ToolSpec(conversations.conversations, "List or delete saved chats", False, False, True,
                                  destructive=True),
        "web_search": ToolSpec(web.web_search, "Search the web", True, True, False),
        "web_fetch": ToolSpec(web.web_fetch, "Fetch a web page as markdown", True, True, True, long_result=True),
        "grep_spec": ToolSpec(spec.grep_spec, "Search the Opper API spec", True, False, True, long_result=True),
        "read_spec": ToolSpec(spec.read_spec, "Read part of the Opper API spec", True, False, True,
                              long_result=True),
        "get_trace": ToolSpec(traces.get_trace, "Show an Opper trace", True, False, True, long_result=True),
        "list_traces": ToolSpec(traces.list_traces, "List Opper traces", True, False, True),
        "search_knowledge": ToolSpec(knowledge.search_knowledge, "Search an Opper knowledge base", True, False, True),
        "add_knowledge": ToolSpec(knowledge.add_knowledge, "Add a document to a knowledge base", False, False, False),
        "get_usage": ToolSpec(usage.get_usage, "Show Opper spend", True, False, True),
    }


def enabled_tools(settings: Settings) -> list[str]:
    """The allow-listed tools, in the stable order of TOOL_NAMES."""
    specs = tool_specs()
    return [name for name in settings.tools if name in specs]


def make_tool(name: str, ts: ToolSpec) -> Tool:
    """A registered tool: errors made actionable, one-line description, compact schemas."""
    tool = Tool.from_function(
        guarded(ts.fn),
        name=name,
        title=ts.title,
        description=" ".join((ts.fn.__doc__ or "").split()),
        annotations=ToolAnnotations(
            title=ts.title,
            read_only_hint=ts.read_only,
            destructive_hint=ts.destructive,
            idempotent_hint=ts.idempotent,
            open_world_hint=ts.open_world,
        ),
        meta=dict(MAX_RESULT_META) if ts.long_result else None,
    )
    tool.parameters = compact(tool.parameters)
    tool.fn_metadata.output_schema = compact(tool.fn_metadata.output_schema)
    if ts.trusted_output:
        tool.fn_metadata.output_model = None  # the SDK then publishes the schema without validating against it
    return tool


def build_state(settings: Settings) -> AppState:
    """Construct (but do not start) everything the tools share. No network, no files."""
    opper = OpperClient(
        ClientConfig(
            base_url=settings.base_url,
            timeout_s=settings.timeout_s,
            connect_timeout_s=settings.connect_timeout_s,
            max_retries=settings.max_retries,
            backoff_base_s=settings.retry_backoff_s,
        ),
        None if settings.auth_mode == "passthrough" else settings.api_key,
    )
    return AppState(
        settings=settings,
        opper=opper,
        catalog=ModelCatalog(ttl_s=settings.models_ttl_s),
        spec=SpecStore(spec.spec_fetcher(opper), settings.resolved_cache_dir, ttl_s=settings.spec_ttl_s),
        conversations=open_store(settings.store_url, settings.resolved_cache_dir),
    )


def build_server(settings: Settings, state: AppState | None = None) -> MCPServer[AppState]:
    app_state = state or build_state(settings)

    @asynccontextmanager
    async def lifespan(_: MCPServer[AppState]) -> AsyncIterator[AppState]:
        try:
            yield app_state
        finally:
            await app_state.opper.aclose()
            await app_state.conversations.aclose()

    server: MCPServer[AppState] = MCPServer(
        "opper-mcp",
        title="Opper",
        version=__version__,
        instructions=INSTRUCTIONS,
        website_url="https://opper.ai",
        lifespan=lifespan,
        log_level=settings.log_level,
        tools=[make_tool(name, tool_specs()[name]) for name in enabled_tools(settings)],
    )
    for resource in guide_resources():
        server.add_resource(resource)
    for prompt in make_prompts():
        server.add_prompt(prompt)
    return server


def make_prompts() -> list[Prompt]:
    """Slash commands that lead the assistant to attach code by reference (see `opper_mcp.prompts`)."""
    return [
        Prompt.from_function(prompts.review, name="review", title="Review changes with another model",
                             description="Review uncommitted changes, staged changes or a ref range with another "
                             "model, or several (roundtable)."),
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
