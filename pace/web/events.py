"""Live progress and a live overview as server-sent events:
``GET /api/events?scope=user:3421[&scope=...][&overview=1]``.

Every second the stream sends one ``progress`` event whose data is
``{"scopes": {"user:3421": {...what /api/progress/user:3421 answers...}}}`` (with scopes), and
one ``overview`` event (with ``overview=1``): the totals, each queue's size and latency, the
worker ids and the pauses, as :func:`overview` says. It ends when the client goes away (the
next write fails, or the connection is seen closing), when the app shuts down, or after
``?limit=N`` rounds of events (for scripts and tests).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from aiohttp import web
from redis.asyncio import Redis

from pace.keys import Keys
from pace.web import reads
from pace.web.context import STOPPING, WebError, keys, redis, whole
from pace.web.limits import GATE

__all__ = ["INTERVAL", "MAX_EVENTS", "MAX_SCOPES", "events", "overview"]

INTERVAL = 1.0
"""Seconds between events."""
MAX_SCOPES = 20
"""Most scopes one stream follows."""
MAX_EVENTS = 1_000_000
"""Largest ``?limit=``."""


def _scopes(request: web.Request, overview: bool) -> list[str]:
    scopes = request.query.getall("scope", [])
    if not scopes and not overview:
        raise WebError(400, "give at least one ?scope=, like ?scope=user:3421, or ?overview=1")
    if len(scopes) > MAX_SCOPES:
        raise WebError(400, f"at most {MAX_SCOPES} scopes per stream, got {len(scopes)}")
    return list(dict.fromkeys(reads.parse_scope(scope) for scope in scopes))


def _overview(request: web.Request) -> bool:
    value = request.query.get("overview", "0")
    if value not in ("0", "1"):
        raise WebError(400, f"overview is 0 or 1, got {value[:20]!r}")
    return value == "1"


def _limit(request: web.Request) -> int | None:
    if "limit" not in request.query:
        return None
    return whole(request, "limit", 0, 1, MAX_EVENTS)


def _gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


async def overview(redis: Redis, keys: Keys) -> dict[str, Any]:
    """What the overview page keeps current: totals, queues (size, latency, pause), the ids of
    the workers (the page offers a reload when they change) and the pauses."""
    data = await reads.overview(redis, keys)
    return {
        "processed": data["processed"],
        "failed": data["failed"],
        "failures": data["failures"],
        "scheduled": data["scheduled"],
        "queued": sum(queue["size"] for queue in data["queues"]),
        "queues": [
            {key: queue[key] for key in ("name", "size", "latency", "paused", "paused_until")}
            for queue in data["queues"]
        ],
        "worker_count": len(data["workers"]),
        "workers": [worker["id"] for worker in data["workers"]],
        "pauses": data["pauses"],
        "paused_all": data["paused_all"],
    }


async def events(request: web.Request) -> web.StreamResponse:
    """Stream the scopes' progress and the overview, every second (see the module docstring)."""
    follow = _overview(request)
    scopes, limit = _scopes(request, follow), _limit(request)
    with request.app[GATE].stream():
        return await _stream(request, scopes, follow, limit)


async def _round(request: web.Request, scopes: list[str], follow: bool) -> bytes:
    """One round of events."""
    sent = b""
    if scopes:
        data = {
            "scopes": {
                scope: await reads.progress(redis(request), keys(request), scope)
                for scope in scopes
            }
        }
        sent += f"event: progress\ndata: {reads.dumps(data)}\n\n".encode()
    if follow:
        summary = reads.dumps(await overview(redis(request), keys(request)))
        sent += f"event: overview\ndata: {summary}\n\n".encode()
    return sent


async def _stream(
    request: web.Request, scopes: list[str], follow: bool, limit: int | None
) -> web.StreamResponse:
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
                chunk = await _round(request, scopes, follow)
            await response.write(chunk)
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
