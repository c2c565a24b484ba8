"""`opper-mcp doctor`: check what usually breaks an install, one line per check, with the fix.

Checks run against the same settings the server would use (environment and flags). The key
is never printed, not even in part: only whether it is set and whether Opper accepts it.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TextIO

from opper_mcp import __version__
from opper_mcp.opper.errors import (
    AuthenticationError,
    OpperAPIError,
    OpperConnectionError,
    OpperError,
    OpperTimeoutError,
    redact,
)
from opper_mcp.settings import DEFAULT_BASE_URL, Settings

if TYPE_CHECKING:
    from opper_mcp.openapi.store import SpecStore
    from opper_mcp.opper.client import OpperClient

Status = Literal["ok", "warn", "fail"]
MIN_PYTHON = (3, 11)
# Where a GUI app launched by the desktop (not from a shell) reliably finds programs.
GUI_PATH_DIRS = frozenset({"/usr/bin", "/bin", "/usr/sbin", "/sbin", "/usr/local/bin"})
KEY_URL = "https://platform.opper.ai"
REACHABLE, KEY_ACCEPTED, SPEC, MODELS = "Opper reachable", "Opper accepts the key", "OpenAPI spec", "Models"


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str
    fix: str = ""


def check_python(version: Sequence[int] = tuple(sys.version_info[:3])) -> Check:
    shown = ".".join(map(str, version))
    if tuple(version[:2]) >= MIN_PYTHON:
        return Check("Python", "ok", f"{shown} (needs ≥ 3.11)")
    return Check("Python", "fail", f"{shown} is too old (needs ≥ 3.11)",
                 "run with a newer Python, e.g. `uvx --python 3.12 opper-mcp`")


def check_uvx(which: Callable[[str], str | None] = shutil.which, platform: str = sys.platform) -> Check:
    """MCP client configs start the server with `uvx`; GUI apps often lack the shell's PATH."""
    uvx, uv = which("uvx"), which("uv")
    if uvx is None:
        return Check("uvx on PATH", "warn", "uvx not found" + (f" (uv is at {uv})" if uv else ""),
                     "install uv (https://docs.astral.sh/uv/), or point the client config at another launcher")
    detail = f"{uvx}" + (f", uv at {uv}" if uv else "")
    if platform != "win32" and str(Path(uvx).parent) not in GUI_PATH_DIRS:
        return Check("uvx on PATH", "warn", detail,
                     f'GUI apps (Claude Desktop, Cursor, VS Code from the dock) may not inherit your shell PATH: '
                     f'if one reports "spawn uvx ENOENT", use the absolute path "{uvx}" as "command"')
    return Check("uvx on PATH", "ok", detail)


def check_key_present(settings: Settings) -> Check:
    if settings.api_key is not None and settings.api_key.get_secret_value().strip():
        return Check("OPPER_API_KEY", "ok", "set")
    return Check("OPPER_API_KEY", "fail", "not set",
                 f"set OPPER_API_KEY in the MCP client's env for this server (create a key at {KEY_URL})")


async def run_doctor(settings: Settings) -> list[Check]:
    """Every check, in order. Never raises for a failed check; never includes the key."""
    from opper_mcp.server import build_state

    # A diagnosis should answer quickly: no retries, and the process key even in pass-through mode.
    probe = settings.model_copy(update={"max_retries": 0, "auth_mode": "none", "store": None})
    state = build_state(probe)
    opper = state.opper
    cache_dir = probe.resolved_cache_dir
    checks = [check_python(), check_uvx(), check_key_present(settings), check_cache_dir(cache_dir),
              await check_store(settings)]
    try:
        reachable, answered = await _check_reachable(opper)
        checks.append(reachable)
        if answered:
            checks.append(await _check_key_accepted(opper))
            checks.append(await _check_spec(state.spec, cache_dir))
            checks.append(await _check_models(opper))
        else:
            for name in (KEY_ACCEPTED, SPEC, MODELS):
                checks.append(Check(name, "warn", "skipped: Opper is not reachable", "fix the connection first"))
    finally:
        await opper.aclose()
    secrets = settings.secrets()
    return [Check(c.name, c.status, redact(c.detail, secrets), redact(c.fix, secrets)) for c in checks]


async def _check_reachable(opper: OpperClient) -> tuple[Check, bool]:
    """The check, and whether Opper answered at all (else the network checks are skipped)."""
    name, base_url = REACHABLE, opper.config.base_url
    try:
        start = time.perf_counter()
        await opper.request("GET", "/health", auth=False)
        ms = (time.perf_counter() - start) * 1000
    except OpperAPIError as exc:
        return Check(name, "fail", f"{base_url}/health answered HTTP {exc.status}",
                     f"is OPPER_BASE_URL right? It is the API root, e.g. {DEFAULT_BASE_URL}"), True
    except (OpperConnectionError, OpperTimeoutError) as exc:
        return Check(name, "fail", exc.message,
                     "check the network, any proxy (HTTPS_PROXY) and OPPER_BASE_URL"), False
    except OpperError as exc:
        return Check(name, "fail", f"{base_url}/health: {exc}", "check OPPER_BASE_URL"), True
    return Check(name, "ok", f"{base_url} ({ms:.0f} ms)"), True


