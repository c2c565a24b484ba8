"""chat: one call to any Opper model, streamed upstream, with structured output, web search and threads."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import httpx2
import jsonschema
from mcp.server.mcpserver import Resolve
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult, ListRootsResult
from pydantic import BaseModel, ConfigDict, Field
from referencing import Registry
from referencing.exceptions import Unresolvable

from opper_mcp.opper.catalog import close_matches
from opper_mcp.opper.client import OpperClient
from opper_mcp.opper.errors import NotFoundError, OpperError, StreamError
from opper_mcp.opper.schemas import Usage
from opper_mcp.ops import ledger
from opper_mcp.runtime import attach
from opper_mcp.runtime.args import CommaList
from opper_mcp.runtime.attach import AttachedItem, Collected, SkippedItem
from opper_mcp.runtime.presend import Ask, Plan, message_tokens, prepare
from opper_mcp.runtime.progress import Progress
from opper_mcp.runtime.result import respond
from opper_mcp.runtime.state import ToolContext, app_state, caller, opper_for, remember_traces, trace_name
from opper_mcp.store import Message, UnknownConversation
from opper_mcp.store.threads import save_turns

CHAT_PATH = "/v3/compat/chat/completions"
PARTIAL_CHARS = 4_000
FILES_DOC = "Paths, globs, dirs or path:10-40"
DIFF_DOC = "git changes: working, staged or a ref/range"
MAX_COST_DOC = "Refuse above this cost estimate"
DRY_RUN_DOC = "Estimate; send nothing"


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] = Field()


class WebSearchOptions(BaseModel):
    engine: Literal["auto", "native", "opper", "jina", "exa"] = "auto"
    max_results: Annotated[int | None, Field(ge=1, le=20)] = None
    max_uses: Annotated[int | None, Field(ge=1, le=10)] = None
    allowed_domains: list[str] | None = None
    excluded_domains: list[str] | None = None
    freshness: Annotated[str | None, Field(description="d, w, m or y", pattern="^[dwmy]$")] = None


class TokenUsage(BaseModel):
    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None
    reasoning_tokens: int | None = None


class Citation(BaseModel):
    url: str
    title: str | None = None


class ChatResult(BaseModel):
    text: str
    data: Any = Field(None, description="The parsed JSON when json_schema was given")
    model: str
    served_model: str | None = None
    finish_reason: str | None = None
    usage: TokenUsage | None = None
    cost_usd: float | None = None
    est_cost_usd: float | None = None
    est_input_tokens: int | None = None
    trace_id: str | None = Field(None, description="Pass to get_trace")
    citations: list[Citation] | None = None
    conversation_id: str | None = Field(None, description="Pass back to continue this conversation")
    attached: list[AttachedItem] | None = None
    skipped: list[SkippedItem] | None = None
    note: str | None = None
    spend: str | None = None


# ---- pure parts ---------------------------------------------------------------------------


def web_search_tool(option: bool | WebSearchOptions) -> dict[str, Any] | None:
    if option is False:
        return None
    opts = WebSearchOptions() if option is True else option
    assert isinstance(opts, WebSearchOptions)
    return {"type": "opper:web_search", **opts.model_dump(exclude_none=True)}


def response_format(schema: dict[str, Any]) -> dict[str, Any]:
    title = str(schema.get("title") or "response")
    name = re.sub(r"[^A-Za-z0-9_-]", "_", title)[:64] or "response"
    return {"type": "json_schema", "json_schema": {"name": name, "schema": schema}}


def _validator_class(schema: dict[str, Any]) -> Any:
    """The dialect `$schema` names; an unknown or missing one means draft 2020-12 (what OpenAI-style APIs use)."""
    return jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)


def check_schema(schema: dict[str, Any]) -> None:
    if not isinstance(schema.get("$schema", ""), str):
        raise ToolError("json_schema is not a valid JSON Schema: $schema must be a dialect URI string")
    try:
        _validator_class(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise ToolError(f"json_schema is not a valid JSON Schema: {exc.message} (at {exc.json_path})") from exc
    except RecursionError as exc:
        raise ToolError("json_schema is nested too deeply to check") from exc


def parse_structured(text: str, schema: dict[str, Any]) -> Any:
    """The model's JSON answer, validated; failures name the path and carry the raw text."""
    raw = text.strip()
    fenced = re.fullmatch(r"```(?:json)?\s*(.*?)\s*```", raw, re.S)
    try:
        data = json.loads(fenced.group(1) if fenced else raw)
    except ValueError as exc:
        raise ToolError(f"the model's answer is not JSON ({exc}); raw text: {raw[:PARTIAL_CHARS]}") from exc
    # An empty registry: a $ref is resolved inside the schema only, never fetched from the network.
    validator = _validator_class(schema)(schema, registry=Registry())
    try:
        error = jsonschema.exceptions.best_match(validator.iter_errors(data))
    except (Unresolvable, RecursionError) as exc:
        problem = str(exc) if isinstance(exc, Unresolvable) else "a $ref cycle"
        raise ToolError(
            f"json_schema cannot check the answer ({problem}); use only $refs into the schema itself, "
            f"without cycles; raw text: {raw[:PARTIAL_CHARS]}"
        ) from exc
    if error is not None:
        raise ToolError(
            f"the model's JSON does not match json_schema at {error.json_path}: {error.message}; "
            f"raw text: {raw[:PARTIAL_CHARS]}"
        )
    return data


