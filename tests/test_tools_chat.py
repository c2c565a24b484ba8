"""chat against the emulator: the upstream request, the result, progress, threads, faults, cancellation."""

from __future__ import annotations

import itertools
import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult
from pydantic import SecretStr

from opper_mcp.settings import Settings
from opper_mcp.tools.chat import ChatAccumulator, parse_structured
from tests.fake_opper import STREAM_ERROR_CHUNK, TEST_KEY, FakeOpperServer
from tests.fake_opper.app import search_results, split_pieces
from tests.support import ProgressLog, cancel_mid_stream, connect, data_of, error_text, make_settings, text_of

pytestmark = pytest.mark.anyio

CHAT = "/v3/compat/chat/completions"
MODEL = "openai/gpt-5-mini"
OTHER_KEY = "op-second-tenant-key"


def echo(prompt: str, model: str = MODEL) -> str:
    """What the emulator answers to a plain prompt."""
    return f"Echo from {model}: {prompt}"


def chat_requests(fake: FakeOpperServer) -> list[Any]:
    return fake.state.requests_to(CHAT)


# ---- the upstream request ------------------------------------------------------------------


async def test_prompt_call_body_and_headers(client: Client, fake_opper: FakeOpperServer) -> None:
    result = await client.call_tool("chat", {"model": MODEL, "prompt": "What is 2+2?"})
    data = data_of(result)
    assert data["text"] == echo("What is 2+2?")
    [req] = chat_requests(fake_opper)
    assert req.method == "POST"
    assert req.json == {
        "model": MODEL,
        "messages": [{"role": "user", "content": "What is 2+2?"}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    assert req.headers["authorization"] == f"Bearer {TEST_KEY}"
    assert "text/event-stream" in req.headers["accept"]
    assert req.headers["x-opper-name"] == "opper-mcp/chat"
    trace_id = req.headers["x-opper-trace-id"]
    parsed = uuid.UUID(trace_id)
    assert parsed.version == 4
    assert str(parsed) == trace_id
    assert data["trace_id"] == trace_id


async def test_every_parameter_reaches_the_body(client: Client, fake_opper: FakeOpperServer) -> None:
    args = {
        "model": "claude-sonnet-4-6",  # a pool name: passed on verbatim, never rewritten
        "prompt": "Summarise the plot of Hamlet.",
        "system": "Answer in one sentence.",
        "temperature": 0.35,
        "max_tokens": 321,
        "reasoning_effort": "low",
        "name": "my-agent/summarise",
    }
    data = data_of(await client.call_tool("chat", args))
    [req] = chat_requests(fake_opper)
    assert req.json == {
        "model": "claude-sonnet-4-6",
        "messages": [
            {"role": "system", "content": "Answer in one sentence."},
            {"role": "user", "content": "Summarise the plot of Hamlet."},
        ],
        "temperature": 0.35,
        "max_tokens": 321,
        "reasoning_effort": "low",
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    assert req.headers["x-opper-name"] == "my-agent/summarise"
    assert data["model"] == "claude-sonnet-4-6"
    assert data["served_model"] == "claude-sonnet-4-6-2025-08-07"  # from x-opper-served-model


async def test_every_call_streams_with_usage(client: Client, fake_opper: FakeOpperServer) -> None:
    cid = data_of(await client.call_tool("chat", {"model": MODEL, "prompt": "a"}))["conversation_id"]
    for args in (
        {"model": MODEL, "prompt": "b", "conversation_id": cid},
        {"model": MODEL, "messages": [{"role": "user", "content": "c"}]},
        {"model": MODEL, "prompt": "d", "json_schema": {"type": "object"}},
        {"model": MODEL, "prompt": "e", "web_search": True, "max_tokens": 10},
    ):
        data_of(await client.call_tool("chat", args))
    bodies = [r.json for r in chat_requests(fake_opper)]
    assert len(bodies) == 5
    for body in bodies:
        assert body["stream"] is True
        assert body["stream_options"] == {"include_usage": True}
    assert all(s.finished for s in fake_opper.state.streams)


async def test_temperature_zero_is_sent(client: Client, fake_opper: FakeOpperServer) -> None:
    data_of(await client.call_tool("chat", {"model": MODEL, "prompt": "x", "temperature": 0}))
    assert chat_requests(fake_opper)[0].json["temperature"] == 0


async def test_messages_are_sent_as_given(client: Client, fake_opper: FakeOpperServer) -> None:
    messages = [
        {"role": "system", "content": "You are a pirate."},
        {"role": "user", "content": "Hello", "name": "ada"},
        {"role": "assistant", "content": "Arr."},
        {"role": "user", "content": [{"type": "text", "text": "What ship?"}]},
    ]
    data = data_of(await client.call_tool("chat", {"model": MODEL, "messages": messages}))
    assert chat_requests(fake_opper)[0].json["messages"] == messages
    assert data["text"] == echo("What ship?")


async def test_system_with_messages_replaces_their_system_prompt(client: Client, fake_opper: FakeOpperServer) -> None:
    messages = [{"role": "user", "content": "Hi"}]
    data_of(await client.call_tool("chat", {"model": MODEL, "messages": messages, "system": "Be kind."}))
    assert chat_requests(fake_opper)[0].json["messages"] == [
        {"role": "system", "content": "Be kind."},
        {"role": "user", "content": "Hi"},
    ]


INVALID_CHAT_ARGS: list[tuple[dict[str, Any], tuple[str, ...]]] = [
    ({"model": MODEL}, ("exactly one of prompt or messages",)),
    ({"model": MODEL, "prompt": "a", "messages": [{"role": "user", "content": "b"}]},
     ("exactly one of prompt or messages",)),
    ({"model": MODEL, "prompt": "   "}, ("prompt is empty",)),
    ({"model": "", "prompt": "x"}, ("model", "at least 1 character")),
    ({"model": MODEL, "prompt": "x", "temperature": 2.5}, ("temperature", "less than or equal to 2")),
    ({"model": MODEL, "prompt": "x", "max_tokens": 0}, ("max_tokens", "greater than or equal to 1")),
    ({"model": MODEL, "prompt": "x", "reasoning_effort": "extreme"}, ("reasoning_effort", "'minimal', 'low'")),
    ({"model": MODEL, "messages": [{"role": "robot", "content": "x"}]}, ("messages.0.role", "'system', 'user'")),
    ({"model": MODEL, "prompt": "x", "conversation_id": "not-a-conversation"}, ("conversation_id", "^conv_")),
    ({"model": MODEL, "prompt": "x", "web_search": {"freshness": "q"}}, ("freshness", "^[dwmy]$")),
    ({"model": MODEL, "prompt": "x", "web_search": {"max_results": 50}}, ("max_results", "less than or equal to 20")),
]


async def test_invalid_arguments_fail_before_any_request(client: Client, fake_opper: FakeOpperServer) -> None:
    for args, needles in INVALID_CHAT_ARGS:
        text = error_text(await client.call_tool("chat", args))
        assert all(n in text for n in needles), (args, text)
    assert fake_opper.state.requests == []


# ---- structured output ---------------------------------------------------------------------

ENTITIES = {
    "title": "Entities list!",
    "type": "object",
    "properties": {
        "people": {"type": "array", "items": {"type": "string"}},
        "count": {"type": "integer", "minimum": 2},
    },
    "required": ["people", "count"],
    "additionalProperties": False,
}


async def test_json_schema_becomes_response_format_and_data_is_parsed(
    client: Client, fake_opper: FakeOpperServer
) -> None:
    result = await client.call_tool("chat", {"model": MODEL, "prompt": "Ada met Charles.", "json_schema": ENTITIES})
    data = data_of(result)  # also checks structured content == the JSON text block
    body = chat_requests(fake_opper)[0].json
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "Entities_list_", "schema": ENTITIES},
    }
    assert data["data"] == {"people": ["example"], "count": 2}
    assert json.loads(data["text"]) == data["data"]


async def test_json_schema_without_title_is_named_response(client: Client, fake_opper: FakeOpperServer) -> None:
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}
    data = data_of(await client.call_tool("chat", {"model": MODEL, "prompt": "ok?", "json_schema": schema}))
    assert chat_requests(fake_opper)[0].json["response_format"]["json_schema"]["name"] == "response"
    assert data["data"] == {"ok": True}


