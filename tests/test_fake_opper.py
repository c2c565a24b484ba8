"""Tests for the fake Opper server itself (tests/fake_opper), over real loopback HTTP.

The CONTRACT section validates the emulator's answers against the component schemas of the
offline spec snapshot (../shared/opper/openapi-v3.yaml) when that file exists.
"""

from __future__ import annotations

import asyncio
import copy
import json
import socket
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx2
import jsonschema
import pytest
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from tests.fake_opper import SEED_TRACE_IDS, STREAM_ERROR_CHUNK, TEST_KEY, FakeOpperServer
from tests.fake_opper.app import FIXTURE_SPEC_PATH, SHARED_SPEC_PATH, example_for_schema
from tests.fake_opper.catalogue import CATALOGUE

pytestmark = pytest.mark.anyio
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

AUTH = {"Authorization": f"Bearer {TEST_KEY}"}
CHAT = "/v3/compat/chat/completions"
USER = [{"role": "user", "content": "What is the capital of Sweden?"}]


@asynccontextmanager
async def client_for(server: FakeOpperServer, *, key: str | None = TEST_KEY) -> AsyncIterator[httpx2.AsyncClient]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with httpx2.AsyncClient(base_url=server.url, headers=headers, timeout=5.0) as client:
        yield client


async def sse_events(client: httpx2.AsyncClient, path: str, body: dict[str, Any], **kw: Any) -> list[str]:
    """All `data:` payloads of a stream, `[DONE]` included, as raw strings."""
    out: list[str] = []
    async with client.sse(path, method="POST", json=body, **kw) as source:
        async for event in source:
            out.append(event.data)
    return out


def chat_body(**extra: Any) -> dict[str, Any]:
    return {"model": "openai/gpt-5-mini", "messages": USER, **extra}


# =========================================================================== server & basics


def test_server_starts_fast_and_stops_cleanly() -> None:
    t0 = time.monotonic()
    with FakeOpperServer() as server:
        assert time.monotonic() - t0 < 1.0
        assert server.url.startswith("http://127.0.0.1:")
        assert not server.url.endswith("/v3")
        assert server.state.requests == []  # start-up leaves no trace in the log
        assert httpx2.get(server.url + "/health").json() == {"status": "ok"}
        port = server.port
    t1 = time.monotonic()
    with socket.socket() as s:
        s.settimeout(0.5)
        assert s.connect_ex(("127.0.0.1", port)) != 0
    assert time.monotonic() - t1 < 1.0


async def test_unknown_path_and_request_log(fake_opper: FakeOpperServer) -> None:
    async with client_for(fake_opper) as client:
        r = await client.get("/v3/nope", params={"a": "1"}, headers={"X-Custom": "Yes"})
        assert r.status_code == 404
        assert r.json() == {"errors": [{"type": "HTTPException", "message": "Not Found"}]}
        await client.post("/v3/tools/web/search", json={"query": "abc"})
    rec = fake_opper.state.requests_to("/v3/nope")[0]
    assert rec.method == "GET" and rec.query == {"a": "1"} and rec.json is None
    assert rec.headers["x-custom"] == "Yes" and rec.headers["authorization"] == f"Bearer {TEST_KEY}"
    last = fake_opper.state.last_request("/v3/tools")
    assert last.json == {"query": "abc"} and last.method == "POST"
    assert len(fake_opper.state.requests) == 2


async def test_auth_errors_are_string_shaped(fake_opper: FakeOpperServer) -> None:
    async with client_for(fake_opper, key=None) as client:
        r = await client.post(CHAT, json=chat_body())
        assert r.status_code == 401
        body = r.json()
        assert body["error"].startswith("No API key was sent.") and body["docs_url"] == "https://docs.opper.ai"
        r = await client.get("/v3/traces", headers={"Authorization": "Bearer op-wrong"})
        assert r.status_code == 401 and r.json()["error"].startswith("invalid bearer token.")
        # public endpoints
        assert (await client.get("/health")).status_code == 200
        assert (await client.get("/v3/models")).status_code == 200
        assert (await client.get("/v3/openapi.yaml")).status_code == 200
    fake_opper.state.api_keys.add("op-other")
    async with client_for(fake_opper, key="op-other") as client:
        assert (await client.get("/v3/traces")).status_code == 200


# =========================================================================== models


async def test_models_pagination_walk_reaches_total(fake_opper: FakeOpperServer) -> None:
    seen: list[str] = []
    async with client_for(fake_opper, key=None) as client:
        offset, total = 0, None
        while total is None or offset < total:
            body = (await client.get("/v3/models", params={"limit": 40, "offset": offset})).json()
            assert body["limit"] == 40 and body["offset"] == offset
            total = body["total"]
            seen += [m["id"] for m in body["models"]]
            offset += len(body["models"])
            if not body["models"]:
                break
        first = (await client.get("/v3/models")).json()
    assert total is not None and total > 100
    assert len(seen) == total == len(set(seen))
    assert total == sum(1 for e in CATALOGUE if not e.retired) and len(CATALOGUE) >= 150
    assert first["limit"] == 50 and len(first["models"]) == 50
    assert seen == sorted(seen)


async def test_models_filters(fake_opper: FakeOpperServer) -> None:
    async with client_for(fake_opper, key=None) as client:

        async def ids(**params: Any) -> list[dict[str, Any]]:
            r = await client.get("/v3/models", params={"limit": 500, **params})
            assert r.status_code == 200, r.text
            return list(r.json()["models"])

        emb = await ids(type="embedding")
        assert emb and all(m["type"] == "embedding" for m in emb)
        assert {m["type"] for m in await ids()} >= {"llm", "embedding", "image", "tts", "stt", "rerank"}
        anth = await ids(provider="anthropic")
        assert anth and all(m["provider"] == "anthropic" for m in anth)
        sonnet = await ids(q="SONNET")
        assert "anthropic/claude-sonnet-4-6" in {m["id"] for m in sonnet}
        assert all("sonnet" in (m["id"] + m["name"] + m["description"]).lower() for m in sonnet)
        vis = await ids(capability="vision,pdf")
        assert vis and all({"vision", "pdf"} <= set(m["capabilities"]) for m in vis)
        default_ids = {m["id"] for m in await ids()}
        retired = [m for m in await ids(deprecated="true") if m.get("retired_at")]
        assert len(retired) >= 2 and not default_ids & {m["id"] for m in retired}
        desc = await ids(sort="provider", order="desc")
        assert desc[0]["provider"] >= desc[-1]["provider"]
        for bad in ({"limit": 501}, {"limit": 0}, {"offset": -1}, {"limit": "x"}, {"include": "bogus"}):
            r = await client.get("/v3/models", params=bad)
            assert r.status_code == 400, bad
            assert set(r.json()["error"]) >= {"code", "message"}


