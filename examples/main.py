"""`make run`: an embedded Redis, a batch of jobs, a worker that runs them, visibly.

It starts redis-server from the `embedded` extra in a temporary directory (no server needed),
enqueues jobs of three classes, runs a throttled worker in burst mode (it stops once the queues
are empty) and prints its progress, the stats and one failure record as Resque stores it.
Set REDIS_URL to use your own Redis instead.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import random
import time

import pace
from pace import embedded


async def resize(job: pace.Job) -> None:
    """Pretend to resize an image: a little I/O wait."""
    await asyncio.sleep(random.uniform(0.005, 0.02))


async def send_mail(job: pace.Job) -> None:
    """Pretend to send a mail; one address in twenty bounces."""
    await asyncio.sleep(0.01)
    if job.args[0] % 20 == 0:
        raise ConnectionRefusedError(f"mail server refused user{job.args[0]}@example.com")


async def report(job: pace.Job) -> None:
    """A job on the high-priority queue: it runs before the others."""
    await asyncio.sleep(0.005)


HANDLERS = {"Resize": resize, "SendMail": send_mail, "Report": report}


async def show_progress(worker: pace.Worker, client: pace.Client, total: int) -> None:
    """Print a progress line every half second until the worker stops."""
    started = time.monotonic()
    while True:
        info = await client.info()
        done = info.processed_total
        rate = done / max(time.monotonic() - started, 1e-9)
        bar = "#" * (30 * done // total)
        print(
            f"  [{bar:<30}] {done:>4}/{total} done, {info.failed_total} failed, "
            f"{sum(info.queues.values()):>4} queued, {rate:6.0f} jobs/s",
            flush=True,
        )
        if worker.stopping:
            return
        await asyncio.sleep(0.5)


async def main(redis_url: str, jobs: int, rate: float) -> None:
    async with pace.Client(redis_url) as client:
        await (await client.redis()).flushdb()
        per_class = jobs // 3
        await client.enqueue_many("normal", "Resize", [[i, "800x600"] for i in range(per_class)])
        await client.enqueue_many("normal", "SendMail", [[i] for i in range(per_class)])
        await client.enqueue_many("high", "Report", [[i] for i in range(jobs - 2 * per_class)])
        total = jobs
        print(
            f"enqueued {total} jobs on 'high' and 'normal'; starting a worker "
            f"(concurrency 50, at most {rate:g} jobs/s)"
        )

        worker = pace.Worker(
            ["high", "normal"], redis_url=redis_url, concurrency=50, jobs_per_second=rate,
            burst=True,
        )  # fmt: skip
        worker.add_hook("start", lambda w: print(f"worker {w.id} registered"))
        progress = asyncio.create_task(show_progress(worker, client, total))
        await worker.start(HANDLERS)
        await progress

        info = await client.info()
        print(f"done: {info.processed_total} processed, {info.failed_total} failed")
        (first_failure,) = await (await client.redis()).lrange(client.keys.failed, 0, 0)
        print("a failure record, as Resque and resque-web read it:")
        print(json.dumps(json.loads(first_failure), indent=2))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=600)
    parser.add_argument("--rate", type=float, default=300.0, help="jobs per second")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="  %(levelname)s %(message)s")
    with embedded.redis_url_or_temporary() as url:
        print(f"Redis at {url}")
        pace.run(main(url, args.jobs, args.rate))
