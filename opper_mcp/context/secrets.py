"""Content scan for secrets, built on detect-secrets' own plugins, run in-process on text.

Plugin choice (why not detect-secrets' default set):
- Kept: every *token-shaped* detector (AWS, Azure storage, Artifactory, basic-auth URLs, Cloudant, Discord, GitHub,
  GitLab, IBM, JWT, Mailchimp, npm, OpenAI, private keys, PyPI, SendGrid, Slack, SoftLayer, Square, Stripe, Telegram,
  Twilio). Their patterns are specific, so a hit is almost always a real credential.
- Keyword ("password = ..."): only in config files (YAML, INI, TOML, properties, .cfg/.conf), with detect-secrets'
  own false-positive heuristics (templated values, `$VAR`, indirect references, sequential strings). On code it
  flags lookup tables such as `{"OPPER_API_KEY": "api_key"}` and would leave whole source files out.
- Dropped: Base64/Hex high-entropy strings (they fire on hashes in lock files, UUIDs, base64 fixtures and even
  ordinary quoted words; on this project's own tree they flag thousands of lines) and public IPs (not secrets).
- Added: Opper API keys (`op-…`, `op-mak-…` with a random tail), `OPPER_API_KEY=<value>` assignments, and exact
  occurrences of the server's own configured keys.

Speed: each plugin's patterns are first searched over the whole text (one C-level pass per pattern, `re.MULTILINE`
so `^`/`$` keep their per-line meaning); only lines where a pattern matched are handed to the plugin's own
`analyze_string`, so the verdict is still detect-secrets'. Plugins' network verification is never called.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

MIN_KNOWN_SECRET_LEN = 8  # shorter "secrets" would match ordinary text everywhere

_CONFIG_SUFFIXES = (".yaml", ".yml", ".eyaml", ".ini", ".cfg", ".conf", ".properties", ".toml")


@dataclass(frozen=True, order=True)
class Finding:
    """A secret's kind and 1-based line; deliberately no value."""

    line: int
    kind: str


class _LineStarts:
    """Maps text offsets to 1-based line numbers (built once per text, only when something matched)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.starts = [0, *(m.end() for m in re.finditer("\n", text))]

    def line_of(self, offset: int) -> int:
        return bisect.bisect_right(self.starts, offset)

    def line(self, number: int) -> str:
        start = self.starts[number - 1]
        end = self.starts[number] - 1 if number < len(self.starts) else len(self.text)
        return self.text[start:end]


@dataclass
class _PluginDetector:
    """One detect-secrets regex plugin: whole-text prefilter, then the plugin's own per-line verdict."""

    plugin: Any
    prefilters: tuple[re.Pattern[str], ...]
    kind: str
    config_only: bool = False

    def candidates(self, text: str, lines: _LineStarts) -> set[int]:
        found: set[int] = set()
        for rx in self.prefilters:
            found.update(lines.line_of(m.start()) for m in rx.finditer(text))
        return found

    def confirm(self, line: str) -> bool:
        if self.config_only:
            return any(_keyword_is_real(s, line) for s in self.plugin.analyze_string(line, **_config_kw()))
        return any(True for _ in self.plugin.analyze_string(line))


def _multiline(patterns: Iterable[re.Pattern[str]]) -> tuple[re.Pattern[str], ...]:
    return tuple(re.compile(p.pattern, p.flags | re.MULTILINE) for p in patterns)


@cache
def _config_kw() -> dict[str, Any]:
    from detect_secrets.plugins import keyword

    return {"denylist_regex_to_group": keyword.CONFIG_DENYLIST_REGEX_TO_GROUP}


def _keyword_is_real(secret: str, line: str) -> bool:
    from detect_secrets.filters import heuristic

    return not (
        heuristic.is_templated_secret(secret)
        or heuristic.is_prefixed_with_dollar_sign(secret)
        or heuristic.is_indirect_reference(line)
        or heuristic.is_not_alphanumeric_string(secret)
        or heuristic.is_sequential_string(secret)
        or _is_placeholder(secret)
    )


