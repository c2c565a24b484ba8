"""Side-by-side figures for opper-mcp against its floors, measured in one run.

Floors: a one-tool `MCPServer` (the SDK's cost) and a direct httpx2 request (the network's).
Everything runs on loopback against the Opper emulator. Usage:

    uv run python -m tests.bench [--quick] [--only http,conn,...] [--baseline REF]

`--baseline REF` also runs the HTTP section against the server as it was at git REF, in the same
alternating rounds: a before/after from one run, machine noise shared.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import httpx2
from mcp import Client, StdioServerParameters

from tests.fake_opper import SEED_TRACE_IDS, TEST_KEY, FakeOpperServer

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
MINIMAL = [sys.executable, str(HERE / "minimal_server.py")]
OPPER = [sys.executable, "-m", "opper_mcp"]
rows: list[tuple[str, str, str, str]] = []


def report(name: str, ours: str, floor: str, verdict: str) -> None:
    rows.append((name, ours, floor, verdict))
    print(f"  {name}: {ours} | {floor} | {verdict}", file=sys.stderr, flush=True)


def env_for(url: str, cache: Path) -> dict[str, str]:
    return {
        **os.environ,
        "OPPER_API_KEY": TEST_KEY,
        "OPPER_BASE_URL": url,
        "OPPER_MCP_CACHE_DIR": str(cache),
        "PYTHONDONTWRITEBYTECODE": "1",
    }


def ms(seconds: float, digits: int = 1) -> str:
    return f"{seconds * 1000:.{digits}f} ms"


# ---- cold start and idle RSS ---------------------------------------------------------------

HANDSHAKE = [
    {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "bench", "version": "0"}}},
    {"jsonrpc": "2.0", "method": "notifications/initialized"},
    {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
]


def list_over_stdio(cmd: list[str], env: dict[str, str], cwd: Path | None = None) -> subprocess.Popen[bytes]:
    """A stdio server spawned, taken through the handshake to a complete tools/list answer."""
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env,
                            cwd=cwd)
    assert proc.stdin and proc.stdout
    proc.stdin.write(b"".join(json.dumps(m).encode() + b"\n" for m in HANDSHAKE))
    proc.stdin.flush()
    while True:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"{cmd} exited early")
        if json.loads(line).get("id") == 2:
            return proc


def spawn_to_tools_list(cmd: list[str], env: dict[str, str], cwd: Path | None = None) -> tuple[float, int]:
    """Seconds from spawn to a complete tools/list answer, and the idle RSS (KiB) right after."""
    start = time.perf_counter()
    proc = list_over_stdio(cmd, env, cwd)
    elapsed = time.perf_counter() - start
    rss = 0
    for row in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
        if row.startswith("VmRSS:"):
            rss = int(row.split()[1])
    assert proc.stdin
    proc.stdin.close()
    proc.wait(10)
    return elapsed, rss


def bench_cold_start(url: str, cache: Path, runs: int, baseline: str | None = None) -> None:
    """Spawn to a complete tools/list over stdio, ours and the one-tool floor interleaved start by start.

    Both run from this virtualenv as `python -m` / a script, with PYTHONDONTWRITEBYTECODE: a checkout's own
    sources, which no installer compiled, are compiled again at every start (the launcher rows start the
    installed wheel, bytecode included). With `baseline`, the server as it was at that git ref is a third.
    """
    env = env_for(url, cache)
    starts: dict[str, tuple[list[str], dict[str, str], Path | None]] = {"ours": (OPPER, env, None),
                                                                          "floor": (MINIMAL, env, None)}
    if baseline:
        tree = checkout(baseline, cache / "baseline")
        starts["base"] = (OPPER, {**env, "PYTHONPATH": str(tree)}, tree)
    for cmd, cmd_env, cwd in starts.values():
        spawn_to_tools_list(cmd, cmd_env, cwd)  # warm the OS page cache for all before timing
    times: dict[str, list[float]] = {label: [] for label in starts}
    rss: dict[str, list[int]] = {label: [] for label in starts}
    for _ in range(runs):  # interleaved, so machine noise hits all alike
        for label, (cmd, cmd_env, cwd) in starts.items():
            t, r = spawn_to_tools_list(cmd, cmd_env, cwd)
            times[label].append(t)
            rss[label].append(r)
    a, b = statistics.median(times["ours"]), statistics.median(times["floor"])
    report(f"cold start to tools/list (stdio, median of {runs})", ms(a), ms(b), f"{a / b:.2f}x (target <= 1.15x)")
    if baseline:
        c = statistics.median(times["base"])
        report(f"cold start to tools/list at {baseline} (stdio, median of {runs})", ms(c), ms(b), f"{c / b:.2f}x")
    ra, rb = statistics.median(rss["ours"]), statistics.median(rss["floor"])
    report("idle RSS after tools/list", f"{ra / 1024:.1f} MiB", f"{rb / 1024:.1f} MiB",
           f"{ra / rb:.2f}x (target <= 1.2x)")


def build_wheel(out: Path) -> Path:
    subprocess.run(["uv", "build", "--wheel", "--out-dir", str(out)], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return next(out.glob("opper_mcp-*.whl"))


def installed_script(wheel: Path, venv: Path) -> Path:
    """The console script as `uv tool install` leaves it: a venv of its own, run by absolute path."""
    subprocess.run(["uv", "venv", "--quiet", str(venv)], check=True)
    subprocess.run(["uv", "pip", "install", "--quiet", "--compile-bytecode", "--python", str(venv / "bin" / "python"),
                    str(wheel)], check=True)
    return venv / "bin" / "opper-mcp"


def time_version(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run([*cmd, "--version"], env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def bench_launchers(url: str, cache: Path, runs: int) -> None:
    """Cold start as a client config launches it: the launcher's own cost is part of every spawn."""
    env = env_for(url, cache)
    env.pop("VIRTUAL_ENV", None)
    wheel = build_wheel(cache / "dist")
    script = installed_script(wheel, cache / "venv")
    launchers = {
        "installed script (uv tool install)": [str(script)],
        "uvx --from <wheel>": ["uvx", "--from", str(wheel), "opper-mcp"],
        "uvx --offline --from <wheel>": ["uvx", "--offline", "--from", str(wheel), "opper-mcp"],
        "uv run --directory <clone>": ["uv", "run", "--directory", str(ROOT), "opper-mcp"],
    }
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # each launcher's environment keeps its bytecode, as for a user
    for cmd in [*launchers.values(), MINIMAL]:
        spawn_to_tools_list(cmd, env)  # caches warm, as on a machine that has run it before
    to_list: dict[str, list[float]] = {name: [] for name in [*launchers, "floor"]}
    version: dict[str, list[float]] = {name: [] for name in launchers}
    for _ in range(runs):  # interleaved, so machine noise hits all alike
        to_list["floor"].append(spawn_to_tools_list(MINIMAL, env)[0])
        for name, cmd in launchers.items():
            to_list[name].append(spawn_to_tools_list(cmd, env)[0])
            version[name].append(time_version(cmd, env))
    floor = statistics.median(to_list["floor"])
    for name in launchers:
        median = statistics.median(to_list[name])
        report(f"cold start to tools/list via {name} (median)", ms(median), ms(floor),
               f"{median / floor:.2f}x; --version {ms(statistics.median(version[name]))}")


