"""Prometheus metrics for the team service (`prometheus_client`, imported only when metrics are on).

One registry per server process. A replica is one process (no worker processes), so the plain exposition is
complete and needs no multi-process mode; Prometheus scrapes each replica and sums across them.

Series:
- `opper_mcp_tool_calls_total{tool,outcome}` (outcome: ok, error, refused, cancelled)
- `opper_mcp_tool_call_duration_seconds{tool}` (histogram)
- `opper_mcp_upstream_requests_total{status}` (HTTP status of each request to Opper, or `error` with no answer)
- `opper_mcp_upstream_streams_in_flight` (streamed answers from Opper being read now)
- `opper_mcp_cost_usd_total{caller,model}` (as Opper reported it)
- `opper_mcp_budget_refusals_total{caller}` (calls refused by the spend limit)
- `opper_mcp_auth_failures_total{reason}` (HTTP requests refused by inbound auth)
- `opper_mcp_store_up{backend}` (1 while the store answers its health ping)
- `opper_mcp_build_info{version,replica}`
plus the library's process, platform and GC collectors.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from typing import Any

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
OUTCOMES = ("ok", "error", "refused", "cancelled")
AUTH_REASONS = ("missing_token", "invalid_token", "metrics_token")
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)


class Metrics:
    def __init__(self, *, version: str, replica: str, tools: Iterable[str] = ()) -> None:
        import prometheus_client as prom
        from prometheus_client import Counter, Gauge, Histogram, Info

        # No *_created series: half the output, and nothing a dashboard uses.
        prom.disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = registry = prom.CollectorRegistry()
        prom.ProcessCollector(registry=registry)
        prom.PlatformCollector(registry=registry)
        prom.GCCollector(registry=registry)
        self.calls = Counter("opper_mcp_tool_calls", "Tool calls by tool and outcome.", ["tool", "outcome"],
                             registry=registry)
        self.duration = Histogram("opper_mcp_tool_call_duration_seconds", "Tool call latency in seconds.",
                                  ["tool"], buckets=DURATION_BUCKETS, registry=registry)
        self.upstream = Counter("opper_mcp_upstream_requests", "Requests to Opper by HTTP status "
                                "(error: no answer).", ["status"], registry=registry)
        self.streams = Gauge("opper_mcp_upstream_streams_in_flight", "Streamed answers from Opper being read.",
                             registry=registry)
        self.cost = Counter("opper_mcp_cost_usd", "Cost reported by Opper in USD, by caller and model.",
                            ["caller", "model"], registry=registry)
        self.refusals = Counter("opper_mcp_budget_refusals", "Tool calls refused by the caller's spend limit.",
                                ["caller"], registry=registry)
        self.auth = Counter("opper_mcp_auth_failures", "HTTP requests refused by inbound auth, by reason.",
                            ["reason"], registry=registry)
        self.store = Gauge("opper_mcp_store_up", "1 while the shared store answers its health ping.", ["backend"],
                           registry=registry)
        Info("opper_mcp_build", "This replica's version and name.", registry=registry).info(
            {"version": version, "replica": replica})
        for tool in tools:  # every series exists from the start, so rate() and absent() work from the first scrape
            self.duration.labels(tool)
            for outcome in OUTCOMES:
                self.calls.labels(tool, outcome)
        for reason in AUTH_REASONS:
            self.auth.labels(reason)

    # ---- what the server reports ----------------------------------------------------------------

    def tool_call(self, tool: str, outcome: str, seconds: float) -> None:
        self.calls.labels(tool, outcome).inc()
        self.duration.labels(tool).observe(seconds)

    def charged(self, caller: str, model: str, usd: float) -> None:
        if usd > 0:
            self.cost.labels(caller, model).inc(usd)

    def refused(self, caller: str) -> None:
        self.refusals.labels(caller).inc()

    def auth_failure(self, reason: str) -> None:
        self.auth.labels(reason).inc()

    def store_state(self, backend: str, ok: bool) -> None:
        self.store.labels(backend).set(1 if ok else 0)

    # UpstreamObserver (opper.client): called by the REST layer
    def response(self, status: str) -> None:
        self.upstream.labels(status).inc()

    def stream(self, delta: int) -> None:
        self.streams.inc(delta)

    def exposition(self) -> bytes:
        from prometheus_client import generate_latest

        return generate_latest(self.registry)


_active: Metrics | None = None


def activate(metrics: Metrics | None) -> None:
    global _active
    _active = metrics


def auth_failure(reason: str) -> None:
    """Count an HTTP request refused by inbound auth, by a short reason (`missing_token`, `invalid_token`, …).

    For every auth mechanism (bearer tokens, OAuth): costs nothing when metrics are off; never pass a token."""
    if _active is not None:
        _active.auth_failure(reason)


def token_ok(header: str, token: str) -> bool:
    scheme, _, value = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), token.encode())


def asgi_app(metrics: Metrics, *, token: str | None, refresh: Any = None) -> Any:
    """A Starlette endpoint serving the exposition; with `token`, only to `Authorization: Bearer <token>`.

    `refresh` (an async callable) runs before each scrape, e.g. to read the store's health."""
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response

    async def endpoint(request: Request) -> Response:
        if token is not None and not token_ok(request.headers.get("authorization", ""), token):
            metrics.auth_failure("metrics_token")
            return JSONResponse({"error": "invalid_token", "error_description": "/metrics needs its own bearer "
                                 "token (OPPER_MCP_METRICS_TOKEN)"}, status_code=401,
                                headers={"WWW-Authenticate": 'Bearer realm="opper-mcp-metrics"'})
        if refresh is not None:
            await refresh()
        return Response(metrics.exposition(), media_type=CONTENT_TYPE)

    return endpoint
