"""web_search and web_fetch against the emulator: request bodies, result shapes, paging, errors."""

from __future__ import annotations

import pytest
from mcp import Client

from tests.fake_opper import FakeOpperServer
from tests.fake_opper.app import fetch_document, search_results
from tests.support import data_of, text_of

pytestmark = pytest.mark.anyio

SEARCH = "/v3/tools/web/search"
FETCH = "/v3/tools/web/fetch"
LONG_URL = "https://example.com/long"


# ---- web_search ----------------------------------------------------------------------------


async def test_search_result_shape(client: Client, fake_opper: FakeOpperServer) -> None:
    result = await client.call_tool("web_search", {"query": "opper roundtable", "max_results": 3})
    data = data_of(result)
    assert data["query"] == "opper roundtable"
    expected = search_results("opper roundtable", 3)
    assert data["results"] == expected  # title, url, snippet, and published_at where Opper has one
    assert {"title", "url", "snippet", "published_at"} == set(data["results"][0])
    assert "published_at" not in data["results"][1]
    sent = fake_opper.state.requests_to(SEARCH)
    assert len(sent) == 1
    assert sent[0].method == "POST"
    assert sent[0].json == {"query": "opper roundtable", "max_results": 3}


async def test_search_defaults_and_trims_the_query(client: Client, fake_opper: FakeOpperServer) -> None:
    data = data_of(await client.call_tool("web_search", {"query": "  httpx streaming  "}))
    assert data["query"] == "httpx streaming"
    assert len(data["results"]) == 5
    assert fake_opper.state.last_request(SEARCH).json == {"query": "httpx streaming", "max_results": 5}


async def test_search_max_results_bounds_pass(client: Client, fake_opper: FakeOpperServer) -> None:
    for max_results in (1, 20):
        data = data_of(await client.call_tool("web_search", {"query": "x", "max_results": max_results}))
        assert len(data["results"]) == max_results
        assert fake_opper.state.last_request(SEARCH).json["max_results"] == max_results


async def test_search_rejects_bad_input_without_calling_opper(client: Client, fake_opper: FakeOpperServer) -> None:
    cases: list[dict[str, object]] = [{"query": ""}, {"query": "   \n\t "}, {"query": "x", "max_results": 0},
                                      {"query": "x", "max_results": 21}, {}]
    for args in cases:
        assert (await client.call_tool("web_search", args)).is_error, args
    assert fake_opper.state.requests_to(SEARCH) == []


async def test_search_blank_query_message(client: Client) -> None:
    result = await client.call_tool("web_search", {"query": "   "})
    assert result.is_error
    assert "query is empty" in text_of(result)


async def test_search_upstream_error_is_reported(client: Client, fake_opper: FakeOpperServer) -> None:
    fake_opper.state.fail(SEARCH, 500, message="search backend exploded")
    result = await client.call_tool("web_search", {"query": "anything"})
    assert result.is_error
    assert "search backend exploded" in text_of(result)
    assert "500" in text_of(result)
    # and the next call works
    assert data_of(await client.call_tool("web_search", {"query": "anything"}))["results"]


# ---- web_fetch -----------------------------------------------------------------------------


async def test_fetch_short_page(client: Client, fake_opper: FakeOpperServer) -> None:
    url = "https://example.com/docs/getting-started"
    title, content = fetch_document(url)
    data = data_of(await client.call_tool("web_fetch", {"url": url}))
    assert data == {"url": url, "title": title, "content": content, "start_index": 0, "total_chars": len(content)}
    assert "next_start_index" not in data
    assert [r.json for r in fake_opper.state.requests_to(FETCH)] == [{"url": url}]


