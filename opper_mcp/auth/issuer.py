"""The identity provider as this server knows it: its metadata, found by discovery, and its signing keys.

Nothing is fetched until the first token arrives (start-up stays free of network calls). The keys are
then cached and used for every token; they are fetched again

- when a token names a key id the cache lacks (the provider rotated its keys): at most once a second,
  one fetch shared by every request that waits for it, and a kid still unknown after a fresh fetch is
  refused at once for a minute, so tokens with made-up key ids cannot make this server hammer the
  provider;
- when they are an hour old; a failed refresh keeps the cached keys (the provider being down must not
  log everyone out), and is retried after a pause.

With no keys at all (the provider unreachable since start) verification raises `IssuerUnavailable`,
which the HTTP layer answers with a 503 that says so.

Only public keys for signatures are kept (RSA, EC, OKP; `use` absent or `sig`): a symmetric key in a
JWKS is dropped, so an HMAC can never be checked against anything this server fetched.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import anyio
import httpx2
from cachetools import TTLCache
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

log = logging.getLogger(__name__)

# Asymmetric JWS algorithms only: `none` and the HMACs (HS*) can never verify an access token here.
SIGNATURE_ALGORITHMS = frozenset({
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA", "Ed25519",
})
DEFAULT_ALGORITHMS = frozenset({"RS256"})  # RFC 9068 §2.1: every issuer of JWT access tokens supports it
FETCH_TIMEOUT_S = 5.0
KEYS_MAX_AGE_S = 3600.0
MIN_REFETCH_S = 1.0  # at most one key fetch a second, whatever the tokens say
RETRY_AFTER_FAILURE_S = 5.0
UNKNOWN_KID_TTL_S = 60.0
MAX_DOCUMENT_BYTES = 512 * 1024


class IssuerUnavailable(Exception):
    """The issuer's metadata or keys cannot be fetched, and nothing usable is cached."""


@dataclass(frozen=True)
class Metadata:
    issuer: str  # exactly as the provider spells it (the tokens' `iss` must equal it)
    jwks_uri: str
    introspection_endpoint: str | None
    published_algorithms: frozenset[str]


def discovery_urls(issuer: str) -> list[str]:
    """Where the metadata may be, in the order the MCP authorization spec gives (RFC 8414, then OpenID)."""
    parts = urlsplit(issuer.rstrip("/"))
    path = parts.path

    def at(p: str) -> str:
        return urlunsplit((parts.scheme, parts.netloc, p, "", ""))

    if not path:
        return [at("/.well-known/oauth-authorization-server"), at("/.well-known/openid-configuration")]
    return [at(f"/.well-known/oauth-authorization-server{path}"), at(f"/.well-known/openid-configuration{path}"),
            at(f"{path}/.well-known/openid-configuration")]


def same_issuer(a: str, b: str) -> bool:
    return a.rstrip("/") == b.rstrip("/")


