"""JWT access tokens (RFC 9068), verified locally against the issuer's keys with joserfc.

A token is accepted only if all of these hold:
- its signature verifies with one of the issuer's published public keys, under an algorithm the
  issuer publishes and that is asymmetric (`none` and the HMACs never are, see `issuer`);
- `iss` is the configured issuer, exactly as its metadata spells it;
- `aud` is (or contains) this server's resource URL (RFC 8707): a token issued for another API is
  refused, even by the same provider;
- `exp` is in the future and `nbf`/`iat` are not, each with a small leeway for clock skew;
- it has a `sub` (the caller) and it is not huge (see `MAX_TOKEN_CHARS`).
Scopes come from `scope` (space-separated, RFC 9068) or `scp` (a list or string: Okta, Entra).

A client sends the same token with every call for its lifetime, so a verified token is remembered (by
its SHA-256) for up to five minutes, never past its `exp`, and forgotten when the keys are loaded
again (a withdrawn key takes its tokens with it): a call then costs a hash and a lookup instead of a
signature check and claim parsing.
"""

from __future__ import annotations

import hashlib
import logging
import time
from typing import Any

from cachetools import TTLCache
from joserfc import jws, jwt
from joserfc.errors import ExpiredTokenError, InvalidKeyIdError, JoseError
from joserfc.jwt import JWTClaimsRegistry
from mcp.server.auth.provider import AccessToken

from opper_mcp.auth.issuer import Issuer

log = logging.getLogger(__name__)

IDENTITY_CLAIMS = ("iss", "email", "preferred_username", "name")
VERIFIED_TTL_S = 300.0


def scopes_of(claims: dict[str, Any]) -> list[str]:
    value = claims.get("scope", claims.get("scp"))
    if isinstance(value, str):
        return value.split()
    if isinstance(value, list):
        return [s for s in value if isinstance(s, str)]
    return []


class JwtAccessTokens:
    """Verifies JWT access tokens for one resource (this server) from one issuer."""

    def __init__(self, issuer: Issuer, resource: str, leeway_s: int) -> None:
        self.issuer = issuer
        self.resource = resource
        self.leeway_s = leeway_s
        self._audiences = [resource.rstrip("/"), resource.rstrip("/") + "/"]
        self._claims: JWTClaimsRegistry | None = None
        self._verified: TTLCache[bytes, tuple[int, AccessToken]] = TTLCache(maxsize=4096, ttl=VERIFIED_TTL_S)

    def _registry(self, issuer: str) -> JWTClaimsRegistry:
        if self._claims is None:
            self._claims = JWTClaimsRegistry(
                leeway=self.leeway_s,
                iss={"essential": True, "value": issuer},
                aud={"essential": True, "values": self._audiences},
                exp={"essential": True},
                sub={"essential": True},
            )
        return self._claims

    async def verify(self, token: str) -> AccessToken | None:
        """The token's access, or None if it is not a valid access token for this server.

        Raises `IssuerUnavailable` when no keys can be had (the HTTP layer answers 503)."""
        digest = hashlib.sha256(token.encode()).digest()
        seen = self._verified.get(digest)
        if seen is not None and seen[0] == self.issuer.generation and (seen[1].expires_at or 0) >= time.time():
            return seen[1]
        generation = self.issuer.generation  # as of before: a key reload meanwhile means check it again
        access = await self._verify(token)
        if access is not None:
            self._verified[digest] = (generation, access)
        return access

    async def _verify(self, token: str) -> AccessToken | None:
        keys, algorithms, metadata = await self.issuer.keys()
        try:
            try:
                decoded = jwt.decode(token, keys, algorithms=algorithms)
            except InvalidKeyIdError:
                kid = _kid(token)
                fresh = await self.issuer.keys_after_unknown_kid(kid)
                if fresh is None:
                    return _refuse("unknown signing key")
                keys, algorithms, is_fresh = fresh
                try:
                    decoded = jwt.decode(token, keys, algorithms=algorithms)
                except InvalidKeyIdError:
                    if is_fresh:
                        self.issuer.mark_unknown(kid)
                    return _refuse("unknown signing key (not among the issuer's keys)")
            claims = dict(decoded.claims)
            self._registry(metadata.issuer).validate(claims)
        except ExpiredTokenError:
            return _refuse("expired")
        except JoseError as exc:
            return _refuse(f"{type(exc).__name__}: {exc.description or exc.error}")
        except (ValueError, TypeError) as exc:  # malformed input that joserfc reports as such
            return _refuse(f"malformed ({type(exc).__name__})")
        exp = claims["exp"]
        client_id = claims.get("client_id", claims.get("azp"))
        return AccessToken(
            token=token,
            client_id=client_id if isinstance(client_id, str) else "",
            scopes=scopes_of(claims),
            expires_at=int(exp) + self.leeway_s,  # the last second this server accepts it
            resource=self.resource,
            subject=str(claims["sub"]),
            claims={k: claims[k] for k in IDENTITY_CLAIMS if isinstance(claims.get(k), str)},
        )


def _kid(token: str) -> str | None:
    try:
        kid = jws.extract_compact(token.encode()).headers().get("kid")
    except (JoseError, ValueError, TypeError):
        return None
    return kid if isinstance(kid, str) else None


def _refuse(reason: str) -> AccessToken | None:
    """Logged (at INFO: anyone can send junk) with the reason only, never the token."""
    log.info("oauth: access token refused: %s", reason)
    return None
