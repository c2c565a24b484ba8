"""`opper-mcp review` as CI runs it: a real process in a real repository against the emulator's reviewing models.

Exit codes, the ranked findings on stdout, progress on stderr, the SARIF file (validated by Microsoft's SARIF
multitool), and bad arguments.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.context_repo import needs_git
from tests.fake_opper import TEST_KEY, FakeOpperServer
from tests.fake_opper import review as reviewers
from tests.review_repo import PANEL, make_review_repo
from tests.test_review_sarif import MULTITOOL, _validate
from tests.transport_support import missing

pytestmark = needs_git


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_review_repo(tmp_path)


def run(repo: Path, fake: FakeOpperServer, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OPPER_API_KEY": TEST_KEY, "OPPER_BASE_URL": fake.url,
           "OPPER_MCP_CACHE_DIR": str(repo.parent / "cache")}
    env.pop("OPPER_MCP_REVIEW_MODELS", None)
    return subprocess.run([sys.executable, "-m", "opper_mcp", "review", *args], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=120)


def test_findings_on_stdout_progress_on_stderr_and_exit_1_at_the_threshold(
    repo: Path, fake_opper: FakeOpperServer
) -> None:
    proc = run(repo, fake_opper, "--models", ",".join(PANEL))
    assert proc.returncode == 1, proc.stderr
    out = proc.stdout.splitlines()
    assert out[0].startswith("4 findings — ") and "2 unlocated" in out[0]
    assert out[2].startswith("F1 [critical] 3/3 app.py:10") and "security" in out[2]
    assert "unlocated (2):" in proc.stdout and reviewers.INVENTED_FILE in proc.stdout
    assert "models answered" in proc.stderr and "failing" in proc.stderr
    assert TEST_KEY not in proc.stdout + proc.stderr


@pytest.mark.parametrize(("args", "status"), [
    (("--fail-on", "never"), 0),
    (("--fail-on", "critical", "--min-agreement", "3"), 1),
    (("--fail-on", "medium", "--min-agreement", "4"), 0),  # no finding has four models behind it
    (("--models", "openai/gpt-5", "--fail-on", "critical"), 0),  # gpt-5 rates everything a step lower
])
def test_exit_status_follows_fail_on_and_min_agreement(
    repo: Path, fake_opper: FakeOpperServer, args: tuple[str, ...], status: int
) -> None:
    models = () if "--models" in args else ("--models", ",".join(PANEL))
    proc = run(repo, fake_opper, *models, *args)
    assert proc.returncode == status, proc.stdout + proc.stderr


def test_sarif_file_is_written_and_valid(repo: Path, fake_opper: FakeOpperServer, tmp_path: Path) -> None:
    target = tmp_path / "review.sarif"
    proc = run(repo, fake_opper, "--models", ",".join(PANEL), "--sarif", str(target), "--fail-on", "never")
    assert proc.returncode == 0, proc.stderr
    log = json.loads(target.read_text())
    results = log["runs"][0]["results"]
    assert len(results) == 4 and results[0]["level"] == "error"
    assert results[0]["properties"]["agreement"] and results[0]["partialFingerprints"]
    if not MULTITOOL.exists():
        missing("the SARIF multitool is not installed: run npm ci in tests/js")
    problems = [r for r in _validate(target, tmp_path) if r.get("level", "warning") in ("error", "warning")]
    assert problems == [], problems


def test_an_unwritable_sarif_path_still_prints_the_findings_and_exits_2(
    repo: Path, fake_opper: FakeOpperServer
) -> None:
    proc = run(repo, fake_opper, "--models", ",".join(PANEL), "--sarif", str(repo / "no" / "such" / "dir.sarif"))
    assert proc.returncode == 2
    assert proc.stdout.startswith("4 findings") and "could not write the SARIF file" in proc.stderr


@pytest.mark.parametrize(("args", "needle"), [
    (("--fail-on", "severe"), "invalid choice"),
    (("--min-agreement", "0"), "at least 1"),
    (("--models", "openai/gpt-55"), "close matches"),
    (("--diff=--evil",), "refs cannot start with '-'"),
])
def test_bad_arguments_exit_2_with_a_clear_message(
    repo: Path, fake_opper: FakeOpperServer, args: tuple[str, ...], needle: str
) -> None:
    proc = run(repo, fake_opper, *args)
    assert proc.returncode == 2 and needle in proc.stderr, proc.stderr
    assert proc.stdout == ""
