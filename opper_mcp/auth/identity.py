"""Who an OAuth caller is: the verified token's `sub`, named by its email or user name when it has one.

`sub` is unique only per issuer, so the owner of a caller's conversations (and spend) is a digest of
issuer and subject: stable across tokens and sign-ins, apart from named tokens' `name:` owners and
key fingerprints, and of a fixed, key-safe shape whatever characters the provider puts in `sub`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken

DISPLAY_CLAIMS = ("email", "preferred_username")
MAX_NAME = 100


@dataclass(frozen=True)
class Identity:
    owner: str
    name: str


def access_token_of(request: Any) -> AccessToken | None:
    """The access token the HTTP layer verified for this request (None: no OAuth, or not over HTTP)."""
    scope = getattr(request, "scope", None)
    user = scope.get("user") if isinstance(scope, dict) else None
    return user.access_token if isinstance(user, AuthenticatedUser) else None


def identity_of(token: AccessToken) -> Identity | None:
    """The caller an OAuth token names; None for the other bearer kinds (named and shared tokens)."""
    claims = token.claims or {}
    issuer = claims.get("iss")
    if not isinstance(issuer, str) or not token.subject:
        return None
    digest = hashlib.sha256(f"{issuer}\n{token.subject}".encode()).hexdigest()[:32]
    shown = next((claims[c] for c in DISPLAY_CLAIMS if isinstance(claims.get(c), str) and claims[c]), token.subject)
    name = "".join(ch for ch in shown if ch.isprintable())[:MAX_NAME] or digest
    return Identity(owner=f"oauth:{digest}", name=name)