def signing_keys(document: Any) -> KeySet:
    """The JWKS's public signature keys; keys of other types or uses are left out."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("not a JWK set (no 'keys' list)")
    usable = [key for key in document["keys"] if isinstance(key, dict) and key.get("kty") in ("RSA", "EC", "OKP")
              and key.get("use", "sig") == "sig" and "d" not in key]
    if not usable:
        raise ValueError("no public signature keys (RSA, EC or OKP) in the JWK set")
    try:
        return KeySet.import_key_set({"keys": usable})
    except (JoseError, ValueError, TypeError) as exc:
        raise ValueError(f"unusable JWK set: {exc}") from exc


class Issuer:
    """One issuer's metadata and keys, cached for the process (see the module docstring)."""

    def __init__(self, issuer: str) -> None:
        self.issuer = issuer
        self._metadata: Metadata | None = None
        self._keys: KeySet | None = None
        self._algorithms: frozenset[str] = DEFAULT_ALGORITHMS
        self._fetched_at = 0.0  # monotonic time of the last key fetch attempt
        self._loaded_at = 0.0  # ... and of the last successful one
        self._failed_at: float | None = None
        self._failure = ""
        self._lock = anyio.Lock()
        self._unknown_kids: TTLCache[str, bool] = TTLCache(maxsize=1024, ttl=UNKNOWN_KID_TTL_S)
        self.generation = 0  # +1 at every key load: what was verified with older keys is checked again

    # ---- what verification reads -------------------------------------------------------------

    async def keys(self) -> tuple[KeySet, frozenset[str], Metadata]:
        """The cached keys with the algorithms they may sign with; fetched first if there are none."""
        keys, metadata = self._keys, self._metadata
        if keys is not None and metadata is not None and (
            time.monotonic() - self._loaded_at < KEYS_MAX_AGE_S or self._lock.locked()
        ):
            return keys, self._algorithms, metadata  # old keys serve while one request refreshes them
        await self._refresh(since=None)
        assert self._keys is not None and self._metadata is not None
        return self._keys, self._algorithms, self._metadata

    async def keys_after_unknown_kid(self, kid: str | None) -> tuple[KeySet, frozenset[str], bool] | None:
        """Keys after a token named a key id the cache lacks: fetched again unless a fetch is under way or
        the last failed a moment ago (then the cached ones, and False: not known to be fresh); None if that
        kid was just found to be unknown."""
        if kid is not None and kid in self._unknown_kids:
            return None
        since = time.monotonic()
        await self._refresh(since=since)
        assert self._keys is not None
        return self._keys, self._algorithms, self._loaded_at >= since

    def mark_unknown(self, kid: str | None) -> None:
        if kid is not None:
            self._unknown_kids[kid[:200]] = True

    async def metadata(self) -> Metadata:
        if self._metadata is None:
            await self._refresh(since=None)
        assert self._metadata is not None
        return self._metadata

    # ---- fetching ------------------------------------------------------------------------------

    async def _refresh(self, since: float | None) -> None:
        """Fetch metadata (once) and keys, one request at a time; `since`: a fetch started after it will do."""
        async with self._lock:
            now = time.monotonic()
            if since is not None and self._fetched_at >= since:
                return  # another request fetched while this one waited
            if since is None and self._keys is not None and now - self._loaded_at < KEYS_MAX_AGE_S:
                return
            if self._failed_at is not None and now - self._failed_at < RETRY_AFTER_FAILURE_S:
                if self._keys is not None:
                    return  # keep the cached keys through the pause
                raise IssuerUnavailable(self._failure)
            wait = self._fetched_at + MIN_REFETCH_S - now
            if wait > 0:
                await anyio.sleep(wait)
            self._fetched_at = time.monotonic()
            try:
                async with httpx2.AsyncClient(timeout=FETCH_TIMEOUT_S, follow_redirects=False) as http:
                    if self._metadata is None:
                        self._metadata = await self._discover(http)
                    document = await _get_json(http, self._metadata.jwks_uri, "JWK set")
                keys = signing_keys(document)
            except (IssuerUnavailable, ValueError) as exc:
                self._failed_at, self._failure = time.monotonic(), str(exc)
                if self._keys is not None:
                    log.warning("oauth: refreshing the keys of %s failed (%s); the cached keys stay in use",
                                self.issuer, exc)
                    return
                log.error("oauth: cannot load the keys of %s: %s", self.issuer, exc)
                raise IssuerUnavailable(str(exc)) from exc
            self._keys, self._loaded_at, self._failed_at = keys, time.monotonic(), None
            self.generation += 1
            self._algorithms = _algorithms(document, self._metadata)
            self._unknown_kids.clear()
            log.info("oauth: %d signing key(s) of %s loaded (%s)", len(keys.keys), self.issuer,
                     ", ".join(sorted(self._algorithms)))

    async def _discover(self, http: httpx2.AsyncClient) -> Metadata:
        last = ""
        for url in discovery_urls(self.issuer):
            try:
                document = await _get_json(http, url, "metadata")
            except IssuerUnavailable as exc:
                last = str(exc)
                if "HTTP 404" in last or "HTTP 400" in last:
                    continue
                raise
            found = document.get("issuer") if isinstance(document, dict) else None
            if not isinstance(found, str) or not same_issuer(found, self.issuer):
                raise IssuerUnavailable(f"{url} names issuer {found!r}, not {self.issuer!r}: wrong --oauth-issuer?")
            jwks_uri = document.get("jwks_uri")
            if not isinstance(jwks_uri, str) or not _safe_url(jwks_uri):
                raise IssuerUnavailable(f"{url} has no https jwks_uri: this issuer cannot sign access tokens")
            introspection = document.get("introspection_endpoint")
            if isinstance(introspection, str) and not _safe_url(introspection):
                introspection = None
            published = document.get("id_token_signing_alg_values_supported")
            return Metadata(
                issuer=found,
                jwks_uri=jwks_uri,
                introspection_endpoint=introspection if isinstance(introspection, str) else None,
                published_algorithms=frozenset(a for a in published if isinstance(a, str))
                if isinstance(published, list) else frozenset(),
            )
        raise IssuerUnavailable(f"no OAuth/OpenID metadata found for {self.issuer} ({last})")


def _algorithms(jwks: Any, metadata: Metadata | None) -> frozenset[str]:
    """What the issuer publishes (its keys' `alg`, its metadata's signing algorithms), asymmetric ones only."""
    published = {key.get("alg") for key in jwks.get("keys", []) if isinstance(key, dict)}
    if metadata is not None:
        published |= metadata.published_algorithms
    allowed = frozenset(a for a in published if isinstance(a, str)) & SIGNATURE_ALGORITHMS
    return allowed or DEFAULT_ALGORITHMS


def _safe_url(url: str) -> bool:
    """https, or http to this machine (test and development providers): keys must not travel in the clear."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return True
    return parts.scheme == "http" and parts.hostname is not None and _loopback(parts.hostname)


def _loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def _get_json(http: httpx2.AsyncClient, url: str, what: str) -> Any:
    try:
        response = await http.get(url, headers={"Accept": "application/json"})
    except httpx2.HTTPError as exc:
        raise IssuerUnavailable(f"{what} at {url} unreachable ({type(exc).__name__})") from exc
    if response.status_code != 200:
        raise IssuerUnavailable(f"{what} at {url}: HTTP {response.status_code}")
    if len(response.content) > MAX_DOCUMENT_BYTES:
        raise IssuerUnavailable(f"{what} at {url} is over {MAX_DOCUMENT_BYTES} bytes")
    try:
        return json.loads(response.content)
    except ValueError as exc:
        raise IssuerUnavailable(f"{what} at {url} is not JSON") from exc
