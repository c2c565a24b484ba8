"""`opper-mcp doctor` against the emulator: what passes, what fails, the exit code, and never the key."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from pydantic import SecretStr

from opper_mcp.doctor import (
    KEY_ACCEPTED,
    MODELS,
    REACHABLE,
    SPEC,
    Check,
    check_cache_dir,
    check_python,
    check_uvx,
    print_report,
    run_doctor,
)
from opper_mcp.settings import Settings
from tests.fake_opper import TEST_KEY, FakeOpperServer
from tests.support import make_settings

WRONG_KEY = "op-wrong-0123456789abcdef"


def report(checks: list[Check]) -> tuple[int, str]:
    out = io.StringIO()
    return print_report(checks, out), out.getvalue()


def by_name(checks: list[Check]) -> dict[str, Check]:
    return {c.name: c for c in checks}


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.mark.anyio
async def test_all_checks_pass_against_the_emulator(settings: Settings) -> None:
    checks = await run_doctor(settings)
    code, text = report(checks)
    assert code == 0, text
    named = by_name(checks)
    assert [c.status for c in checks if c.name != "uvx on PATH"] == ["ok"] * (len(checks) - 1), text
    assert named["uvx on PATH"].status in {"ok", "warn"}  # depends on where uv is installed here
    assert named["OPPER_API_KEY"].detail == "set"
    assert "operations" in named[SPEC].detail and "ETag" in named[SPEC].detail
    assert named[SPEC].detail.endswith(f"copy in {settings.resolved_cache_dir / 'openapi.yaml'}")
    assert named[MODELS].detail.split()[0].isdigit()
    assert "✓" in text and "✗" not in text
    assert TEST_KEY not in text


@pytest.mark.anyio
async def test_wrong_key_fails_the_key_check(fake_opper: FakeOpperServer, tmp_path: Path) -> None:
    checks = await run_doctor(make_settings(fake_opper.url, tmp_path, api_key=SecretStr(WRONG_KEY)))
    code, text = report(checks)
    assert code == 1
    failed = [c for c in checks if c.status == "fail"]
    assert [c.name for c in failed] == [KEY_ACCEPTED]
    assert "Opper rejected the key" in failed[0].detail
    assert f"✗ {KEY_ACCEPTED}: Opper rejected the key" in text
    assert WRONG_KEY not in text and WRONG_KEY[3:] not in text


@pytest.mark.anyio
async def test_unreachable_base_url_fails_fast(tmp_path: Path) -> None:
    checks = await run_doctor(make_settings(closed_port_url(), tmp_path, timeout_s=5.0))
    code, text = report(checks)
    assert code == 1
    named = by_name(checks)
    assert named[REACHABLE].status == "fail" and "cannot reach" in named[REACHABLE].detail
    assert {named[n].status for n in (KEY_ACCEPTED, SPEC, MODELS)} == {"warn"}  # skipped, not piled on
    assert TEST_KEY not in text


@pytest.mark.anyio
async def test_missing_key_is_a_failure(fake_opper: FakeOpperServer, tmp_path: Path) -> None:
    checks = await run_doctor(make_settings(fake_opper.url, tmp_path, api_key=None))
    named = by_name(checks)
    assert (named["OPPER_API_KEY"].status, named["OPPER_API_KEY"].detail) == ("fail", "not set")
    assert named[KEY_ACCEPTED].status == "warn"
    assert named[MODELS].status == "ok"  # the catalogue is public
    assert report(checks)[0] == 1


@pytest.mark.anyio
async def test_key_echoed_by_opper_is_redacted(fake_opper: FakeOpperServer, tmp_path: Path) -> None:
    fake_opper.state.fail("/v3/traces", 500, body=f'{{"error": "bad key {TEST_KEY}"}}')
    checks = await run_doctor(make_settings(fake_opper.url, tmp_path))
    code, text = report(checks)
    assert code == 1 and by_name(checks)[KEY_ACCEPTED].status == "fail"
    assert TEST_KEY not in text and "[redacted]" in text


@pytest.mark.anyio
async def test_health_answering_an_error_points_at_the_base_url(fake_opper: FakeOpperServer, tmp_path: Path) -> None:
    fake_opper.state.fail("/health", 404)
    named = by_name(await run_doctor(make_settings(fake_opper.url, tmp_path)))
    assert named[REACHABLE].status == "fail" and "HTTP 404" in named[REACHABLE].detail
    assert "OPPER_BASE_URL" in named[REACHABLE].fix
    assert named[MODELS].status == "ok"  # Opper answered, so the other checks still ran


def test_unwritable_cache_dir(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    check = check_cache_dir(blocker / "cache")
    assert check.status == "fail" and "OPPER_MCP_CACHE_DIR" in check.fix
    assert check_cache_dir(tmp_path / "new" / "dir").status == "ok"


def test_python_version() -> None:
    assert check_python((3, 11, 0)).status == "ok"
    assert check_python((3, 10, 12)).status == "fail"


def test_uvx_check_suggests_the_absolute_path() -> None:
    def which(found: dict[str, str]) -> Callable[[str], str | None]:
        return found.get

    missing = check_uvx(which({}), "darwin")
    assert missing.status == "warn" and "install uv" in missing.fix
    system = check_uvx(which({"uvx": "/usr/local/bin/uvx", "uv": "/usr/local/bin/uv"}), "darwin")
    assert system.status == "ok"
    home = check_uvx(which({"uvx": "/Users/me/.local/bin/uvx"}), "darwin")
    assert home.status == "warn" and '"/Users/me/.local/bin/uvx"' in home.fix and "ENOENT" in home.fix
    assert check_uvx(which({"uvx": r"C:\Users\me\.local\bin\uvx.exe"}), "win32").status == "ok"


def test_report_falls_back_to_ascii() -> None:
    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="ascii")
    code = print_report([Check("a", "ok", "fine"), Check("b", "fail", "broken", "do this")], stream)
    stream.flush()
    text = raw.getvalue().decode("ascii")
    assert code == 1
    assert "OK a: fine" in text and "X b: broken" in text and "-> do this" in text


def _doctor_subprocess(base_url: str, key: str, cache_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPPER_")}
    env.update({"OPPER_API_KEY": key, "OPPER_BASE_URL": base_url, "OPPER_MCP_CACHE_DIR": str(cache_dir)})
    return subprocess.run([sys.executable, "-m", "opper_mcp", "doctor"], env=env, capture_output=True, text=True,
                          timeout=60, check=False)


def test_doctor_subprocess_exit_codes(fake_opper: FakeOpperServer, tmp_path: Path) -> None:
    good = _doctor_subprocess(fake_opper.url, TEST_KEY, tmp_path / "cache")
    assert good.returncode == 0, good.stdout + good.stderr
    assert f"✓ {REACHABLE}" in good.stdout and "All checks passed" in good.stdout
    bad = _doctor_subprocess(fake_opper.url, WRONG_KEY, tmp_path / "cache")
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "Opper rejected the key" in bad.stdout
    for result, key in ((good, TEST_KEY), (bad, WRONG_KEY)):
        assert key not in result.stdout and key not in result.stderr


def test_doctor_flags_override_the_environment(fake_opper: FakeOpperServer, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPPER_")}
    env.update({"OPPER_API_KEY": TEST_KEY, "OPPER_BASE_URL": closed_port_url()})
    result = subprocess.run(
        [sys.executable, "-m", "opper_mcp", "doctor", "--base-url", fake_opper.url, "--cache-dir",
         str(tmp_path / "flag-cache"), "--timeout", "5"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert str(tmp_path / "flag-cache") in result.stdout
