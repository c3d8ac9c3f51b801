"""Finding and opening the Redis connection, and the base of objects that open one.

The URL is looked up in this order: an explicit argument, the module attribute
``pace.redis_url``, the ``REDIS_URL`` environment variable, else ``redis://127.0.0.1:6379/0``.
``rediss://`` (TLS), passwords (``redis://:secret@host``) and unix sockets
(``unix:///path/redis.sock?db=0``) all work through the URL. ``redis+cluster://host:port``
(or ``rediss+cluster://``) opens a Redis Cluster client (redis-py's ``RedisCluster``) on
any node of the cluster; pace's clients and workers use it wherever they take a URL.

Every connection has pace's own timeouts (:data:`TIMEOUTS`), whatever redis-py's defaults
are: a connection that went half-open (the peer gone without a word) fails a call within the
read timeout instead of hanging a loop forever; TCP keepalive is on, and a connection idle for
a while is checked with a ``PING`` before it is used. The URL's query string overrides any of
them (``redis://host/0?socket_timeout=120`` for payloads of hundreds of MB).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Generator
from types import TracebackType
from typing import Any, Self, cast
from urllib.parse import urlsplit, urlunsplit

from redis import exceptions as redis_errors
from redis.asyncio import Redis, RedisCluster
from redis.exceptions import RedisClusterException

from pace.errors import ConfigError, RedisUnavailable

__all__ = [
    "DEFAULT_REDIS_URL", "TIMEOUTS", "Opened", "atomic", "connect", "is_cluster", "redact",
    "resolve_url", "scan_some", "text",
]  # fmt: skip

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"

_CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}

TIMEOUTS: dict[str, Any] = {
    "socket_connect_timeout": 5.0,  # seconds to open a connection
    "socket_timeout": 30.0,  # seconds to wait for a reply: long enough for a fetch of big jobs
    "socket_keepalive": True,  # TCP only
    "health_check_interval": 10,  # PING a connection idle this long before using it
}
"""pace's connection settings, passed to redis-py (the URL's query string wins)."""


def resolve_url(url: str | None = None) -> str:
    """Return the Redis URL to use, following pace's lookup order."""
    if url:
        return url
    module_url = getattr(sys.modules.get("pace"), "redis_url", None)
    if module_url:
        return str(module_url)
    return os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL


def redact(url: str) -> str:
    """The URL with its password replaced by ``***``, fit for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    netloc = f"{user}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


async def connect(url: str | None = None) -> Redis:
    """Open a client for the resolved URL and check that Redis answers.

    Raises:
        ConfigError: the URL is malformed.
        RedisUnavailable: Redis does not answer at the URL.
    """
    resolved = resolve_url(url)
    scheme, _, rest = resolved.partition("://")
    try:
        settings = dict(TIMEOUTS)
        if scheme in _CLUSTER_SCHEMES:
            node_url = f"{_CLUSTER_SCHEMES[scheme]}://{rest}"
            client = cast(Redis, RedisCluster.from_url(node_url, **settings))  # same commands
        else:
            if scheme == "unix":  # no TCP, no keepalive
                del settings["socket_keepalive"]
            client = Redis.from_url(resolved, **settings)
    except (ValueError, RedisClusterException) as exc:
        raise ConfigError(f"bad Redis URL {redact(resolved)!r}: {exc}") from None
    try:
        await client.ping()
    except (
        redis_errors.ConnectionError, redis_errors.TimeoutError, RedisClusterException, OSError
    ) as exc:  # fmt: skip
        await client.aclose()
        raise RedisUnavailable(redact(resolved), str(exc) or type(exc).__name__) from None
    return client


def is_cluster(redis: Redis) -> bool:
    """True if ``redis`` is a Redis Cluster client (:func:`connect` of a ``+cluster`` URL)."""
    return isinstance(redis, RedisCluster)


def atomic(redis: Redis) -> bool:
    """``transaction=`` for a pipeline meant as one ``MULTI``/``EXEC``: True on one Redis,
    False on a cluster (where its keys may live in several slots, and redis-py before 6
    refuses any transaction): there each command is atomic on its own."""
    return not is_cluster(redis)


async def scan_some(
    redis: Redis, match: str, *, rounds: int, type_: str | None = None
) -> tuple[list[bytes], bool]:
    """Keys matching ``match`` (of type ``type_``) found by at most ``rounds`` ``SCAN`` calls
    of 1000 (on a cluster, as many on each master), and True if every key was seen."""
    found: list[bytes] = []
    complete = True
    for node in redis.get_primaries() if is_cluster(redis) else [None]:  # type: ignore[attr-defined]
        where = {} if node is None else {"target_nodes": node}
        cursor: Any = 0
        for _round in range(rounds):
            cursor, keys = await redis.scan(cursor, match=match, count=1000, _type=type_, **where)
            cursor = cursor if node is None else cursor[node.name]
            found += cast("list[bytes]", keys)
            if not cursor:
                break
        complete = complete and not cursor
    return found, complete


def text(value: bytes | str) -> str:
    """A Redis reply as ``str`` (pace's clients return bytes)."""
    return value.decode() if isinstance(value, bytes) else value


class Opened:
    """Something that is awaited (``x = await X(...)``) or entered (``async with X(...) as x``).

    Either way :meth:`_open` runs first; leaving the ``async with`` block runs :meth:`_close`
    with the block's exception (``None`` on a clean exit), then :meth:`aclose` always.
    """

    async def _open(self) -> Self:
        return self

    async def _close(self, exc: BaseException | None) -> None:
        """What leaving the block does, before :meth:`aclose`."""

    async def aclose(self) -> None:
        """Release what this object opened (a Redis connection)."""

    def __await__(self) -> Generator[Any, None, Self]:
        return self._open().__await__()

    async def __aenter__(self) -> Self:
        return await self._open()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            await self._close(exc)
        finally:
            await self.aclose()
