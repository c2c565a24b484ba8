"""Real stdio: the server as a subprocess (`python -m opper_mcp`), driven by the SDK client and by raw JSON-RPC."""

from __future__ import annotations

import json
import queue
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

from tests.fake_opper import TEST_KEY, FakeOpperServer
from tests.support import MODES, data_of
from tests.transport_support import (
    CHAT_MODEL,
    ROOT,
    SERVER_CMD,
    TOOL_COUNT,
    clean_environ,
    run_server_once,
    server_env,
    stop_process,
)

pytestmark = pytest.mark.anyio

UNKNOWN_TRACE = "00000000-0000-4000-8000-000000000000"
START_LINE = re.compile(r"^opper-mcp \S+: stdio, base (\S+), (.+), (\d+) tools$")


@pytest.fixture
def fake(emulator: FakeOpperServer) -> FakeOpperServer:
    emulator.state.reset()
    return emulator


def params(fake: FakeOpperServer, cache_dir: Path) -> StdioServerParameters:
    return StdioServerParameters(
        command=SERVER_CMD[0], args=list(SERVER_CMD[1:]), env=server_env(fake.url, cache_dir), cwd=ROOT
    )


# ------------------------------------------------------------------------------------ SDK client


@pytest.mark.parametrize("mode", MODES)
async def test_sdk_client_over_stdio(fake: FakeOpperServer, tmp_path: Path, mode: str) -> None:
    fake.state.chunk_delay = 0.05  # spreads the stream out so progress is reported before the result
    async with Client(params(fake, tmp_path / "cache"), mode=mode, read_timeout_seconds=30) as client:
        tools = (await client.list_tools()).tools
        assert len(tools) == TOOL_COUNT, [t.name for t in tools]

        grep = data_of(await client.call_tool("grep_spec", {"pattern": "trace_uuid"}))
        assert grep["total_matches"] >= 1
        assert all("trace_uuid" in m["text"].lower() for m in grep["matches"])

        progress: list[tuple[float, float | None, str | None]] = []

        async def on_progress(value: float, total: float | None, message: str | None) -> None:
            progress.append((value, total, message))

        result = await client.call_tool(
            "chat", {"model": CHAT_MODEL, "prompt": "hello over stdio"}, progress_callback=on_progress
        )
        chat = data_of(result)
        assert chat["model"] == CHAT_MODEL
        assert "hello over stdio" in chat["text"]
        assert chat["conversation_id"].startswith("conv_")
        assert progress, "no progress notification arrived for a streamed chat"
        values = [p[0] for p in progress]
        assert values == sorted(values) and len(set(values)) == len(values), values
        assert any(CHAT_MODEL in (p[2] or "") for p in progress), progress

    sent = fake.state.requests_to("/v3/compat/chat/completions")
    assert len(sent) == 1
    assert sent[0].headers["authorization"] == f"Bearer {TEST_KEY}"


async def test_startup_does_no_network_and_writes_no_files(fake: FakeOpperServer, tmp_path: Path) -> None:
    cache_dir = tmp_path / "not-yet" / "cache"
    errlog = tmp_path / "stderr.txt"
    with errlog.open("w") as err:
        async with Client(stdio_client(params(fake, cache_dir), errlog=err), mode="legacy") as client:
            names = [t.name for t in (await client.list_tools()).tools]
    assert len(names) == TOOL_COUNT
    check_quiet_startup(fake, tmp_path, errlog)


def check_quiet_startup(fake: FakeOpperServer, tmp_path: Path, errlog: Path) -> None:
    assert not (tmp_path / "not-yet").exists(), sorted(str(p) for p in tmp_path.rglob("*"))
    assert fake.state.requests == [], [(r.method, r.path) for r in fake.state.requests]
    text = errlog.read_text()
    lines = text.splitlines()
    assert len(lines) == 1, lines
    match = START_LINE.match(lines[0])
    assert match, lines[0]
    assert match.groups() == (fake.url, "API key set", str(TOOL_COUNT))
    assert TEST_KEY not in text


# ------------------------------------------------------------------------------------ raw wire


