"""Pydantic models of the Opper responses we read.

`extra="allow"` everywhere and optional fields throughout: the live API grows faster than
its published spec (API-CONTRACT §7), and a new field must never break a tool.
Each model builds its validator on first use (`defer_build`): start-up reads no response.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field


class Open(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True, defer_build=True)


# ---- /v3/models ---------------------------------------------------------------------------


class Pricing(Open):
    input: list[float] = Field(default_factory=list)
    output: list[float] = Field(default_factory=list)
    thresholds: list[int] = Field(default_factory=list)


class ModelInfo(Open):
    id: str
    type: str = ""
    provider: str = ""
    name: str = ""
    description: str = ""
    capabilities: list[str] = Field(default_factory=list)
    context_window: int | None = None
    aliases: list[str] = Field(default_factory=list)
    model: str | None = None
    pooled: bool | None = None
    retired_at: str | None = None
    pricing: Pricing | None = None


class ModelsPage(Open):
    models: list[ModelInfo] = Field(default_factory=list)
    total: int = 0
    offset: int = 0
    limit: int = 0


# ---- /v3/compat/chat/completions ----------------------------------------------------------


class Usage(Open):
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    cost: float | None = None
    opper: dict[str, Any] | None = None
    server_tool_use: dict[str, Any] | None = None

    def opper_cost(self) -> float | None:
        cost = (self.opper or {}).get("cost")
        if isinstance(cost, dict) and isinstance(cost.get("total"), int | float):
            return float(cost["total"])
        return None


# ---- /v3/roundtable -----------------------------------------------------------------------


class RoundtableUsage(Open):
    input_tokens: int | None = None
    output_tokens: int | None = None
    reasoning_tokens: int | None = None


class RoundtableModelResult(Open):
    index: int | None = None
    model: str = ""
    data: Any = None
    duration_ms: int | None = None
    cost: float | None = None
    error: str | None = None
    usage: RoundtableUsage | None = None


class RoundtableMeta(Open):
    resolution: str | None = None
    models_used: list[str] = Field(default_factory=list)
    total_cost: float | None = None
    total_duration_ms: int | None = None
    summary_model: str | None = None
    trace_uuid: str | None = None


# ---- /v3/tools/web/* ----------------------------------------------------------------------


class WebSearchResult(Open):
    title: str = ""
    url: str = ""
    snippet: str = ""
    published_at: str | None = None


class WebSearchResponse(Open):
    results: list[WebSearchResult] = Field(default_factory=list)


class WebFetchResponse(Open):
    url: str = ""
    title: str = ""
    content: str = ""


# ---- /v3/traces ---------------------------------------------------------------------------


class Span(Open):
    id: str
    trace_id: str | None = None
    parent_id: str | None = None
    name: str = ""
    type: str | None = None
    status: str | None = None
    start_time: str | None = None
    end_time: str | None = None
    duration_ms: int | None = None
    input: Any = None
    output: Any = None
    error: str | None = None
    meta: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None


class Trace(Open):
    id: str
    name: str | None = None
    status: str | None = None
    start_time: str | None = None
    end_time: str | None = None
    duration_ms: int | None = None
    span_count: int | None = None
    spans: list[Span] = Field(default_factory=list)
    events: list[dict[str, Any]] = Field(default_factory=list)


def unwrap_data(payload: Any) -> Any:
    """`GET /v3/traces/{id}` wraps its object in `data`; older readers expect it flat."""
    if isinstance(payload, dict) and isinstance(payload.get("data"), dict) and "id" not in payload:
        return payload["data"]
    return payload


# ---- /v2/knowledge (not in the v3 spec; shapes from Opper's Python SDK) -------------------


def _number(value: Any) -> Any:
    """Analytics rows send numbers as strings ("3.41", "212"): read them as numbers, blanks as None."""
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        try:
            return float(text)
        except ValueError:
            return None
    return value


Number = Annotated[float | None, BeforeValidator(_number)]


class KnowledgeBase(Open):
    id: str = ""
    name: str = ""
    created_at: str | None = None
    embedding_model: str | None = None
    count: Number = None  # documents; the list endpoint leaves it out, the single-base GET has it


class KnowledgeResult(Open):
    id: str | None = None
    key: str | None = None
    content: str = ""
    metadata: dict[str, Any] | None = None
    score: Number = None


class DocumentSegment(Open):
    id: str | None = None
    content: str = ""


class KnowledgeDocument(Open):
    id: str | None = None
    key: str | None = None
    content: str | None = None
    segments: list[DocumentSegment] = Field(default_factory=list)
    metadata: dict[str, Any] | None = None

    def text(self) -> str:
        return self.content if self.content else "\n".join(s.content for s in self.segments)


class AddedDocument(Open):
    id: str | None = None
    key: str | None = None
    metadata: dict[str, Any] | None = None


# ---- /v2/analytics/usage ------------------------------------------------------------------


class UsageRow(Open):
    time_bucket: str | None = None
    cost: Number = None
    count: Number = None


def list_items(payload: Any) -> list[Any]:
    """v2 lists arrive bare (`[...]`) or wrapped (`{"data": [...]}`): the items either way."""
    if isinstance(payload, dict):
        payload = payload.get("data", payload.get("results"))
    return payload if isinstance(payload, list) else []


def list_total(payload: Any) -> int | None:
    """The total a wrapped list reports (`meta.total_count`, or `meta.total`), when it reports one."""
    meta = payload.get("meta") if isinstance(payload, dict) else None
    total = meta.get("total_count", meta.get("total")) if isinstance(meta, dict) else None
    return total if isinstance(total, int) else None
