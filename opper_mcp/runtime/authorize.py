"""OAuth scopes at call time: a tool that spends money or writes refuses a token without the call scope.

The HTTP layer already answers such calls with a 403 step-up challenge when the request names the tool
in its headers; this check is the one every call meets, whatever the protocol era, so it decides.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError

from opper_mcp.runtime.state import ToolContext, app_state
from opper_mcp.tools.registry import ToolEntry

P = ParamSpec("P")
R = TypeVar("R")


def authorized(entry: ToolEntry, fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """`fn`, refusing OAuth callers whose token lacks the scopes `entry` needs (other callers pass)."""
    if not entry.needs_call_scope:
        return fn

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        ctx = next((v for v in (*args, *kwargs.values()) if isinstance(v, Context)), None)
        if ctx is not None:
            check(ctx, entry.name)  # every tool's context is a ToolContext
        return await fn(*args, **kwargs)

    return wrapper


def check(ctx: ToolContext, tool: str) -> None:
    settings = app_state(ctx).settings
    if not settings.oauth_enabled or not settings.oauth_call_scope:
        return
    from opper_mcp.auth.identity import access_token_of
    from opper_mcp.auth.scopes import ScopePolicy, refusal

    token = access_token_of(ctx.request_context.request)
    if token is None:
        return  # not over HTTP (stdio, in-process): no bearer, nothing to scope
    missing = ScopePolicy(read=settings.oauth_read_scope, call=settings.oauth_call_scope).missing(token.scopes, tool)
    if missing:
        raise ToolError(refusal(tool, missing, token.scopes))
