"""A TCP proxy on 127.0.0.1 between a client and Redis that can misbehave on demand.

Example::

    async with FaultProxy(upstream_unix_socket) as proxy:
        worker = pace.Worker(["q"], redis_url=proxy.url)
        proxy.blackhole()       # bytes either way vanish; connections stay open (half-open)
        proxy.heal()            # bytes flow again (what vanished is gone)
        await proxy.drop()      # close every connection now
        proxy.hold()            # bytes toward Redis wait in the network (a partition)...
        await proxy.release()   # ...and reach it now, even from a client gone meanwhile
        proxy.lose_reply(b"EVALSHA")  # the next request with these bytes runs, unanswered
"""

from __future__ import annotations

import asyncio
import contextlib
from types import TracebackType
from typing import Self

__all__ = ["FaultProxy"]


class _Link:
    """One client's connection through the proxy: the bytes held toward Redis, and whether
    Redis answered since they were delivered."""

    def __init__(self, upstream: asyncio.StreamWriter) -> None:
        self.upstream = upstream
        self.losing = False  # the reply on its way is thrown away
        self.held: bytearray | None = None
        self.delivered = asyncio.Event()
        self.answered = asyncio.Event()

    def deliver(self) -> None:
        if self.held is not None:
            self.upstream.write(self.held)
            self.held = None
        self.delivered.set()


class FaultProxy:
    """Forwards 127.0.0.1:<port> to a unix socket (the embedded Redis)."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.port = 0
        self.passing = True
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._holding: list[_Link] | None = None  # the links holding bytes, while holding
        self._lose: tuple[bytes, bool] | None = None
        self._lose_close = False

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

    def lose_reply(self, marker: bytes, close: bool = False) -> None:
        """The next request whose bytes contain ``marker`` reaches Redis, and its reply is
        thrown away; then the connection is closed if ``close``, else it stays open, silent
        (the client's read times out)."""
        self._lose = (marker, close)

    def hold(self) -> None:
        """From now on, bytes toward Redis wait (as in a partition) until :meth:`release`;
        connections stay open, and new ones are accepted."""
        self._holding = []

    async def release(self) -> None:
        """Deliver the bytes held, each connection's in order (their client may be gone), and
        return once Redis has answered them all: what they asked has run."""
        links, self._holding = self._holding or [], None
        for link in links:  # all written before any new byte: the order holds
            link.deliver()
        for link in links:
            await asyncio.wait_for(link.answered.wait(), timeout=10)

    async def drop(self) -> None:
        """Close every open connection (new ones are accepted); bytes held are lost."""
        for link in self._holding or []:
            link.delivered.set()
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
        link = _Link(up_writer)
        pipes = [
            asyncio.create_task(self._pipe(reader, up_writer, link)),
            asyncio.create_task(self._pipe(up_reader, writer, link)),
        ]
        self._pipes.update(pipes)
        await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
        if link.held is not None:  # its client went away, its bytes are still on their way
            await link.delivered.wait()
            await asyncio.wait(pipes, timeout=10)  # Redis answers (to nobody)
        for task in pipes:
            task.cancel()
        for one in (writer, up_writer):
            one.close()
            self._writers.discard(one)
        self._pipes.difference_update(pipes)

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, link: _Link
    ) -> None:
        toward_redis = writer is link.upstream
        with contextlib.suppress(ConnectionError, asyncio.CancelledError):
            while data := await reader.read(65536):
                if not toward_redis:
                    link.answered.set()
                    if link.losing:
                        if self._lose_close:
                            break
                        continue
                elif self._lose is not None and self._lose[0] in data:
                    link.losing, self._lose_close = True, self._lose[1]
                    self._lose = None
                elif self._holding is not None:
                    if link.held is None:
                        link.held = bytearray()
                        link.answered.clear()
                        self._holding.append(link)
                    link.held += data
                    continue
                if self.passing:
                    writer.write(data)
                    await writer.drain()
