"""Property-based hostile input for every tool, through the in-memory MCP client.

Every call must end as a normal result or an `is_error` result whose text says what went wrong:
never the bare "Error executing tool <name>" (an exception escaped the tool), never an
"internal error in <tool>" (an exception the tool did not expect), never a hang (5 s per call),
and the server keeps answering a plain `list_models` afterwards.

One connected client per test function, held by an anyio blocking portal; hypothesis draws the
arguments and each example is run through the portal.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import HealthCheck, event, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from mcp import Client
from mcp.shared.inbound import MCP_NAME_HEADER, encode_header_value
from mcp_types import CallToolRequest, CallToolRequestParams, CallToolResult

from opper_mcp.settings import Settings
from opper_mcp.tools import traces
from opper_mcp.tools.registry import TOOL_NAMES
from tests.fake_opper import SEED_TRACE_IDS, TEST_KEY, FakeOpperServer
from tests.support import connect, text_of

CALL_TIMEOUT_S = 5.0
# The SDK client refuses to serialise arguments nested deeper than this (pydantic's limit), and the
# JSON parsers of the stdio/HTTP transports reject anything deeper than ~200 levels. Deeper values can
# only come from an in-process caller: they are sent past the client's serialiser (see `_call_raw`).
CLIENT_MAX_DEPTH = 200
CHAT_MODEL = "anthropic/claude-haiku-4-5"
INCLUDE_BLOCKS = ["description", "pricing", "params", "compliance", "aliases", "maker", "benchmarks", "route", "policy"]
PATHOLOGICAL_PATTERNS = [
    "(a+)+$", "(.*)*x", "(?:a|a)*$", "(a|aa)+$", "(x+x+)+y", "(.*a){20}", "(?:.*){100}x", "(.*?){30}z",
    r"(\w+)\1\1\1", r"(a*)*\1", r"^(([a-z])+.)+[A-Z]([a-z])+$", "a{1000000}", "(a{1000000})*",
    "(?:(?:a{1000}){1000}){1000}", "a{4294967294}", "a{4294967295}", "(?x)a{1 000 000}", "(?x)a{1#}\n000000}",
    "(?:" + "(a)" * 160 + "){10000}", "(?:" + "[ab]" * 120 + "){10000}", "[)]{100000}", r"\\{1000000}",
    "[", "(?P<", "*", "a{2,1}", "\\", "(?<=a+)b", "\x00", "(?i)\u0130", "\\p{NotAProperty}", "(?V1)[[a]--[a]]",
]

HEAVY = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large,
         HealthCheck.large_base_example, HealthCheck.filter_too_much]


def _settings(examples: int) -> hsettings:
    return hsettings(max_examples=examples, deadline=None, suppress_health_check=HEAVY, database=None)


# ------------------------------------------------------------------------------------ strategies

# utf-8 codec: no lone surrogates (not encodable, so no client can send them).
any_char = st.characters(codec="utf-8")
control = st.characters(codec="utf-8", categories=["Cc", "Cf", "Zl", "Zp"])
any_text = st.text(any_char, max_size=200)
control_text = st.text(control, min_size=1, max_size=60)

def _repeat(piece: str, n: int) -> str:
    return (piece * (n // len(piece) + 1))[:n]


# The emulator answers chat/roundtable by echoing the prompt one word per stream event, so huge text
# is single-token (one event, megabytes of payload); many-word text stays at a few thousand words.
huge_text = st.one_of(
    st.builds(_repeat, st.sampled_from(["a", "\x00", "é", "😀", "\n", '"', "\\", "\u202e", "\ufeff", "{[1]}"]),
              st.integers(10_000, 200_000)),
    st.builds(_repeat, st.sampled_from(["ab c ", "{\"k\": [1]} ", "\x00 \x01\t"]), st.integers(1_000, 5_000)),
)
numeric_strings = st.one_of(
    st.sampled_from(["0", "-1", "1e309", "-1e309", "NaN", "Infinity", "-0", "3.14", "0x10", "\uff11\uff12", "1_000",
                     " 5 ", "true", "false", "null", "", " ", "[]", "{}"]),
    st.integers().map(str),
    st.floats().map(str),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63),
    st.sampled_from([2**64, -(2**100), 10**30]),
    st.floats(),  # NaN and ±inf included: JSON parsers that accept them exist
    st.text(any_char, max_size=30),
)
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
json_strings = json_values.map(json.dumps)  # objects/arrays encoded as strings


def nest(depth: int, kind: str, leaf: Any) -> Any:
    value = leaf
    for _ in range(depth):
        value = [value] if kind == "list" else {"a": value}
    return value


deep = st.builds(nest, st.integers(500, 700), st.sampled_from(["list", "dict"]), scalars)
moderately_deep = st.builds(nest, st.integers(50, CLIENT_MAX_DEPTH - 20), st.sampled_from(["list", "dict"]), scalars)

strings = st.one_of(any_text, control_text, huge_text, numeric_strings, json_strings)
wrong_types = st.one_of(
    scalars, st.lists(scalars, max_size=5), st.dictionaries(st.text(max_size=10), scalars, max_size=5),
    json_values, moderately_deep, deep,
)
hostile = st.one_of(strings, wrong_types)


def either(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A valid value half the time (so calls reach the deeper code), anything hostile otherwise."""
    return st.one_of(valid, hostile)


