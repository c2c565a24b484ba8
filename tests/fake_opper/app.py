"""Starlette app emulating the Opper v3 REST API, plus its mutable test state.

Behaviour follows /work/shared/opper/API-CONTRACT.md §3, §4 and §6. The app is meant to
run on real loopback HTTP (see `server.FakeOpperServer`); tests steer it through the
`FakeOpper` state object: fault switches, stream faults, recorded requests, traces.

Every request passes through `FakeOpperMiddleware`, which
  1. reads the whole request body and records the request,
  2. starts a watcher on `receive()` that notices a client disconnect at once
     (`_Conn.event` / `_Conn.at`; streams copy the time into `StreamRecord.disconnected_at`),
  3. applies armed faults (delay, then fail / drop / non_json),
  4. hands the request to the Starlette router.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hashlib
import http
import json
import random
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from jsonschema import Draft202012Validator
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from . import review
from .catalogue import CATALOGUE, CatalogueEntry, resolve_chat_model
from .v2 import v2_routes

TEST_KEY = "op-test-key"
DOCS_URL = "https://docs.opper.ai"
SHARED_SPEC_PATH = Path(__file__).resolve().parents[3] / "shared/opper/openapi-v3.yaml"
FIXTURE_SPEC_PATH = Path(__file__).resolve().parent / "spec_fixture.yaml"

NO_KEY_MESSAGE = (
    "No API key was sent. Pass your Opper API key as 'Authorization: Bearer <key>'. "
    "Create one at https://platform.opper.ai."
)
BAD_KEY_MESSAGE = "invalid bearer token. Check that your API key is correct and has not been revoked."
STREAM_ERROR_CHUNK: dict[str, Any] = {
    "error": {"message": "upstream provider error", "type": "api_error", "code": "upstream_error"}
}
WEB_SEARCH_TOOL_COST = 0.005
SEED_TRACE_IDS: tuple[str, str, str] = (
    "5d0c6f3e-1a2b-4c3d-8e4f-5a6b7c8d9e01",
    "5d0c6f3e-1a2b-4c3d-8e4f-5a6b7c8d9e02",
    "5d0c6f3e-1a2b-4c3d-8e4f-5a6b7c8d9e03",
)
ERROR_SHAPES = ("spec", "string", "anthropic", "errors", "detail", "text", "html", "plain", "empty", "huge")
HUGE_BODY_BYTES = 4 * 1024 * 1024  # shape "huge": a runaway proxy body


# =========================================================================== records


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Any
    body: bytes
    time: float
    monotonic: float
    client: tuple[str, int] | None = None  # the caller's address: one per upstream connection


@dataclass
class StreamRecord:
    """Bookkeeping for one streamed (SSE) response. Times are `time.monotonic()`."""

    path: str
    trace_id: str | None
    started_at: float
    first_chunk_at: float | None = None
    chunk_times: list[float] = field(default_factory=list)  # when each `data:` event was written
    chunks_sent: int = 0  # `data:` events written, `[DONE]` included
    finished: bool = False  # the stream ran to its final `[DONE]`
    disconnected_at: float | None = None  # the client went away before the end
    dropped: bool = False  # the server aborted it on purpose (stream_drop_after)
    error_injected: bool = False  # a mid-stream error chunk was sent (stream_error_after)

    @property
    def closed(self) -> bool:
        return self.finished or self.dropped or self.disconnected_at is not None


@dataclass
class _Fault:
    kind: str  # "fail" | "delay" | "drop" | "non_json" | "stall"
    prefix: str
    remaining: int | None  # None = forever
    status: int = 500
    retry_after: float | str | None = None
    body: str | None = None
    shape: str = "spec"
    message: str | None = None
    seconds: float = 0.0


@dataclass
class _StreamFault:
    kind: str  # "error" | "drop"
    n_chunks: int
    prefix: str
    remaining: int | None


RANDOM_FAULT_KINDS: tuple[int | str, ...] = (429, 500, "slow", "drop_stream")
SLOW_FAULT_S = 1.5


@dataclass
class _RandomFault:
    rate: float
    kinds: tuple[int | str, ...]
    rng: random.Random
    prefix: str


@dataclass
class Span:
    id: str
    trace_id: str
    name: str
    start: datetime
    end: datetime
    type: str = "llm"
    parent_id: str | None = None
    status: str = "completed"
    input: Any = None
    output: Any = None
    error: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, Any] = field(default_factory=dict)
    timed: bool = True  # False: the span is sent without start_time, end_time and duration_ms

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "trace_id": self.trace_id}
        if self.parent_id:
            out["parent_id"] = self.parent_id
        out.update(
            name=self.name,
            type=self.type,
            status=self.status,
            start_time=iso(self.start),
            end_time=iso(self.end),
            duration_ms=int((self.end - self.start).total_seconds() * 1000),
            input=copy.deepcopy(self.input),
            output=copy.deepcopy(self.output),
        )
        if not self.timed:
            for key in ("start_time", "end_time", "duration_ms"):
                del out[key]
        if self.error is not None:
            out["error"] = self.error
        out.update(meta=copy.deepcopy(self.meta), metadata=copy.deepcopy(self.metadata), tags=copy.deepcopy(self.tags))
        return out


@dataclass
class Trace:
    id: str
    name: str
    spans: list[Span]
    seq: int
    pending_reads: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)
    created: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def start(self) -> datetime:
        return min((s.start for s in self.spans), default=self.created)

    @property
    def end(self) -> datetime:
        return max((s.end for s in self.spans), default=self.created)

    @property
    def status(self) -> str:
        return "error" if any(s.status == "error" or s.error for s in self.spans) else "completed"

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "status": self.status,
            "start_time": iso(self.start),
            "end_time": iso(self.end),
            "duration_ms": int((self.end - self.start).total_seconds() * 1000),
            "span_count": len(self.spans),
        }

    def full(self) -> dict[str, Any]:
        out = self.summary()
        out["spans"] = [s.to_dict() for s in self.spans]
        out["events"] = copy.deepcopy(self.events)
        return out


def iso(dt: datetime) -> str:
    dt = dt.astimezone(UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def _now() -> datetime:
    return datetime.now(UTC)


def _parse_time(value: Any, default: datetime) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str) and value:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    return default


# =========================================================================== state


class FakeOpper:
    """Mutable state of the fake server, shared by the server thread and the test thread."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._spec_override: str | None = None
        self.reset()

    # ------------------------------------------------------------------ lifecycle

    def reset(self) -> None:
        """Back to defaults: keys, switches, logs, streams, traces (re-seeded), spec text."""
        with self._lock:
            self.api_keys: set[str] = {TEST_KEY}
            self.requests: list[RecordedRequest] = []
            self.streams: list[StreamRecord] = []
            self.models: list[CatalogueEntry] = list(CATALOGUE)
            self.chunk_delay: float = 0.0
            # How a stream's chunked body ends: "separate" sends the terminating chunk in its own write a
            # moment after `data: [DONE]` (what ordinary servers do); "same" sends both in one write.
            self.stream_end: str = "separate"
            self.stream_end_delay: float = 0.02
            self.trace_delay_reads: int = 0
            self.invalid_json_output: bool = False
            self.roundtable_fail_models: set[str] = set()
            self.review_delay_s: float = 1.0  # how long the slow reviewing model (review.SLOW) takes
            self._faults: list[_Fault] = []
            self._stream_faults: list[_StreamFault] = []
            self._random_fault: _RandomFault | None = None
            self.faults_injected: Counter[str] = Counter()
            self.traces: dict[str, Trace] = {}
            self._trace_seq = 0
            self._spec_override = None
            self._seed_traces()

    # ------------------------------------------------------------------ fault switches

    def fail(
        self,
        path_prefix: str,
        status: int,
        *,
        times: int | None = 1,
        retry_after: float | str | None = None,
        body: str | None = None,
        shape: str = "spec",
        message: str | None = None,
    ) -> None:
        """The next `times` requests (None = all) under `path_prefix` answer `status`.

        `shape` picks the error body (API-CONTRACT §4.13): "spec", "string", "anthropic",
        "errors", "detail", or what proxies in front of an API send: "text" (nginx's HTML page),
        "html" (a load balancer's page with doctype, styles and a script), "plain" (text with
        control characters), "empty" (no body at all), "huge" (4 MiB of text, sent in pieces).
        `body` replaces the body verbatim.
        `retry_after` sets the Retry-After header (seconds, or an HTTP-date string).
        """
        if shape not in ERROR_SHAPES:
            raise ValueError(f"unknown error shape {shape!r}; expected one of {ERROR_SHAPES}")
        with self._lock:
            self._faults.append(
                _Fault(
                    "fail",
                    path_prefix,
                    times,
                    status=status,
                    retry_after=retry_after,
                    body=body,
                    shape=shape,
                    message=message,
                )
            )

    def delay(self, path_prefix: str, seconds: float, *, times: int | None = 1) -> None:
        """Wait `seconds` before answering (before any header is sent)."""
        with self._lock:
            self._faults.append(_Fault("delay", path_prefix, times, seconds=seconds))

    def drop(self, path_prefix: str, *, times: int | None = 1) -> None:
        """Close the TCP connection without sending any response."""
        with self._lock:
            self._faults.append(_Fault("drop", path_prefix, times))

    def stall_body(self, path_prefix: str, seconds: float, *, times: int | None = 1) -> None:
        """Send the headers and the first half of the body, then nothing more for `seconds` (a server or
        proxy that stalls mid-body); the rest follows if the client is still there."""
        with self._lock:
            self._faults.append(_Fault("stall", path_prefix, times, seconds=seconds))

    def non_json(self, path_prefix: str, *, times: int | None = 1) -> None:
        """Answer 200 with `<html>oops</html>` (text/html)."""
        with self._lock:
            self._faults.append(_Fault("non_json", path_prefix, times))

    def stream_error_after(self, n_chunks: int, *, times: int | None = 1, path_prefix: str = "/") -> None:
        """The next stream sends `n_chunks` events (chat: not counting the role chunk), then
        the mid-stream error chunk `STREAM_ERROR_CHUNK` (roundtable: plus `"type":"error"`),
        then `[DONE]`."""
        with self._lock:
            self._stream_faults.append(_StreamFault("error", n_chunks, path_prefix, times))

    def stream_drop_after(self, n_chunks: int, *, times: int | None = 1, path_prefix: str = "/") -> None:
        """The next stream sends `n_chunks` events (counted as above), then the server
        aborts the connection without `[DONE]`."""
        with self._lock:
            self._stream_faults.append(_StreamFault("drop", n_chunks, path_prefix, times))

    def fault_rate(
        self,
        rate: float,
        statuses: Iterable[int | str] = RANDOM_FAULT_KINDS,
        *,
        seed: int = 0,
        path_prefix: str = "/v3/",
    ) -> None:
        """From now on, ~`rate` of the requests under `path_prefix` (that no armed fault took) get
        one fault drawn from `statuses` by a `random.Random(seed)`: 429 (Retry-After: 0), 500,
        "slow" (answer after 1.5 s) or "drop_stream" (streaming requests only: abort after 1 event,
        counted as in `stream_drop_after`). Injected faults are counted in `faults_injected`
        (keys "429", "500", "slow", "drop_stream"). `rate` 0 switches the mode off."""
        kinds = tuple(statuses)
        unknown = [k for k in kinds if k not in RANDOM_FAULT_KINDS]
        if unknown or not kinds or not 0 <= rate <= 1:
            raise ValueError(f"fault_rate: rate in [0, 1] and statuses from {RANDOM_FAULT_KINDS}, got {rate}, {kinds}")
        with self._lock:
            self._random_fault = _RandomFault(rate, kinds, random.Random(seed), path_prefix) if rate else None

    def _take_random_fault(self, path: str, streaming: bool) -> str | None:
        with self._lock:
            rf = self._random_fault
            if rf is None or not path.startswith(rf.prefix) or rf.rng.random() >= rf.rate:
                return None
            kinds = [k for k in rf.kinds if k != "drop_stream" or streaming]
            if not kinds:
                return None
            kind = str(rf.rng.choice(kinds))
            self.faults_injected[kind] += 1
            return kind

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()
            self._stream_faults.clear()
            self._random_fault = None

    def _take_faults(self, path: str) -> tuple[_Fault | None, _Fault | None]:
        with self._lock:
            delay = self._consume(lambda f: f.kind == "delay" and path.startswith(f.prefix))
            other = self._consume(lambda f: f.kind != "delay" and path.startswith(f.prefix))
            return delay, other

    def _consume(self, pred: Callable[[_Fault], bool]) -> _Fault | None:
        for f in self._faults:
            if pred(f):
                if f.remaining is not None:
                    f.remaining -= 1
                    if f.remaining <= 0:
                        self._faults.remove(f)
                return f
        return None

    def _take_stream_fault(self, path: str) -> _StreamFault | None:
        with self._lock:
            for f in self._stream_faults:
                if path.startswith(f.prefix):
                    if f.remaining is not None:
                        f.remaining -= 1
                        if f.remaining <= 0:
                            self._stream_faults.remove(f)
                    return f
            return None

    # ------------------------------------------------------------------ request log

    def _record(self, scope: Scope, body: bytes) -> RecordedRequest:
        headers: dict[str, str] = {}
        for k, v in scope.get("headers", []):
            key = k.decode("latin-1").lower()
            val = v.decode("latin-1")
            headers[key] = f"{headers[key]}, {val}" if key in headers else val
        query = dict(Request(scope).query_params)
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = None
        rec = RecordedRequest(
            method=scope["method"],
            path=scope["path"],
            query=query,
            headers=headers,
            json=parsed,
            body=body,
            time=time.time(),
            monotonic=time.monotonic(),
            client=tuple(scope["client"]) if scope.get("client") else None,
        )
        with self._lock:
            self.requests.append(rec)
        return rec

    def requests_to(self, path_prefix: str, method: str | None = None) -> list[RecordedRequest]:
        with self._lock:
            return [
                r
                for r in self.requests
                if r.path.startswith(path_prefix) and (method is None or r.method == method.upper())
            ]

    def request_count(self, path_prefix: str = "/", method: str | None = None) -> int:
        """How many requests arrived (under `path_prefix`, with `method`): what a tool call cost upstream."""
        return len(self.requests_to(path_prefix, method))

    def last_request(self, path_prefix: str = "/") -> RecordedRequest:
        found = self.requests_to(path_prefix)
        if not found:
            raise LookupError(f"no request recorded under {path_prefix!r}")
        return found[-1]

    # ------------------------------------------------------------------ streams

    def _add_stream(self, record: StreamRecord) -> None:
        with self._lock:
            self.streams.append(record)

    def _update_stream(self, record: StreamRecord, **changes: Any) -> None:
        with self._lock:
            for k, v in changes.items():
                setattr(record, k, v)

    def _pick_stream(self, index: int) -> StreamRecord | None:
        with self._lock:
            try:
                rec = self.streams[index]
            except IndexError:
                return None
            return rec if rec.closed else None

    def wait_stream_closed(self, timeout: float = 2.0, *, index: int = -1) -> StreamRecord:
        """Block (polling) until stream `index` exists and is closed (finished, dropped or
        client-disconnected). Raises TimeoutError."""
        deadline = time.monotonic() + timeout
        while True:
            rec = self._pick_stream(index)
            if rec is not None:
                return rec
            if time.monotonic() >= deadline:
                raise TimeoutError(f"stream {index} not closed within {timeout}s: {self.streams!r}")
            time.sleep(0.005)

    async def await_stream_closed(self, timeout: float = 2.0, *, index: int = -1) -> StreamRecord:  # noqa: ASYNC109
        """Async twin of `wait_stream_closed` (does not block the caller's event loop)."""
        deadline = time.monotonic() + timeout
        rec = self._pick_stream(index)
        while rec is None:
            if time.monotonic() >= deadline:
                raise TimeoutError(f"stream {index} not closed within {timeout}s: {self.streams!r}")
            await asyncio.sleep(0.005)
            rec = self._pick_stream(index)
        return rec

    # ------------------------------------------------------------------ traces

    def add_trace(
        self,
        name: str,
        *,
        trace_id: str | None = None,
        spans: Iterable[dict[str, Any]] | None = None,
        start_time: datetime | None = None,
        pending_reads: int = 0,
    ) -> str:
        """Add (or extend) a trace. Span dicts take Span fields (`id`, `name`, `type`,
        `parent_id`, `status`, `input`, `output`, `error`, `meta`, `metadata`, `tags`) plus
        `start_time`/`end_time` (datetime or ISO) or `duration_ms`. Returns the trace id."""
        tid = trace_id or str(uuid.uuid4())
        t0 = start_time or _now()
        built: list[Span] = []
        for raw in spans if spans is not None else [{"name": name}]:
            s = dict(raw)
            start = _parse_time(s.pop("start_time", None), t0)
            duration = s.pop("duration_ms", 250)
            end = _parse_time(s.pop("end_time", None), start + timedelta(milliseconds=duration))
            s.setdefault("id", str(uuid.uuid4()))
            s.setdefault("name", name)
            built.append(Span(trace_id=tid, start=start, end=end, **s))
        self._store_spans(tid, name, built, pending_reads, created=t0)
        return tid

    def _store_spans(
        self, trace_id: str, name: str, spans: list[Span], pending_reads: int = 0, created: datetime | None = None
    ) -> None:
        with self._lock:
            trace = self.traces.get(trace_id)
            if trace is None:
                self._trace_seq += 1
                self.traces[trace_id] = Trace(
                    trace_id, name, spans, self._trace_seq, pending_reads, created=created or _now()
                )
            else:
                trace.spans.extend(spans)

    def _find_span_trace(self, span_id: str) -> str | None:
        with self._lock:
            for trace in self.traces.values():
                if any(s.id == span_id for s in trace.spans):
                    return trace.id
        return None

    def get_trace(self, trace_id: str) -> dict[str, Any] | None:
        """The trace as `GET /v3/traces/{id}` renders it (no indexing delay applied)."""
        with self._lock:
            trace = self.traces.get(trace_id)
            return trace.full() if trace else None

    def _seed_traces(self) -> None:
        base = _now() - timedelta(hours=3)
        t1 = SEED_TRACE_IDS[0]
        root, search = "a1000000-0000-4000-8000-000000000001", "a1000000-0000-4000-8000-000000000003"
        self.add_trace(
            "support-bot/answer",
            trace_id=t1,
            start_time=base,
            spans=[
                {
                    "id": root,
                    "name": "support-bot/answer",
                    "type": "agent",
                    "duration_ms": 4200,
                    "input": {"question": "How do I rotate my API key?"},
                    "output": "Open Settings > API keys, create a new key, then revoke the old one.",
                    "meta": {"cost": 0.00231},
                },
                {
                    "id": "a1000000-0000-4000-8000-000000000002",
                    "parent_id": root,
                    "name": "classify-intent",
                    "start_time": base + timedelta(milliseconds=50),
                    "duration_ms": 600,
                    "input": "How do I rotate my API key?",
                    "output": "account_management",
                    "meta": {
                        "model": "openai/gpt-5-mini-2025-08-07",
                        "cost": 0.00004,
                        "input_tokens": 40,
                        "output_tokens": 3,
                    },
                },
                {
                    "id": search,
                    "parent_id": root,
                    "name": "search-kb",
                    "type": "tool",
                    "start_time": base + timedelta(milliseconds=700),
                    "duration_ms": 900,
                    "input": {"query": "rotate api key"},
                    "output": ["kb/keys.md", "kb/security.md"],
                },
                {
                    "id": "a1000000-0000-4000-8000-000000000004",
                    "parent_id": search,
                    "name": "rerank",
                    "type": "rerank",
                    "start_time": base + timedelta(milliseconds=750),
                    "duration_ms": 300,
                    "meta": {"model": "cohere/rerank-v3.5", "cost": 0.002},
                },
                {
                    "id": "a1000000-0000-4000-8000-000000000005",
                    "parent_id": root,
                    "name": "draft-answer",
                    "start_time": base + timedelta(milliseconds=1700),
                    "duration_ms": 2400,
                    "input": [{"role": "user", "content": "How do I rotate my API key?"}],
                    "output": "Open Settings > API keys, create a new key, then revoke the old one.",
                    "meta": {
                        "model": "anthropic/claude-sonnet-4-6",
                        "cost": 0.00027,
                        "input_tokens": 60,
                        "output_tokens": 6,
                    },
                },
            ],
        )
        b2 = base + timedelta(hours=1)
        parent2 = "b2000000-0000-4000-8000-000000000001"
        self.add_trace(
            "extract-entities",
            trace_id=SEED_TRACE_IDS[1],
            start_time=b2,
            spans=[
                {
                    "id": parent2,
                    "name": "extract-entities",
                    "duration_ms": 1800,
                    "input": [{"role": "user", "content": "Ada Lovelace met Charles Babbage in London."}],
                    "output": None,
                    "meta": {
                        "model": "gemini/gemini-2.5-flash",
                        "cost": 0.00001,
                        "input_tokens": 30,
                        "output_tokens": 0,
                    },
                },
                {
                    "id": "b2000000-0000-4000-8000-000000000002",
                    "parent_id": parent2,
                    "name": "call-model",
                    "start_time": b2 + timedelta(milliseconds=20),
                    "duration_ms": 1700,
                    "status": "error",
                    "error": "upstream provider error: 529 overloaded",
                    "meta": {"model": "gemini/gemini-2.5-flash"},
                },
            ],
        )
        b3 = base + timedelta(hours=2)
        long_in = _long_text("Quarterly report", 10_000)
        long_out = _long_text("Summary", 10_000)
        self.add_trace(
            "summarise-report",
            trace_id=SEED_TRACE_IDS[2],
            start_time=b3,
            spans=[
                {
                    "id": "c3000000-0000-4000-8000-000000000001",
                    "name": "summarise-report",
                    "duration_ms": 9100,
                    "input": long_in,
                    "output": long_out,
                    "meta": {
                        "model": "openai/gpt-5.5-2026-04-23",
                        "cost": 0.0412,
                        "input_tokens": 2500,
                        "output_tokens": 2480,
                    },
                },
            ],
        )

    # ------------------------------------------------------------------ spec

    @property
    def spec_text(self) -> str:
        """The OpenAPI YAML served at /v3/openapi.yaml (assignable; `None` restores)."""
        if self._spec_override is not None:
            return self._spec_override
        return default_spec_text()

    @spec_text.setter
    def spec_text(self, value: str | None) -> None:
        self._spec_override = value

    # ------------------------------------------------------------------ auth

    def check_key(self, authorization: str | None) -> str | None:
        """None if the Authorization header carries a valid key, else the 401 message."""
        if not authorization or not authorization.strip():
            return NO_KEY_MESSAGE
        scheme, _, key = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            return NO_KEY_MESSAGE
        with self._lock:
            ok = key.strip() in self.api_keys
        return None if ok else BAD_KEY_MESSAGE


