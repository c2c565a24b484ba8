"""Named bearer tokens kept as hashes in a file, re-read when the file changes.

The file holds one line per person, ``NAME:sha256:HEX`` (blank lines and ``#`` comments are
ignored). Tokens are minted by ``opper-mcp token add`` as 32 random bytes, so an attacker who
reads the file faces a 256-bit preimage search: a plain, fast SHA-256 is the right hash here
(slow password hashes exist for low-entropy secrets that people choose, and would cost every
request a millisecond or more for nothing).

Every request stats the file (one syscall) and reloads it when its inode, size or mtime
changed, so adding or revoking a token takes effect at the next request on every replica that
reads the same file, without a restart.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path

from opper_mcp.atomic import write_atomically

log = logging.getLogger(__name__)

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
TOKEN_PREFIX = "omcp_"
NAME_RULE = "1-64 characters: letters, digits, '.', '_' or '-', starting with a letter or digit"


class TokensFileError(ValueError):
    """The tokens file cannot be read or written as asked."""


@dataclass(frozen=True)
class Entry:
    name: str
    digest: bytes


def digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def mint() -> str:
    """A new high-entropy token (the prefix makes leaked tokens easy to recognise in scans)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def parse(text: str, *, source: str = "tokens file") -> list[Entry]:
    """Entries of a tokens file; a malformed line is skipped with a warning (it can never grant access)."""
    entries: list[Entry] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, _, rest = line.partition(":")
        algo, _, hexdigest = rest.partition(":")
        try:
            value = bytes.fromhex(hexdigest)
        except ValueError:
            value = b""
        if not NAME_RE.match(name) or algo != "sha256" or len(value) != 32:
            log.warning("%s line %d is not NAME:sha256:<64 hex digits>; ignored", source, number)
            continue
        entries.append(Entry(name, value))
    return entries


def format_entry(name: str, token: str) -> str:
    return f"{name}:sha256:{digest(token).hex()}\n"


class TokensFile:
    """The live view of one tokens file: `who(token)` answers with the token's name or None."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[int, int, int] | None = None
        self._entries: list[Entry] = []
        self._missing_logged = False
        self._lock = threading.Lock()

    def _refresh(self) -> list[Entry]:
        try:
            st = os.stat(self.path)
        except OSError as exc:
            if not self._missing_logged:
                log.error("tokens file %s unreadable (%s): every named token is refused", self.path, exc.strerror)
                self._missing_logged = True
            self._stamp, self._entries = None, []  # fail closed: a vanished file revokes everything
            return self._entries
        self._missing_logged = False
        stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
        if stamp != self._stamp:
            with self._lock:
                if stamp != self._stamp:
                    try:
                        text = self.path.read_text(encoding="utf-8")
                    except (OSError, UnicodeDecodeError) as exc:
                        log.error("tokens file %s unreadable (%s): every named token is refused", self.path, exc)
                        self._stamp, self._entries = None, []
                        return self._entries
                    self._entries = parse(text, source=str(self.path))
                    self._stamp = stamp
                    log.info("tokens file %s loaded: %d named token(s)", self.path, len(self._entries))
        return self._entries

    def who(self, token: str) -> str | None:
        """The name the token belongs to; compares against every entry in constant time."""
        wanted = digest(token)
        found: str | None = None
        for entry in self._refresh():
            if hmac.compare_digest(wanted, entry.digest) and found is None:
                found = entry.name
        return found

    def names(self) -> list[str]:
        return [e.name for e in self._refresh()]


_open: dict[Path, TokensFile] = {}
_open_lock = threading.Lock()


def tokens_file(path: Path) -> TokensFile:
    """One shared view per path in this process (the HTTP guard and the tools read the same one)."""
    key = path.resolve()
    with _open_lock:
        if key not in _open:
            _open[key] = TokensFile(key)
        return _open[key]


# ---- editing (the `opper-mcp token` command) -------------------------------------------------


def _read_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines(keepends=True)
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise TokensFileError(f"cannot read {path}: {exc.strerror}") from exc


def _write_lines(path: Path, lines: list[str]) -> None:
    """Replace the file atomically (a new inode), readable by its owner only."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, "".join(lines).encode("utf-8"))
    except OSError as exc:
        raise TokensFileError(f"cannot write {path}: {exc.strerror}") from exc


def _entry_name(line: str) -> str:
    return line.strip().partition(":")[0] if line.strip() and not line.lstrip().startswith("#") else ""


def add(path: Path, name: str) -> str:
    """Mint a token for `name`, append its hash, return the token (shown once, never stored)."""
    if not NAME_RE.match(name):
        raise TokensFileError(f"invalid name {name!r}: {NAME_RULE}")
    lines = _read_lines(path)
    if any(_entry_name(line) == name for line in lines):
        raise TokensFileError(f"{name!r} already has a token in {path}: `opper-mcp token remove {name}` first")
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    token = mint()
    _write_lines(path, [*lines, format_entry(name, token)])
    return token


def remove(path: Path, name: str) -> None:
    lines = _read_lines(path)
    kept = [line for line in lines if _entry_name(line) != name]
    if len(kept) == len(lines):
        raise TokensFileError(f"no token named {name!r} in {path}")
    _write_lines(path, kept)