async def test_models_rows_shape(fake_opper: FakeOpperServer) -> None:
    async with client_for(fake_opper, key=None) as client:
        rows = (await client.get("/v3/models", params={"limit": 500, "deprecated": "true"})).json()["models"]
    by_id = {m["id"]: m for m in rows}
    for mid in (
        "openai/gpt-5-mini",
        "openai/gpt-5.5",
        "anthropic/claude-sonnet-4-6",
        "anthropic/claude-haiku-4-5",
        "gemini/gemini-2.5-pro",
        "gemini/gemini-2.5-flash",
        "openai/text-embedding-3-small",
    ):
        assert mid in by_id, mid
    sonnet = by_id["anthropic/claude-sonnet-4-6"]
    assert sonnet["pricing"]["input"] == [0.000003] and sonnet["params"]["default_max_tokens"] == 8192
    assert sonnet["model"] == "claude-sonnet-4-6" and sonnet["pooled"] is True
    assert by_id["openai/text-embedding-3-small"]["params"]["embedding"]["dimensions"] == 1536
    for m in rows:
        assert "compliance" in m and isinstance(m["compliance"]["zdr"], dict)
        assert isinstance(m["pricing"]["input"], list) and "model" in m and "pooled" in m
        assert not {"maker", "benchmarks", "route", "policy"} & set(m)
    pool = [m for m in rows if m["model"] == "gpt-oss-120b" and m["pooled"]]
    assert len(pool) >= 3


async def test_models_include_blocks(fake_opper: FakeOpperServer) -> None:
    async with client_for(fake_opper, key=None) as client:
        r = await client.get("/v3/models", params={"include": "maker,benchmarks", "limit": 500})
        rows = {m["id"]: m for m in r.json()["models"]}
        assert rows["openai/gpt-5-mini"]["maker"] == "openai" and "benchmarks" in rows["openai/gpt-5-mini"]
        assert "benchmarks" not in rows["openai/text-embedding-3-small"]
        assert rows["groq/llama-3.3-70b"]["maker"] == "meta"
        r = await client.get("/v3/models", params={"include": "route"})
        assert r.status_code == 401 and r.json()["error"].startswith("No API key was sent.")
        r = await client.get("/v3/models", params={"include": "policy"}, headers={"Authorization": "Bearer nope"})
        assert r.status_code == 401 and r.json()["error"].startswith("invalid bearer token.")
    async with client_for(fake_opper) as client:
        r = await client.get("/v3/models", params={"include": "route,policy", "limit": 500})
        assert r.status_code == 200
        rows = {m["id"]: m for m in r.json()["models"]}
    route = rows["openai/gpt-5-mini"]["route"]
    assert {"data_handling", "gdpr", "verification", "zdr", "underlying_maker"} <= set(route)
    assert rows["openai/gpt-5-mini"]["policy"] == {"allowed": True}
    assert rows["deepseek/deepseek-chat"]["policy"]["allowed"] is False


# =========================================================================== chat


