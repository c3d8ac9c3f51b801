"""Running a coroutine on uvloop when it is available."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["loop_factory", "owns", "run"]

T = TypeVar("T")

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
    with asyncio.Runner(loop_factory=loop_factory(use_uvloop)) as runner:
        loop_id = id(runner.get_loop())
        _OWN_LOOPS.add(loop_id)
        try:
            return runner.run(main)
        finally:
            _OWN_LOOPS.discard(loop_id)


def owns(loop: asyncio.AbstractEventLoop) -> bool:
    """True if ``loop`` is run by :func:`run`: a worker in it reports the loop's stray
    exceptions to its error hooks (``catch_all``)."""
    return id(loop) in _OWN_LOOPS
