"""The error guard: every failure becomes a `ToolError` the model can act on.

mcp 2.3 hides the text of any other exception ("Error executing tool x"), so each tool is
wrapped with `guarded`: Opper errors keep their message and hint, bugs are logged with a
traceback and reported as what they are.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import ValidationError

from opper_mcp.opper.errors import OpperError
from opper_mcp.ops import ledger
from opper_mcp.runtime import accounting
from opper_mcp.runtime.state import AppState, caller
from opper_mcp.store.base import StoreUnavailable

log = logging.getLogger("opper_mcp.tools")

P = ParamSpec("P")
R = TypeVar("R")


def guarded(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Wrap a tool coroutine so that nothing but a `ToolError` escapes it."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        started = time.monotonic()
        outcome = "cancelled"
        ctx = _ctx(args, kwargs)
        record = accounting.begin(ctx, fn.__name__) if ctx is not None else None  # ops: budget, metrics, audit
        token = ledger.current.set(record) if record is not None else None
        try:
            result = await _call(fn, *args, **kwargs)
            outcome = "ok"
            return result
        except ToolError:
            outcome = "error"
            raise
        finally:
            if log.isEnabledFor(logging.INFO):
                log.info("tool=%s caller=%s duration_ms=%d outcome=%s", fn.__name__,
                         record.caller if record is not None else _who(args, kwargs),
                         (time.monotonic() - started) * 1000, outcome)
            if record is not None and ctx is not None and token is not None:
                ledger.current.reset(token)
                await accounting.finish(ctx, record, outcome)

    return wrapper


def _ctx(args: tuple[object, ...], kwargs: dict[str, object]) -> Context[AppState] | None:
    ctx = kwargs.get("ctx", args[0] if args else None)
    return ctx if isinstance(ctx, Context) else None


def _who(args: tuple[object, ...], kwargs: dict[str, object]) -> str:
    """The caller's name or key fingerprint for the log line; never fails the call."""
    ctx = _ctx(args, kwargs)
    if ctx is None:
        return "-"
    try:
        return caller(ctx).label
    except Exception:  # e.g. pass-through without a bearer; the tool reports that itself
        return "-"


async def _call(fn: Callable[P, Awaitable[R]], *args: P.args, **kwargs: P.kwargs) -> R:
    try:
        return await fn(*args, **kwargs)
    except ToolError:
        raise
    except OpperError as exc:
        raise ToolError(str(exc)) from exc
    except StoreUnavailable as exc:
        raise ToolError(f"conversation store unavailable: {str(exc).rstrip('. ')}, retry") from exc
    except ValidationError as exc:
        log.warning("%s: unexpected response shape: %s", fn.__name__, exc)
        raise ToolError(
            f"Opper sent a response opper-mcp could not read ({exc.error_count()} problem(s), "
            f"first: {exc.errors()[0]['msg']}); retry, and report it if it persists"
        ) from exc
    except Exception as exc:
        log.exception("%s failed unexpectedly", fn.__name__)
        raise ToolError(
            f"internal error in {fn.__name__}: {type(exc).__name__}: {exc} "
            "(a bug in opper-mcp; the server is still running, other calls work)"
        ) from exc
