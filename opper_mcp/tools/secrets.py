"""The one place tools ask "does this text hold a secret?" before sending it to Opper.

It uses the same scanner as file context (`opper_mcp.context.secrets`: detect-secrets' token
plugins, Opper keys, and exact matches of the server's own secrets). Findings name the kind
and line, never the value.
"""

from __future__ import annotations

from collections.abc import Sequence


def secret_findings(text: str, known_secrets: Sequence[str] = (), filename: str = "") -> list[str]:
    """Descriptions like "AWS Access Key on line 3", one per finding, in line order."""
    from opper_mcp.context.secrets import scan  # on first use: the scanner costs start-up time every client pays

    return [f"{f.kind} on line {f.line}" for f in scan(text, filename, known_secrets)]
