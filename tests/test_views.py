"""The MCP App views as the server declares them: linked from tools through `_meta.ui`, served as `ui://`
resources with the extension's MIME type and an empty CSP, seen only by hosts that declared the extension,
built on first read (never at start-up), and the same tool result for every client.

The views rendered in a real browser under a real host: tests/test_views_browser.py.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.client.extension import advertise

from opper_mcp import views
from opper_mcp.server import build_server
from opper_mcp.tools.registry import BY_NAME, TOOLS
from opper_mcp.views import serve
from tests.fake_opper import SEED_TRACE_IDS, FakeOpperServer
from tests.support import MODES, data_of, make_settings

pytestmark = pytest.mark.anyio

APPS = advertise("io.modelcontextprotocol/ui", {"mimeTypes": ["text/html;profile=mcp-app"]})
LINKED = {"roundtable": "compare", "review": "compare", "get_trace": "trace", "get_usage": "spend"}


@asynccontextmanager
async def client(tmp_path: Path, mode: str, *, apps: bool, base_url: str = "http://127.0.0.1:9",
                 **overrides: Any) -> AsyncIterator[Client]:
    server = build_server(make_settings(base_url, tmp_path / "cache", **overrides))
    async with Client(server, mode=mode, raise_exceptions=True,  # type: ignore[arg-type]
                      extensions=[APPS] if apps else None) as c:
        yield c


def test_registry_links_the_tools_to_known_views() -> None:
    assert {e.name: e.view for e in TOOLS if e.view} == LINKED
    assert set(LINKED.values()) == set(views.VIEWS)


@pytest.mark.parametrize("mode", MODES)
async def test_hosts_that_declare_the_extension_see_the_links_and_pages(tmp_path: Path, mode: str) -> None:
    async with client(tmp_path, mode, apps=True) as c:
        tools = {t.name: t for t in (await c.list_tools()).tools}
        resources = {str(r.uri): r for r in (await c.list_resources()).resources}
    for name, view in LINKED.items():
        assert (tools[name].meta or {})["ui"] == {"resourceUri": f"ui://opper/{view}.html"}
        assert "ui://" not in (tools[name].description or "")  # the link costs the model's context nothing
    assert [t for t in tools.values() if t.name not in LINKED and "ui" in (t.meta or {})] == []
    pages = {uri: r for uri, r in resources.items() if uri.startswith("ui://")}
    assert sorted(pages) == sorted(view.uri for view in views.VIEWS.values())
    for page in pages.values():
        assert page.mime_type == "text/html;profile=mcp-app"
        assert page.title


@pytest.mark.parametrize("mode", MODES)
async def test_other_clients_see_neither(tmp_path: Path, mode: str) -> None:
    async with client(tmp_path, mode, apps=False) as c:
        tools = (await c.list_tools()).tools
        resources = (await c.list_resources()).resources
    assert [t.name for t in tools if "ui" in (t.meta or {})] == []
    assert (next(t for t in tools if t.name == "get_trace").meta or {}) == {"anthropic/maxResultSizeChars": 50_000}
    assert [str(r.uri) for r in resources if str(r.uri).startswith("ui://")] == []
    assert any(str(r.uri).startswith("opper://guide/") for r in resources)  # the rest is still listed


async def test_a_server_without_linked_tools_has_no_views(tmp_path: Path) -> None:
    async with client(tmp_path, "auto", apps=True, tools=("chat", "list_models")) as c:
        assert [str(r.uri) for r in (await c.list_resources()).resources if str(r.uri).startswith("ui://")] == []
        assert "io.modelcontextprotocol/ui" not in (c.server_capabilities.extensions or {})


async def test_the_extension_is_advertised(tmp_path: Path) -> None:
    async with client(tmp_path, "auto", apps=True) as c:
        assert (c.server_capabilities.extensions or {}).get("io.modelcontextprotocol/ui") == {}


@pytest.mark.parametrize("name", sorted(views.VIEWS))
async def test_each_page_is_self_contained(tmp_path: Path, name: str) -> None:
    async with client(tmp_path, "auto", apps=True) as c:
        read = await c.read_resource(views.VIEWS[name].uri)
    [content] = read.contents
    assert content.mime_type == "text/html;profile=mcp-app"
    assert content.meta == {"ui": {"csp": {"connectDomains": [], "resourceDomains": [], "frameDomains": [],
                                           "baseUriDomains": []}, "prefersBorder": True}}
    html = getattr(content, "text", "")
    assert len(html.encode()) <= views.MAX_BYTES
    # Everything is inline: no src/href to load, and the page's own CSP admits exactly its one script and style.
    assert not re.search(r"\b(?:src|href)\s*=", html, re.I)
    assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", html)
    assert "fetch(" not in html and "XMLHttpRequest" not in html and "WebSocket" not in html and "eval(" not in html
    [script] = re.findall(r'<script type="module">(.*?)</script>', html, re.S)
    [style] = re.findall(r"<style>(.*?)</style>", html, re.S)
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html)
    assert csp is not None
    policy = dict(part.strip().split(" ", 1) for part in csp.group(1).split(";"))
    assert policy["default-src"] == "'none'" and policy["connect-src"] == "'none'"
    assert policy["script-src"] == f"'sha256-{base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()}'"
    assert policy["style-src"] == f"'sha256-{base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()}'"
    # Data is only ever written as text: no markup sinks in the views' code.
    assert not re.search(r"innerHTML|outerHTML\s*=|insertAdjacentHTML|document\.write|\.srcdoc", script)


def test_pages_are_built_on_first_read_only(tmp_path: Path) -> None:
    views.page.cache_clear()
    build_server(make_settings("http://127.0.0.1:9", tmp_path / "cache"))
    assert views.page.cache_info().currsize == 0  # start-up read no view file
    views.page("spend")
    assert views.page.cache_info().currsize == 1


def test_a_source_that_would_close_its_element_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    real = views._source
    monkeypatch.setattr(views, "_source", lambda n: real(n) + ("'</script>'" if n == "trace.js" else ""))
    views.page.cache_clear()
    with pytest.raises(ValueError, match="closes its own element"):
        views.page("trace")
    views.page.cache_clear()


def test_tool_meta_refuses_an_unknown_view() -> None:
    with pytest.raises(KeyError):
        serve.tool_meta("pie-chart")
    assert BY_NAME["get_trace"].view == "trace"


async def test_every_client_gets_the_same_result(tmp_path: Path) -> None:
    with FakeOpperServer() as fake:
        results = []
        for apps in (True, False):
            async with client(tmp_path, "auto", apps=apps, base_url=fake.url) as c:
                trace = data_of(await c.call_tool("get_trace", {"trace_id": SEED_TRACE_IDS[0]}))
                usage = data_of(await c.call_tool("get_usage", {}))
                results.append((trace, usage))
    assert results[0] == results[1]
