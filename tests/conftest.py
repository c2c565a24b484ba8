from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from mcp import Client

from opper_mcp.settings import Settings
from tests.fake_opper import FakeOpperServer
from tests.support import MODES, connect, make_settings

pytest_plugins = ["tests.services"]  # real Redis/PostgreSQL fixtures


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def emulator() -> Iterator[FakeOpperServer]:
    """One emulator for a whole module, for tests that start servers as subprocesses."""
    with FakeOpperServer() as server:
        yield server


@pytest.fixture
def fake_opper() -> Iterator[FakeOpperServer]:
    """A fresh fake Opper server on an ephemeral loopback port (function-scoped)."""
    with FakeOpperServer() as server:
        yield server


@pytest.fixture
def settings(fake_opper: FakeOpperServer, tmp_path: Path) -> Settings:
    """Settings pointed at the emulator, with the test key and a private cache dir."""
    return make_settings(fake_opper.url, tmp_path / "cache")


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    """Both protocol eras: 2026-07-28 ("auto") and the 2025-11-25 handshake ("legacy")."""
    return str(request.param)


@pytest.fixture
async def client(settings: Settings, mode: str) -> AsyncIterator[Client]:
    """An in-memory MCP client connected to a fresh server, once per protocol era."""
    async with connect(settings, mode) as c:
        yield c
