"""arq under test, with its documented API: ``arq.worker.Worker(max_jobs=..., burst=True)``.

Jobs are enqueued by the driver with ``ArqRedis.enqueue_job("job", i)``. arq runs on the loop
``--loop`` names (asyncio by default, as arq's own CLI does).
"""

from __future__ import annotations

import argparse
from typing import Any

from arq.connections import RedisSettings
from arq.worker import Worker, func

from bench import common


def parse() -> argparse.Namespace:
    parser = common.parser(__doc__.splitlines()[0])
    parser.add_argument("--poll-delay", type=float, default=0.5, help="arq's poll_delay (0.5)")
    return parser.parse_args()


async def work(args: argparse.Namespace) -> dict[str, Any]:
    timing = common.Timing()
    session = common.http_session(args.http, args.concurrency) if args.http else None

    async def noop(ctx: dict[str, Any], i: int) -> None:
        timing.start()
        timing.end()

    async def fetch(ctx: dict[str, Any], i: int) -> None:
        assert session is not None
        timing.start()
        async with session.get(f"/{i}") as response:
            await response.read()
        timing.end()

    worker = Worker(
        functions=[func(fetch if session is not None else noop, name="job")],
        redis_settings=RedisSettings.from_dsn(args.redis_url),
        max_jobs=args.concurrency,
        burst=True,
        poll_delay=args.poll_delay,
        handle_signals=False,
    )
    await common.handshake()
    try:
        await worker.async_run()
    finally:
        await worker.close()
        if session is not None:
            await session.close()
    return {**timing.result(), "complete": worker.jobs_complete, "failed": worker.jobs_failed}


if __name__ == "__main__":
    arguments = parse()
    common.main(arguments, lambda: work(arguments))
