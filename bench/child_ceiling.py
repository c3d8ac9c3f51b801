"""The ceiling: how fast one Python process moves items out of a Redis list (redis.asyncio,
``LPOP key --count``, ``--pipeline`` of them per round trip), nothing done with the items."""

from __future__ import annotations

import argparse
import time
from typing import Any

from redis.asyncio import Redis

from bench import common

KEY = "bench:ceiling"


def parse() -> argparse.Namespace:
    parser = common.parser(__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100, help="items per LPOP")
    parser.add_argument("--pipeline", type=int, default=1, help="LPOPs per round trip")
    return parser.parse_args()


async def work(args: argparse.Namespace) -> dict[str, Any]:
    redis = Redis.from_url(args.redis_url)
    await redis.ping()
    await common.handshake()
    moved = trips = 0
    try:
        first = time.monotonic()
        while True:
            if args.pipeline == 1:
                batches = [await redis.lpop(KEY, args.count)]
            else:
                async with redis.pipeline(transaction=False) as pipe:
                    for _ in range(args.pipeline):
                        pipe.lpop(KEY, args.count)
                    batches = await pipe.execute()
            trips += 1
            got = sum(len(items) for items in batches if items)
            moved += got
            if got < args.count * args.pipeline:
                break
        last = time.monotonic()
    finally:
        await redis.aclose()
    return {"items": moved, "round_trips": trips, "first": first, "last": last}


if __name__ == "__main__":
    arguments = parse()
    common.main(arguments, lambda: work(arguments))
