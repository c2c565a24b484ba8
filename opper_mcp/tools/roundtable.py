"""roundtable: one input, several models in parallel, consolidated by Opper; per-model results and votes."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Resolve
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult, ListRootsResult
from pydantic import BaseModel, Field

from opper_mcp.opper.errors import OpperError
from opper_mcp.opper.schemas import RoundtableMeta, RoundtableModelResult
from opper_mcp.ops import ledger
from opper_mcp.runtime import attach
from opper_mcp.runtime.args import CommaList
from opper_mcp.runtime.attach import AttachedItem, Collected, SkippedItem
from opper_mcp.runtime.presend import Ask, Plan, Summary, prepare, text_tokens
from opper_mcp.runtime.progress import Progress
from opper_mcp.runtime.result import respond
from opper_mcp.runtime.state import ToolContext, caller, opper_for, remember_traces, trace_name
from opper_mcp.tools.chat import DIFF_DOC, DRY_RUN_DOC, FILES_DOC, MAX_COST_DOC

ROUNDTABLE_PATH = "/v3/roundtable"


class PanelModel(BaseModel):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    temperature: Annotated[float | None, Field(ge=0, le=2)] = None
    max_tokens: Annotated[int | None, Field(ge=1, le=200_000)] = None
    reasoning: Literal["low", "medium", "high", "max"] | None = None


class MemberResult(BaseModel):
    model: str
    answer: str | None = None
    latency_ms: int | None = None
    cost_usd: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    error: str | None = None


class RoundtableResult(BaseModel):
    answer: str | None = Field(None, description="Summary, or the winning choice; none in fast mode")
    mode: str
    results: list[MemberResult]
    votes: dict[str, int] | None = Field(None, description="multiple_choice: answers per choice")
    total_cost_usd: float | None = None
    est_cost_usd: float | None = None
    est_input_tokens: int | None = None
    duration_ms: int | None = None
    trace_id: str | None = None
    attached: list[AttachedItem] | None = None
    skipped: list[SkippedItem] | None = None
    note: str | None = None
    spend: str | None = None


@dataclass
class RoundtableAccumulator:
    """Classifies stream events by their fields (Opper publishes no `type` values)."""

    models: list[str]
    started: float = field(default_factory=time.monotonic)
    texts: dict[int, list[str]] = field(default_factory=dict)
    done: dict[int, RoundtableModelResult] = field(default_factory=dict)
    summary: list[str] = field(default_factory=list)
    final_data: Any = None
    meta: RoundtableMeta | None = None

    def feed(self, event: dict[str, Any]) -> str | None:
        """Take one event; returns a progress message when a member finished."""
        index = event.get("model_index")
        has_index = isinstance(index, int)
        if event.get("error") and not has_index:
            error = event["error"]
            message = error.get("message", error) if isinstance(error, dict) else error
            failures = "; ".join(f"{r.model}: {r.error}" for r in self.done.values() if r.error)
            raise OpperError(f"roundtable failed: {message}" + (f" ({failures})" if failures else ""))
        if "meta" in event and isinstance(event["meta"], dict):
            self.meta = RoundtableMeta.model_validate(event["meta"])
            self.final_data = event.get("data", self.final_data)
            for raw in event.get("model_results") or []:
                result = RoundtableModelResult.model_validate(raw)
                key = result.index if result.index is not None else len(self.done)
                self.done.setdefault(key, result)
            return None
        if not has_index:
            if isinstance(event.get("delta"), str):
                self.summary.append(event["delta"])
            return None
        assert isinstance(index, int)
        if isinstance(event.get("delta"), str):
            self.texts.setdefault(index, []).append(event["delta"])
            return None
        if event.get("error") or "data" in event:
            duration = event.get("duration_ms")
            if not isinstance(duration, int):
                duration = int((time.monotonic() - self.started) * 1000)
            self.done[index] = RoundtableModelResult.model_validate(
                {**event, "index": index, "model": event.get("model") or self._name(index), "duration_ms": duration}
            )
            failed = [r for r in self.done.values() if r.error]
            message = f"{len(self.done) - len(failed)}/{len(self.models)} models answered"
            if event.get("error"):
                message += f"; {self.done[index].model} failed: {event['error']}"
            return message
        return None

    def _name(self, index: int) -> str:
        return self.models[index] if 0 <= index < len(self.models) else f"model {index}"

    def results(self) -> list[MemberResult]:
        out: list[MemberResult] = []
        for index in range(max(len(self.models), max(self.done, default=-1) + 1)):
            r = self.done.get(index)
            if r is None:
                streamed = "".join(self.texts.get(index, []))
                out.append(MemberResult(model=self._name(index), answer=streamed or None,
                                        error=None if streamed else "no answer received"))
                continue
            answer = r.data if isinstance(r.data, str) else None if r.data is None else str(r.data)
            out.append(MemberResult(
                model=r.model,
                answer=answer or "".join(self.texts.get(index, [])) or None,
                latency_ms=r.duration_ms,
                cost_usd=r.cost,
                input_tokens=r.usage.input_tokens if r.usage else None,
                output_tokens=r.usage.output_tokens if r.usage else None,
                error=r.error or None,
            ))
        return out


def tally(results: list[MemberResult], choices: list[str]) -> dict[str, int]:
    """Votes per choice from the members' answers (exact, then case-insensitive containment)."""
    counts: Counter[str] = Counter({c: 0 for c in choices})
    for r in results:
        if r.error or not r.answer:
            continue
        answer = r.answer.strip().strip(".\"'").lower()
        exact = [c for c in choices if c.lower() == answer]
        loose = [c for c in choices if c.lower() in answer]
        pick = exact or (loose if len(loose) == 1 else [])
        if pick:
            counts[pick[0]] += 1
    return dict(counts)


