"""The MCP endpoint as an OAuth 2.1 resource server, assembled from the SDK's own auth parts.

- `metadata_routes`: RFC 9728 protected resource metadata at the well-known URL for /mcp, naming the
  issuer and the two scopes (so clients ask for both at once).
- `OAuthGate`, around /mcp only: the SDK's bearer backend with `BearerTokens` as its verifier, its
  `RequireAuthMiddleware` (401 with `WWW-Authenticate: Bearer resource_metadata=…`, 403
  insufficient_scope without the read scope), then `ScopeChallenge`: a `tools/call` for a tool that
  needs the call scope gets the spec's 403 step-up challenge before it runs, when the request names the
  tool in its headers (`Mcp-Name`, 2026-07-28 clients). The tools check the scope again themselves
  (`opper_mcp.runtime.authorize`), which is what older clients, whose tool name is only in the body,
  meet: a tool error that says which scope is missing.
- An identity provider that cannot be reached while no keys are cached is a 503 that says so.

The SDK's `MCPServer(auth=…)` would do the first two, but lists only the scopes every request needs
as `scopes_supported`, and its 401s cannot tell "provider down" from "bad token".
"""

from __future__ import annotations

import json

from mcp.server.auth.middleware.auth_context import AuthContextMiddleware
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser, BearerAuthBackend, RequireAuthMiddleware
from mcp.server.auth.provider import AccessToken, TokenVerifier
from mcp.server.auth.routes import build_resource_metadata_url, create_protected_resource_routes
from pydantic import AnyHttpUrl, ConfigDict, TypeAdapter
from starlette.authentication import AuthenticationError
from starlette.datastructures import Headers
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from opper_mcp.auth.introspection import Introspection
from opper_mcp.auth.issuer import Issuer, IssuerUnavailable
from opper_mcp.auth.jwt_access import JwtAccessTokens
from opper_mcp.auth.scopes import ScopePolicy, refusal
from opper_mcp.settings import Settings
from opper_mcp.tools.registry import BY_NAME

# Real access tokens are 1-4 KB; anything much larger is refused before it is parsed.
MAX_TOKEN_CHARS = 16 * 1024
TEAM_CLIENT = "opper-mcp-token"
RETRY_AFTER_S = 5
INSUFFICIENT_SCOPE = -32003  # a JSON-RPC implementation-defined server error code


def policy_of(settings: Settings) -> ScopePolicy:
    return ScopePolicy(read=settings.oauth_read_scope, call=settings.oauth_call_scope)


class ProviderDown(AuthenticationError):
    """No keys to check tokens with: the identity provider is unreachable and nothing is cached."""


class BearerTokens(TokenVerifier):
    """Every bearer token this server accepts: OAuth access tokens (JWTs checked locally, opaque ones by
    introspection), and with `--auth token` the named and shared tokens, which carry every scope."""

    def __init__(self, settings: Settings) -> None:
        assert settings.oauth_issuer is not None
        self.settings = settings
        self.resource = settings.oauth_resource_url
        self.policy = policy_of(settings)
        self.issuer = Issuer(settings.oauth_issuer)
        self.jwt = JwtAccessTokens(self.issuer, self.resource, settings.oauth_leeway_s)
        self.introspection = (
            Introspection(self.issuer, self.resource, settings.oauth_client_id, settings.oauth_client_secret,
                          settings.oauth_leeway_s)
            if settings.oauth_client_id is not None and settings.oauth_client_secret is not None else None
        )

    async def verify_token(self, token: str) -> AccessToken | None:
        if not token or len(token) > MAX_TOKEN_CHARS or not token.isascii() or not token.isprintable():
            return None
        if self.settings.auth_mode == "token" and self._team_token(token):
            return AccessToken(token=token, client_id=TEAM_CLIENT, scopes=self.policy.supported,
                               resource=self.resource)
        try:
            if token.count(".") == 2:
                return await self.jwt.verify(token)
            if self.introspection is not None:
                return await self.introspection.verify(token)
        except IssuerUnavailable as exc:
            raise ProviderDown(str(exc)) from exc
        return None

    def _team_token(self, token: str) -> bool:
        """A named token from the tokens file, or the one shared token (as `http.Guard` checks without OAuth)."""
        import hmac

        from opper_mcp.auth.named_tokens import tokens_file

        settings = self.settings
        if settings.tokens_file is not None and tokens_file(settings.tokens_file).who(token) is not None:
            return True
        shared = settings.http_token
        return shared is not None and hmac.compare_digest(token.encode(), shared.get_secret_value().encode())


