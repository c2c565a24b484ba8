"""Unit tests of `Progress`: throttling, forcing, monotonic values, heartbeat, error propagation."""

from __future__ import annotations

import itertools
import time

import anyio
import pytest

from opper_mcp.runtime.progress import Progress

pytestmark = pytest.mark.anyio


class Recorder:
    def __init__(self) -> None:
        self.sent: list[tuple[float, float | None, str]] = []

    async def __call__(self, value: float, total: float | None, message: str) -> None:
        self.sent.append((value, total, message))

    @property
    def values(self) -> list[float]:
        return [v for v, _, _ in self.sent]

    @property
    def messages(self) -> list[str]:
        return [m for _, _, m in self.sent]


def strictly_increasing(values: list[float]) -> bool:
    return all(b > a for a, b in itertools.pairwise(values))


async def test_first_update_is_sent_then_throttled() -> None:
    rec = Recorder()
    p = Progress(rec, min_interval_s=60)
    for i in range(20):
        await p.update(f"chunk {i}")
    assert rec.messages == ["chunk 0"]
    # the state still follows every update, only the sending is throttled
    assert p.message == "chunk 19"
    assert p.step == 20


async def test_sends_again_once_the_interval_has_passed() -> None:
    rec = Recorder()
    p = Progress(rec, min_interval_s=0.05)
    await p.update("a")
    await p.update("b")  # too soon
    await anyio.sleep(0.07)
    await p.update("c")
    assert rec.messages == ["a", "c"]


async def test_throttle_bounds_the_rate() -> None:
    rec = Recorder()
    p = Progress(rec, min_interval_s=0.05)
    started = time.monotonic()
    for n in range(150):  # many updates over at least 0.3 s…
        await p.update(f"tick {n}")
        await anyio.sleep(0.002)
    elapsed = time.monotonic() - started
    assert 2 <= len(rec.sent) <= elapsed / 0.05 + 2  # …few sends
    assert len(rec.sent) < 150 / 5


async def test_force_bypasses_the_throttle() -> None:
    rec = Recorder()
    p = Progress(rec, min_interval_s=60)
    await p.update("one")
    await p.update("two")
    await p.update("three", force=True)
    await p.update("four", force=True)
    assert rec.messages == ["one", "three", "four"]


async def test_values_strictly_increase_even_when_step_does_not() -> None:
    rec = Recorder()
    p = Progress(rec, min_interval_s=0)
    p.total = 3.0
    await p.update("start", step=0, force=True)
    await p.update("same step", step=0, force=True)
    await p.update("one", step=1, force=True)
    await p.update("going back", step=0, force=True)  # a lower step never lowers the value
    await p.update("one again", step=1, force=True)
    await p.update("three", step=3, force=True)
    assert len(rec.sent) == 6
    assert strictly_increasing(rec.values), rec.values
    assert rec.values[0] == 0
    assert rec.values[-1] == 3
    assert all(total == 3.0 for _, total, _ in rec.sent)


async def test_step_defaults_to_counting_updates() -> None:
    rec = Recorder()
    p = Progress(rec, min_interval_s=0)
    for i in range(4):
        await p.update(f"u{i}")
    assert rec.values == [1, 2, 3, 4]


async def test_heartbeat_fires_while_idle_and_stops_on_exit() -> None:
    rec = Recorder()
    p = Progress(rec, min_interval_s=0)
    async with p.heartbeat(0.05):
        await p.update("waiting for model", force=True)
        await anyio.sleep(0.4)
    beats = [m for m in rec.messages if "elapsed" in m]
    assert len(beats) >= 3, rec.messages
    # the heartbeat keeps the last message readable and says how long it has been
    assert all(m.startswith("waiting for model (") and m.endswith(" s elapsed)") for m in beats), beats
    assert strictly_increasing(rec.values), rec.values
    count = len(rec.sent)
    await anyio.sleep(0.2)
    assert len(rec.sent) == count, "heartbeat kept running after the context exited"


async def test_heartbeat_stays_quiet_while_updates_flow() -> None:
    rec = Recorder()
    p = Progress(rec, min_interval_s=0)
    async with p.heartbeat(0.2):
        for i in range(40):
            await p.update(f"token {i}")
            await anyio.sleep(0.01)
    assert len(rec.sent) == 40
    assert not [m for m in rec.messages if "elapsed" in m], rec.messages


async def test_heartbeat_stops_on_outside_cancellation() -> None:
    rec = Recorder()
    p = Progress(rec, min_interval_s=0)
    started = time.monotonic()
    with anyio.move_on_after(0.12) as scope:
        async with p.heartbeat(0.03):
            await anyio.sleep(5)
    assert scope.cancelled_caught
    assert time.monotonic() - started < 1
    count = len(rec.sent)
    assert count >= 1
    await anyio.sleep(0.1)
    assert len(rec.sent) == count


async def test_body_exception_propagates_unwrapped() -> None:
    p = Progress(Recorder(), min_interval_s=0)
    with pytest.raises(ValueError, match="boom") as info:
        async with p.heartbeat(0.05):
            raise ValueError("boom")
    assert type(info.value) is ValueError


async def test_body_exception_after_heartbeats_propagates_unwrapped() -> None:
    rec = Recorder()
    p = Progress(rec, min_interval_s=0)

    class Custom(RuntimeError):
        pass

    cause = KeyError("inner")
    with pytest.raises(Custom) as info:
        async with p.heartbeat(0.02):
            await anyio.sleep(0.1)
            raise Custom("late failure") from cause
    assert type(info.value) is Custom
    assert info.value.__cause__ is cause
    assert any("elapsed" in m for m in rec.messages)
