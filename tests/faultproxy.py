"""A TCP proxy on 127.0.0.1 between a client and Redis that can misbehave on demand.

Example::

    async with FaultProxy(upstream_unix_socket) as proxy:
        worker = pace.Worker(["q"], redis_url=proxy.url)
        proxy.blackhole()       # bytes either way vanish; connections stay open (half-open)
        proxy.heal()            # bytes flow again (what vanished is gone)
        await proxy.drop()      # close every connection now
"""

from __future__ import annotations

import asyncio
import contextlib
from types import TracebackType
from typing import Self

__all__ = ["FaultProxy"]


class FaultProxy:
    """Forwards 127.0.0.1:<port> to a unix socket (the embedded Redis)."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.port = 0
        self.passing = True
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>/0`` through the proxy."""
        return f"redis://127.0.0.1:{self.port}/0"

    def blackhole(self) -> None:
        """From now on, bytes in either direction are read and thrown away."""
        self.passing = False

    def heal(self) -> None:
        """Bytes flow again."""
        self.passing = True

    async def drop(self) -> None:
        """Close every open connection (new ones are accepted)."""
        for writer in list(self._writers):
            writer.close()
        for task in list(self._pipes):
            task.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._server is not None
        self._server.close()
        await self.drop()
        await self._server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_unix_connection(self.upstream)
        self._writers |= {writer, up_writer}
        pipes = [
            asyncio.create_task(self._pipe(reader, up_writer)),
            asyncio.create_task(self._pipe(up_reader, writer)),
        ]
        self._pipes.update(pipes)
        await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
        for task in pipes:
            task.cancel()
        for one in (writer, up_writer):
            one.close()
            self._writers.discard(one)
        self._pipes.difference_update(pipes)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.CancelledError):
            while data := await reader.read(65536):
                if self.passing:
                    writer.write(data)
                    await writer.drain()