extra_keys = st.one_of(st.just({}), st.just({}), st.dictionaries(
    st.sampled_from(["__proto__", "extra", "constructor", "ctx", "_meta", ""]), hostile, max_size=2))


@st.composite
def arguments(draw: st.DrawFn, required: dict[str, st.SearchStrategy[Any]],
              optional: dict[str, st.SearchStrategy[Any]]) -> dict[str, Any]:
    """Valid arguments with odd values; or one argument replaced by something hostile; or every argument
    possibly hostile; or required ones missing. Sometimes with unknown extra keys."""
    keys = [*required, *optional]
    style = draw(st.sampled_from(["valid", "valid", "one-bad", "one-bad", "chaos", "missing"]))
    if style == "chaos":
        args = draw(st.fixed_dictionaries({k: either(v) for k, v in required.items()},
                                          optional={k: either(v) for k, v in optional.items()}))
    elif style == "missing":
        args = draw(st.fixed_dictionaries({}, optional={k: either(v) for k, v in {**required, **optional}.items()}))
    else:
        args = draw(st.fixed_dictionaries(required, optional=optional))
        if style == "one-bad" and keys:
            args[draw(st.sampled_from(keys))] = draw(hostile)
    return {**draw(extra_keys), **args}


def depth_of(value: Any) -> int:
    depth = 0
    stack = [(value, 1)]
    while stack:
        item, d = stack.pop()
        depth = max(depth, d)
        if isinstance(item, dict):
            stack.extend((v, d + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, d + 1) for v in item)
    return depth


# ------------------------------------------------------------------------------------ plumbing


@pytest.fixture
def portal_client(settings: Settings) -> Iterator[tuple[BlockingPortal, Client]]:
    """One connected in-memory client for the whole test function (all hypothesis examples), every tool on."""
    settings = settings.model_copy(update={"tools": TOOL_NAMES})
    with start_blocking_portal("asyncio") as portal, portal.wrap_async_context_manager(connect(settings)) as client:
        yield portal, client


async def _call_raw(client: Client, name: str, arguments: dict[str, Any]) -> CallToolResult:
    """tools/call with `arguments` handed to the dispatcher as they are (past the client's serialiser,
    which stops at ~250 levels). Mirrors `ClientSession.send_request` for tools/call."""
    session = client.session
    data = CallToolRequest(params=CallToolRequestParams(name=name, arguments={})).model_dump(
        by_alias=True, mode="json", exclude_none=True)
    opts: dict[str, Any] = {}
    session._stamp(data, opts)  # type: ignore[arg-type]
    opts.setdefault("headers", {})[MCP_NAME_HEADER] = encode_header_value(name)
    data["params"]["arguments"] = arguments
    raw = await session._dispatcher.send_raw_request("tools/call", data["params"], opts)  # type: ignore[arg-type]
    return CallToolResult.model_validate(raw)


