"""search_knowledge and add_knowledge: Opper's knowledge bases (RAG indexes, the v2 surface).

Models name a knowledge base, the API wants its id: names are resolved once through the
by-name lookup and cached per key. A name that matches nothing gets the close matches from
the list, so the next call can be right.

A listing costs one request per page of 100 bases. Opper's list leaves document counts out, so a
listing shows them only when the list carries them; one base's count costs one GET, asked for by
naming the base without a query.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated, Any, TypeVar
from urllib.parse import quote

from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult
from pydantic import BaseModel, Field, WithJsonSchema

from opper_mcp.fuzzy import close_matches
from opper_mcp.opper.client import OpperClient
from opper_mcp.opper.errors import NotFoundError, OpperAPIError, with_service_hints
from opper_mcp.opper.schemas import (
    AddedDocument,
    KnowledgeBase,
    KnowledgeDocument,
    KnowledgeResult,
    list_items,
    list_total,
)
from opper_mcp.runtime.result import clip, respond
from opper_mcp.runtime.state import ToolContext, app_state, opper_for

T = TypeVar("T")
KB_PATH = "/v2/knowledge"
UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
LIST_PAGE = 100
LIST_MAX = 1_000  # knowledge bases looked at when listing or suggesting names
CONTENT_CHARS = 600  # per search result; key= reads the whole document
DOCUMENT_CHARS = 30_000
MAX_DOCUMENT_CHARS = 20_000  # add_knowledge: a short text document, not a file upload
OPERATORS = ("=", "!=", ">", "<", "in")
MAX_NAME_CHARS = 200
MAX_KEY_CHARS = 500
MAX_QUERY_CHARS = 4_000
# A JSON object argument; the plain schema spares every client `additionalProperties: true` in tools/list.
JsonObject = Annotated[dict[str, Any], WithJsonSchema({"type": "object"})]
NO_ACCESS = (
    "this API key cannot use knowledge bases (its project lacks access or the key is restricted): "
    "use a key from a project that has them (https://platform.opper.ai → API keys)"
)


class KnowledgeBaseRow(BaseModel):
    name: str
    id: str
    documents: int | None = None
    created: str | None = None


class ResultRow(BaseModel):
    key: str | None = None
    score: float | None = None
    content: str
    truncated: bool | None = None
    metadata: dict[str, Any] | None = None


class Document(BaseModel):
    key: str
    content: str
    total_chars: int
    truncated: bool | None = None
    metadata: dict[str, Any] | None = None


class KnowledgeView(BaseModel):
    knowledge_bases: list[KnowledgeBaseRow] | None = None
    total: int | None = None
    knowledge_base: str | None = None
    id: str | None = None
    query: str | None = None
    results: list[ResultRow] | None = None
    document: Document | None = None
    hint: str | None = None


class AddedView(BaseModel):
    knowledge_base: str
    id: str
    key: str | None = None
    document_id: str | None = None
    chars: int


def secrets_in(text: str, known_secrets: Sequence[str]) -> list[str]:
    """What the file-context scanner finds in a document, as "AWS Access Key on line 3": never the value."""
    from opper_mcp.context.secrets import scan  # here, where it is used: add_knowledge is off by default

    return [f"{f.kind} on line {f.line}" for f in scan(text, known_secrets=known_secrets)]


def checked(name: str, value: str, limit: int = MAX_NAME_CHARS) -> str:
    """A stripped string argument within its length limit (kept out of the schema to keep tools/list small)."""
    text = value.strip()
    if len(text) > limit:
        raise ToolError(f"{name} is over {limit} characters: pass the name, id or key itself")
    return text


# ---- name resolution --------------------------------------------------------------------


def _access_hint(exc: OpperAPIError) -> OpperAPIError:
    return with_service_hints(exc, forbidden=NO_ACCESS, service="knowledge")


async def list_knowledge_bases(opper: OpperClient, limit: int = LIST_MAX) -> tuple[list[KnowledgeBase], int | None]:
    """Every knowledge base the key can see (up to `limit`), following the pages, and the reported total."""
    found: list[KnowledgeBase] = []
    total: int | None = None
    while len(found) < limit:
        response = await opper.request("GET", KB_PATH, params={"offset": len(found), "limit": LIST_PAGE})
        page = [KnowledgeBase.model_validate(i) for i in list_items(response.data) if isinstance(i, dict)]
        total = list_total(response.data)
        found.extend(page)
        if len(page) < LIST_PAGE or (total is not None and len(found) >= total):
            break
    return found[:limit], total


async def resolve(ctx: ToolContext, opper: OpperClient, ref: str) -> tuple[str, str, bool]:
    """(id, display name, from_cache) for a knowledge base given by name or id."""
    if UUID.match(ref):
        return ref, ref, False
    cache = app_state(ctx).knowledge_ids
    cache_key = (opper.key_fingerprint, ref)
    if (hit := cache.get(cache_key)) is not None:
        return hit[0], hit[1], True
    try:
        response = await opper.request("GET", f"{KB_PATH}/by-name/{quote(ref, safe='')}")
        kb = KnowledgeBase.model_validate(response.data if isinstance(response.data, dict) else {})
    except NotFoundError:
        kb = KnowledgeBase()
    if not kb.id:
        bases, _ = await list_knowledge_bases(opper)
        same = [b for b in bases if b.name.casefold() == ref.casefold()]
        if len(same) != 1:
            close = close_matches(ref, [b.name for b in bases], 3)
            did_you_mean = f"; did you mean {', '.join(map(repr, close))}?" if close else "."
            raise ToolError(
                f"no knowledge base named {ref!r}{did_you_mean} "
                "Call search_knowledge without knowledge_base to list them all."
            )
        kb = same[0]
    cache[cache_key] = (kb.id, kb.name or ref)
    return kb.id, kb.name or ref, False


async def _with_base(
    ctx: ToolContext, opper: OpperClient, ref: str, call: Callable[[str], Awaitable[T]]
) -> tuple[T, str, str]:
    """Run `call(id)`; a cached id that has gone stale (base deleted and re-created) is looked up again."""
    kb_id, name, cached = await resolve(ctx, opper, ref)
    try:
        return await call(kb_id), kb_id, name
    except NotFoundError:
        if not cached:
            raise ToolError(
                f"no knowledge base with id {kb_id!r}. Call search_knowledge without knowledge_base to list them."
            ) from None
    app_state(ctx).knowledge_ids.pop((opper.key_fingerprint, ref), None)
    kb_id, name, _ = await resolve(ctx, opper, ref)
    return await call(kb_id), kb_id, name


# ---- filters ----------------------------------------------------------------------------


def to_filters(filters: dict[str, Any]) -> list[dict[str, Any]]:
    """`{"lang": "sv", "year": {">": 2020}, "tag": ["a", "b"]}` → Opper's [{field, operation, value}]."""
    out: list[dict[str, Any]] = []
    for field, value in filters.items():
        if isinstance(value, dict):
            if len(value) != 1 or next(iter(value)) not in OPERATORS:
                raise ToolError(
                    f"filter {field!r}: use {{\"<op>\": value}} with one op of {', '.join(OPERATORS)}, got "
                    f"{json.dumps(value)[:100]}"
                )
            op, operand = next(iter(value.items()))
            out.append({"field": field, "operation": op, "value": operand})
        elif isinstance(value, list):
            out.append({"field": field, "operation": "in", "value": value})
        else:
            out.append({"field": field, "operation": "=", "value": value})
    return out