@dataclass
class ChatAccumulator:
    """Folds stream chunks (or one whole completion) into the final answer."""

    parts: list[str] = field(default_factory=list)
    chars: int = 0
    chunks: int = 0
    finish_reason: str | None = None
    usage: Usage | None = None
    cost: float | None = None
    model: str | None = None
    citations: dict[str, Citation] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return "".join(self.parts)

    def feed(self, event: dict[str, Any]) -> None:
        error = event.get("error")
        if error:
            message = error.get("message") if isinstance(error, dict) else str(error)
            raise StreamError(f"Opper reported an error mid-stream: {message}", partial=self.text)
        self.model = event.get("model") or self.model
        if isinstance(event.get("cost"), int | float):
            self.cost = float(event["cost"])
        if isinstance(event.get("usage"), dict):
            self.usage = Usage.model_validate(event["usage"])
        for choice in event.get("choices") or []:
            if not isinstance(choice, dict):
                continue
            body = choice.get("delta") or choice.get("message") or {}
            content = body.get("content")
            if isinstance(content, str) and content:
                self.parts.append(content)
                self.chars += len(content)
                self.chunks += 1
            for note in body.get("annotations") or []:
                cite = note.get("url_citation") if isinstance(note, dict) else None
                if isinstance(cite, dict) and cite.get("url"):
                    self.citations.setdefault(cite["url"], Citation(url=cite["url"], title=cite.get("title")))
            self.finish_reason = choice.get("finish_reason") or self.finish_reason

    def cost_usd(self, header: str | None) -> float | None:
        """X-Opper-Cost header → usage.opper.cost.total → usage.cost → top-level cost."""
        if header:
            try:
                return float(header)
            except ValueError:
                pass
        if self.usage is not None:
            for value in (self.usage.opper_cost(), self.usage.cost):
                if value is not None:
                    return value
        return self.cost

    def token_usage(self) -> TokenUsage | None:
        if self.usage is None:
            return None
        details = (self.usage.model_extra or {}).get("completion_tokens_details") or {}
        return TokenUsage(
            input_tokens=self.usage.prompt_tokens,
            output_tokens=self.usage.completion_tokens,
            total_tokens=self.usage.total_tokens,
            reasoning_tokens=details.get("reasoning_tokens") or None,
        )


def new_turns(prompt: str, messages: list[ChatMessage] | None) -> list[Message]:
    new: list[Message] = [m.model_dump(exclude_none=True) for m in messages or []]
    if prompt:
        new.append({"role": "user", "content": prompt})
    return new


def build_messages(
    history: list[Message], system: str, prompt: str, messages: list[ChatMessage] | None
) -> list[Message]:
    """History plus the new turns; a new system prompt replaces the old one ("" means none given)."""
    new = new_turns(prompt, messages)
    base = [m for m in history if not (system and m.get("role") == "system")]
    if system:
        base.insert(0, {"role": "system", "content": system})
    return base + new


# ---- the tool -----------------------------------------------------------------------------


async def _unknown_model_error(ctx: ToolContext, opper: OpperClient, model: str, exc: NotFoundError) -> ToolError:
    try:
        catalog = await app_state(ctx).catalog.models(opper)
        hints = close_matches(model, catalog)
    except OpperError:
        hints = []
    tail = f" — close matches: {', '.join(hints)}" if hints else " — find ids with list_models"
    return ToolError(f"unknown model {model!r} (Opper: {exc.message}){tail}")