def _long_text(title: str, size: int) -> str:
    parts = [f"{title}\n"]
    n = 0
    while sum(len(p) for p in parts) < size:
        n += 1
        parts.append(
            f"Paragraph {n}: revenue grew in region {n % 7} while costs in unit {n % 5} stayed flat; "
            f"the team shipped {n % 9 + 1} features and closed {n * 3} tickets.\n"
        )
    return "".join(parts)[:size]


_SPEC_CACHE: dict[str, Any] = {}


def default_spec_text() -> str:
    path = SHARED_SPEC_PATH if SHARED_SPEC_PATH.is_file() else FIXTURE_SPEC_PATH
    key = f"text:{path}"
    if key not in _SPEC_CACHE:
        _SPEC_CACHE[key] = path.read_text(encoding="utf-8")
    return str(_SPEC_CACHE[key])


def _spec_json(text: str) -> bytes:
    key = "json:" + hashlib.sha256(text.encode()).hexdigest()
    if key not in _SPEC_CACHE:
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        _SPEC_CACHE[key] = json.dumps(yaml.load(text, Loader=loader), default=str).encode()
    return bytes(_SPEC_CACHE[key])


# =========================================================================== connections

# (server addr, client addr) -> transport, for every live connection of the tracking protocol.
_TRANSPORTS: dict[tuple[Any, Any], asyncio.Transport] = {}
# server addr -> how many TCP connections it has accepted (keep-alive tests count these).
CONNECTIONS_OPENED: Counter[Any] = Counter()


