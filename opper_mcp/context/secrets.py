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
- Added: Opper API keys (`op-`/`op-mak-` plus a random tail), `OPPER_API_KEY=<value>` assignments, and exact
  occurrences of the server's own configured keys.

Speed: detect-secrets is line-based and calls every plugin on every line (about 1 MB/s). Here cheap *gates* run
once over the whole text and pick the lines a plugin could possibly match; only those lines go to the plugin's own
`analyze_string`, so every verdict is still detect-secrets'. A gate is a plugin's own pattern (`re.MULTILINE`, so
`^`/`$` keep their per-line meaning) or, for patterns that start with lookbehinds or optional keyword groups (slow
at every offset), something each of their matches must contain. Plugins' network verification is never called.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator, Sequence
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


@dataclass(frozen=True)
class _Gate:
    """A pattern whose matches mark candidate lines; `lowered` gates run on text.lower() (for IGNORECASE plugins)."""

    pattern: re.Pattern[str]
    lowered: bool = False


# A plugin's gates: alternatives (any may hold), each a set of gates that must all hit the same line.
_Gates = tuple[tuple[_Gate, ...], ...]


@dataclass
class _PluginDetector:
    plugin: Any
    gates: _Gates
    kind: str
    config_only: bool = False

    def confirm(self, line: str) -> bool:
        if self.config_only:
            return any(_keyword_is_real(s, line) for s in self.plugin.analyze_string(line, **_config_kw()))
        return any(True for _ in self.plugin.analyze_string(line))


class _Text:
    """One text being scanned: offsets to line numbers, and each gate's lines computed at most once."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._lowered: _Text | None = None
        self._starts: list[int] | None = None
        self._gate_lines: dict[_Gate, frozenset[int]] = {}

    @property
    def starts(self) -> list[int]:
        if self._starts is None:
            self._starts = [0, *(m.end() for m in re.finditer("\n", self.text))]
        return self._starts

    def line_of(self, offset: int) -> int:
        return bisect.bisect_right(self.starts, offset)

    def line(self, number: int) -> str:
        start = self.starts[number - 1]
        end = self.starts[number] - 1 if number < len(self.starts) else len(self.text)
        return self.text[start:end]

    def lines_of(self, gate: _Gate) -> frozenset[int]:
        if gate not in self._gate_lines:
            where = self
            if gate.lowered:  # str.lower() never adds or removes "\n", so line numbers still agree
                self._lowered = self._lowered or _Text(self.text.lower())
                where = self._lowered
            self._gate_lines[gate] = frozenset(where.line_of(m.start()) for m in gate.pattern.finditer(where.text))
        return self._gate_lines[gate]

    def candidates(self, gates: _Gates) -> set[int]:
        out: set[int] = set()
        for alternative in gates:
            lines: frozenset[int] | None = None
            for gate in alternative:
                lines = self.lines_of(gate) if lines is None else lines & self.lines_of(gate)
                if not lines:
                    break
            out |= lines or set()
        return out


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


def _own(patterns: Sequence[re.Pattern[str]]) -> _Gates:
    """A plugin's own patterns as gates (each alone suffices)."""
    return tuple((_Gate(re.compile(p.pattern, p.flags | re.MULTILINE)),) for p in patterns)