def _reader(stream: Any, out: queue.Queue[str | None]) -> None:
    for raw in iter(stream.readline, b""):
        out.put(raw.decode("utf-8", errors="replace"))
    out.put(None)


def _jsonrpc(line: str) -> dict[str, Any]:
    try:
        message = json.loads(line)
    except ValueError:
        pytest.fail(f"stdout line is not JSON-RPC (stdout is the wire): {line!r}")
    assert isinstance(message, dict), line
    assert message.get("jsonrpc") == "2.0", line
    is_response = "id" in message and ("result" in message) != ("error" in message) and "method" not in message
    is_request_or_note = isinstance(message.get("method"), str) and "result" not in message and "error" not in message
    assert is_response or is_request_or_note, f"not a JSON-RPC 2.0 message: {line!r}"
    return message


def test_stdout_carries_only_jsonrpc(fake: FakeOpperServer, tmp_path: Path) -> None:
    requests = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw-test", "version": "0"}}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}},
        {"jsonrpc": "2.0", "id": 3, "method": "tools/call",
         "params": {"name": "get_trace", "arguments": {"trace_id": UNKNOWN_TRACE}}},
        {"jsonrpc": "2.0", "id": 4, "method": "tools/call",
         "params": {"name": "grep_spec", "arguments": {"pattern": "trace_uuid"}}},
    ]
    proc = subprocess.Popen(
        list(SERVER_CMD),
        env=server_env(fake.url, tmp_path / "cache"),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    lines: queue.Queue[str | None] = queue.Queue()
    errors: queue.Queue[str | None] = queue.Queue()
    threads = [threading.Thread(target=_reader, args=(proc.stdout, lines), daemon=True),
               threading.Thread(target=_reader, args=(proc.stderr, errors), daemon=True)]
    for t in threads:
        t.start()
    stdout: list[str] = []
    try:
        assert proc.stdin is not None
        proc.stdin.write(b"".join(json.dumps(r).encode() + b"\n" for r in requests))
        proc.stdin.flush()
        responses: dict[int, dict[str, Any]] = {}
        deadline = time.monotonic() + 20
        while len(responses) < 4 and time.monotonic() < deadline:
            try:
                line = lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            if line is None:
                break
            stdout.append(line)
            message = _jsonrpc(line)
            if "id" in message and "method" not in message:
                responses[message["id"]] = message
        assert sorted(responses) == [1, 2, 3, 4], stdout

        proc.stdin.close()
        closed_at = time.monotonic()
        proc.wait(timeout=8)
        exit_after = time.monotonic() - closed_at
    finally:
        code = stop_process(proc)
        for t in threads:
            t.join(5)
    while (rest := lines.get_nowait() if not lines.empty() else None) is not None:
        stdout.append(rest)
    stderr = "".join(e for e in list(errors.queue) if e is not None)

    assert code == 0, stderr
    assert exit_after < 5, f"took {exit_after:.1f}s to exit after stdin closed"
    assert stdout, "no output at all"
    for line in stdout:
        assert line.endswith("\n"), repr(line)
        _jsonrpc(line)  # every single stdout line is a JSON-RPC 2.0 message

    assert responses[1]["result"]["serverInfo"]["name"] == "opper-mcp"
    assert len(responses[2]["result"]["tools"]) == TOOL_COUNT
    missing = responses[3]["result"]
    assert missing["isError"] is True
    assert UNKNOWN_TRACE in json.dumps(missing["content"]) or "not found" in json.dumps(missing["content"]).lower()
    found = responses[4]["result"]
    assert found.get("isError") in (None, False), found
    assert found["structuredContent"]["total_matches"] >= 1

    start_lines = [ln for ln in stderr.splitlines() if START_LINE.match(ln)]
    assert len(start_lines) == 1, stderr
    assert f"base {fake.url}," in start_lines[0] and "API key set" in start_lines[0]
    assert f"{TOOL_COUNT} tools" in start_lines[0]
    assert TEST_KEY not in stderr
    assert TEST_KEY not in "".join(stdout)


# ------------------------------------------------------------------------------------ CLI surface


def test_help_documents_flags_and_environment() -> None:
    result = run_server_once({**clean_environ(), "COLUMNS": "400"}, "--help")
    assert result.returncode == 0, result.stderr
    text = result.stdout
    flags = ["--transport", "--base-url", "--timeout", "--retries", "--cache-dir", "--tools", "--log-level",
             "--host", "--port", "--allowed-hosts", "--allowed-origins", "--auth", "--max-body-bytes", "--version"]
    assert [f for f in flags if f not in text] == []
    for choice in ("stdio", "http", "none", "token", "passthrough"):
        assert choice in text
    # Every environment variable the server reads must be named in --help: record what settings_from looks up.
    read_vars = env_vars_read()
    expected = {"OPPER_API_KEY", "OPPER_BASE_URL", "OPPER_MCP_TRANSPORT", "OPPER_MCP_TIMEOUT", "OPPER_MCP_RETRIES",
                "OPPER_MCP_CACHE_DIR", "OPPER_MCP_TOOLS", "OPPER_MCP_LOG_LEVEL", "OPPER_MCP_HOST", "OPPER_MCP_PORT",
                "OPPER_MCP_ALLOWED_HOSTS", "OPPER_MCP_ALLOWED_ORIGINS", "OPPER_MCP_AUTH", "OPPER_MCP_HTTP_TOKEN",
                "OPPER_MCP_MAX_BODY_BYTES"}
    assert expected <= read_vars, f"the recorder missed {sorted(expected - read_vars)}"
    undocumented = sorted(v for v in read_vars if not re.search(rf"\b{v}\b", text))
    assert undocumented == [], f"--help does not mention {undocumented}"


class _Recorder(dict[str, str]):
    """An empty environment that remembers every name looked up in it."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        self.seen.add(key)
        return super().get(key, default)

    def __getitem__(self, key: str) -> str:
        self.seen.add(key)
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        self.seen.add(str(key))
        return super().__contains__(key)


def env_vars_read() -> set[str]:
    from opper_mcp.cli import build_parser, settings_from

    recorder = _Recorder()
    settings_from(build_parser().parse_args([]), env=recorder)
    return {name for name in recorder.seen if name.startswith("OPPER")}


@pytest.mark.parametrize(
    ("env", "args", "needle"),
    [
        ({"OPPER_BASE_URL": "ftp://x"}, (), "OPPER_BASE_URL must start with http:// or https://"),
        ({"OPPER_MCP_TOOLS": "chat,nope"}, (), "unknown tool(s) nope"),
        ({}, ("--transport", "http", "--auth", "token"), "OPPER_MCP_HTTP_TOKEN"),
    ],
    ids=["bad-base-url", "unknown-tool", "token-without-token"],
)
def test_bad_config_exits_2_with_message(tmp_path: Path, env: dict[str, str], args: tuple[str, ...],
                                         needle: str) -> None:
    base = {**clean_environ(), "OPPER_API_KEY": TEST_KEY, "OPPER_MCP_CACHE_DIR": str(tmp_path / "c"), **env}
    result = run_server_once(base, *args)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert result.stdout == ""
    assert result.stderr.startswith("opper-mcp: "), result.stderr
    assert needle in result.stderr
    assert "Traceback" not in result.stderr
    assert TEST_KEY not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    help_text = run_server_once(clean_environ(), "--help").stdout
    named = set(re.findall(r"(?<![\w-])--[a-z][a-z-]+", result.stderr))
    assert {f for f in named if f not in help_text} == set(), f"the message names flags that do not exist: {named}"
    assert not (tmp_path / "c").exists()



def test_start_up_leaves_the_collector_on_and_the_start_up_heap_frozen(tmp_path: Path) -> None:
    # In a child process: freezing is process-wide. A collector left off would leak every cycle.
    code = (
        "import gc, sys\n"
        "from opper_mcp.cli import start_up\n"
        "from opper_mcp.settings import Settings\n"
        "state, server = start_up(Settings(cache_dir=sys.argv[1]))\n"
        "print(gc.isenabled(), gc.get_freeze_count() > 10_000, type(server).__name__)\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "True", "MCPServer"]
