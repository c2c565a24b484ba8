"""search_knowledge and add_knowledge through an in-memory MCP client against the emulator's v2 surface."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp_types import CallToolResult

from opper_mcp.tools import knowledge
from opper_mcp.tools.registry import DEFAULT_TOOLS, TOOL_NAMES
from tests.fake_opper import TEST_KEY, FakeOpperServer
from tests.fake_opper.v2 import V2State
from tests.support import connect, data_of, error_text, make_settings

pytestmark = pytest.mark.anyio

RESTRICTED_KEY = "op-restricted-key-0042"


def v2(fake: FakeOpperServer) -> V2State:
    state: V2State = fake.state.v2  # type: ignore[attr-defined]
    return state


async def call(client: Client, tool: str, **args: Any) -> CallToolResult:
    return await client.call_tool(tool, args)


async def ok(client: Client, tool: str, **args: Any) -> Any:
    return data_of(await call(client, tool, **args))


async def err(client: Client, tool: str, **args: Any) -> str:
    return error_text(await call(client, tool, **args))


@pytest.fixture
async def writer(fake_opper: FakeOpperServer, tmp_path: Path, mode: str) -> Any:
    """A client whose server has add_knowledge switched on through the allow-list."""
    settings = make_settings(fake_opper.url, tmp_path / "cache-w", tools=TOOL_NAMES)
    async with connect(settings, mode) as c:
        yield c


# =========================================================================== listing


async def test_without_knowledge_base_lists_them_in_one_request(client: Client, fake_opper: FakeOpperServer) -> None:
    before = fake_opper.state.request_count()
    data = await ok(client, "search_knowledge")
    assert fake_opper.state.request_count() - before == 1  # the list itself: no GET per base for its count
    assert fake_opper.state.request_count("/v2/knowledge", "GET") == 1
    rows = {r["name"]: r for r in data["knowledge_bases"]}
    assert set(rows) == {"product-docs", "support-faq", "engineering-handbook"}
    assert data["total"] == 3
    assert all("documents" not in r for r in rows.values())  # the list leaves counts out: absent, not guessed
    assert rows["support-faq"]["created"] == "2026-09-08T08:00:00Z"
    assert rows["product-docs"]["id"] == v2(fake_opper).by_name("product-docs").id  # type: ignore[union-attr]
    assert "search_knowledge(knowledge_base=" in data["hint"] and "document count" in data["hint"]


async def test_listing_shows_counts_the_list_carries(client: Client, fake_opper: FakeOpperServer) -> None:
    v2(fake_opper).list_counts = True
    data = await ok(client, "search_knowledge")
    assert {r["name"]: r["documents"] for r in data["knowledge_bases"]} == {
        "product-docs": 5, "support-faq": 2, "engineering-handbook": 1}
    assert fake_opper.state.request_count() == 1
    assert "document count" not in data["hint"]


async def test_listing_follows_pages_one_request_each(client: Client, fake_opper: FakeOpperServer) -> None:
    for i in range(230):
        v2(fake_opper).add_base(f"team-index-{i:03d}")
    data = await ok(client, "search_knowledge")
    assert data["total"] == 233 and len(data["knowledge_bases"]) == 233
    pages = fake_opper.state.requests_to("/v2/knowledge", "GET")
    assert [r.query.get("offset") for r in pages] == ["0", "100", "200"]
    assert fake_opper.state.request_count() == 3  # one per page of 100, nothing per base (was 3 + 25)


async def test_one_base_without_query_shows_its_document_count(client: Client, fake_opper: FakeOpperServer) -> None:
    kb_id = v2(fake_opper).by_name("product-docs").id  # type: ignore[union-attr]
    data = await ok(client, "search_knowledge", knowledge_base="product-docs")
    assert data["knowledge_base"] == "product-docs" and data["id"] == kb_id
    assert data["knowledge_bases"] == [
        {"name": "product-docs", "id": kb_id, "documents": 5, "created": "2026-09-01T08:00:00Z"}]
    assert "query=" in data["hint"] and "key=" in data["hint"]
    assert fake_opper.state.request_count() == 2  # the name lookup, then the base
    before = fake_opper.state.request_count()
    again = await ok(client, "search_knowledge", knowledge_base="product-docs", query="  ")
    assert again["knowledge_bases"][0]["documents"] == 5
    assert fake_opper.state.request_count() - before == 1  # the name is cached: just the base
    by_id = await ok(client, "search_knowledge", knowledge_base=kb_id)
    assert by_id["knowledge_bases"][0]["documents"] == 5 and by_id["knowledge_base"] == "product-docs"


async def test_empty_listing_says_how_to_create_one(client: Client, fake_opper: FakeOpperServer) -> None:
    v2(fake_opper).bases.clear()
    data = await ok(client, "search_knowledge")
    assert data["knowledge_bases"] == [] and "create one" in data["hint"]


# =========================================================================== search


async def test_search_by_name_returns_ranked_rows(client: Client, fake_opper: FakeOpperServer) -> None:
    data = await ok(client, "search_knowledge", knowledge_base="product-docs", query="how are refunds issued")
    assert data["knowledge_base"] == "product-docs"
    assert data["id"] == v2(fake_opper).by_name("product-docs").id  # type: ignore[union-attr]
    first = data["results"][0]
    assert first["key"] == "billing/refunds" and "original payment method" in first["content"]
    assert first["metadata"] == {"section": "billing", "lang": "en"}
    scores = [r["score"] for r in data["results"]]
    assert scores == sorted(scores, reverse=True) and 0 < scores[-1] <= 1


async def test_name_is_resolved_once_then_cached(client: Client, fake_opper: FakeOpperServer) -> None:
    for q in ("refunds", "invoices", "webhooks"):
        await ok(client, "search_knowledge", knowledge_base="product-docs", query=q)
    lookups = fake_opper.state.requests_to("/v2/knowledge/by-name/")
    assert len(lookups) == 1
    assert len(fake_opper.state.requests_to("/v2/knowledge/", "POST")) == 3


async def test_id_is_used_as_is(client: Client, fake_opper: FakeOpperServer) -> None:
    kb_id = v2(fake_opper).by_name("support-faq").id  # type: ignore[union-attr]
    data = await ok(client, "search_knowledge", knowledge_base=kb_id, query="reset password")
    assert data["results"][0]["key"] == "reset-password"
    assert fake_opper.state.requests_to("/v2/knowledge/by-name/") == []


async def test_stale_cached_id_is_looked_up_again(client: Client, fake_opper: FakeOpperServer) -> None:
    await ok(client, "search_knowledge", knowledge_base="support-faq", query="password")
    state = v2(fake_opper)
    old = state.by_name("support-faq")
    assert old is not None
    del state.bases[old.id]  # deleted and re-created on the platform: same name, new id
    new = state.add_base("support-faq")
    state.add_doc(new.id, "sso", "Single sign-on is set up under Settings, Security.", {})
    data = await ok(client, "search_knowledge", knowledge_base="support-faq", query="single sign-on")
    assert data["id"] == new.id and data["results"][0]["key"] == "sso"


async def test_filters_are_translated(client: Client, fake_opper: FakeOpperServer) -> None:
    data = await ok(client, "search_knowledge", knowledge_base="product-docs", query="refunds",
                    filters={"lang": "sv"})
    assert [r["key"] for r in data["results"]] == ["sv/refunds"]
    sent = fake_opper.state.last_request("/v2/knowledge/").json
    assert sent["filters"] == [{"field": "lang", "operation": "=", "value": "sv"}]
    data = await ok(client, "search_knowledge", knowledge_base="product-docs", query="api requests webhooks",
                    filters={"version": {">": 2}, "section": ["api", "x"]})
    assert [r["key"] for r in data["results"]] == ["api/rate-limits"]
    sent = fake_opper.state.last_request("/v2/knowledge/").json
    assert {"field": "section", "operation": "in", "value": ["api", "x"]} in sent["filters"]


async def test_bad_filter_operator_is_refused(client: Client) -> None:
    text = await err(client, "search_knowledge", knowledge_base="product-docs", query="x",
                     filters={"version": {"~": 2}})
    assert "filter 'version'" in text and "!=" in text


async def test_long_content_is_cut_and_key_reads_the_whole_document(client: Client) -> None:
    data = await ok(client, "search_knowledge", knowledge_base="engineering-handbook", query="release checklist")
    row = next(r for r in data["results"] if r["truncated"])
    assert len(row["content"]) == knowledge.CONTENT_CHARS + 1 and row["content"].endswith("…")
    assert "key=" in data["hint"]
    doc = await ok(client, "search_knowledge", knowledge_base="engineering-handbook", key=row["key"])
    assert doc["document"]["key"] == "deploys"
    assert doc["document"]["content"].startswith("Deploys go out from main")
    assert doc["document"]["total_chars"] > 3_000 and "verify dashboards" in doc["document"]["content"]


async def test_no_matches_says_what_to_try(client: Client) -> None:
    data = await ok(client, "search_knowledge", knowledge_base="support-faq", query="quantum chromodynamics")
    assert data["results"] == [] and "no matches" in data["hint"]


async def test_unknown_document_key(client: Client) -> None:
    text = await err(client, "search_knowledge", knowledge_base="support-faq", key="nope")
    assert "no document with key 'nope'" in text and "query" in text


# =========================================================================== faults


async def test_unknown_name_suggests_close_matches(client: Client) -> None:
    text = await err(client, "search_knowledge", knowledge_base="product-doc", query="refunds")
    assert "no knowledge base named 'product-doc'" in text
    assert "'product-docs'" in text and "without knowledge_base to list" in text


async def test_name_differing_in_case_is_accepted(client: Client) -> None:
    for _ in range(2):  # looked up, then from the cache: the real name either way
        data = await ok(client, "search_knowledge", knowledge_base="Support-FAQ", query="password")
        assert data["knowledge_base"] == "support-faq" and data["results"]


async def test_unknown_name_without_close_matches(client: Client) -> None:
    text = await err(client, "search_knowledge", knowledge_base="zzqx", query="x")
    assert "no knowledge base named 'zzqx'. Call search_knowledge without knowledge_base" in text


async def test_unknown_id(client: Client) -> None:
    text = await err(client, "search_knowledge", knowledge_base="00000000-0000-4000-8000-0000000000ff", query="x")
    assert "no knowledge base with id" in text and "list them" in text


async def test_unknown_base_without_query(client: Client) -> None:
    assert "did you mean 'support-faq'" in await err(client, "search_knowledge", knowledge_base="suport-faq")
    text = await err(client, "search_knowledge", knowledge_base="00000000-0000-4000-8000-0000000000ff")
    assert "no knowledge base with id" in text


async def test_overlong_arguments(client: Client) -> None:
    assert "over 200 characters" in await err(client, "search_knowledge", knowledge_base="x" * 201, query="q")
    assert "over 4,000 characters" in await err(client, "search_knowledge", knowledge_base="a", query="q" * 4001)


async def test_key_without_knowledge_access(fake_opper: FakeOpperServer, tmp_path: Path, mode: str) -> None:
    fake_opper.state.api_keys.add(RESTRICTED_KEY)
    v2(fake_opper).no_access_keys.add(RESTRICTED_KEY)
    settings = make_settings(fake_opper.url, tmp_path / "c", api_key=RESTRICTED_KEY)
    async with connect(settings, mode) as c:
        for args in ({}, {"knowledge_base": "product-docs", "query": "refunds"}):
            text = await err(c, "search_knowledge", **args)
            assert "HTTP 403" in text and "cannot use knowledge bases" in text and "platform.opper.ai" in text
            assert RESTRICTED_KEY not in text


@pytest.mark.parametrize("status", [500, 502])
async def test_upstream_5xx(client: Client, fake_opper: FakeOpperServer, status: int) -> None:
    fake_opper.state.fail("/v2/knowledge", status, times=None)
    text = await err(client, "search_knowledge", knowledge_base="product-docs", query="refunds")
    assert f"HTTP {status}" in text and ("retry in a moment" in text or "try again later" in text)


async def test_transient_5xx_on_lookup_is_retried(client: Client, fake_opper: FakeOpperServer) -> None:
    fake_opper.state.fail("/v2/knowledge/by-name", 503, times=1)
    data = await ok(client, "search_knowledge", knowledge_base="support-faq", query="password")
    assert data["results"]


async def test_missing_key(fake_opper: FakeOpperServer, tmp_path: Path) -> None:
    async with connect(make_settings(fake_opper.url, tmp_path / "c", api_key=None)) as c:
        assert "OPPER_API_KEY" in await err(c, "search_knowledge")


# =========================================================================== add_knowledge


async def test_add_is_off_by_default(client: Client) -> None:
    names = [t.name for t in (await client.list_tools()).tools]
    assert "add_knowledge" not in names and "search_knowledge" in names
    assert "add_knowledge" not in DEFAULT_TOOLS and "add_knowledge" in TOOL_NAMES


async def test_add_annotations(writer: Client) -> None:
    tool = next(t for t in (await writer.list_tools()).tools if t.name == "add_knowledge")
    notes = tool.annotations
    assert notes is not None
    assert (notes.read_only_hint, notes.destructive_hint, notes.idempotent_hint) == (False, False, False)


async def test_add_then_find(writer: Client, fake_opper: FakeOpperServer) -> None:
    added = await ok(writer, "add_knowledge", knowledge_base="support-faq", key="2fa",
                     content="Two-factor authentication is enabled under Settings, Security, 2FA.",
                     metadata={"topic": "security"})
    assert added["knowledge_base"] == "support-faq" and added["key"] == "2fa" and added["document_id"]
    assert added["chars"] == 67
    found = await ok(writer, "search_knowledge", knowledge_base="support-faq", query="two-factor authentication")
    assert found["results"][0]["key"] == "2fa" and found["results"][0]["metadata"] == {"topic": "security"}


async def test_add_refuses_empty_and_oversize(writer: Client, fake_opper: FakeOpperServer) -> None:
    assert "content is empty" in await err(writer, "add_knowledge", knowledge_base="support-faq", content=" \n")
    text = await err(writer, "add_knowledge", knowledge_base="support-faq", content="x" * 20_001)
    assert "20,001 characters" in text and "several" in text
    assert fake_opper.state.requests_to("/v2/knowledge/", "POST") == []


@pytest.mark.parametrize(
    ("content", "kind"),
    [
        ("deploy notes\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\n", "AWS Access Key on line 2"),
        ("-----BEGIN RSA PRIVATE KEY-----\nMIIE...\n", "Private Key on line 1"),
        (f"the key is {TEST_KEY}", "the server's own API key"),
        ("use op-9f8e7d6c5b4a39281706abcdef to call", "Opper API Key on line 1"),
    ],
)
async def test_add_refuses_secrets(writer: Client, fake_opper: FakeOpperServer, content: str, kind: str) -> None:
    text = await err(writer, "add_knowledge", knowledge_base="support-faq", content=content)
    assert "refused" in text and kind in text
    assert "AKIAIOSFODNN7EXAMPLE" not in text and TEST_KEY not in text and "op-9f8e7d6c5b4a" not in text
    assert fake_opper.state.requests_to("/v2/knowledge/", "POST") == []


async def test_add_scans_metadata_too(writer: Client) -> None:
    text = await err(writer, "add_knowledge", knowledge_base="support-faq", content="fine",
                     metadata={"note": "AKIAIOSFODNN7EXAMPLE"})
    assert "AWS Access Key" in text


async def test_add_to_unknown_base(writer: Client) -> None:
    text = await err(writer, "add_knowledge", knowledge_base="suport-faq", content="hello")
    assert "did you mean 'support-faq'" in text


async def test_add_without_access(fake_opper: FakeOpperServer, tmp_path: Path) -> None:
    fake_opper.state.api_keys.add(RESTRICTED_KEY)
    v2(fake_opper).no_access_keys.add(RESTRICTED_KEY)
    settings = make_settings(fake_opper.url, tmp_path / "c", api_key=RESTRICTED_KEY, tools=TOOL_NAMES)
    async with connect(settings) as c:
        text = await err(c, "add_knowledge", knowledge_base="support-faq", content="hello")
    assert "HTTP 403" in text and "cannot use knowledge bases" in text


async def test_add_5xx_is_not_resent(writer: Client, fake_opper: FakeOpperServer) -> None:
    await ok(writer, "search_knowledge", knowledge_base="support-faq", query="password")  # resolve first
    fake_opper.state.fail("/v2/knowledge/", 500, times=None)
    text = await err(writer, "add_knowledge", knowledge_base="support-faq", content="hello")
    assert "HTTP 500" in text
    adds = [r for r in fake_opper.state.requests_to("/v2/knowledge/", "POST") if r.path.endswith("/add")]
    assert len(adds) == 1  # a write that may have happened is never sent twice


def test_secret_findings_name_kind_and_line_never_the_value() -> None:
    found = knowledge.secrets_in("a\nb\nghp_" + "a" * 36 + "\npostgres://u:hunter2@db/x", ())
    assert found == ["GitHub Token on line 3", "Basic Auth Credentials on line 4"]
    assert not any("hunter2" in f for f in found)


async def test_add_accepts_ordinary_technical_text(writer: Client) -> None:
    content = (
        "Release 4.2 (commit 3f2a9c1e7b5d4e6f8a0b1c2d3e4f5a6b7c8d9e0f, sha256 "
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855).\n"
        "Set OPPER_API_KEY in the environment; the password reset link lives at /account/reset.\n"
        "Trace 5d0c6f3e-1a2b-4c3d-8e4f-5a6b7c8d9e01 shows the retry."
    )
    added = await ok(writer, "add_knowledge", knowledge_base="engineering-handbook", content=content)
    assert added["chars"] == len(content)


async def test_results_are_cut_to_the_output_budget(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    from opper_mcp.runtime import result

    monkeypatch.setattr(result, "OUTPUT_BUDGET_CHARS", 800)
    data = await ok(client, "search_knowledge", knowledge_base="product-docs", query="refunds invoices api webhooks",
                    top_k=10)
    assert 1 <= len(data["results"]) < 5 and "lower top_k" in data["hint"]


async def test_text_arguments_that_look_like_json_stay_text(client: Client, fake_opper: FakeOpperServer) -> None:
    """A query or name is text even when it reads as JSON: not decoded into a list, and "null" is not None."""
    data = await ok(client, "search_knowledge", knowledge_base="product-docs", query='["refunds", "issued"]')
    assert data["query"] == '["refunds", "issued"]' and data["results"][0]["key"] == "billing/refunds"
    missing = await err(client, "search_knowledge", knowledge_base="null", query="refund")
    assert "no knowledge base named 'null'" in missing, missing
