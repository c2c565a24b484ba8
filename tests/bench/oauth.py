"""Server CPU that OAuth adds to each MCP call, with the keys cached: a token from the real oidc-provider.

Three figures, each the median of several rounds of CPU time (time.process_time) per call:
- a token's first call: full verification (joserfc: parse, RS256 signature, iss/aud/exp/nbf/iat,
  scopes), which later calls with the same token skip (verified tokens are remembered);
- `verify_token` on every later call of that token;
- the whole auth stack on /mcp per call (the SDK's bearer backend and RequireAuthMiddleware, our
  scope challenge) around an app that only answers 200, minus that app alone: what a request pays.
Usage:

    uv run python -m tests.bench.oauth [-n 3000]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio

from opper_mcp.auth.resource_server import BearerTokens, OAuthGate
from opper_mcp.settings import Settings
from tests.oidc import oidc_provider

BUDGET_US = 100.0
RESOURCE = "http://127.0.0.1:8000/mcp"


def cpu_per_call(n: int, rounds: int, call: Callable[[], Awaitable[Any]]) -> float:
    """Median over `rounds` of CPU microseconds per call (each round `n` calls on one event loop)."""

    async def measure() -> list[float]:
        for _ in range(200):
            await call()
        out = []
        for _ in range(rounds):
            start = time.process_time()
            for _ in range(n):
                await call()
            out.append((time.process_time() - start) / n * 1e6)
        return out

    return statistics.median(anyio.run(measure))


async def ok_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


def request(token: str) -> tuple[dict[str, Any], Any, Any]:
    scope = {"type": "http", "method": "POST", "path": "/mcp", "raw_path": b"/mcp", "query_string": b"",
             "headers": [(b"host", b"127.0.0.1:8000"), (b"authorization", f"Bearer {token}".encode()),
                         (b"mcp-method", b"tools/call"), (b"mcp-name", b"chat")],
             "server": ("127.0.0.1", 8000), "client": ("127.0.0.1", 50000), "scheme": "http",
             "http_version": "1.1", "root_path": "", "state": {}}
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    return scope, receive, send


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", type=int, default=3000, help="calls per round (default 3000)")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="opper-oauth-bench-") as tmp, oidc_provider(Path(tmp)) as provider:
        token = provider.main.token("svc-full", RESOURCE)
        settings = Settings(transport="http", oauth_issuer=provider.main.issuer, oauth_resource=RESOURCE)
        verifier = BearerTokens(settings)
        gate = OAuthGate(ok_app, settings, "/mcp")

        async def warm() -> None:
            assert await verifier.verify_token(token) is not None
            assert await gate.tokens.verify_token(token) is not None  # keys fetched: from here on, cached

        anyio.run(warm)

        async def verify() -> None:
            await verifier.verify_token(token)

        async def first_sight() -> None:
            await verifier.jwt._verify(token)  # what the first call of each new token pays

        async def through_gate() -> None:
            await gate(*request(token))

        async def bare() -> None:
            await ok_app(*request(token))

        first_us = cpu_per_call(args.n, args.rounds, first_sight)
        verify_us = cpu_per_call(args.n, args.rounds, verify)
        stack_us = cpu_per_call(args.n, args.rounds, through_gate) - cpu_per_call(args.n, args.rounds, bare)
    print(f"token: RS256 JWT access token from oidc-provider, {len(token)} characters; keys cached")
    print(f"first call of a token:  {first_us:6.1f} µs CPU (full verification, once per token)")
    print(f"verify_token:           {verify_us:6.1f} µs CPU per call")
    print(f"auth stack per request: {stack_us:6.1f} µs CPU per call (bearer backend, require, scope check)")
    verdict = "within" if max(first_us, verify_us, stack_us) <= BUDGET_US else "OVER"
    print(f"budget {BUDGET_US:.0f} µs: {verdict}")
    return 0 if verdict == "within" else 1


if __name__ == "__main__":
    raise SystemExit(main())
