"""What the models were shown (from real `git diff` output and attached ranges), and findings checked against it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from opper_mcp.context.assemble import gather
from opper_mcp.review.findings import Finding
from opper_mcp.review.locate import LINE_SLACK, Shown, combine, from_diff, from_files, locate, normalise
from tests.context_repo import git, png_bytes
from tests.transport_support import missing


def _lines(n: int, tag: str = "line") -> str:
    return "".join(f"{tag} {i}\n" for i in range(1, n + 1))


@pytest.fixture
def changed_repo(tmp_path: Path) -> Path:
    """A committed tree, then staged changes of every kind: two hunks, rename+edit, add, delete, binary, no EOL."""
    if shutil.which("git") is None:
        missing("git is not installed; the review locate tests read real git diffs")
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    files = {"app/db.py": _lines(60), "old_name.py": _lines(30, "keep"), "gone.py": _lines(5),
             "notrail.txt": "a\nb\nc"}
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    (root / "logo.png").write_bytes(png_bytes())
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "base")
    db = _lines(60).splitlines()
    db[4], db[39] = "changed 5", "changed 40"  # lines 5 and 40: two hunks
    (root / "app/db.py").write_text("\n".join(db) + "\n")
    (root / "pkg").mkdir()
    (root / "old_name.py").rename(root / "pkg/new_name.py")
    (root / "pkg/new_name.py").write_text(_lines(29, "keep") + "edited 30\n")
    (root / "gone.py").unlink()
    (root / "added.py").write_text(_lines(4, "new"))
    (root / "logo.png").write_bytes(png_bytes() + b"\x00extra")
    (root / "notrail.txt").write_text("a\nb\nC")
    git(root, "add", "-A")
    return root


EXPECTED_LINES = {
    "app/db.py": ((2, 8), (37, 43)),  # changed line ± 3 context lines, per hunk
    "pkg/new_name.py": ((27, 30),),
    "added.py": ((1, 4),),
    "notrail.txt": ((1, 3),),
}


def test_shown_from_a_real_git_diff(changed_repo: Path) -> None:
    raw = git(changed_repo, "diff", "--cached", "-M", "--no-color")
    shown = from_diff(raw)
    assert shown.lines == EXPECTED_LINES
    assert shown.renames == {"old_name.py": "pkg/new_name.py"}
    assert set(shown.without_lines) == {"gone.py", "logo.png"}
    assert "deleted" in shown.without_lines["gone.py"]
    assert "binary" in shown.without_lines["logo.png"]


def test_the_sections_opper_mcp_shows_models_read_the_same(changed_repo: Path) -> None:
    """`gather(diff=...)` renders `## renamed a → b` headers and drops binary hunks; Shown is the same."""
    text = gather([changed_repo], diff="staged").parts[0].text
    assert "## renamed old_name.py → pkg/new_name.py" in text
    shown = from_diff(text)
    assert shown.lines == EXPECTED_LINES
    assert shown.renames == {"old_name.py": "pkg/new_name.py"}
    assert set(shown.without_lines) == {"gone.py", "logo.png"}


def test_hunk_counts_decide_what_is_content() -> None:
    """A removed line `--- x` or an added `+++ y` inside a hunk is content, not a file header; so is `## x`."""
    diff = (
        "diff --git a/notes.md b/notes.md\n--- a/notes.md\n+++ b/notes.md\n"
        "@@ -10,4 +10,4 @@ intro\n"
        " keep\n"
        "--- old rule\n"
        "+++ new rule\n"
        "+## modified heading\n"
        "-gone\n"
        " tail\n"
        "\\ No newline at end of file\n"
        "@@ -40 +40,2 @@\n-x\n+y\n+z\n"
    )
    shown = from_diff(diff)
    assert shown.lines == {"notes.md": ((10, 13), (40, 41))}
    assert shown.without_lines == {}


def test_plain_unified_diff_quoted_names_and_pure_renames() -> None:
    plain = ("--- src/a.c\t2024-01-01\n+++ src/a.c\t2024-01-02\n@@ -1,2 +1,3 @@\n x\n+y\n z\n"
             "--- /dev/null\n+++ b/src/new.c\n@@ -0,0 +1,2 @@\n+a\n+b\n")
    assert from_diff(plain).lines == {"src/a.c": ((1, 3),), "src/new.c": ((1, 2),)}
    quoted = ('diff --git "a/d\\303\\251j\\303\\240 vu.py" "b/d\\303\\251j\\303\\240 vu.py"\n'
              '--- "a/d\\303\\251j\\303\\240 vu.py"\n+++ "b/d\\303\\251j\\303\\240 vu.py"\n@@ -5,1 +5,1 @@\n-a\n+b\n')
    assert from_diff(quoted).lines == {"déjà vu.py": ((5, 5),)}
    rename = "diff --git a/x.py b/y.py\nsimilarity index 100%\nrename from x.py\nrename to y.py\n"
    shown = from_diff(rename)
    assert shown.renames == {"x.py": "y.py"}
    assert shown.lines == {}
    assert "rename" in shown.without_lines["y.py"]
    removed = "diff --git a/z.py b/z.py\n--- a/z.py\n+++ b/z.py\n@@ -7,2 +6,0 @@\n-p\n-q\n"  # git diff -U0
    assert from_diff(removed).without_lines == {"z.py": "only lines removed: nothing on the new side to point at"}
    assert from_diff("") == Shown()


def test_normalise_and_resolve_paths() -> None:
    assert normalise(" ./src\\app//db.py ") == "src/app/db.py"
    assert normalise("`a/./b.py`") == "a/b.py"
    shown = combine(from_files([("app/db.py", 1, 80), ("web/app/db.py", 1, 10), ("tools/loader.py", 1, 30)]),
                    from_diff("diff --git a/old.py b/lib/new.py\nrename from old.py\nrename to lib/new.py\n"
                              "--- a/old.py\n+++ b/lib/new.py\n@@ -1,2 +1,2 @@\n-a\n+b\n c\n"))
    assert shown.resolve("app/db.py") == "app/db.py"
    assert shown.resolve("./app\\db.py") == "app/db.py"
    assert shown.resolve("b/app/db.py") == "app/db.py"
    assert shown.resolve("/home/me/project/tools/loader.py") == "tools/loader.py"
    assert shown.resolve("loader.py") == "tools/loader.py"  # a unique suffix
    assert shown.resolve("db.py") is None  # two shown files end so: ambiguous
    assert shown.resolve("old.py") == "lib/new.py"  # the old path of a renamed file
    assert shown.resolve("nowhere.py") is None


def _f(file: str, start: int, end: int | None = None) -> Finding:
    return Finding(file=file, start_line=start, end_line=end or start, severity="medium", category="bug",
                   title="t", explanation="e")


def test_locate_keeps_findings_on_shown_code_and_says_why_not() -> None:
    shown = combine(
        from_diff("diff --git a/app/db.py b/app/db.py\n--- a/app/db.py\n+++ b/app/db.py\n"
                  "@@ -8,7 +8,7 @@\n a\n a\n a\n-b\n+B\n a\n a\n a\n"
                  "@@ -40,7 +40,7 @@\n a\n a\n a\n-b\n+B\n a\n a\n a\n"
                  "diff --git a/gone.py b/gone.py\ndeleted file mode 100644\n--- a/gone.py\n+++ /dev/null\n"
                  "@@ -1,2 +0,0 @@\n-x\n-y\n"
                  "diff --git a/logo.png b/logo.png\nBinary files a/logo.png and b/logo.png differ\n"),
        from_files([("README.md", 1, 120)]),
    )
    findings = [
        _f("app/db.py", 10),  # inside the first hunk
        _f("./app/db.py", 12, 20),  # overlaps: clamped to 12-14
        _f("app/db.py", 5, 50),  # spans both hunks: clamped to 8-46
        _f("app/db.py", 47),  # one line past the second hunk: within the slack, moved onto 46
        _f("app/db.py", 25),  # between hunks
        _f("app/db.py", 400),  # past the end
        _f("README.md", 121),  # one past an attached file: within the slack
        _f("README.md", 300),
        _f("ghost.py", 3),
        _f("gone.py", 1),
        _f("logo.png", 1),
    ]
    located, unlocated = locate(findings, shown)
    assert [(f.file, f.start_line, f.end_line) for f in located] == [
        ("app/db.py", 10, 10), ("app/db.py", 12, 14), ("app/db.py", 8, 46), ("app/db.py", 46, 46),
        ("README.md", 120, 120)]
    assert located[0] is findings[0]  # unchanged findings are passed through as they are
    reasons = {u.finding.file + f":{u.finding.start_line}": u.reason for u in unlocated}
    assert reasons == {
        "app/db.py:25": "lines 25 not in what was shown of app/db.py (shown: 8-14, 40-46)",
        "app/db.py:400": "line 400 past the end of what was shown of app/db.py (last shown line 46)",
        "README.md:300": "line 300 past the end of what was shown of README.md (last shown line 120)",
        "ghost.py:3": "file not reviewed: ghost.py (shown: README.md, app/db.py)",
        "gone.py:1": "gone.py: deleted in the diff: nothing on the new side to point at",
        "logo.png:1": "logo.png: a binary file: no lines were shown",
    }


def test_slack_is_exactly_line_slack() -> None:
    shown = from_files([("a.py", 10, 20)])
    assert LINE_SLACK == 2
    for line, ok in ((7, False), (8, True), (22, True), (23, False)):
        located, _ = locate([_f("a.py", line)], shown)
        assert bool(located) is ok, line
    located, _ = locate([_f("a.py", 6, 8)], shown)  # a range ending within the slack is moved, keeping its length
    assert (located[0].start_line, located[0].end_line) == (10, 10)
    located, _ = locate([_f("a.py", 21, 24)], shown)
    assert (located[0].start_line, located[0].end_line) == (20, 20)


def test_combine_merges_ranges_and_lines_win_over_no_lines() -> None:
    a = from_files([("x.py", 1, 10), ("x.py", 11, 20), ("x.py", 30, 40)])
    assert a.lines == {"x.py": ((1, 20), (30, 40))}
    b = from_diff("diff --git a/x.py b/x.py\nBinary files a/x.py and b/x.py differ\n")
    assert combine(a, b).lines == a.lines and combine(a, b).without_lines == {}
    assert from_files([("empty.py", 1, 0)]).lines == {}