async def test_no_json_schema_means_no_data_and_no_response_format(
    client: Client, fake_opper: FakeOpperServer
) -> None:
    data = data_of(await client.call_tool("chat", {"model": MODEL, "prompt": "plain"}))
    assert "data" not in data
    body = chat_requests(fake_opper)[0].json
    assert "response_format" not in body
    assert "tools" not in body


@pytest.mark.parametrize(
    ("schema", "where"),
    [({"type": "objekt"}, "$.type"), ({"properties": {"a": {"minimum": "zero"}}}, "$.properties.a.minimum")],
)
async def test_invalid_json_schema_fails_before_any_request(
    client: Client, fake_opper: FakeOpperServer, schema: dict[str, Any], where: str
) -> None:
    text = error_text(await client.call_tool("chat", {"model": MODEL, "prompt": "x", "json_schema": schema}))
    assert "not a valid JSON Schema" in text
    assert where in text
    assert fake_opper.state.requests == []


async def test_answer_not_matching_the_schema_names_path_and_keeps_raw_text(
    client: Client, fake_opper: FakeOpperServer
) -> None:
    fake_opper.state.invalid_json_output = True
    schema = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}
    text = error_text(await client.call_tool("chat", {"model": MODEL, "prompt": "x", "json_schema": schema}))
    assert "does not match json_schema at $" in text
    assert "'name' is a required property" in text
    assert "raw text: {}" in text  # what the emulator answered


