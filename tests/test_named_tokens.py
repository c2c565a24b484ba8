"""Named tokens: the file format, reload on change, the `opper-mcp token` command, settings checks."""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import pytest
from mcp import Client
from pydantic import SecretStr

from opper_mcp.auth import named_tokens
from opper_mcp.opper.client import ClientConfig, OpperClient
from opper_mcp.settings import Settings
from tests.fake_opper import TEST_KEY
from tests.transport_support import clean_environ, run_server_once


def test_add_stores_only_the_hash_and_who_finds_the_name(tmp_path: Path) -> None:
    path = tmp_path / "tokens"
    alice = named_tokens.add(path, "alice")
    bob = named_tokens.add(path, "bob.smith")
    text = path.read_text()
    assert alice not in text and bob not in text
    assert text.splitlines()[0] == f"alice:sha256:{named_tokens.digest(alice).hex()}"
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    view = named_tokens.TokensFile(path)
    assert view.who(alice) == "alice" and view.who(bob) == "bob.smith"
    assert view.who(alice + "x") is None and view.who("") is None
    assert alice.startswith(named_tokens.TOKEN_PREFIX) and len(alice) > 40 and alice != bob


def test_reload_sees_additions_and_revocations_without_restart(tmp_path: Path) -> None:
    path = tmp_path / "tokens"
    alice = named_tokens.add(path, "alice")
    view = named_tokens.TokensFile(path)
    assert view.who(alice) == "alice"
    bob = named_tokens.add(path, "bob")
    assert view.who(bob) == "bob"
    named_tokens.remove(path, "alice")
    assert view.who(alice) is None and view.who(bob) == "bob"
    # an in-place edit by hand (same inode) is seen too
    with path.open("a") as out:
        out.write(named_tokens.format_entry("carol", "carols-token-0123456789"))
    assert view.who("carols-token-0123456789") == "carol"


def test_missing_file_refuses_everyone(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "tokens"
    alice = named_tokens.add(path, "alice")
    view = named_tokens.TokensFile(path)
    assert view.who(alice) == "alice"
    path.unlink()
    with caplog.at_level(logging.ERROR):
        assert view.who(alice) is None
        assert view.who(alice) is None
    assert sum("unreadable" in r.getMessage() for r in caplog.records) == 1  # said once, not per request


def test_malformed_lines_are_skipped_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "tokens"
    good = "a-good-token-with-enough-entropy"
    path.write_text(
        "# team tokens\n\n"
        f"bad name:sha256:{named_tokens.digest('x').hex()}\n"
        f"md5user:md5:{named_tokens.digest('y').hex()}\n"
        "short:sha256:abcd\n"
        f"ok:sha256:{named_tokens.digest(good).hex()}\n"
    )
    with caplog.at_level(logging.WARNING):
        assert named_tokens.TokensFile(path).names() == ["ok"]
    assert [r.getMessage().split(" line ")[1][:1] for r in caplog.records] == ["3", "4", "5"]


def test_add_refuses_duplicates_and_bad_names_remove_refuses_unknown(tmp_path: Path) -> None:
    path = tmp_path / "tokens"
    named_tokens.add(path, "alice")
    with pytest.raises(named_tokens.TokensFileError, match="already has a token"):
        named_tokens.add(path, "alice")
    with pytest.raises(named_tokens.TokensFileError, match="invalid name"):
        named_tokens.add(path, "al ice")
    with pytest.raises(named_tokens.TokensFileError, match="invalid name"):
        named_tokens.add(path, "x:y")
    with pytest.raises(named_tokens.TokensFileError, match="no token named"):
        named_tokens.remove(path, "bob")


def test_token_command_prints_the_token_once_and_edits_the_file(tmp_path: Path) -> None:
    path = tmp_path / "team" / "tokens"
    env = clean_environ()
    added = run_server_once(env, "token", "add", "alice", "--tokens-file", str(path))
    assert added.returncode == 0, added.stderr
    token = added.stdout.strip()
    assert token.startswith(named_tokens.TOKEN_PREFIX) and "shown only once" in added.stderr
    assert named_tokens.TokensFile(path).who(token) == "alice"
    again = run_server_once(env, "token", "add", "alice", "--tokens-file", str(path))
    assert again.returncode == 2 and "already has a token" in again.stderr and again.stdout == ""
    removed = run_server_once({**env, "OPPER_MCP_TOKENS_FILE": str(path)}, "token", "remove", "alice")
    assert removed.returncode == 0, removed.stderr
    assert named_tokens.TokensFile(path).who(token) is None
    nowhere = run_server_once(env, "token", "add", "bob")
    assert nowhere.returncode == 2 and "--tokens-file" in nowhere.stderr


def test_settings_check_tokens_file(tmp_path: Path) -> None:
    path = tmp_path / "tokens"
    base = {"transport": "http", "auth_mode": "token", "tokens_file": path}
    with pytest.raises(ValueError, match="does not exist"):
        Settings.model_validate(base).check_http()
    named_tokens.add(path, "alice")
    Settings.model_validate(base).check_http()  # no shared token needed
    with pytest.raises(ValueError, match="needs --auth token"):
        Settings.model_validate({**base, "auth_mode": "passthrough"}).check_http()
    with pytest.raises(ValueError, match="--tokens-file"):
        Settings.model_validate({**base, "tokens_file": None}).check_http()


def test_replica_name_defaults_to_host_and_port() -> None:
    assert Settings(port=8123).replica == f"{os.uname().nodename}:8123"
    assert Settings(replica_name="r1").replica == "r1"
    with pytest.raises(ValueError):
        Settings(replica_name="has space")


@pytest.mark.anyio
async def test_each_tool_call_logs_one_line_with_the_caller(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    """Without named tokens the caller is the key's fingerprint: the log says who, never the key."""
    with caplog.at_level(logging.INFO, logger="opper_mcp.tools"):
        await client.call_tool("grep_spec", {"pattern": "trace_uuid"})
        missing = await client.call_tool("get_trace", {"trace_id": "0b1e7f0c-5a9e-4d2b-9f1e-000000000000"})
    assert missing.is_error
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("tool=")]
    fingerprint = OpperClient(ClientConfig("http://x"), SecretStr(TEST_KEY)).key_fingerprint
    assert len(lines) == 2, lines
    assert re.fullmatch(rf"tool=grep_spec caller={fingerprint} duration_ms=\d+ outcome=ok", lines[0])
    assert re.fullmatch(rf"tool=get_trace caller={fingerprint} duration_ms=\d+ outcome=error", lines[1])
    assert TEST_KEY not in caplog.text
