"""Live progress as server-sent events: ``GET /api/events?scope=user:3421[&scope=...]``.

Every second the stream sends one ``progress`` event whose data is
``{"scopes": {"user:3421": {...what /api/progress/user:3421 answers...}}}``. It ends when the
client goes away (the next write fails, or the connection is seen closing), when the app
shuts down, or after ``?limit=N`` events (for scripts and tests).
"""

from __future__ import annotations

import asyncio
import contextlib

from aiohttp import web

from pace.web import reads
from pace.web.context import STOPPING, WebError, keys, redis, whole
from pace.web.limits import GATE

__all__ = ["INTERVAL", "MAX_EVENTS", "MAX_SCOPES", "progress_events"]

INTERVAL = 1.0
"""Seconds between events."""
MAX_SCOPES = 20
"""Most scopes one stream follows."""
MAX_EVENTS = 1_000_000
"""Largest ``?limit=``."""


def _scopes(request: web.Request) -> list[str]:
    scopes = request.query.getall("scope", [])
    if not scopes:
        raise WebError(400, "give at least one ?scope=, like ?scope=user:3421")
    if len(scopes) > MAX_SCOPES:
        raise WebError(400, f"at most {MAX_SCOPES} scopes per stream, got {len(scopes)}")
    return list(dict.fromkeys(reads.parse_scope(scope) for scope in scopes))


def _limit(request: web.Request) -> int | None:
    if "limit" not in request.query:
        return None
    return whole(request, "limit", 0, 1, MAX_EVENTS)


def _gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


async def progress_events(request: web.Request) -> web.StreamResponse:
    """Stream the scopes' progress, one event a second (see the module docstring)."""
    scopes, limit = _scopes(request), _limit(request)
    with request.app[GATE].stream():
        return await _stream(request, scopes, limit)


async def _stream(request: web.Request, scopes: list[str], limit: int | None) -> web.StreamResponse:
    stopping, gate = request.app[STOPPING], request.app[GATE]
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",  # nginx: do not buffer the stream
        }
    )
    await response.prepare(request)
    sent = 0
    try:
        await response.write(b"retry: 2000\n\n")
        while not stopping.is_set() and not _gone(request):
            async with gate.turn():
                data = {
                    "scopes": {
                        scope: await reads.progress(redis(request), keys(request), scope)
                        for scope in scopes
                    }
                }
            await response.write(f"event: progress\ndata: {reads.dumps(data)}\n\n".encode())
            sent += 1
            if limit is not None and sent >= limit:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), INTERVAL)
    except ConnectionResetError:  # the client went away mid-write
        return response
    with contextlib.suppress(ConnectionResetError):
        await response.write_eof()
    return response
