"""The MCP App views in a real browser under a real host.

tests/js/views_host.mjs is the host: the official TS client declares the `io.modelcontextprotocol/ui` extension
and drives the real server (stdio, emulator behind it); headless Chromium (Debian's) shows each linked `ui://`
page in a sandboxed iframe on its own origin through ext-apps' own AppBridge, handed the tool result as a host
does. Here: what the rendered DOM shows against what the tool returned, keyboard use, the host's theme, the
injection cases, the 5,000-span timing, and a screenshot of each view (`UPDATE_SCREENSHOTS=1` refreshes the
committed ones under docs/views/).

Needs `npm ci` in tests/js and the `chromium` package; without them it skips (fails under
OPPER_MCP_TESTS_STRICT=1).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from opper_mcp.views import MAX_BYTES, VIEWS
from tests.fake_opper import FakeOpperServer
from tests.transport_support import (
    CHROMIUM,
    JS_DIR,
    ROOT,
    last_json,
    node_env,
    require_browser,
    run_node,
    server_env,
)

HOST = JS_DIR / "views_host.mjs"
DOCS = ROOT / "docs" / "views"
SCREENSHOTS = ("trace.png", "trace-dark.png", "roundtable.png", "review.png", "spend.png")
# Model output and span names that would run if anything rendered them as markup.
PAYLOAD = "<img src=x onerror=\"document.title='PWNED'\"></script><script>document.title='PWNED'</script>"
SMALL_TRACE = "5ca1ab1e-0000-4000-8000-000000000001"
BIG_TRACE = "b16b16b1-0000-4000-8000-000000005000"
BIG_SPANS = 5_000
PANEL = ["anthropic/claude-haiku-4-5", "openai/gpt-5-mini", "gemini/gemini-2.5-flash", "mistral/mistral-small-latest"]
FAILING_MEMBER = "mistral/mistral-small-latest"
REVIEWERS = ["anthropic/claude-sonnet-4-5", "openai/gpt-5", "gemini/gemini-2.5-pro", "deepseek/deepseek-chat"]
CODE = """import hashlib
import subprocess
import time


def run(command):
    return subprocess.run(command, shell=True)


def digest(data):
    return hashlib.md5(data).hexdigest()


async def wait():
    time.sleep(1)


def evaluate(expression):
    try:
        return eval(expression)
    except Exception: pass
