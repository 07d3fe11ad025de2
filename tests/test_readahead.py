"""ReadAhead: windows read ahead of their commit only within a byte bound, and the window
next to commit always reads (so the pass moves whatever the sizes)."""

from __future__ import annotations

import asyncio

from syncd.engine.readahead import MB, ReadAhead


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_only_the_next_window_reads_before_the_module_has_answered() -> None:
    ahead = ReadAhead(64 * MB)
    reading = asyncio.Event()
    release = asyncio.Event()

    async def second() -> None:
        async with ahead.room("sales", lambda: False):
            reading.set()
            await release.wait()

    async with ahead.room("sales", lambda: True) as took:
        task = asyncio.create_task(second())
        await settle()
        assert not reading.is_set()  # nothing says yet how large sales answers are
        took(1 * MB)
        await asyncio.wait_for(reading.wait(), 5)  # 1 MB answers: the next fits beside it
        assert ahead.held == 2 * MB  # its room is reserved at the size of the last answer
        release.set()
        await task
    assert ahead.held == 0


async def test_big_answers_are_held_one_at_a_time_and_the_next_to_commit_always_goes() -> None:
    ahead = ReadAhead(64 * MB)
    head = asyncio.Event()
    order: list[str] = []

    async def window(name: str, next_to_commit: asyncio.Event | None, size: int,
                     done: asyncio.Event) -> None:
        async with ahead.room("sales", lambda: next_to_commit is None
                              or next_to_commit.is_set()) as took:
            order.append(f"{name} reads")
            took(size)
            if next_to_commit is not None:
                await next_to_commit.wait()
            await done.wait()
            order.append(f"{name} commits")
        ahead.wake()

    first_done, second_done = asyncio.Event(), asyncio.Event()
    first = asyncio.create_task(window("w1", None, 121 * MB, first_done))
    await settle()
    second = asyncio.create_task(window("w2", head, 121 * MB, second_done))
    await settle()
    assert order == ["w1 reads"]  # 121 + 121 MB would pass the 64 MB bound
    assert ahead.held == 121 * MB
    first_done.set()
    await first
    head.set()  # w1 committed: w2 is next to commit
    ahead.wake()
    second_done.set()
    await second
    assert order == ["w1 reads", "w1 commits", "w2 reads", "w2 commits"]
    assert ahead.held == 0


async def test_the_next_to_commit_reads_even_past_the_bound() -> None:
    ahead = ReadAhead(64 * MB)
    async with ahead.room("sales", lambda: True) as took:
        took(100 * MB)
        async with ahead.room("purchase", lambda: True) as other:
            other(100 * MB)
            assert ahead.held == 200 * MB  # each module's next window always goes
    assert ahead.held == 0


async def test_a_cancelled_wait_takes_no_room() -> None:
    ahead = ReadAhead(64 * MB)
    async with ahead.room("sales", lambda: True) as took:
        took(100 * MB)
        waiting = asyncio.create_task(ahead.room("sales", lambda: False).__aenter__())
        await settle()
        waiting.cancel()
        await asyncio.gather(waiting, return_exceptions=True)
        assert ahead.held == 100 * MB
    assert ahead.held == 0