# ---- tools ------------------------------------------------------------------------------


def base_row(kb: KnowledgeBase) -> KnowledgeBaseRow:
    return KnowledgeBaseRow(
        name=kb.name, id=kb.id, documents=int(kb.count) if kb.count is not None else None, created=kb.created_at
    )


async def listing(opper: OpperClient) -> KnowledgeView:
    """Every base the key sees, one request per page: no per-base GET for document counts (the list
    leaves them out; a count is shown when the list carries one, else `describe` gets it for one base)."""
    bases, total = await list_knowledge_bases(opper)
    rows = [base_row(b) for b in bases]
    if not rows:
        hint = "this key sees no knowledge bases: create one at https://platform.opper.ai (Indexes)"
    elif any(r.documents is None for r in rows):
        hint = ("search one with search_knowledge(knowledge_base=<name>, query=…); "
                "search_knowledge(knowledge_base=<name>) alone shows its document count")
    else:
        hint = "search one with search_knowledge(knowledge_base=<name>, query=…)"
    return KnowledgeView(knowledge_bases=rows, total=total if total is not None else len(rows), hint=hint)


async def describe(ctx: ToolContext, opper: OpperClient, ref: str) -> KnowledgeView:
    """One base with its document count: a GET of the base (after the name lookup, if not cached)."""

    async def get_base(kb_id: str) -> KnowledgeBase:
        response = await opper.request("GET", f"{KB_PATH}/{quote(kb_id, safe='')}")
        return KnowledgeBase.model_validate(response.data if isinstance(response.data, dict) else {})

    kb, kb_id, name = await _with_base(ctx, opper, ref, get_base)
    row = base_row(kb)
    row.id, row.name = row.id or kb_id, row.name or name
    return KnowledgeView(
        knowledge_base=row.name,
        id=row.id,
        knowledge_bases=[row],
        hint="pass query= to search it, or key=<document key> to read one document whole",
    )


