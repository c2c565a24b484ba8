"""MCP App views: self-contained HTML pages a host renders beside a tool's result.

Plain package data (no MCP here): each view is `page.html` with the shared stylesheet and scripts and
its own script inlined, so it needs no network at all. `serve.py` turns them into `ui://` resources.
A page is assembled the first time it is read, never at start-up (start-up time is paid at every spawn).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources

URI_PREFIX = "ui://opper/"
MAX_BYTES = 60_000  # per view, everything inlined
SHARED_SCRIPTS = ("bridge.js", "ui.js")


@dataclass(frozen=True)
class View:
    name: str
    title: str
    description: str

    @property
    def uri(self) -> str:
        return f"{URI_PREFIX}{self.name}.html"


VIEWS: dict[str, View] = {
    view.name: view
    for view in (
        View("trace", "Trace waterfall", "Spans of an Opper trace on a shared time axis, with tokens, cost and errors"),
        View("compare", "Side by side", "Several models' answers in columns; a review's merged findings as a table"),
        View("spend", "Spend", "Opper cost per time bucket, stacked by model or name, with the top groups"),
    )
}


def _source(name: str) -> str:
    return (resources.files(__package__) / name).read_text(encoding="utf-8")


def _sha256(text: str) -> str:
    import base64
    import hashlib

    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


@functools.cache
def page(name: str) -> str:
    """The view's whole HTML document.

    Its own Content-Security-Policy admits exactly the inlined script and stylesheet (by hash) and
    nothing from the network, so even markup that slipped into the page could neither run nor load.
    """
    view = VIEWS[name]
    style = "\n" + _source("view.css")
    script = "\n" + "\n".join(_source(part) for part in (*SHARED_SCRIPTS, f"{name}.js"))
    csp = (f"default-src 'none'; script-src {_sha256(script)}; style-src {_sha256(style)}; img-src data:; "
           "connect-src 'none'; font-src 'none'; frame-src 'none'; form-action 'none'; base-uri 'none'")
    html = (_source("page.html").replace("{{csp}}", csp).replace("{{title}}", view.title)
            .replace("{{view}}", view.name).replace("{{style}}", style).replace("{{script}}", script))
    if "</script" in script.lower() or "</style" in style.lower():
        raise ValueError(f"view {name}: a source closes its own element early")
    return html