@pytest.mark.parametrize("max_length", [4_000, 10_000])
async def test_fetch_pages_through_a_long_page_with_one_upstream_fetch(
    client: Client, fake_opper: FakeOpperServer, max_length: int
) -> None:
    _, full = fetch_document(LONG_URL)
    assert len(full) > 2 * max_length  # the premise: several pages
    pages: list[str] = []
    start = 0
    calls = 0
    while True:
        calls += 1
        assert calls < 50, "paging does not terminate"
        data = data_of(
            await client.call_tool("web_fetch", {"url": LONG_URL, "start_index": start, "max_length": max_length})
        )
        assert data["start_index"] == start
        assert data["total_chars"] == len(full)
        assert 0 < len(data["content"]) <= max_length
        pages.append(data["content"])
        nxt = data.get("next_start_index")
        if nxt is None:
            assert start + len(data["content"]) == len(full)
            break
        assert nxt == start + len(data["content"])
        start = nxt
    assert len(pages) == -(-len(full) // max_length)
    assert "".join(pages) == full
    assert len(fake_opper.state.requests_to(FETCH)) == 1  # every later page came from the cache


async def test_fetch_start_index_past_the_end(client: Client, fake_opper: FakeOpperServer) -> None:
    _, full = fetch_document(LONG_URL)
    for start in (len(full), len(full) + 1, 10**7):
        result = await client.call_tool("web_fetch", {"url": LONG_URL, "start_index": start})
        assert result.is_error
        assert "past the end" in text_of(result)
        assert str(len(full)) in text_of(result)
    assert len(fake_opper.state.requests_to(FETCH)) == 1
    # the last character is still reachable
    data = data_of(await client.call_tool("web_fetch", {"url": LONG_URL, "start_index": len(full) - 1}))
    assert data["content"] == full[-1]
    assert "next_start_index" not in data


async def test_fetch_rejects_non_http_urls_without_calling_opper(client: Client, fake_opper: FakeOpperServer) -> None:
    for url in ("ftp://example.com/file", "example.com/page", "javascript:alert(1)", "file:///etc/passwd", "   "):
        result = await client.call_tool("web_fetch", {"url": url})
        text = text_of(result)
        assert result.is_error, url
        assert "must start with http:// or https://" in text or "at least 1 character" in text, text
    assert fake_opper.state.requests_to(FETCH) == []


async def test_fetch_accepts_uppercase_scheme(client: Client, fake_opper: FakeOpperServer) -> None:
    data = data_of(await client.call_tool("web_fetch", {"url": " HTTPS://example.com/page "}))
    assert data["content"]
    assert fake_opper.state.last_request(FETCH).json == {"url": "HTTPS://example.com/page"}


async def test_fetch_upstream_400_carries_oppers_message(client: Client, fake_opper: FakeOpperServer) -> None:
    fake_opper.state.fail(FETCH, 400, message="url: this host is blocked by the project's policy")
    url = "https://example.com/blocked"
    result = await client.call_tool("web_fetch", {"url": url})
    assert result.is_error
    text = text_of(result)
    assert "url: this host is blocked by the project's policy" in text
    assert "400" in text
    assert len(fake_opper.state.requests_to(FETCH)) == 1  # a 400 is not retried
    # a failure is not cached: the next call fetches again and succeeds
    assert data_of(await client.call_tool("web_fetch", {"url": url}))["content"] == fetch_document(url)[1]
    assert len(fake_opper.state.requests_to(FETCH)) == 2


async def test_fetch_real_emulator_400_for_a_url_without_host(client: Client) -> None:
    result = await client.call_tool("web_fetch", {"url": "http://"})
    assert result.is_error
    assert "must be an absolute http(s) URL" in text_of(result)


async def test_fetch_failure_upstream_500(client: Client, fake_opper: FakeOpperServer) -> None:
    result = await client.call_tool("web_fetch", {"url": "https://nowhere.invalid/x"})
    assert result.is_error
    assert "no such host" in text_of(result)
    assert len(fake_opper.state.requests_to(FETCH)) == 1


async def test_fetch_argument_bounds(client: Client, fake_opper: FakeOpperServer) -> None:
    cases: list[dict[str, object]] = [{"url": LONG_URL, "max_length": 99}, {"url": LONG_URL, "max_length": 40_001},
                                      {"url": LONG_URL, "start_index": -1}, {"url": ""}]
    for args in cases:
        assert (await client.call_tool("web_fetch", args)).is_error, args
    assert fake_opper.state.requests_to(FETCH) == []