async def read_document(opper: OpperClient, kb_id: str, key: str) -> KnowledgeDocument:
    path = f"{KB_PATH}/{quote(kb_id, safe='')}/documents/{quote(key, safe='')}"
    try:
        response = await opper.request("GET", path)
    except NotFoundError as exc:
        if "knowledge" in exc.message.lower():  # the base itself is gone: let the caller look it up again
            raise
        raise ToolError(
            f"no document with key {key!r} in this knowledge base; search it with a query to see the keys"
        ) from None
    return KnowledgeDocument.model_validate(response.data if isinstance(response.data, dict) else {})


async def search_knowledge(
    ctx: ToolContext,
    # Text parameters are plain `str` ("" = not given), as in chat: the SDK JSON-decodes a `str | None`
    # argument, so a query like '["a", "b"]' would arrive as a list and a base named "null" as None.
    knowledge_base: Annotated[str, Field(description="Name or id; omit: list all")] = "",
    query: str = "",
    top_k: Annotated[int, Field(ge=1, le=50)] = 5,
    filters: Annotated[
        JsonObject | None, Field(description="{field: value | [any] | {op: value}}")
    ] = None,
    key: Annotated[str, Field(description="Read one document whole")] = "",
) -> Annotated[CallToolResult, KnowledgeView]:
    """Search an Opper knowledge base (RAG)."""
    opper = opper_for(ctx)
    ref = checked("knowledge_base", knowledge_base)
    key = checked("key", key, MAX_KEY_CHARS)
    if len(query) > MAX_QUERY_CHARS:
        raise ToolError(f"query is over {MAX_QUERY_CHARS:,} characters: search with the key phrases only")
    try:
        if not ref:
            return respond(await listing(opper))
        if key:
            doc, kb_id, name = await _with_base(ctx, opper, ref, lambda i: read_document(opper, i, key))
            return respond(document_view(doc, kb_id, name, key))
        text = " ".join(query.split())
        if not text:
            return respond(await describe(ctx, opper, ref))
        body: dict[str, Any] = {"query": text, "top_k": top_k}
        if filters:
            body["filters"] = to_filters(filters)

        async def query_base(kb_id: str) -> Any:
            return (await opper.request("POST", f"{KB_PATH}/{quote(kb_id, safe='')}/query", json_body=body)).data

        data, kb_id, name = await _with_base(ctx, opper, ref, query_base)
    except OpperAPIError as exc:
        raise _access_hint(exc) from None
    results = [KnowledgeResult.model_validate(r) for r in list_items(data) if isinstance(r, dict)]
    view = KnowledgeView(knowledge_base=name, id=kb_id, query=text, results=[result_row(r) for r in results])
    if not results:
        view.hint = (
            "no matches: try other words or fewer filters; search_knowledge(knowledge_base) without a query "
            "shows how many documents the base has"
        )
    elif any(r.truncated for r in view.results or []):
        view.hint = "long chunks cut; search_knowledge(knowledge_base, key=<key>) reads one document whole"
    return respond(view, shrinker(view))


