"""SQLite specifics (laziness, upgrading old files) and `trim`; the shared contract is test_store_contract.py."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import anyio
import pytest

from opper_mcp.store import Message, open_store
from opper_mcp.store.base import headline, size_of, trim
from opper_mcp.store.sqlite import SQLiteConversationStore

pytestmark = pytest.mark.anyio

ALICE = "owner-alice"
BOB = "owner-bob"


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "nested" / "dir" / "conversations.sqlite3"


def turn(role: str, text: str) -> Message:
    return {"role": role, "content": text}


def size(messages: list[Message]) -> int:
    return sum(size_of(m) for m in messages)


# ---- trim ----------------------------------------------------------------------------------


def test_trim_leaves_a_small_conversation_alone() -> None:
    msgs = [turn("system", "be brief"), turn("user", "hi"), turn("assistant", "hello")]
    assert trim(msgs, 10_000) == msgs


def test_trim_drops_oldest_turns_first_and_keeps_the_system_prompt() -> None:
    msgs = [turn("system", "S" * 50)] + [turn("user" if i % 2 == 0 else "assistant", f"{i}" * 100) for i in range(10)]
    limit = size([msgs[0], *msgs[-3:]])
    out = trim(msgs, limit)
    assert out == [msgs[0], *msgs[-3:]]
    assert size(out) <= limit


def test_trim_keeps_a_system_prompt_that_is_not_first() -> None:
    msgs = [turn("user", "u" * 100), turn("system", "sys"), turn("assistant", "a" * 100), turn("user", "last")]
    out = trim(msgs, size([msgs[1], msgs[3]]))
    assert out == [msgs[1], msgs[3]]


def test_trim_never_drops_the_newest_turn() -> None:
    big = turn("user", "x" * 1_000)
    msgs = [turn("system", "sys"), turn("assistant", "old"), big]
    out = trim(msgs, 100)
    assert out == [msgs[0], big]


def test_trim_does_not_mutate_its_input() -> None:
    msgs = [turn("user", "a" * 100), turn("assistant", "b" * 100), turn("user", "c")]
    copy = [dict(m) for m in msgs]
    trim(msgs, 50)
    assert msgs == copy


# ---- headline ------------------------------------------------------------------------------


def test_headline_is_one_short_line() -> None:
    assert headline("  a\n b\tc ") == "a b c"
    cut = headline("word " * 100)
    assert len(cut) == 80 and cut.endswith("…")


def test_size_counts_utf8_bytes_of_compact_json() -> None:
    assert size_of({"role": "user", "content": "é"}) == len('{"role":"user","content":"é"}'.encode())


# ---- SQLite specifics --------------------------------------------------------------------------


def test_construction_writes_nothing(db_path: Path) -> None:
    s = SQLiteConversationStore(db_path)
    s.close()
    assert not db_path.exists()
    assert not db_path.parent.exists()


async def test_the_default_url_is_the_file_in_the_cache_dir(tmp_path: Path) -> None:
    store = open_store(None, tmp_path / "cache")
    assert isinstance(store, SQLiteConversationStore)
    assert store.path == tmp_path / "cache" / "conversations.sqlite3"
    explicit = open_store(f"sqlite://{tmp_path}/x/y.sqlite3", tmp_path / "cache")
    assert isinstance(explicit, SQLiteConversationStore) and explicit.path == tmp_path / "x" / "y.sqlite3"
    assert not (tmp_path / "cache").exists()
    cid = await explicit.create(ALICE, "m", "hi")
    assert await anyio.Path(tmp_path / "x" / "y.sqlite3").is_file()
    assert await explicit.load(cid, ALICE) == []
    await explicit.aclose()


async def test_a_file_from_an_earlier_version_is_upgraded_in_place(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    old = [turn("system", "sys"), turn("user", "old question"), turn("assistant", "old answer")]
    with sqlite3.connect(db_path) as raw:
        raw.execute("CREATE TABLE conversations (id TEXT PRIMARY KEY, owner TEXT NOT NULL, updated REAL NOT NULL, "
                    "messages TEXT NOT NULL)")
        raw.execute("INSERT INTO conversations VALUES ('conv_oldthread1', ?, strftime('%s','now'), ?)",
                    (ALICE, json.dumps(old)))
    raw.close()
    store = SQLiteConversationStore(db_path)
    try:
        assert await store.load("conv_oldthread1", ALICE) == old
        await store.append("conv_oldthread1", ALICE, [turn("user", "new"), turn("assistant", "reply")])
        assert (await store.load("conv_oldthread1", ALICE))[-2:] == [turn("user", "new"), turn("assistant", "reply")]
        [summary] = await store.list(ALICE, 5)
        assert summary.id == "conv_oldthread1" and summary.turns == 4 and summary.model == ""
    finally:
        store.close()


async def test_processes_sharing_the_file_append_in_turn(db_path: Path) -> None:
    """Appends run in one write transaction each: two connections never overwrite each other."""
    a, b = SQLiteConversationStore(db_path), SQLiteConversationStore(db_path)
    try:
        cid = await a.create(ALICE, "m", "shared")

        async def write(store: SQLiteConversationStore, tag: str) -> None:
            for n in range(20):
                await store.append(cid, ALICE, [turn("user", f"{tag}{n}")])

        async with anyio.create_task_group() as tg:
            tg.start_soon(write, a, "a")
            tg.start_soon(write, b, "b")
        texts = [m["content"] for m in await b.load(cid, ALICE)]
        assert sorted(texts) == sorted([f"a{n}" for n in range(20)] + [f"b{n}" for n in range(20)])
        assert [t for t in texts if t[0] == "a"] == [f"a{n}" for n in range(20)]
    finally:
        a.close()
        b.close()
