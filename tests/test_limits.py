"""Hard limits: every tool result fits the output budget and says how to page on; conversations stay
bounded; oversized request bodies get 413 over real HTTP; upstream TLS is always verified."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import json
import re
import sqlite3
import ssl
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client

from opper_mcp.openapi.grep import LINE_CAP
from opper_mcp.opper.client import ClientConfig, OpperClient
from opper_mcp.opper.errors import OpperConnectionError
from opper_mcp.runtime.result import OUTPUT_BUDGET_CHARS
from opper_mcp.server import build_server, build_state
from opper_mcp.settings import Settings
from opper_mcp.store import Bounds
from opper_mcp.store.base import MAX_CHARS
from opper_mcp.store.sqlite import SQLiteConversationStore
from opper_mcp.tools.traces import SPAN_PAGE_CHARS
from tests.fake_opper import FakeOpperServer
from tests.support import data_of, text_of
from tests.transport_support import ROOT, http_server, server_env

pytestmark = pytest.mark.anyio

BUDGET = OUTPUT_BUDGET_CHARS
ALL_BLOCKS = ["description", "pricing", "params", "compliance", "aliases", "maker", "benchmarks", "route", "policy"]
CHAT_MODEL = "anthropic/claude-haiku-4-5"


@pytest.fixture
def mode() -> str:
    """One protocol era is enough here: the limits live in the tools, not the transport."""
    return "auto"


def within_budget(result: Any) -> dict[str, Any]:
    """The structured result, after checking its text (what the model reads) fits the budget."""
    data = data_of(result)
    assert len(text_of(result)) <= BUDGET, f"{len(text_of(result))} characters > budget {BUDGET}"
    return data  # type: ignore[no-any-return]


# ------------------------------------------------------------------------------------ list_models


async def test_list_models_pages_all_fit_the_budget_and_cover_the_catalogue(client: Client) -> None:
    first = within_budget(await client.call_tool("list_models", {"limit": 200, "include": ALL_BLOCKS}))
    total = first["total"]
    assert len(first["models"]) < min(200, total), "with every block the first page should be cut by the budget"
    assert first["next_offset"] == len(first["models"])
    assert "next_offset" in first["note"] and "budget" in first["note"]

    # Follow next_offset to the end: every page fits, nothing is skipped or repeated.
    seen: list[str] = [m["id"] for m in first["models"]]
    offset = first["next_offset"]
    pages = 1
    while offset is not None:
        assert pages < 50, "paging does not terminate"
        page = within_budget(await client.call_tool("list_models", {"limit": 200, "include": ALL_BLOCKS,
                                                                    "offset": offset}))
        assert page["offset"] == offset and page["models"], page.get("note")
        seen += [m["id"] for m in page["models"]]
        offset = page.get("next_offset")
        pages += 1
    assert len(seen) == total and len(set(seen)) == total

    # Pages start anywhere: sweep offsets with two include sets (the budget arithmetic must hold for each).
    for include in (ALL_BLOCKS, ["description", "pricing", "params"]):
        for start in range(0, total, 3):
            page = within_budget(await client.call_tool("list_models", {"limit": 200, "include": include,
                                                                        "offset": start}))
            end = start + len(page["models"])
            assert page.get("next_offset") == (end if end < total else None)


# ------------------------------------------------------------------------------------ get_trace


def _span_text(i: int, size: int) -> str:
    line = f"span {i}: the quick brown fox jumps over the lazy dog \"quoted\" and a tab\t, line end\n"
    return (line * (size // len(line) + 1))[:size]


async def test_get_trace_with_huge_spans_fits_and_pages(client: Client, fake_opper: FakeOpperServer) -> None:
    spans = [{"id": f"span-{i:03d}", "name": f"step-{i}", "input": _span_text(i, 50_000),
              "output": _span_text(i + 100, 50_000)} for i in range(50)]
    tid = fake_opper.state.add_trace("huge-trace", spans=spans)

    for io_chars in (300, 4000):
        view = within_budget(await client.call_tool("get_trace", {"trace_id": tid, "io_chars": io_chars}))
        assert view["span_count"] == 50
        assert len(view["spans"]) == 50, "50 spans fit once their inputs/outputs are cut"
        assert "span_id" in view["hint"]
        assert all(r.get("truncated") for r in view["spans"])

    # One span's input in full, page by page via next_offset.
    parts: list[str] = []
    offset: int | None = 0
    while offset is not None:
        data = within_budget(await client.call_tool(
            "get_trace", {"trace_id": tid, "span_id": "span-007", "field": "input", "offset": offset}))
        page = data["page"]
        assert page["offset"] == offset and page["total_chars"] == 50_000
        assert 0 < len(page["content"]) <= SPAN_PAGE_CHARS
        parts.append(page["content"])
        offset = page.get("next_offset")
        assert offset is None or offset == page["offset"] + len(page["content"])
        assert len(parts) <= 10
    assert "".join(parts) == spans[7]["input"]


async def test_get_trace_escape_heavy_span_page_fits(client: Client, fake_opper: FakeOpperServer) -> None:
    """Control characters turn into 6-character \\u escapes in the JSON text: a 20k page must still fit."""
    content = "\x01\x02 bin \x1f" * 8_000  # 64k characters, most escaped 6x
    tid = fake_opper.state.add_trace("binary", spans=[{"id": "bin-span", "name": "bin", "output": content}])
    parts: list[str] = []
    offset: int | None = 0
    while offset is not None:
        data = within_budget(await client.call_tool(
            "get_trace", {"trace_id": tid, "span_id": "bin-span", "field": "output", "offset": offset}))
        page = data["page"]
        assert page["content"], page
        parts.append(page["content"])
        offset = page.get("next_offset")
        assert len(parts) <= 40
    assert "".join(parts) == content


async def test_get_trace_with_hundreds_of_spans_is_cut_with_a_hint(client: Client,
                                                                   fake_opper: FakeOpperServer) -> None:
    spans = [{"id": f"many-{i:04d}", "name": f"tool-call-{i}", "input": "x" * 500, "output": "y" * 500}
             for i in range(600)]
    tid = fake_opper.state.add_trace("many-spans", spans=spans)
    view = within_budget(await client.call_tool("get_trace", {"trace_id": tid, "io_chars": 0}))
    assert view["span_count"] == 600
    assert 0 < len(view["spans"]) < 600
    assert "of 600" in view["hint"] and "span_id" in view["hint"]

    # Paging with offset walks every span exactly once, in tree order.
    seen = [row["id"] for row in view["spans"]]
    offset = view.get("next_offset")
    while offset is not None:
        assert offset == len(seen), (offset, len(seen))
        page = within_budget(await client.call_tool("get_trace", {"trace_id": tid, "io_chars": 0, "offset": offset}))
        assert page["span_count"] == 600 and page["spans"]
        seen += [row["id"] for row in page["spans"]]
        offset = page.get("next_offset")
        assert len(seen) <= 600
    assert seen == [s["id"] for s in spans]
    past_end = await client.call_tool("get_trace", {"trace_id": tid, "offset": 600})
    assert past_end.is_error and "past the last span" in text_of(past_end)


# ------------------------------------------------------------------------------------ web_fetch


def _serve_page(fake: FakeOpperServer, content: str, title: str = "Big page") -> None:
    """The emulator answers every web fetch with this document (an armed 200 'fault' with a body)."""
    body = json.dumps({"url": "https://example.com/big", "title": title, "content": content})
    fake.state.fail("/v3/tools/web/fetch", 200, body=body, times=None)


async def _read_whole_page(client: Client, max_length: int) -> tuple[list[dict[str, Any]], str]:
    pages: list[dict[str, Any]] = []
    start: int | None = 0
    while start is not None:
        page = within_budget(await client.call_tool(
            "web_fetch", {"url": "https://example.com/big", "start_index": start, "max_length": max_length}))
        assert page["start_index"] == start
        assert 0 < len(page["content"]) <= max_length  # the tool's own promise
        pages.append(page)
        start = page.get("next_start_index")
        assert start is None or start == page["start_index"] + len(page["content"])
        assert len(pages) <= 40
    return pages, "".join(p["content"] for p in pages)


async def test_web_fetch_max_length_pages_fit_the_budget(client: Client, fake_opper: FakeOpperServer) -> None:
    plain = "".join(f"Paragraph {i}: plain prose without anything to escape. " for i in range(3_000))  # ~170k
    _serve_page(fake_opper, plain)
    pages, whole = await _read_whole_page(client, 40_000)
    assert whole == plain
    assert len(pages[0]["content"]) == 40_000, "plain text needs no shrinking: max_length is honoured exactly"
    assert pages[0]["total_chars"] == len(plain)
    assert len(fake_opper.state.requests_to("/v3/tools/web/fetch")) == 1, "paging re-fetched the page"


async def test_web_fetch_escape_heavy_page_fits_the_budget(client: Client, fake_opper: FakeOpperServer) -> None:
    """JSON code blocks and control characters grow under JSON escaping; the result must still fit."""
    block = '```json\n{"key": "value", "list": ["a", "b", "c"], "path": "C:\\\\dir\\\\file"}\n```\n\x00\x07\n'
    content = block * 2_500  # ~190k characters
    _serve_page(fake_opper, content)
    pages, whole = await _read_whole_page(client, 40_000)
    assert whole == content
    assert len(pages) > 5


# ------------------------------------------------------------------------------------ grep_spec


def _big_spec(schemas: int = 400) -> str:
    """A spec of a few thousand lines, so the test does not depend on which spec the emulator serves."""
    lines = ["openapi: 3.1.0", "info:", "  title: Big", "  version: '1'", "paths:", "  /v3/things:", "    get:",
             "      operationId: listThings", "components:", "  schemas:"]
    for i in range(schemas):
        lines += [f"    Thing{i}:", "      type: object", "      properties:"]
        lines += [f"        field{j}:\n          type: string\n          description: field {j} of thing {i}"
                  for j in range(3)]
    return "\n".join(lines) + "\n"


async def test_grep_spec_many_matches_with_full_context_fits(client: Client, fake_opper: FakeOpperServer) -> None:
    fake_opper.state.spec_text = _big_spec()
    for pattern in ("type", ".", "^ +"):
        data = within_budget(await client.call_tool(
            "grep_spec", {"pattern": pattern, "max_matches": 100, "context": 10}))
        assert data["total_matches"] >= 1_000, (pattern, data["total_matches"])
        assert 0 < len(data["matches"]) <= 100
        assert data["truncated"] is True
        assert data["next_hint"] and re.search(r"showing \d+ of \d+", data["next_hint"])
        lines = [m["line"] for m in data["matches"]]
        assert lines == sorted(set(lines))
        for m in data["matches"]:
            assert len(m["before"]) <= 10 and len(m["after"]) <= 10
            assert all(len(s) <= LINE_CAP + 1 for s in [m["text"], *m["before"], *m["after"]])


# ------------------------------------------------------------------------------------ conversations


async def test_conversation_storage_stays_within_max_chars(client: Client, settings: Settings) -> None:
    system = "You are terse."
    turn = 60_000  # prompt + echoed answer ≈ 120k per turn: 8 turns would be ~1M characters untrimmed
    conversation_id: str | None = None
    for i in range(8):
        args: dict[str, Any] = {"model": CHAT_MODEL, "prompt": f"turn {i} " + "w" * turn, "system": system}
        if conversation_id:
            args["conversation_id"] = conversation_id
        chat = data_of(await client.call_tool("chat", args))
        assert chat["conversation_id"] == (conversation_id or chat["conversation_id"])
        conversation_id = chat["conversation_id"]

    db = sqlite3.connect(settings.resolved_cache_dir / "conversations.sqlite3")
    try:
        rows = db.execute("SELECT id, length(messages), messages FROM conversations").fetchall()
    finally:
        db.close()
    assert [r[0] for r in rows] == [conversation_id]
    _, stored_chars, text = rows[0]
    assert stored_chars <= MAX_CHARS, f"stored conversation is {stored_chars} characters > {MAX_CHARS}"
    messages = json.loads(text)
    assert messages[0] == {"role": "system", "content": system}
    assert messages[-1]["role"] == "assistant" and "turn 7 " in messages[-1]["content"]
    assert len(messages) < 1 + 2 * 8, "nothing was trimmed"
    assert stored_chars > MAX_CHARS // 2, "trimmed far more than needed"


async def test_conversation_count_is_bounded_through_the_tool(settings: Settings) -> None:
    state = build_state(settings)
    store = SQLiteConversationStore(settings.resolved_cache_dir / "bounded.sqlite3", Bounds(max_conversations=5))
    state.conversations = store
    ids: list[str] = []
    async with Client(build_server(settings, state), mode="auto", raise_exceptions=True) as client:
        for i in range(12):
            chat = data_of(await client.call_tool("chat", {"model": CHAT_MODEL, "prompt": f"hello {i}"}))
            ids.append(chat["conversation_id"])
            assert store.count() <= 5
        # The newest conversations continue; the oldest were pruned and say so.
        latest = data_of(await client.call_tool("chat", {"model": CHAT_MODEL, "prompt": "again",
                                                         "conversation_id": ids[-1]}))
        assert latest["conversation_id"] == ids[-1]
        gone = await client.call_tool("chat", {"model": CHAT_MODEL, "prompt": "again", "conversation_id": ids[0]})
        assert gone.is_error and "unknown conversation_id" in text_of(gone)
    assert store.count() == 5
    store.close()


# ------------------------------------------------------------------------------------ 413 over HTTP

MAX_BODY = 65_536
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


@pytest.fixture
def body_limited_server(fake_opper: FakeOpperServer, tmp_path: Path) -> Iterator[str]:
    env = server_env(fake_opper.url, tmp_path / "cache")
    with http_server(env, tmp_path / "logs", "--max-body-bytes", str(MAX_BODY)) as server:
        yield server.url


async def test_request_body_over_the_limit_gets_413(body_limited_server: str) -> None:
    def initialize(padding: int) -> bytes:
        return json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "x" * padding, "version": "0"},
        }}).encode()

    async def chunked(total: int) -> AsyncIterator[bytes]:  # no Content-Length: the limit must hold anyway
        body = initialize(total)
        for i in range(0, len(body), 8192):
            yield body[i : i + 8192]

    async with httpx2.AsyncClient(timeout=20) as http:
        small = await http.post(body_limited_server, content=initialize(100), headers=MCP_HEADERS)
        assert small.status_code == 200, small.text
        big = await http.post(body_limited_server, content=initialize(MAX_BODY + 1_000), headers=MCP_HEADERS)
        assert big.status_code == 413, (big.status_code, big.text[:300])
        streamed = await http.post(body_limited_server, content=chunked(4 * MAX_BODY), headers=MCP_HEADERS)
        assert streamed.status_code == 413, (streamed.status_code, streamed.text[:300])
        huge = await http.post(body_limited_server, content=chunked(20 * 1024 * 1024), headers=MCP_HEADERS)
        assert huge.status_code == 413, (huge.status_code, huge.text[:300])


# ------------------------------------------------------------------------------------ TLS


def test_package_never_disables_tls_verification() -> None:
    offenders = []
    for path in sorted((ROOT / "opper_mcp").rglob("*.py")):
        text = path.read_text()
        for pattern in (r"verify\s*=\s*False", r"CERT_NONE", r"check_hostname\s*=\s*False", r"_create_unverified"):
            if re.search(pattern, text):
                offenders.append(f"{path.relative_to(ROOT)}: {pattern}")
    assert offenders == []


def test_upstream_client_verifies_certificates(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")  # a proxy mount must verify too
    settings = Settings(base_url="https://api.opper.ai")
    opper = build_state(settings).opper
    http = opper._pool.get()
    transports = [http._transport, *(t for t in http._mounts.values() if t is not None)]
    assert len(transports) >= 2, http._mounts
    for transport in transports:
        pool = getattr(transport, "_pool", None)
        context = getattr(pool, "_ssl_context", None)
        assert isinstance(context, ssl.SSLContext), (transport, pool)
        assert context.verify_mode == ssl.CERT_REQUIRED
        assert context.check_hostname is True


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    pytest.importorskip("cryptography")
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


async def test_self_signed_upstream_is_refused(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert, key)

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
                         b"Connection: close\r\n\r\n{}")
            await writer.drain()
        except (OSError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=server_ctx)
    port = server.sockets[0].getsockname()[1]
    base = f"https://127.0.0.1:{port}"
    try:
        # Control: a client that trusts this certificate gets an answer, so the server works.
        trusting = ssl.create_default_context(cafile=str(cert))
        async with httpx2.AsyncClient(verify=trusting) as http:
            assert (await http.get(f"{base}/v3/models")).status_code == 200

        opper = OpperClient(ClientConfig(base_url=base, max_retries=0, timeout_s=5, connect_timeout_s=5))
        try:
            with pytest.raises(OpperConnectionError) as caught:
                await opper.request("GET", "/v3/models", auth_required=False)
        finally:
            await opper.aclose()
        chain: list[BaseException] = []
        err: BaseException | None = caught.value
        while err is not None and len(chain) < 10:
            chain.append(err)
            err = err.__cause__ or err.__context__
        assert any(isinstance(e, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(e)
                   for e in chain), [repr(e) for e in chain]
    finally:
        server.close()
        await server.wait_closed()


# ------------------------------------------------------------------------------------ model answers


async def test_long_chat_answer_is_cut_to_the_budget_and_kept_whole(client: Client, settings: Settings) -> None:
    prompt = "word " * 20_000  # the emulator echoes the prompt: a 100k-character answer
    data = within_budget(await client.call_tool("chat", {"model": CHAT_MODEL, "prompt": prompt}))
    assert 0 < len(data["text"]) < 100_000
    assert "cut at" in data["note"] and "conversation" in data["note"]
    db = sqlite3.connect(settings.resolved_cache_dir / "conversations.sqlite3")
    try:
        (stored,) = db.execute("SELECT messages FROM conversations WHERE id = ?", (data["conversation_id"],)).fetchone()
    finally:
        db.close()
    answer = json.loads(stored)[-1]
    assert answer["role"] == "assistant" and len(answer["content"]) > 100_000 - 1_000
    assert answer["content"].startswith(data["text"])


async def test_long_roundtable_answers_are_cut_to_the_budget(client: Client) -> None:
    question = "why? " * 6_000  # every member (and the summary) echoes a 30k-character input
    models = [CHAT_MODEL, "openai/gpt-5-mini", "anthropic/claude-sonnet-4-6", "gemini/gemini-2.5-pro"]
    data = within_budget(await client.call_tool("roundtable", {"input": question, "models": models}))
    assert len(data["results"]) == 4 and all(r["answer"] for r in data["results"])
    assert any(r["answer"].endswith("…") for r in data["results"])
    assert "cut" in data["note"]
