"""The real Prometheus (Debian's `prometheus` package) for tests: `promtool check metrics` on an exposition,
and a server started on a loopback port with a scrape config, queried through its HTTP API."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2

from tests.transport_support import OnLoopback, free_port, missing, stop_process

INSTALL_HINT = "install Debian's prometheus package (it brings promtool; .ci/run does)"


def binary(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        missing(f"{name} not found: {INSTALL_HINT}")
    return found


def promtool_check(exposition: bytes) -> subprocess.CompletedProcess[str]:
    """`promtool check metrics` (format and lint) reading the exposition on stdin."""
    return subprocess.run([binary("promtool"), "check", "metrics"], input=exposition.decode(), capture_output=True,
                          text=True, timeout=30, check=False)


@dataclass
class Prometheus(OnLoopback):
    """`prometheus` scraping `targets` (host:port) every `interval`, its data in a temporary directory."""

    targets: list[str]
    bearer: str | None = None
    interval: str = "1s"
    port: int = field(default_factory=free_port)
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="opper-prom-")))
    proc: subprocess.Popen[bytes] | None = None

    def config(self) -> str:
        auth = f"    authorization:\n      type: Bearer\n      credentials: {self.bearer}\n" if self.bearer else ""
        targets = ", ".join(f"'{t}'" for t in self.targets)
        return (f"global:\n  scrape_interval: {self.interval}\n  scrape_timeout: {self.interval}\n"
                f"scrape_configs:\n  - job_name: opper-mcp\n{auth}    static_configs:\n"
                f"      - targets: [{targets}]\n")

    def start(self) -> None:
        prometheus = binary("prometheus")
        conf = self.root / "prometheus.yml"
        conf.write_text(self.config())
        check = subprocess.run([binary("promtool"), "check", "config", str(conf)], capture_output=True, text=True,
                               timeout=30, check=False)
        assert check.returncode == 0, check.stdout + check.stderr
        with (self.root / "prometheus.log").open("ab") as log:
            self.proc = subprocess.Popen(
                [prometheus, f"--config.file={conf}", f"--storage.tsdb.path={self.root / 'data'}",
                 f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=self.root,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"prometheus exited with {self.proc.returncode}: {self.log()}")
            try:
                if httpx2.get(f"{self.base}/-/ready", timeout=2).status_code == 200:
                    return
            except httpx2.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"prometheus not ready within 30 s: {self.log()}")

    def log(self) -> str:
        path = self.root / "prometheus.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def query(self, promql: str) -> list[dict[str, Any]]:
        response = httpx2.get(f"{self.base}/api/v1/query", params={"query": promql}, timeout=10)
        body = response.json()
        assert body["status"] == "success", body
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def wait_for(self, promql: str, check: Any, timeout: float = 30.0) -> list[dict[str, Any]]:
        """Query until `check(result)` holds (scrapes come every `interval`)."""
        deadline = time.monotonic() + timeout
        result: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            result = self.query(promql)
            if check(result):
                return result
            time.sleep(0.25)
        raise AssertionError(f"{promql} never satisfied the check; last result {result}; log: {self.log()}")

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
        shutil.rmtree(self.root, ignore_errors=True)