def test_parse_structured_names_a_nested_path() -> None:
    schema = {"type": "object", "properties": {"items": {"type": "array", "items": {"type": "integer"}}}}
    raw = '{"items": [1, "two", 3]}'
    with pytest.raises(ToolError) as info:
        parse_structured(raw, schema)
    message = str(info.value)
    assert "at $.items[1]" in message
    assert "'two' is not of type 'integer'" in message
    assert raw in message


def test_parse_structured_accepts_a_fenced_answer_and_rejects_prose() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}
    assert parse_structured('```json\n{"a": 1}\n```', schema) == {"a": 1}
    assert parse_structured('  {"a": 2}  ', schema) == {"a": 2}
    with pytest.raises(ToolError, match=r"not JSON .*raw text: Sure! Here is"):
        parse_structured("Sure! Here is the answer: a = 1", schema)


# ---- web search ----------------------------------------------------------------------------


async def test_web_search_true_sends_the_opper_tool_and_returns_citations(
    client: Client, fake_opper: FakeOpperServer
) -> None:
    prompt = "latest httpx release"
    data = data_of(await client.call_tool("chat", {"model": MODEL, "prompt": prompt, "web_search": True}))
    body = chat_requests(fake_opper)[0].json
    assert body["tools"] == [{"type": "opper:web_search", "engine": "auto"}]
    expected = [{"url": r["url"], "title": r["title"]} for r in search_results(prompt, 2)]
    assert data["citations"] == expected
    # the search is billed with the call: the cost is Opper's total, tools included
    span = fake_opper.state.get_trace(data["trace_id"])["spans"][0]  # type: ignore[index]
    assert data["cost_usd"] == pytest.approx(span["meta"]["cost"])
    assert data["cost_usd"] >= 0.005


async def test_web_search_options_are_passed_through(client: Client, fake_opper: FakeOpperServer) -> None:
    options = {
        "engine": "opper",
        "max_results": 3,
        "max_uses": 2,
        "allowed_domains": ["python-httpx.org"],
        "excluded_domains": ["spam.example"],
        "freshness": "w",
    }
    data = data_of(await client.call_tool("chat", {"model": MODEL, "prompt": "news", "web_search": options}))
    assert chat_requests(fake_opper)[0].json["tools"] == [{"type": "opper:web_search", **options}]
    assert data["citations"]


async def test_web_search_false_sends_no_tools(client: Client, fake_opper: FakeOpperServer) -> None:
    data = data_of(await client.call_tool("chat", {"model": MODEL, "prompt": "x", "web_search": False}))
    assert "tools" not in chat_requests(fake_opper)[0].json
    assert "citations" not in data


