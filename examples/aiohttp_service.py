"""A pace Worker inside an aiohttp web service: it starts and stops with the application.

Routes:

- ``POST /jobs`` with ``{"class": "Greet", "args": ["world"]}``: enqueue on queue ``web``; 202.
- ``GET /status``: ``{"paused": false, "stopping": false, "processed": 3, "queued": 0}``.
- ``POST /pause``, ``POST /resume``: pause or resume the worker; answer the status.

Run it (an embedded Redis unless ``REDIS_URL`` is set; Ctrl-C stops it)::

    python examples/aiohttp_service.py
    curl -X POST localhost:8080/jobs -d '{"class": "Greet", "args": ["world"]}'
    curl localhost:8080/status

Tests build the app with :func:`create_app` and serve it themselves.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import suppress
from typing import Any

from aiohttp import web

import pace
from pace import embedded

logger = logging.getLogger("aiohttp_service")

QUEUE = "web"


class Stats:
    """Counts kept by the job handler."""

    def __init__(self) -> None:
        self.processed = 0


REDIS_URL = web.AppKey("redis_url", str)
STATS = web.AppKey("stats", Stats)
CLIENT = web.AppKey("client", pace.Client)
WORKER = web.AppKey("worker", pace.Worker)
WORKER_TASK: web.AppKey[asyncio.Task[None]] = web.AppKey("worker_task")

routes = web.RouteTableDef()


def create_app(redis_url: str) -> web.Application:
    """The web application; its worker runs from startup to cleanup."""
    app = web.Application()
    app[REDIS_URL] = redis_url
    app[STATS] = Stats()
    app.cleanup_ctx.append(pace_worker)
    app.add_routes(routes)
    return app


async def pace_worker(app: web.Application) -> AsyncIterator[None]:
    """Start the client and the worker with the app; on cleanup, stop the worker (jobs in
    flight get 10 s to finish, the rest go back to the queue), then close the connection."""
    stats = app[STATS]

    async def handler(job: pace.Job) -> None:
        logger.info("%s%s", job.class_name, tuple(job.args))
        stats.processed += 1

    async with pace.Client(app[REDIS_URL]) as client:
        worker = pace.Worker(
            [QUEUE], concurrency=20, redis=await client.redis(), handle_signals=False
        )
        app[CLIENT] = client
        app[WORKER] = worker
        task = app[WORKER_TASK] = asyncio.create_task(worker.start(handler), name="pace-worker")
        try:
            yield
        finally:
            await worker.stop(timeout=10)
            await task  # raises what the worker raised, if it failed


async def status(app: web.Application) -> dict[str, Any]:
    """The worker's state, the jobs it processed and the jobs waiting in its queue."""
    worker, client = app[WORKER], app[CLIENT]
    redis = await client.redis()
    return {
        "paused": worker.paused,
        "stopping": worker.stopping,
        "processed": app[STATS].processed,
        "queued": await redis.llen(client.keys.queue(QUEUE)),
    }


@routes.post("/jobs")
async def post_job(request: web.Request) -> web.Response:
    try:
        body = await request.json() if request.can_read_body else {}
    except ValueError:
        raise web.HTTPBadRequest(text="the body must be JSON\n") from None
    class_name = body.get("class", "Greet") if isinstance(body, dict) else None
    args = body.get("args", []) if isinstance(body, dict) else None
    if not isinstance(class_name, str) or not class_name or not isinstance(args, list):
        raise web.HTTPBadRequest(text='expected {"class": "Name", "args": [...]}\n')
    job_id = await request.app[CLIENT].enqueue(QUEUE, class_name, *args)
    return web.json_response({"id": job_id, "queue": QUEUE}, status=202)


@routes.get("/status")
async def get_status(request: web.Request) -> web.Response:
    return web.json_response(await status(request.app))


@routes.post("/pause")
async def post_pause(request: web.Request) -> web.Response:
    request.app[WORKER].pause()
    return web.json_response(await status(request.app))


@routes.post("/resume")
async def post_resume(request: web.Request) -> web.Response:
    request.app[WORKER].resume()
    return web.json_response(await status(request.app))


async def serve(redis_url: str, port: int, seconds: float | None) -> None:
    """Serve on 127.0.0.1:``port`` until SIGINT/SIGTERM or ``seconds`` have passed."""
    runner = web.AppRunner(create_app(redis_url))
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", port).start()
        print(f"serving on http://127.0.0.1:{port} (Ctrl-C stops)", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        with suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await stop.wait()
    finally:
        print("stopping", flush=True)
        await runner.cleanup()


def cli(argv: Sequence[str] | None = None) -> int:
    """Parse the flags, bring up Redis if needed, serve on uvloop."""
    parser = argparse.ArgumentParser(description="A web service running a pace Worker.")
    parser.add_argument("--port", type=int, default=8080, help="port on 127.0.0.1 (8080)")
    parser.add_argument("--seconds", type=float, help="stop after this long (default: never)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    with embedded.redis_url_or_temporary() as redis_url:
        pace.run(serve(redis_url, args.port, args.seconds))
    return 0


if __name__ == "__main__":
    sys.exit(cli())
