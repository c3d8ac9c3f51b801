"""Pace - A Resque Reactor: one GET per Resque job, many in flight, at a steady rate.

It starts an embedded Redis in a temporary directory (unless ``REDIS_URL`` is set) and a small
HTTP server on 127.0.0.1, enqueues ``--jobs`` jobs of class ``Fetch`` whose args are URL paths,
and runs a burst worker (50 at once, ``--rate`` jobs/s) that fetches each path through one
shared ``aiohttp.ClientSession``. It prints its progress and a summary, then stops everything.

Run it::

    python examples/http_fetch.py --jobs 500 --rate 200
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager, suppress

import aiohttp
from aiohttp import web

import pace
from pace import embedded

QUEUE = "http"
CONCURRENCY = 50
PROGRESS_EVERY = 0.5  # seconds between progress lines
SERVER_DELAY = 0.005  # seconds the local server takes to answer


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Fetch URLs from Resque jobs.")
    parser.add_argument("--jobs", type=int, default=200, help="jobs to enqueue (default 200)")
    parser.add_argument("--rate", type=float, default=100, help="jobs per second (default 100)")
    args = parser.parse_args(argv)
    if args.jobs < 1 or args.rate <= 0:
        parser.error("--jobs and --rate must be positive")
    return args


@asynccontextmanager
async def http_server() -> AsyncIterator[str]:
    """A local server that answers any GET after a few ms; yields its base URL."""

    async def answer(request: web.Request) -> web.Response:
        await asyncio.sleep(SERVER_DELAY)
        return web.Response(text=f"fetched {request.path}\n")

    app = web.Application()
    app.router.add_get("/{path:.*}", answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)  # port 0: the OS picks a free one
        await site.start()
        host, port = runner.addresses[0][:2]
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


class Stats:
    """What the handler saw, for the progress lines and the summary."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.done = 0
        self.ok = 0

    def line(self) -> str:
        return f"{self.done}/{self.total} jobs done, {self.ok} OK"


async def report(stats: Stats, started: float) -> None:
    """Print a progress line every PROGRESS_EVERY seconds until cancelled."""
    while True:
        await asyncio.sleep(PROGRESS_EVERY)
        print(f"  {time.monotonic() - started:5.1f}s  {stats.line()}", flush=True)


async def main(redis_url: str, jobs: int, rate: float) -> int:
    """Serve, enqueue, fetch every job's path once; return the exit status."""
    stats = Stats(jobs)
    async with http_server() as base_url:
        async with pace.Client(redis_url) as client:
            await client.enqueue_many(QUEUE, "Fetch", ([f"/items/{i}"] for i in range(jobs)))
        print(f"enqueued {jobs} Fetch jobs; fetching from {base_url} at {rate:g} jobs/s")

        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(base_url, timeout=timeout) as session:

            async def fetch(job: pace.Job) -> None:
                (path,) = job.args
                try:
                    async with session.get(path) as response:
                        await response.read()
                        response.raise_for_status()  # a failed job, in resque:failed
                        stats.ok += 1
                finally:
                    stats.done += 1

            worker = pace.Worker(
                [QUEUE],
                concurrency=CONCURRENCY,
                jobs_per_second=rate,
                redis_url=redis_url,
                burst=True,  # stop once the queue is empty and nothing is in flight
            )
            started = time.monotonic()
            reporter = asyncio.create_task(report(stats, started))
            try:
                await worker.start({"Fetch": fetch})
            finally:
                reporter.cancel()
                with suppress(asyncio.CancelledError):
                    await reporter
            seconds = time.monotonic() - started

    print(
        f"done: {stats.done} jobs in {seconds:.2f} s, {stats.done / seconds:.1f} jobs/s, "
        f"{stats.ok} responses OK"
    )
    return 0 if stats.ok == stats.done == jobs else 1


def cli(argv: Sequence[str] | None = None) -> int:
    """Parse the flags, bring up Redis if needed, run :func:`main` on uvloop."""
    args = parse_args(argv)
    with embedded.redis_url_or_temporary() as redis_url:
        print(f"Redis at {redis_url}")
        return pace.run(main(redis_url, args.jobs, args.rate))


if __name__ == "__main__":
    sys.exit(cli())
