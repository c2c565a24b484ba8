"""Errors raised by the Opper REST layer.

Every failure the REST layer can produce is an `OpperError`; tools turn these into MCP
`ToolError`s. Messages never contain the API key: `redact` scrubs it wherever text from
outside could echo it back.
"""

from __future__ import annotations

import json
from typing import Any


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
    """Opper answered with an HTTP error status."""

    def __init__(self, status: int, message: str, *, code: str | None = None, hint: str = "") -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.code = code

    def __str__(self) -> str:
        code = f" {self.code}" if self.code else ""
        text = f"Opper returned HTTP {self.status}{code}: {self.message}"
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


def extract_message(body: str) -> tuple[str, str | None]:
    """Read Opper's message and code out of any error-body shape it is known to send.

    Order: `error.message` (object) → `error` (string) → `detail` (string) → v2's `message` with
    `type` → `detail` (object) → `errors[0].message` → `message` → the raw text (shortened).
    """
    text = body.strip()
    try:
        data: Any = json.loads(text) if text else None
    except ValueError:
        data = None
    if isinstance(data, dict):
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
    if not text:
        return "(empty body)", None
    snippet = " ".join(text.split())
    return (snippet[:300] + "…") if len(snippet) > 300 else snippet, None


def api_error(status: int, body: str, *, hint: str = "") -> OpperAPIError:
    """Build the right `OpperAPIError` subclass for an HTTP error response."""
    message, code = extract_message(body)
    return error_class(status)(status, message, code=code, hint=hint or _HINTS.get(status, ""))


def redact(text: str, secrets: list[str]) -> str:
    """Replace every occurrence of each secret (and its tail) in `text`."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "[redacted]")
    return text