# ---- per-call overhead over stdio ----------------------------------------------------------


async def timed(n: int, call: Callable[[], Awaitable[Any]]) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        await call()
        out.append(time.perf_counter() - t)
    return out


async def bench_per_call(url: str, cache: Path, n: int) -> None:
    env = env_for(url, cache)
    auth = {"Authorization": f"Bearer {TEST_KEY}"}
    async with httpx2.AsyncClient(base_url=url, headers=auth) as http:
        await http.get("/v3/traces", params={"limit": 5})
        direct = statistics.median(await timed(n, lambda: http.get("/v3/traces", params={"limit": 5})))
    async with Client(StdioServerParameters(command=MINIMAL[0], args=MINIMAL[1:], env=env)) as c:
        await c.call_tool("echo", {"text": "x"})
        floor = statistics.median(await timed(n, lambda: c.call_tool("echo", {"text": "x"})))
    async with Client(StdioServerParameters(command=OPPER[0], args=OPPER[1:], env=env)) as c:
        await c.call_tool("grep_spec", {"pattern": "trace_uuid"})
        await c.call_tool("list_models", {"limit": 20})
        grep = statistics.median(await timed(n, lambda: c.call_tool("grep_spec", {"pattern": "trace_uuid"})))
        models = statistics.median(await timed(n, lambda: c.call_tool("list_models", {"limit": 20})))
        traces = statistics.median(await timed(n, lambda: c.call_tool("list_traces", {"limit": 5})))
    report("direct httpx2 GET /v3/traces?limit=5 (median)", "-", ms(direct), "network floor")
    report("MCP floor: one-tool echo over stdio (median)", "-", ms(floor), "SDK floor")
    for name, value in (("grep_spec (warm)", grep), ("list_models (warm)", models)):
        report(f"{name} over stdio (median)", ms(value), ms(floor),
               f"+{(value - floor) * 1000:.2f} ms over the SDK floor")
    report("list_traces over stdio, 1 upstream GET each (median)", ms(traces), ms(floor + direct),
           f"+{(traces - floor - direct) * 1000:.2f} ms over SDK floor + direct GET (target < 5 ms)")


