"""Smoke-test an installed opper-mcp: `--version`, then a stdio handshake and `tools/list`.

Usage: python wheel_smoke.py /path/to/venv/bin/opper-mcp   (stdlib only; every step time-bounded)
"""

from __future__ import annotations

import json
import subprocess
import sys

TIMEOUT_S = 60
HANDSHAKE = [
    {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "ci", "version": "0"}}},
    {"jsonrpc": "2.0", "method": "notifications/initialized"},
    {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
]


def main(script: str) -> int:
    version = subprocess.run([script, "--version"], capture_output=True, text=True, timeout=TIMEOUT_S, check=True)
    sys.stdout.write(version.stdout)
    stdin = "".join(json.dumps(m) + "\n" for m in HANDSHAKE)
    # stdin closes after the last request: the server answers, then exits at end of input.
    done = subprocess.run([script], input=stdin, capture_output=True, text=True, timeout=TIMEOUT_S,
                          env={"PATH": "/usr/bin:/bin", "OPPER_API_KEY": "ci-smoke-key"})
    answers = {m.get("id"): m for m in map(json.loads, filter(None, done.stdout.splitlines()))}
    tools = answers.get(2, {}).get("result", {}).get("tools")
    if not tools:
        sys.stdout.write(f"no tools/list answer (exit {done.returncode}):\n{done.stdout[-2000:]}\n")
        sys.stdout.write(done.stderr[-2000:] + "\n")
        return 1
    sys.stdout.write(f"tools/list: {len(tools)} tools: {', '.join(t['name'] for t in tools)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
