"""Prompts (shown as slash commands by clients such as Claude Code): ready-made requests that lead
the assistant to call review or chat with the right `diff`/`files`, so nothing gets pasted.

Pure rendering; the tools validate the arguments when the assistant passes them on.
"""

from __future__ import annotations

import json
from typing import Annotated

from pydantic import Field

OPINION_MODEL = "openai/gpt-5"


def split_list(value: str) -> list[str]:
    """`"a, b"` or `'["a","b"]'`: prompt arguments are always strings."""
    text = value.strip()
    if text.startswith("["):
        try:
            items = json.loads(text)
        except ValueError:
            items = None
        if isinstance(items, list):
            return [str(item).strip() for item in items if str(item).strip()]
    return [part.strip() for part in text.replace("\n", ",").split(",") if part.strip()]


def _diff_label(target: str) -> str:
    if target == "working":
        return "the uncommitted changes (staged and unstaged, against HEAD)"
    if target == "staged":
        return "the staged changes"
    return f"the changes in {target}"


def review(
    target: Annotated[str, Field(description="working, staged, or a ref or range (main, HEAD~3..HEAD)")] = "working",
    models: Annotated[str, Field(description="Comma-separated model ids (default: three from different makers)")] = "",
    focus: Annotated[str, Field(description="What to look at hardest (security, performance…)")] = "",
) -> str:
    """Review uncommitted changes, staged changes or a ref range with several models at once."""
    target = target.strip() or "working"
    call: dict[str, object] = {"diff": target}
    panel = split_list(models)
    if panel:
        call["models"] = panel
    if focus.strip():
        call["focus"] = focus.strip()
    return (
        f"Get an independent review of {_diff_label(target)} from several models. Call the opper `review` tool "
        f"with these arguments:\n\n{json.dumps(call, indent=2)}\n\n"
        "Do not paste the diff: the tool reads it from the repository itself, leaves out files that hold "
        "secrets, and lists what it attached and skipped. If it reports the context is too large, narrow it "
        "with `files` (paths or globs) or a shorter ref range and call again. Its findings are merged across "
        "the models and ranked by how many agree; `unlocated` ones point at code that was not shown. Check the "
        "top findings against the code and tell me which you agree with. To ask one model about a finding, call "
        "`chat` with that model's `conversation_id` (from `models`) and the finding's id and title."
    )


def second_opinion(
    question: Annotated[str, Field(description="What to ask")],
    files: Annotated[str, Field(description="Comma-separated paths, globs or path:10-40 ranges")] = "",
) -> str:
    """Ask another model a question about some files, attached by path rather than pasted."""
    paths = split_list(files)
    call: dict[str, object] = {"model": OPINION_MODEL, "prompt": question.strip()}
    if paths:
        call["files"] = paths
    return (
        "Get a second opinion from another model. Call the opper `chat` tool with these arguments:\n\n"
        f"{json.dumps(call, indent=2)}\n\n"
        "Pass files by path (globs, directories and path:10-40 line ranges work); do not paste their content. "
        "Check the result's `skipped` list and tell me if something I meant to include was left out. Then "
        "compare its answer with your own view and tell me where you agree and differ. (To have changes "
        "reviewed by several models, the `review` tool fits better.)"
    )
