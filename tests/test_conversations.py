"""Unit tests of the conversation store and `trim`: bounds, owners, laziness, persistence."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from opper_mcp.tools.conversations import Message, SQLiteConversationStore, UnknownConversation, trim

pytestmark = pytest.mark.anyio

ALICE = "owner-alice"
BOB = "owner-bob"


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "nested" / "dir" / "conversations.sqlite3"


@pytest.fixture
def store(db_path: Path) -> Iterator[SQLiteConversationStore]:
    s = SQLiteConversationStore(db_path)
    yield s
    s.close()


def turn(role: str, text: str) -> Message:
    return {"role": role, "content": text}


def size(messages: list[Message]) -> int:
    return sum(len(json.dumps(m, ensure_ascii=False)) for m in messages)


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


# ---- store ---------------------------------------------------------------------------------


def test_construction_writes_nothing(db_path: Path) -> None:
    s = SQLiteConversationStore(db_path)
    try:
        assert not db_path.exists()
        assert not db_path.parent.exists()
    finally:
        s.close()
    assert not db_path.exists()


async def test_first_use_creates_the_file(store: SQLiteConversationStore, db_path: Path) -> None:
    assert not await anyio.Path(db_path).exists()
    cid = await store.create(ALICE)
    assert await anyio.Path(db_path).is_file()
    assert cid.startswith("conv_")
    assert await store.load(cid, ALICE) == []


async def test_save_and_load_roundtrip(store: SQLiteConversationStore) -> None:
    cid = await store.create(ALICE)
    msgs = [turn("system", "sys"), turn("user", "héllo ✓"), turn("assistant", "hi"),
            {"role": "user", "content": [{"type": "text", "text": "parts"}], "name": "ada"}]
    await store.save(cid, ALICE, msgs)
    assert await store.load(cid, ALICE) == msgs
    await store.save(cid, ALICE, [*msgs, turn("assistant", "more")])
    assert (await store.load(cid, ALICE))[-1] == turn("assistant", "more")


async def test_ids_are_unique_and_well_formed(store: SQLiteConversationStore) -> None:
    ids = {await store.create(ALICE) for _ in range(20)}
    assert len(ids) == 20
    # the chat tool's conversation_id parameter pattern
    assert all(re.fullmatch(r"conv_[A-Za-z0-9_-]{8,64}", i) for i in ids)


async def test_unknown_id_raises(store: SQLiteConversationStore) -> None:
    with pytest.raises(UnknownConversation):
        await store.load("conv_doesnotexist", ALICE)


async def test_owner_isolation_on_load(store: SQLiteConversationStore) -> None:
    cid = await store.create(ALICE)
    await store.save(cid, ALICE, [turn("user", "secret plan")])
    with pytest.raises(UnknownConversation):
        await store.load(cid, BOB)
    assert await store.load(cid, ALICE) == [turn("user", "secret plan")]


async def test_another_owner_cannot_overwrite(store: SQLiteConversationStore) -> None:
    cid = await store.create(ALICE)
    await store.save(cid, ALICE, [turn("user", "mine")])
    await store.save(cid, BOB, [turn("user", "hijacked")])
    assert await store.load(cid, ALICE) == [turn("user", "mine")]
    with pytest.raises(UnknownConversation):
        await store.load(cid, BOB)


async def test_max_conversations_prunes_the_least_recently_updated(db_path: Path) -> None:
    s = SQLiteConversationStore(db_path, max_conversations=3)
    try:
        ids = []
        for _ in range(5):
            ids.append(await s.create(ALICE))
            await anyio.sleep(0.005)  # distinct `updated` stamps
        assert s.count() == 3
        for old in ids[:2]:
            with pytest.raises(UnknownConversation):
                await s.load(old, ALICE)
        for kept in ids[2:]:
            assert await s.load(kept, ALICE) == []
        # saving refreshes a conversation, so it survives the next prune
        await anyio.sleep(0.005)
        await s.save(ids[2], ALICE, [turn("user", "still here")])
        await anyio.sleep(0.005)
        newest = await s.create(ALICE)
        assert s.count() == 3
        assert await s.load(ids[2], ALICE) == [turn("user", "still here")]
        assert await s.load(newest, ALICE) == []
        with pytest.raises(UnknownConversation):
            await s.load(ids[3], ALICE)
    finally:
        s.close()


async def test_max_age_expires_conversations(db_path: Path) -> None:
    s = SQLiteConversationStore(db_path, max_age_s=0.5)
    try:
        cid = await s.create(ALICE)
        await s.save(cid, ALICE, [turn("user", "hi")])
        assert await s.load(cid, ALICE) == [turn("user", "hi")]
        await anyio.sleep(0.6)
        with pytest.raises(UnknownConversation):
            await s.load(cid, ALICE)
        # and the next create deletes the expired row for good
        fresh = await s.create(ALICE)
        assert s.count() == 1
        assert await s.load(fresh, ALICE) == []
    finally:
        s.close()


async def test_max_chars_trims_on_save_and_keeps_the_system_prompt(db_path: Path) -> None:
    system = turn("system", "You are terse.")
    history = [system] + [turn("user" if i % 2 == 0 else "assistant", f"turn {i} " + "x" * 200) for i in range(20)]
    limit = 1_000
    s = SQLiteConversationStore(db_path, max_chars=limit)
    try:
        cid = await s.create(ALICE)
        await s.save(cid, ALICE, history)
        loaded = await s.load(cid, ALICE)
    finally:
        s.close()
    assert loaded[0] == system
    assert loaded[-1] == history[-1]
    assert len(loaded) < len(history)
    assert size(loaded) <= limit
    assert loaded == [system, *history[len(history) - len(loaded) + 1 :]]  # a contiguous, newest tail


async def test_survives_a_new_store_instance(db_path: Path) -> None:
    first = SQLiteConversationStore(db_path)
    cid = await first.create(ALICE)
    msgs = [turn("user", "remember me"), turn("assistant", "ok")]
    await first.save(cid, ALICE, msgs)
    first.close()

    second = SQLiteConversationStore(db_path)
    try:
        assert await second.load(cid, ALICE) == msgs
        with pytest.raises(UnknownConversation):
            await second.load(cid, BOB)
    finally:
        second.close()


async def test_two_open_instances_see_each_others_writes(db_path: Path) -> None:
    a = SQLiteConversationStore(db_path)
    b = SQLiteConversationStore(db_path)
    try:
        cid = await a.create(ALICE)
        await a.save(cid, ALICE, [turn("user", "from a")])
        assert await b.load(cid, ALICE) == [turn("user", "from a")]
    finally:
        a.close()
        b.close()


async def test_stored_file_is_plain_sqlite_with_owner_column(store: SQLiteConversationStore, db_path: Path) -> None:
    cid = await store.create(ALICE)
    await store.save(cid, ALICE, [turn("user", "x")])
    with sqlite3.connect(db_path) as raw:
        rows = raw.execute("SELECT id, owner, messages FROM conversations").fetchall()
    assert rows == [(cid, ALICE, json.dumps([turn("user", "x")]))]


async def test_concurrent_saves_do_not_corrupt(store: SQLiteConversationStore) -> None:
    ids = [await store.create(ALICE) for _ in range(10)]

    async def write(cid: str, n: int) -> None:
        await store.save(cid, ALICE, [turn("user", f"message {n}")])

    async with anyio.create_task_group() as tg:
        for n, cid in enumerate(ids):
            tg.start_soon(write, cid, n)
    for n, cid in enumerate(ids):
        assert await store.load(cid, ALICE) == [turn("user", f"message {n}")]
