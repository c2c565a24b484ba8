"""roundtable against the emulator: request body, modes, votes, member failures, progress, faults."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from mcp import Client

from tests.fake_opper import STREAM_ERROR_CHUNK, TEST_KEY, FakeOpperServer
from tests.support import ProgressLog, cancel_mid_stream, data_of, error_text

pytestmark = pytest.mark.anyio

PATH = "/v3/roundtable"
A, B, C = "openai/gpt-5-mini", "anthropic/claude-sonnet-4-6", "openai/gpt-5"
PANEL = [A, B, C]


def echo(model: str, prompt: str) -> str:
    return f"Echo from {model}: {prompt}"




# ---- the upstream request ------------------------------------------------------------------


async def test_minimal_body(client: Client, fake_opper: FakeOpperServer) -> None:
    data_of(await client.call_tool("roundtable", {"input": "Which queue?", "models": [A, B]}))
    [req] = fake_opper.state.requests_to(PATH)
    assert req.method == "POST"
    assert req.json == {
        "input": "Which queue?",
        "models": [{"name": A}, {"name": B}],
        "resolution": "summary",
        "stream": True,
    }
    assert req.headers["authorization"] == f"Bearer {TEST_KEY}"
    assert "text/event-stream" in req.headers["accept"]


async def test_full_body_with_model_objects_and_options(client: Client, fake_opper: FakeOpperServer) -> None:
    schema = {"type": "object", "properties": {"verdict": {"type": "string"}}, "required": ["verdict"]}
    args = {
        "input": "Judge this.",
        "models": [{"name": A, "temperature": 0.2, "max_tokens": 100, "reasoning": "high"}, B,
                   {"name": C, "temperature": 0}],
        "mode": "summary",
        "instructions": "Be fair.",
        "summary_model": "openai/gpt-5-nano",
        "output_schema": schema,
        "timeout_ms": 5_000,
    }
    data = data_of(await client.call_tool("roundtable", args))
    [req] = fake_opper.state.requests_to(PATH)
    assert req.json == {
        "input": "Judge this.",
        "models": [{"name": A, "temperature": 0.2, "max_tokens": 100, "reasoning": "high"}, {"name": B},
                   {"name": C, "temperature": 0}],
        "resolution": "summary",
        "instructions": "Be fair.",
        "summary_model": "openai/gpt-5-nano",
        "output_schema": schema,
        "timeout_ms": 5_000,
        "stream": True,
    }
    # with output_schema every answer (and the summary) is JSON
    assert [json.loads(r["answer"]) for r in data["results"]] == [{"verdict": "example"}] * 3
    assert json.loads(data["answer"]) == {"verdict": "example"}


async def test_multiple_choice_body_carries_choices(client: Client, fake_opper: FakeOpperServer) -> None:
    choices = ["yes", "no"]
    data_of(await client.call_tool("roundtable", {"input": "q", "models": PANEL, "mode": "multiple_choice",
                                                  "choices": choices}))
    body = fake_opper.state.last_request(PATH).json
    assert body["resolution"] == "multiple_choice"
    assert body["choices"] == choices


INVALID_ROUNDTABLE_ARGS: list[tuple[dict[str, Any], tuple[str, ...]]] = [
    ({"input": "q", "models": [A]}, ("models", "at least 2 items")),
    ({"input": "q", "models": []}, ("models", "at least 2 items")),
    ({"input": "q", "models": [A] * 11}, ("models", "at most 10 items")),
    ({"input": "q", "models": PANEL, "mode": "multiple_choice"}, ("multiple_choice needs choices",)),
    ({"input": "q", "models": PANEL, "mode": "multiple_choice", "choices": ["only"]},
     ("choices", "at least 2 items")),
    ({"input": "   ", "models": PANEL}, ("input is empty",)),
    ({"input": "q", "models": PANEL, "mode": "debate"}, ("mode", "'summary', 'fast' or 'multiple_choice'")),
    ({"input": "q", "models": PANEL, "timeout_ms": 10}, ("timeout_ms", "greater than or equal to 1000")),
    ({"input": "q", "models": [{"name": A, "reasoning": "extreme"}, B]}, ("reasoning", "'low', 'medium'")),
    ({"input": "q", "models": [{"name": ""}, B]}, ("name", "at least 1 character")),
]


async def test_invalid_arguments_fail_before_any_request(client: Client, fake_opper: FakeOpperServer) -> None:
    for args, needles in INVALID_ROUNDTABLE_ARGS:
        text = error_text(await client.call_tool("roundtable", args))
        assert all(n in text for n in needles), (args, text)
    assert fake_opper.state.requests == []


async def test_ten_models_is_allowed(client: Client, fake_opper: FakeOpperServer) -> None:
    data = data_of(await client.call_tool("roundtable", {"input": "q", "models": [A, B] * 5, "mode": "fast"}))
    assert len(data["results"]) == 10
    assert len(fake_opper.state.last_request(PATH).json["models"]) == 10


# ---- results -------------------------------------------------------------------------------


async def test_summary_mode(client: Client, fake_opper: FakeOpperServer) -> None:
    data = data_of(await client.call_tool("roundtable", {"input": "Which queue?", "models": PANEL}))
    assert data["mode"] == "summary"
    assert data["answer"] == "Summary of 3 answers: " + " | ".join(echo(m, "Which queue?") for m in PANEL)
    assert [r["model"] for r in data["results"]] == PANEL
    assert [r["answer"] for r in data["results"]] == [echo(m, "Which queue?") for m in PANEL]
    for r in data["results"]:
        assert "error" not in r
        assert isinstance(r["latency_ms"], int)
        assert r["latency_ms"] >= 0
        assert r["cost_usd"] > 0
        assert r["input_tokens"] > 0
        assert r["output_tokens"] > 0
    assert "votes" not in data
    members = sum(r["cost_usd"] for r in data["results"])
    assert data["total_cost_usd"] > members  # Opper's total includes the summary call
    assert data["duration_ms"] == 800 + 150 * 2 + 400  # meta.total_duration_ms


async def test_fast_mode_has_no_answer_but_every_member_answer(client: Client, fake_opper: FakeOpperServer) -> None:
    data = data_of(await client.call_tool("roundtable", {"input": "hi there", "models": [A, B], "mode": "fast"}))
    assert data["mode"] == "fast"
    assert data.get("answer") is None
    assert [r["answer"] for r in data["results"]] == [echo(A, "hi there"), echo(B, "hi there")]
    assert fake_opper.state.last_request(PATH).json["resolution"] == "fast"


async def test_multiple_choice_votes_and_winner(client: Client, fake_opper: FakeOpperServer) -> None:
    choices = ["positive", "negative", "neutral"]
    data = data_of(await client.call_tool("roundtable", {
        "input": "Sentiment of: it works.", "models": PANEL, "mode": "multiple_choice", "choices": choices,
    }))
    # the emulator has the third member pick the second choice, the others the first
    assert [r["answer"] for r in data["results"]] == ["positive", "positive", "negative"]
    assert data["votes"] == {"positive": 2, "negative": 1, "neutral": 0}
    assert data["answer"] == "positive"


async def test_one_failing_model_does_not_fail_the_tool(client: Client, fake_opper: FakeOpperServer) -> None:
    fake_opper.state.roundtable_fail_models = {B}
    data = data_of(await client.call_tool("roundtable", {"input": "q", "models": PANEL, "timeout_ms": 3_000}))
    failed = data["results"][1]
    assert failed["model"] == B
    assert failed["error"] == "timeout after 3000ms"
    assert "answer" not in failed
    assert [r.get("error") for r in (data["results"][0], data["results"][2])] == [None, None]
    assert data["answer"] == "Summary of 2 answers: " + " | ".join(echo(m, "q") for m in (A, C))


async def test_unknown_member_model_shows_as_that_members_error(client: Client, fake_opper: FakeOpperServer) -> None:
    data = data_of(await client.call_tool("roundtable", {"input": "q", "models": [A, "nope/not-a-model"]}))
    assert data["results"][1]["model"] == "nope/not-a-model"
    assert "model not found" in data["results"][1]["error"]
    assert data["results"][0]["answer"] == echo(A, "q")


async def test_all_models_failing_lists_each(client: Client, fake_opper: FakeOpperServer) -> None:
    fake_opper.state.roundtable_fail_models = {A, C}
    text = error_text(await client.call_tool("roundtable", {"input": "q", "models": [A, C], "timeout_ms": 2_000}))
    assert f"{A}: timeout after 2000ms" in text
    assert f"{C}: timeout after 2000ms" in text


async def test_trace_id_comes_from_meta_and_get_trace_works(client: Client, fake_opper: FakeOpperServer) -> None:
    data = data_of(await client.call_tool("roundtable", {"input": "q", "models": [A, B]}))
    trace_id = data["trace_id"]
    assert trace_id == fake_opper.state.streams[-1].trace_id  # the emulator's meta.trace_uuid
    trace = data_of(await client.call_tool("get_trace", {"trace_id": trace_id}))
    assert trace["id"] == trace_id
    names = {s["name"] for s in trace["spans"]}
    assert names == {f"roundtable/{A}", f"roundtable/{B}", "roundtable/summary"}


async def test_upstream_400_is_reported(client: Client, fake_opper: FakeOpperServer) -> None:
    text = error_text(await client.call_tool("roundtable", {"input": "q", "models": PANEL,
                                                            "summary_model": "nope/not-a-model"}))
    assert "400" in text
    assert "summary_model: model not found" in text


# ---- progress ------------------------------------------------------------------------------


async def test_progress_per_model(client: Client, fake_opper: FakeOpperServer) -> None:
    log = ProgressLog()
    data_of(await client.call_tool("roundtable", {"input": "q", "models": PANEL}, progress_callback=log))
    assert log.messages == ["asked 3 models", "1/3 models answered", "2/3 models answered", "3/3 models answered"]
    assert all(total == 3 for _, total, _ in log.events)
    assert [p for p, _, _ in log.events] == [0, 1, 2, 3]


async def test_progress_reports_a_member_failure(client: Client, fake_opper: FakeOpperServer) -> None:
    fake_opper.state.roundtable_fail_models = {A}
    log = ProgressLog()
    data_of(await client.call_tool("roundtable", {"input": "q", "models": [A, B], "timeout_ms": 1_000},
                                   progress_callback=log))
    assert f"{A} failed: timeout after 1000ms" in " | ".join(log.messages)
    assert log.messages[-1] == "1/2 models answered"
    values = [p for p, _, _ in log.events]
    assert all(b > a for a, b in itertools.pairwise(values)), values
    assert all(total == 2 for _, total, _ in log.events)


# ---- stream faults and cancellation --------------------------------------------------------


async def test_mid_stream_error_is_reported(client: Client, fake_opper: FakeOpperServer) -> None:
    fake_opper.state.stream_error_after(2)
    text = error_text(await client.call_tool("roundtable", {"input": "q", "models": PANEL}))
    assert "roundtable failed" in text
    assert "upstream provider error" in text
    assert fake_opper.state.streams[-1].error_injected
    data = data_of(await client.call_tool("roundtable", {"input": "again", "models": PANEL}))
    assert data["answer"].startswith("Summary of 3 answers")


async def test_mid_stream_error_does_not_leak_the_key(
    client: Client, fake_opper: FakeOpperServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(STREAM_ERROR_CHUNK["error"], "message", f"bad key {TEST_KEY}")
    fake_opper.state.stream_error_after(1)
    text = error_text(await client.call_tool("roundtable", {"input": "q", "models": [A, B]}))
    assert "bad key" in text
    assert TEST_KEY not in text


async def test_dropped_stream_is_reported(client: Client, fake_opper: FakeOpperServer) -> None:
    fake_opper.state.stream_drop_after(2)
    text = error_text(await client.call_tool("roundtable", {"input": "q", "models": PANEL}))
    assert "cut off" in text
    assert len(fake_opper.state.requests_to(PATH)) == 1
    data_of(await client.call_tool("roundtable", {"input": "q", "models": PANEL}))


async def test_cancellation_closes_the_upstream_stream(client: Client, fake_opper: FakeOpperServer) -> None:
    fake_opper.state.chunk_delay = 0.1
    prompt = " ".join(f"w{i}" for i in range(20))
    cancelled_at = await cancel_mid_stream(client, fake_opper, "roundtable", {"input": prompt, "models": PANEL})
    record = await fake_opper.state.await_stream_closed(2.0)
    assert record.path == PATH
    assert record.disconnected_at is not None, record
    assert not record.finished
    assert record.chunks_sent < 3 * 20  # far from the end: every member streams ~20 deltas
    assert record.disconnected_at - cancelled_at < 1.0
    fake_opper.state.chunk_delay = 0
    data = data_of(await client.call_tool("roundtable", {"input": "after", "models": [A, B], "mode": "fast"}))
    assert [r["answer"] for r in data["results"]] == [echo(A, "after"), echo(B, "after")]


async def test_models_as_comma_separated_text(client: Client, fake_opper: FakeOpperServer) -> None:
    data = data_of(await client.call_tool(
        "roundtable", {"input": "q?", "models": "openai/gpt-5-mini, anthropic/claude-sonnet-4-6", "mode": "fast"}))
    assert [r["model"] for r in data["results"]] == ["openai/gpt-5-mini", "anthropic/claude-sonnet-4-6"]
