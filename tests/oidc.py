"""A real identity provider for the OAuth tests: panva's oidc-provider (tests/js/oidc_provider.mjs) on loopback.

`oidc_provider(work, ...)` starts one node process serving one or more providers; `Endpoint.token()` gets
client-credentials tokens from it and `Browser` signs a person in through its login and consent pages,
as the redirect and callback handlers of an MCP client's OAuth support.
"""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx2
from joserfc.jwk import RSAKey
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthToken

from tests.transport_support import JS_DIR, NODE22, NODE_MODULES, free_port, missing, stop_process

SCRIPT = JS_DIR / "oidc_provider.mjs"
PACKAGE = NODE_MODULES / "oidc-provider"
SECRET = "test-secret-0123456789abcdef"  # every pre-registered client's secret (test-only)
READ, CALL = "opper-mcp:read", "opper-mcp:call"
START_TIMEOUT_S = 20.0


def require_provider() -> None:
    if not NODE22.exists() or not PACKAGE.is_dir():
        missing(f"oidc-provider or node 22 missing under {NODE_MODULES}: run `npm ci` in tests/js")


def write_keys(path: Path) -> Path:
    """A private JWK set with one fresh RSA signing key, for providers to share."""
    key = RSAKey.generate_key(2048, parameters={"kid": f"k0-{time.time_ns():x}", "alg": "RS256", "use": "sig"},
                              private=True)
    path.write_text(json.dumps({"keys": [key.as_dict(private=True)]}))
    return path


@dataclass
class Endpoint:
    """One provider of the process: its port and the issuer it writes into tokens."""

    port: int
    issuer: str
    keys_file: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def token_response(self, client_id: str, resource: str, scope: str | None = None) -> httpx2.Response:
        data = {"grant_type": "client_credentials", "resource": resource}
        if scope is not None:
            data["scope"] = scope
        return httpx2.post(f"{self.base}/token", data=data, auth=(client_id, SECRET), timeout=10)

    def token(self, client_id: str, resource: str, scope: str | None = f"{READ} {CALL}") -> str:
        response = self.token_response(client_id, resource, scope)
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])

    def rotate(self, *, drop: bool = False) -> str:
        """A new signing key, first in the set (drop: the only one); returns its kid."""
        response = httpx2.post(f"{self.base}/__test/rotate" + ("?drop=1" if drop else ""), timeout=10)
        assert response.status_code == 200, response.text
        return str(response.json()["kid"])


@dataclass
class Provider:
    proc: subprocess.Popen[bytes]
    endpoints: list[Endpoint]
    log: Path

    @property
    def main(self) -> Endpoint:
        return self.endpoints[0]

    def stop(self) -> None:
        stop_process(self.proc)

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@contextlib.contextmanager
def oidc_provider(work: Path, *endpoints: tuple[int | None, str | None, Path | None],
                  clock_offset_s: int = 0) -> Iterator[Provider]:
    """One node process serving `endpoints` (port or a free one, issuer or its own URL, keys file or new keys).

    `clock_offset_s` shifts the provider's clock: its tokens are then issued in the past or future."""
    require_provider()
    work.mkdir(parents=True, exist_ok=True)
    made: list[Endpoint] = []
    for i, (port, issuer, keys) in enumerate(endpoints or ((None, None, None),)):
        port = port or free_port()
        made.append(Endpoint(port, issuer or f"http://127.0.0.1:{port}",
                             keys or write_keys(work / f"keys-{port}-{i}.json")))
    config = {"providers": [{"port": e.port, "issuer": e.issuer, "keysFile": str(e.keys_file)} for e in made],
              "clockOffsetS": clock_offset_s, "scopes": [READ, CALL]}
    log = work / f"oidc-{made[0].port}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([str(NODE22), str(SCRIPT), json.dumps(config)], cwd=JS_DIR,
                                stdin=subprocess.DEVNULL, stdout=out, stderr=out)
    provider = Provider(proc, made, log)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        for endpoint in made:
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"oidc-provider exited with {proc.returncode}:\n{provider.output()}")
                with contextlib.suppress(httpx2.TransportError):
                    if httpx2.get(f"{endpoint.base}/.well-known/openid-configuration", timeout=1).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"oidc-provider not answering:\n{provider.output()}")
                time.sleep(0.05)
        yield provider
    finally:
        provider.stop()


# ---- a person at a browser, for the authorization code flow -----------------------------------


@dataclass
class Browser:
    """Signs `login` in on the provider's development login and consent pages, by plain HTTP (a cookie jar
    and the forms the pages show), and hands the code the provider redirects to back to the client."""

    login: str
    redirect_uri: str
    visited: list[str] = field(default_factory=list)
    log: list[str] | None = None  # "METHOD URL -> status" of each page, for a transcript
    _result: AuthorizationCodeResult | None = None

    async def _note(self, response: httpx2.Response) -> None:
        if self.log is not None:
            self.log.append(f"  (browser) {response.request.method} {response.request.url} -> {response.status_code}")

    async def redirect(self, authorization_url: str) -> None:
        self.visited.append(authorization_url)
        async with httpx2.AsyncClient(follow_redirects=False, timeout=10,
                                      event_hooks={"response": [self._note]}) as http:
            response = await http.get(authorization_url)
            for _ in range(20):
                if response.is_redirect:
                    location = urljoin(str(response.url), response.headers["location"])
                    if location.startswith(self.redirect_uri):
                        self._result = self._code(location)
                        return
                    response = await http.get(location)
                    continue
                assert response.status_code == 200, f"{response.status_code}: {response.text[:500]}"
                page = response.text
                action = re.search(r'<form[^>]*action="([^"]+)"', page)
                prompt = re.search(r'name="prompt" value="(\w+)"', page)
                assert action and prompt, f"no sign-in or consent form on {response.url}:\n{page[:800]}"
                form = {"prompt": prompt.group(1)}
                if form["prompt"] == "login":
                    form |= {"login": self.login, "password": "any password works on the dev pages"}
                response = await http.post(urljoin(str(response.url), action.group(1)), data=form)
        raise AssertionError("the provider never redirected back to the client")

    def _code(self, location: str) -> AuthorizationCodeResult:
        query = parse_qs(urlsplit(location).query)
        assert "code" in query, f"no code in the redirect: {query}"
        return AuthorizationCodeResult(code=query["code"][0], state=query.get("state", [None])[0],
                                       iss=query.get("iss", [None])[0])

    async def callback(self) -> AuthorizationCodeResult:
        assert self._result is not None, "the redirect handler did not run"
        result, self._result = self._result, None
        return result


class MemoryStorage:
    """The client's token storage (a real client keeps it on disk; the test keeps it in memory)."""

    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client_info: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info = client_info
