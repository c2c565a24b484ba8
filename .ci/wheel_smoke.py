"""Smoke-test an installed opper-mcp: `--version`, then a stdio handshake, `tools/list` and one MCP App view
(as a host that declares the extension asks for it: the wheel must carry the view files).

Usage: python wheel_smoke.py /path/to/venv/bin/opper-mcp   (stdlib only; every step time-bounded)
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading

TIMEOUT_S = 60
HANDSHAKE = [
    {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "clientInfo": {"name": "ci", "version": "0"},
        "capabilities": {"extensions": {"io.modelcontextprotocol/ui": {"mimeTypes": ["text/html;profile=mcp-app"]}}}}},
    {"jsonrpc": "2.0", "method": "notifications/initialized"},
    {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
    {"jsonrpc": "2.0", "id": 3, "method": "resources/read", "params": {"uri": "ui://opper/trace.html"}},
]


def main(script: str) -> int:
    version = subprocess.run([script, "--version"], capture_output=True, text=True, timeout=TIMEOUT_S, check=True)
    sys.stdout.write(version.stdout)
    # As an MCP client does: send, read the answers, and only then close stdin (which asks the server to
    # exit, cancelling whatever is still in flight).
    proc = subprocess.Popen([script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={"PATH": "/usr/bin:/bin", "OPPER_API_KEY": "ci-smoke-key"})
    assert proc.stdin is not None and proc.stdout is not None
    timer = threading.Timer(TIMEOUT_S, proc.kill)
    timer.start()
    tools = None
    view = ""
    try:
        proc.stdin.write("".join(json.dumps(m) + "\n" for m in HANDSHAKE))
        proc.stdin.flush()
        for line in proc.stdout:
            answer = json.loads(line) if line.strip() else {}
            if answer.get("id") == 2:
                tools = answer.get("result", {}).get("tools")
            elif answer.get("id") == 3:
                view = (answer.get("result", {}).get("contents") or [{}])[0].get("text", "")
                break
        proc.stdin.close()
        code = proc.wait()
    finally:
        timer.cancel()
        proc.kill()
    stderr = proc.stderr.read() if proc.stderr is not None else ""
    if not tools or code != 0 or "Content-Security-Policy" not in view:
        sys.stdout.write(f"no tools/list answer, no view or a bad exit (exit {code}, tools {tools!r:.200}, "
                         f"view {view[:200]!r})\n{stderr[-2000:]}\n")
        return 1
    linked = sum(1 for t in tools if "ui" in (t.get("_meta") or {}))
    sys.stdout.write(f"tools/list: {len(tools)} tools: {', '.join(t['name'] for t in tools)}; {linked} linked to "
                     f"views; trace view {len(view):,} chars; exit {code}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
