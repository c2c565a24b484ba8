"""Spend limits per caller: USD per UTC day, counted in the shared store, held before sending, settled after.

- **Window**: the UTC day. A caller's count starts at zero at 00:00 UTC; the window's id is its date.
- **Limit**: `--budget-usd-per-day` for every caller, or the caller's own line in `--budget-file`
  (`NAME USD`, or `NAME none` for no limit; re-read when the file changes, so no restart is needed).
- **Before a call sends anything** its cost estimate (catalogue prices, as `runtime.presend` makes it) is held
  in one atomic store operation, one round trip: admitted only while the caller's count is under the limit
  and the count plus the estimate stays within it; otherwise `OverBudget`, and nothing is sent. A call
  without an estimate (a model the catalogue has no prices for) holds nothing and is admitted while under.
- **After the call** the hold is replaced by what Opper reported. A call that failed with no cost reported gives
  its hold back; a call that was cancelled, or succeeded without a reported cost, keeps it (its estimate counts).
- **Bound**: calls racing at the limit are admitted one at a time against the count including every hold, so
  the day's count passes the limit only by what admitted calls cost beyond their estimates: an answer longer
  than the estimate assumed (without `max_tokens`, 4,096 tokens), web-search fees, and unpriced models.

Nothing here imports MCP: the runtime hands in the caller and the estimate, and turns `OverBudget` into a
ToolError.
"""

from __future__ import annotations

import logging
import math
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from opper_mcp.context.budget import usd
from opper_mcp.store.base import ConversationStore

log = logging.getLogger(__name__)

NANO = 1_000_000_000  # the store counts nano-USD, so sums are exact
DAY_S = 86_400
KEEP_S = DAY_S  # a window's count is kept a day past its end (a late settlement still finds it)
LINE = re.compile(r"^(?P<name>[^\s=:#]+)\s*[\s=:]\s*(?P<value>\S+)$")


def nano(amount_usd: float) -> int:
    return math.ceil(amount_usd * NANO - 1e-6)  # up: a hold never undercounts


def dollars(amount: int) -> float:
    return amount / NANO


@dataclass(frozen=True)
class Window:
    id: str
    start: float
    end: float

    @property
    def resets(self) -> str:
        return datetime.fromtimestamp(self.end, UTC).strftime("%Y-%m-%d %H:%M UTC")


def window_at(now: float) -> Window:
    start = now - now % DAY_S
    return Window(datetime.fromtimestamp(start, UTC).date().isoformat(), start, start + DAY_S)


class BudgetFileError(ValueError):
    """The per-caller limits file cannot be read."""


def parse_limits(text: str, *, source: str = "budget file") -> dict[str, float | None]:
    """`NAME USD` (or `NAME=USD`, `NAME: USD`) per line; `none` or `unlimited` for no limit; `#` comments."""
    limits: dict[str, float | None] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        match = LINE.match(line)
        value = match.group("value").lower() if match else ""
        amount: float | None = None
        if value not in ("none", "unlimited"):
            try:
                amount = float(value.lstrip("$"))
            except ValueError:
                amount = -1.0
            if not math.isfinite(amount) or amount < 0:
                log.warning("%s line %d is not `NAME USD` (or `NAME none`); ignored", source, number)
                continue
        assert match is not None
        limits[match.group("name")] = amount
    return limits


class Limits:
    """The limit that applies to a caller: its line in the file (re-read when it changes), else the default."""

    def __init__(self, default_usd: float | None, path: Path | None = None) -> None:
        self.default_usd = default_usd
        self.path = path
        self._stamp: tuple[int, int, int] | None = None
        self._table: dict[str, float | None] = {}
        self._lock = threading.Lock()

    def _current(self) -> dict[str, float | None]:
        if self.path is None:
            return {}
        try:
            st = os.stat(self.path)
        except OSError as exc:
            # Keep the last good table: a file being replaced must not lift anybody's limit.
            log.error("budget file %s unreadable (%s): keeping the limits last read", self.path, exc.strerror)
            return self._table
        stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
        if stamp != self._stamp:
            with self._lock:
                try:
                    text = self.path.read_text(encoding="utf-8")
                except (OSError, UnicodeDecodeError) as exc:
                    log.error("budget file %s unreadable (%s): keeping the limits last read", self.path, exc)
                    return self._table
                self._table, self._stamp = parse_limits(text, source=str(self.path)), stamp
                log.info("budget file %s loaded: %d caller(s)", self.path, len(self._table))
        return self._table

    def for_caller(self, label: str, owner: str) -> float | None:
        """USD per day for the caller named `label` (a named token's name) or counted as `owner`; None: no limit."""
        table = self._current()
        for key in (label, owner):
            if key in table:
                return table[key]
        return self.default_usd