async def _call(client: Client, name: str, args: dict[str, Any]) -> tuple[CallToolResult, float]:
    started = time.monotonic()
    with anyio.fail_after(CALL_TIMEOUT_S):
        if depth_of(args) > CLIENT_MAX_DEPTH:
            result = await _call_raw(client, name, args)
        else:
            result = await client.call_tool(name, args)
    return result, time.monotonic() - started


BARE = re.compile(r"Error executing tool [\w-]+:?\s*")


def check(result: CallToolResult, name: str) -> str:
    """The result is usable: data, or an error that says something. Returns the text."""
    assert isinstance(result, CallToolResult), type(result)
    text = text_of(result)
    assert TEST_KEY not in text
    if result.is_error:
        assert text.strip(), "is_error with no message"
        assert not BARE.fullmatch(text.strip()), f"bare error (an exception escaped the tool): {text!r}"
        assert "internal error in" not in text, f"unexpected exception in {name}: {text[:500]}"
        return text
    assert result.structured_content is not None, text[:300]
    assert json.loads(text) == result.structured_content
    return text


def still_serving(portal: BlockingPortal, client: Client) -> None:
    result, _ = portal.call(_call, client, "list_models", {"query": "claude", "limit": 3})
    check(result, "list_models")
    assert not result.is_error and result.structured_content and result.structured_content["models"], text_of(result)


def run_one(portal_client: tuple[BlockingPortal, Client], name: str, args: dict[str, Any]) -> CallToolResult:
    portal, client = portal_client
    try:
        result, _ = portal.call(_call, client, name, args)
    except TimeoutError:
        pytest.fail(f"{name} did not answer within {CALL_TIMEOUT_S} s for {_short(args)}")
    text = check(result, name)
    event("ok" if not result.is_error else "rejected arguments" if "validation error" in text else "tool error")
    still_serving(portal, client)
    return result  # type: ignore[no-any-return]


def _short(args: dict[str, Any]) -> str:
    text = repr(args)
    return text if len(text) < 400 else text[:400] + f"… ({len(text)} chars)"


# ------------------------------------------------------------------------------------ valid pieces