# ---- server-side grep ----------------------------------------------------------------------


async def bench_grep_inprocess(url: str, cache: Path, n: int) -> None:
    from opper_mcp.openapi.grep import grep
    from tests.support import connect, make_settings

    async with connect(make_settings(url, cache)) as c:
        await c.call_tool("grep_spec", {"pattern": "trace_uuid"})
        tool = statistics.median(await timed(n, lambda: c.call_tool("grep_spec", {"pattern": "trace_uuid"})))
        snap = await c.call_tool("read_spec", {"target": "ChatRequest"})
        assert not snap.is_error
    from opper_mcp.openapi.index import SpecIndex

    index = SpecIndex.build(httpx2.get(f"{url}/v3/openapi.yaml").text)
    pure = []
    for _ in range(n):
        t = time.perf_counter()
        grep(index, "type: string")
        pure.append(time.perf_counter() - t)
    report("grep_spec warm, in-process tool call (median)", ms(tool), "-", "target < 10 ms")
    report("grep() 'type: string' on the full spec, not remembered (median)", ms(statistics.median(pure)), "-",
           "pure function, 680 matching lines")


# ---- keep-alive ----------------------------------------------------------------------------

MIXED: list[tuple[str, dict[str, Any]]] = [
    ("chat", {"model": "openai/gpt-5-mini", "prompt": "keep the line open"}),
    ("list_traces", {"limit": 2}),
    ("roundtable", {"input": "one word each", "models": ["openai/gpt-5-mini", "anthropic/claude-sonnet-4-6"]}),
    ("web_search", {"query": "keep-alive"}),
    ("list_models", {"limit": 3}),
    ("grep_spec", {"pattern": "trace_uuid"}),
]


async def bench_connections(fake: FakeOpperServer, cache: Path) -> None:
    env = env_for(fake.url, cache)
    async with Client(StdioServerParameters(command=OPPER[0], args=OPPER[1:], env=env)) as c:
        before, streams = fake.connections_opened, len(fake.state.streams)
        for i in range(100):
            name, arguments = MIXED[i % len(MIXED)]
            result = await c.call_tool(name, arguments)
            assert not result.is_error, result
        opened = fake.connections_opened - before
        streamed = len(fake.state.streams) - streams
    report(f"upstream connections for 100 mixed sequential calls ({streamed} streamed)", str(opened), "-",
           "target <= 2")


# ---- what each result costs a Python client --------------------------------------------------

CLIENT_CALLS: dict[str, dict[str, Any]] = {
    "list_models": {"limit": 20},
    "chat": {"model": "openai/gpt-5-mini", "prompt": "hello"},
    "roundtable": {"input": "q", "models": ["openai/gpt-5-mini", "anthropic/claude-sonnet-4-6"]},
    "web_search": {"query": "mcp"},
    "web_fetch": {"url": "https://example.com"},
    "grep_spec": {"pattern": "trace_uuid"},
    "read_spec": {"target": "ChatRequest"},
    "get_trace": {"trace_id": SEED_TRACE_IDS[0]},
    "list_traces": {"limit": 20},
}