async def test_web_search_native_refused_upstream_is_reported(client: Client, fake_opper: FakeOpperServer) -> None:
    args = {"model": "gemini/gemini-2.5-flash", "prompt": "x", "web_search": {"engine": "native"}}
    text = error_text(await client.call_tool("chat", args))
    assert '"native" is not available' in text
    assert "400" in text


# ---- the result ----------------------------------------------------------------------------


async def test_usage_cost_and_trace_in_the_result(client: Client, fake_opper: FakeOpperServer) -> None:
    data = data_of(await client.call_tool("chat", {"model": MODEL, "prompt": "Count the tokens please"}))
    trace = fake_opper.state.get_trace(data["trace_id"])
    assert trace is not None
    [span] = trace["spans"]
    meta = span["meta"]
    assert data["usage"]["input_tokens"] == meta["input_tokens"]
    assert data["usage"]["output_tokens"] == meta["output_tokens"]
    assert data["usage"]["total_tokens"] == meta["input_tokens"] + meta["output_tokens"]
    assert "reasoning_tokens" not in data["usage"]  # 0 is left out
    assert data["cost_usd"] == pytest.approx(meta["cost"])
    assert data["cost_usd"] > 0
    assert data["served_model"] == "gpt-5-mini-2025-08-07"
    assert data["finish_reason"] == "stop"
    assert data["conversation_id"].startswith("conv_")


def test_cost_prefers_header_then_opper_total_then_usage_cost_then_top_level() -> None:
    def acc(usage: dict[str, Any] | None, cost: float | None) -> ChatAccumulator:
        a = ChatAccumulator()
        event: dict[str, Any] = {"choices": []}
        if usage is not None:
            event["usage"] = usage
        if cost is not None:
            event["cost"] = cost
        a.feed(event)
        return a

    full = acc({"prompt_tokens": 1, "cost": 0.3, "opper": {"cost": {"total": 0.5, "tools": 0.2}}}, 0.1)
    assert full.cost_usd(None) == 0.5  # streams carry no X-Opper-Cost header
    assert full.cost_usd("0.7") == 0.7
    assert full.cost_usd("not-a-number") == 0.5
    assert acc({"prompt_tokens": 1, "cost": 0.3}, 0.1).cost_usd(None) == 0.3
    assert acc({"prompt_tokens": 1}, 0.1).cost_usd(None) == 0.1
    assert acc(None, None).cost_usd(None) is None


async def test_get_trace_works_on_the_returned_trace_id(client: Client, fake_opper: FakeOpperServer) -> None:
    data = data_of(await client.call_tool("chat", {"model": MODEL, "prompt": "trace me", "name": "tests/trace"}))
    trace = data_of(await client.call_tool("get_trace", {"trace_id": data["trace_id"]}))
    assert trace["id"] == data["trace_id"]
    assert trace["name"] == "tests/trace"
    [span] = trace["spans"]
    assert span["model"] == "openai/gpt-5-mini-2025-08-07"
    assert span["output"] == echo("trace me")


# ---- progress ------------------------------------------------------------------------------


async def test_progress_messages_are_readable_and_mention_tokens(client: Client, fake_opper: FakeOpperServer) -> None:
    fake_opper.state.chunk_delay = 0.05
    prompt = " ".join(f"word{i}" for i in range(12))
    log = ProgressLog()
    data = data_of(await client.call_tool("chat", {"model": MODEL, "prompt": prompt}, progress_callback=log))
    assert data["text"] == echo(prompt)
    assert log.events, "no progress notifications"
    assert log.messages[0] == f"connected, waiting for {MODEL}"
    token_messages = [m for m in log.messages if "tokens" in m]
    assert token_messages, log.messages
    assert all(m.startswith("~") and m.endswith(f"tokens from {MODEL}…") for m in token_messages), token_messages
    values = [p for p, _, _ in log.events]
    assert all(b > a for a, b in itertools.pairwise(values)), values
    # throttled to about four a second
    assert len(log.events) < len(split_pieces(echo(prompt)))


