"""Running git safely: an argument list (never a shell), a scrubbed environment, a timeout and an output cap.

Repository config can name programs git would run (external diff drivers, textconv filters, fsmonitor hooks);
the flags and `-c` overrides here switch each of those off, so looking at a repository never executes its code.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

from .types import ContextError

_SAFE_CONFIG = (
    "-c", "core.quotepath=off",
    "-c", "core.fsmonitor=false",
    "-c", "core.hooksPath=/dev/null",
    "-c", "diff.external=",
    "-c", "log.showSignature=false",
)


@dataclass(frozen=True)
class GitResult:
    returncode: int
    stdout: bytes
    stderr: str
    truncated: bool


def _env() -> dict[str, str]:
    """The caller's environment without GIT_* overrides (GIT_DIR, GIT_EXTERNAL_DIFF, ...), prompts off."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_TERMINAL_PROMPT="0", GIT_OPTIONAL_LOCKS="0", GIT_PAGER="cat", PAGER="cat", LC_ALL="C",
               GIT_CONFIG_NOSYSTEM="1")
    return env


def git_path() -> str:
    found = shutil.which("git")
    if found is None:
        raise ContextError("git is not installed / not on PATH; diff needs it (files still work without git)")
    return found


def run(args: list[str], cwd: Path, *, timeout_s: float, cap: int) -> GitResult:
    """Run `git ARGS` in `cwd`; stdout stops at `cap` bytes (the process is then killed, `truncated` set)."""
    argv = [git_path(), *_SAFE_CONFIG, "--no-pager", *args]
    try:
        proc = subprocess.Popen(  # an argument list, never a shell
            argv, cwd=cwd, env=_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            shell=False,
        )
    except FileNotFoundError:
        raise ContextError("git is not installed / not on PATH; diff needs it") from None
    assert proc.stdout is not None and proc.stderr is not None
    out = bytearray()
    err = bytearray()
    truncated = False

    def pump_out() -> None:
        nonlocal truncated
        assert proc.stdout is not None
        while chunk := os.read(proc.stdout.fileno(), 65536):
            out.extend(chunk)
            if len(out) > cap:
                truncated = True
                proc.kill()
                break

    def pump_err() -> None:
        assert proc.stderr is not None
        while chunk := os.read(proc.stderr.fileno(), 65536):
            if len(err) < 65536:
                err.extend(chunk)

    readers = [threading.Thread(target=pump_out, daemon=True), threading.Thread(target=pump_err, daemon=True)]
    for t in readers:
        t.start()
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise ContextError(
            f"git {args[0]} did not finish within {timeout_s:g} s; narrow the diff (files, a shorter range)"
        ) from None
    finally:
        for t in readers:
            t.join(timeout=5)
        proc.stdout.close()
        proc.stderr.close()
    return GitResult(proc.returncode, bytes(out[:cap]), err.decode("utf-8", "replace").strip(), truncated)
