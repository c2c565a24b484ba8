"""Shared test plumbing: settings pointed at the emulator, in-memory clients in both protocol eras."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from mcp import Client
from mcp_types import CallToolResult
from pydantic import SecretStr

from opper_mcp.server import build_server
from opper_mcp.settings import Settings
from tests.fake_opper import TEST_KEY

MODES = ("auto", "legacy")


def make_settings(base_url: str, cache_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "api_key": SecretStr(TEST_KEY),
        "base_url": base_url,
        "cache_dir": cache_dir,
        "max_retries": 2,
        "timeout_s": 10.0,
        "retry_backoff_s": 0.01,  # the retry logic runs for real, the suite stays quick
    }
    values.update(overrides)
    return Settings.model_validate(values)


@asynccontextmanager
async def connect(settings: Settings, mode: str = "auto") -> AsyncIterator[Client]:
    server = build_server(settings)
    async with Client(server, mode=mode, raise_exceptions=True) as client:  # type: ignore[arg-type]
        yield client


def text_of(result: CallToolResult) -> str:
    return "\n".join(getattr(block, "text", "") for block in result.content)


def data_of(result: CallToolResult) -> Any:
    """The structured result, checked against the text block (both must carry the same data)."""
    assert not result.is_error, text_of(result)
    assert result.structured_content is not None
    assert json.loads(text_of(result)) == result.structured_content
    return result.structured_content
