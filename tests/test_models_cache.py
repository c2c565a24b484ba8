"""list_models answers warm calls from a page serialised once per catalogue snapshot and arguments,
and skips the SDK's second validation of its result: these tests show neither changes what a model
is told, nor serves a stale or wrong page."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import anyio
import jsonschema
import pytest
from mcp import Client

from opper_mcp.opper.catalog import MAX_DERIVED, ModelCatalog
from opper_mcp.server import build_server, build_state
from opper_mcp.tools.models import ModelList
from tests.fake_opper import FakeOpperServer
from tests.support import connect, data_of, text_of

pytestmark = pytest.mark.anyio

# Each differs from the first in one argument, so a cache key that missed one would answer a wrong page.
VARIANTS: list[dict[str, Any]] = [
    {"limit": 5},
    {"limit": 6},
    {"limit": 5, "offset": 3},
    {"limit": 5, "query": "gpt"},
    {"limit": 5, "type": "embedding"},
    {"limit": 5, "provider": "anthropic"},
    {"limit": 5, "capability": ["vision"]},
    {"limit": 5, "capability": ["vision", "tools"]},
    {"limit": 5, "include": ["pricing"]},
    {"limit": 5, "include": ["description", "pricing"]},
    {"limit": 5, "include": ["maker"]},
    {"limit": 200, "include": ["pricing", "maker", "benchmarks", "description", "aliases"]},  # cut to the budget
    {"query": "no-such-model-anywhere"},
]


async def answer(client: Client, args: dict[str, Any]) -> tuple[str, Any]:
    result = await client.call_tool("list_models", args)
    assert not result.is_error, text_of(result)
    return text_of(result), result.structured_content


async def test_repeated_calls_answer_the_same_page_for_the_same_arguments(settings: Any, mode: str) -> None:
    async with connect(settings, mode) as client:
        first = [await answer(client, args) for args in VARIANTS]
        assert len({text for text, _ in first}) == len(VARIANTS)  # every variant is a different page
        for i in [*reversed(range(len(VARIANTS))), *range(len(VARIANTS))]:  # warm, in another order
            text, data = await answer(client, VARIANTS[i])
            assert text == first[i][0] and data == first[i][1], VARIANTS[i]
            assert json.loads(text) == data  # both channels carry the same result


async def test_a_refreshed_catalogue_is_answered_fresh(fake_opper: FakeOpperServer, settings: Any) -> None:
    now = [0.0]
    state = dataclasses.replace(build_state(settings), catalog=ModelCatalog(ttl_s=10.0, clock=lambda: now[0]))
    async with Client(build_server(settings, state), raise_exceptions=True) as client:  # type: ignore[arg-type]
        before = data_of(await client.call_tool("list_models", {"query": "zz-late"}))
        assert before["total"] == 0
        src = next(e for e in fake_opper.state.models if not e.retired)
        late = dataclasses.replace(src, info={**src.info, "id": "zz-late/model", "aliases": []})
        fake_opper.state.models.append(late)
        now[0] = 9.0
        cached = data_of(await client.call_tool("list_models", {"query": "zz-late"}))
        assert cached == before  # within the TTL: the cached catalogue, as before this change
        now[0] = 10.5
        after = data_of(await client.call_tool("list_models", {"query": "zz-late"}))
        assert after["total"] == 1 and after["models"][0]["id"] == "zz-late/model"
    assert len(fake_opper.state.requests_to("/v3/models")) == 2


async def test_results_match_the_published_output_schema_without_the_sdk_check(client: Client) -> None:
    """The SDK no longer validates list_models results against ModelList: they must match it by construction."""
    listed = {t.name: t for t in (await client.list_tools()).tools}
    schema = listed["list_models"].output_schema
    assert schema is not None and "models" in schema["properties"]  # still published
    for args in VARIANTS:
        _, data = await answer(client, args)
        jsonschema.validate(data, schema)
        assert ModelList.model_validate(data).model_dump(mode="json", exclude_none=True) == data, args


def test_derived_views_keep_the_recently_used_and_drop_the_oldest() -> None:
    catalog = ModelCatalog()
    models: list[Any] = []
    builds: list[str] = []

    def build(key: str) -> str:
        catalog.derived(models, key, lambda _: builds.append(key) or key)
        return key

    build("hot")
    for i in range(MAX_DERIVED * 2):  # many one-off pages must not push out a view in use
        build(f"page-{i}")
        build("hot")
    assert builds.count("hot") == 1
    build("page-0")  # long dropped: built again
    assert builds.count("page-0") == 2
    other: list[Any] = []  # a refreshed catalogue is another list: never served the old view
    assert catalog.derived(other, "hot", lambda _: "fresh") == "fresh"


async def test_warm_reads_do_not_wait_for_a_fetch_in_progress(fake_opper: FakeOpperServer, settings: Any) -> None:
    """A fresh entry is answered without the lock; a stale one still goes through it and is fetched again."""
    state = build_state(settings)
    now = [0.0]
    catalog = ModelCatalog(ttl_s=10.0, clock=lambda: now[0])
    try:
        models = await catalog.models(state.opper)
        async with catalog._lock:  # another include set being fetched
            with anyio.fail_after(2):
                assert await catalog.models(state.opper) is models
        now[0] = 11.0
        refreshed = await catalog.models(state.opper)
        assert refreshed is not models and [m.id for m in refreshed] == [m.id for m in models]
        assert len(fake_opper.state.requests_to("/v3/models")) == 2
    finally:
        await state.opper.aclose()
