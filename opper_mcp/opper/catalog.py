"""The model catalogue: every page of `GET /v3/models`, cached in memory with a TTL.

Filtering happens locally on the cached list, so paging through results, close-match
suggestions for unknown model ids and repeated calls cost no extra requests.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import TypeVar, cast

import anyio
from cachetools import LRUCache, TTLCache

from opper_mcp import fuzzy
from opper_mcp.opper.client import OpperClient
from opper_mcp.opper.errors import MissingKeyError
from opper_mcp.opper.schemas import ModelInfo, ModelsPage

PAGE_SIZE = 500
MAX_PAGES = 50  # 25,000 models: a bound, not an expectation
UPSTREAM_INCLUDES = ("maker", "benchmarks", "route", "policy")
KEYED_INCLUDES = frozenset({"route", "policy"})
MAX_CATALOGS = 16  # include sets (and keys, for keyed ones) kept at once
MAX_DERIVED = 64  # derived views kept (rows per include set, serialised pages), least recently used dropped

T = TypeVar("T")


class ModelCatalog:
    """TTL cache of the full catalogue, one entry per (upstream include set, key if it matters)."""

    def __init__(self, ttl_s: float = 600.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._entries: TTLCache[tuple[tuple[str, ...], str], list[ModelInfo]] = TTLCache(
            maxsize=MAX_CATALOGS, ttl=ttl_s, timer=clock)
        self._derived: LRUCache[Hashable, tuple[list[ModelInfo], object]] = LRUCache(maxsize=MAX_DERIVED)
        self._lock = anyio.Lock()

    async def models(self, opper: OpperClient, include: Iterable[str] = ()) -> list[ModelInfo]:
        upstream = tuple(sorted({i for i in include if i in UPSTREAM_INCLUDES}))
        keyed = KEYED_INCLUDES.intersection(upstream)
        if keyed and not opper.has_key:
            raise MissingKeyError(
                f"include={','.join(sorted(keyed))} needs an Opper API key",
                hint="set OPPER_API_KEY, or drop route/policy (maker and benchmarks are public)",
            )
        cache_key = (upstream, opper.key_fingerprint if keyed else "")
        models = self._entries.get(cache_key)
        if models is not None:
            return models  # warm: no lock, so no trip through the event loop
        async with self._lock:
            models = self._entries.get(cache_key)
            if models is None:
                models = self._entries[cache_key] = await _fetch_all(opper, upstream)
            return models

    def clear(self) -> None:
        self._entries.clear()
        self._derived.clear()

    def derived(self, models: list[ModelInfo], key: Hashable, build: Callable[[list[ModelInfo]], T]) -> T:
        """`build(models)`, computed once per catalogue snapshot and `key`: warm calls skip the work.

        A refreshed (or another key's) catalogue is a different list, so nothing stale is served.
        """
        hit = self._derived.get(key)
        if hit is not None and hit[0] is models:
            return cast(T, hit[1])
        value = build(models)
        self._derived[key] = (models, value)
        return value


async def _fetch_all(opper: OpperClient, include: tuple[str, ...]) -> list[ModelInfo]:
    models: list[ModelInfo] = []
    params: dict[str, str | int] = {"limit": PAGE_SIZE}
    if include:
        params["include"] = ",".join(include)
    for _ in range(MAX_PAGES):
        params["offset"] = len(models)
        keyed = bool(KEYED_INCLUDES.intersection(include))  # maker/benchmarks are public
        response = await opper.request("GET", "/v3/models", params=params, auth_required=keyed)
        page = ModelsPage.model_validate(response.data or {})
        models.extend(page.models)
        if not page.models or len(models) >= page.total:
            break
    return models


def matches(
    model: ModelInfo,
    *,
    query: str | None = None,
    type: str | None = None,
    provider: str | None = None,
    capabilities: Sequence[str] = (),
) -> bool:
    """The same filters Opper applies server-side, run on the cached list."""
    if type and model.type.lower() != type.lower():
        return False
    if provider and model.provider.lower() != provider.lower():
        return False
    if capabilities:
        have = {c.lower() for c in model.capabilities}
        if any(c.lower() not in have for c in capabilities):
            return False
    if query:
        haystack = " ".join([model.id, model.name, model.description, *model.aliases]).lower()
        return all(word in haystack for word in query.lower().split())
    return True


def known_ids(models: Iterable[ModelInfo]) -> set[str]:
    """Every string Opper accepts as `model`: ids, pool names and aliases."""
    ids: set[str] = set()
    for m in models:
        ids.add(m.id)
        ids.update(m.aliases)
        if m.model:
            ids.add(m.model)
    return ids


def close_matches(name: str, models: Iterable[ModelInfo], n: int = 5) -> list[str]:
    """Suggestions for a model id that Opper did not recognise (also those sharing its last part)."""
    return fuzzy.close_matches(name, known_ids(models), n, part=name.rsplit("/", 1)[-1])
