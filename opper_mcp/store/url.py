"""Store URLs: which backend a URL names, and how to show one without its password."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit, urlunsplit

SCHEMES = {
    "sqlite": "sqlite",
    "redis": "redis",
    "rediss": "redis",
    "postgresql": "postgres",
    "postgres": "postgres",
}


def backend_of(url: str) -> str:
    scheme = url.partition("://")[0].lower()
    if "://" not in url or scheme not in SCHEMES:
        raise ValueError(
            f"store URL {redact_url(url)!r} must start with sqlite:///, redis://, rediss://, postgresql:// "
            "or postgres://"
        )
    return SCHEMES[scheme]


def passwords_of(url: str) -> list[str]:
    """The secrets a URL carries: its password and any password=… in its query."""
    try:
        parts = urlsplit(url)
        found = [parts.password or ""]
        found += [v for k, v in parse_qsl(parts.query) if k.lower() in ("password", "sslpassword")]
    except ValueError:
        return []
    return [secret for secret in found if secret]


def redact_url(url: str) -> str:
    """`url` with any password (and a query's password=…) replaced by ***: the only way a store URL is shown."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
    except ValueError:
        return "<unparseable store URL>"
    if not passwords_of(url) and "@" not in netloc:
        return url
    if "@" in netloc:
        userinfo, _, host = netloc.rpartition("@")
        user, sep, _ = userinfo.partition(":")
        netloc = f"{user}{':***' if sep else ''}@{host}"
    query = "&".join(
        f"{key}=***" if key.lower() in ("password", "sslpassword") else f"{key}{sep}{value}"
        for key, sep, value in (item.partition("=") for item in parts.query.split("&") if item)
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def scrub(text: str, url: str) -> str:
    """`text` with the URL's password removed wherever a driver's message might repeat it."""
    for password in passwords_of(url):
        if len(password) >= 3:
            text = text.replace(password, "***")
    return text


def failure(url: str, exc: BaseException, hint: str = "") -> str:
    """A store failure as it is shown: the URL and the driver's words, neither with the password, and a hint."""
    detail = scrub(" ".join(str(exc).split()) or type(exc).__name__, url)
    return f"{redact_url(url)}: {detail}" + (f" ({hint})" if hint else "")


def tls_hint(url: str, detail: str) -> str:
    """What to change in the URL when a connection failed over (or for want of) TLS; "" when it is not that.

    The drivers report these as bare socket or SSL errors that do not say which URL parameter fixes them.
    """
    secure = url.lower().startswith("rediss://")
    query = url.partition("?")[2]
    if "CERTIFICATE_VERIFY_FAILED" in detail and "mismatch" in detail:
        return "the server's certificate is issued for another name: connect by a host name the certificate lists"
    if "CERTIFICATE_VERIFY_FAILED" in detail:
        return ("the server's certificate is not trusted: name the CA that signed it in the URL, "
                "?ssl_ca_certs=/path/ca.pem")
    if "No such file" in detail and "ssl_" in query:
        return "a file named by ssl_ca_certs, ssl_certfile or ssl_keyfile does not exist"
    dropped = "CERTIFICATE_REQUIRED" in detail or "reset by peer" in detail or "closed by server" in detail
    if dropped and not secure:
        return "if the server accepts TLS only, use rediss://"
    if dropped and "ssl_certfile" not in query:
        return ("if the server wants a client certificate, add "
                "&ssl_certfile=/path/cert.pem&ssl_keyfile=/path/key.pem")
    if secure and ("Timeout connecting" in detail or "WRONG_VERSION_NUMBER" in detail):
        return "if the server does not speak TLS on this port, use redis://"
    return ""
