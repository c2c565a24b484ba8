"""The streamable-HTTP ASGI app: Host/Origin checks, inbound bearer auth, /healthz, the MCP endpoint."""

from __future__ import annotations

import contextlib
import hmac
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecurityMiddleware, TransportSecuritySettings
from starlette.applications import Starlette
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from opper_mcp import __version__
from opper_mcp.auth.named_tokens import tokens_file
from opper_mcp.ops.metrics import auth_failure
from opper_mcp.settings import Settings, is_loopback
from opper_mcp.store import ConversationStore
from opper_mcp.store.health import StoreHealth

if TYPE_CHECKING:
    from pydantic import SecretStr

    from opper_mcp.ops import Ops

log = logging.getLogger(__name__)

MCP_PATH = "/mcp"
REPLICA_HEADER = "X-Opper-MCP-Replica"
CORS_REQUEST_HEADERS = (
    "Authorization", "Content-Type", "Accept", "Last-Event-ID",
    "Mcp-Method", "Mcp-Name", "Mcp-Protocol-Version", "Mcp-Session-Id",
)
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")
METRICS_PATH = "/metrics"
OWN_AUTH_PATHS = ("/healthz", METRICS_PATH)  # /healthz needs none, /metrics has its own token


def _with_ports(values: tuple[str, ...]) -> list[str]:
    """`example.com` also admits `example.com:<any port>`."""
    out: list[str] = []
    for value in values:
        out.append(value)
        if not value.endswith(":*") and not value.rsplit(":", 1)[-1].isdigit():
            out.append(f"{value}:*")
    return out


def transport_security(settings: Settings) -> TransportSecuritySettings:
    """Always on: loopback names by default, exactly the configured names otherwise."""
    hosts = settings.allowed_hosts or (LOOPBACK_HOSTS if is_loopback(settings.host) else ())
    origins = settings.allowed_origins or tuple(f"http://{h}" for h in hosts if h in LOOPBACK_HOSTS)
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=_with_ports(tuple(hosts)),
        allowed_origins=_with_ports(tuple(origins)),
    )


class Guard:
    """Host/Origin validation, then bearer auth, before a request reaches the MCP endpoint."""

    def __init__(self, app: ASGIApp, settings: Settings, security: TransportSecuritySettings) -> None:
        self.app = app
        self.settings = settings
        self.security = TransportSecurityMiddleware(security)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OWN_AUTH_PATHS:
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        refused = await self.security.validate_request(request, is_post=False) or self._check_auth(request)
        if refused is not None:
            await refused(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _check_auth(self, request: Request) -> Response | None:
        mode = self.settings.auth_mode
        if mode == "none" or self.settings.oauth_enabled:  # with OAuth, auth.resource_server checks every bearer
            return None
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            auth_failure("missing_token")
            return _unauthorized("missing bearer token", "invalid_request")
        if mode == "token" and not self._known_token(token):
            auth_failure("invalid_token")
            return _unauthorized("invalid bearer token", "invalid_token")
        return None

    def _known_token(self, token: str) -> bool:
        """A named token from the tokens file (re-read when it changes), or the one shared token."""
        settings = self.settings
        if settings.tokens_file is not None and tokens_file(settings.tokens_file).who(token) is not None:
            return True
        if settings.http_token is None:
            return False
        return hmac.compare_digest(token.encode(), settings.http_token.get_secret_value().encode())


class ReplicaHeader:
    """Names the answering replica on every response, so operators and tests see it through a load balancer."""

    def __init__(self, app: ASGIApp, replica: str) -> None:
        self.app = app
        self.header = (REPLICA_HEADER.lower().encode(), replica.encode())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_named(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), self.header]
            await send(message)

        await self.app(scope, receive, send_named)


def _unauthorized(message: str, error: str) -> Response:
    return JSONResponse(
        {"error": error, "error_description": message},
        status_code=401,
        headers={"WWW-Authenticate": f'Bearer realm="opper-mcp", error="{error}", error_description="{message}"'},
    )


