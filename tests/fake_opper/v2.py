"""Opper's v2 surface in the emulator: knowledge bases and usage analytics.

Shapes follow Opper's Python SDK (`opperai` 2.x `clients/knowledge.py`, `types.py`) and the
CLI's use of `/v2/analytics/usage` (API-CONTRACT §4.14). Rude on purpose where the real API
is: lists page (at most 100 per page, `meta.total_count`), the list leaves document counts out,
usage rows carry numbers as strings, v2 errors are `{type, message, detail}`.

Tests steer it through `fake.state.v2` (a `V2State`): seeded bases, `no_access_keys` (403),
`list_counts` (the list carries each base's `count`, as a future API might).
"""

from __future__ import annotations

import re
import threading
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

if TYPE_CHECKING:
    from .app import FakeOpper

MAX_PAGE = 100
DEFAULT_PAGE = 20
OPERATIONS = ("=", "!=", ">", "<", "in")
GRANULARITIES = ("minute", "hour", "day", "month", "year")
SEGMENT_CHARS = 1_000
NO_ACCESS_MESSAGE = "This API key does not have access to this resource"


def v2_error(status: int, type_: str, message: str, detail: Any = None) -> JSONResponse:
    return JSONResponse({"type": type_, "message": message, "detail": detail}, status_code=status)


def not_found(what: str, ident: str) -> JSONResponse:
    return v2_error(404, "NotFoundError", f"{what} not found", {"id": ident})


def invalid(message: str, loc: list[str]) -> JSONResponse:
    """FastAPI-style 422, as the v2 API answers bad input."""
    return JSONResponse({"detail": [{"loc": loc, "msg": message, "type": "value_error"}]}, status_code=422)


@dataclass
class Doc:
    id: str
    key: str
    content: str
    metadata: dict[str, Any]

    def segments(self) -> list[str]:
        parts = [p.strip() for p in self.content.split("\n\n") if p.strip()] or [self.content]
        out: list[str] = []
        for part in parts:
            out.extend(part[i : i + SEGMENT_CHARS] for i in range(0, len(part), SEGMENT_CHARS))
        return out


@dataclass
class Base:
    id: str
    name: str
    created_at: str
    embedding_model: str = "azure/text-embedding-3-large"
    docs: dict[str, Doc] = field(default_factory=dict)

    def info(self, with_count: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "created_at": self.created_at,
            "embedding_model": self.embedding_model,
        }
        if with_count:
            out["count"] = len(self.docs)
        return out


SEED_DOCS: dict[str, list[tuple[str, str, dict[str, Any]]]] = {
    "product-docs": [
        ("billing/refunds", "Refunds are issued to the original payment method within 5 business days. "
         "Annual plans can be refunded pro rata during the first 30 days.", {"section": "billing", "lang": "en"}),
        ("billing/invoices", "Invoices are sent on the first day of each month and can be downloaded "
         "from the billing page as PDF.", {"section": "billing", "lang": "en"}),
        ("api/rate-limits", "The API allows 600 requests per minute per key. Exceeding it returns "
         "HTTP 429 with a Retry-After header.", {"section": "api", "lang": "en", "version": 3}),
        ("api/webhooks", "Webhooks are retried with exponential backoff for 24 hours. Verify the "
         "signature header before trusting a payload.", {"section": "api", "lang": "en", "version": 2}),
        ("sv/refunds", "Återbetalningar görs till det ursprungliga betalsättet inom 5 arbetsdagar.",
         {"section": "billing", "lang": "sv"}),
    ],
    "support-faq": [
        ("reset-password", "To reset a password, open the login page and choose 'Forgot password'. "
         "The link in the email is valid for one hour.", {"topic": "account"}),
        ("delete-account", "Accounts are deleted 30 days after the request; data exports stay "
         "available until then.", {"topic": "account"}),
    ],
    "engineering-handbook": [
        ("deploys", "Deploys go out from main after CI passes. Roll back with the previous release "
         "tag; never hot-patch production.\n\n" + "Release checklist: " + "verify dashboards; " * 200,
         {"team": "platform"}),
    ],
}


