"""Upstream faults through the MCP client: every fault is an actionable `is_error` result, the
same client works again on the next call, and the API key never shows up in results or logs."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from opper_mcp.tools import traces
from tests.fake_opper import SEED_TRACE_IDS, TEST_KEY, FakeOpperServer
from tests.support import connect, data_of, make_settings, text_of

pytestmark = pytest.mark.anyio

MARKUP = re.compile(r"</?[a-zA-Z!][^>]*>")
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
TIMEOUT_S = 0.3
RETRIES = 2


@dataclass(frozen=True)
class Tool:
    name: str
    args: dict[str, Any]
    path: str
    method: str

    @property
    def is_get(self) -> bool:
        return self.method == "GET"


TOOLS = {
    "list_models": Tool("list_models", {"limit": 3}, "/v3/models", "GET"),
    "get_trace": Tool("get_trace", {"trace_id": SEED_TRACE_IDS[0]}, f"/v3/traces/{SEED_TRACE_IDS[0]}", "GET"),
    "web_search": Tool("web_search", {"query": "opper mcp", "max_results": 2}, "/v3/tools/web/search", "POST"),
}


@dataclass(frozen=True)
class Fault:
    arm: Callable[[FakeOpperServer, str], None]
    # tool -> fragments the error text must contain
    expect: Callable[[Tool], list[str]]
    # tool -> upstream requests the failing call makes
    attempts: Callable[[Tool], int]


def once(_: Tool) -> int:
    return 1


def retried_if_get(tool: Tool) -> int:
    return 1 + RETRIES if tool.is_get else 1


FAULTS: dict[str, Fault] = {
    "401": Fault(
        lambda f, p: f.state.fail(p, 401, times=None, message=f"the key {TEST_KEY} was revoked"),
        lambda t: ["HTTP 401", "was revoked", "check OPPER_API_KEY"],
        once,
    ),
    "402": Fault(
        lambda f, p: f.state.fail(p, 402, times=None, shape="anthropic"),
        lambda t: ["HTTP 402", "balance_exhausted", "balance or budget exhausted", "top up"],
        once,
    ),
    "404": Fault(
        lambda f, p: f.state.fail(p, 404, times=None),
        # a seeded trace, not one this server produced: no waiting for it to be written
        lambda t: ["HTTP 404", "not found"]
        + (["no trace with this id", "list_traces"] if t.name == "get_trace" else []),
        once,
    ),
    "429": Fault(
        lambda f, p: f.state.fail(p, 429, times=None, retry_after=0, shape="errors"),
        lambda t: ["HTTP 429", "rate limit exceeded", f"after {RETRIES} retries", "wait a little"],
        lambda t: 1 + RETRIES,
    ),
    "500": Fault(
        lambda f, p: f.state.fail(p, 500, times=None, shape="string"),
        lambda t: ["HTTP 500", "internal server error"],
        once,
    ),
    "502": Fault(
        lambda f, p: f.state.fail(p, 502, times=None, shape="text"),
        lambda t: ["HTTP 502", "502 Bad Gateway"] + ([f"after {RETRIES} retries"] if t.is_get else []),
        retried_if_get,
    ),
    "slow": Fault(
        lambda f, p: f.state.delay(p, 3.0, times=None),
        lambda t: [f"did not answer {t.method} {t.path} within {TIMEOUT_S:g} s", "raise the timeout"],
        retried_if_get,
    ),
    "stalled_body": Fault(  # headers and half the body, then nothing: a server or proxy stuck mid-body
        lambda f, p: f.state.stall_body(p, 3.0, times=None),
        lambda t: [f"did not answer {t.method} {t.path} within {TIMEOUT_S:g} s", "raise the timeout"],
        retried_if_get,
    ),
    "drop": Fault(
        lambda f, p: f.state.drop(p, times=None),
        lambda t: (
            [f"connection to Opper failed during {t.method} {t.path}"]
            + (["retry the call"] if t.is_get else ["may or may not have been processed"])
        ),
        retried_if_get,
    ),
    "non_json": Fault(
        lambda f, p: f.state.non_json(p, times=None),
        lambda t: ["HTTP 200 with an HTML error page from a proxy: 'oops', not JSON", "retry shortly"],
        once,
    ),
    # What proxies and load balancers in front of Opper answer: never markup or control characters.
    "html_500": Fault(
        lambda f, p: f.state.fail(p, 500, times=None, shape="text"),
        lambda t: ["Opper returned HTTP 500 (an HTML error page from a proxy: '500 Internal Server Error') — "
                   "retry shortly"],
        once,
    ),
    "html_502": Fault(
        lambda f, p: f.state.fail(p, 502, times=None, shape="html"),
        lambda t: ["Opper returned HTTP 502 (an HTML error page from a proxy: '502 Bad Gateway | edge') — "
                   + (f"still HTTP 502 after {RETRIES} retries; " if t.is_get else "") + "retry shortly"],
        retried_if_get,
    ),
    "html_503": Fault(
        lambda f, p: f.state.fail(p, 503, times=None, shape="html"),
        lambda t: ["Opper returned HTTP 503 (an HTML error page from a proxy: '503 Service Unavailable | edge')",
                   f"still HTTP 503 after {RETRIES} retries; retry shortly"],
        lambda t: 1 + RETRIES,
    ),
    "plain": Fault(
        lambda f, p: f.state.fail(p, 500, times=None, shape="plain"),
        lambda t: ["Opper returned HTTP 500 (a non-JSON body: 'upstream connect error or disconnect/reset "
                   "before headers. reset reason: overflow') — retry shortly"],
        once,
    ),
    "empty": Fault(
        lambda f, p: f.state.fail(p, 500, times=None, shape="empty"),
        lambda t: ["Opper returned HTTP 500 (an empty body) — retry shortly"],
        once,
    ),
    "huge": Fault(
        lambda f, p: f.state.fail(p, 500, times=None, shape="huge"),
        lambda t: ["Opper returned HTTP 500 (a non-JSON body: 'proxy buffer overflow; proxy buffer", "…') — "
                   "retry shortly"],
        once,
    ),
    "echoed_key": Fault(
        lambda f, p: f.state.fail(
            p, 400, times=None, body=f'{{"error": {{"message": "bad header: Authorization: Bearer {TEST_KEY}"}}}}'
        ),
        lambda t: ["HTTP 400", "bad header: Authorization: Bearer [redacted]"],
        once,
    ),
}


@pytest.fixture(autouse=True)
def fast_not_found(monkeypatch: pytest.MonkeyPatch) -> None:
    """get_trace waits 0.5+1+1.5 s for a trace to be indexed; same number of tries, tiny waits."""
    monkeypatch.setattr(traces, "NOT_FOUND_RETRY_DELAYS_S", (0.01, 0.01, 0.01))


@pytest.fixture
async def fclient(fake_opper: FakeOpperServer, tmp_path: Path, mode: str) -> AsyncIterator[Client]:
    """Both protocol eras, short timeout."""
    settings = make_settings(fake_opper.url, tmp_path / "cache", timeout_s=TIMEOUT_S, max_retries=RETRIES)
    async with connect(settings, mode) as client:
        yield client


@pytest.fixture
async def auto_client(fake_opper: FakeOpperServer, tmp_path: Path) -> AsyncIterator[Client]:
    """The current era only: the full fault matrix once (error conveyance does not depend on the era;
    `test_faults_on_one_client_in_a_row` runs faults through both)."""
    settings = make_settings(fake_opper.url, tmp_path / "cache", timeout_s=TIMEOUT_S, max_retries=RETRIES)
    async with connect(settings, "auto") as client:
        yield client


def assert_no_key(caplog: pytest.LogCaptureFixture, *texts: str) -> None:
    for text in texts:
        assert TEST_KEY not in text
    for record in caplog.records:
        assert TEST_KEY not in record.getMessage(), record
    assert TEST_KEY not in caplog.text  # formatted records, tracebacks included


@pytest.mark.parametrize("fault_name", list(FAULTS))
@pytest.mark.parametrize("tool_name", list(TOOLS))
async def test_fault_is_actionable_and_client_recovers(
    auto_client: Client,
    fake_opper: FakeOpperServer,
    caplog: pytest.LogCaptureFixture,
    tool_name: str,
    fault_name: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    tool, fault = TOOLS[tool_name], FAULTS[fault_name]
    fault.arm(fake_opper, tool.path)

    failed = await auto_client.call_tool(tool.name, tool.args)
    text = text_of(failed)
    assert failed.is_error, text
    assert text.startswith(f"Error executing tool {tool.name}: ")
    for fragment in fault.expect(tool):
        assert fragment in text, (fragment, text)
    assert "internal error" not in text  # an upstream fault is not reported as a bug
    assert not MARKUP.search(text) and not CONTROL.search(text), text
    assert len(text) < 600, text
    assert len(fake_opper.state.requests_to(tool.path, tool.method)) == fault.attempts(tool)

    fake_opper.state.clear_faults()
    recovered = await auto_client.call_tool(tool.name, tool.args)
    data = data_of(recovered)
    if tool.name == "list_models":
        assert len(data["models"]) == 3
    elif tool.name == "get_trace":
        assert data["id"] == SEED_TRACE_IDS[0] and data["span_count"] == 5
    else:
        assert len(data["results"]) == 2

    assert_no_key(caplog, text, repr(failed), text_of(recovered))
    for record in caplog.records:
        if record.name.startswith("opper_mcp"):
            assert not MARKUP.search(record.getMessage()), record.getMessage()


async def test_faults_on_one_client_in_a_row(
    fclient: Client, fake_opper: FakeOpperServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Every fault hits the same client one after another; it keeps working throughout."""
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    # the catalogue is cached per include set once fetched: a new set per round makes it fetch again
    includes = [[], ["maker"], ["benchmarks"], ["route"], ["policy"], ["maker", "route"]]
    for fault_name, include in zip(("401", "echoed_key", "429", "drop", "non_json", "500"), includes, strict=True):
        for tool in TOOLS.values():
            args = {**tool.args, "include": include} if tool.name == "list_models" else tool.args
            FAULTS[fault_name].arm(fake_opper, tool.path)
            result = await fclient.call_tool(tool.name, args)
            assert result.is_error, (fault_name, tool.name)
            texts.append(text_of(result))
            fake_opper.state.clear_faults()
            recovered = await fclient.call_tool(tool.name, args)
            data_of(recovered)  # the very next call works
            texts.append(text_of(recovered))
    assert_no_key(caplog, *texts)
    assert any("[redacted]" in t for t in texts)


async def test_key_rejected_upstream(
    fake_opper: FakeOpperServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A key Opper does not know: 401 with the emulator's own message, on every keyed tool."""
    caplog.set_level(logging.DEBUG)
    fake_opper.state.api_keys = {"op-some-other-key"}
    async with connect(make_settings(fake_opper.url, tmp_path / "cache"), "auto") as client:
        texts = []
        for tool in (TOOLS["get_trace"], TOOLS["web_search"]):
            result = await client.call_tool(tool.name, tool.args)
            assert result.is_error
            text = text_of(result)
            assert "HTTP 401" in text and "invalid bearer token" in text and "OPPER_API_KEY" in text
            texts.append(text)
        # the public catalogue does not need a valid key
        assert data_of(await client.call_tool("list_models", {"limit": 1}))["models"]
    assert_no_key(caplog, *texts)