def build_http_app(
    server: MCPServer[Any], settings: Settings, store: ConversationStore | None = None, ops: Ops | None = None
) -> Starlette:
    """The SDK's own Starlette app with /healthz beside /mcp: no second app or mount to pass through."""
    security = transport_security(settings)
    app = server.streamable_http_app(  # its lifespan runs the session manager
        streamable_http_path=MCP_PATH,
        transport_security=security,
        max_request_body_size=settings.max_body_bytes,
        stateless_http=settings.stateless,
        host=settings.host,
    )

    health = StoreHealth(store) if store is not None else None

    async def healthz(_: Request) -> Response:
        # 200 while the store is down: every replica would fail alike, and tools that need no store still work.
        body: dict[str, Any] = {"status": "ok", "version": __version__, "tools": len(settings.tools),
                                "replica": settings.replica}
        if health is not None:
            body["store"] = await health.state()
            if not body["store"]["ok"]:
                body["status"] = "degraded"
        return JSONResponse(body)

    app.router.routes.append(Route("/healthz", healthz, methods=["GET"]))
    if ops is not None and ops.metrics is not None and settings.metrics_token is not None:
        app.router.routes.append(Route(METRICS_PATH, metrics_endpoint(ops, health, settings.metrics_token),
                                       methods=["GET"]))
    if settings.oauth_enabled:
        from opper_mcp.auth.resource_server import OAuthGate, metadata_routes

        app.router.routes.extend(metadata_routes(settings))
        app.add_middleware(OAuthGate, settings=settings, path=MCP_PATH)
    if settings.auth_mode != "none" or settings.oauth_enabled:  # else the SDK's own Host/Origin check will do
        app.add_middleware(Guard, settings=settings, security=security)
    if settings.allowed_origins:
        # Outermost, so browser preflights (OPTIONS, no credentials) are answered before auth.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.allowed_origins),
            allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
            allow_headers=list(CORS_REQUEST_HEADERS),
            expose_headers=["Mcp-Session-Id", REPLICA_HEADER, "WWW-Authenticate"],  # OAuth challenges too
        )
    app.add_middleware(ReplicaHeader, replica=settings.replica)  # outermost: refusals carry it too
    return app


def metrics_endpoint(ops: Ops, health: StoreHealth | None, token: SecretStr | None) -> Any:
    """/metrics (its own bearer token on the MCP port, none on --metrics-port); the store's health is read
    (at most one ping a second, shared with /healthz) at each scrape."""
    from opper_mcp.ops.metrics import asgi_app

    metrics = ops.metrics
    assert metrics is not None

    async def refresh() -> None:
        if health is not None:
            state = await health.state()
            metrics.store_state(state["backend"], bool(state["ok"]))

    return asgi_app(metrics, token=token.get_secret_value() if token is not None else None, refresh=refresh)


def metrics_server(settings: Settings, ops: Ops, store: ConversationStore | None) -> Any:
    """The --metrics-port listener: a second uvicorn server in this event loop, serving /metrics only."""
    import uvicorn

    endpoint = metrics_endpoint(ops, StoreHealth(store) if store is not None else None, None)
    app = Starlette(routes=[Route(METRICS_PATH, endpoint, methods=["GET"])])

    class Quiet(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:  # the MCP server handles the signals and stops this one
            yield

    config = uvicorn.Config(app, host=settings.metrics_host, port=settings.metrics_port or 0, log_config=None,
                            access_log=False, lifespan="off")
    return Quiet(config)


GRACE_S = 10.0


class InFlight:
    """Counts the POST requests being answered (a tool call's SSE response ends with its result)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.count = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") != "POST":
            await self.app(scope, receive, send)
            return
        self.count += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.count -= 1


async def serve_http(
    server: MCPServer[Any], settings: Settings, store: ConversationStore | None = None, ops: Ops | None = None
) -> None:
    import asyncio
    import socket

    import anyio
    import uvicorn
    from sse_starlette.sse import AppStatus

    class Server(uvicorn.Server):
        """On SIGTERM, answer the tool calls in flight before any SSE stream is closed.

        sse-starlette (under the MCP SDK) would end every SSE stream the moment uvicorn sees the
        signal, turning each call in flight into "SSE stream ended without a response".
        """

        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            for listener in self.servers:
                listener.close()  # no new connections while the calls finish
            loop = asyncio.get_running_loop()
            deadline = loop.time() + GRACE_S
            while app.count and not self.force_exit and loop.time() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
            AppStatus.should_exit = True  # now end the listen-only streams too
            await super().shutdown(sockets)

    AppStatus.disable_automatic_graceful_drain()  # type: ignore[no-untyped-call]
    app = InFlight(build_http_app(server, settings, store, ops))
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=int(GRACE_S),
        lifespan="on",
    )
    if ops is None or ops.metrics is None or settings.metrics_port is None:
        await Server(config).serve()
        return
    side = metrics_server(settings, ops, store)
    async with anyio.create_task_group() as tg:
        tg.start_soon(side.serve)
        try:
            await Server(config).serve()
        finally:
            side.should_exit = True
