"""How much the web app takes on at once: requests at Redis, and open live streams.

redis-py's pool refuses a connection past its size (``MaxConnectionsError``), so a burst of
requests must not each take one: at most ``Limits.requests`` handlers work at a time, the
others wait their turn, and one that waits longer than ``Limits.wait`` gets a 503 that says
why. A live stream takes a turn only while it reads, and at most ``Limits.streams`` are open.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

from aiohttp import web

from pace.web.context import Handler, Limits, WebError

__all__ = ["GATE", "UNGATED", "Gate", "gate"]

UNGATED = frozenset({"static", "favicon", "login", "api.events"})
"""Routes that take no turn: files, and live streams (which take one per read)."""


class Gate:
    """The turns of one app (made when the app starts, so it binds no event loop before)."""

    __slots__ = ("_streams", "_turns", "limits")

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._turns = asyncio.Semaphore(limits.requests)
        self._streams = 0

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """Wait for a turn at Redis (at most ``limits.wait`` seconds).

        Raises:
            WebError: 503, no turn came in time.
        """
        try:
            async with asyncio.timeout(self.limits.wait):
                await self._turns.acquire()
        except TimeoutError:
            raise WebError(
                503,
                f"too busy: {self.limits.requests} requests are at work and this one waited "
                f"{self.limits.wait:g} s for its turn; try again in a moment",
            ) from None
        try:
            yield
        finally:
            self._turns.release()

    @contextmanager
    def stream(self) -> Iterator[None]:
        """Hold one of the ``limits.streams`` stream places while a stream is open.

        Raises:
            WebError: 503, every place is taken.
        """
        if self._streams >= self.limits.streams:
            raise WebError(
                503,
                f"too many live streams: {self.limits.streams} are open; close a tab or try "
                "again later",
            )
        self._streams += 1
        try:
            yield
        finally:
            self._streams -= 1


GATE = web.AppKey("pace_web_gate", Gate)


@web.middleware
async def gate(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every request but static files and live streams waits for a turn at Redis."""
    if request.match_info.route.name in UNGATED:
        return await handler(request)
    async with request.app[GATE].turn():
        return await handler(request)
