"""`opper_mcp.review` stays pure: importing it loads no MCP, no HTTP client, no tool or server module."""

from __future__ import annotations

import json
import subprocess
import sys

FORBIDDEN = ("mcp", "httpx2", "httpx", "anyio", "opper_mcp.tools", "opper_mcp.server", "opper_mcp.opper",
             "opper_mcp.context")


def test_importing_the_review_package_loads_nothing_it_must_not() -> None:
    code = ("import sys, json, time; t = time.perf_counter(); "
            "import opper_mcp.review.findings, opper_mcp.review.locate, opper_mcp.review.merge; "
            "import opper_mcp.review.rank, opper_mcp.review.sarif; "
            "d = time.perf_counter() - t; print(json.dumps([d, sorted(sys.modules)]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    seconds, modules = json.loads(out)
    bad = [m for m in modules if any(m == f or m.startswith(f + ".") for f in FORBIDDEN)]
    assert bad == []
    assert "opper_mcp.review.sarif" in modules
    print(f"import opper_mcp.review.*: {seconds * 1000:.0f} ms (pydantic included)")
