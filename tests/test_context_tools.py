"""chat/roundtable `files` and `diff` end to end: a real git repo, a real MCP client, the emulator's request log.

Every test asserts on what reached upstream: the labelled content present, the secrets absent,
and nothing at all sent when the call is refused or only estimated.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.client.session import ClientRequestContext
from mcp_types import ErrorData, ListRootsResult, Root

from opper_mcp.server import build_server
from opper_mcp.settings import Settings
from tests.fake_opper import TEST_KEY, FakeOpperServer
from tests.support import data_of, error_text, make_settings, text_of
from tests.transport_support import http_server, server_env

pytestmark = pytest.mark.anyio

CHAT = "/v3/compat/chat/completions"
ROUNDTABLE = "/v3/roundtable"
MODEL = "openai/gpt-5-mini"
TEXT_ONLY = "cerebras/llama-3.3-70b"
SMALL_WINDOW = "cerebras/mixtral-8x7b"  # 32,768 tokens
# Assembled at run time, so this file itself holds no credential-shaped text (the project's own tree stays clean
# for a scan, and for reviewing its own diffs).
OPPER_KEY = "op-" + "live-9f8e7d6c5b4a39281706f5e4d3c2b1a0"
AWS_KEY = "AK" + "IAIOSFODNN7EXAMPLQ"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG" + "/bPxRfiCYEXAMPLEKEQ"
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
SECRETS = (OPPER_KEY, AWS_KEY, AWS_SECRET, TEST_KEY)


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_SYSTEM": os.devnull}
    return subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A small real repository: commits, staged and unstaged changes, a rename, a binary file, an ignored
    folder, a symlink out of the tree, a `.env` with an Opper key and a source file with an AWS key."""
    root = tmp_path / "repo"
    (root / "src").mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "private.txt").write_text("OUTSIDE-THE-ROOT\n")
    git(root, "init", "-q", "-b", "main")
    (root / "src" / "app.py").write_text("".join(f"line_{i} = {i}\n" for i in range(1, 41)))
    (root / "src" / "util.py").write_text("def helper():\n    return 1\n")
    (root / "old_name.py").write_text("RENAMED = True\n")
    (root / "data.bin").write_bytes(bytes(range(256)) * 4)
    (root / ".gitignore").write_text("build/\n")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "first")
    (root / "src" / "util.py").write_text("def helper():\n    return 2  # staged change\n")
    git(root, "mv", "old_name.py", "new_name.py")
    git(root, "add", "src/util.py")
    (root / "src" / "app.py").write_text((root / "src" / "app.py").read_text().replace("line_7 = 7",
                                                                                         "line_7 = 'UNSTAGED'"))
    (root / "build").mkdir()
    (root / "build" / "out.txt").write_text("IGNORED-BUILD-OUTPUT\n")
    (root / "escape").symlink_to(outside / "private.txt")
    (root / ".env").write_text(f"OPPER_API_KEY={OPPER_KEY}\n")
    (root / "src" / "aws.py").write_text(f'AWS_ACCESS_KEY_ID = "{AWS_KEY}"\nAWS_SECRET = "{AWS_SECRET}"\n')
    (root / "pic.png").write_bytes(PNG)
    return root


