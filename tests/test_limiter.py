"""RateLimit, measured on the clock it keeps its log with (the event loop's).

The bound holds by construction: a start waits until the start ``rate`` places earlier is
1.01 s old, and a loaded machine can only make waits longer; so these tests cannot flake
from load, and each runs in about half a second."""

from __future__ import annotations

import asyncio

import pytest

from pace.errors import ConfigError
from pace.limiter import RateLimit


async def starts(limit: RateLimit, jobs: int, batch: int) -> list[float]:
    """Take permits in batches of up to ``batch`` until ``jobs`` started; their start times."""
    loop = asyncio.get_running_loop()
    times: list[float] = []
    while len(times) < jobs:
        granted = await limit.take(min(batch, jobs - len(times)))
        await limit.admit(granted)
        times += [loop.time()] * granted
    return times


def busiest_second(times: list[float]) -> int:
    """The most starts in any window of one second (sliding, both ends included)."""
    return max(sum(1 for t in times if start <= t <= start + 1.0) for start in times)


@pytest.mark.parametrize(("rate", "batch"), [(200, 1), (200, 100), (7.5, 3)])
async def test_no_one_second_window_holds_more_than_the_rate(rate: float, batch: int) -> None:
    times = await starts(RateLimit(rate), jobs=int(rate) + 3, batch=batch)
    assert busiest_second(times) <= rate
    assert times[-1] - times[0] >= 1.0, "the starts past the rate waited for the window"


async def test_after_a_restart_starts_are_paced_not_a_burst() -> None:
    """A pause lets the bucket drain: without restart() the next take() would grant half a
    second's worth of permits at once."""
    limit = RateLimit(100)
    await starts(limit, jobs=50, batch=100)
    await asyncio.sleep(0.6)  # the pause itself
    limit.restart()
    after = await starts(limit, jobs=26, batch=100)
    assert after[-1] - after[0] >= 0.2, "25 intervals at 100/s take 0.25 s"


@pytest.mark.parametrize("rate", [0, -1, float("inf"), float("nan"), True, "10"])
def test_a_rate_that_is_not_a_positive_number_is_refused(rate: object) -> None:
    with pytest.raises(ConfigError, match="jobs_per_second must be a number of jobs > 0"):
        RateLimit(rate)  # type: ignore[arg-type]