async def test_progress_is_throttled_on_a_fast_long_stream(client: Client, fake_opper: FakeOpperServer) -> None:
    prompt = " ".join(f"w{i}" for i in range(3_000))
    log = ProgressLog()
    started = time.monotonic()
    data = data_of(await client.call_tool("chat", {"model": MODEL, "prompt": prompt}, progress_callback=log))
    elapsed = time.monotonic() - started
    assert data["text"] == echo(prompt)
    chunks = fake_opper.state.streams[-1].chunks_sent
    assert chunks > 3_000
    assert 1 <= len(log.events) <= 2 + elapsed / 0.25, (len(log.events), elapsed)
    assert len(log.events) < chunks / 50


# ---- conversations -------------------------------------------------------------------------


async def test_conversation_sends_the_earlier_turns(client: Client, fake_opper: FakeOpperServer) -> None:
    first = data_of(await client.call_tool("chat", {"model": MODEL, "prompt": "Q1", "system": "Be brief."}))
    cid = first["conversation_id"]
    second = data_of(await client.call_tool("chat", {"model": MODEL, "prompt": "Q2", "conversation_id": cid}))
    assert second["conversation_id"] == cid
    turns = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Q1"},
        {"role": "assistant", "content": echo("Q1")},
        {"role": "user", "content": "Q2"},
    ]
    assert chat_requests(fake_opper)[1].json["messages"] == turns
    # a new system prompt replaces the old one; messages append like prompts do
    third = data_of(await client.call_tool("chat", {
        "model": MODEL, "conversation_id": cid, "system": "Be verbose.",
        "messages": [{"role": "user", "content": "Q3"}],
    }))
    assert third["conversation_id"] == cid
    assert chat_requests(fake_opper)[2].json["messages"] == [
        {"role": "system", "content": "Be verbose."},
        *turns[1:],
        {"role": "assistant", "content": echo("Q2")},
        {"role": "user", "content": "Q3"},
    ]


async def test_calls_without_conversation_id_start_fresh_threads(client: Client, fake_opper: FakeOpperServer) -> None:
    a = data_of(await client.call_tool("chat", {"model": MODEL, "prompt": "one"}))
    b = data_of(await client.call_tool("chat", {"model": MODEL, "prompt": "two"}))
    assert a["conversation_id"] != b["conversation_id"]
    assert chat_requests(fake_opper)[1].json["messages"] == [{"role": "user", "content": "two"}]


async def test_unknown_conversation_id_is_a_clear_error(client: Client, fake_opper: FakeOpperServer) -> None:
    text = error_text(await client.call_tool(
        "chat", {"model": MODEL, "prompt": "x", "conversation_id": "conv_doesNotExist123"}
    ))
    assert "unknown conversation_id 'conv_doesNotExist123'" in text
    assert "omit it to start a new conversation" in text
    assert fake_opper.state.requests == []


async def test_failed_call_does_not_extend_the_conversation(client: Client, fake_opper: FakeOpperServer) -> None:
    cid = data_of(await client.call_tool("chat", {"model": MODEL, "prompt": "Q1"}))["conversation_id"]
    fake_opper.state.stream_error_after(1)
    assert (await client.call_tool("chat", {"model": MODEL, "prompt": "lost", "conversation_id": cid})).is_error
    data_of(await client.call_tool("chat", {"model": MODEL, "prompt": "Q2", "conversation_id": cid}))
    assert chat_requests(fake_opper)[-1].json["messages"] == [
        {"role": "user", "content": "Q1"},
        {"role": "assistant", "content": echo("Q1")},
        {"role": "user", "content": "Q2"},
    ]


async def test_conversation_survives_a_server_restart(
    settings: Settings, mode: str, fake_opper: FakeOpperServer
) -> None:
    async with connect(settings, mode) as first:
        cid = data_of(await first.call_tool("chat", {"model": MODEL, "prompt": "remember 42"}))["conversation_id"]
    async with connect(settings, mode) as second:
        data = data_of(await second.call_tool("chat", {"model": MODEL, "prompt": "what?", "conversation_id": cid}))
    assert data["conversation_id"] == cid
    assert chat_requests(fake_opper)[-1].json["messages"] == [
        {"role": "user", "content": "remember 42"},
        {"role": "assistant", "content": echo("remember 42")},
        {"role": "user", "content": "what?"},
    ]


