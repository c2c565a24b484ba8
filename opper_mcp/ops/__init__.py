"""Operating the team service: spend limits per caller (`budget`), Prometheus metrics (`metrics`), the audit
trail (`audit`), and the per-call record they share (`ledger`). MCP-free; `runtime.accounting` and `http` hook
them in. Nothing here is imported unless one of them is configured (see `wanted`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from opper_mcp.ops.audit import AuditLog
    from opper_mcp.ops.budget import Budget
    from opper_mcp.ops.metrics import Metrics
    from opper_mcp.settings import Settings
    from opper_mcp.store.base import ConversationStore


@dataclass
class Ops:
    budget: Budget | None = None
    metrics: Metrics | None = None
    audit: AuditLog | None = None


def wanted(settings: Settings) -> bool:
    return (settings.budget_usd_per_day is not None or settings.budget_file is not None
            or settings.metrics_port is not None or settings.metrics_token is not None or bool(settings.audit_log))


def build_ops(settings: Settings, store: ConversationStore) -> Ops | None:
    """What the settings turn on (None: nothing, and nothing of it is loaded). Opens no file, no connection."""
    if not wanted(settings):
        return None
    ops = Ops()
    if settings.budget_usd_per_day is not None or settings.budget_file is not None:
        from opper_mcp.ops.budget import Budget, Limits

        ops.budget = Budget(store, Limits(settings.budget_usd_per_day, settings.budget_file))
    if settings.metrics_port is not None or settings.metrics_token is not None:
        from opper_mcp import __version__
        from opper_mcp.ops import metrics

        ops.metrics = metrics.Metrics(version=__version__, replica=settings.replica, tools=settings.tools)
        metrics.activate(ops.metrics)
    if settings.audit_log:
        from opper_mcp.ops.audit import AuditLog

        ops.audit = AuditLog(settings.audit_log, replica=settings.replica)
    return ops