async def roundtable(
    ctx: ToolContext,
    input: Annotated[str, Field(description="The question", min_length=1)],
    models: Annotated[
        list[str | PanelModel],
        Field(min_length=2,
              max_length=10),
        CommaList,
    ],
    mode: Literal["summary", "fast", "multiple_choice"] = "summary",
    choices: Annotated[list[str] | None, Field(description="For multiple_choice", min_length=2,
                                               max_length=20)] = None,
    instructions: Annotated[str, Field(description="Shared system prompt")] = "",
    summary_model: Annotated[str, Field(description="Writes the summary", max_length=200)] = "",
    output_schema: Annotated[dict[str, Any] | None, Field(description="Schema of each JSON answer")] = None,
    timeout_ms: Annotated[int | None, Field(ge=1_000, le=300_000, description="Per-model timeout")] = None,
    files: Annotated[list[str] | None, Field(description=FILES_DOC, max_length=200), CommaList] = None,
    diff: Annotated[str, Field(description=DIFF_DOC, max_length=200)] = "",
    max_cost_usd: Annotated[float | None, Field(gt=0, description=MAX_COST_DOC)] = None,
    dry_run: Annotated[bool, Field(description=DRY_RUN_DOC)] = False,
    roots: Annotated[ListRootsResult | list[str] | None, Resolve(attach.client_roots)] = None,
) -> Annotated[CallToolResult, RoundtableResult]:
    """Ask 2-10 Opper models at once: summary merges answers, fast returns each, multiple_choice tallies
    votes."""
    if not input.strip():
        raise ToolError("input is empty")
    if mode == "multiple_choice" and not choices:
        raise ToolError("mode multiple_choice needs choices (at least two options)")
    panel = [PanelModel(name=m) if isinstance(m, str) else m for m in models]

    def plan(collected: Collected | None) -> Plan[str]:
        full_input = with_context(input, collected)
        tokens = text_tokens(instructions, full_input)
        asks = [Ask(member.name, tokens, member.max_tokens) for member in panel]
        return Plan(full_input, asks, Summary(summary_model, tokens) if mode == "summary" else None)

    prepared = await prepare(ctx, files, diff, roots, plan, max_cost_usd=max_cost_usd, dry_run=dry_run)
    if prepared.dry_run:
        return respond(prepared.report(RoundtableResult(mode=mode, results=[], note="dry run: nothing was sent")))
    full_input = prepared.payload
    body: dict[str, Any] = {
        "input": full_input,
        "models": [p.model_dump(exclude_none=True) for p in panel],
        "resolution": mode,
        "stream": True,
    }
    for key, value in (("choices", choices), ("instructions", instructions), ("summary_model", summary_model),
                       ("output_schema", output_schema), ("timeout_ms", timeout_ms)):
        if value is not None and value != "":
            body[key] = value

    acc = RoundtableAccumulator([p.name for p in panel])
    progress = Progress(ctx.report_progress)
    progress.total = float(len(panel))
    # A named caller's trace carries its name; otherwise Opper's default trace name stays.
    who = caller(ctx)
    headers = {"X-Opper-Name": trace_name(who, "opper-mcp/roundtable")} if who.name else None
    opper = opper_for(ctx)
    async with progress.heartbeat(), opper.stream(ROUNDTABLE_PATH, body, headers=headers) as stream:
        await progress.update(f"asked {len(panel)} models", step=0, force=True)
        async for event in stream.events():
            message = acc.feed(event)
            if message:
                await progress.update(message, step=len(acc.done), force=True)

    results = acc.results()
    if all(r.error for r in results):
        failures = "; ".join(f"{r.model}: {r.error}" for r in results)
        raise ToolError(f"every model failed — {failures}")
    meta = acc.meta or RoundtableMeta()
    answer = acc.final_data if isinstance(acc.final_data, str) else None
    if answer is None and acc.final_data is not None:
        answer = json.dumps(acc.final_data, ensure_ascii=False)
    if answer is None and acc.summary and mode != "fast":
        answer = "".join(acc.summary)
    costs = [r.cost_usd for r in results if r.cost_usd is not None]
    result = RoundtableResult(
        answer=answer,
        mode=mode,
        results=results,
        votes=tally(results, choices) if mode == "multiple_choice" and choices else None,
        total_cost_usd=meta.total_cost if meta.total_cost is not None else (round(sum(costs), 8) if costs else None),
        duration_ms=meta.total_duration_ms or int((time.monotonic() - acc.started) * 1000),
        trace_id=meta.trace_uuid,
    )
    remember_traces(ctx, opper, meta.trace_uuid)
    for member in results:
        ledger.charged(member.model, member.cost_usd)
    if result.total_cost_usd is not None and result.total_cost_usd > sum(costs):  # the summary's own call
        ledger.charged(summary_model or "summary", round(result.total_cost_usd - sum(costs), 10))
    ledger.traced(meta.trace_uuid)
    prepared.report(result)
    return respond(result, shrinker(result))


