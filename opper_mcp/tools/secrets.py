"""The one place tools ask "does this text hold a secret?" before sending it to Opper.

A small stand-in for the file-context scanner: Opper keys, cloud keys, private-key blocks,
tokens in URLs, and exact matches of the server's own secrets. Findings name the kind and
line, never the value.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("Opper API key", re.compile(r"\bop-[A-Za-z0-9_-]{16,}")),
    ("AWS access key", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("private key", re.compile(r"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----")),
    ("GitHub token", re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b")),
    ("OpenAI-style key", re.compile(r"\bsk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,}")),
    ("Slack token", re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}")),
    ("password in URL", re.compile(r"[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@", re.I)),
)


def secret_findings(text: str, known_secrets: Sequence[str] = ()) -> list[str]:
    """Descriptions like "AWS access key on line 3", one per finding."""
    found: list[str] = []
    for number, line in enumerate(text.splitlines(), 1):
        for kind, pattern in PATTERNS:
            if pattern.search(line):
                found.append(f"{kind} on line {number}")
        if any(secret and len(secret) >= 8 and secret in line for secret in known_secrets):
            found.append(f"the server's own API key or token on line {number}")
    return found
