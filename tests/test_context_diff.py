"""`diff` context against a real repository: specs, renames/deletions/binaries, secrets, bad refs, git faults."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import time
from pathlib import Path

import pytest

from opper_mcp.context.assemble import gather
from opper_mcp.context.types import ContextError, Gathered, Limits
from tests.context_repo import ALL_SECRETS, AWS_KEY, OPPER_KEY, Repo, make_repo, needs_git

pytestmark = needs_git


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return make_repo(tmp_path)


def text(g: Gathered) -> str:
    assert len(g.parts) == 1 and g.attached[0].kind == "diff"
    return g.parts[0].text


def test_working_diff_has_staged_and_unstaged_changes_and_names_untracked(repo: Repo) -> None:
    g = gather([repo.root], diff="working")
    t = text(g)
    assert t.startswith("=== git diff working ===\n## modified src/app.py\n@@ ")
    assert "+    return 33  # unstaged" in t and "+    return 2  # staged" in t
    assert "## modified src/util.py" in t
    assert "Untracked files (not in this diff; attach them with files to include them): " in t
    assert "notes/, " in t and "src/aws.py" in t  # names only; untracked folders as one entry
    assert "node_modules" not in t and "myenv" not in t and "__pycache__" not in t
    assert g.attached[0].path == "git diff working" and g.attached[0].chars == len(t)
    assert AWS_KEY not in t and "ignored/private.txt" not in t


def test_staged_diff_has_only_the_index(repo: Repo) -> None:
    t = text(gather([repo.root], diff="staged"))
    assert "## modified src/util.py" in t and "src/app.py" not in t and "Untracked" not in t


def test_range_shows_rename_deletion_and_binary_readably(repo: Repo) -> None:
    t = text(gather([repo.root], diff="HEAD~1..HEAD"))
    assert "## renamed src/old_name.py → src/new_name.py (100% similar)" in t
    assert "## deleted docs/obsolete.md\n@@ -1 +0,0 @@\n-# Old" in t
    assert "## binary assets/blob.bin\n(binary file changed)" in t
    assert "GIT binary patch" not in t and "index " not in t
    assert text(gather([repo.root], diff="HEAD~1...HEAD")).count("## ") == 3


def test_single_ref_compares_with_the_working_tree(repo: Repo) -> None:
    t = text(gather([repo.root], diff="HEAD~1"))
    assert "## renamed src/old_name.py → src/new_name.py" in t and "return 33  # unstaged" in t


def test_files_narrow_the_diff(repo: Repo) -> None:
    g = gather([repo.root], ["src/util.py"], diff="working")
    t = text(g)
    assert "## modified src/util.py" in t and "src/app.py" not in t
    t = text(gather([repo.root], ["docs/*.md", "src/*_name.py"], diff="HEAD~1..HEAD"))  # rename: both sides
    assert "## deleted docs/obsolete.md" in t and "## renamed" in t and "blob.bin" not in t


def test_nothing_changed(repo: Repo) -> None:
    assert text(gather([repo.root], diff="HEAD..HEAD")) == "=== git diff HEAD..HEAD ===\n(no changes)"


def test_secret_in_diff_drops_that_file_only(repo: Repo) -> None:
    repo.commit("src/cfg.py", "A = 1\nB = 2\n", "cfg")
    repo.write("src/cfg.py", f"A = 1\nB = 2\nC = 3\nKEY = '{AWS_KEY}'\n")
    g = gather([repo.root], diff="working")
    t = text(g)
    assert "src/cfg.py" not in t and "## modified src/app.py" in t
    assert {s.path: s.reason for s in g.skipped}["src/cfg.py"] == (
        "secret: AWS Access Key on line 4 of the file (in the diff); left out of the diff")
    assert all(s not in repr(g) for s in ALL_SECRETS)


def test_removed_secret_is_caught_too(repo: Repo) -> None:
    repo.commit("src/old_secret.py", f"X = '{AWS_KEY}'\n", "oops")
    repo.git("rm", "-q", "src/old_secret.py")
    repo.git("commit", "-qm", "remove it")
    g = gather([repo.root], diff="HEAD~1..HEAD")
    assert AWS_KEY not in text(g)
    assert g.skipped[0].path == "src/old_secret.py" and "AWS Access Key on line 1" in g.skipped[0].reason


def test_deny_listed_path_is_dropped_from_the_diff(repo: Repo) -> None:
    repo.git("add", "-f", ".env")
    g = gather([repo.root], diff="staged")
    assert ".env" not in text(g).replace(".env.example", "")
    assert {s.path: s.reason for s in g.skipped}[".env"] == (
        "secret-bearing file name (environment file); left out of the diff")
    assert OPPER_KEY not in repr(g)


def test_root_below_the_repository_keeps_the_diff_inside_it(repo: Repo) -> None:
    g = gather([repo.root / "src"], diff="working")
    t = text(g)
    assert "## modified src/util.py" in t
    assert "src/app.py" in t and "README" not in t and "notes/" not in t and g.skipped == []
    g2 = gather([repo.root / "docs"], diff="HEAD~1..HEAD")
    assert "docs/obsolete.md" in text(g2) and "new_name.py" not in text(g2) and g2.skipped == []
    # narrowing to a path outside the root is refused, not silently emptied
    with pytest.raises(ContextError, match="outside the workspace roots"):
        gather([repo.root / "docs"], ["../src/app.py"], diff="working")


def test_not_a_repository(tmp_path: Path) -> None:
    with pytest.raises(ContextError, match="is not a git repository; diff needs one"):
        gather([tmp_path], diff="working")


@pytest.mark.parametrize("ref", ["nope", "main~99", "HEAD..nope", "deadbeef"])
def test_unknown_ref(repo: Repo, ref: str) -> None:
    with pytest.raises(ContextError, match=r"unknown ref '(nope|main~99|deadbeef)'"):
        gather([repo.root], diff=ref)


def test_option_like_refs_are_refused_and_run_nothing(repo: Repo, tmp_path: Path) -> None:
    target = tmp_path / "x"
    for ref in (f"--output={target}", "-p", f"HEAD..--output={target}", f"main...-o{target}"):
        with pytest.raises(ContextError, match="refs cannot start with '-'"):
            gather([repo.root], diff=ref)
    assert not target.exists()


@pytest.mark.parametrize("ref", ["a b", "HEAD:src/app.py", "..", "main..", "..main", "a..b..c", "x.lock",
                                 "@{-1}", "ma*in", "a\\b", "/abs", "refs//x", "main\n-p", "HEAD^{tree}", ""])
def test_invalid_ref_syntax(repo: Repo, ref: str) -> None:
    with pytest.raises(ContextError):
        gather([repo.root], diff=ref)


def test_valid_ref_forms(repo: Repo) -> None:
    repo.git("tag", "v1.0")
    sha = repo.git("rev-parse", "HEAD~1").strip()
    for ref in ("main", "v1.0", "HEAD^", "HEAD~1..main", sha[:10], f"{sha}..HEAD", "@", "refs/heads/main"):
        gather([repo.root], diff=ref)


def test_git_missing_from_path(repo: Repo, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(ContextError, match="git is not installed / not on PATH"):
        gather([repo.root], diff="working")
    assert gather([repo.root], ["src/util.py"]).attached  # files need no git


def _fake_git(tmp_path: Path, script: str) -> Path:
    bindir = tmp_path / "fake-bin"
    bindir.mkdir()
    fake = bindir / "git"
    fake.write_text(f"#!/bin/sh\n{script}\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    return bindir


def test_git_timeout(repo: Repo, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(_fake_git(tmp_path, f"exec {shutil.which('sleep')} 30")))
    started = time.monotonic()
    with pytest.raises(ContextError, match=r"did not finish within 0.5 s; narrow the diff"):
        gather([repo.root], diff="working", limits=Limits(git_timeout_s=0.5))
    assert time.monotonic() - started < 5


def test_endless_git_output_is_capped(repo: Repo, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    real_git = os.popen("command -v git").read().strip()
    script = (f'case "$*" in *" diff "*) exec yes "+ endless line" ;; *) exec {real_git} "$@" ;; esac')
    monkeypatch.setenv("PATH", f"{_fake_git(tmp_path, script)}{os.pathsep}{os.environ['PATH']}")
    started = time.monotonic()
    with pytest.raises(ContextError, match=r"git diff working is over 100,000 bytes; narrow it with files"):
        gather([repo.root], diff="working", limits=Limits(max_diff_bytes=100_000))
    assert time.monotonic() - started < 5


def test_real_diff_over_the_cap(repo: Repo) -> None:
    with pytest.raises(ContextError, match="is over 200 bytes"):
        gather([repo.root], diff="working", limits=Limits(max_diff_bytes=200))


def test_repository_config_cannot_run_programs(repo: Repo, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    repo.git("config", "diff.external", f"touch {marker}")
    repo.git("config", "core.fsmonitor", f"touch {marker}; echo")
    repo.git("config", "diff.evil.textconv", f"touch {marker}; cat")
    repo.git("config", "diff.evil.command", f"touch {marker}")
    repo.git("config", "core.pager", f"touch {marker}; cat")
    repo.write(".gitattributes", "*.py diff=evil\n")
    repo.git("config", "diff.relative", "true")
    repo.git("config", "diff.noprefix", "true")
    t = text(gather([repo.root / "src"], diff="working"))
    assert not marker.exists()
    assert "## modified src/util.py" in t


def test_git_environment_overrides_are_ignored(repo: Repo, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GIT_DIR", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("GIT_EXTERNAL_DIFF", "false")
    assert "## modified src/util.py" in text(gather([repo.root], diff="working"))


def test_repository_without_commits(tmp_path: Path) -> None:
    from tests.context_repo import git

    (tmp_path / "a.txt").write_text("hello\n")
    git(tmp_path, "init", "-q")
    with pytest.raises(ContextError, match="no commits yet; use diff='staged'"):
        gather([tmp_path], diff="working")
    git(tmp_path, "add", "a.txt")
    assert "## added a.txt\n@@ -0,0 +1 @@\n+hello" in text(gather([tmp_path], diff="staged"))


def test_mode_change_and_known_key_in_the_diff(repo: Repo) -> None:
    from tests.context_repo import SERVER_KEY

    (repo.root / "README.md").chmod(0o755)
    repo.write("src/new_name.py", f"TOKEN = '{SERVER_KEY}'\n")
    repo.git("add", "README.md", "src/new_name.py")
    g = gather([repo.root], diff="staged", known_secrets=[SERVER_KEY])
    assert "## modified README.md (mode 100644 → 100755)" in text(g)
    assert {s.path: s.reason for s in g.skipped} == {"src/new_name.py": (
        "secret: the server's own API key on line 1 of the file (in the diff); left out of the diff")}
    assert SERVER_KEY not in repr(g)


def test_odd_file_names(repo: Repo) -> None:
    repo.write("docs/with space.md", "x\n")
    repo.write("docs/ünï cödé.md", "y\n")
    repo.git("add", "docs")
    t = text(gather([repo.root], diff="staged"))
    assert "## added docs/with space.md" in t and "## added docs/ünï cödé.md" in t


def test_symlink_out_in_the_diff_is_dropped(repo: Repo) -> None:
    repo.git("add", "link_out.txt")
    g = gather([repo.root], diff="staged")
    assert "link_out" not in text(g)
    reasons = {s.path: s.reason for s in g.skipped}
    assert reasons == {"link_out.txt": "outside the workspace roots; left out of the diff"}


def test_merge_conflict_is_readable(repo: Repo) -> None:
    repo.git("stash", "-q")  # a clean tree to merge in
    repo.git("checkout", "-q", "-b", "other")
    repo.write("src/util.py", "def helper():\n    return 'other'\n")
    repo.git("commit", "-qam", "other")
    repo.git("checkout", "-q", "main")
    repo.write("src/util.py", "def helper():\n    return 'main'\n")
    repo.git("commit", "-qam", "main")
    with pytest.raises(subprocess.CalledProcessError):
        repo.git("merge", "-q", "other")
    t = text(gather([repo.root], diff="working"))
    assert "## modified src/util.py" in t and "+<<<<<<< HEAD" in t and "+    return 'other'" in t
    t = text(gather([repo.root], diff="staged"))
    assert "## unmerged src/util.py\n(merge conflict not resolved yet; not in the index)" in t


def test_no_newline_marker_keeps_line_numbers(repo: Repo) -> None:
    repo.commit("src/tail.py", "a = 1", "tail")
    repo.write("src/tail.py", f"a = 1\nb = 2\nKEY = '{AWS_KEY}'")
    g = gather([repo.root], diff="working")
    assert {s.path: s.reason for s in g.skipped}["src/tail.py"].startswith("secret: AWS Access Key on line 3 ")