async def test_another_key_cannot_load_the_conversation(
    settings: Settings, mode: str, fake_opper: FakeOpperServer
) -> None:
    fake_opper.state.api_keys.add(OTHER_KEY)
    other = make_settings(fake_opper.url, settings.resolved_cache_dir, api_key=SecretStr(OTHER_KEY))
    async with connect(settings, mode) as first:
        cid = data_of(await first.call_tool("chat", {"model": MODEL, "prompt": "private"}))["conversation_id"]
    before = len(chat_requests(fake_opper))
    async with connect(other, mode) as second:
        text = error_text(await second.call_tool(
            "chat", {"model": MODEL, "prompt": "leak it", "conversation_id": cid}
        ))
        assert "unknown conversation_id" in text
        assert len(chat_requests(fake_opper)) == before
        # the other key itself works: it is the thread that is off limits
        data_of(await second.call_tool("chat", {"model": MODEL, "prompt": "hello"}))
    last = chat_requests(fake_opper)[-1]
    assert last.headers["authorization"] == f"Bearer {OTHER_KEY}"
    assert last.json["messages"] == [{"role": "user", "content": "hello"}]
    # and the owner still can
    async with connect(settings, mode) as again:
        data_of(await again.call_tool("chat", {"model": MODEL, "prompt": "more", "conversation_id": cid}))


# ---- upstream errors -----------------------------------------------------------------------


async def test_unknown_model_suggests_close_matches(client: Client, fake_opper: FakeOpperServer) -> None:
    text = error_text(await client.call_tool("chat", {"model": "openai/gpt-5-mni", "prompt": "x"}))
    assert "unknown model 'openai/gpt-5-mni'" in text
    assert "close matches:" in text
    assert "openai/gpt-5-mini" in text.split("close matches:", 1)[1]
    assert len(chat_requests(fake_opper)) == 1  # a 404 is not retried


async def test_payment_required_mentions_balance_or_budget(client: Client, fake_opper: FakeOpperServer) -> None:
    fake_opper.state.fail(CHAT, 402)
    text = error_text(await client.call_tool("chat", {"model": MODEL, "prompt": "x"}))
    assert "402" in text
    assert "balance" in text.lower() or "budget" in text.lower()
    assert len(chat_requests(fake_opper)) == 1


async def test_rate_limit_is_retried_then_reported(client: Client, fake_opper: FakeOpperServer) -> None:
    fake_opper.state.fail(CHAT, 429, times=None)
    text = error_text(await client.call_tool("chat", {"model": MODEL, "prompt": "x"}))
    assert "429" in text
    assert "after 2 retries" in text
    assert "rate limit" in text.lower()
    assert len(chat_requests(fake_opper)) == 3  # max_retries=2
    fake_opper.state.clear_faults()
    data_of(await client.call_tool("chat", {"model": MODEL, "prompt": "again"}))


async def test_one_rate_limit_is_absorbed_by_a_retry(client: Client, fake_opper: FakeOpperServer) -> None:
    fake_opper.state.fail(CHAT, 429, times=1, retry_after=0)
    data = data_of(await client.call_tool("chat", {"model": MODEL, "prompt": "x"}))
    assert data["text"] == echo("x")
    reqs = chat_requests(fake_opper)
    assert len(reqs) == 2
    # the retry is the same request, trace id included
    assert reqs[0].json == reqs[1].json
    assert reqs[0].headers["x-opper-trace-id"] == reqs[1].headers["x-opper-trace-id"] == data["trace_id"]


async def test_mid_stream_error_keeps_the_partial_text(client: Client, fake_opper: FakeOpperServer) -> None:
    prompt = "alpha beta gamma delta epsilon"
    partial = "".join(split_pieces(echo(prompt))[:2])
    fake_opper.state.stream_error_after(2)
    text = error_text(await client.call_tool("chat", {"model": MODEL, "prompt": prompt}))
    assert "mid-stream" in text
    assert "upstream provider error" in text
    assert f"{len(partial)} characters had arrived" in text
    assert text.endswith(partial)
    assert fake_opper.state.streams[-1].error_injected
    data = data_of(await client.call_tool("chat", {"model": MODEL, "prompt": "next"}))
    assert data["text"] == echo("next")


