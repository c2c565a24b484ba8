"""review against the emulator's reviewing models, in a real git repository with planted defects.

The emulated models derive findings from the code they were sent (tests/fake_opper/review.py): each with its own
wording, severities and line offsets; gemini also invents a file and a line past the end; mistral answers broken
JSON, grok is slow, deepseek fails. What each model was sent, the merged and ranked result, the unlocated list,
the rows, the SARIF and the conversations the assistant can continue are checked here.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from opper_mcp.settings import Settings
from tests.context_repo import AWS_KEY, OPPER_KEY, git, needs_git
from tests.fake_opper import TEST_KEY, FakeOpperServer
from tests.fake_opper import review as reviewers
from tests.review_repo import LINE, PANEL, make_review_repo
from tests.support import ProgressLog, connect, data_of, error_text, make_settings

pytestmark = [pytest.mark.anyio, needs_git]

@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("CLAUDE_PROJECT_DIR", raising=False)
    monkeypatch.chdir(make_review_repo(tmp_path))
    return tmp_path / "repo"


@pytest.fixture
async def reviewer(settings: Settings, repo: Path, mode: str) -> AsyncIterator[Client]:
    async with connect(settings, mode) as client:
        yield client


def chat_requests(fake: FakeOpperServer) -> list[dict[str, Any]]:
    return [json.loads(r.body) for r in fake.state.requests_to("/v3/compat/chat/completions")]


async def review(client: Client, **args: Any) -> dict[str, Any]:
    return dict(data_of(await client.call_tool("review", {"models": PANEL, **args})))


async def refused(client: Client, **args: Any) -> str:
    return error_text(await client.call_tool("review", args))


def by_line(data: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {int(f["lines"].split("-")[0]): f for f in data["findings"]}


async def test_three_models_review_the_working_changes_and_their_findings_merge(
    reviewer: Client, fake_opper: FakeOpperServer
) -> None:
    progress = ProgressLog()
    data = dict(data_of(await reviewer.call_tool("review", {"models": PANEL}, progress_callback=progress)))

    sent = chat_requests(fake_opper)
    assert sorted(r["model"] for r in sent) == sorted(PANEL)
    for body in sent:  # every model saw the same context, asked for the findings schema, and no secret
        assert body["response_format"]["type"] == "json_schema"
        assert body["response_format"]["json_schema"]["strict"] is True
        assert "findings" in body["response_format"]["json_schema"]["schema"]["properties"]
        text = json.dumps(body)
        assert "eval(expr)" in text and "## modified app.py" in text
        for secret in (OPPER_KEY, AWS_KEY, TEST_KEY):
            assert secret not in text
    assert len({json.dumps(b["messages"]) for b in sent}) == 1

    lines = by_line(data)
    assert set(lines) >= {LINE["shell"], LINE["eval"], LINE["sleep"], LINE["except"]}
    evil = lines[LINE["eval"]]
    assert evil["agreement"] == "3/3" and sorted(evil["found_by"]) == sorted(PANEL)
    assert evil["severity"] == "critical" and evil["severities"]["openai/gpt-5"] == "high"
    assert evil["category"] == "security" and evil["file"] == "app.py"
    assert set(evil["explanations"]) == set(PANEL)
    # gemini does not look at performance: the blocking sleep is found by two of three
    assert lines[LINE["sleep"]]["agreement"] == "2/3"
    assert "gemini/gemini-2.5-pro" not in lines[LINE["sleep"]]["found_by"]
    # ranked by agreement, then severity
    order = [(int(f["agreement"][0]), f["severity"]) for f in data["findings"]]
    assert order[0] == (3, "critical") and order[-1][0] == 2
    assert [f["id"] for f in data["findings"]] == [f"F{i}" for i in range(1, len(data["findings"]) + 1)]

    # gpt-5 reports its first finding twice: merged, counted once
    assert all(f["found_by"].count("openai/gpt-5") <= 1 for f in data["findings"])
    # gemini invents a file and a line far past the end: kept apart and counted in its row
    unlocated = data["unlocated"]
    assert {u["model"] for u in unlocated} == {"gemini/gemini-2.5-pro"}
    assert any(u["file"] == reviewers.INVENTED_FILE and "file not reviewed" in u["reason"] for u in unlocated)
    assert any("past the end" in u["reason"] for u in unlocated)
    rows = {r["model"]: r for r in data["models"]}
    assert rows["gemini/gemini-2.5-pro"]["unlocated"] == 2 and rows["anthropic/claude-sonnet-4-5"]["unlocated"] == 0
    for row in rows.values():
        assert row["status"] == "ok" and row["trace_id"] and row["conversation_id"] and row["cost_usd"] > 0
        assert row["input_tokens"] and row["latency_ms"] is not None
    assert len({r["trace_id"] for r in rows.values()}) == 3
    assert data["total_cost_usd"] == pytest.approx(sum(r["cost_usd"] for r in rows.values()))
    assert data["summary"].startswith(f"{len(data['findings'])} findings — ") and "2 unlocated" in data["summary"]
    assert "3 models" in data["summary"]
    # what went out: the diff attached, the secret files left out
    assert [a["path"] for a in data["attached"]] == ["git diff working"]
    # progress per model as it answers
    assert any(m.startswith("3/3 models answered") for m in progress.messages)


async def test_one_model_can_be_asked_about_its_finding_with_its_view_of_the_code(
    reviewer: Client, fake_opper: FakeOpperServer
) -> None:
    data = await review(reviewer)
    row = next(r for r in data["models"] if r["model"] == "openai/gpt-5")
    first = data["findings"][0]
    answer = data_of(await reviewer.call_tool("chat", {
        "model": row["model"], "conversation_id": row["conversation_id"],
        "prompt": f"Why is {first['id']} ({first['title']}) a problem?",
    }))
    assert answer["conversation_id"] == row["conversation_id"]
    follow_up = chat_requests(fake_opper)[-1]
    assert follow_up["model"] == "openai/gpt-5"
    history = json.dumps(follow_up["messages"])
    assert "eval(expr)" in history  # the same context the model reviewed
    assert "findings" in follow_up["messages"][-2]["content"]  # its own answer


async def test_a_failing_a_malformed_and_a_slow_model_are_reported_in_their_rows(
    fake_opper: FakeOpperServer, repo: Path, tmp_path: Path
) -> None:
    fake_opper.state.review_delay_s = 5.0
    settings = make_settings(fake_opper.url, tmp_path / "c", review_timeout_s=0.5)
    models = ["anthropic/claude-sonnet-4-5", reviewers.FAILING, reviewers.MALFORMED, reviewers.SLOW]
    async with connect(settings) as client:
        started = anyio.current_time()
        data = data_of(await client.call_tool("review", {"models": models}))
        elapsed = anyio.current_time() - started
    rows = {r["model"]: r for r in data["models"]}
    assert rows["anthropic/claude-sonnet-4-5"]["status"] == "ok"
    assert rows[reviewers.FAILING]["status"] == "failed" and "500" in rows[reviewers.FAILING]["error"]
    assert rows[reviewers.MALFORMED]["status"] == "malformed" and rows[reviewers.MALFORMED]["error"]
    assert rows[reviewers.SLOW]["status"] == "timeout" and "0.5 s" in rows[reviewers.SLOW]["error"]
    assert elapsed < 4.0  # the slow model did not hold the review up
    assert all(f["agreement"].endswith("/1") for f in data["findings"])  # one model answered
    assert "1 of 4 models answered" in data["summary"]


async def test_every_model_failing_is_an_error_naming_each(fake_opper: FakeOpperServer, repo: Path,
                                                          settings: Settings) -> None:
    async with connect(settings) as client:
        text = await refused(client, models=[reviewers.FAILING, reviewers.MALFORMED])
    assert "every model failed" in text and reviewers.FAILING in text and reviewers.MALFORMED in text


async def test_cancelling_stops_every_upstream_request(reviewer: Client, fake_opper: FakeOpperServer) -> None:
    fake_opper.state.chunk_delay = 0.2
    finished = False

    async def run() -> None:
        nonlocal finished
        await reviewer.call_tool("review", {"models": PANEL})
        finished = True

    with anyio.CancelScope() as scope:
        async with anyio.create_task_group() as tg:
            tg.start_soon(run)
            with anyio.fail_after(10):
                while not (len(fake_opper.state.streams) == 3  # noqa: ASYNC110
                           and all(s.chunks_sent >= 2 for s in fake_opper.state.streams)):
                    await anyio.sleep(0.005)
            scope.cancel()
    assert not finished
    for index in range(3):
        record = await fake_opper.state.await_stream_closed(3.0, index=index)
        assert record.disconnected_at is not None and not record.finished, record


async def test_the_default_panel_is_three_makers_with_json_schema_output(
    reviewer: Client, fake_opper: FakeOpperServer
) -> None:
    data = data_of(await reviewer.call_tool("review", {}))
    assert [r["model"] for r in data["models"]] == PANEL
    assert sorted(r["model"] for r in chat_requests(fake_opper)) == sorted(PANEL)


async def test_configured_models_are_the_default(fake_opper: FakeOpperServer, repo: Path, tmp_path: Path) -> None:
    settings = make_settings(fake_opper.url, tmp_path / "c", review_models=("openai/gpt-5",))
    async with connect(settings) as client:
        data = data_of(await client.call_tool("review", {}))
    assert [r["model"] for r in data["models"]] == ["openai/gpt-5"]
    assert all(f["agreement"] == "1/1" for f in data["findings"])


async def test_files_are_reviewed_and_located_on_their_numbered_lines(
    reviewer: Client, fake_opper: FakeOpperServer
) -> None:
    data = await review(reviewer, files=["app.py:9-20"])
    assert data["attached"] == [{"path": "app.py", "lines": "9-20", "chars": data["attached"][0]["chars"],
                                 "est_tokens": data["attached"][0]["est_tokens"]}]
    lines = by_line(data)
    assert LINE["eval"] in lines and LINE["shell"] not in lines  # line 6 was not shown
    assert "=== app.py (lines 9-20" in json.dumps(chat_requests(fake_opper)[0])


async def test_bad_input_is_refused_before_any_model_is_called(
    reviewer: Client, fake_opper: FakeOpperServer, repo: Path
) -> None:
    cases = {
        "listed twice": {"models": ["openai/gpt-5", "openai/gpt-5"]},
        "close matches": {"models": ["openai/gpt-55"]},
        "models is empty": {"models": []},
        "at most 6": {"models": [f"m{i}" for i in range(7)]},
        "does not answer in a JSON schema": {"models": ["openai/dall-e-3"]},
    }
    for needle, args in cases.items():
        assert needle in await refused(reviewer, **args), needle
    git(repo, "stash", "-q", "--include-untracked")
    assert "nothing to review" in await refused(reviewer, models=PANEL)
    assert chat_requests(fake_opper) == []


async def test_over_the_cost_limit_or_a_dry_run_sends_nothing(reviewer: Client, fake_opper: FakeOpperServer) -> None:
    text = await refused(reviewer, models=PANEL, max_cost_usd=0.0001)
    assert "max_cost_usd" in text
    dry = await review(reviewer, dry_run=True)
    assert dry["est_cost_usd"] > 0 and dry["est_input_tokens"] > 0 and "nothing was sent" in dry["summary"]
    assert chat_requests(fake_opper) == []


async def test_sarif_and_pages_of_a_finished_review_cost_no_model_call(
    reviewer: Client, fake_opper: FakeOpperServer
) -> None:
    data = await review(reviewer, format="sarif")
    log = data["sarif"]
    assert log["version"] == "2.1.0"
    results = log["runs"][0]["results"]
    assert len(results) == len(data["findings"])
    assert {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in results} == {"app.py"}
    calls = len(chat_requests(fake_opper))
    again = data_of(await reviewer.call_tool("review", {"review_id": data["review_id"], "format": "sarif"}))
    assert again["sarif"] == log and again["findings"] == data["findings"]
    assert len(chat_requests(fake_opper)) == calls
    assert "unknown review_id" in await refused(reviewer, review_id="rev_nope")
    assert "past the end" in await refused(reviewer, review_id=data["review_id"], offset=99)
