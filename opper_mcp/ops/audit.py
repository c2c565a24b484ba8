"""The audit trail: one JSON line per tool call, appended to a file (or written to stderr with `-`).

Each line holds only what an operator needs to answer "who spent what, on which model, and did it work":
time, replica, caller (a named token's name or the key's fingerprint), tool, outcome, duration, models asked,
cost reported by Opper (and the estimate held), trace ids. Never a prompt, a file, an answer, an error
message (those can quote all of these), a token or a key: the line is built from those fields alone.

Lines are appended with one `write` on a descriptor opened with O_APPEND, so lines from several processes
sharing a file never interleave.
"""

from __future__ import annotations

import json
import logging
import os
import time
from datetime import UTC, datetime
from pathlib import Path

from opper_mcp.ops.ledger import CallRecord

log = logging.getLogger(__name__)

STDERR = "-"
MODEL_CHARS = 200


class AuditLog:
    def __init__(self, target: str, *, replica: str) -> None:
        self.target = target
        self.replica = replica
        self._fd: int | None = None
        self._failed = False

    def _open(self) -> int:
        if self._fd is None:
            if self.target == STDERR:
                self._fd = 2
            else:
                path = Path(self.target).expanduser()
                path.parent.mkdir(parents=True, exist_ok=True)
                self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        return self._fd

    def line(self, record: CallRecord, outcome: str, now: float | None = None) -> str:
        stamp = datetime.fromtimestamp(time.time() if now is None else now, UTC)
        entry = {
            "time": stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "replica": self.replica,
            "caller": record.caller,
            "tool": record.tool,
            "outcome": outcome,
            "duration_ms": int((time.monotonic() - record.started) * 1000),
            "models": [m[:MODEL_CHARS] for m in record.models],
            "cost_usd": record.cost_usd,
            "est_cost_usd": record.estimate_usd,
            "trace_ids": record.trace_ids,
        }
        return json.dumps(entry, ensure_ascii=True, separators=(",", ":")) + "\n"

    def write(self, record: CallRecord, outcome: str) -> None:
        """Append the call's line; a failure to write is logged once and never fails the call."""
        try:
            os.write(self._open(), self.line(record, outcome).encode())
            self._failed = False
        except OSError as exc:
            if not self._failed:
                log.error("audit log %s not written: %s", self.target, exc.strerror)
            self._failed = True

    def close(self) -> None:
        if self._fd is not None and self._fd != 2:
            os.close(self._fd)
        self._fd = None