class ConnectionTrackingProtocol(H11Protocol):
    """uvicorn h11 protocol that lets the app abort its own connection (fault `drop`)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        _TRANSPORTS[(self.server, self.client)] = transport
        CONNECTIONS_OPENED[self.server] += 1

    def connection_lost(self, exc: Exception | None) -> None:
        _TRANSPORTS.pop((self.server, self.client), None)
        super().connection_lost(exc)


class _Conn:
    """Per-request connection state: has the client gone away, and when."""

    def __init__(self, state: FakeOpper) -> None:
        self.state = state
        self.event = asyncio.Event()
        self.at: float | None = None
        self.stream: StreamRecord | None = None

    def mark_disconnected(self) -> None:
        if self.event.is_set():
            return
        self.at = time.monotonic()
        rec = self.stream
        if rec is not None:
            with self.state._lock:
                if not rec.finished and not rec.dropped and rec.disconnected_at is None:
                    rec.disconnected_at = self.at
        self.event.set()


async def _abort_connection(scope: Scope, conn: _Conn) -> None:
    transport = _TRANSPORTS.get((scope.get("server"), scope.get("client")))
    if transport is None:
        raise RuntimeError("fake_opper: cannot drop the connection (server not using ConnectionTrackingProtocol)")
    transport.abort()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(conn.event.wait(), 1.0)


# =========================================================================== errors


def _phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Error"


_DEFAULT_ERRORS: dict[int, tuple[str, str, str]] = {
    # status: (spec code, anthropic type, message)
    400: ("invalid_request", "invalid_request_error", "bad request"),
    401: ("unauthorized", "authentication_error", BAD_KEY_MESSAGE),
    402: ("insufficient_balance", "billing_error", "balance_exhausted: your wallet is empty, add credits to continue"),
    403: (
        "permission_error",
        "permission_error",
        'model "openai/gpt-5-mini" has no allowed members under the current model allowlist',
    ),
    404: ("not_found", "not_found_error", "not found"),
    408: ("timeout", "timeout_error", "request timed out"),
    409: ("conflict", "invalid_request_error", "conflict"),
    429: ("rate_limited", "rate_limit_error", "rate limit exceeded, please slow down"),
    500: ("internal_error", "api_error", "internal server error"),
    502: ("bad_gateway", "api_error", "bad gateway: upstream provider unavailable"),
    503: ("service_unavailable", "overloaded_error", "service temporarily unavailable"),
    504: ("gateway_timeout", "timeout_error", "gateway timeout"),
    529: ("overloaded", "overloaded_error", "overloaded"),
}


def shaped_error(
    status: int, shape: str = "spec", message: str | None = None, headers: dict[str, str] | None = None
) -> Response:
    code, atype, default_msg = _DEFAULT_ERRORS.get(status, ("error", "api_error", _phrase(status).lower()))
    msg = message or default_msg
    if shape in _RUDE_BODIES:
        return _RUDE_BODIES[shape](status, headers)
    if shape == "text":
        phrase = _phrase(status)
        page = (
            f"<html>\r\n<head><title>{status} {phrase}</title></head>\r\n<body>\r\n"
            f"<center><h1>{status} {phrase}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
        )
        return Response(page, status_code=status, media_type="text/html", headers=headers)
    body: dict[str, Any]
    if shape == "spec":
        body = {"error": {"code": code, "message": msg, "details": None}}
    elif shape == "string":
        body = {"error": msg, "docs_url": DOCS_URL}
    elif shape == "anthropic":
        body = {"type": "error", "error": {"type": atype, "message": msg}}
    elif shape == "errors":
        body = {"errors": [{"type": "HTTPException", "message": msg}]}
    elif shape == "detail":
        body = {"detail": msg}
    else:
        raise ValueError(f"unknown error shape {shape!r}")
    return JSONResponse(body, status_code=status, headers=headers)


def _lb_page(status: int, headers: dict[str, str] | None) -> Response:
    phrase = _phrase(status)
    page = (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<title>{status} {phrase} | edge</title>\n<style>body{{font-family:sans-serif}} h1{{color:#c00}}</style>\n"
        "<script>window.__ray = 'f00dfeed'; if (1 < 2) { console.log('<b>hi</b>'); }</script>\n</head>\n"
        f"<body><!-- upstream: opper-api-7 -->\n<div class=\"box\"><h1>Error {status}</h1>\n"
        "<p>The web server reported a <em>bad gateway</em> error &amp; could not complete your request.</p>\n"
        "<p>Ray ID: <code>f00dfeed</code></p></div>\n</body>\n</html>\n"
    )
    return Response(page, status_code=status, media_type="text/html", headers=headers)


def _plain_body(status: int, headers: dict[str, str] | None) -> Response:
    text = "upstream connect error\x1b[31m or disconnect/reset\x00 before headers.\r\n\treset reason: overflow\x07"
    return Response(text, status_code=status, media_type="text/plain", headers=headers)


def _empty_body(status: int, headers: dict[str, str] | None) -> Response:
    return Response(b"", status_code=status, headers=headers)


def _huge_body(status: int, headers: dict[str, str] | None) -> Response:
    line = "proxy buffer overflow; " * 40 + "\n"

    async def pieces() -> AsyncIterator[bytes]:
        piece = (line * (65536 // len(line))).encode()
        for _ in range(HUGE_BODY_BYTES // len(piece)):
            yield piece

    return StreamingResponse(pieces(), status_code=status, media_type="text/plain", headers=headers)


_RUDE_BODIES: dict[str, Callable[[int, dict[str, str] | None], Response]] = {
    "html": _lb_page,
    "plain": _plain_body,
    "empty": _empty_body,
    "huge": _huge_body,
}


def spec_error(status: int, code: str, message: str, details: Any = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message, "details": details}}, status_code=status)


def bad_request(message: str, field_name: str | None = None) -> JSONResponse:
    return spec_error(400, "invalid_request", message, {"field": field_name} if field_name else None)


def auth_error(message: str) -> JSONResponse:
    return JSONResponse({"error": message, "docs_url": DOCS_URL}, status_code=401)


def _fault_response(f: _Fault) -> Response:
    headers: dict[str, str] = {}
    if f.retry_after is not None:
        ra = f.retry_after
        headers["Retry-After"] = str(int(ra)) if isinstance(ra, float | int) and float(ra).is_integer() else str(ra)
    if f.body is not None:
        try:
            json.loads(f.body)
            media = "application/json"
        except ValueError:
            media = "text/plain"
        return Response(f.body, status_code=f.status, media_type=media, headers=headers)
    return shaped_error(f.status, f.shape, f.message, headers)


# =========================================================================== middleware


class FakeOpperMiddleware:
    def __init__(self, app: ASGIApp, state: FakeOpper) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body = bytearray()
        while True:
            msg = await receive()
            if msg["type"] == "http.disconnect":
                return
            body += msg.get("body", b"")
            if not msg.get("more_body", False):
                break
        raw = bytes(body)
        rec = self.state._record(scope, raw)
        conn = _Conn(self.state)
        scope["fake_opper.conn"] = conn
        watcher = asyncio.create_task(self._watch(receive, conn))
        replayed = False

        async def inner_receive() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": raw, "more_body": False}
            await conn.event.wait()
            return {"type": "http.disconnect"}

        try:
            delay, fault = self.state._take_faults(scope["path"])
            if delay is None and fault is None:
                streaming = isinstance(rec.json, dict) and rec.json.get("stream") is True
                kind = self.state._take_random_fault(scope["path"], streaming)
                if kind == "slow":
                    delay = _Fault("delay", "/", 1, seconds=SLOW_FAULT_S)
                elif kind == "drop_stream":
                    scope["fake_opper.drop_stream_after"] = 1
                elif kind is not None:
                    fault = _Fault("fail", "/", 1, status=int(kind), retry_after=0 if kind == "429" else None)
            if delay is not None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(conn.event.wait(), delay.seconds)
                if conn.event.is_set():
                    return
            if fault is None:
                await self.app(scope, inner_receive, send)
            elif fault.kind == "drop":
                await _abort_connection(scope, conn)
            elif fault.kind == "stall":
                await self.app(scope, inner_receive, _stalling(send, conn, fault.seconds))
            elif fault.kind == "non_json":
                await Response("<html>oops</html>", media_type="text/html")(scope, inner_receive, send)
            else:
                await _fault_response(fault)(scope, inner_receive, send)
        finally:
            watcher.cancel()

    @staticmethod
    async def _watch(receive: Receive, conn: _Conn) -> None:
        while True:
            msg = await receive()
            if msg["type"] == "http.disconnect":
                conn.mark_disconnected()
                return


def _stalling(send: Send, conn: _Conn, seconds: float) -> Send:
    """`send` that stops half-way through the first body it sends, for `seconds` or until the client leaves."""
    stalled = False

    async def stalling_send(message: Message) -> None:
        nonlocal stalled
        body = message.get("body", b"")
        if stalled or message["type"] != "http.response.body" or len(body) < 2:
            await send(message)
            return
        stalled = True
        await send({"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True})
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(conn.event.wait(), seconds)
        if not conn.event.is_set():
            await send({**message, "body": body[len(body) // 2 :]})

    return stalling_send


# =========================================================================== SSE


class SSEStream:
    """ASGI response streaming prepared events, with chunk delay, fault injection and
    disconnect bookkeeping (`StreamRecord`)."""

    def __init__(
        self,
        state: FakeOpper,
        events: list[dict[str, Any]],
        *,
        path: str,
        trace_id: str | None,
        headers: dict[str, str],
        uncounted: int = 0,
        error_chunk: dict[str, Any] | None = None,
        on_error: Callable[[], None] | None = None,
    ) -> None:
        self.state = state
        self.events = events
        self.path = path
        self.trace_id = trace_id
        self.uncounted = uncounted
        self.error_chunk = error_chunk or STREAM_ERROR_CHUNK
        self.on_error = on_error
        all_headers = {**headers, "content-type": "text/event-stream", "cache-control": "no-cache"}
        self.raw_headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in all_headers.items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        conn: _Conn | None = scope.get("fake_opper.conn")
        state = self.state
        record = StreamRecord(path=self.path, trace_id=self.trace_id, started_at=time.monotonic())
        state._add_stream(record)
        if conn is not None:
            conn.stream = record
            if conn.event.is_set():
                state._update_stream(record, disconnected_at=conn.at)
                return
        fault = state._take_stream_fault(self.path)
        if fault is None and "fake_opper.drop_stream_after" in scope:  # a random "drop_stream" fault
            fault = _StreamFault("drop", scope["fake_opper.drop_stream_after"], self.path, 1)
        fault_at = None if fault is None else fault.n_chunks + self.uncounted
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})

        async def emit(payload: str, *, last: bool = False) -> None:
            now = time.monotonic()
            with state._lock:
                if record.first_chunk_at is None:
                    record.first_chunk_at = now
                record.chunk_times.append(now)
                record.chunks_sent += 1
                if last:
                    record.finished = True
            data = f"data: {payload}\n\n".encode()
            if not last or state.stream_end == "same":
                await send({"type": "http.response.body", "body": data, "more_body": not last})
                return
            # The end of the chunked body in its own write, after `[DONE]` has reached the client.
            await send({"type": "http.response.body", "body": data, "more_body": True})
            if conn is None:
                await asyncio.sleep(state.stream_end_delay)
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(conn.event.wait(), state.stream_end_delay)
                if conn.event.is_set():
                    return  # the client closed the connection instead of waiting for the end
            await send({"type": "http.response.body", "body": b"", "more_body": False})

        for i in range(len(self.events) + 1):
            if i > 0:
                if state.chunk_delay > 0 and conn is not None:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(conn.event.wait(), state.chunk_delay)
                else:
                    await asyncio.sleep(state.chunk_delay)
            if conn is not None and conn.event.is_set():
                return  # client went away; _Conn.mark_disconnected filled in disconnected_at
            at_fault = fault_at is not None and (i == fault_at or (i == len(self.events) and fault_at > i))
            if fault is not None and at_fault:
                if fault.kind == "drop":
                    state._update_stream(record, dropped=True)
                    if conn is not None:
                        await _abort_connection(scope, conn)
                    return
                state._update_stream(record, error_injected=True)
                if self.on_error is not None:
                    self.on_error()
                await emit(json.dumps(self.error_chunk, separators=(",", ":")))
                await emit("[DONE]", last=True)
                return
            if i == len(self.events):
                await emit("[DONE]", last=True)
                return
            await emit(json.dumps(self.events[i], separators=(",", ":")))


# =========================================================================== helpers


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, int | float):
        return "number"
    if value is None:
        return "null"
    return "string"


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for p in content:
            if isinstance(p, str):
                parts.append(p)
            elif isinstance(p, dict) and isinstance(p.get("text"), str):
                parts.append(p["text"])
        return " ".join(parts)
    if content is None:
        return ""
    return json.dumps(content)


def _media_refusal(entry: CatalogueEntry, messages: list[Any]) -> Response | None:
    """Like the providers behind Opper: an image or PDF part to a model that cannot read it is a 400."""
    needs = {"image_url": ("vision", "image"), "file": ("pdf", "file")}
    for i, m in enumerate(messages):
        for part in m.get("content") if isinstance(m.get("content"), list) else []:
            kind = part.get("type") if isinstance(part, dict) else None
            if kind in needs and needs[kind][0] not in entry.info.get("capabilities", []):
                return bad_request(f"model {entry.id} does not support {needs[kind][1]} input",
                                   f"messages[{i}].content")
    return None


def count_tokens(text: str) -> int:
    return max(1, (len(text) + 3) // 4)


def split_pieces(text: str, minimum: int = 5) -> list[str]:
    """Split into word-ish pieces (trailing whitespace kept); at least `minimum` if possible."""
    pieces = re.findall(r"\s*\S+\s*", text) or ([text] if text else [])
    while len(pieces) < minimum:
        idx = max(range(len(pieces)), key=lambda i: len(pieces[i]), default=-1)
        if idx < 0 or len(pieces[idx]) < 2:
            break
        p = pieces[idx]
        mid = len(p) // 2
        pieces[idx : idx + 1] = [p[:mid], p[mid:]]
    return pieces


def _price(entry: CatalogueEntry, prompt: int, completion: int) -> float:
    pricing = entry.info.get("pricing") or {}
    pin = (pricing.get("input") or [0])[0]
    pout = (pricing.get("output") or [0])[0]
    return round(prompt * pin + completion * pout, 10)


def _fmt_cost(cost: float) -> str:
    text = f"{cost:.10f}".rstrip("0").rstrip(".")
    return text or "0"


def served_model_id(entry: CatalogueEntry) -> str:
    mid = str(entry.info["model_id"])
    if re.search(r"-(\d{8}|\d{4}-\d{2}-\d{2}|\d{4})$", mid):
        return mid
    return f"{mid}-2025-08-07"


def example_for_schema(schema: Any, root: Any = None, depth: int = 0) -> Any:
    """A value that validates against a (reasonable) JSON Schema."""
    if schema is True or schema is None or not isinstance(schema, dict):
        return "example"
    root = schema if root is None else root
    if depth > 16:
        return None
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#"):
        target: Any = root
        for part in ref.lstrip("#").strip("/").split("/"):
            if part:
                target = target.get(part.replace("~1", "/").replace("~0", "~"), {}) if isinstance(target, dict) else {}
        return example_for_schema(target, root, depth + 1)
    if "const" in schema:
        return copy.deepcopy(schema["const"])
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return copy.deepcopy(schema["enum"][0])
    for key in ("oneOf", "anyOf"):
        variants = schema.get(key)
        if isinstance(variants, list) and variants:
            non_null = [v for v in variants if not (isinstance(v, dict) and v.get("type") == "null")]
            return example_for_schema((non_null or variants)[0], root, depth + 1)
    if isinstance(schema.get("allOf"), list):
        merged: dict[str, Any] = {}
        for sub in schema["allOf"]:
            value = example_for_schema(sub, root, depth + 1)
            if isinstance(value, dict):
                merged.update(value)
        rest = {k: v for k, v in schema.items() if k != "allOf"}
        own = example_for_schema(rest, root, depth + 1) if ("properties" in rest or "type" in rest) else {}
        if isinstance(own, dict):
            merged.update(own)
            return merged
        return own
    typ = schema.get("type")
    if isinstance(typ, list):
        typ = next((t for t in typ if t != "null"), "null")
    if typ is None:
        typ = "object" if "properties" in schema else "array" if "items" in schema else "string"
    if typ == "object":
        props = schema.get("properties") or {}
        out = {k: example_for_schema(v, root, depth + 1) for k, v in props.items()}
        for req in schema.get("required") or []:
            out.setdefault(req, "example")
        return out
    if typ == "array":
        n = max(1, int(schema.get("minItems") or 0))
        prefix = schema.get("prefixItems")
        if isinstance(prefix, list) and prefix:
            return [example_for_schema(p, root, depth + 1) for p in prefix]
        return [example_for_schema(schema.get("items", {}), root, depth + 1) for _ in range(n)]
    if typ == "string":
        fmt = schema.get("format")
        value = {
            "date-time": "2026-01-01T00:00:00Z",
            "date": "2026-01-01",
            "time": "12:00:00",
            "email": "user@example.com",
            "uri": "https://example.com/",
            "url": "https://example.com/",
            "uuid": "00000000-0000-4000-8000-000000000000",
        }.get(str(fmt), "example")
        min_len = int(schema.get("minLength") or 0)
        if len(value) < min_len:
            value = value + "x" * (min_len - len(value))
        max_len = schema.get("maxLength")
        if isinstance(max_len, int) and len(value) > max_len:
            value = value[:max_len]
        return value
    if typ in ("number", "integer"):
        num: float = 1.5 if typ == "number" else 1
        lo = schema.get("minimum", schema.get("exclusiveMinimum"))
        hi = schema.get("maximum", schema.get("exclusiveMaximum"))
        if isinstance(lo, int | float) and num <= lo:
            num = lo + (1 if "exclusiveMinimum" in schema and "minimum" not in schema else 0)
        if isinstance(hi, int | float) and num >= hi:
            num = hi - (1 if "exclusiveMaximum" in schema and "maximum" not in schema else 0)
        return int(num) if typ == "integer" else float(num)
    if typ == "boolean":
        return True
    return None


def violating_value(schema: dict[str, Any]) -> Any:
    """A value that does NOT validate against `schema` (falls back to {})."""
    try:
        validator = Draft202012Validator(schema)
        for candidate in ({}, [], "invalid", 0, None, {"__unexpected__": True}):
            if not validator.is_valid(candidate):
                return candidate
    except Exception:
        pass
    return {}


async def _read_json(request: Request) -> tuple[Any, Response | None]:
    raw = await request.body()
    if not raw.strip():
        return None, bad_request("request body must be a JSON object")
    try:
        return json.loads(raw), None
    except ValueError as exc:
        return None, bad_request(f"invalid JSON body: {exc}")


def _int_param(value: str | None, name: str, default: int, lo: int, hi: int | None) -> tuple[int, Response | None]:
    if value is None or value == "":
        return default, None
    try:
        n = int(value)
    except ValueError:
        return default, bad_request(f"{name}: must be an integer", name)
    if n < lo or (hi is not None and n > hi):
        bound = f"between {lo} and {hi}" if hi is not None else f">= {lo}"
        return default, bad_request(f"{name}: must be {bound} (got {n})", name)
    return n, None


def search_results(query: str, n: int) -> list[dict[str, Any]]:
    q = " ".join(query.split())
    slug = re.sub(r"[^a-z0-9]+", "-", q.lower()).strip("-")[:60] or "query"
    out = []
    for i in range(1, n + 1):
        item: dict[str, Any] = {
            "title": f"{q.title()} - Result {i}",
            "url": f"https://example.com/{slug}/{i}",
            "snippet": f"Result {i} about {q}: a deterministic snippet from the fake Opper search index.",
        }
        if i % 2 == 1:
            item["published_at"] = f"2026-{(i % 12) + 1:02d}-15"
        out.append(item)
    return out


def fetch_document(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    last = parts.path.rstrip("/").rsplit("/", 1)[-1] or parts.netloc
    title = last.replace("-", " ").replace("_", " ").strip().title() or parts.netloc
    if url.startswith("https://example.com/long"):
        lines = [f"# {title}\n", f"Source: {url}\n"]
        section = 0
        while sum(len(x) for x in lines) < 20_000:
            section += 1
            lines.append(f"\n## Section {section}: topic {section}\n")
            for para in range(3):
                lines.append(
                    f"\nThis is paragraph {para + 1} of section {section}. It explains detail {section}.{para + 1} "
                    f"of the long fake document served by the Opper emulator, with enough words to make the "
                    f"content realistic for truncation and paging tests in opper-mcp.\n"
                )
            if section % 4 == 0:
                lines.append(f"\n### Notes for section {section}\n\n- item one\n- item two\n- item three\n")
        return f"{title} - Long Document", "".join(lines)
    body = (
        f"# {title}\n\nFetched from {url}.\n\n## Overview\n\n"
        "This short page is generated by the fake Opper server. It contains a heading, an overview and "
        "a list so that markdown handling can be tested.\n\n- first point\n- second point\n\n"
        "## Details\n\nNothing else to see here; the content is deterministic for every URL.\n"
    )
    return title, body


# =========================================================================== handlers


class _Handlers:
    def __init__(self, state: FakeOpper) -> None:
        self.state = state

    def _require_key(self, request: Request) -> Response | None:
        msg = self.state.check_key(request.headers.get("authorization"))
        return auth_error(msg) if msg else None

    async def _authed_object(self, request: Request) -> tuple[dict[str, Any], Response | None]:
        """The JSON object body of an authenticated request, or the error response to send instead."""
        if err := self._require_key(request):
            return {}, err
        body, err = await _read_json(request)
        if err:
            return {}, err
        if not isinstance(body, dict):
            return {}, bad_request("request body must be a JSON object")
        return body, None

    # -------------------------------------------------------------- health / spec

    async def health(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    def _spec_response(self, request: Request, body: bytes, media_type: str) -> Response:
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        inm = request.headers.get("if-none-match")
        if inm:
            tags = {t.strip().removeprefix("W/") for t in inm.split(",")}
            if "*" in tags or etag in tags:
                return Response(status_code=304, headers={"ETag": etag, "Cache-Control": "public, max-age=300"})
        return Response(body, media_type=media_type, headers={"ETag": etag, "Cache-Control": "public, max-age=300"})

    async def openapi_yaml(self, request: Request) -> Response:
        return self._spec_response(request, self.state.spec_text.encode(), "application/yaml")

    async def openapi_json(self, request: Request) -> Response:
        return self._spec_response(request, _spec_json(self.state.spec_text), "application/json")

    # -------------------------------------------------------------- models

    async def list_models(self, request: Request) -> Response:
        qp = request.query_params
        include = {p.strip() for p in (qp.get("include") or "").split(",") if p.strip()}
        unknown = include - {"maker", "benchmarks", "route", "policy"}
        if unknown:
            return bad_request(f"include: unknown value(s) {', '.join(sorted(unknown))}", "include")
        if include & {"route", "policy"}:
            msg = self.state.check_key(request.headers.get("authorization"))
            if msg:
                return auth_error(msg)
        limit, err = _int_param(qp.get("limit"), "limit", 50, 1, 500)
        if err:
            return err
        offset, err = _int_param(qp.get("offset"), "offset", 0, 0, None)
        if err:
            return err
        deprecated_raw = (qp.get("deprecated") or "false").lower()
        if deprecated_raw not in {"true", "false", "1", "0"}:
            return bad_request("deprecated: must be true or false", "deprecated")
        deprecated = deprecated_raw in {"true", "1"}
        sort = qp.get("sort") or "id"
        order = qp.get("order") or "asc"
        if sort not in {"id", "type", "provider"}:
            return bad_request("sort: must be one of id, type, provider", "sort")
        if order not in {"asc", "desc"}:
            return bad_request("order: must be asc or desc", "order")
        typ = (qp.get("type") or "").lower()
        provider = (qp.get("provider") or "").lower()
        q = (qp.get("q") or "").lower()
        caps = [c.strip() for c in (qp.get("capability") or "").split(",") if c.strip()]
        with self.state._lock:
            entries = list(self.state.models)
        rows = [
            e
            for e in entries
            if (deprecated or not e.retired)
            and (not typ or e.type == typ)
            and (not provider or e.provider == provider)
            and (not q or any(q in str(e.info.get(k, "")).lower() for k in ("id", "name", "description")))
            and all(c in e.info.get("capabilities", []) for c in caps)
        ]
        rows.sort(key=lambda e: (str(e.info.get(sort, "")), e.id), reverse=order == "desc")
        page = rows[offset : offset + limit]
        return JSONResponse(
            {"models": [e.render(include) for e in page], "total": len(rows), "offset": offset, "limit": limit}
        )

    # -------------------------------------------------------------- chat

    def _trace_ids(self, request: Request, default_name: str) -> tuple[str, str, str | None]:
        parent = request.headers.get("x-opper-parent-span-id") or None
        trace_id = request.headers.get("x-opper-trace-id") or None
        if trace_id is None and parent:
            trace_id = self.state._find_span_trace(parent)
        return trace_id or str(uuid.uuid4()), request.headers.get("x-opper-name") or default_name, parent

    async def chat(self, request: Request) -> Response:
        started = _now()
        if err := self._require_key(request):
            return err
        body, err = await _read_json(request)
        if err:
            return err
        if not isinstance(body, dict):
            return bad_request(f"json: cannot unmarshal {_json_type(body)} into Go value of type ChatRequest")
        model = body.get("model", "")
        if model is None:
            model = ""
        if not isinstance(model, str):
            return bad_request(
                f"json: cannot unmarshal {_json_type(model)} into Go struct field ChatRequest.model of type string",
                "model",
            )
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return bad_request("messages: field required", "messages")
        for i, m in enumerate(messages):
            if not isinstance(m, dict) or not isinstance(m.get("role"), str):
                return bad_request(f"messages[{i}].role: field required", f"messages[{i}].role")
        entry = resolve_chat_model(model or "openai/gpt-5-mini")
        if entry is None:
            return JSONResponse(
                {"type": "error", "error": {"type": "not_found_error", "message": f"model not found: {model}"}},
                status_code=404,
            )
        tools = body.get("tools")
        if tools is not None and not isinstance(tools, list):
            return bad_request("tools: must be an array", "tools")
        web_search = next((t for t in tools or [] if isinstance(t, dict) and t.get("type") == "opper:web_search"), None)
        if web_search is not None:
            engine = web_search.get("engine", "auto")
            if engine not in {"auto", "native", "opper", "jina", "exa"}:
                return bad_request(f"tools[opper:web_search].engine: unknown engine {engine!r}", "engine")
            if engine == "native" and not entry.native_web_search:
                return bad_request(
                    f'opper:web_search engine "native" is not available for model {entry.id} on '
                    '/v3/compat/chat/completions; use engine "auto" or "opper"',
                    "engine",
                )
        if err := _media_refusal(entry, messages):
            return err
        user_msgs = [m for m in messages if m.get("role") == "user"]
        last_user = _text_of(user_msgs[-1].get("content")) if user_msgs else ""
        echo = f"Echo from {model or entry.id}: {last_user}"
        schema: Any = None
        rf = body.get("response_format")
        if rf is not None:
            if not isinstance(rf, dict) or rf.get("type") not in {"text", "json_object", "json_schema"}:
                return bad_request("response_format.type: must be text, json_object or json_schema", "response_format")
            if rf["type"] == "json_schema":
                js = rf.get("json_schema")
                schema = js.get("schema") if isinstance(js, dict) else None
                if not isinstance(schema, dict):
                    return bad_request("response_format.json_schema.schema: field required", "response_format")
        if schema is None and isinstance(body.get("output_schema"), dict):
            schema = body["output_schema"]
        if schema is not None and review.is_review(schema):
            if entry.id == review.FAILING:
                return JSONResponse({"error": {"type": "server_error", "message": "provider error: overloaded"}},
                                    status_code=500)
            if entry.id == review.SLOW:
                await asyncio.sleep(self.state.review_delay_s)
            content = review.answer(entry.id, review.prompt_of(messages))
        elif schema is not None:
            value = violating_value(schema) if self.state.invalid_json_output else example_for_schema(schema)
            content = json.dumps(value)
        elif isinstance(rf, dict) and rf.get("type") == "json_object":
            content = json.dumps({"echo": echo})
        else:
            content = echo

        prompt_text = " ".join(_text_of(m.get("content")) for m in messages)
        prompt_tokens = count_tokens(prompt_text) + 4 * len(messages)
        completion_tokens = count_tokens(content)
        cost = _price(entry, prompt_tokens, completion_tokens)
        usage: dict[str, Any] = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0},
        }
        opper_cost: dict[str, Any] = {}
        annotations: list[dict[str, Any]] | None = None
        if web_search is not None:
            tool_cost = WEB_SEARCH_TOOL_COST
            cost = round(cost + tool_cost, 10)
            opper_cost["tools"] = tool_cost
            usage["server_tool_use"] = {"web_search_requests": 1}
            annotations = []
            for i, r in enumerate(search_results(last_user or "web search", 2)):
                annotations.append(
                    {
                        "type": "url_citation",
                        "url_citation": {
                            "url": r["url"],
                            "title": r["title"],
                            "start_index": 0 if i == 0 else len(content) // 2,
                            "end_index": len(content) // 2 if i == 0 else len(content),
                        },
                    }
                )
        opper_cost = {"total": cost, **opper_cost}
        usage["opper"] = {"cost": opper_cost}

        trace_id, name, parent = self._trace_ids(request, "chat")
        served = served_model_id(entry)
        span = Span(
            id=str(uuid.uuid4()),
            trace_id=trace_id,
            name=name,
            start=started,
            end=_now(),
            parent_id=parent,
            input=copy.deepcopy(messages),
            output=content,
            meta={
                "model": f"{entry.provider}/{served}",
                "cost": cost,
                "input_tokens": prompt_tokens,
                "output_tokens": completion_tokens,
            },
        )
        self.state._store_spans(trace_id, name, [span], self.state.trace_delay_reads)
        headers = {
            "x-opper-trace-id": trace_id,
            "x-opper-served-model": served,
            "x-opper-served-provider": entry.provider,
        }
        cid = "chatcmpl-" + uuid.uuid4().hex[:24]
        created = int(time.time())
        if body.get("stream") is True:
            base = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model}
            events: list[dict[str, Any]] = [
                {
                    **base,
                    "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}],
                }
            ]
            for piece in split_pieces(content):
                events.append({**base, "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]})
            final_delta: dict[str, Any] = {"annotations": annotations} if annotations else {}
            events.append({**base, "choices": [{"index": 0, "delta": final_delta, "finish_reason": "stop"}]})
            opts = body.get("stream_options")
            if isinstance(opts, dict) and opts.get("include_usage"):
                events.append({**base, "choices": [], "usage": usage, "cost": cost})

            def on_error() -> None:
                with self.state._lock:
                    span.status = "error"
                    span.error = "upstream provider error"

            return SSEStream(
                self.state,
                events,
                path=request.url.path,
                trace_id=trace_id,
                headers=headers,
                uncounted=1,
                on_error=on_error,
            )

        message: dict[str, Any] = {"role": "assistant", "content": content}
        if annotations:
            message["annotations"] = annotations
        payload = {
            "id": cid,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "finish_reason": "stop", "message": message}],
            "usage": usage,
            "cost": cost,
        }
        return JSONResponse(payload, headers={**headers, "X-Opper-Cost": _fmt_cost(cost)})

    # -------------------------------------------------------------- roundtable

    async def roundtable(self, request: Request) -> Response:
        started = _now()
        body, err = await self._authed_object(request)
        if err:
            return err
        prompt = body.get("input")
        if not isinstance(prompt, str) or not prompt.strip():
            return bad_request("input: must not be empty", "input")
        members = body.get("models")
        if not isinstance(members, list) or not 1 <= len(members) <= 10:
            return bad_request("models: must contain between 1 and 10 models", "models")
        for i, m in enumerate(members):
            if not isinstance(m, dict) or not isinstance(m.get("name"), str) or not m["name"].strip():
                return bad_request(f"models[{i}].name: field required", f"models[{i}].name")
        resolution = body.get("resolution") or "summary"
        if resolution not in {"summary", "fast", "multiple_choice"}:
            return bad_request("resolution: must be one of summary, fast, multiple_choice", "resolution")
        choices = body.get("choices")
        if resolution == "multiple_choice" and (
            not isinstance(choices, list) or not choices or not all(isinstance(c, str) for c in choices)
        ):
            return bad_request("choices: required for multiple_choice resolution", "choices")
        output_schema = body.get("output_schema")
        if output_schema is not None and not isinstance(output_schema, dict):
            return bad_request("output_schema: must be an object", "output_schema")
        timeout_ms = body.get("timeout_ms", 120000)
        if not isinstance(timeout_ms, int) or isinstance(timeout_ms, bool) or not 1 <= timeout_ms <= 300000:
            return bad_request("timeout_ms: must be between 1 and 300000", "timeout_ms")
        max_retries = body.get("max_retries", 1)
        if not isinstance(max_retries, int) or isinstance(max_retries, bool) or not 0 <= max_retries <= 3:
            return bad_request("max_retries: must be between 0 and 3", "max_retries")
        summary_model = body.get("summary_model")
        if summary_model is not None and (
            not isinstance(summary_model, str) or resolve_chat_model(summary_model) is None
        ):
            return bad_request(f"summary_model: model not found: {summary_model}", "summary_model")
        with self.state._lock:
            fail_models = set(self.state.roundtable_fail_models)

        results: list[dict[str, Any]] = []
        for i, m in enumerate(members):
            name = m["name"]
            entry = resolve_chat_model(name)
            if name in fail_models:
                results.append(
                    {
                        "index": i,
                        "model": name,
                        "data": "",
                        "duration_ms": timeout_ms,
                        "error": f"timeout after {timeout_ms}ms",
                    }
                )
                continue
            if entry is None:
                results.append(
                    {"index": i, "model": name, "data": "", "duration_ms": 12, "error": f"model not found: {name}"}
                )
                continue
            if resolution == "multiple_choice":
                assert isinstance(choices, list)
                text = choices[1 % len(choices)] if i == 2 else choices[0]
            elif output_schema is not None:
                text = json.dumps(example_for_schema(output_schema))
            else:
                text = f"Echo from {name}: {prompt}"
            in_tok = count_tokens(prompt + (body.get("instructions") or "")) + 8
            out_tok = count_tokens(text)
            results.append(
                {
                    "index": i,
                    "model": name,
                    "data": text,
                    "duration_ms": 800 + 150 * i,
                    "cost": _price(entry, in_tok, out_tok),
                    "usage": {"input_tokens": in_tok, "output_tokens": out_tok},
                }
            )
        ok = [r for r in results if "error" not in r]
        data: str | None
        meta: dict[str, Any] = {"resolution": resolution, "models_used": [r["model"] for r in ok]}
        summary_cost = 0.0
        summary_duration = 0
        summary_span: Span | None = None
        trace_id, trace_name, parent = self._trace_ids(request, "roundtable")
        if not ok or resolution == "fast":
            data = None
        elif resolution == "multiple_choice":
            assert isinstance(choices, list)
            votes = [r["data"] for r in ok]
            data = max(choices, key=lambda c: (votes.count(c), -choices.index(c)))
        else:
            smodel = summary_model or ok[0]["model"]
            sentry = resolve_chat_model(smodel)
            assert sentry is not None
            if output_schema is not None:
                data = json.dumps(example_for_schema(output_schema))
            else:
                data = f"Summary of {len(ok)} answers: " + " | ".join(r["data"] for r in ok)
            s_usage = {
                "input_tokens": sum(r["usage"]["output_tokens"] for r in ok) + 20,
                "output_tokens": count_tokens(data),
            }
            summary_cost = _price(sentry, s_usage["input_tokens"], s_usage["output_tokens"])
            summary_duration = 400
            meta["summary_model"] = smodel
            meta["summary_usage"] = s_usage
            longest = max(r["duration_ms"] for r in results)
            s_start = started + timedelta(milliseconds=longest)
            summary_span = Span(
                id=str(uuid.uuid4()),
                trace_id=trace_id,
                name="roundtable/summary",
                parent_id=parent,
                start=s_start,
                end=s_start + timedelta(milliseconds=summary_duration),
                input=[r["data"] for r in ok],
                output=data,
                meta={"model": smodel, "cost": summary_cost, **s_usage},
            )
        meta["total_cost"] = round(sum(r.get("cost", 0.0) for r in results) + summary_cost, 10)
        meta["total_duration_ms"] = max(r["duration_ms"] for r in results) + summary_duration
        meta["trace_uuid"] = trace_id

        spans = [
            Span(
                id=str(uuid.uuid4()),
                trace_id=trace_id,
                name=f"roundtable/{r['model']}",
                parent_id=parent,
                start=started,
                end=started + timedelta(milliseconds=r["duration_ms"]),
                status="error" if "error" in r else "completed",
                error=r.get("error"),
                input=prompt,
                output=r["data"] or None,
                meta={"model": r["model"], "cost": r.get("cost", 0.0), **(r.get("usage") or {})},
            )
            for r in results
        ]
        if summary_span is not None:
            spans.append(summary_span)
        self.state._store_spans(trace_id, trace_name, spans, self.state.trace_delay_reads)
        rid = "rt_" + uuid.uuid4().hex[:20]

        if body.get("stream") is True:
            return self._roundtable_stream(request, results, ok, data, meta, trace_id)
        if not ok:
            return spec_error(
                500, "all_models_failed", "all roundtable models failed", {"errors": [r["error"] for r in results]}
            )
        return JSONResponse({"id": rid, "data": data, "meta": meta, "model_results": results})

    def _roundtable_stream(
        self,
        request: Request,
        results: list[dict[str, Any]],
        ok: list[dict[str, Any]],
        data: str | None,
        meta: dict[str, Any],
        trace_id: str,
    ) -> Response:
        events: list[dict[str, Any]] = []
        pieces = {r["index"]: split_pieces(r["data"], 2) for r in ok}
        rounds = max((len(p) for p in pieces.values()), default=0)
        for n in range(rounds):
            for r in ok:
                if n < len(pieces[r["index"]]):
                    events.append(
                        {
                            "type": "model_delta",
                            "model_index": r["index"],
                            "model": r["model"],
                            "delta": pieces[r["index"]][n],
                        }
                    )
        for r in results:
            if "error" in r:
                events.append(
                    {"type": "model_error", "model_index": r["index"], "model": r["model"], "error": r["error"]}
                )
            else:
                events.append(
                    {
                        "type": "model_done",
                        "model_index": r["index"],
                        "model": r["model"],
                        "data": r["data"],
                        "cost": r["cost"],
                        "usage": r["usage"],
                    }
                )
        if not ok:
            events.append({"type": "error", "error": "all roundtable models failed"})
        else:
            if meta["resolution"] == "summary" and data is not None:
                for piece in split_pieces(data, 3):
                    events.append({"type": "summary_delta", "delta": piece})
            done: dict[str, Any] = {"type": "done"}
            if data is not None:
                done["data"] = data
            done["meta"] = meta
            events.append(done)
        return SSEStream(
            self.state,
            events,
            path=request.url.path,
            trace_id=trace_id,
            headers={"x-opper-trace-id": trace_id},
            error_chunk={"type": "error", **STREAM_ERROR_CHUNK},
        )

    # -------------------------------------------------------------- web tools

    async def web_search(self, request: Request) -> Response:
        body, err = await self._authed_object(request)
        if err:
            return err
        query = body.get("query")
        if not isinstance(query, str) or not query.strip():
            return bad_request("query: must not be empty", "query")
        n = body.get("max_results", 5)
        if n is None:
            n = 5
        if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 20:
            return bad_request("max_results: must be between 1 and 20", "max_results")
        return JSONResponse({"results": search_results(query, n)})

    async def web_fetch(self, request: Request) -> Response:
        body, err = await self._authed_object(request)
        if err:
            return err
        url = body.get("url")
        if not isinstance(url, str) or not url.strip():
            return bad_request("url: must not be empty", "url")
        parts = urlsplit(url.strip())
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            return bad_request(f"url: must be an absolute http(s) URL (got {url!r})", "url")
        host = parts.hostname or ""
        if host.endswith(".invalid"):
            return spec_error(500, "fetch_failed", f"fetch failed: dial tcp: lookup {host}: no such host", {"url": url})
        title, content = fetch_document(url.strip())
        return JSONResponse({"url": url.strip(), "title": title, "content": content})

    async def beta_redirect(self, request: Request) -> Response:
        target = request.url.path.replace("/v3/beta/tools/", "/v3/tools/", 1)
        if request.url.query:
            target += "?" + request.url.query
        return Response(b"", status_code=307, headers={"Location": target})

    # -------------------------------------------------------------- traces

    async def list_traces(self, request: Request) -> Response:
        if err := self._require_key(request):
            return err
        qp = request.query_params
        limit, err = _int_param(qp.get("limit"), "limit", 100, 1, 100)
        if err:
            return err
        offset, err = _int_param(qp.get("offset"), "offset", 0, 0, None)
        if err:
            return err
        name = (qp.get("name") or "").lower()
        with self.state._lock:
            traces = [t for t in self.state.traces.values() if name in t.name.lower()]
            traces.sort(key=lambda t: (t.start, t.seq), reverse=True)
            page = [t.summary() for t in traces[offset : offset + limit]]
            total = len(traces)
        return JSONResponse(
            {"data": page, "meta": {"total_count": total, "total": total, "limit": limit, "offset": offset}}
        )

    async def get_trace(self, request: Request) -> Response:
        if err := self._require_key(request):
            return err
        trace_id = request.path_params["trace_id"]
        with self.state._lock:
            trace = self.state.traces.get(trace_id)
            if trace is not None and trace.pending_reads > 0:
                trace.pending_reads -= 1
                trace = None
            data = trace.full() if trace is not None else None
        if data is None:
            return spec_error(404, "not_found", "trace not found", {"id": trace_id})
        return JSONResponse({"data": data})


# =========================================================================== app


async def _http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else _phrase(exc.status_code)
    return JSONResponse(
        {"errors": [{"type": "HTTPException", "message": detail}]}, status_code=exc.status_code, headers=exc.headers
    )


def create_app(state: FakeOpper | None = None) -> FakeOpperMiddleware:
    """Build the ASGI app; the returned middleware's `.state` is the `FakeOpper`."""
    state = state or FakeOpper()
    h = _Handlers(state)
    routes = [
        Route("/health", h.health, methods=["GET"]),
        Route("/v3/openapi.yaml", h.openapi_yaml, methods=["GET"]),
        Route("/v3/openapi.json", h.openapi_json, methods=["GET"]),
        Route("/v3/models", h.list_models, methods=["GET"]),
        Route("/v3/compat/chat/completions", h.chat, methods=["POST"]),
        Route("/v3/roundtable", h.roundtable, methods=["POST"]),
        Route("/v3/tools/web/search", h.web_search, methods=["POST"]),
        Route("/v3/tools/web/fetch", h.web_fetch, methods=["POST"]),
        Route("/v3/beta/tools/web/search", h.beta_redirect, methods=["POST"]),
        Route("/v3/beta/tools/web/fetch", h.beta_redirect, methods=["POST"]),
        Route("/v3/traces", h.list_traces, methods=["GET"]),
        Route("/v3/traces/{trace_id}", h.get_trace, methods=["GET"]),
        *v2_routes(state),
    ]
    inner = Starlette(routes=routes, exception_handlers={HTTPException: _http_exception})
    inner.state.fake = state
    return FakeOpperMiddleware(inner, state)
