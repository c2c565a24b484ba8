"""Opaque access tokens, checked by asking the issuer (RFC 7662 token introspection).

Used only for tokens that are not JWTs, and only when this server has client credentials at the
issuer. The issuer's answer must say `active`, name this server's resource in `aud` and not be past
`exp`. Answers are cached for a minute (keyed by the token's SHA-256, never the token), so a client's
burst of calls costs one round trip.
"""

from __future__ import annotations

import hashlib
import logging
import time
from typing import Any

import httpx2
from cachetools import TTLCache
from mcp.server.auth.provider import AccessToken
from pydantic import SecretStr

from opper_mcp.auth.issuer import FETCH_TIMEOUT_S, Issuer, IssuerUnavailable, same_issuer
from opper_mcp.auth.jwt_access import IDENTITY_CLAIMS, scopes_of

log = logging.getLogger(__name__)

CACHE_S = 60.0


class Introspection:
    def __init__(self, issuer: Issuer, resource: str, client_id: str, client_secret: SecretStr,
                 leeway_s: int) -> None:
        self.issuer = issuer
        self.resource = resource.rstrip("/")
        self.auth = (client_id, client_secret)
        self.leeway_s = leeway_s
        self._answers: TTLCache[bytes, AccessToken | None] = TTLCache(maxsize=4096, ttl=CACHE_S)

    async def verify(self, token: str) -> AccessToken | None:
        key = hashlib.sha256(token.encode()).digest()
        if key in self._answers:
            cached = self._answers[key]
            if cached is None or cached.expires_at is None or cached.expires_at >= time.time():
                return cached
        answer = await self._ask(token)
        self._answers[key] = answer
        return answer

    async def _ask(self, token: str) -> AccessToken | None:
        metadata = await self.issuer.metadata()
        if metadata.introspection_endpoint is None:
            log.info("oauth: opaque token refused: %s publishes no introspection_endpoint", metadata.issuer)
            return None
        client_id, secret = self.auth
        try:
            async with httpx2.AsyncClient(timeout=FETCH_TIMEOUT_S, follow_redirects=False) as http:
                response = await http.post(
                    metadata.introspection_endpoint,
                    data={"token": token, "token_type_hint": "access_token"},
                    auth=(client_id, secret.get_secret_value()),
                    headers={"Accept": "application/json"},
                )
        except httpx2.HTTPError as exc:
            raise IssuerUnavailable(f"introspection at {metadata.introspection_endpoint} unreachable "
                                    f"({type(exc).__name__})") from exc
        if response.status_code != 200:
            raise IssuerUnavailable(f"introspection at {metadata.introspection_endpoint}: HTTP "
                                    f"{response.status_code} (are --oauth-client-id and its secret right?)")
        try:
            body: Any = response.json()
        except ValueError as exc:
            raise IssuerUnavailable("introspection answer is not JSON") from exc
        return self._access(token, body, metadata.issuer)

    def _access(self, token: str, body: Any, issuer: str) -> AccessToken | None:
        if not isinstance(body, dict) or body.get("active") is not True:
            return None
        audiences = body.get("aud")
        audiences = [audiences] if isinstance(audiences, str) else audiences if isinstance(audiences, list) else []
        if self.resource not in [a.rstrip("/") for a in audiences if isinstance(a, str)]:
            log.info("oauth: opaque token refused: issued for %r, not %s", audiences, self.resource)
            return None
        iss = body.get("iss")
        if iss is not None and (not isinstance(iss, str) or not same_issuer(iss, issuer)):
            return None
        # No `sub` (RFC 7662 leaves it optional): a client acting for itself, as in client credentials.
        exp, sub = body.get("exp"), body.get("sub") or body.get("client_id")
        if not isinstance(exp, int) or exp + self.leeway_s < time.time() or not isinstance(sub, str) or not sub:
            return None
        client_id = body.get("client_id")
        claims = {k: body[k] for k in IDENTITY_CLAIMS if isinstance(body.get(k), str)}
        claims.setdefault("iss", issuer)
        return AccessToken(token=token, client_id=client_id if isinstance(client_id, str) else "",
                           scopes=scopes_of(body), expires_at=exp + self.leeway_s, resource=self.resource,
                           subject=sub, claims=claims)