async def chat(
    ctx: ToolContext,
    model: Annotated[str, Field(description="provider/model id, pool or alias", min_length=1,
                                max_length=200)],
    prompt: Annotated[str, Field(description="User message")] = "",
    messages: Annotated[list[ChatMessage] | None, Field(description="Instead of prompt",
                                                        max_length=500)] = None,
    system: Annotated[str, Field(description="System prompt")] = "",
    temperature: Annotated[float | None, Field(ge=0, le=2)] = None,
    max_tokens: Annotated[int | None, Field(ge=1, le=200_000)] = None,
    reasoning_effort: Literal["minimal", "low", "medium", "high"] | None = None,
    json_schema: Annotated[dict[str, Any] | None, Field(description="Answer schema; "
                                                        "see `data`")] = None,
    web_search: Annotated[bool | WebSearchOptions, Field(description="Model may search the "
                                                         "web")] = False,
    conversation_id: Annotated[str | None, Field(description="Continue an earlier chat",
                                                 pattern=r"^conv_[A-Za-z0-9_-]{8,64}$")] = None,
    name: Annotated[str, Field(description="Trace name", min_length=1, max_length=128)] = "opper-mcp/chat",
    files: Annotated[list[str] | None, Field(description=FILES_DOC, max_length=200), CommaList] = None,
    diff: Annotated[str, Field(description=DIFF_DOC, max_length=200)] = "",
    max_cost_usd: Annotated[float | None, Field(gt=0, description=MAX_COST_DOC)] = None,
    dry_run: Annotated[bool, Field(description=DRY_RUN_DOC)] = False,
    roots: Annotated[ListRootsResult | list[str] | None, Resolve(attach.client_roots)] = None,
) -> Annotated[CallToolResult, ChatResult]:
    """Ask any Opper model."""
    # Text parameters are plain `str` ("" = not given): the SDK would JSON-decode a `str | None`
    # argument, so a prompt that happens to be JSON would arrive as an object.
    if (prompt != "") == (messages is not None):
        raise ToolError("give exactly one of prompt or messages")
    if prompt and not prompt.strip():
        raise ToolError("prompt is empty")
    name = name.strip()
    if not (name and name.isascii() and name.isprintable()):
        raise ToolError(f"name must be printable ASCII (it goes upstream as an HTTP header), got {name[:100]!r}")
    if json_schema is not None:
        check_schema(json_schema)
    state = app_state(ctx)
    opper = opper_for(ctx)
    store = state.conversations
    who = caller(ctx)
    owner = who.owner
    history: list[Message] = []
    if conversation_id is not None:
        try:
            history = await store.load(conversation_id, owner)
        except UnknownConversation:
            raise ToolError(
                f"unknown conversation_id {conversation_id!r} (expired, deleted, or kept in another store); "
                "omit it to start a new conversation"
            ) from None
    plain = build_messages(history, system, prompt, messages)
    n_new = len(messages or []) + bool(prompt)

    def plan(collected: Collected | None) -> Plan[list[Message]]:
        # The attached context's own estimate (PDF pages, images) is added to the turns without it.
        tokens = message_tokens(plain) + (collected.est_tokens if collected is not None else 0)
        payload = plain if collected is None else with_context(plain, n_new, collected)
        return Plan(payload, [Ask(model, tokens, max_tokens)])

    prepared = await prepare(ctx, files, diff, roots, plan, max_cost_usd=max_cost_usd, dry_run=dry_run)
    if prepared.dry_run:
        return respond(prepared.report(ChatResult(text="", model=model, note="dry run: nothing was sent")))
    request_messages = prepared.payload
    body = request_body(model, request_messages, json_schema, web_search,
                        temperature=temperature, max_tokens=max_tokens, reasoning_effort=reasoning_effort)
    trace_id = str(uuid.uuid4())
    headers = {"X-Opper-Trace-Id": trace_id, "X-Opper-Name": trace_name(who, name)}
    try:
        acc, response_headers = await stream_answer(ctx, opper, body, headers)
    except NotFoundError as exc:
        raise await _unknown_model_error(ctx, opper, model, exc) from exc

    text = acc.text
    data = parse_structured(text, json_schema) if json_schema is not None else None
    # The new turns as sent (attached context included): a continuation sees what this answer saw.
    turns = [*request_messages[len(request_messages) - n_new:], {"role": "assistant", "content": text}]
    conversation_id, note = await save_turns(store, owner, conversation_id, model, system, turns)
    result = ChatResult(
        text=text,
        data=data,
        model=model,
        served_model=response_headers.get("x-opper-served-model"),
        finish_reason=acc.finish_reason,
        usage=acc.token_usage(),
        cost_usd=acc.cost_usd(response_headers.get("x-opper-cost")),
        trace_id=response_headers.get("x-opper-trace-id") or trace_id,
        citations=list(acc.citations.values()) or None,
        conversation_id=conversation_id,
        note=note,
    )
    remember_traces(ctx, opper, trace_id, result.trace_id)
    ledger.charged(model, result.cost_usd)
    ledger.traced(result.trace_id)
    prepared.report(result)
    return respond(result, shrinker(result))