def result_row(result: KnowledgeResult) -> ResultRow:
    content, cut = clip(result.content, CONTENT_CHARS)
    return ResultRow(
        key=result.key,
        score=round(result.score, 4) if result.score is not None else None,
        content=content + ("…" if cut else ""),
        truncated=cut or None,
        metadata=result.metadata or None,
    )


def document_view(doc: KnowledgeDocument, kb_id: str, name: str, key: str) -> KnowledgeView:
    text = doc.text()
    content, cut = clip(text, DOCUMENT_CHARS)
    view = KnowledgeView(
        knowledge_base=name,
        id=kb_id,
        document=Document(
            key=doc.key or key, content=content, total_chars=len(text), truncated=cut or None, metadata=doc.metadata
        ),
    )
    if cut:
        view.hint = f"document cut at {DOCUMENT_CHARS:,} of {len(text):,} characters"
    return view


def shrinker(view: KnowledgeView) -> Callable[[], bool]:
    """Over the output budget: drop the lowest-ranked results."""

    def shrink() -> bool:
        if not view.results or len(view.results) <= 1:
            return False
        view.results = view.results[:-1]
        view.hint = f"showing the best {len(view.results)} results to fit the output budget; lower top_k"
        return True

    return shrink


async def add_knowledge(
    ctx: ToolContext,
    knowledge_base: str,
    content: str,
    key: str = "",
    metadata: JsonObject | None = None,
) -> Annotated[CallToolResult, AddedView]:
    """Add a short text document to an Opper knowledge base."""
    ref = checked("knowledge_base", knowledge_base)
    key = checked("key", key, MAX_KEY_CHARS)
    if not ref:
        raise ToolError("knowledge_base is empty: name the knowledge base (search_knowledge lists them)")
    if not content.strip():
        raise ToolError("content is empty: pass the document text to add")
    if len(content) > MAX_DOCUMENT_CHARS:
        raise ToolError(
            f"content is {len(content):,} characters, over the {MAX_DOCUMENT_CHARS:,} limit: add it as several "
            "smaller documents (each with its own key), or upload the file at https://platform.opper.ai"
        )
    known = app_state(ctx).settings.secrets()
    findings = secrets_in(content, known) + secrets_in(json.dumps(metadata or {}), known)
    if findings:
        raise ToolError(
            f"refused: the document seems to hold a secret ({'; '.join(findings[:3])}). "
            "Remove or mask it, then add the document again."
        )
    opper = opper_for(ctx)
    body: dict[str, Any] = {"content": content}
    if key:
        body["key"] = key
    if metadata:
        body["metadata"] = metadata

    async def add(kb_id: str) -> Any:
        return (await opper.request("POST", f"{KB_PATH}/{quote(kb_id, safe='')}/add", json_body=body)).data

    try:
        data, kb_id, name = await _with_base(ctx, opper, ref, add)
    except OpperAPIError as exc:
        raise _access_hint(exc) from None
    added = AddedDocument.model_validate(data if isinstance(data, dict) else {})
    return respond(
        AddedView(knowledge_base=name, id=kb_id, key=added.key or key, document_id=added.id, chars=len(content))
    )
