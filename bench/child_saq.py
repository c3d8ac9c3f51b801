"""saq under test, with its documented API: ``saq.Worker(queue, concurrency=..., burst=True)``.

Jobs are enqueued by the driver with ``Queue.enqueue("job", i=i)``. In burst mode saq needs a
positive ``dequeue_timeout``: each of its ``concurrency`` dequeue loops ends when a blocking
dequeue times out on the empty queue (after the last job, so outside the measured window).
"""

from __future__ import annotations

import argparse
from typing import Any

from saq import Queue, Worker

from bench import common

DEQUEUE_TIMEOUT = 0.2


async def work(args: argparse.Namespace) -> dict[str, Any]:
    timing = common.Timing()
    session = common.http_session(args.http, args.concurrency) if args.http else None

    async def noop(ctx: dict[str, Any], *, i: int) -> None:
        timing.start()
        timing.end()

    async def fetch(ctx: dict[str, Any], *, i: int) -> None:
        assert session is not None
        timing.start()
        async with session.get(f"/{i}") as response:
            await response.read()
        timing.end()

    queue = Queue.from_url(args.redis_url, name=common.QUEUE)
    worker = Worker(
        queue,
        functions=[("job", fetch if session is not None else noop)],
        concurrency=args.concurrency,
        burst=True,
        dequeue_timeout=DEQUEUE_TIMEOUT,
    )
    await queue.connect()
    await common.handshake()
    try:
        await worker.start()
    finally:
        await queue.disconnect()
        if session is not None:
            await session.close()
    return timing.result()


if __name__ == "__main__":
    arguments = common.parser(__doc__.splitlines()[0]).parse_args()
    common.main(arguments, lambda: work(arguments))
