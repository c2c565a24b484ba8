"""Start-up and per-call cost in instructions executed, ours against the one-tool floor: figures noise cannot move.

CPU time on a shared two-core box varies by ±10% or more between runs; the instructions a process executes
barely do. Each server runs under valgrind (cachegrind without cache simulation, which counts every
instruction the process executes, the interpreter's and the libraries' included), from the same virtualenv:

- cold start: spawn, the stdio handshake and `tools/list`, then end of input and exit;
- per call: the HTTP server loaded by 16 SDK clients (`mcp.Client(url)`, each holding its session, as agents
  do), once with `SHORT` and once with `LONG` calls each; the difference over the extra calls is the cost of a
  call with start-up, discovery and shutdown cancelled out.

Usage (needs valgrind; several minutes, the servers run ~40x slower under it):

    uv run python -m tests.bench.instructions [--baseline REF] [--only cold,calls]
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import anyio

from tests.bench.__main__ import (
    MINIMAL,
    OPPER,
    ROOT,
    agents,
    checkout,
    env_for,
    free_port,
    list_over_stdio,
    result_chars,
    start_http,
)
from tests.fake_opper import FakeOpperServer

CLIENTS = 16
SHORT, LONG = 10, 40
TOOL, ARGUMENTS = "grep_spec", {"pattern": "trace_uuid"}


def valgrind(out: Path) -> list[str]:
    return ["valgrind", "--tool=cachegrind", "--cache-sim=no", f"--cachegrind-out-file={out}", "--quiet"]


def instructions(out: Path) -> int:
    match = re.search(r"^summary:\s+(\d+)", out.read_text(), re.M)
    assert match, f"no summary in {out}"
    return int(match.group(1))


def cold(cmd: list[str], env: dict[str, str], out: Path, cwd: Path | None) -> int:
    """Instructions from spawn through a complete tools/list answer to exit at end of input."""
    proc = list_over_stdio([*valgrind(out), *cmd], env, cwd)
    assert proc.stdin
    proc.stdin.close()
    assert proc.wait(300) == 0
    return instructions(out)


def listening(
    cmd: list[str], env: dict[str, str], cwd: Path | None, seconds: float
) -> tuple[subprocess.Popen[bytes], int]:
    """An HTTP server started on a free port (given as the last argument), once it accepts connections."""
    port = free_port()
    return start_http([*cmd, str(port)], env, port, cwd, seconds), port


async def loaded(cmd: list[str], env: dict[str, str], out: Path, cwd: Path | None, tool: str,
                 arguments: dict[str, Any], calls: int) -> int:
    """Instructions of an HTTP server's whole life with CLIENTS session-holding clients making `calls` each."""
    proc, port = listening([*valgrind(out), *cmd], env, cwd, 300)
    try:
        url = f"http://127.0.0.1:{port}/mcp"
        await agents(url, tool, arguments, 1, 1)  # the first call builds the tool: in both runs alike
        await agents(url, tool, arguments, CLIENTS, calls)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(300)
    return instructions(out)


async def main(only: set[str], baseline: str | None) -> None:
    with tempfile.TemporaryDirectory() as tmp, FakeOpperServer() as fake:
        cache = Path(tmp)
        env = {**env_for(fake.url, cache), "PYTHONHASHSEED": "0"}
        servers: dict[str, tuple[list[str], dict[str, str], Path | None]] = {"ours": (OPPER, env, None)}
        if baseline:
            tree = checkout(baseline, cache / "baseline")
            servers[f"at {baseline}"] = (OPPER, {**env, "PYTHONPATH": str(tree)}, tree)
        floor_ir = 0
        if "cold" in only:
            floor_ir = cold(MINIMAL, env, cache / "cold.floor", None)
            print(f"cold start to tools/list, instructions: floor {floor_ir / 1e6:,.0f} M")
            for label, (cmd, cmd_env, cwd) in servers.items():
                ir = cold(cmd, cmd_env, cache / f"cold.{label}", cwd)
                print(f"  {label}: {ir / 1e6:,.0f} M = {ir / floor_ir:.3f}x the floor (target <= 1.15x)")
        if "calls" in only:
            probe, port = listening([*OPPER, "--transport", "http", "--port"], env, None, 30)
            try:
                chars = result_chars(f"http://127.0.0.1:{port}/mcp", TOOL, ARGUMENTS)
            finally:
                probe.terminate()
                probe.wait(15)
            extra = CLIENTS * (LONG - SHORT)

            async def per_call(cmd: list[str], cmd_env: dict[str, str], cwd: Path | None, tool: str,
                               arguments: dict[str, Any], name: str) -> float:
                short = await loaded(cmd, cmd_env, cache / f"{name}.short", cwd, tool, arguments, SHORT)
                long = await loaded(cmd, cmd_env, cache / f"{name}.long", cwd, tool, arguments, LONG)
                return (long - short) / extra

            floor = await per_call([*MINIMAL, "http"], env, None, "echo", {"text": "x", "size": chars}, "floor")
            print(f"HTTP, {CLIENTS} SDK clients holding sessions, instructions per call: "
                  f"floor (echo of {chars:,} chars) {floor / 1e3:,.0f} k")
            for label, (cmd, cmd_env, cwd) in servers.items():
                ours = await per_call([*cmd, "--transport", "http", "--port"], cmd_env, cwd, TOOL, ARGUMENTS,
                                      label.replace(" ", "_"))
                print(f"  {label}, {TOOL}: {ours / 1e3:,.0f} k = {ours / floor:.3f}x the floor (target <= 1.15x)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default="cold,calls", help="comma-separated: cold, calls")
    parser.add_argument("--baseline", metavar="REF", help="also measure the server as it was at git REF")
    options = parser.parse_args()
    os.chdir(ROOT)
    anyio.run(main, set(options.only.split(",")), options.baseline)
