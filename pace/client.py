"""Enqueueing jobs and reading queue state, exactly as Ruby Resque writes and reads them."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any, ClassVar, Self

from redis.asyncio import Redis

from pace import checks
from pace.connection import connect, text
from pace.hooks import CLIENT_EVENTS, Hooks, around
from pace.keys import DEFAULT_NAMESPACE, Keys
from pace.lua import script
from pace.queues import check_queue_name
from pace.wire import entry_of, new_job

__all__ = ["Client", "Info", "enqueue", "push", "write_out"]

_SCHEDULE_IN = script("schedule_in")


@dataclass(frozen=True, slots=True)
class Info:
    """A snapshot of a Resque namespace: what ``pace-worker info`` prints."""

    queues: dict[str, int]
    """Queue name to number of pending jobs, sorted by name."""
    workers: list[str]
    """Registered worker ids, Ruby's and pace's."""
    failed: int
    """Failure records in ``resque:failed``."""
    processed_total: int
    """``resque:stat:processed``."""
    failed_total: int
    """``resque:stat:failed``."""


class Client:
    """A connection for enqueueing many jobs; use it as an async context manager.

    Example::

        async with pace.Client() as client:
            job_id = await client.enqueue("normal", "SendMail", "bob@example.com")
            ids = await client.enqueue_many("normal", "Resize", [[1], [2], [3]])
    """

    class_hooks: ClassVar[Hooks] = Hooks(CLIENT_EVENTS)
    """Hooks of every client: ``"enqueue"`` (see :mod:`pace.hooks`; tracing uses it)."""

    def __init__(
        self,
        redis_url: str | None = None,
        *,
        namespace: str = DEFAULT_NAMESPACE,
        redis: Redis | None = None,
    ) -> None:
        """Use ``redis`` if given (left open on close), else connect to ``redis_url``."""
        self.keys = Keys(namespace)
        self._url = redis_url
        self._redis = redis
        self._owned = redis is None

    async def redis(self) -> Redis:
        """The Redis client, connected on first use."""
        if self._redis is None:
            self._redis = await connect(self._url)
        return self._redis

    async def aclose(self) -> None:
        """Close the connection if this client opened it."""
        if self._owned and self._redis is not None:
            await self._redis.aclose()
            self._redis = None

    async def __aenter__(self) -> Self:
        await self.redis()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def enqueue(self, queue: str, class_name: str, *args: Any) -> str:
        """Push one job (``SADD resque:queues`` + ``RPUSH``, pipelined); return its id."""
        (job_id,) = await self.enqueue_many(queue, class_name, [args])
        return job_id

    async def enqueue_many(
        self, queue: str, class_name: str, args_list: Iterable[Sequence[Any]]
    ) -> list[str]:
        """Push one job per args sequence, in order, in one round trip; return their ids."""
        check_queue_name(queue)
        args_list = list(args_list)
        if not args_list:
            return []
        with self._new_jobs(queue, class_name, args_list) as jobs:
            redis = await self.redis()
            async with redis.pipeline(transaction=False) as pipe:
                pipe.sadd(self.keys.queues, queue)
                pipe.rpush(self.keys.queue(queue), *(raw for _id, raw in jobs))
                await pipe.execute()
        return [job_id for job_id, _raw in jobs]

    async def enqueue_at(
        self, when: datetime | float, queue: str, class_name: str, *args: Any
    ) -> str:
        """Enqueue a job to run at ``when`` (an aware datetime, or Unix seconds); return its id.

        The job waits in ``resque:pace:schedule`` until a worker moves it to its queue.
        """
        check_queue_name(queue)
        moment = when.timestamp() if isinstance(when, datetime) else when
        due = checks.number("when", moment, at_least=-math.inf, unit="Unix seconds")
        with self._new_jobs(queue, class_name, [args]) as [(job_id, raw)]:
            redis = await self.redis()
            await redis.zadd(self.keys.schedule, {entry_of(queue, raw): due})
        return job_id

    async def enqueue_in(self, seconds: float, queue: str, class_name: str, *args: Any) -> str:
        """Enqueue a job to run ``seconds`` from now, by Redis' clock (the one every worker
        reads its schedule by, whatever this machine's clock says); return its id."""
        check_queue_name(queue)
        delay = checks.number("seconds", seconds)
        with self._new_jobs(queue, class_name, [args]) as [(job_id, raw)]:
            redis = await self.redis()
            await _SCHEDULE_IN(redis, keys=[self.keys.schedule], args=[delay, entry_of(queue, raw)])
        return job_id

    @contextmanager
    def _new_jobs(
        self, queue: str, class_name: str, args_list: Sequence[Sequence[Any]]
    ) -> Iterator[list[tuple[str, bytes]]]:
        """New jobs' ids and payloads, made inside the ``"enqueue"`` hooks, which see them sent
        (the ``with`` block) and may add fields to their payloads (a trace context)."""
        hooks = (Client.class_hooks,)
        with around(hooks, "enqueue", queue, class_name, len(args_list)) as added:
            extra: dict[str, Any] = {}
            for fields in added:
                if isinstance(fields, Mapping):
                    extra.update(fields)
            yield [new_job(class_name, args, extra) for args in args_list]

    async def info(self) -> Info:
        """Queue sizes, workers, failure count and stats, read in one round trip."""
        redis = await self.redis()
        names = sorted(map(text, await redis.smembers(self.keys.queues)))
        async with redis.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.llen(self.keys.queue(name))
            pipe.smembers(self.keys.workers)
            pipe.llen(self.keys.failed)
            pipe.get(self.keys.stat("processed"))
            pipe.get(self.keys.stat("failed"))
            *sizes, workers, failed, processed_total, failed_total = await pipe.execute()
        return Info(
            queues=dict(zip(names, sizes, strict=True)),
            workers=sorted(map(text, workers)),
            failed=failed,
            processed_total=int(processed_total or 0),
            failed_total=int(failed_total or 0),
        )