@pytest.fixture
def in_repo(repo: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No client roots, no CLAUDE_PROJECT_DIR: the server's cwd is the root."""
    monkeypatch.delenv("CLAUDE_PROJECT_DIR", raising=False)
    monkeypatch.chdir(repo)
    return repo


def roots_callback(*paths: Path) -> Any:
    async def list_roots(_: ClientRequestContext) -> ListRootsResult:
        return ListRootsResult(roots=[Root(uri=p.as_uri(), name=p.name) for p in paths])  # type: ignore[arg-type]

    return list_roots


@asynccontextmanager
async def connected(settings: Settings, mode: str, **client_args: Any) -> AsyncIterator[Client]:
    async with Client(build_server(settings), mode=mode, raise_exceptions=True, **client_args) as c:  # type: ignore[arg-type]
        yield c


@pytest.fixture
async def rooted(settings: Settings, repo: Path, mode: str, tmp_path: Path,
                 monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Client]:
    """A client that offers the repo as its root; the server runs elsewhere (cwd = an empty dir)."""
    elsewhere = tmp_path / "server-cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.delenv("CLAUDE_PROJECT_DIR", raising=False)
    async with connected(settings, mode, list_roots_callback=roots_callback(repo)) as c:
        yield c


def sent_bodies(fake: FakeOpperServer, path: str = "/") -> str:
    return "\n".join(r.body.decode("utf-8", "replace") for r in fake.state.requests_to(path))


def user_text(request_json: dict[str, Any]) -> str:
    user = [m for m in request_json["messages"] if m["role"] == "user"][-1]
    content = user["content"]
    return content if isinstance(content, str) else "\n".join(p.get("text", "") for p in content)


def assert_only_catalogue_reads(fake: FakeOpperServer) -> None:
    """Nothing but the (public, cached) model catalogue was read upstream: no model was called."""
    assert [(r.method, r.path) for r in fake.state.requests] in ([], [("GET", "/v3/models")])


def assert_no_secrets(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text


# ---- files ------------------------------------------------------------------------------------


async def test_files_from_client_roots_go_upstream_labelled_and_secret_free(
    rooted: Client, fake_opper: FakeOpperServer
) -> None:
    result = await rooted.call_tool("chat", {"model": MODEL, "prompt": "Review these.",
                                             "files": [".", "src/app.py:5-9", ".env"]})
    text = text_of(result)
    assert not result.is_error, text
    data = data_of(result)
    [req] = fake_opper.state.requests_to(CHAT)
    sent = user_text(req.json)
    # Labelled, numbered content of the attached files; the question comes after the context.
    assert "src/app.py" in sent and "src/util.py" in sent
    assert "line_7 = 'UNSTAGED'" in sent and "return 2" in sent
    assert sent.rstrip().endswith("Review these.")
    attached = {a["path"] for a in data["attached"]}
    assert {"src/app.py", "src/util.py", "new_name.py", "pic.png"} <= attached
    assert not any(p.startswith("build") for p in attached)
    assert all(a["chars"] > 0 and a["est_tokens"] > 0 for a in data["attached"])
    # Secrets and escapes stay home, and the result says so (without the values).
    skipped = {s["path"]: s["reason"] for s in data["skipped"]}
    assert "AWS" in skipped["src/aws.py"] and "line 1" in skipped["src/aws.py"]
    assert "secret" in skipped[".env"] and "outside" in skipped["escape"] and "binary" in skipped["data.bin"]
    assert "OUTSIDE-THE-ROOT" not in sent_bodies(fake_opper)
    assert "IGNORED-BUILD-OUTPUT" not in sent_bodies(fake_opper)
    assert_no_secrets(sent_bodies(fake_opper), text)
    # A human reading `content` sees the same lists.
    assert '"attached"' in text and '"skipped"' in text


async def test_line_range_attaches_only_those_lines(rooted: Client, fake_opper: FakeOpperServer) -> None:
    data = data_of(await rooted.call_tool("chat", {"model": MODEL, "prompt": "q", "files": "src/app.py:5-9"}))
    [item] = data["attached"]
    assert item["path"] == "src/app.py" and item["lines"] == "5-9"
    sent = user_text(fake_opper.state.requests_to(CHAT)[0].json)
    assert "line_5 = 5" in sent and "line_9 = 9" in sent
    assert "line_4 = 4" not in sent and "line_10 = 10" not in sent


async def test_path_outside_the_roots_is_refused_naming_them(
    rooted: Client, fake_opper: FakeOpperServer, repo: Path
) -> None:
    for path in ("../outside/private.txt", str(repo.parent / "outside" / "private.txt"), "escape"):
        message = error_text(await rooted.call_tool("chat", {"model": MODEL, "prompt": "q", "files": [path]}))
        assert str(repo) in message
    assert fake_opper.state.requests_to(CHAT) == []


async def test_roots_cannot_be_smuggled_in_as_an_argument(
    client: Client, in_repo: Path, repo: Path, fake_opper: FakeOpperServer
) -> None:
    """`roots` is filled by the server (from the client's roots list), never from the tool arguments."""
    outside = repo.parent / "outside"
    message = error_text(await client.call_tool("chat", {"model": MODEL, "prompt": "q",
                                                         "files": [str(outside / "private.txt")],
                                                         "roots": [outside.as_uri()]}))
    assert "outside the workspace roots" in message and str(repo) in message
    assert "OUTSIDE-THE-ROOT" not in sent_bodies(fake_opper)


async def test_without_client_roots_the_cwd_is_the_root(
    settings: Settings, in_repo: Path, fake_opper: FakeOpperServer
) -> None:
    async with connected(settings, "legacy") as client:
        data = data_of(await client.call_tool("chat", {"model": MODEL, "prompt": "q", "files": ["src/util.py"]}))
    assert [a["path"] for a in data["attached"]] == ["src/util.py"]
    assert "return 2" in user_text(fake_opper.state.requests_to(CHAT)[0].json)


async def test_a_client_whose_roots_fail_falls_back_to_the_cwd(
    settings: Settings, in_repo: Path, fake_opper: FakeOpperServer
) -> None:
    async def broken(_: ClientRequestContext) -> ErrorData:
        return ErrorData(code=-32603, message="roots are broken today")

    async with connected(settings, "legacy", list_roots_callback=broken) as client:
        data = data_of(await client.call_tool("chat", {"model": MODEL, "prompt": "q", "files": ["src/util.py"]}))
    assert [a["path"] for a in data["attached"]] == ["src/util.py"]


async def test_roots_are_asked_once_per_legacy_session(
    settings: Settings, repo: Path, fake_opper: FakeOpperServer, mode: str
) -> None:
    asked: list[int] = []

    async def counting(ctx: ClientRequestContext) -> ListRootsResult:
        asked.append(1)
        return await roots_callback(repo)(ctx)  # type: ignore[no-any-return]

    async with connected(settings, mode, list_roots_callback=counting) as client:
        for _ in range(3):
            data_of(await client.call_tool("chat", {"model": MODEL, "prompt": "q", "files": ["src/util.py"]}))
        data_of(await client.call_tool("chat", {"model": MODEL, "prompt": "no files"}))
    # A 2025-11-25 session is asked once; a 2026-07-28 client has no session to remember it by, so each call
    # that attaches files asks again (one input-required round trip), and a call without files never asks.
    assert asked == ([1] if mode == "legacy" else [1, 1, 1])


async def test_claude_project_dir_wins_over_cwd(
    settings: Settings, repo: Path, tmp_path: Path, fake_opper: FakeOpperServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.setenv("CLAUDE_PROJECT_DIR", str(repo))
    async with connected(settings, "auto") as client:
        data = data_of(await client.call_tool("chat", {"model": MODEL, "prompt": "q", "files": ["new_name.py"]}))
    assert [a["path"] for a in data["attached"]] == ["new_name.py"]


async def test_allow_paths_add_a_root(
    fake_opper: FakeOpperServer, repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(repo)
    monkeypatch.delenv("CLAUDE_PROJECT_DIR", raising=False)
    extra = tmp_path / "outside"
    settings = make_settings(fake_opper.url, tmp_path / "cache", allow_paths=(extra,))
    async with connected(settings, "legacy") as client:
        data = data_of(await client.call_tool("chat", {"model": MODEL, "prompt": "q",
                                                       "files": [str(extra / "private.txt")]}))
    assert len(data["attached"]) == 1
    assert "OUTSIDE-THE-ROOT" in sent_bodies(fake_opper, CHAT)


async def test_size_limits_come_from_settings(
    fake_opper: FakeOpperServer, in_repo: Path, tmp_path: Path
) -> None:
    (in_repo / "big.txt").write_text("x" * 5_000 + "\n")
    settings = make_settings(fake_opper.url, tmp_path / "cache", context_max_file_bytes=2_000,
                             context_max_total_bytes=3_000)
    async with connected(settings, "legacy") as client:
        data = data_of(await client.call_tool("chat", {"model": MODEL, "prompt": "q",
                                                       "files": ["big.txt", "src/util.py"]}))
        assert [a["path"] for a in data["attached"]] == ["src/util.py"]
        assert data["skipped"][0]["path"] == "big.txt" and "line range" in data["skipped"][0]["reason"]
        (in_repo / "a.txt").write_text("a" * 1_800 + "\n")
        (in_repo / "b.txt").write_text("b" * 1_800 + "\n")
        message = error_text(await client.call_tool("chat", {"model": MODEL, "prompt": "q",
                                                             "files": ["a.txt", "b.txt"]}))
    assert "a.txt" in message and "b.txt" in message
    assert len(fake_opper.state.requests_to(CHAT)) == 1


# ---- diff -------------------------------------------------------------------------------------


async def test_working_diff_goes_upstream(rooted: Client, fake_opper: FakeOpperServer) -> None:
    data = data_of(await rooted.call_tool("chat", {"model": MODEL, "prompt": "Review.", "diff": "working"}))
    sent = user_text(fake_opper.state.requests_to(CHAT)[0].json)
    assert "line_7 = 'UNSTAGED'" in sent and "return 2" in sent
    assert "new_name.py" in sent
    assert any(a["path"].startswith("git diff") or "diff" in a["path"] for a in data["attached"]), data
    assert_no_secrets(sent_bodies(fake_opper))


async def test_files_narrow_the_diff(rooted: Client, fake_opper: FakeOpperServer) -> None:
    data = data_of(await rooted.call_tool("chat", {"model": MODEL, "prompt": "q", "diff": "working",
                                                   "files": ["src/util.py"]}))
    sent = user_text(fake_opper.state.requests_to(CHAT)[0].json)
    assert "return 2" in sent and "UNSTAGED" not in sent
    assert len(data["attached"]) == 1


async def test_diff_outside_a_repository_says_so(
    settings: Settings, tmp_path: Path, fake_opper: FakeOpperServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    monkeypatch.chdir(plain)
    monkeypatch.delenv("CLAUDE_PROJECT_DIR", raising=False)
    async with connected(settings, "auto") as client:
        message = error_text(await client.call_tool("chat", {"model": MODEL, "prompt": "q", "diff": "staged"}))
    assert "not a git repository" in message
    assert fake_opper.state.requests_to(CHAT) == []


async def test_bad_refs_are_refused_before_git_runs(
    rooted: Client, fake_opper: FakeOpperServer, tmp_path: Path
) -> None:
    target = tmp_path / "x"
    for ref in (f"--output={target}", "no-such-ref"):
        message = error_text(await rooted.call_tool("chat", {"model": MODEL, "prompt": "q", "diff": ref}))
        assert "ref" in message.lower()
    assert not target.exists()
    assert fake_opper.state.requests_to(CHAT) == []


# ---- models, budget, cost ---------------------------------------------------------------------


async def test_image_to_a_text_only_model_names_models_that_take_images(
    rooted: Client, fake_opper: FakeOpperServer
) -> None:
    message = error_text(await rooted.call_tool("chat", {"model": TEXT_ONLY, "prompt": "q", "files": ["pic.png"]}))
    assert ("image" in message and "vision" in message and "openai/" in message) or "anthropic/" in message
    assert fake_opper.state.requests_to(CHAT) == []


async def test_image_to_a_vision_model_is_an_image_part(rooted: Client, fake_opper: FakeOpperServer) -> None:
    data = data_of(await rooted.call_tool("chat", {"model": MODEL, "prompt": "What is it?", "files": ["pic.png"]}))
    assert data["attached"][0]["path"] == "pic.png"
    content = [m for m in fake_opper.state.requests_to(CHAT)[0].json["messages"] if m["role"] == "user"][-1]["content"]
    images = [p for p in content if p.get("type") == "image_url"]
    assert images and images[0]["image_url"]["url"].startswith("data:image/png;base64,")


async def test_pdf_needs_a_pdf_model(rooted: Client, fake_opper: FakeOpperServer, repo: Path) -> None:
    (repo / "spec.pdf").write_bytes(b"%PDF-1.4\n1 0 obj<</Type/Page>>endobj\ntrailer<<>>\n%%EOF\n")
    message = error_text(await rooted.call_tool("chat", {"model": "openai/gpt-4.1-mini", "prompt": "q",
                                                         "files": ["spec.pdf"]}))
    assert "pdf" in message and "models that do: " in message
    assert fake_opper.state.requests_to(CHAT) == []
    data_of(await rooted.call_tool("chat", {"model": MODEL, "prompt": "Summarise.", "files": ["spec.pdf"]}))
    content = fake_opper.state.requests_to(CHAT)[0].json["messages"][-1]["content"]
    [pdf] = [p for p in content if p.get("type") == "file"]
    assert pdf["file"]["file_data"].startswith("data:application/pdf;base64,")


async def test_roundtable_refuses_images(rooted: Client, fake_opper: FakeOpperServer) -> None:
    message = error_text(await rooted.call_tool("roundtable", {"input": "q", "models": [MODEL, TEXT_ONLY],
                                                               "files": ["pic.png"]}))
    assert "text only" in message and "chat" in message
    assert fake_opper.state.requests_to(ROUNDTABLE) == []


async def test_budget_overflow_says_what_and_how_to_narrow(
    rooted: Client, fake_opper: FakeOpperServer, repo: Path
) -> None:
    (repo / "big.py").write_text("x = 'abcdefghijklmnopqrstuvwxyz0123456789'\n" * 3_500)  # ~143 kB, ~36k tokens
    message = error_text(await rooted.call_tool("chat", {"model": SMALL_WINDOW, "prompt": "q",
                                                         "files": ["big.py", "src/util.py"]}))
    assert "big.py" in message and "32,768" in message and "line ranges" in message
    assert_only_catalogue_reads(fake_opper)


async def test_dry_run_sends_nothing_and_estimates(rooted: Client, fake_opper: FakeOpperServer) -> None:
    data = data_of(await rooted.call_tool("chat", {"model": MODEL, "prompt": "q", "files": ["src"],
                                                   "dry_run": True}))
    assert_only_catalogue_reads(fake_opper)
    assert "dry run" in data["note"]
    assert data["attached"] and data["skipped"]
    assert data["est_input_tokens"] >= sum(a["est_tokens"] for a in data["attached"])
    assert data["est_cost_usd"] > 0
    rt = data_of(await rooted.call_tool("roundtable", {"input": "q", "models": [MODEL, TEXT_ONLY],
                                                       "diff": "staged", "dry_run": True}))
    assert_only_catalogue_reads(fake_opper)
    assert rt["results"] == [] and rt["est_cost_usd"] > 0 and rt["attached"]


async def test_dry_run_unknown_pricing_says_so(rooted: Client, fake_opper: FakeOpperServer) -> None:
    data = data_of(await rooted.call_tool("chat", {"model": "nobody/unpriced-model", "prompt": "q",
                                                   "dry_run": True}))
    assert "est_cost_usd" not in data
    assert "no prices" in data["note"]
    assert_only_catalogue_reads(fake_opper)


async def test_without_the_catalogue_estimates_say_so_and_max_cost_refuses(
    rooted: Client, fake_opper: FakeOpperServer
) -> None:
    fake_opper.state.fail("/v3/models", 503, times=None)
    data = data_of(await rooted.call_tool("chat", {"model": MODEL, "prompt": "q", "files": ["src/util.py"],
                                                   "dry_run": True}))
    assert "catalogue could not be read" in data["note"] and "est_cost_usd" not in data
    message = error_text(await rooted.call_tool("chat", {"model": MODEL, "prompt": "q", "max_cost_usd": 5.0}))
    assert "catalogue could not be read" in message and "nothing was sent" in message
    assert fake_opper.state.requests_to(CHAT) == []
    # Without a limit the call still goes: the window and prices are unknown, not reasons to refuse.
    data = data_of(await rooted.call_tool("chat", {"model": MODEL, "prompt": "q", "files": ["src/util.py"]}))
    assert data["attached"] and "catalogue could not be read" in data["note"]


async def test_max_cost_refuses_before_sending(rooted: Client, fake_opper: FakeOpperServer) -> None:
    message = error_text(await rooted.call_tool("chat", {"model": MODEL, "prompt": "q", "files": ["src"],
                                                         "max_cost_usd": 0.000001}))
    assert "max_cost_usd" in message and "nothing was sent" in message
    message = error_text(await rooted.call_tool("roundtable", {"input": "q", "models": [MODEL, TEXT_ONLY],
                                                               "max_cost_usd": 0.000001}))
    assert "max_cost_usd" in message
    assert_only_catalogue_reads(fake_opper)
    # Under the limit the call goes through and reports the estimate beside the actual cost.
    data = data_of(await rooted.call_tool("chat", {"model": MODEL, "prompt": "q", "files": ["src/util.py"],
                                                   "max_cost_usd": 1.0}))
    assert data["est_cost_usd"] > 0 and "cost_usd" in data


# ---- roundtable, conversations ----------------------------------------------------------------


async def test_roundtable_input_carries_the_labelled_context(rooted: Client, fake_opper: FakeOpperServer) -> None:
    data = data_of(await rooted.call_tool("roundtable", {"input": "Which is better?", "models": [MODEL, TEXT_ONLY],
                                                         "files": ["src/util.py", "src/aws.py"]}))
    [req] = fake_opper.state.requests_to(ROUNDTABLE)
    assert "src/util.py" in req.json["input"] and req.json["input"].rstrip().endswith("Which is better?")
    assert [a["path"] for a in data["attached"]] == ["src/util.py"]
    assert data["skipped"][0]["path"] == "src/aws.py"
    assert_no_secrets(sent_bodies(fake_opper), text_of(await rooted.call_tool("roundtable", {
        "input": "q", "models": [MODEL, TEXT_ONLY], "files": ["src/aws.py"], "dry_run": True})))


async def test_continuation_sees_the_attached_context(rooted: Client, fake_opper: FakeOpperServer) -> None:
    first = data_of(await rooted.call_tool("chat", {"model": MODEL, "prompt": "Read it.", "files": ["src/util.py"]}))
    data_of(await rooted.call_tool("chat", {"model": MODEL, "prompt": "And now?",
                                            "conversation_id": first["conversation_id"]}))
    second = fake_opper.state.requests_to(CHAT)[1].json
    assert "return 2" in json.dumps(second["messages"])


# ---- HTTP ---------------------------------------------------------------------------------------


async def test_http_refuses_file_context_without_allow_paths(fake_opper: FakeOpperServer, tmp_path: Path) -> None:
    """Real streamable HTTP: the server cannot see the caller's disk, and says how to enable it."""
    env = server_env(fake_opper.url, tmp_path / "cache")
    with http_server(env, tmp_path) as server:
        for mode in ("auto", "legacy"):
            async with Client(server.url, mode=mode, list_roots_callback=roots_callback(tmp_path)) as client:
                for args in ({"files": ["README.md"]}, {"diff": "working"}):
                    result = await client.call_tool("chat", {"model": MODEL, "prompt": "q", **args})
                    message = error_text(result)
                    assert "--allow-paths" in message and "HTTP" in message
    assert fake_opper.state.requests_to(CHAT) == []


async def test_http_with_allow_paths_reads_only_there(fake_opper: FakeOpperServer, repo: Path, tmp_path: Path) -> None:
    env = server_env(fake_opper.url, tmp_path / "cache")
    with http_server(env, tmp_path, "--allow-paths", str(repo)) as server:
        async with Client(server.url, mode="auto") as client:
            data = data_of(await client.call_tool("chat", {"model": MODEL, "prompt": "q", "files": ["src/util.py"]}))
            outside = error_text(await client.call_tool("chat", {"model": MODEL, "prompt": "q",
                                                                 "files": ["../outside/private.txt"]}))
    assert [a["path"] for a in data["attached"]] == ["src/util.py"]
    assert str(repo) in outside
    assert "OUTSIDE-THE-ROOT" not in sent_bodies(fake_opper)


async def test_emulator_refuses_images_for_text_only_models(client: Client, fake_opper: FakeOpperServer) -> None:
    """The emulator is as strict as the providers, so a missed capability check would show."""
    part = {"type": "image_url", "image_url": {"url": "data:image/png;base64," + base64.b64encode(PNG).decode()}}
    message = error_text(await client.call_tool("chat", {"model": TEXT_ONLY, "messages": [
        {"role": "user", "content": [part, {"type": "text", "text": "what is it?"}]}]}))
    assert "does not support image input" in message
