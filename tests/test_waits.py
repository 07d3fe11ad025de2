"""The daemon's waits: a reconnecting loop's backoff grows with consecutive failures, is
capped, starts over after a success, and a stop cuts its pause short."""

from __future__ import annotations

import asyncio

import pytest

from syncd.core.backoff import Backoff
from syncd.service import waits


@pytest.mark.parametrize(
    ("rand", "delays"),
    [
        pytest.param(1.0, [1.0, 2.0, 4.0, 8.0, 10.0, 10.0], id="ceiling"),
        pytest.param(0.0, [1.0] * 6, id="floor"),
    ],
)
def test_retries_back_off_to_the_cap(rand: float, delays: list[float]) -> None:
    """Consecutive failures wait 1 s, then up to 2, 4, 8 and at most 10 s (RECONNECT)."""
    retries = waits.Retries(asyncio.Event(), waits.RECONNECT, rand=lambda: rand)
    assert [retries.delay() for _ in delays] == delays
    assert retries.failures == len(delays)


def test_retries_start_over_after_a_success() -> None:
    """A success resets the count: the next failure waits the first delay again."""
    retries = waits.Retries(asyncio.Event(), Backoff(initial=1.0, maximum=10.0),
                            rand=lambda: 1.0)
    for _ in range(4):
        retries.delay()
    retries.succeeded()
    assert (retries.failures, retries.delay()) == (0, 1.0)


async def test_a_stop_cuts_the_pause_short() -> None:
    """A pause of an hour returns as soon as the stop event is set."""
    stop = asyncio.Event()
    pausing = asyncio.create_task(waits.Retries(stop).pause(3600))
    await asyncio.sleep(0)  # let the pause start waiting
    assert not pausing.done()
    stop.set()
    await asyncio.wait_for(pausing, 10)
    assert pausing.done()
