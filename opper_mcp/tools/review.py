"""review: several models review the same code in parallel; their findings located on it, merged and ranked.

Each model gets the same context (files or a diff, gathered, confined and secret-scanned as for chat) and
answers a JSON schema of findings through Opper's chat completions, one call per model: each call has its own
trace and is saved as its own conversation, so the assistant can ask that model about a finding with that
model's view of the code (`chat` with the row's `conversation_id`). A model that fails, times out or answers
malformed JSON is reported in its row and the review goes on with the rest. The locating, merging, ranking
and SARIF are `opper_mcp.review`'s pure functions.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import anyio
from mcp.server.mcpserver import Resolve
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult, ListRootsResult
from pydantic import BaseModel, Field

from opper_mcp import __version__
from opper_mcp.opper.catalog import close_matches, known_ids
from opper_mcp.opper.client import OpperClient
from opper_mcp.opper.errors import OpperError
from opper_mcp.opper.schemas import ModelInfo
from opper_mcp.ops import ledger
from opper_mcp.review import locate, rank, sarif
from opper_mcp.review.findings import FINDINGS_SCHEMA, Finding, parse
from opper_mcp.review.merge import MergedFinding, merge
from opper_mcp.runtime import attach
from opper_mcp.runtime.args import CommaList
from opper_mcp.runtime.attach import AttachedItem, Collected, SkippedItem
from opper_mcp.runtime.presend import Ask, Plan, catalog, find_model, message_tokens, prepare
from opper_mcp.runtime.progress import Progress
from opper_mcp.runtime.result import clip, respond
from opper_mcp.runtime.state import ToolContext, app_state, caller, opper_for, remember_traces, trace_name
from opper_mcp.store import Message
from opper_mcp.store.threads import save_turns
from opper_mcp.tools.chat import DRY_RUN_DOC, FILES_DOC, MAX_COST_DOC, ChatAccumulator, request_body
from opper_mcp.tools.chat import stream_completion as stream_chat

# Strong reviewers from different makers, in order of preference; the first three the catalog lists with
# JSON-schema output are the default panel (OPPER_MCP_REVIEW_MODELS overrides).
PREFERRED = ("anthropic/claude-sonnet-4-5", "openai/gpt-5", "gemini/gemini-2.5-pro", "xai/grok-4",
             "mistral/mistral-large-latest", "deepseek/deepseek-chat")
DEFAULT_PANEL = 3
MAX_MODELS = 6
JSON_OUTPUT = "structured_output"  # the catalog capability for JSON-schema answers
EXPLANATION_CHARS = 600  # per model and finding in a result; the model's whole answer stays in its conversation
PAGE = 25  # findings per result page
FOCUS = {
    "bugs": "Concentrate on correctness: logic errors, edge cases, error handling, concurrency.",
    "security": "Concentrate on security: injection, unsafe input handling, secrets, authn/authz, crypto misuse.",
    "tests": "Concentrate on tests: missing or weak tests for the changed behaviour, flaky or wrong assertions.",
    "performance": "Concentrate on performance: needless work, blocking calls, complexity, memory.",
}
SYSTEM = """You review code. The user shows files (numbered lines) and/or a git diff. Report only real problems \
in the code shown: each with the file path exactly as shown (a renamed file by its new path) and line numbers of \
the new version (the numbers shown beside a file, or counted from a hunk's +start in a diff). Do not report \
problems in code you were not shown. Severity: critical (exploitable or data loss), high (a bug users will hit), \
medium, low, info (a nit). Answer with the JSON schema; an empty list when there is nothing to report."""

Status = Literal["ok", "failed", "timeout", "malformed"]
Fmt = Literal["findings", "sarif"]


class ModelRow(BaseModel):
    model: str
    status: Status
    findings: int | None = Field(None, description="Located findings")
    unlocated: int | None = None
    latency_ms: int | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None
    trace_id: str | None = None
    conversation_id: str | None = Field(None, description="chat with this model about its findings")
    error: str | None = None


class ReviewFinding(BaseModel):
    id: str = Field(description="F1, F2… in rank order")
    file: str
    lines: str
    severity: str
    category: str
    title: str
    agreement: str = Field(description="k/n of the models that answered")
    found_by: list[str]
    severities: dict[str, str] | None = Field(None, description="Each model's, when they differ")
    explanations: dict[str, str]
    suggestion: str | None = None


class UnlocatedFinding(BaseModel):
    model: str
    file: str
    lines: str
    title: str
    reason: str


class ReviewResult(BaseModel):
    summary: str
    findings: list[ReviewFinding]
    unlocated: list[UnlocatedFinding] | None = None
    models: list[ModelRow]
    total_cost_usd: float | None = None
    duration_ms: int | None = None
    est_cost_usd: float | None = None
    est_input_tokens: int | None = None
    next_offset: int | None = Field(None, description="Pass as offset, with review_id, for more findings")
    review_id: str | None = None
    attached: list[AttachedItem] | None = None
    skipped: list[SkippedItem] | None = None
    sarif: dict[str, Any] | None = Field(None, description="SARIF 2.1.0 log (format=sarif)")
    note: str | None = None
    spend: str | None = None


class Answer(BaseModel):
    """One model's outcome, before locating: its findings (or why none), usage and ids."""

    row: ModelRow
    findings: list[Finding] = Field(default_factory=list)


@dataclass(frozen=True)
class Review:
    """A finished review, kept an hour so that later pages and formats cost no model call."""

    merged: list[MergedFinding]
    unlocated: list[tuple[str, locate.Unlocated]]
    rows: list[ModelRow]
    summary: str
    total_cost_usd: float | None
    duration_ms: int


# ---- the panel ----------------------------------------------------------------------------------


def default_panel(models: list[ModelInfo] | None) -> list[str]:
    """Up to three of PREFERRED from different makers that the catalog lists with JSON-schema output."""
    if models is None:
        raise ToolError("the model catalog could not be read to choose reviewers; name them with models")
    by_id = {m.id: m for m in models}
    panel: list[str] = []
    makers: set[str] = set()
    for model_id in PREFERRED:
        info = by_id.get(model_id)
        if info is None or info.retired_at or JSON_OUTPUT not in info.capabilities:
            continue
        maker = model_id.split("/", 1)[0]
        if maker not in makers:
            panel.append(model_id)
            makers.add(maker)
        if len(panel) == DEFAULT_PANEL:
            break
    if not panel:
        raise ToolError("none of the default reviewers is in the catalog; name them with models (list_models "
                        f"capability={JSON_OUTPUT})")
    return panel


def check_panel(panel: list[str], models: list[ModelInfo] | None) -> None:
    """Known models that answer JSON schemas, each once; an unknown one gets close matches."""
    seen: set[str] = set()
    for name in panel:
        if name in seen:
            raise ToolError(f"{name} is listed twice in models: each model reviews once")
        seen.add(name)
    if models is None:
        return  # Opper itself will refuse an unknown model; its row says so
    ids = known_ids(models)
    for name in panel:
        if name not in ids:
            hints = close_matches(name, models)
            tail = f"; close matches: {', '.join(hints)}" if hints else "; find ids with list_models"
            raise ToolError(f"unknown model {name!r}{tail}")
        info = find_model(models, name)
        if info is not None and JSON_OUTPUT not in info.capabilities:
            raise ToolError(f"{name} does not answer in a JSON schema (no {JSON_OUTPUT!r} capability), so its "
                            f"findings could not be read; choose another (list_models capability={JSON_OUTPUT})")


def instructions(focus: str) -> str:
    extra = FOCUS.get(focus.strip().lower(), f"Focus: {focus.strip()}" if focus.strip() else "")
    return f"{SYSTEM}\n{extra}".strip()


def shown_of(collected: Collected) -> locate.Shown:
    """What the models were shown: each diff's new side, each file's attached lines."""
    parts: list[locate.Shown] = []
    for part in collected.gathered:
        if part.kind != "text":
            continue
        head, _, body = part.text.partition("\n")
        if part.path.startswith("git diff"):
            parts.append(locate.from_diff(body))
        else:
            first, last = _line_span(head, body)
            parts.append(locate.from_files([(part.path, first, last)]))
    return locate.combine(*parts)


def _line_span(head: str, body: str) -> tuple[int, int]:
    """(first, last) line of a labelled file block: `=== path (lines a-b …) ===`."""
    inside = head.rpartition("(lines ")[2].split(")")[0].split(" ")[0]
    first, _, last = inside.partition("-")
    if first.isdigit() and last.isdigit():
        return int(first), int(last)
    return 1, max(1, body.count("\n") + 1)


# ---- asking the models ------------------------------------------------------------------------


async def ask(
    ctx: ToolContext, opper: OpperClient, model: str, messages: list[Message], timeout_s: float,
    on_done: Callable[[ModelRow], Any],
) -> Answer:
    """One model's review; never raises for the model's own failure (its row says what went wrong)."""
    who = caller(ctx)
    trace_id = str(uuid.uuid4())
    headers = {"X-Opper-Trace-Id": trace_id, "X-Opper-Name": trace_name(who, "opper-mcp/review")}
    body = request_body(model, messages, FINDINGS_SCHEMA, False)
    body["response_format"]["json_schema"]["strict"] = True
    acc = ChatAccumulator()
    started = time.monotonic()
    row = ModelRow(model=model, status="ok")
    findings: list[Finding] = []
    try:
        with anyio.fail_after(timeout_s):
            response_headers = await stream_chat(opper, body, headers, acc)
    except TimeoutError:
        row.status, row.error = "timeout", f"no complete answer within {timeout_s:g} s"
    except OpperError as exc:
        row.status, row.error = "failed", str(exc)
    else:
        row.trace_id = response_headers.get("x-opper-trace-id") or trace_id
        row.cost_usd = acc.cost_usd(response_headers.get("x-opper-cost"))
        ledger.charged(model, row.cost_usd)
        ledger.traced(row.trace_id)
        usage = acc.token_usage()
        if usage is not None:
            row.input_tokens, row.output_tokens = usage.input_tokens, usage.output_tokens
        findings, problem = parse(acc.text)
        if problem and not findings:
            row.status, row.error = "malformed", problem
        elif problem:
            row.error = problem
        state = app_state(ctx)
        turns: list[Message] = [*messages[1:], {"role": "assistant", "content": acc.text}]
        row.conversation_id, note = await save_turns(state.conversations, who.owner, None, model,
                                                     str(messages[0]["content"]), turns)
        if note:
            row.error = "; ".join(filter(None, [row.error, note]))
        remember_traces(ctx, opper, trace_id, row.trace_id)
    row.latency_ms = int((time.monotonic() - started) * 1000)
    await on_done(row)
    return Answer(row=row, findings=findings)


async def ask_all(
    ctx: ToolContext, panel: list[str], messages: list[Message], timeout_s: float
) -> list[Answer]:
    """Every model at once, progress as each answers; a cancelled review cancels every upstream request."""
    opper = opper_for(ctx)
    progress = Progress(ctx.report_progress)
    progress.total = float(len(panel))
    answers: dict[int, Answer] = {}
    done: list[str] = []

    async def on_done(row: ModelRow) -> None:
        done.append(row.model)
        state = "" if row.status == "ok" else f" ({row.status})"
        await progress.update(f"{len(done)}/{len(panel)} models answered: {row.model}{state}", step=len(done),
                              force=True)

    async def one(index: int, model: str) -> None:
        answers[index] = await ask(ctx, opper, model, messages, timeout_s, on_done)

    async with progress.heartbeat():
        await progress.update(f"asked {len(panel)} models", step=0, force=True)
        async with anyio.create_task_group() as tg:
            for index, model in enumerate(panel):
                tg.start_soon(one, index, model)
    return [answers[i] for i in range(len(panel))]


# ---- the tool -----------------------------------------------------------------------------------


async def review_roots(ctx: ToolContext, files: Any, diff: Any) -> Any:
    """The client's roots, asked for the default diff (working) too."""
    return await attach.client_roots(ctx, files, diff or ("" if files else "working"))


async def review(
    ctx: ToolContext,
    diff: Annotated[str, Field(description="working (default), staged or a ref/range", max_length=200)] = "",
    files: Annotated[list[str] | None, Field(description=FILES_DOC, max_length=200), CommaList] = None,
    models: Annotated[list[str] | None, CommaList] = None,
    focus: Annotated[str, Field(description="e.g. security, bugs, tests", max_length=500)] = "",
    format: Fmt | None = None,
    max_cost_usd: Annotated[float | None, Field(gt=0, description=MAX_COST_DOC)] = None,
    dry_run: Annotated[bool, Field(description=DRY_RUN_DOC)] = False,
    review_id: Annotated[str, Field(description="Page a finished review", max_length=40)] = "",
    offset: Annotated[int, Field(ge=0)] = 0,
    roots: Annotated[ListRootsResult | list[str] | None, Resolve(review_roots)] = None,
) -> Annotated[CallToolResult, ReviewResult]:
    """Several models review code at once; findings located, merged by agreement."""
    state = app_state(ctx)
    owner = caller(ctx).owner
    if review_id:
        kept = state.reviews.get((owner, review_id))
        if not isinstance(kept, Review):
            raise ToolError(f"unknown review_id {review_id!r} (reviews are kept for an hour by the server that "
                            "made them); run the review again")
        return respond(*result_of(kept, review_id, format or "findings", offset))
    if not files and not diff.strip():
        diff = "working"
    panel = list(models or [])
    if models is not None and not panel:
        raise ToolError("models is empty: name at least one reviewer, or leave models out for the default panel")
    if len(panel) > MAX_MODELS:
        raise ToolError(f"{len(panel)} models: a review asks at most {MAX_MODELS}")
    listed = await catalog(ctx)
    panel = panel or list(state.settings.review_models) or default_panel(listed)
    check_panel(panel, listed)
    system = instructions(focus)

    def plan(collected: Collected | None) -> Plan[tuple[list[Message], locate.Shown]]:
        shown = shown_of(collected) if collected is not None else locate.Shown()
        if collected is None or not shown.lines:
            what = f"git diff {diff.strip()}" if diff.strip() else "the files given"
            skipped = "; ".join(f"{s.path}: {s.reason}" for s in (collected.skipped if collected else [])[:3])
            raise ToolError(f"nothing to review: {what} shows no lines of code" + (f" ({skipped})" if skipped else ""))
        media = sorted(collected.kinds - {"text"})
        if media:
            raise ToolError(f"review reads code: leave the {' and '.join(media)} files out")
        request = "Review this code." + (f" {focus.strip()}" if focus.strip() else "")
        messages: list[Message] = [
            {"role": "system", "content": system},
            {"role": "user", "content": [*collected.parts, {"type": "text", "text": request}]},
        ]
        tokens = message_tokens([messages[0]]) + collected.est_tokens + message_tokens([messages[1]])
        return Plan((messages, shown), [Ask(model, tokens) for model in panel])

    prepared = await prepare(ctx, files, diff, roots, plan, max_cost_usd=max_cost_usd, dry_run=dry_run)
    if prepared.dry_run:
        dry = ReviewResult(summary=f"dry run: {len(panel)} models would review; nothing was sent", findings=[],
                           models=[ModelRow(model=m, status="ok") for m in panel])
        return respond(prepared.report(dry))
    messages, shown = prepared.payload
    started = time.monotonic()
    answers = await ask_all(ctx, panel, messages, state.settings.review_timeout_s)
    kept = conclude(answers, shown, time.monotonic() - started)
    new_id = "rev_" + uuid.uuid4().hex[:16]
    state.reviews[(owner, new_id)] = kept
    result, shrink = result_of(kept, new_id, format or "findings", 0)
    prepared.report(result)
    return respond(result, shrink)


def conclude(answers: list[Answer], shown: locate.Shown, seconds: float) -> Review:
    """Locate each model's findings, merge across models, rank and summarise (pure; the tool's last step)."""
    failures = [a.row for a in answers if a.row.status != "ok"]
    answered = [a for a in answers if a.row.status == "ok"]
    if not answered:
        raise ToolError("every model failed — " + "; ".join(f"{r.model}: {r.status}: {r.error}" for r in failures))
    per_model: dict[str, list[Finding]] = {}
    unlocated: list[tuple[str, locate.Unlocated]] = []
    for a in answered:
        found, missed = locate.locate(a.findings, shown)
        per_model[a.row.model] = found
        unlocated += [(a.row.model, u) for u in missed]
        a.row.findings, a.row.unlocated = len(found), len(missed)
    merged = rank.rank(merge(per_model, len(answered)))
    costs = [a.row.cost_usd for a in answers if a.row.cost_usd is not None]
    total = round(sum(costs), 8) if costs else None
    line = rank.summary(merged, unlocated=len(unlocated), answered=len(answered), asked=len(answers), cost=total,
                        seconds=seconds)
    return Review(merged=merged, unlocated=unlocated, rows=[a.row for a in answers], summary=line,
                  total_cost_usd=total, duration_ms=int(seconds * 1000))


def finding_view(index: int, m: MergedFinding) -> ReviewFinding:
    severities = {member.model: member.finding.severity for member in m.members}
    explanations: dict[str, str] = {}
    for member in m.members:
        text, cut = clip(member.finding.explanation, EXPLANATION_CHARS)
        explanations.setdefault(member.model, text + ("…" if cut else ""))
    suggestion = next((mem.finding.suggestion for mem in m.members if mem.finding.suggestion), None)
    return ReviewFinding(
        id=f"F{index + 1}", file=m.file, lines=m.lines, severity=m.severity, category=m.category, title=m.title,
        agreement=f"{m.agreement}/{m.answered}", found_by=m.found_by,
        severities=severities if len(set(severities.values())) > 1 else None,
        explanations=explanations, suggestion=suggestion,
    )


def result_of(kept: Review, review_id: str, fmt: Fmt, offset: int) -> tuple[ReviewResult, Callable[[], bool]]:
    """A page of a finished review (and its SARIF log when asked), with a shrinker for the output budget."""
    if offset and offset >= len(kept.merged):
        raise ToolError(f"offset {offset} is past the end: the review has {len(kept.merged)} findings")
    page = kept.merged[offset:offset + PAGE]
    result = ReviewResult(
        summary=kept.summary,
        findings=[finding_view(offset + i, m) for i, m in enumerate(page)],
        unlocated=[UnlocatedFinding(model=model, file=u.finding.file,
                                    lines=f"{u.finding.start_line}-{u.finding.end_line}", title=u.finding.title,
                                    reason=u.reason) for model, u in kept.unlocated] or None,
        models=kept.rows,
        total_cost_usd=kept.total_cost_usd,
        duration_ms=kept.duration_ms,
        next_offset=offset + PAGE if offset + PAGE < len(kept.merged) else None,
        review_id=review_id,
        sarif=sarif.to_sarif(kept.merged, tool_version=__version__) if fmt == "sarif" else None,
    )

    def shrink() -> bool:
        if len(result.findings) > 5:
            keep = len(result.findings) * 3 // 4
            result.findings = result.findings[:keep]
            result.next_offset = offset + keep
            result.note = "fewer findings on this page to fit the output budget: pass next_offset for the rest"
            return True
        return False

    return result, shrink
