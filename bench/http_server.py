"""The local HTTP server of the I/O-bound row: answers every GET after ``--delay`` seconds.

It listens on 127.0.0.1 (a free port, printed as ``port N``), runs on uvloop, and stops when
its stdin closes (the driver ended) or after ``--lifetime`` seconds, whichever comes first.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys

import uvloop
from aiohttp import web


async def serve(delay: float, lifetime: float) -> None:
    async def answer(request: web.Request) -> web.Response:
        await asyncio.sleep(delay)
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/{path:.*}", answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        print(f"port {runner.addresses[0][1]}", flush=True)
        stdin = asyncio.StreamReader()
        loop = asyncio.get_running_loop()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(lifetime):
                await stdin.read()  # returns at EOF
    finally:
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delay", type=float, default=0.005)
    parser.add_argument("--lifetime", type=float, default=900.0)
    args = parser.parse_args()
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(serve(args.delay, args.lifetime))


if __name__ == "__main__":
    main()
