"""The runner of every background loop: it survives anything a step raises."""

from __future__ import annotations

import asyncio
import logging

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from pace import hooks
from pace.worker.housekeeping import forever
from pace.worker.settle import Outage
from tests.support import wait_for


async def test_a_step_that_raises_is_logged_reported_and_run_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    chain = (hooks.Hooks(),)
    errors: list[BaseException] = []
    chain[0].add("error", lambda payload, exc: errors.append(exc))
    runs: list[int] = []

    async def step() -> None:
        runs.append(len(runs))
        if len(runs) <= 2:
            raise ValueError(f"bad value {len(runs)}")

    with caplog.at_level(logging.ERROR, logger="pace"):
        loop = asyncio.create_task(forever("test", step, 0.01, outage=Outage(chain), chain=chain))
        await wait_for(lambda: len(runs) >= 5)
        loop.cancel()
        await asyncio.wait([loop])
    assert [str(exc) for exc in errors] == ["bad value 1", "bad value 2"]
    assert "pace's test loop failed; it carries on" in caplog.text
    assert loop.cancelled()


async def test_an_outage_is_reported_once_and_the_loop_is_cancellable_during_it() -> None:
    chain = (hooks.Hooks(),)
    errors: list[BaseException] = []
    chain[0].add("error", lambda payload, exc: errors.append(exc))
    outage = Outage(chain)
    runs: list[int] = []

    async def step() -> None:
        runs.append(1)
        raise RedisConnectionError("Redis is away")

    loop = asyncio.create_task(forever("test", step, 0.005, outage=outage, chain=chain))
    await wait_for(lambda: len(runs) >= 3)
    loop.cancel()
    await asyncio.wait([loop], timeout=2)
    assert loop.cancelled()
    assert len(errors) == 1
    assert outage.active