# Cloudant, IBM Cloud IAM, IBM COS HMAC and SoftLayer: every value is a run of 24+ of [A-Za-z0-9_-] (hex64,
# [a-z]24, 44 or 48 characters), next to a keyword (key/pwd/pass/token) or in a cloudant.com/softlayer.com URL.
_LONG_TOKEN = _Gate(re.compile(r"[A-Za-z0-9_\-]{24,}"))
_IBM_WORDS = _Gate(re.compile(r"key|pw|pass|token|cloudant|softlayer"), lowered=True)
_IBM_GATES: _Gates = ((_LONG_TOKEN, _IBM_WORDS),)
_SPECIAL_GATES: dict[str, _Gates] = {
    "Cloudant Credentials": _IBM_GATES,
    "IBM Cloud IAM Key": _IBM_GATES,
    "IBM COS HMAC Credentials": _IBM_GATES,
    "SoftLayer Credentials": _IBM_GATES,
    "Slack Token": ((_Gate(re.compile(r"xox[abposr]-|hooks\.slack\.com"), lowered=True),),),
    "Artifactory Credentials": ((_Gate(re.compile(r"AKC|AP[0-9A-F]")),),),
    "Mailchimp Access Key": ((_Gate(re.compile(r"-us[0-9]")),),),
    "Telegram Bot Token": ((_Gate(re.compile(r":[0-9A-Za-z_-]{35}")),),),
}
# AWS's second pattern (IGNORECASE) needs the literal "aws"; the first is a fast literal-prefixed pattern.
_AWS_GATES: _Gates = (
    (_Gate(re.compile(r"(?:A3T[A-Z0-9]|ABIA|ACCA|AKIA|ASIA)[0-9A-Z]{16}")),),
    (_Gate(re.compile(r"aws"), lowered=True),),
)
# Keyword rule (config files only): every pattern contains one of its deny-listed words.
_KEYWORD_GATES: _Gates = ((_Gate(re.compile(r"key|pass|pwd|secret|contrase"), lowered=True),),)


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
        azure_storage_key.AzureStorageKeyDetector, artifactory.ArtifactoryDetector,
        basic_auth.BasicAuthDetector, cloudant.CloudantDetector, discord.DiscordBotTokenDetector,
        github_token.GitHubTokenDetector, gitlab_token.GitLabTokenDetector, ibm_cloud_iam.IbmCloudIamDetector,
        ibm_cos_hmac.IbmCosHmacDetector, jwt.JwtTokenDetector, mailchimp.MailchimpDetector, npm.NpmDetector,
        openai.OpenAIDetector, private_key.PrivateKeyDetector, pypi_token.PypiTokenDetector,
        sendgrid.SendGridDetector, slack.SlackDetector, softlayer.SoftlayerDetector,
        square_oauth.SquareOAuthDetector, stripe.StripeDetector, telegram_token.TelegramBotTokenDetector,
        twilio.TwilioKeyDetector,
    )
    out = [_PluginDetector(aws.AWSKeyDetector(), _AWS_GATES, aws.AWSKeyDetector.secret_type)]
    out += [_PluginDetector(c(), _SPECIAL_GATES.get(c.secret_type) or _own(c.denylist), c.secret_type)
            for c in classes]
    kw = keyword.KeywordDetector()
    out.append(_PluginDetector(kw, _KEYWORD_GATES, kw.secret_type, config_only=True))
    return tuple(out)


_OPPER_KEY = re.compile(r"op-(?:mak-)?([A-Za-z0-9_-]{16,})")
_WORDISH = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
_OPPER_ASSIGN = re.compile(r"""OPPER_API_KEY["']?\s*[:=]\s*["']?([^\s"'`]+)""")
_KEYLIKE = re.compile(r"[A-Za-z0-9_.+/=-]{12,}")
_PLACEHOLDER = re.compile(r"^[$<{%(\[]|\.\.\.|…|xxx|your|example|changeme|placeholder|redacted", re.IGNORECASE)


def _has_letter_and_digit(value: str) -> bool:
    return any(c.isdigit() for c in value) and any(c.isalpha() for c in value)


def _is_placeholder(value: str) -> bool:
    return bool(_PLACEHOLDER.search(value)) or len(set(value)) < 4


def _opper_findings(text: str) -> Iterator[int]:
    """Offsets of Opper keys: `op-` plus a random tail (letters and digits both, so CSS-like slugs pass), and of
    `OPPER_API_KEY=<key-like value>` assignments."""
    for m in _OPPER_KEY.finditer(text):
        if (m.start() == 0 or text[m.start() - 1] not in _WORDISH) and _has_letter_and_digit(m.group(1)):
            yield m.start()
    for m in _OPPER_ASSIGN.finditer(text):
        value = m.group(1)
        if _KEYLIKE.fullmatch(value) and _has_letter_and_digit(value) and not _is_placeholder(value):
            yield m.start()


def scan(text: str, filename: str = "", known_secrets: Sequence[str] = ()) -> list[Finding]:
    """Every secret finding in `text`, sorted by line. `filename` picks the config-only rules."""
    t = _Text(text)
    findings: set[Finding] = set()
    for secret in known_secrets:
        if len(secret) >= MIN_KNOWN_SECRET_LEN:
            start = text.find(secret)
            while start >= 0:
                findings.add(Finding(t.line_of(start), "the server's own API key"))
                start = text.find(secret, start + 1)
    findings.update(Finding(t.line_of(off), "Opper API Key") for off in _opper_findings(text))
    is_config = filename.lower().endswith(_CONFIG_SUFFIXES)
    for det in _detectors():
        if det.config_only and not is_config:
            continue
        for number in sorted(t.candidates(det.gates)):
            if det.confirm(t.line(number)):
                findings.add(Finding(number, det.kind))
    return sorted(findings)


def describe(findings: Sequence[Finding], where: str = "") -> str:
    """`secret: AWS Access Key on line 3 (and 1 more)` — kind and line, never the value."""
    first = findings[0]
    more = f" (and {len(findings) - 1} more)" if len(findings) > 1 else ""
    return f"secret: {first.kind} on line {first.line}{where}{more}"