# ---- code context (files, diff), estimates and dry runs ------------------------------------


def with_context(question: str, collected: Collected | None) -> str:
    """Roundtable's input is one string: the labelled files and diff go before the question.

    Images and PDFs cannot travel in it; they are refused rather than silently dropped.
    """
    if collected is None:
        return question
    media = sorted(collected.kinds - {"text"})
    if media:
        raise ToolError(f"roundtable takes text only, so the {' and '.join(media)} files cannot go to the panel; "
                        "leave them out, or ask one model that takes them with chat")
    return f"{collected.text}\n\n{question}" if collected.text else question


def _shorter(text: str) -> str:
    return text[: len(text) * 8 // 10] + "…"


def shrinker(result: RoundtableResult) -> Callable[[], bool]:
    """Shortens the longest answer (members' first, the summary last) by one step."""

    def shrink() -> bool:
        longest = max(result.results, key=lambda r: len(r.answer or ""))
        if longest.answer and len(longest.answer) > 500:
            longest.answer = _shorter(longest.answer)
        elif result.answer and len(result.answer) > 500:
            result.answer = _shorter(result.answer)
        else:
            return False
        result.note = ("long answers were cut (ending in …) to fit the output budget; ask a model again with "
                       "chat for its whole answer")
        return True

    return shrink