async def bench_client_cost(fake: FakeOpperServer, cache: Path, n: int) -> None:
    """The SDK client's CPU per result (its own thread: the emulator runs in another), and the part
    of it spent validating `structuredContent` against the tool's `outputSchema` (jsonschema)."""
    env = env_for(fake.url, cache)
    costs: dict[str, tuple[float, float, int]] = {}
    async with Client(StdioServerParameters(command=OPPER[0], args=OPPER[1:], env=env)) as c:
        for name, arguments in CLIENT_CALLS.items():
            result = await c.call_tool(name, arguments)
            assert not result.is_error, result
            t = time.thread_time()
            for _ in range(n):
                result = await c.call_tool(name, arguments)
            total = (time.thread_time() - t) / n
            t = time.thread_time()
            for _ in range(n * 5):
                await c.session.validate_tool_result(name, result)
            costs[name] = (total, (time.thread_time() - t) / (n * 5), len(getattr(result.content[0], "text", "")))
    async with Client(StdioServerParameters(command=MINIMAL[0], args=MINIMAL[1:], env=env)) as c:
        for name, (total, validation, chars) in costs.items():
            await c.call_tool("echo", {"text": "x", "size": chars})
            t = time.thread_time()
            for _ in range(n):
                await c.call_tool("echo", {"text": "x", "size": chars})
            floor = (time.thread_time() - t) / n
            report(f"client CPU per call (stdio, Python SDK): {name}, {chars:,} chars", ms(total, 2),
                   ms(floor, 2), f"outputSchema validation {ms(validation, 2)} (target < 1 ms)")
    worst = max(costs, key=lambda k: costs[k][1])
    report("largest outputSchema validation per result", f"{worst}: {ms(costs[worst][1], 2)}", "-",
           "target < 1 ms")


# ---- progress and cancellation latency -----------------------------------------------------


async def bench_stream_latency(fake: FakeOpperServer, cache: Path, runs: int) -> None:
    env = env_for(fake.url, cache)
    fake.state.chunk_delay = 0.05
    progress_lat: list[float] = []
    cancel_lat: list[float] = []
    async with Client(StdioServerParameters(command=OPPER[0], args=OPPER[1:], env=env)) as c:
        for _ in range(runs):
            seen: list[float] = []

            async def on_progress(p: float, total: float | None, message: str | None, seen: list[float] = seen) -> None:
                if message and "tokens" in message and not seen:
                    seen.append(time.monotonic())

            before = len(fake.state.streams)
            await c.call_tool("chat", {"model": "openai/gpt-5-mini", "prompt": "one two three four five six"},
                              progress_callback=on_progress)
            record = fake.state.streams[before]
            # Event 0 is the role-only chunk (no text); event 1 carries the first text.
            if seen and len(record.chunk_times) > 1:
                progress_lat.append(seen[0] - record.chunk_times[1])
        long_prompt = " ".join(f"w{i}" for i in range(400))
        for _ in range(runs):
            before = len(fake.state.streams)
            with anyio.move_on_after(0.3):
                await c.call_tool("chat", {"model": "openai/gpt-5-mini", "prompt": long_prompt})
            cancelled_at = time.monotonic()
            record = await anyio.to_thread.run_sync(lambda i=before: fake.state.wait_stream_closed(5.0, index=i))
            if record.disconnected_at:
                cancel_lat.append(max(0.0, record.disconnected_at - cancelled_at))
    fake.state.chunk_delay = 0
    report("first streamed text -> first progress at client (stdio, median)",
           ms(statistics.median(progress_lat)), "-", f"target < 50 ms ({len(progress_lat)} runs)")
    report("cancel -> upstream disconnect (stdio, median)", ms(statistics.median(cancel_lat)), "-",
           f"target < 100 ms ({len(cancel_lat)}/{runs} seen)")


# ---- HTTP throughput -----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_http(cmd: list[str], env: dict[str, str], port: int, cwd: Path | None = None,
               seconds: float = 15) -> subprocess.Popen[bytes]:
    """`cmd` started, once something accepts connections on `port` (within `seconds`)."""
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"{cmd} did not listen on {port}")


