"""Helpers shared by the tests (fixtures live in conftest.py)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pace

Starter = Callable[..., Awaitable[pace.Worker]]
"""The ``start`` fixture: ``await start(queues, handler, **worker_settings)``."""


async def wait_for(condition: Callable[[], Any], timeout: float = 5.0) -> None:
    """Poll ``condition`` (sync, or returning an awaitable) until it is truthy; fail after
    ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def noop(job: pace.Job) -> None:
    """A handler that does nothing."""
