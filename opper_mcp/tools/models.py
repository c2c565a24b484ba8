"""list_models: the live Opper models, filtered, compact by default, paged."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal

from mcp_types import CallToolResult
from pydantic import BaseModel, Field

from opper_mcp.opper.catalog import ModelCatalog, matches
from opper_mcp.opper.schemas import ModelInfo
from opper_mcp.runtime.args import CommaList
from opper_mcp.runtime.result import render, result_of
from opper_mcp.runtime.state import ToolContext, app_state, opper_for

Include = Literal[
    "description", "pricing", "params", "compliance", "aliases", "maker", "benchmarks", "route", "policy"
]


class ModelRow(BaseModel):
    id: str
    type: str
    context_window: int | None = None
    capabilities: list[str] = Field(default_factory=list)
    input_usd_per_1m: float | None = Field(None, description="USD per 1M input tokens (first tier)")
    output_usd_per_1m: float | None = Field(None, description="USD per 1M output tokens (first tier)")
    details: dict[str, Any] | None = Field(None, description="Blocks asked for with `include`")


class ModelList(BaseModel):
    total: int = Field(description="Models matching the filters")
    offset: int
    models: list[ModelRow]
    next_offset: int | None = Field(None, description="Pass as `offset` for the next page")
    note: str | None = None


def per_million(prices: list[float] | None) -> float | None:
    if not prices:
        return None
    return round(prices[0] * 1_000_000, 6)


def to_row(model: ModelInfo, include: Sequence[str]) -> ModelRow:
    extra = model.model_extra or {}
    details: dict[str, Any] = {}
    for block in include:
        if block == "description":
            details["name"] = model.name
            details["provider"] = model.provider
            details["description"] = model.description
        elif block == "aliases":
            details["aliases"] = model.aliases
            if model.model:
                details["pool"] = model.model
        elif block == "pricing" and model.pricing is not None:
            details["pricing"] = model.pricing.model_dump(exclude_none=True)
        elif block in extra and extra[block] is not None:
            details[block] = extra[block]
    pricing = model.pricing
    return ModelRow(
        id=model.id,
        type=model.type,
        context_window=model.context_window,
        capabilities=model.capabilities,
        input_usd_per_1m=per_million(pricing.input if pricing else None),
        output_usd_per_1m=per_million(pricing.output if pricing else None),
        details=details or None,
    )


async def list_models(
    ctx: ToolContext,
    query: Annotated[str, Field(description="Search words", max_length=200)] = "",
    type: Annotated[str, Field(description="llm, embedding, image, tts, stt, rerank...", max_length=40)] = "",
    provider: Annotated[str, Field(description="e.g. openai, anthropic", max_length=60)] = "",
    capability: Annotated[
        list[str] | None, Field(description="All required, e.g. vision, tools", max_length=10), CommaList
    ] = None,
    include: Annotated[
        list[Include] | None, Field(description="Per-row extras; route, policy need a key"), CommaList
    ] = None,
    limit: Annotated[int, Field(ge=1, le=200)] = 50,
    offset: Annotated[int, Field(ge=0)] = 0,
) -> Annotated[CallToolResult, ModelList]:
    """Opper's models with type, context, capabilities, price."""
    state = app_state(ctx)
    blocks = tuple(dict.fromkeys(include or []))
    models = await state.catalog.models(opper_for(ctx), blocks)
    # Warm calls with the same arguments answer the same bytes: the page is serialised once per
    # catalog snapshot, not per call.
    key = ("page", blocks, query, type, provider, tuple(capability or ()), limit, offset)
    data, text = state.catalog.derived(
        models, key, lambda rows: page(state.catalog, rows, blocks, query, type, provider, capability, limit,
                                            offset)
    )
    return result_of(data, text)


def page(
    catalog: ModelCatalog,
    models: list[ModelInfo],
    blocks: tuple[Include, ...],
    query: str,
    type: str,
    provider: str,
    capability: list[str] | None,
    limit: int,
    offset: int,
) -> tuple[dict[str, Any], str]:
    """One page of the filtered catalog as (structured content, text), cut to the output budget."""
    rows = catalog.derived(models, ("rows", blocks), lambda models: [row_data(m, blocks) for m in models])
    if query or type or provider or capability:
        found = [
            i
            for i, m in enumerate(models)
            if matches(m, query=query, type=type, provider=provider, capabilities=capability or [])
        ]
    else:
        found = list(range(len(models)))  # no filter: every row, without a call per model
    result: dict[str, Any] = {"total": len(found), "offset": offset,
                              "models": [rows[i] for i in found[offset:][:limit]]}
    if not found:
        result["note"] = "no model matches these filters; try fewer filters or a shorter query"

    def set_next() -> None:
        end = offset + len(result["models"])
        result.pop("next_offset", None)
        if end < len(found):
            result["next_offset"] = end

    def shrink() -> bool:
        if len(result["models"]) <= 1:
            return False
        result["models"] = result["models"][: -max(1, len(result["models"]) // 10)]
        result["note"] = f"cut at {len(result['models'])} rows to fit the output budget; page on with next_offset"
        set_next()
        return True

    set_next()
    return render(result, shrink)


def row_data(model: ModelInfo, include: Sequence[str]) -> dict[str, Any]:
    """One row as `ModelList` serialises it; built once per models snapshot (see ModelCatalog.derived)."""
    return to_row(model, include).model_dump(mode="json", exclude_none=True)
