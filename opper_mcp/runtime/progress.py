"""Progress notifications for long calls: throttled, with a heartbeat so client timeouts keep resetting."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import anyio

MIN_INTERVAL_S = 0.25  # at most four updates a second
HEARTBEAT_S = 10.0

Send = Callable[[float, float | None, str], Awaitable[None]]


class Progress:
    """Sends `notifications/progress` through `send`; `update` is cheap to call on every chunk."""

    def __init__(self, send: Send, *, min_interval_s: float = MIN_INTERVAL_S) -> None:
        self._send = send
        self._min_interval = min_interval_s
        self._last_sent = -1e9
        self._last_value = -1.0
        self._started = time.monotonic()
        self.step = 0.0
        self.total: float | None = None
        self.message = "waiting for the first response"

    async def update(self, message: str, *, step: float | None = None, force: bool = False) -> None:
        self.message = message
        self.step = self.step + 1 if step is None else max(step, self.step)
        now = time.monotonic()
        if force or now - self._last_sent >= self._min_interval:
            await self._emit(now)

    async def _emit(self, now: float) -> None:
        # The spec wants strictly increasing values; a heartbeat nudges the last one up a little.
        value = max(self.step, round(self._last_value + 0.01, 2))
        self._last_sent, self._last_value = now, value
        await self._send(value, self.total, self.message)

    async def _heartbeat(self, interval_s: float) -> None:
        while True:
            await anyio.sleep(interval_s)
            now = time.monotonic()
            if now - self._last_sent >= interval_s * 0.9:
                elapsed = int(now - self._started)
                self.message = f"{self.message.split(' (')[0]} ({elapsed} s elapsed)"
                await self._emit(now)

    @asynccontextmanager
    async def heartbeat(self, interval_s: float = HEARTBEAT_S) -> AsyncIterator[Progress]:
        """Keep a heartbeat going while the body runs; stops with it (also on cancel)."""
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._heartbeat, interval_s)
                try:
                    yield self
                finally:
                    tg.cancel_scope.cancel()
        except BaseExceptionGroup as group:
            # Only the body can fail (the heartbeat just sleeps and sends): hand its error on as is.
            if len(group.exceptions) == 1:
                raise group.exceptions[0] from group.exceptions[0].__cause__
            raise
