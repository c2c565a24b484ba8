"""The read-only tools through an in-memory MCP client, in both protocol eras:
list_models, grep_spec, read_spec, get_trace, list_traces, and argument validation."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import pytest
from cachetools import TTLCache
from mcp import Client
from mcp_types import CallToolResult

from opper_mcp.opper import catalog
from opper_mcp.runtime.result import OUTPUT_BUDGET_CHARS
from opper_mcp.runtime.state import JUST_PRODUCED_S
from opper_mcp.server import build_server, build_state
from opper_mcp.settings import Settings
from opper_mcp.tools import traces
from tests.fake_opper import SEED_TRACE_IDS, TEST_KEY, FakeOpperServer
from tests.fake_opper import app as fake_app
from tests.fake_opper.catalogue import CatalogueEntry
from tests.support import connect, data_of, make_settings, text_of

pytestmark = pytest.mark.anyio

COMPACT_KEYS = {"id", "type", "context_window", "capabilities", "input_usd_per_1m", "output_usd_per_1m"}


async def call(client: Client, tool: str, **args: Any) -> CallToolResult:
    return await client.call_tool(tool, args)


async def ok(client: Client, tool: str, **args: Any) -> Any:
    return data_of(await call(client, tool, **args))


async def err(client: Client, tool: str, **args: Any) -> str:
    result = await call(client, tool, **args)
    assert result.is_error, text_of(result)
    return text_of(result)


@pytest.fixture
def fast_not_found(monkeypatch: pytest.MonkeyPatch) -> None:
    """get_trace's wait-for-indexing retries (0.5+1+1.5 s) shrunk; the number of tries is unchanged."""
    monkeypatch.setattr(traces, "NOT_FOUND_RETRY_DELAYS_S", (0.01, 0.01, 0.01))


# =========================================================================== list_models


def live(fake: FakeOpperServer) -> list[CatalogueEntry]:
    """What Opper lists by default (not retired), in its order (by id)."""
    return sorted((e for e in fake.state.models if not e.retired), key=lambda e: e.id)


def oracle(
    entries: list[CatalogueEntry],
    *,
    query: str = "",
    type: str = "",
    provider: str = "",
    capability: tuple[str, ...] = (),
) -> list[str]:
    out = []
    for e in entries:
        info = e.info
        if type and info["type"].lower() != type.lower():
            continue
        if provider and info["provider"].lower() != provider.lower():
            continue
        caps = {c.lower() for c in info.get("capabilities", [])}
        if not all(c.lower() in caps for c in capability):
            continue
        text = " ".join([info["id"], info.get("name", ""), info.get("description", ""), *info.get("aliases", [])])
        if not all(w in text.lower() for w in query.lower().split()):
            continue
        out.append(e.id)
    return out


async def all_ids(client: Client, page: int, **filters: Any) -> list[str]:
    ids: list[str] = []
    offset: int | None = 0
    while offset is not None:
        data = await ok(client, "list_models", limit=page, offset=offset, **filters)
        assert data["offset"] == offset
        ids += [m["id"] for m in data["models"]]
        offset = data.get("next_offset")
    return ids


async def test_list_models_compact_rows(client: Client, fake_opper: FakeOpperServer) -> None:
    entries = live(fake_opper)
    by_id = {e.id: e for e in entries}
    data = await ok(client, "list_models", limit=7)
    assert data["total"] == len(entries) and data["offset"] == 0 and data["next_offset"] == 7
    assert [m["id"] for m in data["models"]] == [e.id for e in entries[:7]]
    priced = 0
    for row in data["models"]:
        assert set(row) <= COMPACT_KEYS, row  # no details unless asked
        info = by_id[row["id"]].info
        assert row["type"] == info["type"] and row["capabilities"] == info["capabilities"]
        assert row.get("context_window") == info.get("context_window")
        pricing = info.get("pricing") or {}
        for side in ("input", "output"):
            prices = pricing.get(side)
            if prices:
                priced += 1
                assert row[f"{side}_usd_per_1m"] == pytest.approx(prices[0] * 1_000_000)
            else:
                assert f"{side}_usd_per_1m" not in row
    assert priced


async def test_list_models_usd_per_million_known_values(client: Client) -> None:
    data = await ok(client, "list_models", query="claude-haiku-4-5", provider="anthropic", limit=1)
    row = data["models"][0]
    # $1e-06 / $5e-06 per token in the catalogue
    assert (row["input_usd_per_1m"], row["output_usd_per_1m"]) == (1.0, 5.0)


