"""Which command a client configuration runs: an installed script (fast), a clone, or uvx.

Detection runs against a fake PATH: a directory of executables made here, and a fake `uv` that
answers `uv tool dir --bin` as the real one does.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from opper_mcp import clients, launchers
from opper_mcp.cli import main

ROOT = Path(__file__).resolve().parents[1]


def executable(path: Path, text: str = "#!/bin/sh\nexit 0\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def fake_uv(bin_dir: Path, tool_bin: Path) -> None:
    executable(bin_dir / "uv", f'#!/bin/sh\n[ "$1 $2 $3" = "tool dir --bin" ] && echo "{tool_bin}" && exit 0\nexit 2\n')


def test_nothing_installed_means_uvx(tmp_path: Path) -> None:
    found = launchers.choose(path=str(tmp_path))
    assert found.launch == clients.UVX and "uv tool install" in found.why


def test_script_on_path_is_run_by_absolute_path(tmp_path: Path) -> None:
    script = executable(tmp_path / "bin" / "opper-mcp")
    found = launchers.choose(path=str(tmp_path / "bin"))
    assert found.launch == clients.Launch(str(script), ())
    assert Path(found.launch.command).is_absolute()


def test_uv_tool_bin_is_found_off_path(tmp_path: Path) -> None:
    """GUI clients often lack ~/.local/bin on PATH: `uv tool dir --bin` still finds the script."""
    tool_bin = tmp_path / "uv-tools" / "bin"
    script = executable(tool_bin / "opper-mcp")
    fake_uv(tmp_path / "path", tool_bin)
    assert launchers.installed_script(str(tmp_path / "path")) == script


def test_uv_without_the_tool_falls_back_to_path_then_uvx(tmp_path: Path) -> None:
    fake_uv(tmp_path / "path", tmp_path / "empty-tool-bin")
    assert launchers.choose(path=str(tmp_path / "path")).launch == clients.UVX
    script = executable(tmp_path / "path" / "opper-mcp")
    assert launchers.choose(path=str(tmp_path / "path")).launch.command == str(script)


@pytest.mark.parametrize("where", [".cache/uv/archive-v0/abc/bin", "env"])
def test_transient_scripts_are_not_installations(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    """A uvx cache or the virtualenv `config` runs in (a dev checkout) may vanish: not an install."""
    bin_dir = tmp_path / where
    executable(bin_dir / "opper-mcp")
    if where == "env":
        monkeypatch.setenv("VIRTUAL_ENV", str(tmp_path))
    assert launchers.choose(path=str(bin_dir)).launch == clients.UVX


def test_force_uvx_and_from_source(tmp_path: Path) -> None:
    executable(tmp_path / "opper-mcp")
    assert launchers.choose(path=str(tmp_path), force_uvx=True).launch == clients.UVX
    found = launchers.choose(source=ROOT, path=str(tmp_path))
    assert found.launch == clients.Launch("uv", ("run", "--directory", str(ROOT), "opper-mcp"))


def test_clone_root_is_this_checkout(tmp_path: Path) -> None:
    assert launchers.clone_root() == ROOT
    assert launchers.clone_root(tmp_path / "x" / "y.py") is None


@pytest.fixture
def empty_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
    monkeypatch.delenv("VIRTUAL_ENV", raising=False)
    return tmp_path


def config_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, object]:
    assert main(["config", *argv, "--raw"]) == 0
    return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]


def test_config_from_source(capsys: pytest.CaptureFixture[str], empty_path: Path) -> None:
    entry = config_json(capsys, "cursor", "--from-source")["mcpServers"]["opper"]  # type: ignore[index]
    assert entry == {"command": "uv", "args": ["run", "--directory", str(ROOT), "opper-mcp"],
                     "env": {"OPPER_API_KEY": "${env:OPPER_API_KEY}"}}
    entry = config_json(capsys, "claude-desktop", "--from-source", str(ROOT))["mcpServers"]["opper"]  # type: ignore[index]
    assert entry["args"][2] == str(ROOT)  # type: ignore[index]
    assert main(["config", "claude-code", "--from-source"]) == 0
    out = capsys.readouterr().out
    assert f"# Launcher: runs the clone at {ROOT}" in out
    assert f"-- uv run --directory {ROOT} opper-mcp" in out  # the `claude mcp add` line runs the clone too


def test_config_prefers_the_installed_script(capsys: pytest.CaptureFixture[str], empty_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    script = executable(empty_path / "bin" / "opper-mcp")
    monkeypatch.setenv("PATH", str(empty_path / "bin"))
    entry = config_json(capsys, "vscode")["servers"]["opper"]  # type: ignore[index]
    assert entry["command"] == str(script) and entry["args"] == []  # type: ignore[index]
    assert config_json(capsys, "vscode", "--uvx")["servers"]["opper"]["command"] == "uvx"  # type: ignore[index]
    http = config_json(capsys, "cursor", "--http", "http://127.0.0.1:8000/mcp")["mcpServers"]["opper"]  # type: ignore[index]
    assert "command" not in http  # an HTTP config starts nothing


def test_config_from_source_rejects_a_non_clone(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["config", "cursor", "--from-source", str(tmp_path)])
    assert exc.value.code == 2 and "pyproject.toml" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["config", "cursor", "--from-source", "--uvx"])
    assert "not allowed" in capsys.readouterr().err


def test_the_installed_script_really_starts(tmp_path: Path) -> None:
    """The path a config would hold is the real console script of this environment, and it runs."""
    import subprocess
    import sys

    script = Path(sys.prefix) / "bin" / "opper-mcp"
    if not script.exists():
        pytest.skip("no console script in this environment")
    found = launchers.installed_script(str(script.parent))
    env_is_ours = os.environ.get("VIRTUAL_ENV") or sys.prefix != sys.base_prefix
    assert found is None if env_is_ours else found == script
    done = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.startswith("opper-mcp ")
