"""A job that reports its progress, and live progress bars of its scope from a second task.

It starts an embedded Redis (unless REDIS_URL is set), enqueues two import jobs for user 1,
runs a worker whose handler ticks a :class:`pace.Progress` per record, and meanwhile shows the
scope ``user:1`` as progress bars with an ETA (what ``pace-worker progress user:1 --watch``
shows), until both jobs are over.
"""

from __future__ import annotations

import asyncio

import pace
from pace import embedded
from pace.cli.progress_view import show

SCOPE = ("user", 1)


async def import_rows(job: pace.Job) -> None:
    """Import ``rows`` records, ticking the progress of scope ``user:1`` after each."""
    rows = job.args[0]
    async with job.progress(SCOPE, total=rows, interval=0.2) as progress:
        for _ in range(rows):
            await asyncio.sleep(0.02)  # the expensive part of each record
            await progress.tick()


async def main(redis_url: str) -> None:
    async with pace.Client(redis_url) as client:
        await client.enqueue("imports", "ImportRows", 60)
        await client.enqueue("imports", "ImportRows", 120)
    worker = pace.Worker(["imports"], redis_url=redis_url, concurrency=2, burst=True)
    running = asyncio.create_task(worker.start({"ImportRows": import_rows}))
    await asyncio.sleep(0.3)  # let both jobs declare their progress
    await show(SCOPE, redis_url, watch=True)
    await running


if __name__ == "__main__":
    with embedded.redis_url_or_temporary() as url:
        pace.run(main(url))
