"""The views as the MCP Apps extension (`io.modelcontextprotocol/ui`) serves them, for hosts that declared it.

Hosts that render MCP Apps declare the extension; to them each linked tool carries `_meta.ui.resourceUri`
and `resources/list` shows the `ui://` pages. Every other client sees neither (no context spent on what it
cannot show), and every client gets the same tool result: the views render from that data.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from mcp.server.apps import APP_MIME_TYPE, EXTENSION_ID, Apps, ResourceCsp, client_supports_apps
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver.resources import FunctionResource

from opper_mcp.views import URI_PREFIX, VIEWS, page

__all__ = ["EXTENSION_ID", "extension", "hide_from_other_clients", "tool_meta"]


def tool_meta(view: str) -> dict[str, Any]:
    """The `_meta` entry that links a tool to its view (an unknown view name is a KeyError at build)."""
    return {"ui": {"resourceUri": VIEWS[view].uri}}


def extension(views: Iterable[str]) -> Apps:
    """The SDK's Apps extension with the given views as lazily built `ui://` resources.

    The CSP declares no domains at all: the pages load nothing and connect nowhere.
    """
    apps = Apps()
    for name in sorted(set(views)):
        view = VIEWS[name]
        csp = ResourceCsp(connect_domains=[], resource_domains=[], frame_domains=[], base_uri_domains=[])
        apps.add_resource(FunctionResource(
            uri=view.uri,
            name=f"opper-view-{name}",
            title=view.title,
            description=view.description,
            mime_type=APP_MIME_TYPE,
            meta={"ui": {"csp": csp.model_dump(by_alias=True), "prefersBorder": True}},
            fn=lambda name=name: page(name),
        ))
    return apps


async def hide_from_other_clients(ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
    """Middleware: without the extension, tools lose their `_meta.ui` link and `resources/list` its views.

    It sees the results in their wire form (dicts), after the handler and before they are sent.
    """
    result = await call_next(ctx)
    if ctx.method not in ("tools/list", "resources/list") or not isinstance(result, dict) or client_supports_apps(ctx):
        return result
    if ctx.method == "tools/list":
        for tool in result.get("tools") or ():
            meta = tool.get("_meta")
            if isinstance(meta, dict) and "ui" in meta:
                rest = {key: value for key, value in meta.items() if key != "ui"}
                if rest:
                    tool["_meta"] = rest
                else:
                    del tool["_meta"]
    else:
        result["resources"] = [r for r in result.get("resources") or () if not str(r.get("uri")).startswith(URI_PREFIX)]
    return result
