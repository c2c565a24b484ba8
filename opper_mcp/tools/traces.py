"""get_trace and list_traces: what Opper recorded for each call, as a compact span tree.

A first look (no offset, no span_id) always fetches the trace; its later pages and single spans reuse that
snapshot for two minutes, so paging through a large trace costs one upstream request, not one per page.

Opper writes a trace a moment after its call returns. get_trace retries a 404 only for ids this
server has just produced (chat and roundtable remember theirs): any other id costs one request.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import quote

import anyio
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult
from pydantic import BaseModel, Field

from opper_mcp.opper.client import OpperClient
from opper_mcp.opper.errors import NotFoundError
from opper_mcp.opper.schemas import Span, Trace, list_total, unwrap_data
from opper_mcp.runtime.result import OUTPUT_BUDGET_CHARS, clip, render, respond
from opper_mcp.runtime.state import ToolContext, app_state, just_produced, opper_for

TRACE_ID = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"
# A trace is written a moment after its call returns: for an id just produced, retry a 404 for about 3 s.
NOT_FOUND_RETRY_DELAYS_S = (0.5, 1.0, 1.5)
MAX_PAGE_SPANS = OUTPUT_BUDGET_CHARS // 40  # no span row is shorter than ~40 JSON characters: more never fit
UNKNOWN_HINT = (
    "no trace with this id for this API key: check the id (chat and roundtable return it as trace_id), "
    "or find it with list_traces (a call made elsewhere seconds ago may not be written yet)"
)
PENDING_HINT = (
    "this trace was produced moments ago and Opper has not written it yet (it can take a few seconds): "
    "retry shortly, or find it with list_traces"
)


class SpanRow(BaseModel):
    id: str
    parent_id: str | None = None
    depth: int = Field(description="0 for root spans; children follow their parent")
    name: str
    type: str | None = None
    status: str | None = None
    start_time: str | None = None
    duration_ms: int | None = None
    model: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None
    error: str | None = None
    input: str | None = Field(None, description="Truncated; get_trace(span_id=…) pages through it")
    output: str | None = None
    truncated: bool | None = None


class SpanPage(BaseModel):
    span_id: str
    field: str = Field(description="input or output")
    offset: int
    content: str
    total_chars: int
    next_offset: int | None = Field(None, description="Pass as `offset` to read on")


class TraceView(BaseModel):
    id: str
    name: str | None = None
    status: str | None = None
    start_time: str | None = None
    duration_ms: int | None = None
    span_count: int
    total_cost_usd: float | None = None
    spans: list[SpanRow] = Field(description="All spans, or just the one asked for with span_id")
    page: SpanPage | None = Field(None, description="With span_id: one page of its input or output")
    next_offset: int | None = Field(None, description="More spans: pass as `offset` to see them")
    hint: str | None = None


class TraceRow(BaseModel):
    id: str
    name: str | None = None
    status: str | None = None
    start_time: str | None = None
    duration_ms: int | None = None
    span_count: int | None = None


class TraceList(BaseModel):
    traces: list[TraceRow]
    total: int | None = None
    offset: int
    next_offset: int | None = None


def as_text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _number(meta: dict[str, Any], *keys: str) -> Any:
    for key in keys:
        if isinstance(meta.get(key), int | float):
            return meta[key]
    return None


def _duration_ms(span: Span) -> int | None:
    """Opper's spans carry start_time/end_time, not duration_ms: derive it."""
    if span.duration_ms is not None:
        return span.duration_ms
    try:
        start = datetime.fromisoformat((span.start_time or "").replace("Z", "+00:00"))
        end = datetime.fromisoformat((span.end_time or "").replace("Z", "+00:00"))
        return max(0, round((end - start).total_seconds() * 1000))
    except (ValueError, TypeError):
        return None