async def _check_key_accepted(opper: OpperClient) -> Check:
    """A cheap authenticated read: the newest trace."""
    name = KEY_ACCEPTED
    if not opper.has_key:
        return Check(name, "warn", "skipped: no key", f"set OPPER_API_KEY (create a key at {KEY_URL})")
    try:
        await opper.request("GET", "/v3/traces", params={"limit": 1})
    except AuthenticationError as exc:
        return Check(name, "fail", f"Opper rejected the key (HTTP {exc.status})",
                     f"check OPPER_API_KEY: copy it again from {KEY_URL}, without quotes or spaces")
    except OpperError as exc:
        return Check(name, "fail", str(exc), "retry; if it persists, check Opper's status")
    return Check(name, "ok", "GET /v3/traces authorised")


async def _check_spec(store: SpecStore, cache_dir: Path) -> Check:
    """The server's own spec store: network fetch (or ETag revalidation), then the disk copy."""
    from opper_mcp.openapi.store import SPEC_FILE

    name = SPEC
    try:
        snap = await store.get()
    except OpperError as exc:
        return Check(name, "fail", str(exc), "grep_spec/read_spec need the spec: check the network")
    size = len(snap.index.text.encode("utf-8"))
    saved = cache_dir / SPEC_FILE
    detail = (f"{size / 1024:.0f} kB, {len(snap.index.operations)} operations, ETag {snap.etag or 'none'}, "
              f"source {snap.source}, " + (f"copy in {saved}" if saved.is_file() else "no copy on disk"))
    if snap.stale_reason:
        return Check(name, "warn", f"{detail}; {snap.stale_reason}", "tools serve the cached copy until Opper answers")
    return Check(name, "ok", detail)


async def _check_models(opper: OpperClient) -> Check:
    """One page of one model: the total is the catalogue's size."""
    name = MODELS
    try:
        response = await opper.request("GET", "/v3/models", params={"limit": 1}, auth_required=False)
    except OpperError as exc:
        return Check(name, "fail", str(exc), "list_models needs GET /v3/models: check the network")
    data = response.data if isinstance(response.data, dict) else {}
    total = data.get("total")
    if not isinstance(total, int):
        return Check(name, "warn", "GET /v3/models answered without a total", "")
    return Check(name, "ok", f"{total} available")


async def check_store(settings: Settings, timeout_s: float = 5.0) -> Check:
    """The conversation store answers (a ping); shown by its URL without the password."""
    import anyio

    from opper_mcp.store import StoreConfigError, StoreUnavailable, default_url, open_store, redact_url

    name = "Conversation store"
    url = settings.store_url or default_url(settings.resolved_cache_dir)
    shown = redact_url(url)
    try:
        store = open_store(url, settings.resolved_cache_dir)
    except StoreConfigError as exc:
        return Check(name, "fail", str(exc), "install the extra named above, or set OPPER_MCP_STORE to another URL")
    try:
        with anyio.fail_after(timeout_s):
            start = time.perf_counter()
            await store.ping()
            ms = (time.perf_counter() - start) * 1000
    except StoreUnavailable as exc:
        return Check(name, "fail", str(exc), "start the store or fix OPPER_MCP_STORE (--store); chat still answers "
                     "without it, but cannot save or continue conversations")
    except TimeoutError:
        return Check(name, "fail", f"{shown}: no answer within {timeout_s:.0f} s", "check the host, port and network")
    finally:
        await store.aclose()
    return Check(name, "ok", f"{shown} ({store.backend}, {ms:.0f} ms)")


def check_cache_dir(cache_dir: Path) -> Check:
    """The spec copy and conversations live here; it must be writable."""
    name = "Cache dir writable"
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=cache_dir, prefix=".doctor-", delete=True) as f:
            f.write(b"ok")
    except OSError as exc:
        return Check(name, "fail", f"{cache_dir}: {exc.strerror or exc}",
                     "set OPPER_MCP_CACHE_DIR (or --cache-dir) to a writable directory")
    return Check(name, "ok", str(cache_dir))


# ---- output -------------------------------------------------------------------------------------

SYMBOLS = {"ok": "✓", "warn": "!", "fail": "✗"}
ASCII_SYMBOLS = {"ok": "OK", "warn": "!", "fail": "X"}


def _symbols(stream: TextIO) -> dict[str, str]:
    try:
        "✓✗→".encode(stream.encoding or "utf-8")
    except (LookupError, UnicodeEncodeError):
        return ASCII_SYMBOLS
    return SYMBOLS


def print_report(checks: Sequence[Check], stream: TextIO | None = None) -> int:
    """One line per check (✓ ok, ! warning, ✗ failure) and its fix; returns the exit code."""
    out = stream or sys.stdout
    symbols = _symbols(out)
    arrow = "→" if symbols is SYMBOLS else "->"
    out.write(f"opper-mcp {__version__} doctor\n")
    for check in checks:
        out.write(f"{symbols[check.status]} {check.name}: {check.detail}\n")
        if check.fix and check.status != "ok":
            out.write(f"    {arrow} {check.fix}\n")
    failed = sum(1 for c in checks if c.status == "fail")
    warned = sum(1 for c in checks if c.status == "warn")
    if failed:
        out.write(f"\n{failed} problem{'s' if failed != 1 else ''} found.\n")
    else:
        out.write("\nAll checks passed" + (f" ({warned} warning{'s' if warned != 1 else ''})" if warned else "") +
                  ".\n")
    out.flush()
    return 1 if failed else 0


def doctor(settings: Settings, stream: TextIO | None = None) -> int:
    import anyio

    return print_report(anyio.run(run_doctor, settings), stream)


__all__ = ["Check", "check_cache_dir", "check_key_present", "check_python", "check_store", "check_uvx", "doctor",
           "print_report", "run_doctor"]