class OverBudget(Exception):
    """The call would pass the caller's limit: the message says what was spent, the limit and when it resets."""

    def __init__(self, message: str, *, spent_usd: float, limit_usd: float, resets: str) -> None:
        super().__init__(message)
        self.spent_usd = spent_usd
        self.limit_usd = limit_usd
        self.resets = resets


@dataclass(frozen=True)
class Reservation:
    owner: str
    window: Window
    held: int  # nano-USD held for this call
    limit: int  # the limit it was admitted under (nano-USD)
    spent_after: int  # the count right after the hold (this and other calls' holds included)


class Budget:
    def __init__(self, store: ConversationStore, limits: Limits, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.limits = limits
        self.clock = clock

    async def hold(self, label: str, owner: str, estimate_usd: float | None) -> Reservation | None:
        """Admit the call under the caller's limit and hold its estimate (one store round trip); None when the
        caller has no limit. Raises OverBudget, or StoreUnavailable when the count cannot be read."""
        limit_usd = self.limits.for_caller(label, owner)
        if limit_usd is None:
            return None
        window = window_at(self.clock())
        amount = nano(estimate_usd) if estimate_usd else 0
        limit = nano(limit_usd)
        charge = await self.store.charge(owner, window.id, amount, limit, expires_at=window.end + KEEP_S)
        if not charge.admitted:
            raise OverBudget(refusal(label, charge.spent, limit, amount, window, self.clock()),
                             spent_usd=dollars(charge.spent), limit_usd=limit_usd, resets=window.resets)
        return Reservation(owner, window, amount, limit, charge.spent)

    async def settle(
        self, owner: str, reservation: Reservation | None, cost_usd: float | None, *, failed: bool
    ) -> None:
        """Replace the hold by the reported cost (see the module's rules); a caller without a limit has its
        reported cost counted too, so its spend is known if a limit is set later in the day."""
        if reservation is None:
            if cost_usd:
                window = window_at(self.clock())
                await self.store.charge(owner, window.id, nano(cost_usd), None, expires_at=window.end + KEEP_S)
            return
        kept = 0 if failed else reservation.held  # no cost reported: a failed call gives its hold back
        delta = (nano(cost_usd) if cost_usd is not None else kept) - reservation.held
        if delta:
            window = reservation.window
            await self.store.charge(owner, window.id, delta, None, expires_at=window.end + KEEP_S)

    async def status(self, label: str, owner: str) -> tuple[float, float | None, Window]:
        """(spent today, limit or None, the window): what the caller may see of its own spend."""
        window = window_at(self.clock())
        return dollars(await self.store.spent(owner, window.id)), self.limits.for_caller(label, owner), window


def refusal(label: str, spent: int, limit: int, amount: int, window: Window, now: float) -> str:
    left = max(0, int(window.end - now))
    wait = f"{left // 3600} h {left % 3600 // 60} min" if left >= 60 else f"{left} s"
    head = f"daily spend limit reached for {label}: {usd(dollars(spent))} spent of {usd(dollars(limit))} today"
    if spent < limit:
        head += (f"; this call's estimate {usd(dollars(amount))} would pass it "
                 f"({usd(dollars(limit - spent))} left)")
    return (f"{head}. Nothing was sent. The limit resets at {window.resets} (in {wait}). A cheaper model, a lower "
            "max_tokens or less attached context may fit what is left; an operator can raise the limit "
            "(--budget-usd-per-day, or your line in --budget-file)")


def spend_line(reservation: Reservation, cost_usd: float | None) -> str:
    """What a result says of the caller's own spend: the count after this call, the limit, the reset."""
    spent = reservation.spent_after - reservation.held + (nano(cost_usd) if cost_usd is not None else reservation.held)
    return (f"{usd(dollars(max(0, spent)))} of {usd(dollars(reservation.limit))} spent today; "
            f"resets {reservation.window.resets}")