async def test_chat_non_stream(fake_opper: FakeOpperServer) -> None:
    async with client_for(fake_opper) as client:
        r = await client.post(CHAT, json=chat_body())
    assert r.status_code == 200
    body = r.json()
    assert body["object"] == "chat.completion" and body["model"] == "openai/gpt-5-mini"
    msg = body["choices"][0]["message"]
    assert msg == {"role": "assistant", "content": "Echo from openai/gpt-5-mini: What is the capital of Sweden?"}
    assert body["choices"][0]["finish_reason"] == "stop"
    usage = body["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert usage["opper"]["cost"]["total"] == body["cost"] > 0
    assert float(r.headers["x-opper-cost"]) == pytest.approx(body["cost"])
    assert r.headers["x-opper-served-model"] == "gpt-5-mini-2025-08-07"
    assert r.headers["x-opper-served-provider"] == "openai"
    uuid.UUID(r.headers["x-opper-trace-id"])


async def test_chat_content_parts_pools_and_aliases(fake_opper: FakeOpperServer) -> None:
    parts = [{"role": "user", "content": [{"type": "text", "text": "Hello"}, {"type": "text", "text": "world"}]}]
    async with client_for(fake_opper) as client:
        r = await client.post(CHAT, json={"model": "gpt-oss-120b", "messages": parts})
        assert r.status_code == 200
        assert r.json()["choices"][0]["message"]["content"] == "Echo from gpt-oss-120b: Hello world"
        assert r.headers["x-opper-served-provider"] in {"openai", "groq", "cerebras", "together", "fireworks"}
        r = await client.post(CHAT, json={"model": "gemini-flash-latest", "messages": USER})
        assert r.status_code == 200 and r.headers["x-opper-served-provider"] == "gemini"


async def test_chat_validation_errors(fake_opper: FakeOpperServer) -> None:
    async with client_for(fake_opper) as client:
        r = await client.post(CHAT, json={"model": ["a", "b"], "messages": USER})
        assert r.status_code == 400
        assert (
            "cannot unmarshal array into Go struct field ChatRequest.model of type string"
            in (r.json()["error"]["message"])
        )
        r = await client.post(CHAT, json={"model": "foo/bar", "messages": USER})
        assert r.status_code == 404
        assert r.json() == {
            "type": "error",
            "error": {"type": "not_found_error", "message": "model not found: foo/bar"},
        }
        r = await client.post(CHAT, json={"model": "openai/text-embedding-3-small", "messages": USER})
        assert r.status_code == 404
        r = await client.post(CHAT, json={"model": "openai/gpt-5-mini"})
        assert r.status_code == 400 and r.json()["error"]["message"] == "messages: field required"
        r = await client.post(CHAT, content=b"{not json", headers={"content-type": "application/json"})
        assert r.status_code == 400


async def test_chat_json_schema_output(fake_opper: FakeOpperServer) -> None:
    schema = {
        "type": "object",
        "properties": {
            "people": {"type": "array", "items": {"type": "string"}},
            "count": {"type": "integer"},
            "score": {"type": "number"},
            "ok": {"type": "boolean"},
            "kind": {"enum": ["a", "b"]},
            "fixed": {"const": 7},
            "nested": {"type": "object", "properties": {"when": {"type": "string", "format": "date-time"}}},
        },
        "required": ["people", "count"],
        "additionalProperties": False,
    }
    rf = {"type": "json_schema", "json_schema": {"name": "x", "schema": schema, "strict": True}}
    async with client_for(fake_opper) as client:
        r = await client.post(CHAT, json=chat_body(response_format=rf))
        value = json.loads(r.json()["choices"][0]["message"]["content"])
        jsonschema.validate(value, schema)
        assert value["people"] == ["example"] and value["kind"] == "a" and value["fixed"] == 7
        fake_opper.state.invalid_json_output = True
        r = await client.post(CHAT, json=chat_body(response_format=rf))
        bad = json.loads(r.json()["choices"][0]["message"]["content"])
        assert not jsonschema.Draft202012Validator(schema).is_valid(bad)


def test_schema_example_generator_handles_refs_and_combinators() -> None:
    schema = {
        "$defs": {"node": {"type": "object", "properties": {"v": {"type": ["integer", "null"], "minimum": 3}}}},
        "type": "object",
        "properties": {
            "n": {"$ref": "#/$defs/node"},
            "any": {"anyOf": [{"type": "null"}, {"type": "string", "minLength": 10}]},
            "all": {"allOf": [{"type": "object", "properties": {"a": {"type": "string"}}}]},
            "many": {"type": "array", "items": {"type": "number", "maximum": 1}, "minItems": 2},
        },
        "required": ["n", "extra"],
    }
    value = example_for_schema(schema)
    assert value["n"] == {"v": 3} and len(value["any"]) >= 10 and value["all"] == {"a": "example"}
    assert value["many"] == [1.0, 1.0] and "extra" in value


async def test_chat_web_search_tool(fake_opper: FakeOpperServer) -> None:
    tools = [{"type": "opper:web_search", "engine": "auto", "max_results": 3}]
    async with client_for(fake_opper) as client:
        r = await client.post(CHAT, json=chat_body(tools=tools))
        assert r.status_code == 200
        body = r.json()
        ann = body["choices"][0]["message"]["annotations"]
        assert len(ann) == 2 and all(a["type"] == "url_citation" and a["url_citation"]["url"] for a in ann)
        assert body["usage"]["server_tool_use"] == {"web_search_requests": 1}
        assert body["usage"]["opper"]["cost"]["tools"] > 0
        assert body["usage"]["opper"]["cost"]["total"] == body["cost"]
        native = [{"type": "opper:web_search", "engine": "native"}]
        r = await client.post(CHAT, json={"model": "gemini/gemini-2.5-pro", "messages": USER, "tools": native})
        assert r.status_code == 400 and "native" in r.json()["error"]["message"]
        r = await client.post(CHAT, json={"model": "anthropic/claude-sonnet-4-6", "messages": USER, "tools": native})
        assert r.status_code == 200


async def test_chat_stream_framing(fake_opper: FakeOpperServer) -> None:
    async with client_for(fake_opper) as client:
        plain = (await client.post(CHAT, json=chat_body())).json()
        async with client.sse(
            CHAT, method="POST", json=chat_body(stream=True, stream_options={"include_usage": True})
        ) as source:
            headers = source.response.headers
            data = [e.data async for e in source]
    assert headers["content-type"].startswith("text/event-stream")
    assert "x-opper-cost" not in headers
    uuid.UUID(headers["x-opper-trace-id"])
    assert headers["x-opper-served-model"] == "gpt-5-mini-2025-08-07"
    assert data[-1] == "[DONE]"
    chunks = [json.loads(d) for d in data[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    content = [
        c["choices"][0]["delta"]["content"]
        for c in chunks[1:]
        if c["choices"] and "content" in c["choices"][0]["delta"]
    ]
    assert len(content) >= 5
    assert "".join(content) == plain["choices"][0]["message"]["content"]
    finish = chunks[-2]
    assert finish["choices"][0]["finish_reason"] == "stop" and finish["choices"][0]["delta"] == {}
    usage_chunk = chunks[-1]
    assert usage_chunk["choices"] == [] and usage_chunk["usage"]["opper"]["cost"]["total"] == usage_chunk["cost"]
    rec = fake_opper.state.wait_stream_closed(1.0)
    assert rec.finished and rec.disconnected_at is None and rec.chunks_sent == len(data)
    assert rec.first_chunk_at is not None and rec.trace_id == headers["x-opper-trace-id"]


async def test_chat_stream_without_usage_and_with_web_search(fake_opper: FakeOpperServer) -> None:
    tools = [{"type": "opper:web_search"}]
    async with client_for(fake_opper) as client:
        data = await sse_events(client, CHAT, chat_body(stream=True, tools=tools))
    chunks = [json.loads(d) for d in data[:-1]]
    assert all(c["choices"] for c in chunks)  # no usage chunk without include_usage
    final = chunks[-1]["choices"][0]
    assert final["finish_reason"] == "stop" and len(final["delta"]["annotations"]) == 2


# =========================================================================== traces


async def test_trace_id_round_trip(fake_opper: FakeOpperServer) -> None:
    trace_id = str(uuid.uuid4())
    async with client_for(fake_opper) as client:
        r = await client.post(
            CHAT, json=chat_body(), headers={"X-Opper-Trace-Id": trace_id, "X-Opper-Name": "mcp/chat"}
        )
        assert r.headers["x-opper-trace-id"] == trace_id
        cost = r.json()["cost"]
        t = await client.get(f"/v3/traces/{trace_id}")
        assert t.status_code == 200
        data = t.json()["data"]
        assert data["id"] == trace_id and data["name"] == "mcp/chat" and data["span_count"] == 1
        assert data["status"] == "completed" and data["events"] == []
        span = data["spans"][0]
        assert span["type"] == "llm" and span["trace_id"] == trace_id and span["name"] == "mcp/chat"
        assert span["meta"]["model"] == "openai/gpt-5-mini-2025-08-07" and span["meta"]["cost"] == cost
        assert span["meta"]["input_tokens"] > 0 and span["meta"]["output_tokens"] > 0
        assert span["input"] == USER and span["output"].startswith("Echo from")
        listing = (await client.get("/v3/traces", params={"name": "MCP/"})).json()
        assert [x["id"] for x in listing["data"]] == [trace_id]
        # a second call under the same trace id adds a span
        await client.post(CHAT, json=chat_body(), headers={"X-Opper-Trace-Id": trace_id})
        assert (await client.get(f"/v3/traces/{trace_id}")).json()["data"]["span_count"] == 2
        # minted id when none is sent
        r = await client.post(CHAT, json=chat_body())
        minted = r.headers["x-opper-trace-id"]
        assert (await client.get(f"/v3/traces/{minted}")).json()["data"]["name"] == "chat"


async def test_trace_indexing_delay(fake_opper: FakeOpperServer) -> None:
    fake_opper.state.trace_delay_reads = 2
    async with client_for(fake_opper) as client:
        tid = (await client.post(CHAT, json=chat_body())).headers["x-opper-trace-id"]
        codes = [(await client.get(f"/v3/traces/{tid}")).status_code for _ in range(3)]
        assert codes == [404, 404, 200]
        # seeded traces are not delayed
        assert (await client.get(f"/v3/traces/{SEED_TRACE_IDS[0]}")).status_code == 200


async def test_request_count_and_knowledge_list_counts(fake_opper: FakeOpperServer) -> None:
    """request_count says what a tool call cost; the v2 list leaves document counts out unless told."""
    v2 = fake_opper.state.v2  # type: ignore[attr-defined]
    assert fake_opper.state.request_count() == 0
    async with client_for(fake_opper) as client:
        rows = (await client.get("/v2/knowledge", params={"limit": 100})).json()["data"]
        assert rows and all("count" not in r for r in rows)
        one = (await client.get(f"/v2/knowledge/{rows[0]['id']}")).json()
        assert one["count"] == 5
        v2.list_counts = True
        rows = (await client.get("/v2/knowledge", params={"limit": 100})).json()["data"]
        assert [r["count"] for r in rows] == [5, 2, 1]
        await client.get(f"/v3/traces/{SEED_TRACE_IDS[0]}")
    assert fake_opper.state.request_count() == 4
    assert fake_opper.state.request_count("/v2/knowledge", "GET") == 3
    assert fake_opper.state.request_count("/v2/knowledge", "POST") == 0
    assert fake_opper.state.request_count("/v3/traces/") == 1


async def test_traces_list_and_seeds(fake_opper: FakeOpperServer) -> None:
    async with client_for(fake_opper) as client:
        body = (await client.get("/v3/traces")).json()
        assert [t["id"] for t in body["data"]] == list(reversed(SEED_TRACE_IDS))  # newest first
        assert body["meta"] == {"total_count": 3, "total": 3, "limit": 100, "offset": 0}
        page = (await client.get("/v3/traces", params={"limit": 1, "offset": 1})).json()
        assert [t["id"] for t in page["data"]] == [SEED_TRACE_IDS[1]]
        r = await client.get("/v3/traces", params={"limit": 101})
        assert r.status_code == 400 and "limit" in r.json()["error"]["message"]
        r = await client.get("/v3/traces/does-not-exist")
        assert r.status_code == 404 and r.json()["error"]["message"] == "trace not found"
        nested = (await client.get(f"/v3/traces/{SEED_TRACE_IDS[0]}")).json()["data"]
        errored = (await client.get(f"/v3/traces/{SEED_TRACE_IDS[1]}")).json()["data"]
        long = (await client.get(f"/v3/traces/{SEED_TRACE_IDS[2]}")).json()["data"]
        await client.post(CHAT, json=chat_body())
        newest = (await client.get("/v3/traces", params={"limit": 1})).json()["data"][0]
    ids = {s["id"] for s in nested["spans"]}
    parents = [s.get("parent_id") for s in nested["spans"]]
    assert parents.count(None) == 1 and all(p in ids for p in parents if p)
    grandchild = next(s for s in nested["spans"] if s["name"] == "rerank")
    assert grandchild["parent_id"] in {s["id"] for s in nested["spans"] if s.get("parent_id")}
    assert errored["status"] == "error" and any(s.get("error") for s in errored["spans"])
    assert len(long["spans"][0]["input"]) >= 10_000 and len(long["spans"][0]["output"]) >= 10_000
    assert newest["name"] == "chat"


async def test_add_trace_helper(fake_opper: FakeOpperServer) -> None:
    tid = fake_opper.state.add_trace(
        "custom", spans=[{"name": "root", "id": "r1"}, {"name": "child", "parent_id": "r1", "type": "tool"}]
    )
    async with client_for(fake_opper) as client:
        data = (await client.get(f"/v3/traces/{tid}")).json()["data"]
    assert data["span_count"] == 2 and data["spans"][1]["parent_id"] == "r1"
    assert data["spans"][0]["duration_ms"] == 250
    empty = fake_opper.state.add_trace("empty", spans=[])
    assert fake_opper.state.get_trace(empty) is not None
    assert fake_opper.state.get_trace(empty)["span_count"] == 0  # type: ignore[index]


# =========================================================================== faults


@pytest.mark.parametrize("shape", ["spec", "string", "anthropic", "errors", "detail", "text"])
async def test_fail_shapes(fake_opper: FakeOpperServer, shape: str) -> None:
    fake_opper.state.fail("/v3/compat", 429, retry_after=2, shape=shape)
    async with client_for(fake_opper) as client:
        r = await client.post(CHAT, json=chat_body())
        assert r.status_code == 429 and r.headers["retry-after"] == "2"
        if shape == "text":
            assert r.headers["content-type"].startswith("text/html") and "429" in r.text
        else:
            body = r.json()
            message = {
                "spec": lambda: body["error"]["message"],
                "string": lambda: body["error"],
                "anthropic": lambda: body["error"]["message"],
                "errors": lambda: body["errors"][0]["message"],
                "detail": lambda: body["detail"],
            }[shape]()
            assert "rate limit" in message
        assert (await client.post(CHAT, json=chat_body())).status_code == 200  # consumed


async def test_fail_times_prefix_and_custom_body(fake_opper: FakeOpperServer) -> None:
    st = fake_opper.state
    st.fail("/v3/models", 503, times=2)
    st.fail("/v3/traces", 502, body="<html>bad gateway</html>")
    st.fail("/v3/tools", 402, message="wallet empty")
    async with client_for(fake_opper) as client:
        assert (await client.get("/health")).status_code == 200
        codes = [(await client.get("/v3/models")).status_code for _ in range(3)]
        assert codes == [503, 503, 200]
        r = await client.get("/v3/traces")
        assert r.status_code == 502 and r.text == "<html>bad gateway</html>" and "retry-after" not in r.headers
        r = await client.post("/v3/tools/web/search", json={"query": "x"})
        assert r.status_code == 402 and r.json()["error"] == {
            "code": "insufficient_balance",
            "message": "wallet empty",
            "details": None,
        }
    st.fail("/health", 500, times=None)
    async with client_for(fake_opper) as client:
        assert [(await client.get("/health")).status_code for _ in range(3)] == [500, 500, 500]
    st.reset()
    async with client_for(fake_opper) as client:
        assert (await client.get("/health")).status_code == 200


def test_connection_count_starts_at_zero_on_a_reused_port() -> None:
    """Keep-alive tests count a server's connections; a port an earlier emulator had must not add its count."""
    with FakeOpperServer() as first:
        for _ in range(3):
            httpx2.get(first.url + "/health")  # a new connection each time
        port = first.port
        assert first.connections_opened == 3
    with FakeOpperServer(port=port) as second:
        assert second.connections_opened == 0
        with httpx2.Client() as client:
            client.get(second.url + "/health")
            client.get(second.url + "/health")
        assert second.connections_opened == 1


async def test_stalled_body_sends_half_then_waits(fake_opper: FakeOpperServer) -> None:
    fake_opper.state.stall_body("/v3/models", 1.0)
    async with client_for(fake_opper) as client, client.stream("GET", "/v3/models") as response:
        t0 = time.monotonic()
        chunks = [(time.monotonic() - t0, chunk) async for chunk in response.aiter_raw()]
    body = b"".join(c for _, c in chunks)
    assert response.status_code == 200 and json.loads(body)["models"]  # whole in the end
    first_half = [c for t, c in chunks if t < 0.5]
    assert 0 < len(b"".join(first_half)) < len(body)  # part of it at once…
    assert chunks[-1][0] >= 1.0  # …the rest only after the stall


async def test_delay_drop_and_non_json(fake_opper: FakeOpperServer) -> None:
    st = fake_opper.state
    st.delay("/health", 1.0)  # long enough that a pause of this process cannot pass for it
    async with client_for(fake_opper) as client:
        t0 = time.monotonic()
        assert (await client.get("/health")).status_code == 200
        assert time.monotonic() - t0 >= 1.0
        t0 = time.monotonic()
        await client.get("/health")  # the delay was for one request only
        assert time.monotonic() - t0 < 1.0
        st.delay("/health", 2.0)
        with pytest.raises(httpx2.ReadTimeout):
            await client.get("/health", timeout=0.1)
        st.drop(CHAT)
        with pytest.raises(httpx2.RemoteProtocolError):
            await client.post(CHAT, json=chat_body())
        assert (await client.post(CHAT, json=chat_body())).status_code == 200
        st.non_json("/v3/models")
        r = await client.get("/v3/models")
        assert r.status_code == 200 and r.text == "<html>oops</html>"
        assert r.headers["content-type"].startswith("text/html")
    assert len(st.requests_to(CHAT)) == 2


async def test_chat_stream_error_after(fake_opper: FakeOpperServer) -> None:
    fake_opper.state.stream_error_after(2)
    async with client_for(fake_opper) as client:
        data = await sse_events(client, CHAT, chat_body(stream=True))
        again = await sse_events(client, CHAT, chat_body(stream=True))  # consumed: normal stream
    assert len(data) == 5  # role + 2 content + error + [DONE]
    assert json.loads(data[0])["choices"][0]["delta"]["role"] == "assistant"
    assert [json.loads(d)["choices"][0]["delta"]["content"] for d in data[1:3]] == ["Echo ", "from "]
    assert json.loads(data[3]) == STREAM_ERROR_CHUNK and data[4] == "[DONE]"
    assert json.loads(again[-2])["choices"][0]["finish_reason"] == "stop"
    rec = fake_opper.state.streams[0]
    assert rec.error_injected and rec.finished
    trace = fake_opper.state.get_trace(rec.trace_id or "")
    assert trace is not None and trace["status"] == "error"


async def test_chat_stream_drop_after(fake_opper: FakeOpperServer) -> None:
    fake_opper.state.stream_drop_after(1)
    got: list[str] = []
    async with client_for(fake_opper) as client:
        with pytest.raises(httpx2.RemoteProtocolError):
            async with client.sse(CHAT, method="POST", json=chat_body(stream=True)) as source:
                async for event in source:
                    got.append(event.data)
    assert len(got) == 2 and "[DONE]" not in got
    rec = fake_opper.state.wait_stream_closed(1.0)
    assert rec.dropped and not rec.finished and rec.disconnected_at is None


async def test_client_disconnect_is_noticed_quickly(fake_opper: FakeOpperServer) -> None:
    st = fake_opper.state
    st.chunk_delay = 0.05
    long_question = [{"role": "user", "content": " ".join(f"word{i}" for i in range(40))}]
    async with client_for(fake_opper) as client:
        async with client.stream(
            "POST", CHAT, json={"model": "openai/gpt-5-mini", "messages": long_question, "stream": True}
        ) as resp:
            n = 0
            async for line in resp.aiter_lines():
                if line.startswith("data:"):
                    n += 1
                if n == 3:
                    break
        closed_at = time.monotonic()
        rec = await st.await_stream_closed(1.0)
    assert rec.disconnected_at is not None and not rec.finished and not rec.dropped
    assert rec.disconnected_at - closed_at < 0.5  # at once: the rest of the stream would take ~2 s
    assert rec.first_chunk_at is not None and rec.first_chunk_at >= rec.started_at
    await asyncio.sleep(0.15)  # nothing more is sent after the disconnect
    assert rec.chunks_sent <= 4


# =========================================================================== web tools


async def test_web_search(fake_opper: FakeOpperServer) -> None:
    async with client_for(fake_opper) as client:
        a = (await client.post("/v3/tools/web/search", json={"query": "opper ai roundtable"})).json()
        b = (await client.post("/v3/tools/web/search", json={"query": "opper ai roundtable"})).json()
        three = (await client.post("/v3/tools/web/search", json={"query": "x", "max_results": 3})).json()
        for bad in ({"query": "  "}, {}, {"query": "x", "max_results": 0}):
            r = await client.post("/v3/tools/web/search", json=bad)
            assert r.status_code == 400
        r = await client.post("/v3/tools/web/search", json={"query": ""})
        assert r.json()["error"]["message"] == "query: must not be empty"
    assert a == b and len(a["results"]) == 5 and len(three["results"]) == 3
    assert all({"title", "url", "snippet"} <= set(x) for x in a["results"])
    assert any("published_at" in x for x in a["results"])


async def test_web_fetch(fake_opper: FakeOpperServer) -> None:
    async with client_for(fake_opper) as client:
        long = (await client.post("/v3/tools/web/fetch", json={"url": "https://example.com/long/doc"})).json()
        short = (await client.post("/v3/tools/web/fetch", json={"url": "https://docs.opper.ai/x"})).json()
        for bad in ("ftp://example.com/x", "example.com", ""):
            r = await client.post("/v3/tools/web/fetch", json={"url": bad})
            assert r.status_code == 400, bad
    assert long["url"] == "https://example.com/long/doc" and long["title"]
    assert 19_000 <= len(long["content"]) <= 22_000 and "\n## Section 2" in long["content"]
    assert long["content"].startswith("# ")
    assert 300 <= len(short["content"]) <= 800


async def test_beta_paths_redirect(fake_opper: FakeOpperServer) -> None:
    async with client_for(fake_opper) as client:
        for kind in ("search", "fetch"):
            r = await client.post(f"/v3/beta/tools/web/{kind}", json={"query": "q", "url": "https://a.b"})
            assert r.status_code == 307 and r.content == b""
            assert r.headers["location"] == f"/v3/tools/web/{kind}"
            follow = await client.post(r.headers["location"], json={"query": "q", "url": "https://a.b"})
            assert follow.status_code == 200


# =========================================================================== spec endpoints


async def test_openapi_yaml_etag_and_json(fake_opper: FakeOpperServer) -> None:
    async with client_for(fake_opper, key=None) as client:
        r = await client.get("/v3/openapi.yaml")
        assert r.status_code == 200 and r.headers["content-type"] == "application/yaml"
        etag = r.headers["etag"]
        assert etag.startswith('"') and etag.endswith('"') and len(etag) > 10
        doc = yaml.load(r.text, Loader=_LOADER)
        assert doc["openapi"].startswith("3.1")
        r304 = await client.get("/v3/openapi.yaml", headers={"If-None-Match": etag})
        assert r304.status_code == 304 and r304.content == b"" and r304.headers["etag"] == etag
        assert (await client.get("/v3/openapi.yaml", headers={"If-None-Match": '"other"'})).status_code == 200
        j = await client.get("/v3/openapi.json")
        assert j.headers["content-type"] == "application/json" and j.json() == doc
        jtag = j.headers["etag"]
        assert (await client.get("/v3/openapi.json", headers={"If-None-Match": jtag})).status_code == 304
        fake_opper.state.spec_text = "openapi: 3.1.0\ninfo: {title: changed, version: '1'}\npaths: {}\n"
        r2 = await client.get("/v3/openapi.yaml", headers={"If-None-Match": etag})
        assert r2.status_code == 200 and r2.headers["etag"] != etag and "changed" in r2.text
        assert (await client.get("/v3/openapi.json")).json()["info"]["title"] == "changed"
    expected = SHARED_SPEC_PATH if SHARED_SPEC_PATH.is_file() else FIXTURE_SPEC_PATH
    assert doc == yaml.load(expected.read_text(), Loader=_LOADER)


def test_spec_fixture_is_self_contained() -> None:
    doc = yaml.safe_load(FIXTURE_SPEC_PATH.read_text())
    schemas = doc["components"]["schemas"]
    ops = {op["operationId"] for path in doc["paths"].values() for op in path.values()}
    assert {"listModels", "createChatCompletion", "createRoundtable", "webSearch", "listTraces", "getTrace"} <= ops
    assert schemas["SpanTree"]["properties"]["children"]["items"]["$ref"] == "#/components/schemas/SpanTree"
    assert {"ChatRequest", "ChatMessage", "ChatResponse", "ErrorResponse", "ModelInfo", "ModelsResponse"} <= set(
        schemas
    )
    for name in schemas:  # every schema compiles and every $ref resolves
        validator = _validator(doc, name)
        validator.is_valid({})


# =========================================================================== roundtable

RT = "/v3/roundtable"
PANEL = [{"name": "openai/gpt-5.5"}, {"name": "anthropic/claude-sonnet-4-6"}, {"name": "gemini/gemini-2.5-pro"}]


async def test_roundtable_summary(fake_opper: FakeOpperServer) -> None:
    async with client_for(fake_opper) as client:
        r = await client.post(RT, json={"input": "Which queue?", "models": PANEL})
        assert r.status_code == 200
        body = r.json()
        trace = (await client.get(f"/v3/traces/{body['meta']['trace_uuid']}")).json()["data"]
    assert body["id"].startswith("rt_") and body["data"].startswith("Summary of 3 answers")
    meta = body["meta"]
    assert meta["resolution"] == "summary" and meta["models_used"] == [m["name"] for m in PANEL]
    assert meta["summary_model"] == "openai/gpt-5.5" and meta["summary_usage"]["output_tokens"] > 0
    assert meta["total_cost"] > 0 and meta["total_duration_ms"] > 0
    assert [m["index"] for m in body["model_results"]] == [0, 1, 2]
    assert all(m["data"] == f"Echo from {m['model']}: Which queue?" for m in body["model_results"])
    assert trace["span_count"] == 4 and trace["name"] == "roundtable"


async def test_roundtable_fast_and_member_failures(fake_opper: FakeOpperServer) -> None:
    fake_opper.state.roundtable_fail_models = {"gemini/gemini-2.5-pro"}
    models = [*PANEL, {"name": "nope/unknown"}]
    async with client_for(fake_opper) as client:
        body = (await client.post(RT, json={"input": "q", "models": models, "resolution": "fast"})).json()
    assert body["data"] is None and "summary_model" not in body["meta"]
    res = body["model_results"]
    assert res[2]["error"] == "timeout after 120000ms" and res[2]["data"] == "" and res[2]["duration_ms"] == 120000
    assert res[3]["error"] == "model not found: nope/unknown"
    assert body["meta"]["models_used"] == ["openai/gpt-5.5", "anthropic/claude-sonnet-4-6"]


async def test_roundtable_multiple_choice_and_validation(fake_opper: FakeOpperServer) -> None:
    choices = ["positive", "negative", "neutral"]
    async with client_for(fake_opper) as client:
        body = (
            await client.post(
                RT, json={"input": "Sentiment?", "models": PANEL, "resolution": "multiple_choice", "choices": choices}
            )
        ).json()
        assert body["data"] == "positive"
        assert [m["data"] for m in body["model_results"]] == ["positive", "positive", "negative"]
        schema = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}
        structured = (await client.post(RT, json={"input": "q", "models": PANEL[:1], "output_schema": schema})).json()
        assert json.loads(structured["data"]) == {"answer": "example"}
        bad_bodies: list[dict[str, Any]] = [
            {"input": "q", "models": PANEL, "resolution": "multiple_choice"},
            {"input": "", "models": PANEL},
            {"input": "q", "models": []},
            {"input": "q", "models": [{"name": "openai/gpt-5-mini"}] * 11},
            {"input": "q", "models": [{}]},
            {"input": "q", "models": PANEL, "resolution": "vote"},
            {"input": "q", "models": PANEL, "timeout_ms": 300001},
        ]
        for bad in bad_bodies:
            r = await client.post(RT, json=bad)
            assert r.status_code == 400, bad
            assert "message" in r.json()["error"]
        fake_opper.state.roundtable_fail_models = {m["name"] for m in PANEL}
        r = await client.post(RT, json={"input": "q", "models": PANEL})
        assert r.status_code == 500


async def test_roundtable_stream(fake_opper: FakeOpperServer) -> None:
    fake_opper.state.roundtable_fail_models = {"gemini/gemini-2.5-pro"}
    async with client_for(fake_opper) as client:
        data = await sse_events(client, RT, {"input": "Which queue?", "models": PANEL, "stream": True})
    assert data[-1] == "[DONE]"
    events = [json.loads(d) for d in data[:-1]]
    types = [e["type"] for e in events]
    assert types[0] == "model_delta" and types[-1] == "done"
    assert {"model_delta", "model_done", "model_error", "summary_delta", "done"} == set(types)
    assert types.index("summary_delta") > max(i for i, t in enumerate(types) if t.startswith("model_"))
    for idx in (0, 1):
        text = "".join(e["delta"] for e in events if e["type"] == "model_delta" and e["model_index"] == idx)
        done = next(e for e in events if e["type"] == "model_done" and e["model_index"] == idx)
        assert text == done["data"] and done["usage"]["output_tokens"] > 0
    err = next(e for e in events if e["type"] == "model_error")
    assert err == {
        "type": "model_error",
        "model_index": 2,
        "model": "gemini/gemini-2.5-pro",
        "error": "timeout after 120000ms",
    }
    final = events[-1]
    summary = "".join(e["delta"] for e in events if e["type"] == "summary_delta")
    assert final["data"] == summary and final["meta"]["trace_uuid"]
    assert final["meta"]["models_used"] == ["openai/gpt-5.5", "anthropic/claude-sonnet-4-6"]
    rec = fake_opper.state.wait_stream_closed(1.0)
    assert rec.path == RT and rec.finished and rec.trace_id == final["meta"]["trace_uuid"]


async def test_roundtable_stream_faults_and_disconnect(fake_opper: FakeOpperServer) -> None:
    st = fake_opper.state
    body = {"input": "Which queue?", "models": PANEL, "stream": True}
    st.stream_error_after(3)
    async with client_for(fake_opper) as client:
        data = await sse_events(client, RT, body)
        assert len(data) == 5 and json.loads(data[3])["error"]["code"] == "upstream_error" and data[4] == "[DONE]"
        st.stream_drop_after(2)
        got: list[str] = []
        with pytest.raises(httpx2.RemoteProtocolError):
            async with client.sse(RT, method="POST", json=body) as source:
                async for event in source:
                    got.append(event.data)
        assert len(got) == 2
        st.chunk_delay = 0.2
        async with client.stream("POST", RT, json=body) as resp:
            async for line in resp.aiter_lines():
                if line.startswith("data:"):
                    break
        closed_at = time.monotonic()
        rec = await st.await_stream_closed(1.0)
    assert rec.disconnected_at is not None and rec.disconnected_at - closed_at < 0.5  # at once, not at the end
    assert [s.dropped for s in st.streams] == [False, True, False]


# =========================================================================== CONTRACT

_SNAPSHOT: dict[str, Any] | None = None


def _snapshot() -> dict[str, Any]:
    global _SNAPSHOT
    if not SHARED_SPEC_PATH.is_file():
        pytest.skip(f"{SHARED_SPEC_PATH} not found: contract tests need ../shared/opper/openapi-v3.yaml")
    if _SNAPSHOT is None:
        _SNAPSHOT = yaml.load(SHARED_SPEC_PATH.read_text(), Loader=_LOADER)
    return _SNAPSHOT


def _validator(doc: dict[str, Any], name: str, patch: Any = None) -> jsonschema.Draft202012Validator:
    """Validator for `#/components/schemas/<name>`; `$ref`s resolve against the whole document."""
    doc = copy.deepcopy(doc) if patch else doc
    if patch:
        patch(doc["components"]["schemas"][name])
    uri = "urn:opper-spec"
    registry: Registry = Registry().with_resource(uri, Resource(contents=doc, specification=DRAFT202012))
    return jsonschema.Draft202012Validator({"$ref": f"{uri}#/components/schemas/{name}"}, registry=registry)


def _check(name: str, instance: Any, patch: Any = None) -> None:
    doc = _snapshot()
    assert name in doc["components"]["schemas"], f"snapshot has no schema {name}"
    errors = sorted(_validator(doc, name, patch).iter_errors(instance), key=lambda e: list(e.path))
    assert not errors, f"{name}: " + "; ".join(f"{list(e.path)}: {e.message}" for e in errors[:5])


def _nullable_finish_reason(schema: dict[str, Any]) -> None:
    # Observed behaviour (API-CONTRACT §4.2): finish_reason is null until the last chunk; the
    # snapshot types it as a plain string.
    schema["properties"]["choices"]["items"]["properties"]["finish_reason"] = {"type": ["string", "null"]}


def _nullable_data(schema: dict[str, Any]) -> None:
    # Documented `fast` mode (API-CONTRACT §7 #9): data is null; the snapshot says string.
    schema["properties"]["data"] = {"type": ["string", "null"]}


async def test_contract_models(fake_opper: FakeOpperServer) -> None:
    _snapshot()
    async with client_for(fake_opper) as client:
        params = {"limit": 500, "deprecated": "true", "include": "maker,benchmarks,route,policy"}
        body = (await client.get("/v3/models", params=params)).json()
        err = (await client.get("/v3/models", params={"limit": 501})).json()
    _check("ModelsResponse", body)
    for row in body["models"]:
        _check("ModelInfo", row)
    _check("ErrorResponse", err)


async def test_contract_chat(fake_opper: FakeOpperServer) -> None:
    _snapshot()
    rf = {
        "type": "json_schema",
        "json_schema": {
            "name": "x",
            "schema": {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
        },
    }
    async with client_for(fake_opper) as client:
        bodies = [
            (await client.post(CHAT, json=chat_body())).json(),
            (await client.post(CHAT, json=chat_body(tools=[{"type": "opper:web_search"}]))).json(),
            (await client.post(CHAT, json=chat_body(response_format=rf))).json(),
        ]
        data = await sse_events(
            client,
            CHAT,
            chat_body(stream=True, stream_options={"include_usage": True}, tools=[{"type": "opper:web_search"}]),
        )
        err = (await client.post(CHAT, json={"model": ["x"], "messages": USER})).json()
    for b in bodies:
        _check("ChatResponse", b)
    for d in data[:-1]:
        _check("ChatStreamChunk", json.loads(d), _nullable_finish_reason)
    _check("ErrorResponse", err)


async def test_contract_roundtable(fake_opper: FakeOpperServer) -> None:
    _snapshot()
    fake_opper.state.roundtable_fail_models = {"gemini/gemini-2.5-pro"}
    async with client_for(fake_opper) as client:
        summary = (await client.post(RT, json={"input": "q", "models": PANEL})).json()
        mc = (
            await client.post(
                RT, json={"input": "q", "models": PANEL, "resolution": "multiple_choice", "choices": ["a", "b"]}
            )
        ).json()
        fast = (await client.post(RT, json={"input": "q", "models": PANEL, "resolution": "fast"})).json()
        events = await sse_events(client, RT, {"input": "q", "models": PANEL, "stream": True})
        fast_events = await sse_events(
            client, RT, {"input": "q", "models": PANEL, "stream": True, "resolution": "fast"}
        )
        err = (await client.post(RT, json={"input": "", "models": PANEL})).json()
    _check("RoundtableResponse", summary)
    _check("RoundtableResponse", mc)
    _check("RoundtableResponse", fast, _nullable_data)
    for e in events[:-1] + fast_events[:-1]:
        _check("RoundtableStreamChunk", json.loads(e))
    _check("RoundtableResponseMeta", summary["meta"])
    for r in summary["model_results"]:
        _check("RoundtableModelResult", r)
    _check("ErrorResponse", err)


async def test_contract_web_and_traces(fake_opper: FakeOpperServer) -> None:
    _snapshot()
    async with client_for(fake_opper) as client:
        search = (await client.post("/v3/tools/web/search", json={"query": "opper"})).json()
        fetch = (await client.post("/v3/tools/web/fetch", json={"url": "https://example.com/long"})).json()
        await client.post(CHAT, json=chat_body(), headers={"X-Opper-Trace-Id": "11111111-2222-4333-8444-555555555555"})
        listing = (await client.get("/v3/traces")).json()
        traces = [(await client.get(f"/v3/traces/{t['id']}")).json() for t in listing["data"]]
        errors = [
            (await client.get("/v3/traces/unknown")).json(),
            (await client.post("/v3/tools/web/search", json={"query": ""})).json(),
            (await client.post("/v3/tools/web/fetch", json={"url": "nope"})).json(),
        ]
    _check("WebSearchResponse", search)
    for item in search["results"]:
        _check("WebSearchResult", item)
    _check("WebFetchResponse", fetch)
    assert len(traces) == 4
    for item in listing["data"]:
        _check("ListTracesItem", item)
    for t in traces:
        _check("GetTraceResponse", t)
    for e in errors:
        _check("ErrorResponse", e)


async def test_contract_against_own_fixture(fake_opper: FakeOpperServer) -> None:
    """Runs without the snapshot: the emulator also satisfies spec_fixture.yaml."""
    doc = yaml.safe_load(FIXTURE_SPEC_PATH.read_text())
    async with client_for(fake_opper) as client:
        pairs = [
            ("ModelsResponse", (await client.get("/v3/models", params={"limit": 500})).json()),
            ("ChatResponse", (await client.post(CHAT, json=chat_body())).json()),
            ("WebSearchResponse", (await client.post("/v3/tools/web/search", json={"query": "x"})).json()),
            ("RoundtableResponse", (await client.post(RT, json={"input": "q", "models": PANEL})).json()),
            ("ErrorResponse", (await client.get("/v3/traces/unknown")).json()),
            ("TraceDetail", (await client.get(f"/v3/traces/{SEED_TRACE_IDS[0]}")).json()["data"]),
        ]
    for name, instance in pairs:
        errors = list(_validator(doc, name).iter_errors(instance))
        assert not errors, f"{name}: {errors[0].message}"