@cache
def _detectors() -> tuple[_PluginDetector, ...]:
    """Imported lazily: detect-secrets costs ~0.3 s to import and only file/diff context needs it."""
    from detect_secrets.plugins import (
        artifactory,
        aws,
        azure_storage_key,
        basic_auth,
        cloudant,
        discord,
        github_token,
        gitlab_token,
        ibm_cloud_iam,
        ibm_cos_hmac,
        jwt,
        keyword,
        mailchimp,
        npm,
        openai,
        private_key,
        pypi_token,
        sendgrid,
        slack,
        softlayer,
        square_oauth,
        stripe,
        telegram_token,
        twilio,
    )

    classes = (
        aws.AWSKeyDetector, azure_storage_key.AzureStorageKeyDetector, artifactory.ArtifactoryDetector,
        basic_auth.BasicAuthDetector, cloudant.CloudantDetector, discord.DiscordBotTokenDetector,
        github_token.GitHubTokenDetector, gitlab_token.GitLabTokenDetector, ibm_cloud_iam.IbmCloudIamDetector,
        ibm_cos_hmac.IbmCosHmacDetector, jwt.JwtTokenDetector, mailchimp.MailchimpDetector, npm.NpmDetector,
        openai.OpenAIDetector, private_key.PrivateKeyDetector, pypi_token.PypiTokenDetector,
        sendgrid.SendGridDetector, slack.SlackDetector, softlayer.SoftlayerDetector,
        square_oauth.SquareOAuthDetector, stripe.StripeDetector, telegram_token.TelegramBotTokenDetector,
        twilio.TwilioKeyDetector,
    )
    out = [_PluginDetector(c(), _multiline(c.denylist), c.secret_type) for c in classes]
    kw = keyword.KeywordDetector()
    out.append(_PluginDetector(kw, _multiline(_config_kw()["denylist_regex_to_group"]), kw.secret_type, True))
    return tuple(out)


_OPPER_KEY = re.compile(r"(?<![A-Za-z0-9_-])op-(?:mak-)?([A-Za-z0-9_-]{16,})")
_OPPER_ASSIGN = re.compile(r"""OPPER_API_KEY["']?\s*[:=]\s*["']?([^\s"'`]+)""")
_PLACEHOLDER = re.compile(r"^[$<{%(\[]|\.\.\.|…|xxx|your|example|changeme|placeholder|redacted", re.IGNORECASE)


_KEYLIKE = re.compile(r"[A-Za-z0-9_.+/=-]{12,}")


def _has_letter_and_digit(value: str) -> bool:
    return any(c.isdigit() for c in value) and any(c.isalpha() for c in value)


def _is_placeholder(value: str) -> bool:
    return bool(_PLACEHOLDER.search(value)) or len(set(value)) < 4


def _opper_findings(text: str) -> Iterator[tuple[int, str]]:
    """Opper keys: `op-` plus a random tail (letters and digits both, so CSS-like slugs pass), and key assignments."""
    for m in _OPPER_KEY.finditer(text):
        tail = m.group(1)
        if _has_letter_and_digit(tail):
            yield m.start(), "Opper API Key"
    for m in _OPPER_ASSIGN.finditer(text):
        value = m.group(1)
        if _KEYLIKE.fullmatch(value) and _has_letter_and_digit(value) and not _is_placeholder(value):
            yield m.start(), "Opper API Key"


def scan(text: str, filename: str = "", known_secrets: Sequence[str] = ()) -> list[Finding]:
    """Every secret finding in `text`, sorted by line. `filename` picks the config-only rules."""
    raw: list[tuple[int, str]] = []
    for secret in known_secrets:
        if len(secret) >= MIN_KNOWN_SECRET_LEN:
            start = text.find(secret)
            while start >= 0:
                raw.append((start, "the server's own API key"))
                start = text.find(secret, start + 1)
    raw.extend(_opper_findings(text))
    lines: _LineStarts | None = _LineStarts(text) if raw else None
    findings = {Finding(lines.line_of(off), kind) for off, kind in raw} if lines else set()
    is_config = filename.lower().endswith(_CONFIG_SUFFIXES)
    for det in _detectors():
        if det.config_only and not is_config:
            continue
        if not any(rx.search(text) for rx in det.prefilters):
            continue
        lines = lines or _LineStarts(text)
        for number in sorted(det.candidates(text, lines)):
            if det.confirm(lines.line(number)):
                findings.add(Finding(number, det.kind))
    return sorted(findings)


def describe(findings: Sequence[Finding], where: str = "") -> str:
    """`secret: AWS Access Key on line 3 (and 1 more)` — kind and line, never the value."""
    first = findings[0]
    more = f" (and {len(findings) - 1} more)" if len(findings) > 1 else ""
    return f"secret: {first.kind} on line {first.line}{where}{more}"
