"""What every benchmark child process shares: the start handshake, job timing, the result line.

A child builds what it needs, prints ``ready``, waits for ``go`` on stdin (so the driver can
take its Redis counters and start several children at once, with imports and start-up out of
the measurement), runs, and prints one ``RESULT {json}`` line. Times are ``time.monotonic()``,
one clock for every process of the machine, so the driver can combine several children.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import resource
import sys
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

READY = "ready"
GO = "go"
RESULT = "RESULT "
QUEUE = "bench"
"""The queue name every system uses."""


class Timing:
    """When the jobs of a child started and ended: the throughput window is from the first
    start to the last end, so start-up and a worker's way of noticing an empty queue are out."""

    __slots__ = ("count", "cpu_first", "ended", "first", "last", "starts", "target")

    def __init__(self, keep_starts: bool = False) -> None:
        self.count = 0  # jobs ended
        self.cpu_first = 0.0
        self.first = math.inf
        self.last = 0.0
        self.starts: list[float] | None = [] if keep_starts else None
        self.target = 0
        self.ended: asyncio.Event | None = None

    def start(self) -> None:
        now = time.monotonic()
        if self.first == math.inf:
            self.first = now
            self.cpu_first = time.process_time()
        if self.starts is not None:
            self.starts.append(now)

    def end(self) -> None:
        self.count += 1
        self.last = time.monotonic()
        if self.ended is not None and self.count >= self.target:
            self.ended.set()

    def wait_for(self, count: int) -> asyncio.Event:
        """An event set once ``count`` jobs have ended."""
        self.target = count
        self.ended = asyncio.Event()
        if self.count >= count:
            self.ended.set()
        return self.ended

    def result(self) -> dict[str, Any]:
        """Jobs done, first start, last end, and the CPU seconds used since the first start."""
        cpu = time.process_time() - self.cpu_first if self.count else 0.0
        return {"jobs": self.count, "first": self.first, "last": self.last, "cpu_s": cpu}


def parser(description: str) -> argparse.ArgumentParser:
    """Arguments every child takes."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--jobs", type=int, default=20_000, help="jobs expected")
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--http", default=None, help="base URL: each job GETs a path of it")
    parser.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio")
    parser.add_argument("--timeout", type=float, default=120.0, help="give up after this")
    return parser


async def handshake() -> None:
    """Say ``ready``, then wait for the driver's ``go`` (read on the loop: no thread is left
    behind to show up in a profile)."""
    print(READY, flush=True)
    stdin = asyncio.StreamReader()
    loop = asyncio.get_running_loop()
    transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin
    )
    try:
        line = await stdin.readline()
    finally:
        transport.close()
    if line.decode().strip() != GO:
        raise SystemExit("the driver went away before saying go")


def peak_rss_kb() -> int:
    """This process's peak RSS in KiB: ``VmHWM``, the high-water mark of its own memory map.

    Not ``ru_maxrss``: Linux carries that across ``exec`` from the forked copy of the parent,
    so a child of a driver that just built 100,000 jobs would report the driver's size.
    """
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS


def report(result: dict[str, Any]) -> None:
    """Print the result line, with this process's peak RSS."""
    print(RESULT + json.dumps({**result, "maxrss_kb": peak_rss_kb()}), flush=True)


def main(
    args: argparse.Namespace,
    work: Callable[[], Coroutine[Any, Any, dict[str, Any]]],
    run: Callable[[Coroutine[Any, Any, dict[str, Any]]], dict[str, Any]] | None = None,
) -> None:
    """Run ``work`` (handshake, measure, return the result) bounded in time, on ``run`` if
    given (``pace.run``), else on the loop ``--loop`` names; report what it returned."""

    async def bounded() -> dict[str, Any]:
        async with asyncio.timeout(args.timeout):
            return await work()

    if run is None:
        factory = None
        if args.loop == "uvloop":
            import uvloop

            factory = uvloop.new_event_loop
        with asyncio.Runner(loop_factory=factory) as runner:
            report(runner.run(bounded()))
    else:
        report(run(bounded()))


def http_session(base_url: str, concurrency: int) -> Any:
    """One shared aiohttp session for a child's jobs, as many connections as jobs in flight."""
    import aiohttp

    connector = aiohttp.TCPConnector(limit=concurrency)
    return aiohttp.ClientSession(
        base_url, connector=connector, timeout=aiohttp.ClientTimeout(total=30)
    )
