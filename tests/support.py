"""Shared test plumbing: settings pointed at the emulator, in-memory clients in both protocol eras."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
from mcp import Client
from mcp.client.extension import advertise
from mcp_types import CallToolResult
from pydantic import SecretStr

from opper_mcp.server import build_server
from opper_mcp.settings import Settings
from tests.fake_opper import TEST_KEY, FakeOpperServer

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


# What a host that renders MCP App views declares (then tools carry their `_meta.ui` view link).
APPS_HOST = advertise("io.modelcontextprotocol/ui", {"mimeTypes": ["text/html;profile=mcp-app"]})


@asynccontextmanager
async def connect(settings: Settings, mode: str = "auto", *, apps: bool = False) -> AsyncIterator[Client]:
    server = build_server(settings)
    async with Client(server, mode=mode, raise_exceptions=True,  # type: ignore[arg-type]
                      extensions=[APPS_HOST] if apps else None) as client:
        yield client


def text_of(result: CallToolResult) -> str:
    return "\n".join(getattr(block, "text", "") for block in result.content)


def data_of(result: CallToolResult) -> Any:
    """The structured result, checked against the text block (both must carry the same data)."""
    assert not result.is_error, text_of(result)
    assert result.structured_content is not None
    assert json.loads(text_of(result)) == result.structured_content
    return result.structured_content


def error_text(result: CallToolResult) -> str:
    assert result.is_error, f"expected an error, got: {text_of(result)}"
    return text_of(result)


async def cancel_mid_stream(
    client: Client, fake: FakeOpperServer, tool: str, args: dict[str, Any], *, chunks: int = 3
) -> float:
    """Start a call, cancel it from the client side once the emulator has streamed `chunks` events.

    Waiting for the stream (not a fixed delay) keeps this honest on a slow machine. Returns when it cancelled.
    """
    finished = False

    async def run() -> None:
        nonlocal finished
        await client.call_tool(tool, args)
        finished = True

    with anyio.CancelScope() as scope:
        async with anyio.create_task_group() as tg:
            tg.start_soon(run)
            with anyio.fail_after(10):
                # the emulator runs in another thread and offers no event to wait on: poll
                while not (fake.state.streams and fake.state.streams[-1].chunks_sent >= chunks):  # noqa: ASYNC110
                    await anyio.sleep(0.005)
            scope.cancel()
    assert not finished, "the call finished before it could be cancelled"
    return time.monotonic()


class ProgressLog:
    def __init__(self) -> None:
        self.events: list[tuple[float, float | None, str | None]] = []

    async def __call__(self, progress: float, total: float | None, message: str | None) -> None:
        self.events.append((progress, total, message))

    @property
    def messages(self) -> list[str]:
        return [m or "" for _, _, m in self.events]
