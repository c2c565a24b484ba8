"""A team deployment in miniature: N opper-mcp replica processes and the real nginx in front of them.

nginx runs `deploy/nginx.conf` itself, with only its ports rewritten (the `server 127.0.0.1:PORT`
lines of the upstream and the `listen` line), so the tested file is the shipped file.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2

from tests.transport_support import (
    ROOT,
    SERVER_CMD,
    HttpServer,
    OnLoopback,
    free_port,
    missing,
    stop_process,
    wait_healthy,
)

NGINX = Path(os.environ.get("OPPER_MCP_TEST_NGINX", "/usr/sbin/nginx"))
NGINX_CONF = ROOT / "deploy" / "nginx.conf"
REPLICA_HEADER = "x-opper-mcp-replica"
UPSTREAM_LINE = re.compile(r"^(\s*)server 127\.0\.0\.1:\d+( [^;]*)?;\s*$", re.M)
LISTEN_LINE = re.compile(r"^(\s*)listen 127\.0\.0\.1:\d+;", re.M)


def require_nginx() -> Path:
    found = NGINX if NGINX.is_file() else Path(shutil.which("nginx") or "/nonexistent")
    if not found.is_file():
        missing("nginx is not installed (apt-get install nginx): the load-balancer tests need the real one")
    return found


@dataclass
class Replica(OnLoopback):
    """One `opper-mcp --transport http` process; restartable on the same port."""

    name: str
    port: int
    args: tuple[str, ...]
    env: dict[str, str] = field(repr=False)
    log_dir: Path
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def stderr_path(self) -> Path:
        return self.log_dir / f"{self.name}.stderr"

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""

    def start(self) -> None:
        self.starts += 1
        with self.stderr_path.open("ab") as err:
            self.proc = subprocess.Popen(
                [*SERVER_CMD, "--transport", "http", "--port", str(self.port), "--replica-name", self.name,
                 *self.args],
                env=self.env, stdin=subprocess.DEVNULL, stdout=err, stderr=err, cwd=ROOT,
            )
        wait_healthy(HttpServer(self.proc, self.port, self.stderr_path, self.env))

    def stop(self) -> int:
        return stop_process(self.proc) if self.proc is not None else 0

    def kill(self) -> None:
        """SIGKILL: the machine is gone, nothing is drained."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(5)


def render_nginx_conf(
    template: str, upstream_ports: Sequence[int], listen_port: int, balance: str | None = None
) -> str:
    """deploy/nginx.conf with its upstream servers and listen port replaced; everything else as shipped.

    `balance` (e.g. `hash $http_mcp_session_id consistent;`) is put first in the upstream block, for
    the measurements of other routing choices."""
    lines = list(UPSTREAM_LINE.finditer(template))
    if not lines:
        raise AssertionError("deploy/nginx.conf has no `server 127.0.0.1:PORT …;` upstream lines")
    indent, params = lines[0].group(1), lines[0].group(2) or ""
    servers = "\n".join(f"{indent}server 127.0.0.1:{port}{params};" for port in upstream_ports)
    if balance:
        servers = f"{indent}{balance}\n{servers}"
    text = template[: lines[0].start()] + servers + "\n" + template[lines[-1].end():].lstrip("\n")
    text, count = LISTEN_LINE.subn(lambda m: f"{m.group(1)}listen 127.0.0.1:{listen_port};", text)
    if count != 1:
        raise AssertionError("deploy/nginx.conf must have exactly one `listen 127.0.0.1:PORT;` line")
    return text


@dataclass
class Nginx(OnLoopback):
    """The real nginx (master in the foreground) on a free port, its prefix in a temporary directory."""

    prefix: Path
    upstream_ports: list[int]
    balance: str | None = None
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = require_nginx()
        for sub in ("logs", "tmp"):
            (self.prefix / sub).mkdir(parents=True, exist_ok=True)
        conf = self.prefix / "nginx.conf"
        conf.write_text(render_nginx_conf(NGINX_CONF.read_text(), self.upstream_ports, self.port, self.balance))
        # As root, nginx's workers would switch to `nobody`, who cannot enter pytest's private temp dirs.
        directives = "daemon off;" + (" user root;" if os.geteuid() == 0 else "")
        with (self.prefix / "logs" / "stderr.log").open("ab") as err:
            self.proc = subprocess.Popen(
                [str(binary), "-c", str(conf), "-p", f"{self.prefix}/", "-g", directives],
                stdin=subprocess.DEVNULL, stdout=err, stderr=err,
            )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nginx exited with {self.proc.returncode}:\n{self.errors()}")
            with contextlib.suppress(httpx2.TransportError):
                if httpx2.get(f"{self.base}/healthz", timeout=2.0).status_code == 200:
                    return
            time.sleep(0.05)
        raise RuntimeError(f"nginx not answering /healthz within 10 s:\n{self.errors()}")

    def errors(self) -> str:
        parts = [p.read_text(errors="replace") for p in (self.prefix / "logs").glob("*.log") if p.name != "access.log"]
        return "\n".join(parts)

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, sig=signal.SIGQUIT)  # graceful: finish the requests in flight


@contextlib.contextmanager
def cluster(
    env: Mapping[str, str], work: Path, count: int, *args: str, prefix: str = "r", balance: str | None = None
) -> Iterator[tuple[list[Replica], Nginx]]:
    """`count` replicas (named r1…rN) started with `args`, and nginx in front; all stopped on exit."""
    log_dir = work / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    replicas = [Replica(f"{prefix}{i}", free_port(), tuple(args), dict(env), log_dir) for i in range(1, count + 1)]
    nginx = Nginx(work / "nginx", [r.port for r in replicas], balance)
    try:
        for replica in replicas:
            replica.start()
        nginx.start()
        yield replicas, nginx
    finally:
        nginx.stop()
        for replica in replicas:
            replica.stop()


class ReplicaLog:
    """An httpx2 response hook that records which replica answered each MCP request."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []  # (JSON-RPC method or "", replica)

    async def __call__(self, response: httpx2.Response) -> None:
        method = ""
        with contextlib.suppress(Exception):
            body = json.loads(response.request.content or b"{}")
            method = str(body.get("method", "")) if isinstance(body, dict) else ""
        self.seen.append((method, response.headers.get(REPLICA_HEADER, "?")))

    def calls(self, since: int = 0) -> list[str]:
        """The replica that answered each tools/call, in order."""
        return [r for m, r in self.seen[since:] if m == "tools/call"]

    def mark(self) -> int:
        return len(self.seen)


def event_hooks(log: ReplicaLog) -> dict[str, list[Any]]:
    return {"response": [log]}