async def enqueue(
    queue: str,
    class_name: str,
    *args: Any,
    redis_url: str | None = None,
    namespace: str = DEFAULT_NAMESPACE,
) -> str:
    """Enqueue one job on a connection of its own; return the job id.

    Example::

        await pace.enqueue("normal", "SendMail", "bob@example.com")
    """
    async with Client(redis_url, namespace=namespace) as client:
        return await client.enqueue(queue, class_name, *args)


async def push(redis: Redis, keys: Keys, entries: Iterable[tuple[str, bytes]]) -> None:
    """Push raw jobs, ``(queue, payload)``, to the tail of their queues as Resque enqueues
    (``SADD resque:queues`` + ``RPUSH``), in one pipelined round trip. On a Redis Cluster this
    is how jobs leave the schedule and failure records: no script can reach the queues there.
    """
    async with redis.pipeline(transaction=False) as pipe:
        for queue, payload in entries:
            pipe.sadd(keys.queues, queue)
            pipe.rpush(keys.queue(queue), payload)
        await pipe.execute()


async def write_out(
    redis: Redis, keys: Keys, outbox: str, items: Iterable[bytes], worker_id: str | None
) -> None:
    """Write an outbox's items where they belong, then drop them from it: ``f<record>`` a
    failure record to ``resque:failed`` with its counts (a worker's own too, unless
    ``worker_id`` is None), ``r<due>|<entry>`` onto the schedule, ``i<created>|<id>`` and
    ``x<id>`` into and out of the batch index, ``q-<name>`` out of ``resque:queues``. Every
    kind but ``f`` can be written twice harmlessly. (On one Redis only failures and retries
    pass through an outbox; on a Redis Cluster everything a script cannot reach does.)
    """
    async with redis.pipeline(transaction=False) as pipe:
        for item in items:
            kind, body = item[:1], item[1:]
            if kind == b"f":
                pipe.rpush(keys.failed, body)
                for name in ("failed", "processed"):
                    pipe.incr(keys.stat(name))
                    if worker_id is not None:
                        pipe.incr(keys.stat(name, worker_id))
            elif kind in (b"r", b"i"):
                score, _, member = body.partition(b"|")
                pipe.zadd(keys.schedule if kind == b"r" else keys.batches, {member: float(score)})
            elif kind == b"x":
                pipe.zrem(keys.batches, body)
            elif kind == b"q":
                pipe.srem(keys.queues, body[1:])
            pipe.lrem(outbox, 1, item)  # type: ignore[arg-type]
        await pipe.execute()