def tools_call(name: str, arguments: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """A raw 2026-07-28 tools/call: a load generator this light keeps the client from being the bottleneck."""
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
        "name": name, "arguments": arguments,
        "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                  "io.modelcontextprotocol/clientCapabilities": {}}}}
    headers = {"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call", "Mcp-Name": name,
               "Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    return body, headers


async def load(url: str, tool: str, args: Callable[[int], dict[str, Any]], clients: int,
               seconds: float) -> tuple[float, list[float]]:
    latencies: list[float] = []
    body, headers = tools_call(tool, args(0))
    stop = time.perf_counter() + seconds
    calls = iter(range(1, 10**9))

    async def worker(http: httpx2.AsyncClient) -> None:
        while time.perf_counter() < stop:
            t = time.perf_counter()
            call, _ = tools_call(tool, args(next(calls)))
            response = await http.post(url, json=call, headers=headers)
            assert response.status_code == 200 and '"isError":false' in response.text, response.text[:300]
            latencies.append(time.perf_counter() - t)

    limits = httpx2.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx2.AsyncClient(limits=limits, timeout=30) as http:
        await http.post(url, json=body, headers=headers)
        start = time.perf_counter()
        async with anyio.create_task_group() as tg:
            for _ in range(clients):
                tg.start_soon(worker, http)
    return len(latencies) / (time.perf_counter() - start), latencies


def result_chars(url: str, tool: str, arguments: dict[str, Any]) -> int:
    """Length of one tool result's text, as the model would see it."""
    body, headers = tools_call(tool, arguments)
    response = httpx2.post(url, json=body, headers=headers, timeout=30)
    text = response.text
    payload = json.loads(text[text.index("{"):].splitlines()[0]) if not text.startswith("{") else response.json()
    return len(payload["result"]["content"][0]["text"])


def pct(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(q * len(values)))]


class HttpServer:
    """One server process under load: its calls, latencies and own CPU time (user+sys), summed over rounds."""

    def __init__(self, cmd: list[str], env: dict[str, str], cwd: Path | None = None) -> None:
        import psutil

        self.port = free_port()
        self.proc = start_http([*cmd, str(self.port)], env, self.port, cwd)
        self.ps = psutil.Process(self.proc.pid)
        self.url = f"http://127.0.0.1:{self.port}/mcp"
        self.seconds = 0.0
        self.cpu = 0.0
        self.latencies: list[float] = []

    async def measure(self, work: Awaitable[list[float]]) -> float:
        """Run `work` (a load that returns its calls' latencies), add it to the sums; its CPU seconds."""
        before = self.ps.cpu_times()
        start = time.perf_counter()
        self.latencies += await work
        self.seconds += time.perf_counter() - start
        after = self.ps.cpu_times()
        cpu = after.user + after.system - before.user - before.system
        self.cpu += cpu
        return cpu

    async def round(self, tool: str, args: Callable[[int], dict[str, Any]], seconds: float) -> None:
        async def latencies() -> list[float]:
            return (await load(self.url, tool, args, 16, seconds))[1]

        await self.measure(latencies())

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds

    @property
    def cpu_per_call(self) -> float:
        return self.cpu / max(1, len(self.latencies))

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(15)


def record_result(url: str, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    body, headers = tools_call(tool, arguments)
    response = httpx2.post(url, json=body, headers=headers, timeout=30)
    text = response.text
    payload = response.json() if text.startswith("{") else json.loads(text[text.index("{"):].splitlines()[0])
    result = payload["result"]
    return {"text": result["content"][0]["text"], "structured": result["structuredContent"]}


class Sums:
    def __init__(self) -> None:
        self.seconds = self.cpu = 0.0
        self.latencies: list[float] = []

    def add(self, server: HttpServer) -> None:
        self.seconds += server.seconds
        self.cpu += server.cpu
        self.latencies += server.latencies


def reset(*servers: HttpServer) -> None:
    for server in servers:
        server.seconds = server.cpu = 0.0
        server.latencies = []


def checkout(ref: str, into: Path) -> Path:
    """The `opper_mcp` package as it was at git `ref`; run from that directory, it shadows the installed one."""
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", ref, "opper_mcp"], cwd=ROOT, check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


async def bench_http(url: str, cache: Path, seconds: float, baseline: str | None = None) -> None:
    """Ours and two floors side by side, in alternating one-second rounds so machine noise hits all alike.

    Floors: `echo`, a plain string as long as our result (the floor the target is set against), and `replay`, our exact
    result answered by a bare MCPServer (what the SDK costs for that result, with none of our work).
    """
    env = env_for(url, cache)
    calls = {"grep_spec": {"pattern": "trace_uuid"}, "list_models": {"limit": 20}}
    ours = HttpServer([*OPPER, "--transport", "http", "--port"], env)
    floor: HttpServer | None = None
    base: HttpServer | None = None
    try:
        if baseline:
            tree = checkout(baseline, cache / "baseline")
            base = HttpServer([*OPPER, "--transport", "http", "--port"], {**env, "PYTHONPATH": str(tree)}, tree)
        recorded = {tool: record_result(ours.url, tool, arguments) for tool, arguments in calls.items()}
        replay_file = cache / "replay.json"
        replay_file.write_text(json.dumps(recorded))
        floor = HttpServer([*MINIMAL, "http"], {**env, "MINIMAL_REPLAY": str(replay_file)})
        for tool, arguments in calls.items():
            chars = len(recorded[tool]["text"])
            echo = {"text": "x", "size": chars}
            assert result_chars(floor.url, "echo", echo) == chars
            runs: list[tuple[str, HttpServer, str, dict[str, Any]]] = [
                ("ours", ours, tool, arguments),
                ("echo", floor, "echo", echo),
                ("replay", floor, "replay", {"name": tool}),
            ]
            if base is not None:
                runs.append(("base", base, tool, arguments))
            for _, server, name, args in runs:
                await server.round(name, lambda i, a=args: a, 0.5)  # warm
            sums = {label: Sums() for label, *_ in runs}
            for _ in range(max(1, round(seconds))):
                for label, server, name, args in runs:
                    reset(server)
                    await server.round(name, lambda i, a=args: a, 1.0)
                    sums[label].add(server)
            rate = {label: len(x.latencies) / x.seconds for label, x in sums.items()}
            cpu = {label: x.cpu / max(1, len(x.latencies)) for label, x in sums.items()}
            lat, flat = sums["ours"].latencies, sums["echo"].latencies
            report(f"HTTP, 16 concurrent: {tool} (warm) vs echo of {chars:,} chars: calls/s", f"{rate['ours']:.0f}/s",
                   f"{rate['echo']:.0f}/s", f"{rate['ours'] / rate['echo']:.2f}x (target >= 0.87x)")
            report(f"HTTP: server CPU per call, {tool} (warm) vs echo", ms(cpu["ours"], 2), ms(cpu["echo"], 2),
                   f"{cpu['ours'] / cpu['echo']:.2f}x (target <= 1.15x)")
            report(f"HTTP: server CPU per call, {tool} (warm) vs the same result replayed", ms(cpu["ours"], 2),
                   ms(cpu["replay"], 2), f"{cpu['ours'] / cpu['replay']:.2f}x: ours is "
                   f"{(cpu['ours'] - cpu['replay']) * 1000:.2f} ms/call, the rest is the SDK's "
                   f"(the replay alone is {cpu['replay'] / cpu['echo']:.2f}x echo)")
            if base is not None:
                report(f"HTTP: server CPU per call, {tool} (warm): now vs at {baseline}", ms(cpu["ours"], 2),
                       ms(cpu["base"], 2), f"{cpu['ours'] / cpu['base']:.2f}x; at {baseline}: "
                       f"{cpu['base'] / cpu['echo']:.2f}x echo, {cpu['base'] / cpu['replay']:.2f}x replay, "
                       f"{rate['base']:.0f} calls/s")
            report(f"HTTP, 16 concurrent: {tool} p50 / p99 latency", f"{ms(pct(lat, 0.5))} / {ms(pct(lat, 0.99))}",
                   f"{ms(pct(flat, 0.5))} / {ms(pct(flat, 0.99))}", "-")
        # Every call a pattern never seen before: no remembered result, the regex scans the whole spec.
        for kind, make in (("new word", lambda i: {"pattern": f"uuid{i}"}),
                           ("new alternation", lambda i: {"pattern": f"trace_uuid|never{i}"})):
            reset(ours)
            await ours.round("grep_spec", make, seconds)
            report(f"HTTP, 16 concurrent, a {kind} pattern every call: calls/s", f"{ours.rate:.0f}/s", "-",
                   f"p50 {ms(pct(ours.latencies, 0.5))}, server CPU {ms(ours.cpu_per_call)}/call")
    finally:
        ours.stop()
        for extra in (floor, base):
            if extra is not None:
                extra.stop()


# ---- HTTP, the way agents connect: SDK clients that each hold a session ---------------------


async def agents(url: str, tool: str, arguments: dict[str, Any], clients: int, calls: int) -> list[float]:
    """`clients` simulated agents, each one `mcp.Client(url)` (default mode) held while it makes `calls` calls."""
    latencies: list[float] = []

    async def agent() -> None:
        async with Client(url) as client:
            for _ in range(calls):
                t = time.perf_counter()
                result = await client.call_tool(tool, arguments)
                latencies.append(time.perf_counter() - t)
                assert not result.is_error, result

    async with anyio.create_task_group() as tg:
        for _ in range(clients):
            tg.start_soon(agent)
    return latencies


async def bench_sessions(url: str, cache: Path, rounds: int, baseline: str | None = None, clients: int = 16,
                         calls: int = 50) -> None:
    """Server CPU (user+sys) per call under `clients` session-holding SDK clients, each from connect to close.

    Unlike the raw POSTs of the `http` section this includes what a real client's traffic costs the server:
    discovery, its request headers and `_meta`, its response negotiation. The floor is a one-tool MCPServer whose
    tool returns a string as long as our result. `replay` is that MCPServer answering our exact result under our
    tool's name and output schema, so the clients validate it as they do ours: what the SDK and the clients cost
    for that result with none of opper-mcp's work. They alternate round by round (with `baseline`, the server at
    that git ref too).
    """
    from opper_mcp.listing import recording

    env = env_for(url, cache)
    tool, arguments = "grep_spec", {"pattern": "trace_uuid"}
    ours = HttpServer([*OPPER, "--transport", "http", "--port"], env)
    servers = [ours]
    try:
        recorded = {**record_result(ours.url, tool, arguments), "output_schema": recording()[tool]["outputSchema"]}
        replay_file = cache / "replay.json"
        replay_file.write_text(json.dumps({tool: recorded}))
        floor = HttpServer([*MINIMAL, "http"], {**env, "MINIMAL_REPLAY": str(replay_file)})
        servers.append(floor)
        chars = len(recorded["text"])
        echo = {"text": "x", "size": chars}
        runs: dict[str, tuple[HttpServer, str, dict[str, Any]]] = {
            "ours": (ours, tool, arguments), "floor": (floor, "echo", echo), "replay": (floor, tool, arguments)}
        if baseline:
            tree = checkout(baseline, cache / "baseline")
            base = HttpServer([*OPPER, "--transport", "http", "--port"], {**env, "PYTHONPATH": str(tree)}, tree)
            servers.append(base)
            runs["base"] = (base, tool, arguments)
        for server, name, args in runs.values():
            await agents(server.url, name, args, clients, 5)  # warm, unmeasured: the first call builds the tool
        sums = {label: Sums() for label in runs}  # the floor process serves two contestants: sums per label
        round_cpu: list[dict[str, float]] = []
        for round_ in range(rounds):
            order = list(runs.items()) if round_ % 2 == 0 else list(reversed(runs.items()))  # neither always first
            cpu: dict[str, float] = {}
            for label, (server, name, args) in order:
                reset(server)
                cpu[label] = await server.measure(agents(server.url, name, args, clients, calls))
                sums[label].add(server)
            round_cpu.append(cpu)
        per_call = {label: x.cpu / len(x.latencies) for label, x in sums.items()}
        rate = {label: len(x.latencies) / x.seconds for label, x in sums.items()}

        def spread(label: str, against: str = "floor") -> str:
            values = [cpu[label] / cpu[against] for cpu in round_cpu]
            return f"median of {rounds} rounds {statistics.median(values):.2f}x, {min(values):.2f}-{max(values):.2f}x"

        report(f"HTTP, {clients} SDK clients x {calls} {tool} each, session held: server CPU per call",
               ms(per_call["ours"], 2), ms(per_call["floor"], 2),
               f"{per_call['ours'] / per_call['floor']:.2f}x (target <= 1.15x; {spread('ours')}; echo of {chars:,} "
               "chars)")
        report(f"HTTP, {clients} SDK clients: server CPU per call, {tool} vs the same result replayed by the SDK",
               ms(per_call["ours"], 2), ms(per_call["replay"], 2),
               f"{per_call['ours'] / per_call['replay']:.2f}x ({spread('ours', 'replay')}); the replay alone is "
               f"{per_call['replay'] / per_call['floor']:.2f}x echo ({spread('replay')})")
        if baseline:
            report(f"HTTP, {clients} SDK clients: server CPU per call at {baseline}", ms(per_call["base"], 2),
                   ms(per_call["floor"], 2), f"{per_call['base'] / per_call['floor']:.2f}x ({spread('base')}); "
                   f"{rate['base']:.0f} calls/s")
        report(f"HTTP, {clients} SDK clients: calls/s (the clients share this process)", f"{rate['ours']:.0f}/s",
               f"{rate['floor']:.0f}/s", f"{rate['ours'] / rate['floor']:.2f}x")
        lat, flat = sums["ours"].latencies, sums["floor"].latencies
        report(f"HTTP, {clients} SDK clients: p50 / p99 latency", f"{ms(pct(lat, 0.5))} / {ms(pct(lat, 0.99))}",
               f"{ms(pct(flat, 0.5))} / {ms(pct(flat, 0.99))}", "-")
    finally:
        for server in servers:
            server.stop()


SECTIONS = ("cold", "calls", "client", "grep", "conn", "stream", "http", "sessions")


async def main(quick: bool, only: set[str], baseline: str | None = None) -> None:
    runs = 7 if quick else 15
    with tempfile.TemporaryDirectory() as tmp, FakeOpperServer() as fake:
        cache = Path(tmp)
        print(f"opper-mcp benchmarks ({'quick' if quick else 'full'}), python {sys.version.split()[0]}, "
              f"{os.cpu_count()} cpus", file=sys.stderr)
        if "cold" in only:
            bench_cold_start(fake.url, cache / "cold", runs, baseline)
            bench_launchers(fake.url, cache / "launch", 3 if quick else 7)
        if "calls" in only:
            await bench_per_call(fake.url, cache / "calls", 50 if quick else 200)
        if "client" in only:
            await bench_client_cost(fake, cache / "client", 20 if quick else 60)
        if "grep" in only:
            await bench_grep_inprocess(fake.url, cache / "grep", 50 if quick else 200)
        if "conn" in only:
            await bench_connections(fake, cache / "conn")
        if "stream" in only:
            await bench_stream_latency(fake, cache / "stream", runs)
        if "http" in only:
            await bench_http(fake.url, cache / "http", 3 if quick else 10, baseline)
        if "sessions" in only:
            await bench_sessions(fake.url, cache / "sessions", 3 if quick else 9, baseline)
    width = max(len(r[0]) for r in rows)
    print(f"\n{'measure'.ljust(width)} | opper-mcp | floor | ratio / note")
    print(f"{'-' * width}-|-----------|-------|-------------")
    for name, ours, floor, verdict in rows:
        print(f"{name.ljust(width)} | {ours} | {floor} | {verdict}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer runs, for a smoke check")
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated sections of {SECTIONS}")
    parser.add_argument("--baseline", metavar="REF",
                        help="also run the cold, http and sessions sections against the server at git REF")
    os.chdir(ROOT)
    options = parser.parse_args()
    anyio.run(main, options.quick, set(options.only.split(",")), options.baseline)
