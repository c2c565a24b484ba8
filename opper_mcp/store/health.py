"""The store's state for /healthz: a fast ping with a short timeout, cached so probes cost the store little."""

from __future__ import annotations

import time
from typing import Any

import anyio

from opper_mcp.store.base import ConversationStore, StoreUnavailable


class StoreHealth:
    def __init__(self, store: ConversationStore, *, timeout_s: float = 0.5, ttl_s: float = 1.0) -> None:
        self.store = store
        self.timeout_s = timeout_s
        self.ttl_s = ttl_s
        self._checked = -float("inf")
        self._state: dict[str, Any] = {}
        self._lock = anyio.Lock()

    async def state(self) -> dict[str, Any]:
        """{"backend": …, "ok": bool} (+ "error", redacted, when not ok); at most one ping per `ttl_s`."""
        async with self._lock:  # concurrent probes share one ping
            if time.monotonic() - self._checked >= self.ttl_s:
                self._state = await self._ping()
                self._checked = time.monotonic()
            return dict(self._state)

    async def _ping(self) -> dict[str, Any]:
        state: dict[str, Any] = {"backend": self.store.backend, "ok": False}
        try:
            with anyio.fail_after(self.timeout_s):
                await self.store.ping()
        except StoreUnavailable as exc:
            state["error"] = str(exc)
        except TimeoutError:
            state["error"] = f"no answer within {self.timeout_s:g} s"
        else:
            state["ok"] = True
        return state
