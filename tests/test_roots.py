"""context/roots.py: which directories a call may read, in priority order."""

from __future__ import annotations

from pathlib import Path

import pytest

from opper_mcp.context.roots import RootsError, path_from_uri, workspace_roots
from opper_mcp.settings import Settings


def test_file_uris_only(tmp_path: Path) -> None:
    assert path_from_uri(tmp_path.as_uri()) == tmp_path
    assert path_from_uri("file://localhost/srv/a%20b") == Path("/srv/a b")
    assert path_from_uri("https://example.com/x") is None
    assert path_from_uri("file://otherhost/x") is None


def test_priority_client_then_project_then_cwd(tmp_path: Path) -> None:
    a, b, c, extra = (tmp_path / n for n in ("a", "b", "c", "extra"))
    for d in (a, b, c, extra):
        d.mkdir()
    env = {"CLAUDE_PROJECT_DIR": str(b)}
    got = workspace_roots(transport="stdio", client_roots=[a.as_uri(), "https://x/"], env=env, cwd=c,
                          allow_paths=[extra])
    assert got == [a, extra]
    assert workspace_roots(transport="stdio", client_roots=None, env=env, cwd=c) == [b]
    assert workspace_roots(transport="stdio", client_roots=[], env={}, cwd=c) == [c]
    # A client root that does not exist here (another machine) does not count.
    assert workspace_roots(transport="stdio", client_roots=[(tmp_path / "gone").as_uri()], env={}, cwd=c) == [c]


def test_http_only_allow_paths(tmp_path: Path) -> None:
    with pytest.raises(RootsError, match="--allow-paths"):
        workspace_roots(transport="http", client_roots=[tmp_path.as_uri()], env={}, cwd=tmp_path)
    assert workspace_roots(transport="http", client_roots=None, env={}, cwd=Path("/"),
                           allow_paths=[tmp_path]) == [tmp_path.resolve()]


def test_allow_paths_setting_splits_and_checks(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "y").mkdir()
    s = Settings(allow_paths=f"{tmp_path / 'x'},{tmp_path / 'y'}:{tmp_path / 'x'}")  # type: ignore[arg-type]
    assert s.allow_paths == ((tmp_path / "x").resolve(), (tmp_path / "y").resolve())
    with pytest.raises(ValueError, match="not a directory"):
        Settings(allow_paths=(tmp_path / "missing",))


def test_cli_flags_and_env(tmp_path: Path) -> None:
    from opper_mcp.cli import build_parser, settings_from

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    env = {"OPPER_MCP_ALLOW_PATHS": str(tmp_path / "a"), "OPPER_MCP_CONTEXT_MAX_FILE_BYTES": "5000"}
    s = settings_from(build_parser().parse_args([]), env)
    assert s.allow_paths == ((tmp_path / "a").resolve(),) and s.context_max_file_bytes == 5000
    args = build_parser().parse_args(["--allow-paths", f"{tmp_path / 'b'},{tmp_path / 'a'}",
                                      "--context-max-total-bytes", "90000"])
    s = settings_from(args, env)
    assert s.allow_paths == ((tmp_path / "b").resolve(), (tmp_path / "a").resolve())
    assert s.context_max_total_bytes == 90_000