FILTER_CASES: list[dict[str, Any]] = [
    {"provider": "anthropic"},
    {"provider": "ANTHROPIC", "type": "llm"},
    {"type": "embedding"},
    {"capability": ["vision", "tools"]},
    {"query": "claude sonnet"},
    {"query": "gpt", "provider": "openai", "capability": ["VISION"]},
]


async def test_list_models_filters(client: Client, fake_opper: FakeOpperServer) -> None:
    entries = live(fake_opper)
    for filters in FILTER_CASES:
        expected = oracle(entries, **{k: tuple(v) if k == "capability" else v for k, v in filters.items()})
        assert 0 < len(expected) < len(entries), filters  # each case selects something, and not everything
        assert await all_ids(client, 200, **filters) == expected, filters
        data = await ok(client, "list_models", limit=1, **filters)
        assert data["total"] == len(expected), filters
    assert len(fake_opper.state.requests_to("/v3/models")) == 1


async def test_list_models_no_match_says_so(client: Client) -> None:
    data = await ok(client, "list_models", query="no-such-model-anywhere")
    assert data["total"] == 0 and data["models"] == [] and "next_offset" not in data
    assert "no model matches" in data["note"]


async def test_list_models_paging_is_local_and_complete(client: Client, fake_opper: FakeOpperServer) -> None:
    ids = await all_ids(client, 40)
    assert ids == [e.id for e in live(fake_opper)]
    assert len(ids) == len(set(ids))
    data = await ok(client, "list_models", limit=10, offset=len(ids) - 3)
    assert len(data["models"]) == 3 and "next_offset" not in data
    past = await ok(client, "list_models", offset=len(ids) + 5)
    assert past["models"] == [] and past["total"] == len(ids)
    (req,) = fake_opper.state.requests_to("/v3/models")  # the whole walk came from one fetch
    assert req.query == {"limit": "500", "offset": "0"}
    assert req.headers["authorization"] == f"Bearer {TEST_KEY}"  # public, but the key goes along if set


async def test_list_models_catalogue_cached_per_include_set(client: Client, fake_opper: FakeOpperServer) -> None:
    await ok(client, "list_models", limit=2)
    await ok(client, "list_models", provider="openai", include=["pricing", "description"])  # local blocks
    assert len(fake_opper.state.requests_to("/v3/models")) == 1
    await ok(client, "list_models", include=["maker", "benchmarks"])
    await ok(client, "list_models", include=["benchmarks", "maker", "pricing"], offset=3)
    reqs = fake_opper.state.requests_to("/v3/models")
    assert len(reqs) == 2
    assert reqs[1].query == {"limit": "500", "offset": "0", "include": "benchmarks,maker"}


async def test_list_models_include_blocks(client: Client, fake_opper: FakeOpperServer) -> None:
    by_id = {e.id: e for e in live(fake_opper)}
    include = ["pricing", "maker", "benchmarks", "description", "aliases"]
    rows: list[dict[str, Any]] = []
    offset: int | None = 0
    while offset is not None:
        data = await ok(client, "list_models", include=include, limit=200, offset=offset)
        if data.get("next_offset") is not None:  # big rows: cut to the output budget, with a note
            assert "output budget" in data["note"] and data["next_offset"] == offset + len(data["models"])
        rows += data["models"]
        offset = data.get("next_offset")
    assert [r["id"] for r in rows] == list(by_id)
    assert len(fake_opper.state.requests_to("/v3/models")) == 1
    with_bench = 0
    for row in rows:
        entry = by_id[row["id"]]
        details = row["details"]
        assert details["maker"] == entry.maker
        assert details["name"] == entry.info["name"] and details["provider"] == entry.provider
        assert details["aliases"] == entry.info.get("aliases", [])
        if entry.benchmarks is None:
            assert "benchmarks" not in details
        else:
            with_bench += 1
            assert details["benchmarks"] == entry.benchmarks
        if entry.info.get("pricing"):
            for k, v in entry.info["pricing"].items():
                assert details["pricing"][k] == v
        assert "route" not in details and "policy" not in details
    assert with_bench


