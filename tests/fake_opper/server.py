"""Run the fake Opper app on real loopback HTTP in a background thread."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from types import TracebackType

import uvicorn

from .app import CONNECTIONS_OPENED, ConnectionTrackingProtocol, FakeOpper, create_app


class _ThreadServer(uvicorn.Server):
    """uvicorn.Server that wakes up at once on `stop()` and shuts down within a bounded time."""

    grace: float = 0.5

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        self.loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        await super().startup(sockets=sockets)

    async def main_loop(self) -> None:
        counter = 0
        while not await self.on_tick(counter):
            counter = (counter + 1) % 864000
            assert self._wake is not None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), 0.1)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.grace
        # uvicorn offers no event for "all connections gone": poll briefly.
        while (self.server_state.connections or self.server_state.tasks) and loop.time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.005)
        for connection in list(self.server_state.connections):
            transport = getattr(connection, "transport", None)
            if transport is not None:
                transport.abort()
        tasks = list(self.server_state.tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=self.grace)
        for server in self.servers:
            await server.wait_closed()

    def stop(self) -> None:
        self.should_exit = True
        loop, wake = self.loop, self._wake
        if loop is not None and wake is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(wake.set)


class FakeOpperServer:
    """Context manager: the fake Opper API on http://127.0.0.1:<ephemeral port>.

    `url` has no `/v3` suffix; `state` is the `FakeOpper` steering the server.
    """

    def __init__(self, state: FakeOpper | None = None, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.state = state or FakeOpper()
        self.host = host
        self.port = port
        self.url = ""
        self._server: _ThreadServer | None = None
        self._thread: threading.Thread | None = None

    def start(self, timeout: float = 5.0) -> FakeOpperServer:
        config = uvicorn.Config(
            create_app(self.state),
            host=self.host,
            port=self.port,
            log_level="warning",
            lifespan="off",
            loop="asyncio",
            http=ConnectionTrackingProtocol,
            ws="none",
            access_log=False,
        )
        server = _ThreadServer(config)
        thread = threading.Thread(target=server.run, name="fake-opper", daemon=True)
        self._server, self._thread = server, thread
        thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("fake Opper server thread died during start-up")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"fake Opper server did not start within {timeout}s")
            time.sleep(0.001)
        sock = server.servers[0].sockets[0]
        self.port = int(sock.getsockname()[1])
        self.url = f"http://{self.host}:{self.port}"
        # The count is kept per address, and an earlier emulator in this process may have had this port:
        # start from zero (no one knows the URL yet, so nothing has connected to this server).
        CONNECTIONS_OPENED[(self.host, self.port)] = 0
        return self

    def stop(self, timeout: float = 5.0) -> None:
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.stop()
        thread.join(timeout)
        if thread.is_alive():  # pragma: no cover - last resort
            server.force_exit = True
            thread.join(1.0)
        self._server = self._thread = None

    @property
    def connections_opened(self) -> int:
        """TCP connections this server has accepted so far: keep-alive shows as a small number."""
        return CONNECTIONS_OPENED[(self.host, self.port)]

    def __enter__(self) -> FakeOpperServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"FakeOpperServer(url={self.url!r})"
