"""web_search and web_fetch: Opper's standalone web tools (no model involved)."""

from __future__ import annotations

from typing import Annotated

from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult
from pydantic import BaseModel, Field

from opper_mcp.opper.schemas import WebFetchResponse, WebSearchResponse
from opper_mcp.runtime.result import respond
from opper_mcp.runtime.state import ToolContext, app_state, opper_for

SEARCH_PATH = "/v3/tools/web/search"
FETCH_PATH = "/v3/tools/web/fetch"


class SearchHit(BaseModel):
    title: str
    url: str
    snippet: str
    published_at: str | None = None


class SearchResults(BaseModel):
    query: str
    results: list[SearchHit]


class FetchedPage(BaseModel):
    url: str
    title: str
    content: str = Field(description="Markdown")
    start_index: int
    total_chars: int
    next_start_index: int | None = Field(None, description="Pass as start_index for the rest")


async def web_search(
    ctx: ToolContext,
    query: Annotated[str, Field(min_length=1, max_length=500)],
    max_results: Annotated[int, Field(ge=1, le=20)] = 5,
) -> Annotated[CallToolResult, SearchResults]:
    """Web search via Opper: titles, URLs, snippets, dates."""
    query = query.strip()
    if not query:
        raise ToolError("query is empty: say what to search for")
    response = await opper_for(ctx).request("POST", SEARCH_PATH, json_body={"query": query, "max_results": max_results})
    found = WebSearchResponse.model_validate(response.data or {})
    hits = [SearchHit.model_validate(r.model_dump()) for r in found.results[:max_results]]
    return respond(SearchResults(query=query, results=hits))


async def web_fetch(
    ctx: ToolContext,
    url: Annotated[str, Field(min_length=1, max_length=2000)],
    start_index: Annotated[int, Field(ge=0)] = 0,
    max_length: Annotated[int, Field(ge=100, le=40_000)] = 10_000,
) -> Annotated[CallToolResult, FetchedPage]:
    """A web page as markdown, via Opper."""
    url = url.strip()
    if not url.lower().startswith(("http://", "https://")):
        raise ToolError(f"url must start with http:// or https://, got {url[:100]!r}")
    state = app_state(ctx)
    opper = opper_for(ctx)
    key = (opper.key_fingerprint, url)
    page = state.web_pages.get(key)
    if page is None:
        response = await opper.request("POST", FETCH_PATH, json_body={"url": url})
        fetched = WebFetchResponse.model_validate(response.data or {})
        page = (fetched.url or url, fetched.title, fetched.content)
        state.web_pages[key] = page
    final_url, title, content = page
    if start_index and start_index >= len(content):
        raise ToolError(f"start_index {start_index} is past the end: the page has {len(content)} characters")
    result = FetchedPage(url=final_url, title=title, content="", start_index=start_index, total_chars=len(content))

    def cut(length: int) -> None:
        result.content = content[start_index : start_index + length]
        end = start_index + len(result.content)
        result.next_start_index = end if end < len(content) else None

    def shrink() -> bool:
        # JSON escaping (quotes, newlines, control characters) can make the text longer than the chunk.
        if len(result.content) <= 100:
            return False
        cut(len(result.content) * 9 // 10)
        return True

    cut(max_length)
    return respond(result, shrink)
