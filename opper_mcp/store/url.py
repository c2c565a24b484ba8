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
