"""The audit trail in process: one line per call with the fields operators need, and nothing planted in a
prompt, a system prompt, an attached file, a JSON schema or the environment ever reaches it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from opper_mcp.ops.audit import AuditLog
from opper_mcp.ops.ledger import CallRecord
from tests.fake_opper import TEST_KEY, FakeOpperServer
from tests.support import connect, data_of, error_text, make_settings
from tests.transport_support import CHAT_MODEL

pytestmark = pytest.mark.anyio

PLANTED = {
    "prompt": "PLANTED-prompt-0b9e41",
    "system": "PLANTED-system-77ac2d",
    "file": "PLANTED-file-content-3f18aa",
    "schema": "PLANTED-schema-title-e5c0",
    "store": "PLANTED-store-password-91d3",
    "http": "PLANTED-http-token-5a5a11",
}


async def test_audit_lines_never_carry_content_or_secrets(
    fake_opper: FakeOpperServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code = tmp_path / "code"
    code.mkdir()
    (code / "notes.py").write_text(f'NOTE = "{PLANTED["file"]}"\n')
    audit = tmp_path / "audit" / "calls.jsonl"
    monkeypatch.chdir(code)
    settings = make_settings(
        fake_opper.url, tmp_path / "cache", audit_log=str(audit), budget_usd_per_day=1.0, allow_paths=(code,),
        http_token=PLANTED["http"],
    )
    assert PLANTED["http"] in settings.secrets()
    async with connect(settings) as client:
        answer = data_of(await client.call_tool("chat", {
            "model": CHAT_MODEL, "prompt": PLANTED["prompt"], "system": PLANTED["system"], "files": ["notes.py"],
            "max_tokens": 100}))
        assert answer["attached"][0]["path"] == "notes.py"
        data_of(await client.call_tool("chat", {
            "model": CHAT_MODEL, "prompt": PLANTED["prompt"], "max_tokens": 100,
            "json_schema": {"title": PLANTED["schema"], "type": "object", "properties": {"a": {"type": "string"}}}}))
        error_text(await client.call_tool("chat", {"model": CHAT_MODEL, "prompt": PLANTED["prompt"],
                                                   "conversation_id": "conv_doesnotexist1"}))
        data_of(await client.call_tool("list_models", {"query": "haiku"}))
    text = audit.read_text()
    lines = [json.loads(line) for line in text.splitlines()]
    assert [(line["tool"], line["outcome"]) for line in lines] == [
        ("chat", "ok"), ("chat", "ok"), ("chat", "error"), ("list_models", "ok")]
    first = lines[0]
    assert first["trace_ids"] == [answer["trace_id"]] and first["cost_usd"] == answer["cost_usd"]
    assert first["est_cost_usd"] == answer["est_cost_usd"] and first["models"] == [CHAT_MODEL]
    assert first["caller"] == first["caller"].strip() and len(first["caller"]) == 16  # the key's fingerprint
    assert first["time"].endswith("Z") and first["replica"].endswith(":8000")
    for secret in (*PLANTED.values(), TEST_KEY):
        assert secret not in text
    assert oct(audit.stat().st_mode & 0o777) == "0o600"


def test_dash_writes_to_stderr(capfd: pytest.CaptureFixture[str]) -> None:
    log = AuditLog("-", replica="r9")
    record = CallRecord(tool="chat", caller="alice", owner="name:alice", models=["m"], costs=[("m", 0.25)],
                        trace_ids=["t1"])
    log.write(record, "ok")
    out, err = capfd.readouterr()
    assert out == ""
    line = json.loads(err)
    assert line["caller"] == "alice" and line["replica"] == "r9" and line["cost_usd"] == 0.25
    assert line["trace_ids"] == ["t1"] and line["outcome"] == "ok"


def test_an_unwritable_file_never_fails_the_call(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    log = AuditLog(str(tmp_path / "nodir" / "x.jsonl"), replica="r")
    (tmp_path / "nodir").write_text("a file where a directory should be")
    log.write(CallRecord(tool="chat", caller="a", owner="a"), "ok")
    log.write(CallRecord(tool="chat", caller="a", owner="a"), "ok")
    assert len([r for r in caplog.records if "audit log" in r.message]) == 1  # said once, not per call