def span_row(span: Span, depth: int, io_chars: int) -> SpanRow:
    meta = span.meta or {}
    row = SpanRow(
        id=span.id,
        parent_id=span.parent_id,
        depth=depth,
        name=span.name,
        type=span.type,
        status=span.status,
        start_time=span.start_time,
        duration_ms=_duration_ms(span),
        model=meta.get("model") if isinstance(meta.get("model"), str) else None,
        input_tokens=_number(meta, "input_tokens", "prompt_tokens"),
        output_tokens=_number(meta, "output_tokens", "completion_tokens"),
        cost_usd=_number(meta, "cost", "total_cost"),
        error=span.error,
    )
    if io_chars:
        cut = False
        for name in ("input", "output"):
            text = as_text(getattr(span, name))
            if text is not None:
                text, was_cut = clip(text, io_chars)
                cut = cut or was_cut
                setattr(row, name, text + ("…" if was_cut else ""))
        row.truncated = cut or None
    return row


def tree_order(spans: list[Span]) -> list[tuple[Span, int]]:
    """(span, depth) depth first, children after their parent by start time; orphans (parent not in the
    trace) are roots."""
    ids = {s.id for s in spans}
    children: dict[str | None, list[Span]] = {}
    for span in spans:
        parent = span.parent_id if span.parent_id in ids else None
        children.setdefault(parent, []).append(span)
    for group in children.values():
        group.sort(key=lambda s: s.start_time or "")
    order: list[tuple[Span, int]] = []
    seen: set[str] = set()

    def walk(parent: str | None, depth: int) -> None:
        for span in children.get(parent, []):
            if span.id in seen:  # a cycle in parent ids: show each span once
                continue
            seen.add(span.id)
            order.append((span, depth))
            walk(span.id, depth + 1)

    walk(None, 0)
    return order


def span_rows(window: list[tuple[Span, int]], io_chars: int) -> list[SpanRow]:
    return [span_row(span, depth, io_chars) for span, depth in window]


async def fetch_trace(opper: OpperClient, trace_id: str, *, wait: bool) -> Trace:
    """The trace; with `wait` (an id just produced) a 404 is retried while Opper writes it."""
    delays = (*NOT_FOUND_RETRY_DELAYS_S, None) if wait else (None,)
    for delay in delays:
        try:
            response = await opper.request("GET", f"/v3/traces/{quote(trace_id, safe='')}")
            return Trace.model_validate(unwrap_data(response.data))
        except NotFoundError as exc:
            if delay is None:
                exc.hint = PENDING_HINT if wait else UNKNOWN_HINT
                raise
            await anyio.sleep(delay)
    raise AssertionError("unreachable")


async def get_trace(
    ctx: ToolContext,
    trace_id: Annotated[str, Field(description="From chat or list_traces", pattern=TRACE_ID)],
    span_id: Annotated[
        str | None, Field(description="Page one span's input/output", pattern=TRACE_ID)
    ] = None,
    field: Annotated[Literal["input", "output"], Field(description="With span_id")] = "output",
    offset: Annotated[int, Field(ge=0, description="span_id: char offset; else first span")] = 0,
    io_chars: Annotated[int, Field(ge=0, le=4000, description="Per span; 0 hides I/O")] = 300,
) -> Annotated[CallToolResult, TraceView]:
    """An Opper trace as a span tree: timings, tokens, cost, errors, I/O."""
    opper = opper_for(ctx)
    snapshots = app_state(ctx).traces
    key = (opper.key_fingerprint, trace_id)
    trace = snapshots.get(key) if offset or span_id is not None else None
    if not isinstance(trace, Trace):
        trace = await fetch_trace(opper, trace_id, wait=just_produced(ctx, opper, trace_id))
        snapshots[key] = trace
    order = tree_order(trace.spans)
    if span_id is None and offset and offset >= len(order):
        raise ToolError(f"offset {offset} is past the last span: the trace has {len(order)} spans")
    costs = [c for span, _ in order if (c := _number(span.meta or {}, "cost", "total_cost")) is not None]
    # Rows are built only for what a page can hold: a trace of thousands of spans costs one page's work.
    window = order[offset : offset + MAX_PAGE_SPANS] if span_id is None else []
    rows = span_rows(window, io_chars)
    view = TraceView(
        id=trace.id,
        name=trace.name,
        status=trace.status,
        start_time=trace.start_time,
        duration_ms=trace.duration_ms,
        span_count=trace.span_count if trace.span_count is not None else len(trace.spans),
        total_cost_usd=round(sum(costs), 8) if costs else None,
        spans=rows,
    )
    if span_id is not None:
        view.spans, view.page = span_page(trace, span_id, field, offset)
    elif any(r.truncated for r in rows):
        view.hint = "inputs/outputs cut at io_chars; call get_trace with span_id and field to read one in full"
    elif not any(r.input or r.output for r in rows) and io_chars:
        view.hint = "no inputs/outputs retained for this trace (Opper keeps metadata only unless retention is on)"
    if span_id is None and offset + len(window) < len(order):
        view.next_offset = offset + len(window)
        view.hint = view.hint or (f"showing spans {offset + 1}-{view.next_offset} of {len(order)}; call get_trace "
                                  f"with offset={view.next_offset} for the next ones")
    return respond(view, shrinker(view, window, io_chars, offset, len(order)))


