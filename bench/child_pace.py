"""pace under test: ``pace.Worker`` as shipped (reliable fetch, stats), run with ``pace.run``.

Modes:
- ``drain``: ``burst=True``, a no-op handler (or an HTTP GET with ``--http``); until the queue
  is empty.
- ``limit``: ``jobs_per_second=--rate`` for ``--duration`` seconds from the first job start;
  reports the achieved rate and the largest count of starts in any 1 s window.
- ``fleet``: no limit of its own (the driver set the queue's fleet-wide one, pace.Limits) for
  ``--duration`` seconds from the first job start; reports every start, for the driver to put
  the fleet's together.
- ``pause``: under load, ``--pauses`` times: ``pause()``, wait, ``resume()``, wait; reports how
  long after ``pause()`` returned jobs still started, and how long ``resume()`` took to bring
  the first.
- ``stop-after``: stops once ``--stop-after`` jobs are done (for the RSS with a long queue).
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import statistics
import time
from collections.abc import Callable, Coroutine
from typing import Any

import pace
from bench import common

PAUSE_HOLD = 0.3  # seconds a pause lasts
RUN_BETWEEN = 0.2  # seconds of work between pauses
WARMUP_JOBS = 2_000  # jobs done before the first pause


def parse() -> argparse.Namespace:
    parser = common.parser(__doc__.splitlines()[0])
    parser.add_argument(
        "--mode", choices=["drain", "limit", "fleet", "pause", "stop-after"], default="drain"
    )
    parser.add_argument("--rate", type=float, default=500.0, help="jobs_per_second (limit)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds (limit)")
    parser.add_argument("--pauses", type=int, default=5, help="pause/resume cycles (pause)")
    parser.add_argument("--stop-after", type=int, default=20_000, help="jobs (stop-after)")
    parser.add_argument("--queues", default=common.QUEUE, help="queues, highest first: a,b")
    return parser.parse_args()


async def supervise(
    worker: pace.Worker,
    handler: pace.Handler,
    control: Callable[[], Coroutine[Any, Any, dict[str, Any]]],
) -> dict[str, Any]:
    """Run the worker and ``control`` beside it; stop the worker when ``control`` is done."""
    running = asyncio.create_task(worker.start(handler))
    controller = asyncio.create_task(control())
    await asyncio.wait({running, controller}, return_when=asyncio.FIRST_COMPLETED)
    if running.done():
        controller.cancel()
        running.result()  # raises what start() raised
        raise RuntimeError("the worker stopped before the measurement was done")
    await worker.stop(timeout=5)
    await running
    return controller.result()


async def limit(timing: common.Timing, args: argparse.Namespace) -> dict[str, Any]:
    await timing.wait_for(1).wait()
    await asyncio.sleep(args.duration - (time.monotonic() - timing.first))
    starts = timing.starts or []
    end = timing.first + args.duration
    within = bisect.bisect_left(starts, end)
    after_first_second = within - bisect.bisect_left(starts, timing.first + 1.0)
    busiest = max(bisect.bisect_left(starts, s + 1.0) - i for i, s in enumerate(starts))
    return {
        **timing.result(),
        "achieved": within / args.duration,
        "steady": after_first_second / (args.duration - 1.0),
        "max_window": busiest,
    }


async def fleet(timing: common.Timing, args: argparse.Namespace) -> dict[str, Any]:
    await timing.wait_for(1).wait()
    await asyncio.sleep(args.duration - (time.monotonic() - timing.first))
    return {**timing.result(), "starts": timing.starts}


async def pause(
    worker: pace.Worker, timing: common.Timing, args: argparse.Namespace
) -> dict[str, Any]:
    starts = timing.starts if timing.starts is not None else []
    await timing.wait_for(WARMUP_JOBS).wait()
    after_pause: list[float] = []  # last start after pause() returned, in seconds (0: none)
    late_starts: list[int] = []
    after_resume: list[float] = []  # first start after resume() returned
    for _ in range(args.pauses):
        worker.pause()
        paused_at = time.monotonic()
        seen = len(starts)
        await asyncio.sleep(PAUSE_HOLD)
        late = starts[seen:]
        after_pause.append(max(late) - paused_at if late else 0.0)
        late_starts.append(len(late))
        worker.resume()
        resumed_at = time.monotonic()
        seen = len(starts)
        async with asyncio.timeout(5):
            await timing.wait_for(timing.count + 1).wait()
        after_resume.append(starts[seen] - resumed_at)
        await asyncio.sleep(RUN_BETWEEN)
    return {
        **timing.result(),
        "pause_latency_max": max(after_pause),
        "pause_latency_median": statistics.median(after_pause),
        "late_starts": late_starts,
        "resume_latency_max": max(after_resume),
        "resume_latency_median": statistics.median(after_resume),
    }


async def work(args: argparse.Namespace) -> dict[str, Any]:
    keep = args.mode in ("limit", "fleet", "pause")
    timing = common.Timing(keep_starts=keep)
    session = common.http_session(args.http, args.concurrency) if args.http else None

    async def noop(job: pace.Job) -> None:
        timing.start()
        timing.end()

    async def fetch(job: pace.Job) -> None:
        assert session is not None
        timing.start()
        async with session.get(f"/{job.args[0]}") as response:
            await response.read()
        timing.end()

    worker = pace.Worker(
        args.queues.split(","),
        redis_url=args.redis_url,
        concurrency=args.concurrency,
        burst=args.mode == "drain",
        jobs_per_second=args.rate if args.mode == "limit" else None,
    )
    handler = fetch if session is not None else noop
    await common.handshake()
    try:
        if args.mode == "drain":
            await worker.start(handler)
            return timing.result()
        if args.mode == "limit":
            return await supervise(worker, handler, lambda: limit(timing, args))
        if args.mode == "fleet":
            return await supervise(worker, handler, lambda: fleet(timing, args))
        if args.mode == "pause":
            return await supervise(worker, handler, lambda: pause(worker, timing, args))

        async def stop_after() -> dict[str, Any]:
            await timing.wait_for(args.stop_after).wait()
            return timing.result()

        return await supervise(worker, handler, stop_after)
    finally:
        if session is not None:
            await session.close()


if __name__ == "__main__":
    arguments = parse()
    common.main(arguments, lambda: work(arguments), run=pace.run)
