"""Bare loops with no bookkeeping at all: the yardsticks pace is measured against.

Modes (the Resque jobs pace's Client enqueued, decoded with ``json.loads``, a task per job, at
most ``--concurrency`` in flight):
- ``blpop``: one ``BLPOP`` per job.
- ``batch``: ``LPOP queue 100`` (fewer when fewer slots are free).
- ``http``: no queue at all: ``--jobs`` GETs of ``--http`` through one aiohttp session.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from redis.asyncio import Redis

from bench import common

BATCH = 100
BLPOP_TIMEOUT = 0.1  # seconds: an empty queue for this long means drained


def parse() -> argparse.Namespace:
    parser = common.parser(__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=["blpop", "batch", "http"], required=True)
    return parser.parse_args()


async def blpop(redis: Redis, key: str, timing: common.Timing, concurrency: int) -> None:
    slots = asyncio.Semaphore(concurrency)
    tasks: set[asyncio.Task[None]] = set()

    async def run(payload: Any) -> None:
        try:
            json.loads(payload)
            timing.start()
            timing.end()
        finally:
            slots.release()

    while True:
        await slots.acquire()
        reply = await redis.blpop([key], timeout=BLPOP_TIMEOUT)
        if reply is None:
            break
        task = asyncio.create_task(run(reply[1]))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.gather(*tasks)


async def batch(redis: Redis, key: str, timing: common.Timing, concurrency: int) -> None:
    running = 0
    room = asyncio.Event()
    tasks: set[asyncio.Task[None]] = set()

    async def run(payload: Any) -> None:
        nonlocal running
        try:
            json.loads(payload)
            timing.start()
            timing.end()
        finally:
            running -= 1
            room.set()

    while True:
        free = concurrency - running
        payloads = await redis.lpop(key, min(BATCH, free)) if free else None
        if not payloads and not running and free:
            break  # the queue is empty and nothing is in flight
        for payload in payloads or ():
            running += 1
            task = asyncio.create_task(run(payload))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if not payloads or running == concurrency:
            room.clear()
            await room.wait()


async def http(base_url: str, timing: common.Timing, jobs: int, concurrency: int) -> None:
    paths = iter(range(jobs))
    async with common.http_session(base_url, concurrency) as session:

        async def client() -> None:
            for i in paths:  # shared by every client: each path is fetched once
                timing.start()
                async with session.get(f"/{i}") as response:
                    await response.read()
                timing.end()

        await asyncio.gather(*(client() for _ in range(concurrency)))


async def work(args: argparse.Namespace) -> dict[str, Any]:
    timing = common.Timing()
    if args.mode == "http":
        await common.handshake()
        await http(args.http, timing, args.jobs, args.concurrency)
        return timing.result()
    redis = Redis.from_url(args.redis_url)
    await redis.ping()
    key = f"resque:queue:{common.QUEUE}"
    await common.handshake()
    try:
        loop = blpop if args.mode == "blpop" else batch
        await loop(redis, key, timing, args.concurrency)
    finally:
        await redis.aclose()
    return timing.result()


if __name__ == "__main__":
    arguments = parse()
    common.main(arguments, lambda: work(arguments))