def shrinker(
    view: TraceView, window: list[tuple[Span, int]], io_chars: int, offset: int, total: int
) -> Callable[[], bool]:
    """One step towards the output budget: shorten the span page; else halve inputs/outputs, then drop
    the last spans (JSON escaping can make the text far longer than the characters shown)."""
    chars = io_chars

    def shrink() -> bool:
        nonlocal chars
        page = view.page
        if page is not None:
            if len(page.content) <= 100:
                return False
            page.content = page.content[: len(page.content) * 9 // 10]
            end = page.offset + len(page.content)
            page.next_offset = end if end < page.total_chars else None
        elif chars:
            chars //= 2
            view.spans = span_rows(window, chars)
            view.hint = (f"inputs/outputs cut to {chars} characters to fit the output budget; "
                         "call get_trace with span_id and field to read one in full")
        elif len(view.spans) > 1:
            count = len(view.spans)
            keep = count - max(1, count // 10)
            if count > 100:  # far over with many spans: jump to about what fits, measured once, not 10% a step
                size = len(render(view)[1])
                keep = max(1, min(keep, int(count * OUTPUT_BUDGET_CHARS / size * 0.97)))
            view.spans = view.spans[:keep]
            end = offset + len(view.spans)
            view.next_offset = end
            view.hint = (f"showing spans {offset + 1}-{end} of {total} to fit the output budget; "
                         f"call get_trace with offset={end} for the next ones, or span_id to read one span")
        else:
            return False
        return True

    return shrink


SPAN_PAGE_CHARS = 20_000


def span_page(trace: Trace, span_id: str, field: str, offset: int) -> tuple[list[SpanRow], SpanPage]:
    span = next((s for s in trace.spans if s.id == span_id), None)
    if span is None:
        known = ", ".join(s.id for s in trace.spans[:10]) or "none"
        raise ToolError(f"span {span_id!r} is not in trace {trace.id}; its spans: {known}")
    text = as_text(getattr(span, field)) or ""
    if offset > len(text):
        raise ToolError(f"offset {offset} is past the end: the span's {field} has {len(text)} characters")
    page = text[offset : offset + SPAN_PAGE_CHARS]
    end = offset + len(page)
    return [span_row(span, 0, 0)], SpanPage(
        span_id=span.id,
        field=field,
        offset=offset,
        content=page,
        total_chars=len(text),
        next_offset=end if end < len(text) else None,
    )


async def list_traces(
    ctx: ToolContext,
    name: Annotated[str, Field(description="Part of name, any case", max_length=200)] = "",
    limit: Annotated[int, Field(ge=1, le=100)] = 20,
    offset: Annotated[int, Field(ge=0)] = 0,
) -> Annotated[CallToolResult, TraceList]:
    """Recent Opper traces, newest first."""
    params: dict[str, str | int] = {"limit": limit, "offset": offset}
    if name:
        params["name"] = name
    response = await opper_for(ctx).request("GET", "/v3/traces", params=params)
    payload = response.data if isinstance(response.data, dict) else {}
    items = payload.get("data") or payload.get("traces") or []
    rows = [TraceRow.model_validate(i) for i in items]  # unknown fields are dropped
    total = list_total(payload)
    end = offset + len(rows)
    more = (total is not None and end < total) or (total is None and len(rows) == limit)
    return respond(TraceList(traces=rows, total=total, offset=offset, next_offset=end if more else None))