models = st.sampled_from([CHAT_MODEL, "openai/gpt-5-mini", "gemini/gemini-2.5-flash", "nope/unknown-model", "gpt"])
valid_schemas = st.sampled_from([
    {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
    {"type": "array", "items": {"type": "integer"}}, {}, {"type": "string", "maxLength": 3},
    {"title": "x\x00y" * 50, "type": "string"}, {"$ref": "#/definitions/missing"}, {"$ref": "#"},
    {"$schema": 5}, {"$dynamicRef": "#meta"}, {"type": "string", "pattern": "(a+)+$"},
])
schemas = st.one_of(
    valid_schemas, valid_schemas, st.just({"type": "nonsense"}),
    st.dictionaries(st.sampled_from(["type", "properties", "items", "$ref", "enum", "anyOf", "title"]), json_values,
                    max_size=4),
)
message = st.fixed_dictionaries({
    "role": st.sampled_from(["system", "user", "assistant", "tool"]),
    "content": st.one_of(strings, st.lists(st.fixed_dictionaries({"type": st.just("text"), "text": any_text}),
                                           max_size=3)),
})
conversation_ids = st.one_of(st.none(), st.none(), st.none(), st.text(
    st.sampled_from("abcXYZ019_-"), min_size=8, max_size=64).map(lambda s: "conv_" + s))
web_search_options = st.one_of(st.booleans(), st.fixed_dictionaries({}, optional={
    "engine": st.sampled_from(["auto", "opper", "jina", "exa", "native"]), "max_results": st.integers(1, 20),
    "max_uses": st.integers(1, 10), "allowed_domains": st.lists(any_text, max_size=3),
    "freshness": st.sampled_from("dwmy"),
}))
panel = st.lists(st.one_of(models, st.fixed_dictionaries({"name": models}, optional={
    "temperature": st.floats(0, 2), "max_tokens": st.integers(1, 10),
    "reasoning": st.sampled_from(["low", "medium", "high", "max"])})), min_size=2, max_size=10)
ascii_names = st.text(st.characters(min_codepoint=32, max_codepoint=126), min_size=1, max_size=128)
trace_ids = st.sampled_from(SEED_TRACE_IDS)
span_ids = st.sampled_from(["a1000000-0000-4000-8000-000000000001", "c3000000-0000-4000-8000-000000000001", "nope"])
kb_names = st.sampled_from(["product-docs", "support-faq", "Support-FAQ", "product-doc", ".", "..", "a/b", "%00",
                            "00000000-0000-4000-8000-00005eed0000", "00000000-0000-4000-8000-0000000000ff"])
kb_filters = st.dictionaries(st.sampled_from(["lang", "section", "version"]), st.one_of(
    scalars, st.lists(scalars, max_size=3), st.fixed_dictionaries({}, optional={
        op: scalars for op in ("=", "!=", ">", "<", "in", "~")})), max_size=3)
dates = st.one_of(
    st.dates().map(str), st.datetimes().map(lambda d: d.isoformat() + "Z"),
    st.sampled_from(["2026-12-01", "2026-13-01", "9999-12-31", "0001-01-01", "2026-12-01T25:00:00Z", "today",
                     "2026-12-01T00:00:00+14:00", "2026-02-29", "2024-02-29", ""]), any_text,
)
regexish = st.text(st.sampled_from("ab.()*+?{}[]|^$\\1,:-0"), min_size=1, max_size=40)

TOOLS: dict[str, tuple[dict[str, st.SearchStrategy[Any]], dict[str, st.SearchStrategy[Any]]]] = {
    "list_models": ({}, {
        "query": any_text, "type": st.sampled_from(["llm", "embedding", "image", "LLM"]),
        "provider": st.sampled_from(["openai", "anthropic", "gemini"]),
        "capability": st.lists(st.sampled_from(["vision", "tools", "json", "reasoning"]), max_size=10),
        "include": st.lists(st.sampled_from(INCLUDE_BLOCKS), max_size=9), "limit": st.integers(1, 200),
        "offset": st.integers(0, 10_000),
    }),
    "chat": ({"model": models, "prompt": strings}, {
        "system": strings, "temperature": st.floats(0, 2), "max_tokens": st.integers(1, 200_000),
        "reasoning_effort": st.sampled_from(["minimal", "low", "medium", "high"]), "json_schema": schemas,
        "web_search": web_search_options, "conversation_id": conversation_ids, "name": ascii_names,
    }),
    "roundtable": ({"input": strings, "models": panel}, {
        "mode": st.sampled_from(["summary", "fast", "multiple_choice"]),
        "choices": st.lists(any_text, min_size=2, max_size=20), "instructions": strings, "summary_model": models,
        "output_schema": schemas, "timeout_ms": st.integers(1_000, 300_000),
    }),
    # Always a dry run: the review gathers and estimates (files, diff refs, panel checks) but asks no model.
    "review": ({"dry_run": st.just(True)}, {
        "models": st.one_of(st.lists(models, max_size=8), any_text), "focus": strings,
        "format": st.sampled_from(["findings", "sarif", "html"]), "max_cost_usd": st.floats(-1, 100),
        "review_id": st.one_of(st.sampled_from(["rev_0123456789abcdef", ""]), any_text),
        "offset": st.integers(0, 1_000), "files": st.lists(st.one_of(
            st.sampled_from(["README.md", "opper_mcp/*.py", "../../etc/passwd", "/etc/hosts", "nope.py:1-2"]),
            any_text), max_size=4),
        "diff": st.one_of(st.sampled_from(["working", "staged", "HEAD~1..HEAD", "--output=/tmp/x", "-p"]), any_text),
    }),
    "conversations": ({}, {"delete": st.one_of(conversation_ids, any_text), "limit": st.integers(1, 100)}),
    "web_search": ({"query": strings}, {"max_results": st.integers(1, 20)}),
    "web_fetch": ({"url": st.one_of(
        st.sampled_from(["https://example.com/a", "https://example.com/long", "http://x.invalid/", "HTTPS://EXAMPLE.COM"]),
        any_text.map(lambda s: "https://example.com/" + s))}, {
        "start_index": st.integers(0, 30_000), "max_length": st.integers(100, 40_000),
    }),
    "grep_spec": ({"pattern": st.one_of(st.sampled_from(PATHOLOGICAL_PATTERNS), regexish, any_text)}, {
        "ignore_case": st.booleans(), "context": st.integers(0, 10), "max_matches": st.integers(1, 100),
    }),
    "read_spec": ({"target": st.one_of(st.sampled_from(
        ["listModels", "GET /v3/models", "/v3/models", "ChatRequest", "POST /v3/compat/chat/completions", "Span",
         "get /V3/MODELS", "#/components/schemas/ChatRequest"]), any_text)}, {}),
    "get_trace": ({"trace_id": trace_ids}, {
        "span_id": span_ids, "field": st.sampled_from(["input", "output", "both"]),
        "offset": st.integers(0, 20_000), "io_chars": st.integers(0, 4_000),
    }),
    "list_traces": ({}, {"name": any_text, "limit": st.integers(1, 100), "offset": st.integers(0, 1_000)}),
    "search_knowledge": ({}, {
        "knowledge_base": st.one_of(kb_names, any_text), "query": strings, "top_k": st.integers(1, 50),
        "filters": st.one_of(kb_filters, st.dictionaries(any_text, json_values, max_size=3)),
        "key": st.one_of(st.sampled_from(["billing/refunds", "deploys", "../..", "%2F", "nope"]), any_text),
    }),
    "add_knowledge": ({"knowledge_base": st.one_of(kb_names, any_text), "content": strings}, {
        "key": any_text, "metadata": st.dictionaries(any_text, json_values, max_size=4),
    }),
    "get_usage": ({}, {
        "from_date": dates, "to_date": dates, "granularity": st.sampled_from(["hour", "day", "month", "week"]),
        "group_by": st.one_of(st.lists(st.sampled_from(["model", "name", "project.name", "x"]), max_size=3),
                              any_text),
    }),
}


def tool_args(name: str) -> st.SearchStrategy[dict[str, Any]]:
    required, optional = TOOLS[name]
    if name == "chat":  # prompt or messages: exactly one of them is valid
        with_messages = {"model": required["model"], "messages": st.lists(message, min_size=1, max_size=4)}
        return st.one_of(arguments(required, optional), arguments(with_messages, optional))
    return arguments(required, optional)


# ------------------------------------------------------------------------------------ the tests


def test_every_tool_is_covered(portal_client: tuple[BlockingPortal, Client]) -> None:
    portal, client = portal_client
    listed = {t.name for t in portal.call(client.list_tools).tools}
    assert listed == set(TOOLS), listed ^ set(TOOLS)


@given(args=tool_args("list_models"))
@_settings(50)
def test_list_models_hostile(portal_client: tuple[BlockingPortal, Client], args: dict[str, Any]) -> None:
    run_one(portal_client, "list_models", args)


@given(args=tool_args("chat"))
@_settings(80)
def test_chat_hostile(portal_client: tuple[BlockingPortal, Client], args: dict[str, Any]) -> None:
    run_one(portal_client, "chat", args)


@given(args=tool_args("roundtable"))
@_settings(60)
def test_roundtable_hostile(portal_client: tuple[BlockingPortal, Client], args: dict[str, Any]) -> None:
    run_one(portal_client, "roundtable", args)


@given(args=tool_args("review"))
@_settings(40)
def test_review_hostile(portal_client: tuple[BlockingPortal, Client], args: dict[str, Any]) -> None:
    run_one(portal_client, "review", args)


@given(args=tool_args("web_search"))
@_settings(40)
def test_web_search_hostile(portal_client: tuple[BlockingPortal, Client], args: dict[str, Any]) -> None:
    run_one(portal_client, "web_search", args)


@given(args=tool_args("web_fetch"))
@_settings(50)
def test_web_fetch_hostile(portal_client: tuple[BlockingPortal, Client], args: dict[str, Any]) -> None:
    run_one(portal_client, "web_fetch", args)


@given(args=tool_args("grep_spec"))
@_settings(80)
def test_grep_spec_hostile(portal_client: tuple[BlockingPortal, Client], args: dict[str, Any]) -> None:
    run_one(portal_client, "grep_spec", args)


@given(args=tool_args("read_spec"))
@_settings(50)
def test_read_spec_hostile(portal_client: tuple[BlockingPortal, Client], args: dict[str, Any]) -> None:
    run_one(portal_client, "read_spec", args)


@pytest.fixture
def no_trace_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    """A well-formed but unknown trace id is retried for ~3 s (indexing delay): keep the retries, drop the waits."""
    monkeypatch.setattr(traces, "NOT_FOUND_RETRY_DELAYS_S", (0.0, 0.0, 0.0))


@given(args=tool_args("get_trace"))
@_settings(60)
def test_get_trace_hostile(no_trace_waits: None, portal_client: tuple[BlockingPortal, Client],
                           args: dict[str, Any]) -> None:
    run_one(portal_client, "get_trace", args)


@given(args=tool_args("list_traces"))
@_settings(40)
def test_list_traces_hostile(portal_client: tuple[BlockingPortal, Client], args: dict[str, Any]) -> None:
    run_one(portal_client, "list_traces", args)


@given(args=tool_args("search_knowledge"))
@_settings(60)
def test_search_knowledge_hostile(portal_client: tuple[BlockingPortal, Client], args: dict[str, Any]) -> None:
    run_one(portal_client, "search_knowledge", args)


@given(args=tool_args("add_knowledge"))
@_settings(50)
def test_add_knowledge_hostile(portal_client: tuple[BlockingPortal, Client], args: dict[str, Any]) -> None:
    run_one(portal_client, "add_knowledge", args)


@given(args=tool_args("get_usage"))
@_settings(60)
def test_get_usage_hostile(portal_client: tuple[BlockingPortal, Client], args: dict[str, Any]) -> None:
    run_one(portal_client, "get_usage", args)


# ------------------------------------------------------------------------------------ explicit cases


@pytest.mark.parametrize("pattern", PATHOLOGICAL_PATTERNS)
def test_pathological_patterns_answer_quickly(portal_client: tuple[BlockingPortal, Client], pattern: str) -> None:
    portal, client = portal_client
    result, took = portal.call(_call, client, "grep_spec", {"pattern": pattern, "context": 10, "max_matches": 100})
    text = check(result, "grep_spec")
    assert took < 3.0, f"{pattern!r} took {took:.1f} s (the match timeout is 1 s)"
    if re.search(r"\d{4,}", pattern) or "(?x)" in pattern:
        # Huge repeat counts are refused before compiling (compiling alone took minutes and gigabytes).
        assert result.is_error and ("repeats too much" in text or "verbose" in text), text[:300]
        assert took < 1.0, f"{pattern!r} was refused only after {took:.1f} s"
    still_serving(portal, client)


@pytest.mark.parametrize("tool", sorted(TOOLS))
@pytest.mark.parametrize("kind", ["list", "dict"])
def test_every_argument_deeply_nested(portal_client: tuple[BlockingPortal, Client], tool: str, kind: str) -> None:
    """Every parameter of every tool at once, 600 levels deep (past what the client would send)."""
    portal, client = portal_client
    required, optional = TOOLS[tool]
    args = {key: nest(600, kind, "x") for key in [*required, *optional]}
    result, _ = portal.call(_call, client, tool, args)
    check(result, tool)
    assert result.is_error, "600-level structures are not valid values for every parameter"
    still_serving(portal, client)


@pytest.mark.parametrize("name", ["bad\nname", "tab\there", "nul\x00", "ünïcode ☃", "\x7f", "a" * 50 + "\r" + "b", " "])
def test_chat_trace_name_is_checked_before_it_becomes_a_header(
        portal_client: tuple[BlockingPortal, Client], name: str) -> None:
    portal, client = portal_client
    result, _ = portal.call(_call, client, "chat", {"model": CHAT_MODEL, "prompt": "hi", "name": name})
    text = check(result, "chat")
    assert result.is_error and "name must be printable ASCII" in text, text[:300]


@pytest.mark.parametrize("name", [" padded", "padded ", "inner  spaces", "x"])
def test_chat_trace_name_whitespace_is_not_a_transport_error(
        portal_client: tuple[BlockingPortal, Client], name: str, fake_opper: FakeOpperServer) -> None:
    portal, client = portal_client
    result, _ = portal.call(_call, client, "chat", {"model": CHAT_MODEL, "prompt": "hi", "name": name})
    assert not check(result, "chat").startswith("Error"), text_of(result)[:300]
    assert fake_opper.state.last_request("/v3/compat").headers["x-opper-name"] == name.strip()


NASTY_SCHEMAS = [
    {"$ref": "#"}, {"allOf": [{"$ref": "#"}]}, {"$defs": {"a": {"$ref": "#/$defs/a"}}, "$ref": "#/$defs/a"},
    {"$ref": "#/definitions/missing"}, {"type": "object", "properties": {"a": {"$ref": "#/nope"}}},
    {"$id": "urn:x", "$ref": "urn:y"}, {"$dynamicRef": "#meta"}, {"$schema": 5}, {"$schema": None},
    {"$schema": "http://example.com/unknown-dialect"}, {"type": "string", "pattern": "(a+)+$"},
    {"type": "string", "pattern": "["}, {"type": 5}, {"enum": "nope"}, {"required": "a"},
]


@pytest.mark.parametrize("schema", NASTY_SCHEMAS, ids=lambda s: json.dumps(s)[:40])
def test_chat_nasty_json_schemas_fail_cleanly(portal_client: tuple[BlockingPortal, Client],
                                              schema: dict[str, Any]) -> None:
    portal, client = portal_client
    result, took = portal.call(_call, client, "chat", {"model": CHAT_MODEL, "prompt": "hi", "json_schema": schema})
    check(result, "chat")
    assert took < 3.0


def test_json_schema_remote_ref_is_never_fetched(portal_client: tuple[BlockingPortal, Client]) -> None:
    """A $ref to a URL must not make the server fetch it (server-side request forgery, and a blocking
    urllib call on the event loop)."""
    portal, client = portal_client
    with FakeOpperServer() as elsewhere:
        for ref in (f"{elsewhere.url}/v3/openapi.json", f"{elsewhere.url}/health#/x"):
            result, _ = portal.call(_call, client, "chat", {
                "model": CHAT_MODEL, "prompt": "hi",
                "json_schema": {"type": "object", "properties": {"a": {"$ref": ref}}, "required": ["a"]}})
            text = check(result, "chat")
            assert result.is_error and "cannot check the answer" in text, text[:300]
        assert elsewhere.state.requests == [], [(r.method, r.path, r.headers) for r in elsewhere.state.requests]


TEXT_PARAMETERS = [("chat", "prompt", {"model": CHAT_MODEL}), ("chat", "system", {"model": CHAT_MODEL, "prompt": "hi"}),
                   ("list_models", "query", {}), ("list_traces", "name", {}),
                   ("roundtable", "instructions", {"input": "q", "models": [CHAT_MODEL, "openai/gpt-5-mini"]})]


@pytest.mark.parametrize(("tool", "param", "base"), TEXT_PARAMETERS, ids=[f"{t}.{p}" for t, p, _ in TEXT_PARAMETERS])
def test_json_looking_text_is_kept_as_text(portal_client: tuple[BlockingPortal, Client], tool: str, param: str,
                                           base: dict[str, Any]) -> None:
    portal, client = portal_client
    for text in ('{"name": "Ada", "born": 1815}', '["a", "b"]'):
        result, _ = portal.call(_call, client, tool, {**base, param: text})
        check(result, tool)
        assert not result.is_error, f"{tool}({param}={text!r}) was rejected: {text_of(result)[:300]}"
