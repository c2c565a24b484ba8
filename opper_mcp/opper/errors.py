"""Errors raised by the Opper REST layer.

Every failure the REST layer can produce is an `OpperError`; tools turn these into MCP
`ToolError`s. Messages never contain the API key: `redact` scrubs it wherever text from
outside could echo it back.
"""

from __future__ import annotations

import html
import json
import re
import unicodedata
from typing import Any

SNIPPET_CHARS = 200
MAX_BODY_CHARS = 65536  # what is read of an error body: the start says what it is
MESSAGE_CHARS = 2000  # Opper's own messages (validation details can be long)
_HTML_START = re.compile(r"\s*(<!doctype\s+html|<html|<head|<body|<\?xml|<!--)", re.IGNORECASE)
_HTML_TAG = re.compile(r"<html[\s>]", re.IGNORECASE)
_HIDDEN = re.compile(r"<(script|style|noscript)\b.*?</\1\s*>|<!--.*?-->", re.IGNORECASE | re.DOTALL)
_HEADING = re.compile(r"<(title|h1)\b[^>]*>(.*?)</\1\s*>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]*>")
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]")  # terminal colour codes some proxies leave in


class OpperError(Exception):
    """Base class: something went wrong talking to Opper."""

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} — {self.hint}" if self.hint else self.message


class OpperConnectionError(OpperError):
    """The request never got an HTTP answer: DNS, refused connection, TLS, dropped socket."""


class OpperTimeoutError(OpperError):
    """Opper did not answer within the configured timeout."""


class MissingKeyError(OpperError):
    """The call needs an API key and none is configured."""


class OpperAPIError(OpperError):
    """Opper answered with an HTTP error status.

    `aside` marks a message that describes the body (a proxy's page, an empty body) rather than
    quoting Opper's own error message; it is written in parentheses.
    """

    def __init__(
        self, status: int, message: str, *, code: str | None = None, hint: str = "", aside: bool = False
    ) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.code = code
        self.aside = aside

    def __str__(self) -> str:
        code = f" {self.code}" if self.code else ""
        said = f" ({self.message})" if self.aside else f": {self.message}"
        text = f"Opper returned HTTP {self.status}{code}{said}"
        return f"{text} — {self.hint}" if self.hint else text


class AuthenticationError(OpperAPIError):
    """401/403: the key is missing, wrong, or lacks permission."""


class PaymentRequiredError(OpperAPIError):
    """402: balance or budget exhausted."""


class NotFoundError(OpperAPIError):
    """404: unknown model, trace, path…"""


class RateLimitError(OpperAPIError):
    """429, still failing after the allowed retries."""


class ServerError(OpperAPIError):
    """5xx from Opper."""


def with_service_hints(exc: OpperAPIError, *, forbidden: str, service: str) -> OpperAPIError:
    """`exc` with what to do next for one of Opper's services: `forbidden` for a 403 (the key lacks
    access to it), and a retry hint naming the `service` for a 5xx that has none yet."""
    if isinstance(exc, AuthenticationError) and exc.status == 403:
        exc.hint = forbidden
    elif isinstance(exc, ServerError) and not exc.hint:
        exc.hint = f"Opper's {service} service failed; retry in a moment"
    return exc


class StreamError(OpperError):
    """A stream failed part-way: an error chunk or a dropped connection after a 200.

    `partial` holds the text received before the failure, so nothing is lost.
    """

    def __init__(self, message: str, *, partial: str = "", hint: str = "") -> None:
        super().__init__(message, hint=hint)
        self.partial = partial


_HINTS: dict[int, str] = {
    401: "check OPPER_API_KEY (create one at https://platform.opper.ai)",
    402: "Opper balance or budget exhausted: top up or raise the spend cap at https://platform.opper.ai",
    403: "the key's project is not allowed to do this (model allow-list, entitlement or tier)",
    404: "check the id or name you passed, and that OPPER_BASE_URL points at Opper (without /v3)",
    429: "rate limited by Opper: wait a little before retrying",
}


def error_class(status: int) -> type[OpperAPIError]:
    if status in (401, 403):
        return AuthenticationError
    if status == 402:
        return PaymentRequiredError
    if status == 404:
        return NotFoundError
    if status == 429:
        return RateLimitError
    if status >= 500:
        return ServerError
    return OpperAPIError


def opper_message(body: str) -> tuple[str, str | None] | None:
    """Read Opper's message and code out of any error-body shape it is known to send (else None).

    Order: `error.message` (object) → `error` (string) → `detail` (string) → v2's `message` with
    `type` → `detail` (object) → `errors[0].message` → `message`.
    """
    text = body.strip()
    try:
        data: Any = json.loads(text) if text else None
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    err = data.get("error")
    if isinstance(err, dict):
        message = err.get("message") or err.get("detail")
        code = err.get("code") or err.get("type")
        if message:
            return str(message), str(code) if code else None
    if isinstance(err, str) and err:
        return err, None
    detail = data.get("detail")
    if isinstance(detail, str) and detail:
        return detail, None
    if isinstance(data.get("message"), str) and data["message"] and isinstance(data.get("type"), str):
        return data["message"], data["type"]  # the v2 surface: {type, message, detail: {...}}
    if detail:
        return json.dumps(detail)[:500], None
    errors = data.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        first = errors[0]
        if first.get("message"):
            return str(first["message"]), str(first["type"]) if first.get("type") else None
    if isinstance(data.get("message"), str):
        return data["message"], None
    return None


def clean_text(text: str, limit: int = SNIPPET_CHARS) -> str:
    """One line of printable text: control and format characters dropped, whitespace folded, shortened."""
    text = _ANSI.sub("", text)
    printable = "".join(" " if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") else ch for ch in text)
    line = " ".join(printable.split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def is_html(text: str) -> bool:
    return bool(_HTML_START.match(text) or _HTML_TAG.search(text[:4096]))


def html_text(page: str) -> str:
    """The readable text of an HTML page, without markup, scripts or styles."""
    return html.unescape(_TAG.sub(" ", _HIDDEN.sub(" ", page)))


def describe_body(text: str) -> str:
    """Say what a body that is not Opper's JSON is, without markup or control characters.

    Proxies and load balancers in front of Opper answer with HTML pages whose title says it all;
    other bodies are quoted, shortened.
    """
    text = text[:MAX_BODY_CHARS]
    if not text.strip():
        return "an empty body"
    if _is_json(text):
        return f"a JSON body without an error message: {clean_text(text)!r}"
    if is_html(text):
        found = _HEADING.search(_HIDDEN.sub(" ", text))
        title = clean_text(html_text(found.group(2)) if found else html_text(text), 120)
        return f"an HTML error page from a proxy: {title!r}" if title else "an HTML error page from a proxy"
    return f"a non-JSON body: {clean_text(text)!r}"


def api_error(status: int, body: str, *, hint: str = "") -> OpperAPIError:
    """Build the right `OpperAPIError` subclass for an HTTP error response."""
    found = opper_message(body)
    cls = error_class(status)
    if found is not None:
        message, code = found
        return cls(status, clean_text(message, MESSAGE_CHARS), code=code, hint=hint or _HINTS.get(status, ""))
    # Not Opper's JSON: a proxy or load balancer answered; a 5xx from one usually passes.
    default = "retry shortly" if status >= 500 else _HINTS.get(status, "")
    return cls(status, describe_body(body), hint=hint or default, aside=True)


def redact(text: str, secrets: list[str]) -> str:
    """Replace every occurrence of each secret (and its tail) in `text`."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "[redacted]")
    return text