"""


def small_trace_spans(t0: datetime) -> list[dict[str, Any]]:
    """Nested spans with an error, a span with no timings, unknown fields, and a hostile name."""
    root = "5ca1ab1e-0000-4000-8000-00000000000a"
    agent = "5ca1ab1e-0000-4000-8000-00000000000b"
    return [
        {"id": root, "name": "support-bot/answer", "type": "agent", "start_time": t0, "duration_ms": 5200,
         "meta": {"cost": 0.0011, "shiny_new_field": {"nested": [1, 2]}}},
        {"id": agent, "parent_id": root, "name": "plan", "start_time": t0 + timedelta(milliseconds=40),
         "duration_ms": 900, "input": "How do I rotate my API key?", "output": "search, then draft",
         "meta": {"model": "openai/gpt-5-mini", "cost": 0.0002, "input_tokens": 120, "output_tokens": 14}},
        {"id": "5ca1ab1e-0000-4000-8000-00000000000c", "parent_id": agent, "name": PAYLOAD, "type": "tool",
         "start_time": t0 + timedelta(milliseconds=300), "duration_ms": 400, "output": PAYLOAD},
        {"id": "5ca1ab1e-0000-4000-8000-00000000000d", "parent_id": root, "name": "search-kb", "type": "tool",
         "start_time": t0 + timedelta(milliseconds=1000), "duration_ms": 1300, "status": "error",
         "error": "upstream search timed out after 1300 ms"},
        {"id": "5ca1ab1e-0000-4000-8000-00000000000e", "parent_id": root, "name": "no-timings", "type": "tool",
         "timed": False},
        {"id": "5ca1ab1e-0000-4000-8000-00000000000f", "parent_id": root, "name": "draft-answer",
         "start_time": t0 + timedelta(milliseconds=2400), "duration_ms": 2700,
         "input": [{"role": "user", "content": "How do I rotate my API key?"}],
         "output": "Open Settings > API keys, create a new key, then revoke the old one.",
         "meta": {"model": "anthropic/claude-sonnet-4-6", "cost": 0.0031, "input_tokens": 820, "output_tokens": 96}},
    ]


def big_trace_spans(t0: datetime) -> list[dict[str, Any]]:
    """5,000 spans: a root, 50 steps, each with 99 calls (three levels)."""
    spans: list[dict[str, Any]] = [{"id": "big-root", "name": "batch/run", "start_time": t0, "duration_ms": 600_000}]
    for step in range(50):
        sid = f"big-{step:02d}"
        start = t0 + timedelta(seconds=step * 12)
        spans.append({"id": sid, "parent_id": "big-root", "name": f"step {step}", "start_time": start,
                      "duration_ms": 11_000})
        for call in range(99 if step < 49 else 98):
            spans.append({"id": f"{sid}-{call:02d}", "parent_id": sid, "name": f"call {step}.{call}",
                          "start_time": start + timedelta(milliseconds=call * 110), "duration_ms": 100,
                          "status": "error" if call == 7 else "completed",
                          "meta": {"model": ("openai/gpt-5-mini", "gemini/gemini-2.5-flash")[call % 2],
                                   "cost": 0.00001, "input_tokens": 50, "output_tokens": 5}})
    assert len(spans) == BIG_SPANS
    return spans


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    require_browser()
    work = tmp_path_factory.mktemp("views")
    repo = work / "repo"
    repo.mkdir()
    (repo / "service.py").write_text(CODE)
    shots = work / "screenshots"
    shots.mkdir()
    with FakeOpperServer() as fake:
        t0 = datetime.now(UTC) - timedelta(hours=1)
        fake.state.add_trace("support-bot/answer", trace_id=SMALL_TRACE, start_time=t0, spans=small_trace_spans(t0))
        fake.state.add_trace("batch/run", trace_id=BIG_TRACE, start_time=t0, spans=big_trace_spans(t0))
        fake.state.roundtable_fail_models = {FAILING_MEMBER}
        cases = [
            {"id": "trace", "kind": "trace", "tool": "get_trace", "arguments": {"trace_id": SMALL_TRACE},
             "screenshot": "trace.png", "height": 640},
            {"id": "trace-dark", "kind": "trace", "action": "none", "tool": "get_trace",
             "arguments": {"trace_id": SMALL_TRACE}, "theme": "dark", "screenshot": "trace-dark.png", "height": 520},
            {"id": "trace-big", "kind": "trace", "action": "traceBig", "tool": "get_trace",
             "arguments": {"trace_id": BIG_TRACE}},
            {"id": "roundtable", "kind": "compare", "action": "none", "tool": "roundtable",
             "arguments": {"input": f"Which is safer? {PAYLOAD}", "models": PANEL, "mode": "summary"},
             "screenshot": "roundtable.png", "height": 700},
            {"id": "review", "kind": "compare", "action": "review", "tool": "review",
             "arguments": {"files": ["service.py"], "models": REVIEWERS}, "screenshot": "review.png", "height": 900},
            {"id": "spend", "kind": "spend", "action": "none", "tool": "get_usage",
             "arguments": {"group_by": ["model"]}, "screenshot": "spend.png", "height": 640},
        ]
        config = {
            "server": {"command": sys.executable, "args": ["-m", "opper_mcp"], "cwd": str(repo),
                       "env": server_env(fake.url, work / "cache")},
            "chromium": str(CHROMIUM), "outDir": str(shots), "cases": cases,
        }
        config_path = work / "config.json"
        config_path.write_text(json.dumps(config))
        run = run_node([str(HOST), str(config_path)], node_env(work / "home"), timeout=60)
    data = last_json(run.stdout) if run.stdout.strip() else {}
    assert run.returncode == 0 and "error" not in data, f"{run.stdout}\n{run.stderr}"
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        DOCS.mkdir(parents=True, exist_ok=True)
        for name in SCREENSHOTS:
            shutil.copyfile(shots / name, DOCS / name)
    print(f"\nview screenshots: {shots}")
    data["shots"] = str(shots)
    return dict(data)


def test_every_linked_tool_points_at_its_view(report: dict[str, Any]) -> None:
    assert report["linked"] == {"roundtable": VIEWS["compare"].uri, "review": VIEWS["compare"].uri,
                                "get_trace": VIEWS["trace"].uri, "get_usage": VIEWS["spend"].uri}
    for case in report["cases"].values():
        assert case["mimeType"] == "text/html;profile=mcp-app"
        assert case["resourceMeta"]["ui"]["csp"] == {"connectDomains": [], "resourceDomains": [], "frameDomains": [],
                                                     "baseUriDomains": []}
        assert case["htmlBytes"] <= MAX_BYTES


def test_views_load_nothing_and_run_nothing_but_themselves(report: dict[str, Any]) -> None:
    for name, case in report["cases"].items():
        view = case["final"]
        assert case["errors"] == [] and case["console"] == [], (name, case["errors"], case["console"])
        assert view["problem"] is None, (name, view["problem"])
        # Only the host page, its script and the view document itself were ever requested.
        assert [urlsplit(u).path for u in case["requests"]] == ["/host.html", "/host.js", f"/view/{name}"], (
            name, case["requests"])
        assert view["scripts"] == 1 and view["images"] == 0 and view["elementsWithHandlers"] == 0, name
        assert view["title"] != "PWNED", name
    assert all(url.startswith(("/host.", "/view/")) for url in report["serverRequests"])


def test_trace_waterfall(report: dict[str, Any]) -> None:
    case = report["cases"]["trace"]
    result, view = case["result"], case["view"]
    spans = result["spans"]
    assert view["spansLoaded"] == len(spans) == 6
    assert view["bars"] == view["rowsInDom"] == 6  # one bar per span, all in sight
    assert view["untimedBars"] == 1  # the span without timings is drawn as such, and breaks nothing
    assert view["errorRows"] == 1
    assert [s["name"] for s in spans] == ["support-bot/answer", "no-timings", "plan", PAYLOAD, "search-kb",
                                          "draft-answer"]  # depth first; children by start time, untimed first
    assert PAYLOAD in view["rowNames"][3]  # the hostile name is shown as the text it is
    assert view["stats"]["Total cost"] == "$0.0044"  # 0.0011 + 0.0002 + 0.0031
    assert view["stats"]["Spans"] == "6" and view["stats"]["Errors"] == "1" and view["stats"]["Models"] == "2"
    assert view["stats"]["Duration"] == "5.20 s"
    assert view["byModelRows"] == 2
    # Keyboard: down three times and Enter shows the fourth span (the hostile one) with its output, as text.
    after = case["afterKeys"]
    assert after["detailsTitle"] == PAYLOAD
    assert PAYLOAD in after["details"]
    assert case["collapsed"]["rowsInDom"] == 1 and case["expanded"]["rowsInDom"] == 6
    # The host's theme: its CSS variables, changed while the view is open.
    assert case["view"]["bodyBackground"] == "rgb(255, 255, 255)"
    assert case["themed"] == "rgb(1, 2, 3)" and case["themeAttr"] == "light"
    assert report["cases"]["trace-dark"]["view"]["bodyBackground"] == "rgb(38, 38, 36)"
    assert case["final"]["detailsTitle"] == "draft-answer"
    assert "Open Settings > API keys" in case["final"]["details"]


def test_five_thousand_spans(report: dict[str, Any]) -> None:
    case = report["cases"]["trace-big"]
    first, loaded, end = case["view"], case["loaded"], case["atEnd"]
    assert 0 < first["spansLoaded"] < BIG_SPANS  # the tool keeps within its result budget…
    assert "Showing" in (first["paging"] or "")
    assert loaded["spansLoaded"] == BIG_SPANS  # …and the view fetched the rest through the host
    assert loaded["stats"]["Spans"] == "5,000" and loaded["stats"]["Errors"] == "50"
    assert loaded["spacerPx"] == BIG_SPANS * 26
    assert loaded["rowsInDom"] < 60  # virtualised: only the rows in sight are in the DOM
    assert first["renderMs"] < 1000 and loaded["renderMs"] < 1000, (first["renderMs"], loaded["renderMs"])
    assert end["activeId"] == f"span-{BIG_SPANS - 1}" and end["detailsTitle"] == "call 49.97"
    pages = [c for c in report["toolCalls"] if c["case"] == "trace-big"]
    assert pages and all(c["name"] == "get_trace" and c["arguments"]["io_chars"] == 0 for c in pages)
    print(f"\n5,000 spans: first render {first['renderMs']} ms ({first['spansLoaded']} spans), "
          f"full render {loaded['renderMs']} ms, all {len(pages) + 1} pages loaded in {loaded['loadMs']} ms")


def test_roundtable_side_by_side(report: dict[str, Any]) -> None:
    case = report["cases"]["roundtable"]
    result, view = case["result"], case["view"]
    assert view["columns"] == len(result["results"]) == len(PANEL)
    assert view["columnModels"] == PANEL
    assert view["failedColumns"] == 1
    assert view["modelTableRows"] == len(PANEL)
    answered = [r["answer"] for r in result["results"] if not r.get("error")]
    assert len(answered) == 3 and all(PAYLOAD in a for a in answered)
    assert [a for a in view["answers"] if PAYLOAD in a] == answered  # the model output, verbatim, as text
    assert view["summary"] == result["answer"]
    assert view["stats"]["Answered"] == "3 of 4"


def test_review_findings_table(report: dict[str, Any]) -> None:
    case = report["cases"]["review"]
    result, view = case["result"], case["view"]
    findings = result["findings"]
    assert findings and view["columns"] == len(result["models"]) == len(REVIEWERS)
    assert view["failedColumns"] == 1
    assert view["findingRows"] == [f["id"] for f in findings]
    no_critical = [f["id"] for f in findings if f["severity"] != "critical"]
    assert 0 < len(no_critical) < len(findings)
    assert case["noCritical"]["findingRows"] == no_critical
    by_model = case["byModel"]
    assert by_model["findingRows"] == [f["id"] for f in findings if by_model["model"] in f["found_by"]]
    assert case["opened"]["detailRows"] == 1
    assert view["shown"] == f"{len(findings)} of {len(findings)} shown"


def test_spend_chart_and_tables(report: dict[str, Any]) -> None:
    case = report["cases"]["spend"]
    result, view = case["result"], case["view"]
    rows = result["rows"]
    buckets = {r["time_bucket"] for r in rows}
    assert view["bucketRows"] == len(buckets)
    assert view["rects"] == len({(r["time_bucket"], r["group"]) for r in rows if r.get("cost_usd")})
    assert set(view["rectGroups"]) == {r["group"] for r in rows}
    assert view["bucketColumns"][1:-1] == view["legend"]
    assert view["topRows"] == len(result["top"])
    assert view["stats"]["Total"] == f"${result['total_cost_usd']:.2f}"


def test_screenshots_are_committed_and_shown() -> None:
    readme = (ROOT / "README.md").read_text()
    for name in SCREENSHOTS:
        png = DOCS / name
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
        assert f"docs/views/{name}" in readme, name


def test_screenshots_were_taken(report: dict[str, Any]) -> None:
    for name in SCREENSHOTS:
        assert (Path(report["shots"]) / name).stat().st_size > 10_000, name
