"""The tool path end to end: `chat(files=["."], dry_run=true)` on the project's own tree, server side.

    uv run python -m tests.bench.context_tool

Prints (to stderr) the wall time of one dry run through an in-memory MCP client against the emulator: roots,
gather in a worker thread (collect, read, secret scan), the window check and the cost estimate, with the catalogue
already cached. No model is called (the emulator's request log is checked). Size limits are raised so the whole
tree fits; a model with a 1M-token window takes it.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import anyio
from mcp import Client

from opper_mcp.server import build_server
from tests.fake_opper import FakeOpperServer
from tests.support import make_settings

ROOT = Path(__file__).resolve().parents[2]
MODEL = "gemini/gemini-2.5-pro"
RUNS = 5


async def measure(url: str, cache: Path) -> list[float]:
    settings = make_settings(url, cache, context_max_total_bytes=50_000_000, context_max_file_bytes=10_000_000)
    args = {"model": MODEL, "prompt": "Review the project.", "files": ["."], "dry_run": True}
    times: list[float] = []
    async with Client(build_server(settings), mode="legacy") as client:
        await client.call_tool("chat", args)  # warm: catalogue fetched, detect-secrets imported
        for _ in range(RUNS):
            started = time.perf_counter()
            result = await client.call_tool("chat", args)
            times.append(time.perf_counter() - started)
    data = result.structured_content or {}
    assert not result.is_error, result.content
    print(f"dry run of files=['.'] on {ROOT.name}: {len(data.get('attached', []))} attached, "
          f"{len(data.get('skipped') or [])} skipped, ~{data.get('est_input_tokens', 0):,} input tokens, "
          f"est ${data.get('est_cost_usd')}", file=sys.stderr)
    return times


def main() -> None:
    os.chdir(ROOT)  # no client roots: the server's working directory is the root
    os.environ.pop("CLAUDE_PROJECT_DIR", None)
    with FakeOpperServer() as fake, tempfile.TemporaryDirectory() as tmp:
        times = anyio.run(measure, fake.url, Path(tmp))
        assert fake.state.requests_to("/v3/compat/chat/completions") == [], "a dry run called the model"
    print(f"  server-side, per call: median {statistics.median(times) * 1000:.0f} ms, best {min(times) * 1000:.0f} ms "
          f"({RUNS} runs)", file=sys.stderr)


if __name__ == "__main__":
    main()