async def test_list_models_route_needs_a_key(fake_opper: FakeOpperServer, tmp_path: Path, mode: str) -> None:
    settings = make_settings(fake_opper.url, tmp_path / "cache", api_key=None)
    async with connect(settings, mode) as client:
        text = await err(client, "list_models", include=["route"])
        assert "include=route needs an Opper API key" in text and "OPPER_API_KEY" in text
        text = await err(client, "list_models", include=["policy", "maker"])
        assert "policy" in text and "API key" in text
        assert fake_opper.state.requests_to("/v3/models") == []  # refused before asking Opper
        # the public catalogue still works without a key, and sends none
        data = await ok(client, "list_models", include=["maker"], limit=1)
        assert data["models"][0]["details"]["maker"]
        (req,) = fake_opper.state.requests_to("/v3/models")
        assert "authorization" not in req.headers


async def test_list_models_route_with_key(client: Client, fake_opper: FakeOpperServer) -> None:
    by_id = {e.id: e for e in live(fake_opper)}
    data = await ok(client, "list_models", include=["route", "policy"], provider="mistral")
    assert data["models"]
    for row in data["models"]:
        assert row["details"]["route"] == by_id[row["id"]].route
        assert row["details"]["policy"] == by_id[row["id"]].policy
    (req,) = fake_opper.state.requests_to("/v3/models")
    assert req.query["include"] == "policy,route"
    assert req.headers["authorization"] == f"Bearer {TEST_KEY}"