async def test_dropped_stream_keeps_the_partial_text(client: Client, fake_opper: FakeOpperServer) -> None:
    prompt = "alpha beta gamma delta epsilon"
    partial = "".join(split_pieces(echo(prompt))[:2])
    fake_opper.state.stream_drop_after(2)
    text = error_text(await client.call_tool("chat", {"model": MODEL, "prompt": prompt}))
    assert "cut off" in text
    assert f"{len(partial)} characters had arrived" in text
    assert text.endswith(partial)
    assert fake_opper.state.streams[-1].dropped
    assert len(chat_requests(fake_opper)) == 1  # a POST that may have run is not re-sent
    data = data_of(await client.call_tool("chat", {"model": MODEL, "prompt": "next"}))
    assert data["text"] == echo("next")


async def test_stream_dropped_before_any_text(client: Client, fake_opper: FakeOpperServer) -> None:
    fake_opper.state.stream_drop_after(0)
    text = error_text(await client.call_tool("chat", {"model": MODEL, "prompt": "x"}))
    assert "cut off" in text
    assert "characters had arrived" not in text
    data_of(await client.call_tool("chat", {"model": MODEL, "prompt": "next"}))


async def test_cancellation_closes_the_upstream_stream(client: Client, fake_opper: FakeOpperServer) -> None:
    fake_opper.state.chunk_delay = 0.1
    prompt = " ".join(f"w{i}" for i in range(30))
    total = len(split_pieces(echo(prompt))) + 4  # role chunk, final chunk, usage chunk, [DONE]
    cancelled_at = await cancel_mid_stream(client, fake_opper, "chat", {"model": MODEL, "prompt": prompt})
    record = await fake_opper.state.await_stream_closed(2.0)
    assert record.disconnected_at is not None, record
    assert not record.finished
    assert record.chunks_sent < total
    assert record.disconnected_at - cancelled_at < 1.0  # promptly, not when the stream would have ended
    # the server keeps serving
    fake_opper.state.chunk_delay = 0
    data = data_of(await client.call_tool("chat", {"model": MODEL, "prompt": "after"}))
    assert data["text"] == echo("after")
    assert fake_opper.state.streams[-1].finished


# ---- the key never leaks -------------------------------------------------------------------


async def test_no_result_contains_the_api_key(
    client: Client, fake_opper: FakeOpperServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    texts: list[str] = []

    async def call(args: dict[str, Any]) -> CallToolResult:
        result = await client.call_tool("chat", args)
        texts.append(text_of(result))
        texts.append(json.dumps(result.structured_content))
        return result

    await call({"model": MODEL, "prompt": "hello"})
    await call({"model": "no/such-model", "prompt": "x"})
    fake_opper.state.fail(CHAT, 400, message=f"bad request from key {TEST_KEY}")
    assert (await call({"model": MODEL, "prompt": "x"})).is_error
    fake_opper.state.fail(CHAT, 401, body=json.dumps({"error": f"invalid bearer token {TEST_KEY}"}))
    assert (await call({"model": MODEL, "prompt": "x"})).is_error
    # an error chunk that echoes the key back mid-stream
    monkeypatch.setitem(STREAM_ERROR_CHUNK["error"], "message", f"provider rejected key {TEST_KEY}")
    fake_opper.state.stream_error_after(2)
    result = await call({"model": MODEL, "prompt": "alpha beta gamma"})
    assert result.is_error
    assert "provider rejected key" in text_of(result)
    fake_opper.state.stream_drop_after(1)
    assert (await call({"model": MODEL, "prompt": "alpha beta gamma"})).is_error
    assert len(texts) == 12
    leaked = [t for t in texts if TEST_KEY in t]
    assert not leaked, leaked


async def test_missing_key_is_reported_without_a_request(fake_opper: FakeOpperServer, tmp_path: Path) -> None:
    settings = make_settings(fake_opper.url, tmp_path / "cache", api_key=None)
    async with connect(settings) as c:
        text = error_text(await c.call_tool("chat", {"model": MODEL, "prompt": "x"}))
    assert "OPPER_API_KEY" in text
    assert fake_opper.state.requests == []
