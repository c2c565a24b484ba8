"""`opper-mcp review`: the review tool for CI, through the same server and tool code as an assistant's call.

The command builds the server from the environment, connects an in-memory MCP client to it and calls `review`:
ranked findings go to stdout, progress to stderr, the SARIF log to `--sarif FILE`. Exit codes: 0 when no
located finding reaches `--fail-on` with at least `--min-agreement` models behind it, 1 when one does, 2 for
bad arguments, a review that could not run, or a SARIF file that could not be written (findings still printed).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from opper_mcp.review.findings import SEVERITIES, severity_rank
from opper_mcp.settings import add_arguments, settings_from

NEVER = "never"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="opper-mcp review",
        description="Review code with several Opper models at once: findings located on the code, merged across "
        "models by agreement and ranked (the review tool, for CI). Reads OPPER_API_KEY from the environment.",
        epilog="Exit status: 0 no finding at --fail-on or above (with --min-agreement models), 1 there is one, "
        "2 bad arguments, a failed review, or an unwritable --sarif file.",
    )
    parser.add_argument("--diff", default="", help="git changes: working (default unless --files), staged, a ref "
                        "or a range such as origin/main...HEAD")
    parser.add_argument("--files", default="", help="comma-separated paths, globs or path:10-40 (with --diff: "
                        "narrows the diff)")
    parser.add_argument("--models", default="", help="comma-separated reviewers (default: OPPER_MCP_REVIEW_MODELS, "
                        "else three strong models from different makers)")
    parser.add_argument("--focus", default="", help="bugs, security, tests, performance, or your own words")
    parser.add_argument("--sarif", type=Path, metavar="FILE", help="write the findings as SARIF 2.1.0 here")
    parser.add_argument("--fail-on", choices=[*SEVERITIES, NEVER], default="high",
                        help="exit 1 when a finding is this severe or worse (default high; never: always 0)")
    parser.add_argument("--min-agreement", type=int, default=1, metavar="K",
                        help="only findings at least K models agree on count for --fail-on (default 1)")
    parser.add_argument("--max-cost-usd", type=float, help="refuse the review if its estimate is higher")
    add_arguments(parser, ("review_timeout_s", "base_url", "timeout_s", "cache_dir", "store",
                           "allow_paths"))
    return parser


def _split(value: str) -> list[str] | None:
    parts = [p.strip() for p in value.split(",") if p.strip()]
    return parts or None


def arguments(args: argparse.Namespace) -> dict[str, Any]:
    """The review tool's arguments from the command line."""
    call: dict[str, Any] = {"diff": args.diff, "focus": args.focus, "format": "sarif" if args.sarif else "findings"}
    for name, value in (("files", _split(args.files)), ("models", _split(args.models)),
                        ("max_cost_usd", args.max_cost_usd)):
        if value is not None:
            call[name] = value
    return call


def report(data: dict[str, Any]) -> str:
    """Ranked findings as plain text: the summary, one block per finding, then the unlocated and the models."""
    out = [data["summary"], ""]
    for f in data.get("findings", []):
        out.append(f"{f['id']} [{f['severity']}] {f['agreement']} {f['file']}:{f['lines']} {f['category']}: "
                   f"{f['title']}")
        for model, text in f.get("explanations", {}).items():
            out.append(f"    {model}: {text}")
        if f.get("suggestion"):
            out.append(f"    suggestion: {f['suggestion']}")
    unlocated = data.get("unlocated") or []
    if unlocated:
        out += ["", f"unlocated ({len(unlocated)}):"]
        out += [f"    {u['model']}: {u['file']}:{u['lines']} {u['title']} — {u['reason']}" for u in unlocated]
    out += ["", "models:"]
    for row in data.get("models", []):
        cost = f"${row['cost_usd']:.4f}" if row.get("cost_usd") is not None else "-"
        latency = f"{row['latency_ms'] / 1000:.1f} s" if row.get("latency_ms") is not None else "-"
        tail = f" — {row['error']}" if row.get("error") else ""
        out.append(f"    {row['model']}: {row['status']}, {row.get('findings', 0) or 0} findings, {latency}, {cost}, "
                   f"trace {row.get('trace_id') or '-'}{tail}")
    return "\n".join(out) + "\n"


def failing(data: dict[str, Any], fail_on: str, min_agreement: int) -> list[dict[str, Any]]:
    """The findings that fail the run (on every page of the review)."""
    if fail_on == NEVER:
        return []
    bar = severity_rank(fail_on)  # type: ignore[arg-type]
    return [f for f in data.get("findings", [])
            if severity_rank(f["severity"]) >= bar and int(f["agreement"].split("/")[0]) >= min_agreement]


async def run(args: argparse.Namespace) -> tuple[int, dict[str, Any] | None, str]:
    """(exit status, the whole result, an error message) of one review through an in-memory MCP client."""
    from mcp import Client

    from opper_mcp.cli import configure_logging, start_up

    settings = settings_from(args)
    configure_logging(settings)
    _, server = start_up(settings)

    async def progress(progress: float, total: float | None, message: str | None) -> None:
        sys.stderr.write(f"[{progress:g}/{total:g}] {message}\n" if total else f"{message}\n")
        sys.stderr.flush()

    async with Client(server) as client:
        result = await client.call_tool("review", arguments(args), progress_callback=progress)
        if result.is_error:
            return 2, None, " ".join(getattr(b, "text", "") for b in result.content)
        data = dict(result.structured_content or {})
        pages = [data]
        while pages[-1].get("next_offset"):
            more = await client.call_tool("review", {"review_id": data["review_id"],
                                                     "offset": pages[-1]["next_offset"]})
            if more.is_error or more.structured_content is None:
                break
            pages.append(dict(more.structured_content))
        data["findings"] = [f for page in pages for f in page.get("findings", [])]
    return 0, data, ""


def main(argv: Sequence[str]) -> int:
    import anyio
    from pydantic import ValidationError

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.min_agreement < 1:
        parser.error("--min-agreement must be at least 1")
    try:
        status, data, error = anyio.run(run, args)
    except ValidationError as exc:
        sys.stderr.write(f"opper-mcp review: {exc.errors()[0]['msg']}\n")
        return 2
    if data is None:
        sys.stderr.write(f"opper-mcp review: {error}\n")
        return status
    sys.stdout.write(report(data))
    sys.stdout.flush()
    if args.sarif is not None:
        try:
            args.sarif.write_text(json.dumps(data.get("sarif"), indent=2) + "\n", encoding="utf-8")
        except OSError as exc:
            sys.stderr.write(f"opper-mcp review: could not write the SARIF file: {exc}\n")
            return 2
    failed = failing(data, args.fail_on, args.min_agreement)
    if failed:
        sys.stderr.write(f"opper-mcp review: {len(failed)} finding(s) at {args.fail_on} or above with "
                         f"{args.min_agreement}+ models: failing\n")
        return 1
    return 0