# ---- code context (files, diff), estimates and dry runs ------------------------------------


def with_context(messages: list[Message], new: int, collected: Collected) -> list[Message]:
    """The attached parts go into the last new user turn, before its text: stored with it, seen on continuation."""
    for index in range(len(messages) - 1, len(messages) - new - 1, -1):
        message = messages[index]
        if message.get("role") != "user":
            continue
        content = message.get("content")
        own = content if isinstance(content, list) else [{"type": "text", "text": content or ""}]
        return [*messages[:index], {**message, "content": [*collected.parts, *own]}, *messages[index + 1:]]
    raise ToolError("files and diff attach to a user turn: give prompt, or end messages with a user message")


def shrinker(result: ChatResult) -> Callable[[], bool]:
    """Shrinks an oversized answer step by step; the whole answer stays in the conversation."""
    full = len(result.text)
    base = f"{result.note}; " if result.note else ""

    def shrink() -> bool:
        if result.data is not None and result.text:
            result.text = ""
            result.note = base + "text left out to fit the output budget: `data` holds the answer"
            return True
        if result.data is not None or len(result.text) <= 100:
            return False
        result.text = result.text[: len(result.text) * 9 // 10]
        result.note = base + (f"answer cut at {len(result.text)} of {full} characters to fit the output budget; the "
                       "whole answer is kept in the conversation: continue it (conversation_id) for the rest")
        return True

    return shrink


def request_body(
    model: str,
    messages: list[Message],
    json_schema: dict[str, Any] | None,
    web_search: bool | WebSearchOptions,
    **options: Any,
) -> dict[str, Any]:
    """The streamed chat-completions request; options left at None are not sent."""
    body: dict[str, Any] = {
        "model": model,
        "messages": messages,
        "stream": True,
        "stream_options": {"include_usage": True},
        **{key: value for key, value in options.items() if value is not None},
    }
    if json_schema is not None:
        body["response_format"] = response_format(json_schema)
    tool = web_search_tool(web_search)
    if tool is not None:
        body["tools"] = [tool]
    return body


async def stream_completion(
    opper: OpperClient, body: dict[str, Any], headers: dict[str, str], acc: ChatAccumulator,
    on_open: Callable[[], Awaitable[None]] | None = None, on_text: Callable[[int], Awaitable[None]] | None = None,
) -> httpx2.Headers:
    """Stream one chat completion into `acc`: `on_open()` once Opper has accepted the request, `on_text(chars
    before)` after each chunk that brought text."""
    async with opper.stream(CHAT_PATH, body, headers=headers) as stream:
        if on_open is not None:
            await on_open()
        async for event in stream.events():
            before = acc.chars
            acc.feed(event)
            if on_text is not None and acc.chars != before:
                await on_text(before)
        return stream.headers


async def stream_answer(
    ctx: ToolContext, opper: OpperClient, body: dict[str, Any], headers: dict[str, str]
) -> tuple[ChatAccumulator, httpx2.Headers]:
    """Stream the answer with progress; a failure part-way keeps the text received in its message."""
    acc = ChatAccumulator()
    model = body["model"]
    progress = Progress(ctx.report_progress)

    async def on_open() -> None:
        await progress.update(f"connected, waiting for {model}", force=True)

    async def on_text(before: int) -> None:
        # The first text goes out at once: it tells the user the model is answering.
        await progress.update(f"~{max(1, acc.chars // 4)} tokens from {model}…", step=acc.chunks, force=before == 0)

    try:
        async with progress.heartbeat():
            return acc, await stream_completion(opper, body, headers, acc, on_open, on_text)
    except StreamError as exc:
        raise ToolError(_partial_message(str(exc), exc.partial or acc.text)) from exc
    except OpperError as exc:
        if acc.chars:
            raise ToolError(_partial_message(str(exc), acc.text)) from exc
        raise


def _partial_message(error: str, partial: str) -> str:
    if not partial:
        return f"{error} (no text had arrived); retry the call"
    shown = partial if len(partial) <= PARTIAL_CHARS else partial[:PARTIAL_CHARS] + "…"
    return f"{error}; {len(partial)} characters had arrived, kept here: {shown}"
