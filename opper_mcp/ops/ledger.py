"""What one tool call did, as the budget, the metrics and the audit trail need it: its caller, the models asked,
what each answer cost and the trace ids. Stdlib only (loaded even on stdio, where it costs nothing).

The error guard opens a `CallRecord` for each call when any of those is on and makes it `current`; the tools
note what they learn (`asked`, `charged`, `traced`) and those notes go nowhere when no record is open.
"""

from __future__ import annotations

import time
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

Outcome = str  # "ok", "error", "refused" (over the spend limit), "cancelled"


@dataclass
class CallRecord:
    tool: str
    caller: str  # the caller's label: a name, or the key's fingerprint (never a secret)
    owner: str  # what the caller's spend is counted under
    started: float = field(default_factory=time.monotonic)
    models: list[str] = field(default_factory=list)
    costs: list[tuple[str, float]] = field(default_factory=list)  # (model, USD) as Opper reported them
    trace_ids: list[str] = field(default_factory=list)
    estimate_usd: float | None = None
    reservation: Any = None  # the budget's hold on this call's estimate (ops.budget.Reservation)
    refused: bool = False

    @property
    def cost_usd(self) -> float | None:
        """What Opper reported for this call in all, or None when it reported nothing."""
        return round(sum(cost for _, cost in self.costs), 10) if self.costs else None


current: ContextVar[CallRecord | None] = ContextVar("opper_mcp_call", default=None)


def asked(*models: str) -> None:
    record = current.get()
    if record is not None:
        record.models.extend(m for m in models if m not in record.models)


def charged(model: str, usd: float | None) -> None:
    """Opper reported `usd` for an answer of `model` (nothing when it reported no cost)."""
    record = current.get()
    if record is not None and usd is not None:
        record.costs.append((model, float(usd)))


def traced(*trace_ids: str | None) -> None:
    record = current.get()
    if record is not None:
        record.trace_ids.extend(t for t in trace_ids if t and t not in record.trace_ids)
