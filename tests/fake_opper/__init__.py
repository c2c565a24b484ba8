"""Fake Opper API server for tests: real loopback HTTP, deterministic data, fault switches.

with FakeOpperServer() as server:
    server.url            # "http://127.0.0.1:<port>" (no /v3)
    server.state.fail("/v3/compat", 429, retry_after=1)
"""

from .app import (
    SEED_TRACE_IDS,
    STREAM_ERROR_CHUNK,
    TEST_KEY,
    FakeOpper,
    RecordedRequest,
    StreamRecord,
    create_app,
)
from .server import FakeOpperServer

__all__ = [
    "SEED_TRACE_IDS",
    "STREAM_ERROR_CHUNK",
    "TEST_KEY",
    "FakeOpper",
    "FakeOpperServer",
    "RecordedRequest",
    "StreamRecord",
    "create_app",
]