async def test_list_models_walks_pages_when_opper_caps_the_page(
    client: Client, fake_opper: FakeOpperServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The emulator honours limit=500; make it cap pages at 100 like a stricter gateway would."""
    real = fake_app._int_param

    def capped(value: str | None, name: str, default: int, lo: int, hi: int | None) -> Any:
        n, error = real(value, name, default, lo, hi)
        return (min(n, 100) if name == "limit" else n), error

    monkeypatch.setattr(fake_app, "_int_param", capped)
    n = len(live(fake_opper))
    assert n > 100
    assert await all_ids(client, 200) == [e.id for e in live(fake_opper)]
    reqs = fake_opper.state.requests_to("/v3/models")
    assert [(r.query["limit"], int(r.query["offset"])) for r in reqs] == [("500", o) for o in range(0, n, 100)]


async def test_list_models_walks_pages_of_a_smaller_page_size(
    client: Client, fake_opper: FakeOpperServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(catalog, "PAGE_SIZE", 60)
    n = len(live(fake_opper))
    data = await ok(client, "list_models", limit=200)
    assert data["total"] == n and len(data["models"]) == n
    reqs = fake_opper.state.requests_to("/v3/models")
    assert [(r.query["limit"], int(r.query["offset"])) for r in reqs] == [("60", o) for o in range(0, n, 60)]


async def test_list_models_catalogue_larger_than_one_page(client: Client, fake_opper: FakeOpperServer) -> None:
    base = live(fake_opper)
    extra = []
    for i in range(1200 - len(base)):
        src = base[i % len(base)]
        extra.append(dataclasses.replace(src, info={**src.info, "id": f"zz-bulk/model-{i:04d}", "aliases": []}))
    fake_opper.state.models.extend(extra)
    data = await ok(client, "list_models", offset=1190, limit=50)
    assert data["total"] == 1200
    assert [m["id"] for m in data["models"]] == [f"zz-bulk/model-{i:04d}" for i in range(1032, 1042)]
    reqs = fake_opper.state.requests_to("/v3/models")
    assert [(r.query["limit"], r.query["offset"]) for r in reqs] == [("500", "0"), ("500", "500"), ("500", "1000")]


# =========================================================================== grep_spec / read_spec

LONG_LINE_SPEC = "openapi: 3.1.0\npaths: {}\ninfo:\n  description: " + "a" * 30_000 + "!\n"


async def test_grep_spec_hit_with_location_and_context(client: Client, fake_opper: FakeOpperServer) -> None:
    data = await ok(client, "grep_spec", pattern=r"operationId: listModels\b", context=2)
    lines = fake_opper.state.spec_text.splitlines()
    assert data["total_matches"] == 1 and data["truncated"] is False
    (m,) = data["matches"]
    assert m["location"] == "GET /v3/models (listModels)"
    i = m["line"] - 1
    assert lines[i].strip() == "operationId: listModels" == m["text"].strip()
    assert m["before"] == lines[i - 2 : i] and m["after"] == lines[i + 1 : i + 3]
    assert data["spec_source"] == "network" and "stale" not in data


async def test_grep_spec_repeated_search_answers_the_same(client: Client) -> None:
    first = await ok(client, "grep_spec", pattern="operationId:", max_matches=3)
    again = await ok(client, "grep_spec", pattern="operationId:", max_matches=3)
    assert again == {**first, "spec_source": "memory"}  # served from memory, same matches
    assert await ok(client, "grep_spec", pattern="operationId:", max_matches=3) == again
    other = await ok(client, "grep_spec", pattern="operationId:", max_matches=3, context=0)
    assert other["matches"] != again["matches"] and all(m["before"] == [] for m in other["matches"])


async def test_grep_spec_case_and_truncation(client: Client) -> None:
    data = await ok(client, "grep_spec", pattern="OPERATIONID: LISTMODELS", ignore_case=False)
    assert data["total_matches"] == 0 and "case-sensitive" in data["next_hint"]
    data = await ok(client, "grep_spec", pattern="operationId:", max_matches=3, context=0)
    assert data["truncated"] is True and len(data["matches"]) == 3 and data["total_matches"] > 3
    assert all(m["before"] == [] and m["after"] == [] for m in data["matches"])


async def test_grep_spec_bad_regex(client: Client) -> None:
    text = await err(client, "grep_spec", pattern="(unclosed")
    assert "invalid regular expression" in text


async def test_grep_spec_catastrophic_pattern_is_bounded(fake_opper: FakeOpperServer, settings: Settings) -> None:
    fake_opper.state.spec_text = LONG_LINE_SPEC
    async with connect(settings, "auto") as client:  # one era: the 1 s regex bound is the cost
        start = time.monotonic()
        text = await err(client, "grep_spec", pattern="(a+)+$")
        assert time.monotonic() - start < 5.0
        assert "catastrophic backtracking" in text and "simplify" in text
        assert (await ok(client, "grep_spec", pattern="a!"))["total_matches"] == 1  # the server is fine


async def test_spec_fetched_once_then_memory(client: Client, fake_opper: FakeOpperServer) -> None:
    first = await ok(client, "grep_spec", pattern="listModels")
    second = await ok(client, "grep_spec", pattern="webSearch")
    read = await ok(client, "read_spec", target="listModels")
    assert first["spec_source"] == "network"
    assert second["spec_source"] == read["spec_source"] == "memory"
    (req,) = fake_opper.state.requests_to("/v3/openapi.yaml")
    assert "authorization" not in req.headers


async def test_spec_served_from_disk_when_offline(fake_opper: FakeOpperServer, tmp_path: Path, mode: str) -> None:
    settings = make_settings(fake_opper.url, tmp_path / "cache")
    async with connect(settings, mode) as first:
        assert (await ok(first, "grep_spec", pattern="listModels"))["spec_source"] == "network"
    fake_opper.state.fail("/v3/openapi.yaml", 500, times=None)
    async with connect(settings, mode) as second:  # a new server: empty memory, same cache dir
        data = await ok(second, "grep_spec", pattern=r"operationId: listModels\b")
        assert data["spec_source"] == "disk-offline"
        stale = data["stale"]
        assert "Opper unreachable" in stale and "HTTP 500" in stale and "serving the copy" in stale
        assert data["matches"][0]["location"] == "GET /v3/models (listModels)"
        read = await ok(second, "read_spec", target="listModels")
        assert read["spec_source"] == "disk-offline" and read["stale"]
    assert len(fake_opper.state.requests_to("/v3/openapi.yaml")) == 2  # one good fetch, one failed


async def test_spec_unavailable_without_cache(fake_opper: FakeOpperServer, tmp_path: Path, mode: str) -> None:
    fake_opper.state.fail("/v3/openapi.yaml", 500, times=None)
    async with connect(make_settings(fake_opper.url, tmp_path / "empty-cache"), mode) as client:
        text = await err(client, "grep_spec", pattern="listModels")
        assert "HTTP 500" in text and "internal server error" in text
        fake_opper.state.clear_faults()
        assert (await ok(client, "grep_spec", pattern="listModels"))["spec_source"] == "network"


async def test_read_spec_operation(client: Client) -> None:
    for target in ["listModels", "GET /v3/models", "get /v3/models/", "listmodels", "/v3/models"]:
        data = await ok(client, "read_spec", target=target)
        assert data["kind"] == "operation", target
        assert data["target"] == "GET /v3/models (listModels)", target
        assert data["text"].startswith("GET /v3/models (listModels)"), target
        assert data["truncated"] is False


async def test_read_spec_schema(client: Client) -> None:
    data = await ok(client, "read_spec", target="chatrequest")  # in the full spec and the small fixture
    assert data["kind"] == "schema" and data["target"] == "ChatRequest"
    assert "ChatRequest" in data["text"] and "messages" in data["text"]


async def test_read_spec_unknown_suggests_close_matches(client: Client) -> None:
    text = await err(client, "read_spec", target="listModel")
    assert "no operation or schema named 'listModel'" in text and "Close matches: listModels" in text
    text = await err(client, "read_spec", target="qqqzzzxxx")
    assert "grep_spec finds names" in text


# =========================================================================== get_trace / list_traces


async def test_get_trace_tree(client: Client) -> None:
    data = await ok(client, "get_trace", trace_id=SEED_TRACE_IDS[0])
    assert data["id"] == SEED_TRACE_IDS[0] and data["name"] == "support-bot/answer"
    assert data["span_count"] == 5 and data["status"] == "completed"
    spans = data["spans"]
    shape = [(s["id"][-1], s["depth"]) for s in spans]
    assert shape == [("1", 0), ("2", 1), ("3", 1), ("4", 2), ("5", 1)]
    position = {s["id"]: i for i, s in enumerate(spans)}
    for s in spans:
        if "parent_id" in s:
            parent = spans[position[s["parent_id"]]]
            assert position[s["parent_id"]] < position[s["id"]] and s["depth"] == parent["depth"] + 1
    classify = spans[1]
    assert classify["name"] == "classify-intent" and classify["model"] == "openai/gpt-5-mini-2025-08-07"
    assert (classify["input_tokens"], classify["output_tokens"], classify["cost_usd"]) == (40, 3, 0.00004)
    # Opper's spans carry start/end times only: the row's duration is derived from them
    assert [s["duration_ms"] for s in spans] == [4200, 600, 900, 300, 2400]
    assert data["total_cost_usd"] == pytest.approx(0.00231 + 0.00004 + 0.002 + 0.00027)
    assert classify["input"] == "How do I rotate my API key?" and classify["output"] == "account_management"
    assert "hint" not in data


async def test_get_trace_error_span(client: Client) -> None:
    data = await ok(client, "get_trace", trace_id=SEED_TRACE_IDS[1])
    assert data["status"] == "error"
    (failed,) = [s for s in data["spans"] if s.get("error")]
    assert failed["name"] == "call-model" and failed["status"] == "error" and failed["depth"] == 1
    assert failed["error"] == "upstream provider error: 529 overloaded"


async def test_get_trace_truncation_and_span_page(client: Client, fake_opper: FakeOpperServer) -> None:
    tid = SEED_TRACE_IDS[2]
    full = fake_opper.state.get_trace(tid)
    assert full is not None
    long_in = full["spans"][0]["input"]
    data = await ok(client, "get_trace", trace_id=tid, io_chars=300)
    (row,) = data["spans"]
    assert row["truncated"] is True
    assert row["input"] == long_in[:300] + "…"
    assert "span_id" in data["hint"]
    page = (await ok(client, "get_trace", trace_id=tid, span_id=row["id"], field="input"))["page"]
    assert page["content"] == long_in and page["total_chars"] == len(long_in) and "next_offset" not in page
    hidden = await ok(client, "get_trace", trace_id=tid, io_chars=0)
    assert "input" not in hidden["spans"][0] and "hint" not in hidden


async def test_get_trace_pages_a_long_span_to_the_end(client: Client, fake_opper: FakeOpperServer) -> None:
    long_out = "".join(f"line {i:05d} of a very long model answer\n" for i in range(1500))
    assert len(long_out) > 45_000
    tid = fake_opper.state.add_trace(
        "long-answer", spans=[{"id": "d4000000-0000-4000-8000-000000000001", "output": long_out, "input": "q"}]
    )
    pieces: list[str] = []
    offsets: list[int] = []
    offset: int | None = 0
    while offset is not None:
        data = await ok(
            client, "get_trace", trace_id=tid, span_id="d4000000-0000-4000-8000-000000000001", offset=offset
        )
        page = data["page"]
        assert page["field"] == "output" and page["offset"] == offset and page["total_chars"] == len(long_out)
        assert len(data["spans"]) == 1 and "output" not in data["spans"][0]
        offsets.append(offset)
        pieces.append(page["content"])
        offset = page.get("next_offset")
    assert "".join(pieces) == long_out
    assert offsets == list(range(0, len(long_out), 20_000))
    text = await err(
        client, "get_trace", trace_id=tid, span_id="d4000000-0000-4000-8000-000000000001", offset=len(long_out) + 1
    )
    assert "past the end" in text
    text = await err(client, "get_trace", trace_id=tid, span_id="nope")
    assert "not in trace" in text and "d4000000-0000-4000-8000-000000000001" in text


async def test_get_trace_pages_a_large_trace_from_one_snapshot(client: Client, fake_opper: FakeOpperServer) -> None:
    """Thousands of spans: each page within the budget, every span once in tree order, one upstream fetch."""
    spans = [{"id": "root", "name": "batch", "duration_ms": 60_000}]
    spans += [{"id": f"s{i:04d}", "parent_id": "root", "name": f"call {i}", "duration_ms": 10,
               "meta": {"model": "openai/gpt-5-mini", "cost": 0.00001}} for i in range(2_999)]
    tid = fake_opper.state.add_trace("batch", spans=spans)
    before = fake_opper.state.request_count(f"/v3/traces/{tid}")
    seen: list[str] = []
    offset: int | None = 0
    pages = 0
    while offset is not None:
        result = await client.call_tool("get_trace", {"trace_id": tid, "offset": offset, "io_chars": 0})
        assert len(text_of(result)) <= OUTPUT_BUDGET_CHARS
        data = data_of(result)
        assert data["span_count"] == 3_000 and data["total_cost_usd"] == pytest.approx(0.02999)
        seen += [row["id"] for row in data["spans"]]
        offset = data.get("next_offset")
        pages += 1
    assert seen == ["root", *(f"s{i:04d}" for i in range(2_999))]
    assert pages > 1
    assert fake_opper.state.request_count(f"/v3/traces/{tid}") - before == 1  # later pages reuse the first look
    await ok(client, "get_trace", trace_id=tid)
    assert fake_opper.state.request_count(f"/v3/traces/{tid}") - before == 2  # a new first look fetches again


async def test_get_trace_waits_for_a_trace_chat_just_produced(client: Client, fake_opper: FakeOpperServer) -> None:
    fake_opper.state.trace_delay_reads = 1  # the first read of a new trace answers 404: not written yet
    tid = data_of(await client.call_tool("chat", {"model": "openai/gpt-5-mini", "prompt": "hi"}))["trace_id"]
    start = time.monotonic()
    data = await ok(client, "get_trace", trace_id=tid)
    assert data["id"] == tid
    assert fake_opper.state.request_count(f"/v3/traces/{tid}") == 2  # a 404, then the trace
    assert time.monotonic() - start >= 0.45  # the real first wait (0.5 s) was taken


async def test_get_trace_waits_for_a_trace_roundtable_just_produced(
    client: Client, fake_opper: FakeOpperServer, fast_not_found: None
) -> None:
    fake_opper.state.trace_delay_reads = 2
    models = ["openai/gpt-5-mini", "anthropic/claude-sonnet-4-6"]
    tid = data_of(await client.call_tool("roundtable", {"input": "q", "models": models}))["trace_id"]
    assert (await ok(client, "get_trace", trace_id=tid))["id"] == tid
    assert fake_opper.state.request_count(f"/v3/traces/{tid}") == 3


async def test_get_trace_just_produced_but_never_written(
    client: Client, fake_opper: FakeOpperServer, fast_not_found: None
) -> None:
    fake_opper.state.trace_delay_reads = 10
    tid = data_of(await client.call_tool("chat", {"model": "openai/gpt-5-mini", "prompt": "hi"}))["trace_id"]
    text = await err(client, "get_trace", trace_id=tid)
    assert "HTTP 404" in text and "produced moments ago" in text and "few seconds" in text and "list_traces" in text
    assert fake_opper.state.request_count(f"/v3/traces/{tid}") == 1 + len(traces.NOT_FOUND_RETRY_DELAYS_S)


async def test_get_trace_unknown_id_costs_one_request(client: Client, fake_opper: FakeOpperServer) -> None:
    before = fake_opper.state.request_count()
    text = await err(client, "get_trace", trace_id="00000000-0000-4000-8000-00000000dead")
    assert "HTTP 404" in text and "trace not found" in text and "no trace with this id" in text
    assert "list_traces" in text and "few seconds" not in text
    assert fake_opper.state.request_count() - before == 1  # was 4: three retries meant for fresh traces


async def test_get_trace_does_not_wait_for_ids_it_did_not_produce(
    client: Client, fake_opper: FakeOpperServer
) -> None:
    """A trace produced elsewhere (another client, the platform) that is not written yet: one request."""
    tid = fake_opper.state.add_trace("written-elsewhere", pending_reads=1)
    assert "no trace with this id" in await err(client, "get_trace", trace_id=tid)
    assert fake_opper.state.request_count(f"/v3/traces/{tid}") == 1
    assert (await ok(client, "get_trace", trace_id=tid))["name"] == "written-elsewhere"  # once written


async def test_get_trace_stops_waiting_once_an_id_is_old(
    settings: Settings, mode: str, fake_opper: FakeOpperServer
) -> None:
    now = [0.0]
    recent: TTLCache[tuple[str, str], bool] = TTLCache(maxsize=8, ttl=JUST_PRODUCED_S, timer=lambda: now[0])
    state = dataclasses.replace(build_state(settings), recent_traces=recent)
    async with Client(build_server(settings, state), mode=mode) as client:
        fake_opper.state.trace_delay_reads = 1
        tid = data_of(await client.call_tool("chat", {"model": "openai/gpt-5-mini", "prompt": "hi"}))["trace_id"]
        now[0] += JUST_PRODUCED_S + 1  # as if the chat was long ago
        assert "no trace with this id" in await err(client, "get_trace", trace_id=tid)
    assert fake_opper.state.request_count(f"/v3/traces/{tid}") == 1


async def test_get_trace_rejects_bad_ids(client: Client, fake_opper: FakeOpperServer) -> None:
    for bad in ["../x", "a/b", "", "x" * 129, "-leading-dash", "id with space", "x?y=1"]:
        text = await err(client, "get_trace", trace_id=bad)
        assert "trace_id" in text and "validation error" in text, bad
    assert fake_opper.state.requests == []


async def test_list_traces_newest_first(client: Client, fake_opper: FakeOpperServer) -> None:
    data = await ok(client, "list_traces")
    assert [t["id"] for t in data["traces"]] == list(reversed(SEED_TRACE_IDS))
    assert data["total"] == 3 and data["offset"] == 0 and "next_offset" not in data
    first = data["traces"][0]
    assert first["name"] == "summarise-report" and first["span_count"] == 1 and first["status"] == "completed"
    assert data["traces"][1]["status"] == "error"


async def test_list_traces_name_filter(client: Client, fake_opper: FakeOpperServer) -> None:
    data = await ok(client, "list_traces", name="EXTRACT")
    assert [t["id"] for t in data["traces"]] == [SEED_TRACE_IDS[1]] and data["total"] == 1
    assert fake_opper.state.last_request("/v3/traces").query == {"limit": "20", "offset": "0", "name": "EXTRACT"}
    none = await ok(client, "list_traces", name="no-such-trace")
    assert none["traces"] == [] and none["total"] == 0


async def test_list_traces_paging(client: Client, fake_opper: FakeOpperServer) -> None:
    for i in range(4):
        fake_opper.state.add_trace(f"batch-job-{i}")
    seen: list[str] = []
    offset: int | None = 0
    while offset is not None:
        data = await ok(client, "list_traces", limit=3, offset=offset)
        assert data["total"] == 7 and len(data["traces"]) <= 3
        seen += [t["id"] for t in data["traces"]]
        offset = data.get("next_offset")
    assert len(seen) == len(set(seen)) == 7
    assert seen[-3:] == list(reversed(SEED_TRACE_IDS))
    assert [r.query["offset"] for r in fake_opper.state.requests_to("/v3/traces")] == ["0", "3", "6"]


# =========================================================================== argument validation


INVALID_ARGS: list[tuple[str, dict[str, Any], list[str]]] = [
    ("list_models", {"limit": 0}, ["limit", "greater than or equal to 1"]),
    ("list_models", {"limit": 201}, ["limit", "less than or equal to 200"]),
    ("list_models", {"limit": "five"}, ["limit", "valid integer"]),
    ("list_models", {"limit": 5.5}, ["limit", "fractional part"]),
    ("list_models", {"offset": -1}, ["offset", "greater than or equal to 0"]),
    ("list_models", {"query": 5}, ["query", "valid string"]),
    ("list_models", {"query": "x" * 201}, ["query", "at most 200 characters"]),
    ("list_models", {"capability": '["vision"'}, ["capability", "valid list"]),
    ("list_models", {"capability": [f"c{i}" for i in range(11)]}, ["capability", "at most 10"]),
    ("list_models", {"include": ["bogus"]}, ["include", "'pricing'"]),
    ("get_trace", {}, ["trace_id", "Field required"]),
    ("get_trace", {"trace_id": 123}, ["trace_id", "valid string"]),
    ("get_trace", {"trace_id": SEED_TRACE_IDS[0], "field": "meta"}, ["field", "input' or 'output"]),
    ("get_trace", {"trace_id": SEED_TRACE_IDS[0], "io_chars": 4001}, ["io_chars", "less than or equal"]),
    ("get_trace", {"trace_id": SEED_TRACE_IDS[0], "offset": -5}, ["offset", "greater than or equal"]),
    ("list_traces", {"limit": "101"}, ["limit", "less than or equal to 100"]),
    ("grep_spec", {"pattern": ""}, ["pattern", "at least 1 character"]),
    ("grep_spec", {"pattern": "x" * 501}, ["pattern", "at most 500"]),
    ("grep_spec", {"pattern": "x", "context": 11}, ["context", "less than or equal to 10"]),
    ("grep_spec", {"pattern": "x", "max_matches": 0}, ["max_matches", "greater than or equal to 1"]),
    ("read_spec", {"target": ""}, ["target", "at least 1 character"]),
]


async def test_argument_validation_errors(client: Client, fake_opper: FakeOpperServer) -> None:
    for tool, args, fragments in INVALID_ARGS:
        text = await err(client, tool, **args)
        for fragment in fragments:
            assert fragment in text, (tool, args, fragment, text)
    assert fake_opper.state.requests == []  # all rejected before any upstream call


async def test_numbers_and_lists_given_as_strings_are_coerced(client: Client, fake_opper: FakeOpperServer) -> None:
    data = await ok(client, "list_models", limit="5", offset="2")
    assert len(data["models"]) == 5 and data["offset"] == 2 and data["next_offset"] == 7
    as_string = await ok(client, "list_models", capability='["vision"]', include='["pricing"]', limit="200")
    as_list = await ok(client, "list_models", capability=["vision"], include=["pricing"], limit=200)
    assert as_string == as_list
    assert as_string["total"] == len(oracle(live(fake_opper), capability=("vision",)))
    assert any("pricing" in m.get("details", {}) for m in as_string["models"])
    traces_page = await ok(client, "list_traces", limit="1")
    assert len(traces_page["traces"]) == 1 and traces_page["next_offset"] == 1
    grep = await ok(client, "grep_spec", pattern="listModels", context="0", max_matches="1")
    assert grep["matches"][0]["before"] == []


async def test_a_slow_pattern_does_not_stall_other_calls(client: Client, fake_opper: FakeOpperServer) -> None:
    """A catastrophic pattern runs out its 1 s in a worker thread; other calls are answered meanwhile."""
    import anyio

    fake_opper.state.spec_text = fake_app.default_spec_text() + "x-junk: " + "a" * 30_000 + "!\n"
    finished: list[str] = []

    async def slow_grep() -> None:
        result = await client.call_tool("grep_spec", {"pattern": "(a+)+$"})
        assert result.is_error and "longer than" in text_of(result)
        finished.append("grep")

    await ok(client, "grep_spec", pattern="paths")  # fetch and index the spec first
    async with anyio.create_task_group() as tg:
        tg.start_soon(slow_grep)
        await anyio.sleep(0.2)  # the grep is now past its inline attempt, scanning in a thread
        await ok(client, "list_models", limit=1)
        finished.append("list_models")
    assert finished == ["list_models", "grep"]


async def test_lists_sent_as_comma_separated_text_are_accepted(client: Client) -> None:
    as_list = await ok(client, "list_models", capability=["vision", "tools"], include=["pricing"], limit=5)
    as_text = await ok(client, "list_models", capability="vision, tools", include="pricing", limit=5)
    assert as_text == as_list and as_list["total"] > 0
    assert all("pricing" in row["details"] for row in as_text["models"])
    too_many = await client.call_tool("list_models", {"capability": ",".join(f"c{i}" for i in range(11))})
    assert too_many.is_error and "at most 10" in text_of(too_many)
