"""Files, globs, folders and line ranges: confinement, walks, odd file types and limits, on a real repository."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from opper_mcp.context import assemble as gather_mod
from opper_mcp.context.assemble import gather
from opper_mcp.context.estimate import estimate_tokens
from opper_mcp.context.paths import collect, glob_regex, resolve_roots
from opper_mcp.context.types import ContextError, Gathered, Limits, Skipped, content_parts
from tests.context_repo import ALL_SECRETS, OUTSIDE_TEXT, PDF, Repo, make_repo, png_bytes


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return make_repo(tmp_path)


def everything(g: Gathered) -> str:
    """All text a caller could pass on: parts, attached, skipped."""
    return "\n".join([*(p.text for p in g.parts), *(repr(a) for a in g.attached), *(repr(s) for s in g.skipped)])


def assert_clean(g: Gathered) -> None:
    blob = everything(g) + "".join(p.data.decode("latin-1") for p in g.parts)
    for secret in ALL_SECRETS:
        assert secret not in blob


def paths(g: Gathered) -> list[str]:
    return [a.path for a in g.attached]


def reasons(g: Gathered) -> dict[str, str]:
    return {s.path: s.reason for s in g.skipped}


def test_one_file_is_labelled_and_numbered(repo: Repo) -> None:
    g = gather([repo.root], ["src/util.py"])
    assert paths(g) == ["src/util.py"]
    assert g.parts[0].text == "=== src/util.py (lines 1-2, whole file) ===\n1| def helper():\n2|     return 2  # staged"
    a = g.attached[0]
    assert (a.lines, a.kind, a.chars) == (None, "file", len(g.parts[0].text))
    assert a.est_tokens == estimate_tokens(g.parts[0].text) == -(-a.chars // 4)
    assert g.chars == a.chars and g.est_tokens == a.est_tokens


def test_line_ranges_number_from_their_start_and_merge(repo: Repo) -> None:
    g = gather([repo.root], ["src/app.py:10-12", "src/app.py:11-14", "src/app.py:40", "src/app.py:10-12"])
    assert [(a.path, a.lines) for a in g.attached] == [("src/app.py", "10-14"), ("src/app.py", "40-40")]
    text = g.parts[0].text
    assert text.splitlines()[0] == "=== src/app.py (lines 10-14) ==="
    assert text.splitlines()[1] == "10|     return 5"
    assert g.parts[1].text.endswith("40|     return 20")


def test_whole_file_absorbs_its_ranges_and_duplicates_merge(repo: Repo) -> None:
    g = gather([repo.root], ["src/util.py:1", "src/util.py", "./src/util.py", str(repo.root / "src/util.py")])
    assert [(a.path, a.lines) for a in g.attached] == [("src/util.py", None)]


def test_range_past_the_end_is_skipped_and_bad_ranges_refused(repo: Repo) -> None:
    g = gather([repo.root], ["src/util.py:50-60"])
    assert reasons(g) == {"src/util.py": "file has only 2 lines; line 50 does not exist"}
    for bad in ("src/util.py:0-3", "src/util.py:9-3"):
        with pytest.raises(ContextError, match="bad line range"):
            gather([repo.root], [bad])
    with pytest.raises(ContextError, match="folder; line ranges apply to files"):
        gather([repo.root], ["src:1-3"])


def test_a_bare_string_is_one_path(repo: Repo) -> None:
    assert paths(gather([repo.root], "src/util.py")) == ["src/util.py"]


def test_a_file_whose_name_has_a_colon_is_not_a_range(repo: Repo) -> None:
    repo.write("odd:12", "colon name\n")
    assert paths(gather([repo.root], ["odd:12"])) == ["odd:12"]


def test_globs_are_sorted_and_stay_in_their_folder(repo: Repo) -> None:
    g = gather([repo.root], ["src/**/*.py"])
    # sorted by walked name; link_in.py resolves to util.py, which is then not repeated
    assert paths(g) == ["src/app.py", "src/util.py", "src/new_name.py"]
    assert reasons(g)["src/aws.py"].startswith("secret: AWS Access Key on line 3")
    assert paths(gather([repo.root], ["*.md"])) == ["README.md"]
    assert paths(gather([repo.root], ["docs/*.m?"])) == ["docs/guide.md"]
    g = gather([repo.root], ["src/*.zz"])
    assert g.attached == [] and reasons(g)["src/*.zz"] == "no files match this glob"
    with pytest.raises(ContextError, match=re.escape("'nothing/**/*.zz': no such file or folder")):
        gather([repo.root], ["nothing/**/*.zz"])


def test_glob_translation() -> None:
    rx = glob_regex("**/*.py")
    assert rx.match("a.py") and rx.match("x/y/a.py") and not rx.match("a.pyc")
    assert glob_regex("src/*.py").match("src/a.py") and not glob_regex("src/*.py").match("src/x/a.py")
    assert glob_regex("[!a]b").match("cb") and not glob_regex("[!a]b").match("ab")


def test_folder_walk_honours_gitignore_and_skips_tool_folders(repo: Repo) -> None:
    g = gather([repo.root], ["."], limits=Limits(max_files=50))
    got = paths(g)
    for never in ("ignored/private.txt", "debug.log", "node_modules/pkg/index.js", ".venv/lib/site.py",
                  "myenv/lib/mod.py", "build/out.js", "src/__pycache__/app.cpython-311.pyc"):
        assert never not in got
    assert not any(p.startswith(".git/") for p in got)
    assert {"README.md", "src/app.py", "docs/guide.md", ".gitignore", ".env.example", "img/pixel.png"} <= set(got)
    r = reasons(g)
    assert r[".env"] == "secret-bearing file name (environment file); never sent"
    assert r["link_out.txt"] == "symlink pointing outside the workspace roots"
    assert r["data/latin1.txt"] == "not UTF-8 text"
    assert r["data/nul.txt"] == r["assets/blob.bin"] == "binary file"
    assert r["img/fake.png"] == "named like .png but its bytes are not that format"
    assert paths(gather([repo.root], ["."], limits=Limits(max_files=50))) == got
    assert_clean(g)


def test_nested_gitignore_and_negation(repo: Repo) -> None:
    repo.write("pkg/.gitignore", "*.txt\n!keep.txt\n")
    repo.write("pkg/drop.txt", "x\n")
    repo.write("pkg/keep.txt", "y\n")
    repo.write("pkg/sub/drop.txt", "z\n")
    assert paths(gather([repo.root], ["pkg"])) == ["pkg/.gitignore", "pkg/keep.txt"]


def test_explicitly_named_ignored_file_is_allowed(repo: Repo) -> None:
    assert paths(gather([repo.root], ["ignored/private.txt", "build/out.js"])) == ["ignored/private.txt",
                                                                                 "build/out.js"]


def test_dotdot_escape_and_absolute_paths_outside_are_refused(repo: Repo) -> None:
    for bad in ("../outside/secret.txt", str(repo.outside / "secret.txt"), "src/../../outside", "/etc/passwd"):
        with pytest.raises(ContextError) as exc:
            gather([repo.root], [bad])
        msg = str(exc.value)
        assert "outside the workspace roots" in msg and str(repo.root.resolve()) in msg, msg
        assert OUTSIDE_TEXT not in msg
    with pytest.raises(ContextError, match="outside the workspace roots"):
        gather([repo.root], ["../outside/*.txt"])


def test_symlink_out_named_explicitly_is_refused_symlink_in_is_followed(repo: Repo) -> None:
    with pytest.raises(ContextError, match=r"link_out.txt' resolves to .*outside the workspace roots"):
        gather([repo.root], ["link_out.txt"])
    g = gather([repo.root], ["src/link_in.py"])
    assert paths(g) == ["src/util.py"]


def test_second_root_admits_its_files(repo: Repo) -> None:
    g = gather([repo.root, repo.outside], [str(repo.outside / "secret.txt"), "link_out.txt"])
    out = str((repo.outside / "secret.txt").resolve())
    assert paths(g) == [out]  # both name the same file
    assert OUTSIDE_TEXT in g.parts[0].text


def test_missing_file_and_empty_entry(repo: Repo) -> None:
    with pytest.raises(ContextError, match=r"'nope.py': no such file or folder \(relative paths start at"):
        gather([repo.root], ["nope.py"])
    with pytest.raises(ContextError, match="empty entry"):
        gather([repo.root], [""])
    with pytest.raises(ContextError, match="no usable workspace root"):
        gather([repo.root / "missing"], ["x"])


def test_directory_loop_terminates(repo: Repo) -> None:
    (repo.root / "docs" / "sub").mkdir()
    (repo.root / "docs" / "sub" / "up").symlink_to(repo.root)
    started = time.monotonic()
    g = gather([repo.root], ["docs", "docs/**/*.md"])
    assert time.monotonic() - started < 5
    assert paths(g) == ["docs/guide.md", "docs/spec.pdf"]
    # a path through the loop resolves inside the root: fine, and it is the same file
    assert paths(gather([repo.root], ["docs/loop/loop/loop/guide.md"])) == ["docs/guide.md"]


def _run_with_deadline(fn: object, seconds: float = 10) -> object:
    box: dict[str, object] = {}

    def run() -> None:
        try:
            box["value"] = fn()  # type: ignore[operator]
        except BaseException as exc:
            box["error"] = exc

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), "hung"
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]


def test_fifo_is_refused_without_hanging(repo: Repo) -> None:
    os.mkfifo(repo.root / "src" / "pipe")
    with pytest.raises(ContextError, match="'src/pipe' is a FIFO"):
        _run_with_deadline(lambda: gather([repo.root], ["src/pipe"]))
    g = _run_with_deadline(lambda: gather([repo.root], ["src"]))
    assert isinstance(g, Gathered) and reasons(g)["src/pipe"] == "a FIFO (named pipe)"
    assert paths(gather([repo.root], ["src/*.py"])) == paths(gather([repo.root], ["src/*.py"]))


def test_fifo_swapped_in_after_listing_cannot_hang(repo: Repo) -> None:
    roots = resolve_roots([repo.root])
    targets, _ = collect(roots, ["src/util.py"], Limits())
    os.unlink(repo.root / "src" / "util.py")
    os.mkfifo(repo.root / "src" / "util.py")
    got = _run_with_deadline(lambda: gather_mod._attach_file(targets[0], Limits(), []))
    assert got == Skipped("src/util.py", "not a regular file (FIFO, socket or device)")


def test_file_replaced_or_deleted_between_listing_and_reading(repo: Repo) -> None:
    roots = resolve_roots([repo.root])
    targets, _ = collect(roots, ["src/util.py", "src/app.py", "README.md"], Limits())
    os.unlink(repo.root / "src" / "util.py")
    (repo.root / "src" / "app.py").unlink()
    (repo.root / "src" / "app.py").symlink_to(repo.outside / "secret.txt")
    got = [gather_mod._attach_file(t, Limits(), []) for t in targets]
    assert got[0] == Skipped("src/util.py", "file disappeared before it could be read")
    assert got[1] == Skipped("src/app.py", "file was replaced by a symlink while being read")
    assert not isinstance(got[2], Skipped)


def test_folder_swapped_for_a_symlink_out_after_listing(repo: Repo) -> None:
    roots = resolve_roots([repo.root])
    targets, _ = collect(roots, ["src/util.py", "README.md"], Limits())
    (repo.outside / "util.py").write_text("OUTSIDE-THE-ROOT-CONTENT\n")
    (repo.root / "src").rename(repo.root / "src_old")
    (repo.root / "src").symlink_to(repo.outside)
    (repo.root / "README.md").rename(repo.root / "README.old")
    (repo.root / "README.md").write_text("a new file under the old name\n")
    got = [gather_mod._attach_file(t, Limits(), []) for t in targets]
    assert got == [Skipped("src/util.py", "file was replaced while being read"),
                   Skipped("README.md", "file was replaced while being read")]


def test_two_gigabyte_sparse_file_is_never_read(repo: Repo) -> None:
    big = repo.root / "big.txt"
    with open(big, "wb") as f:
        f.write(b"first line\nsecond line\n")
        os.truncate(f.fileno(), 2 * 1024**3)
    started = time.monotonic()
    g = gather([repo.root], ["big.txt"])
    assert time.monotonic() - started < 2
    assert reasons(g) == {"big.txt": "file is 2,147,483,648 bytes, over the per-file limit of 256,000; "
                                     "attach a line range instead (path:START-END)"}
    g = gather([repo.root], ["big.txt:1-2"])  # a range near the start reads only what it needs
    assert g.parts[0].text == "=== big.txt (lines 1-2) ===\n1| first line\n2| second line"
    g = gather([repo.root], ["big.txt:3-4"])  # 2 GB of NULs and no newline: the scan stops at its cap
    assert reasons(g)["big.txt"] == "line 4 lies beyond the first 32,000,000 bytes; pick an earlier range"
    assert time.monotonic() - started < 10
    g = gather([repo.root], ["big.txt:2-3"], limits=Limits(max_range_scan_bytes=100_000))
    assert reasons(g)["big.txt"] == "line 3 lies beyond the first 100,000 bytes; pick an earlier range"
    assert reasons(gather([repo.root], ["data/nul.txt:1"]))["data/nul.txt"] == "binary file"


@pytest.fixture(scope="module")
def hundred_thousand() -> Iterator[Path]:
    """100,000 empty files (in RAM-backed /dev/shm when the machine has it: ~1 s instead of ~7 s)."""
    base = Path(tempfile.mkdtemp(dir="/dev/shm" if os.path.isdir("/dev/shm") else None))
    many = base / "many"
    many.mkdir()
    for i in range(100_000):
        os.close(os.open(many / f"f{i:06}.txt", os.O_CREAT | os.O_WRONLY, 0o644))
    yield base
    shutil.rmtree(base)


@pytest.mark.parametrize("spec", ["many/*.txt", "**/*.txt", "many", "."])
def test_glob_over_100k_files_stops_early(hundred_thousand: Path, spec: str) -> None:
    started = time.monotonic()
    with pytest.raises(ContextError, match=r"reaches more than 5,000 entries; narrow it"):
        gather([hundred_thousand], [spec])
    assert time.monotonic() - started < 2


def test_file_count_total_size_and_per_file_limits(repo: Repo) -> None:
    with pytest.raises(ContextError, match=r"files expands to \d+ files, over the limit of 3"):
        gather([repo.root], ["."], limits=Limits(max_files=3))
    with pytest.raises(ContextError) as exc:
        gather([repo.root], ["src/app.py", "README.md", "src/util.py"], limits=Limits(max_total_bytes=1000))
    msg = str(exc.value)
    assert "over the limit of 1,000; biggest: src/app.py (" in msg and "line ranges" in msg and "smaller diff" in msg
    g = gather([repo.root], ["src/app.py", "README.md"], limits=Limits(max_file_bytes=100))
    assert paths(g) == ["README.md"]
    assert reasons(g)["src/app.py"].startswith("file is 1,")
    g = gather([repo.root], ["src/app.py:1-4"], limits=Limits(max_file_bytes=100))
    assert paths(g) == ["src/app.py"]


def test_images_and_pdfs_become_parts(repo: Repo) -> None:
    g = gather([repo.root], ["img/pixel.png", "img/noext", "docs/spec.pdf"])
    assert [(a.path, a.kind) for a in g.attached] == [("img/pixel.png", "image"), ("img/noext", "image"),
                                                      ("docs/spec.pdf", "pdf")]
    assert [p.mime for p in g.parts] == ["image/png", "image/png", "application/pdf"]
    assert g.parts[0].data == png_bytes() and g.parts[2].data == PDF
    assert g.attached[0].est_tokens == 1_600 and g.attached[2].est_tokens == 2 * 1_500
    blocks = content_parts(g.parts)
    assert blocks[0]["type"] == "image_url" and blocks[0]["image_url"]["url"].startswith("data:image/png;base64,iVBOR")
    assert blocks[2] == {"type": "file", "file": {"filename": "spec.pdf", "file_data": blocks[2]["file"]["file_data"]}}
    assert blocks[2]["file"]["file_data"].startswith("data:application/pdf;base64,JVBERi0")
    g = gather([repo.root], ["img/pixel.png"], limits=Limits(max_image_bytes=10))
    assert reasons(g)["img/pixel.png"].startswith("image is ")
    g = gather([repo.root], ["img/pixel.png:1-2"])
    assert "line ranges apply to text files" in reasons(g)["img/pixel.png"]


def test_content_parts_for_text() -> None:
    from opper_mcp.context.types import Part

    assert content_parts([Part(kind="text", text="hi")]) == [{"type": "text", "text": "hi"}]


def test_empty_and_crlf_files(repo: Repo) -> None:
    repo.write("empty.txt", "")
    repo.write("crlf.txt", "a\r\nb\r\n")
    g = gather([repo.root], ["empty.txt", "crlf.txt"])
    assert g.parts[0].text == "=== empty.txt (empty file) ==="
    assert g.parts[1].text == "=== crlf.txt (lines 1-2, whole file) ===\n1| a\n2| b"


def test_many_skips_are_summarised_with_secrets_first(repo: Repo) -> None:
    from tests.context_repo import AWS_KEY

    for i in range(80):
        repo.write(f"bins/b{i:02}.dat", b"\x00binary")
    repo.write("bins/zz_secret.txt", f"key = '{AWS_KEY}'\n")
    g = gather([repo.root], ["bins"])
    assert len(g.skipped) == 50
    assert g.skipped[0] == Skipped("bins/zz_secret.txt", "secret: AWS Access Key on line 1; file left out")
    assert g.skipped[-1] == Skipped("(32 more)", "binary file: 32")
    assert AWS_KEY not in repr(g)


def test_total_limit_stops_reading_early(repo: Repo) -> None:
    for i in range(20):
        repo.write(f"many/f{i:02}.txt", "x" * 900 + "\n")
    with pytest.raises(ContextError, match=r"the context is [\d,]+ bytes with 17 more files not read yet, over the "
                                           r"limit of 2,000"):
        gather([repo.root], ["many"], limits=Limits(max_total_bytes=2000))


def test_gather_prints_nothing(repo: Repo, capfd: pytest.CaptureFixture[str]) -> None:
    gather([repo.root], ["."], limits=Limits(max_files=100))
    gather([repo.root], diff="working")
    with pytest.raises(ContextError):
        gather([repo.root], diff="nope")
    out, err = capfd.readouterr()
    assert out == "" and err == ""
