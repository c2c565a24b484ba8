"""How a client configuration starts the server: the installed script, a clone, or uvx.

A launcher is paid on every spawn. `uvx opper-mcp` checks the package index each time (about a
second); an installed console script run by absolute path starts at once and needs no `uvx` on
the GUI client's PATH. `config` picks the installed script when there is one, a clone when asked.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

from opper_mcp.clients import PACKAGE, Launch

SCRIPT = "opper-mcp.exe" if sys.platform == "win32" else PACKAGE
UV_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Found:
    launch: Launch
    why: str  # one line for the human reading `config` output


def uvx() -> Launch:
    return Launch("uvx", (PACKAGE,))


def from_source(clone: Path) -> Launch:
    """Run the clone with its own locked environment: works before the package is published."""
    return Launch("uv", ("run", "--directory", str(clone.resolve()), PACKAGE))


def clone_root(start: Path | None = None) -> Path | None:
    """The checkout this package runs from (a directory whose pyproject.toml names it), if any."""
    here = (start or Path(__file__)).resolve()
    for directory in here.parents:
        pyproject = directory / "pyproject.toml"
        if pyproject.is_file():
            try:
                name = tomllib.loads(pyproject.read_text()).get("project", {}).get("name")
            except (OSError, tomllib.TOMLDecodeError):
                return None
            return directory if name == PACKAGE else None
    return None


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def _uv_tool_bin(path: str | None) -> Path | None:
    """Where `uv tool install` puts console scripts (`uv tool dir --bin`), if uv is there."""
    uv = shutil.which("uv", path=path)
    if uv is None:
        return None
    try:
        done = subprocess.run([uv, "tool", "dir", "--bin"], capture_output=True, text=True, timeout=UV_TIMEOUT_S,
                              check=False, env={**os.environ, **({"PATH": path} if path is not None else {})})
    except (OSError, subprocess.SubprocessError):
        return None
    out = done.stdout.strip()
    return Path(out) if done.returncode == 0 and out else None


def _transient(script: Path) -> bool:
    """A script that may vanish or change: in this process's own environment (a dev venv, a uvx
    run) or in a cache directory."""
    resolved = str(script.resolve())
    environments = {sys.prefix, os.environ.get("VIRTUAL_ENV", "")} - {sys.base_prefix, ""}
    if any(resolved.startswith(str(Path(p).resolve()) + os.sep) for p in environments):
        return True
    caches = (f"{os.sep}.cache{os.sep}", f"{os.sep}archive-v", f"{os.sep}Caches{os.sep}")
    return any(part in resolved for part in caches)


def installed_script(path: str | None = None) -> Path | None:
    """The installed `opper-mcp` console script, by absolute path, if one is installed for good.

    `uv tool install opper-mcp` is asked first (its bin directory need not be on PATH); then PATH,
    skipping scripts of the current virtualenv and of caches (uvx), which are not installations.
    """
    tool_bin = _uv_tool_bin(path)
    if tool_bin is not None and _executable(tool_bin / SCRIPT):
        return (tool_bin / SCRIPT).absolute()
    found = shutil.which(SCRIPT, path=path)
    if found is not None and not _transient(Path(found)):
        return Path(found).absolute()
    return None


def choose(*, source: Path | None = None, force_uvx: bool = False, path: str | None = None) -> Found:
    """The launcher a configuration should use (see the module docstring)."""
    if source is not None:
        return Found(from_source(source), f"runs the clone at {source.resolve()} (uv run --directory)")
    if not force_uvx:
        script = installed_script(path)
        if script is not None:
            return Found(Launch(str(script), ()), f"runs the installed script {script} (fast start)")
    return Found(uvx(), "runs the published package with uvx; `uv tool install opper-mcp` makes starts faster")
