"""Opper platform guide: short markdown topics served as MCP resources `opper://guide/<topic>`.

Plain package data (no MCP here): `server.py` turns each topic into a static resource, so
clients list them and users can @-mention one. Each page ends with the tools to use next.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

URI_PREFIX = "opper://guide/"


@dataclass(frozen=True)
class Topic:
    name: str
    title: str
    description: str


TOPICS: tuple[Topic, ...] = (
    Topic("concepts", "Opper concepts", "The gateway and the control plane: what Opper is and which parts matter"),
    Topic("endpoints", "Which Opper endpoint", "Which endpoint for which job, and the compat base URLs for SDKs"),
    Topic("authentication", "Opper authentication", "API keys, the Bearer header, public endpoints, common 401/403s"),
    Topic("structured-output", "Structured output", "Typed JSON from any model with response_format"),
    Topic("web-search", "Server-side web search", "Portable, native and standalone web search, and what they cost"),
    Topic("roundtable", "Roundtable", "One prompt to several models: summary, fast and multiple-choice modes"),
    Topic("tracing", "Tracing and trace ids", "How calls are traced, naming them, choosing trace ids, reading traces"),
    Topic("migration", "Migrating to Opper", "From OpenAI/OpenRouter/Anthropic SDKs, and from the legacy /v3/call"),
    Topic("gotchas", "Opper gotchas", "The mistakes people make most with Opper's API"),
)


def read(name: str) -> str:
    """The markdown of one topic (a KeyError-free lookup: unknown names raise FileNotFoundError)."""
    if name not in {t.name for t in TOPICS}:
        raise FileNotFoundError(f"no guide topic {name!r}")
    return (resources.files(__package__) / f"{name}.md").read_text(encoding="utf-8")
