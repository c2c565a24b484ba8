"""A test that needs a real program skips without it, except in a strict run (CI), where it fails."""

from __future__ import annotations

import pytest

from tests.transport_support import missing


def test_a_missing_program_skips_locally_and_fails_a_strict_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPPER_MCP_TESTS_STRICT", raising=False)
    with pytest.raises(pytest.skip.Exception, match="redis-server not found"):
        missing("redis-server not found")
    monkeypatch.setenv("OPPER_MCP_TESTS_STRICT", "1")
    with pytest.raises(pytest.fail.Exception, match=r"redis-server not found .*nothing may be skipped"):
        missing("redis-server not found")
