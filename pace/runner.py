"""Running a coroutine on uvloop when it is available, and ending in bounded time whatever
tasks it leaves behind."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["loop_factory", "owns", "run"]

T = TypeVar("T")

LEFTOVERS_WAIT = 1.0
"""Seconds the tasks still running when ``main`` returns have to end once cancelled; a task
that ignores its cancellation (a stubborn job) is then left behind, and the loop closes."""

_OWN_LOOPS: set[int] = set()  # ids of the loops run() is running (uvloop's take no weakrefs)


def loop_factory(use_uvloop: bool = True) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop factory, or ``None`` (asyncio's own loop) when it is off or missing.

    ``use_uvloop=False`` or the environment variable ``PACE_UVLOOP=0`` turns it off.
    """
    if not use_uvloop or os.environ.get("PACE_UVLOOP", "1") == "0":
        return None
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def run(main: Coroutine[Any, Any, T], *, use_uvloop: bool = True) -> T:
    """Run ``main`` to completion on a new event loop (uvloop when available).

    Example::

        pace.run(worker.start(handler))
    """
    factory = loop_factory(use_uvloop)
    runner = asyncio.Runner(loop_factory=factory)
    loop = runner.get_loop()
    _OWN_LOOPS.add(id(loop))
    try:
        return runner.run(main)
    finally:
        _OWN_LOOPS.discard(id(loop))
        try:  # asyncio.Runner.close() would wait for every task to end: maybe forever
            loop.run_until_complete(_cancel_leftovers())
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            if factory is None:  # asyncio.Runner made it the thread's loop
                asyncio.set_event_loop(None)
            loop.close()


async def _cancel_leftovers() -> None:
    me = asyncio.current_task()
    leftovers = [task for task in asyncio.all_tasks() if task is not me]
    for task in leftovers:
        task.cancel()
    if leftovers:
        _done, stubborn = await asyncio.wait(leftovers, timeout=LEFTOVERS_WAIT)
        for task in stubborn:  # left behind on purpose: no "destroyed but pending" error
            task._log_destroy_pending = False  # type: ignore[attr-defined]


def owns(loop: asyncio.AbstractEventLoop) -> bool:
    """True if ``loop`` is run by :func:`run`: a worker in it reports the loop's stray
    exceptions to its error hooks (``catch_all``)."""
    return id(loop) in _OWN_LOOPS