def _words(text: str) -> set[str]:
    """Lower-case words of 3+ letters, plural 's' dropped: a crude stand-in for embeddings."""
    return {w[:-1] if w.endswith("s") and len(w) > 3 else w
            for w in re.findall(r"[a-z0-9åäö]+", text.lower()) if len(w) > 2}


def _matches(doc: Doc, flt: dict[str, Any]) -> bool:
    have = doc.metadata.get(flt["field"])
    op, want = flt["operation"], flt["value"]
    try:
        if op == "=":
            return bool(have == want)
        if op == "!=":
            return bool(have != want)
        if op == "in":
            return isinstance(want, list) and have in want
        if have is None:
            return False
        return bool(have > want) if op == ">" else bool(have < want)
    except TypeError:
        return False


class V2State:
    """Knowledge bases, usage events and access switches; reset per test with `reset()`."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.bases: dict[str, Base] = {}
            self.no_access_keys: set[str] = set()
            self.list_counts = False
            self.usage_events: list[tuple[datetime, str, str, float]] = []
            created = datetime(2026, 9, 1, 8, 0, tzinfo=UTC)
            for i, (name, docs) in enumerate(SEED_DOCS.items()):
                base = self.add_base(name, created=created + timedelta(days=7 * i))
                for key, content, metadata in docs:
                    self.add_doc(base.id, key, content, metadata)
            self.seed_usage(datetime.now(UTC))

    def add_base(self, name: str, *, created: datetime | None = None) -> Base:
        with self.lock:
            base = Base(
                id=str(uuid.UUID(int=len(self.bases) + 0x5EED0000, version=4)),
                name=name,
                created_at=(created or datetime(2026, 10, 1, tzinfo=UTC)).isoformat().replace("+00:00", "Z"),
            )
            self.bases[base.id] = base
            return base

    def add_doc(self, base_id: str, key: str | None, content: str, metadata: dict[str, Any] | None) -> Doc:
        with self.lock:
            base = self.bases[base_id]
            doc = Doc(id=str(uuid.uuid4()), key=key or f"doc-{len(base.docs) + 1}", content=content,
                      metadata=dict(metadata or {}))
            base.docs[doc.key] = doc
            return doc

    def by_name(self, name: str) -> Base | None:
        with self.lock:
            return next((b for b in self.bases.values() if b.name == name), None)

    def seed_usage(self, now: datetime) -> None:
        """30 days of calls: a fixed pattern per day, so totals are predictable from the test."""
        self.usage_events = []
        start = now.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=29)
        for day in range(30):
            base = start + timedelta(days=day)
            for i in range(6):
                when = base + timedelta(hours=2 + i * 3)
                model = ("openai/gpt-5-mini", "openai/gpt-5-mini", "anthropic/claude-sonnet-4-6",
                         "openai/gpt-5-mini", "gemini/gemini-2.5-flash", "openai/gpt-5-mini")[i]
                name = ("chat", "chat", "review", "chat", "summarise", "chat")[i]
                cost = (0.012, 0.008, 0.03, 0.01, 0.002, 0.015)[i]
                self.usage_events.append((when, model, name, cost))


def _bucket(when: datetime, granularity: str) -> datetime:
    if granularity == "minute":
        return when.replace(second=0, microsecond=0)
    if granularity == "hour":
        return when.replace(minute=0, second=0, microsecond=0)
    if granularity == "day":
        return when.replace(hour=0, minute=0, second=0, microsecond=0)
    if granularity == "month":
        return when.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return when.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)


def _parse_when(value: str) -> datetime:
    text = value.strip()
    if len(text) == 10:
        return datetime.fromisoformat(text).replace(tzinfo=UTC)
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class V2Handlers:
    def __init__(self, state: FakeOpper, v2: V2State) -> None:
        self.state = state
        self.v2 = v2

    def _guard(self, request: Request) -> Response | None:
        """401 as the gateway answers it; 403 for keys listed in `no_access_keys`."""
        from .app import auth_error

        header = request.headers.get("authorization")
        if msg := self.state.check_key(header):
            return auth_error(msg)
        key = (header or "").partition(" ")[2].strip()
        if key in self.v2.no_access_keys:
            return v2_error(403, "ForbiddenError", NO_ACCESS_MESSAGE)
        return None

    def _base(self, request: Request) -> Base | Response:
        ident = request.path_params["kb_id"]
        with self.v2.lock:
            base = self.v2.bases.get(ident)
        return base if base is not None else not_found("Knowledge base", ident)

    async def _base_and_body(self, request: Request) -> tuple[Base, dict[str, Any]] | Response:
        """The authorised request's knowledge base and JSON object body, or the error to answer with."""
        if err := self._guard(request):
            return err
        base = self._base(request)
        if isinstance(base, Response):
            return base
        body = await self._json(request)
        return body if isinstance(body, Response) else (base, body)

    async def _json(self, request: Request) -> dict[str, Any] | Response:
        try:
            body = await request.json()
        except ValueError:
            return invalid("body must be JSON", ["body"])
        return body if isinstance(body, dict) else invalid("body must be an object", ["body"])

    # ------------------------------------------------------------------ knowledge

    async def list_bases(self, request: Request) -> Response:
        if err := self._guard(request):
            return err
        try:
            offset = int(request.query_params.get("offset", 0))
            limit = int(request.query_params.get("limit", DEFAULT_PAGE))
        except ValueError:
            return invalid("offset and limit must be integers", ["query", "limit"])
        if offset < 0 or not 1 <= limit <= MAX_PAGE:
            return invalid(f"limit must be 1..{MAX_PAGE} and offset >= 0", ["query", "limit"])
        with self.v2.lock:
            bases = sorted(self.v2.bases.values(), key=lambda b: (b.created_at, b.name))
            page = [b.info(with_count=self.v2.list_counts) for b in bases[offset : offset + limit]]
            total = len(bases)
        return JSONResponse({"meta": {"total_count": total}, "data": page})

    async def get_base(self, request: Request) -> Response:
        if err := self._guard(request):
            return err
        base = self._base(request)
        return base if isinstance(base, Response) else JSONResponse(base.info(with_count=True))

    async def get_by_name(self, request: Request) -> Response:
        if err := self._guard(request):
            return err
        name = request.path_params["name"]
        base = self.v2.by_name(name)
        if base is None:
            return not_found("Knowledge base", name)
        return JSONResponse(base.info(with_count=True))

    async def query(self, request: Request) -> Response:
        found = await self._base_and_body(request)
        if isinstance(found, Response):
            return found
        base, body = found
        query = body.get("query")
        if not isinstance(query, str) or not query.strip():
            return invalid("query must be a non-empty string", ["body", "query"])
        top_k = body.get("top_k", 10)
        if not isinstance(top_k, int) or not 1 <= top_k <= 100:
            return invalid("top_k must be 1..100", ["body", "top_k"])
        filters = body.get("filters") or []
        for flt in filters:
            if not isinstance(flt, dict) or flt.get("operation") not in OPERATIONS or "field" not in flt:
                return invalid(f"filter must be {{field, operation in {OPERATIONS}, value}}", ["body", "filters"])
        words = _words(query)
        hits: list[dict[str, Any]] = []
        with self.v2.lock:
            for doc in base.docs.values():
                if not all(_matches(doc, f) for f in filters):
                    continue
                for segment in doc.segments():
                    overlap = len(words & _words(doc.key + " " + segment))
                    if overlap:
                        score = round(overlap / max(1, len(words)) * 0.9 + 0.05, 6)
                        hits.append({"id": doc.id, "key": doc.key, "content": segment,
                                     "metadata": doc.metadata, "score": score})
        hits.sort(key=lambda h: (-h["score"], h["key"]))
        return JSONResponse(hits[:top_k])

    async def get_document(self, request: Request) -> Response:
        if err := self._guard(request):
            return err
        base = self._base(request)
        if isinstance(base, Response):
            return base
        key = request.path_params["key"]
        doc = base.docs.get(key)
        if doc is None:
            return not_found("Document", key)
        return JSONResponse({
            "id": doc.id,
            "key": doc.key,
            "segments": [{"id": f"{doc.id}-{i}", "content": s} for i, s in enumerate(doc.segments())],
            "metadata": doc.metadata,
        })

    async def add(self, request: Request) -> Response:
        found = await self._base_and_body(request)
        if isinstance(found, Response):
            return found
        base, body = found
        content = body.get("content")
        if not isinstance(content, str) or not content.strip():
            return invalid("content must be a non-empty string", ["body", "content"])
        metadata = body.get("metadata")
        if metadata is not None and not isinstance(metadata, dict):
            return invalid("metadata must be an object", ["body", "metadata"])
        doc = self.v2.add_doc(base.id, body.get("key"), content, metadata)
        return JSONResponse({"id": doc.id, "key": doc.key, "metadata": doc.metadata})

    # ------------------------------------------------------------------ analytics

    async def usage(self, request: Request) -> Response:
        if err := self._guard(request):
            return err
        qp = request.query_params
        now = datetime.now(UTC)
        try:
            start = _parse_when(qp["from_date"]) if qp.get("from_date") else now.replace(day=1, hour=0, minute=0)
            end = _parse_when(qp["to_date"]) if qp.get("to_date") else now
        except ValueError as exc:
            return invalid(f"invalid date: {exc}", ["query", "from_date"])
        if start >= end:
            return invalid("from_date must be before to_date", ["query", "from_date"])
        granularity = qp.get("granularity", "day")
        if granularity not in GRANULARITIES:
            return invalid(f"granularity must be one of {', '.join(GRANULARITIES)}", ["query", "granularity"])
        groups = [g for value in qp.getlist("group_by") for g in value.split(",") if g]
        for g in groups:
            if g not in ("model", "name", "project.name"):
                return invalid(f"cannot group by {g!r}", ["query", "group_by"])
        acc: dict[tuple[Any, ...], list[float]] = defaultdict(lambda: [0.0, 0, 0])
        with self.v2.lock:
            events = list(self.v2.usage_events)
        for when, model, name, cost in events:
            if not start <= when < end:
                continue
            tags = {"model": model, "name": name, "project.name": "default"}
            row_key = (_bucket(when, granularity), *(tags[g] for g in groups))
            acc[row_key][0] += cost
            acc[row_key][1] += 1
            acc[row_key][2] += 1200
        rows = []
        for row_key in sorted(acc):
            cost, count, tokens = acc[row_key]
            row: dict[str, Any] = {
                "time_bucket": row_key[0].isoformat().replace("+00:00", "Z"),
                "cost": f"{cost:.6f}",  # numbers as strings, as the real endpoint sometimes sends them
                "count": str(int(count)),
                "total_tokens": int(tokens),
            }
            row.update(dict(zip(groups, row_key[1:], strict=True)))
            rows.append(row)
        return JSONResponse(rows)


def v2_routes(state: FakeOpper) -> list[Route]:
    """The v2 routes; the state lives on `state.v2` (created here, reset with `state.v2.reset()`)."""
    v2 = V2State()
    state.v2 = v2  # type: ignore[attr-defined]
    h = V2Handlers(state, v2)
    return [
        Route("/v2/knowledge", h.list_bases, methods=["GET"]),
        Route("/v2/knowledge/by-name/{name}", h.get_by_name, methods=["GET"]),
        Route("/v2/knowledge/{kb_id}", h.get_base, methods=["GET"]),
        Route("/v2/knowledge/{kb_id}/query", h.query, methods=["POST"]),
        Route("/v2/knowledge/{kb_id}/add", h.add, methods=["POST"]),
        Route("/v2/knowledge/{kb_id}/documents/{key:path}", h.get_document, methods=["GET"]),
        Route("/v2/analytics/usage", h.usage, methods=["GET"]),
    ]