# URLs kept as configured: an issuer is compared as a string (RFC 8414 §3.3), so no "/" may be added to it.
_URL = TypeAdapter(AnyHttpUrl, config=ConfigDict(url_preserve_empty_path=True))


def metadata_url(settings: Settings) -> AnyHttpUrl:
    return build_resource_metadata_url(_URL.validate_python(settings.oauth_resource_url))


def metadata_routes(settings: Settings) -> list[Route]:
    """RFC 9728 metadata for the resource (served without auth, CORS open, as clients fetch it first)."""
    assert settings.oauth_issuer is not None
    return create_protected_resource_routes(
        resource_url=_URL.validate_python(settings.oauth_resource_url),
        authorization_servers=[_URL.validate_python(settings.oauth_issuer)],
        scopes_supported=policy_of(settings).supported or None,
        resource_name="opper-mcp",
    )


class ScopeChallenge:
    """403 + `WWW-Authenticate: Bearer error="insufficient_scope", scope=…` for a tools/call the token may
    not make, named in the request headers; everything else passes (the tool checks again)."""

    def __init__(self, app: ASGIApp, policy: ScopePolicy, metadata: AnyHttpUrl) -> None:
        self.app = app
        self.policy = policy
        self.metadata = str(metadata)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        user = scope.get("user")
        if (self.policy.call and scope.get("method") == "POST" and isinstance(user, AuthenticatedUser)
                and self.policy.call not in user.scopes):
            headers = Headers(scope=scope)
            if headers.get("mcp-method") == "tools/call":
                tool = headers.get("mcp-name", "")
                missing = self.policy.missing(user.scopes, tool)
                if missing:
                    await self._refuse(tool, missing, user.scopes, scope, receive, send)
                    return
        await self.app(scope, receive, send)

    async def _refuse(self, tool: str, missing: list[str], granted: list[str], scope: Scope, receive: Receive,
                      send: Send) -> None:
        name = tool if tool in BY_NAME else "this tool"  # never echo an unknown header value into a header
        challenge = (f'Bearer error="insufficient_scope", scope="{" ".join(self.policy.needed(name))}", '
                     f'resource_metadata="{self.metadata}", error_description="{name} needs scope '
                     f'{" ".join(missing)}"')
        # The body is a JSON-RPC error (id null: the body was not read), so MCP clients show its message.
        body = {"jsonrpc": "2.0", "id": None, "error": {
            "code": INSUFFICIENT_SCOPE, "message": refusal(name, missing, granted),
            "data": {"error": "insufficient_scope", "scope": " ".join(self.policy.needed(name))}}}
        response = Response(json.dumps(body), status_code=403, media_type="application/json",
                            headers={"WWW-Authenticate": challenge})
        await response(scope, receive, send)


def _provider_down(_: HTTPConnection, exc: AuthenticationError) -> Response:
    return JSONResponse(
        {"error": "temporarily_unavailable",
         "error_description": f"cannot check access tokens now: {exc}; retry in a few seconds"},
        status_code=503,
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )


class OAuthGate:
    """The auth stack on `path` (the MCP endpoint); other paths (health, metadata) pass untouched."""

    def __init__(self, app: ASGIApp, settings: Settings, path: str) -> None:
        self.app = app
        self.path = path
        self.tokens = BearerTokens(settings)
        metadata = metadata_url(settings)
        policy = self.tokens.policy
        required = RequireAuthMiddleware(ScopeChallenge(app, policy, metadata), policy.to_connect, metadata)
        self.protected = AuthenticationMiddleware(
            AuthContextMiddleware(required),
            backend=BearerAuthBackend(self.tokens, resource_server_url=_URL.validate_python(self.tokens.resource)),
            on_error=_provider_down,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == self.path:
            await self.protected(scope, receive, send)
        else:
            await self.app(scope, receive, send)

