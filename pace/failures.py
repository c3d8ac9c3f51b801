"""Failure administration: list, requeue and remove ``resque:failed`` records as Resque does.

A failure's id is its index in the list (0 = oldest), as in Ruby's ``Resque::Failure``; a
negative index counts from the end. A requeue enqueues ``{"class", "args"}`` as Ruby does; a
job of a multi-step task or staged group also keeps pace's ``id``, ``pace_batch`` and
``pace_stage``, so that it still counts in its batch (its retry count, ``pace_attempt``,
starts again). A requeue from Ruby or resque-web keeps only class and args: the job then runs
outside its batch, which goes on waiting for it (see :mod:`pace.batch`).

Every change is atomic: a requeue writes the record back (with ``retried_at``) and enqueues
its job only if the record at that index is still the one it read, so a concurrent remove
cannot make it requeue the wrong record.
"""

from __future__ import annotations

import builtins
import uuid
from dataclasses import dataclass
from typing import Any, cast

from redis.asyncio import Redis

from pace import checks
from pace.client import Client, push
from pace.connection import atomic, is_cluster
from pace.errors import CannotRequeue, ConfigError, NoSuchFailure, PaceError
from pace.keys import Keys, slot_tag
from pace.lua import script
from pace.queues import check_queue_name
from pace.wire import BATCH_FIELD, ID_FIELD, STAGE_FIELD, encode, failed_at, loads, utcnow

__all__ = [
    "Failure", "Failures", "PlannedRequeue", "RequeueSummary", "failure_of", "requeue_plan",
]  # fmt: skip

_REQUEUE = script("failures_requeue")
_REMOVE = script("failures_remove")
_CLEAR_RETRIED = script("failures_clear_retried")

_CHUNK = 200
"""Records read (and requeued in one script call) at a time by :meth:`Failures.requeue_all`."""

_ATTEMPTS = 5
"""Reads of a record that changed under a requeue before giving up."""





@dataclass(frozen=True, slots=True)
class Failure:
    """One record of ``resque:failed``, as listed.

    A record that is not a JSON object is kept, not dropped: its fields are ``None`` and
    ``raw`` holds its text. For a job that was not valid JSON, ``payload`` is the job's raw
    text (see :func:`pace.outcomes.failure_record`).

    Example::

        for failure in await pace.Failures(client).list():
            print(failure.index, failure.class_name, failure.exception, failure.retried_at)
    """

    index: int
    """Position in the list (0 = oldest): the id to requeue or remove it by."""
    failed_at: str | None
    """``2026/11/22 10:53:41 UTC`` (Ruby's newer releases write RFC 2822)."""
    payload: Any
    """The job (a dict), its raw text for a job that would not decode, or ``None``."""
    exception: str | None
    """The exception's class name, ``ZeroDivisionError`` or ``module.Class``."""
    error: str | None
    """The exception's message."""
    backtrace: tuple[str, ...]
    """Innermost frame first."""
    worker: str | None
    """The id of the worker that ran the job."""
    queue: str | None
    """The queue the job came from, where a requeue puts it back."""
    retried_at: str | None
    """When it was last requeued, or ``None``."""
    raw: str
    """The record's JSON text, as stored."""

    @property
    def class_name(self) -> str | None:
        """The job's ``class``, or ``None`` when the payload is not a job."""
        payload = self.payload
        name = payload.get("class") if isinstance(payload, dict) else None
        return name if isinstance(name, str) else None


@dataclass(frozen=True, slots=True)
class RequeueSummary:
    """What :meth:`Failures.requeue_all` did.

    Example::

        summary = await failures.requeue_all()
        print(f"{summary.requeued} requeued")
        for index, reason in summary.skipped.items():
            print(f"failure {index} skipped: {reason}")
    """

    requeued: int
    """Records whose jobs were enqueued again."""
    skipped: dict[int, str]
    """Index to reason, for records that hold no job to requeue."""


class Failures:
    """The failure records of one Resque namespace, through a :class:`pace.Client`.

    Example::

        async with pace.Client() as client:
            failures = pace.Failures(client)
            print(await failures.count())
            for failure in await failures.list(start=0, count=20):
                print(failure.index, failure.class_name, failure.error)
            await failures.requeue(0)          # enqueue its job again, keep the record
            await failures.remove(1)           # later records shift down by one
    """

    __slots__ = ("client",)

    def __init__(self, client: Client) -> None:
        """Use ``client``'s connection and namespace; the client stays the caller's to close."""
        self.client = client

    @property
    def _key(self) -> str:
        return self.client.keys.failed

    async def _redis(self) -> Redis:
        return await self.client.redis()

    async def _cluster(self) -> Keys | None:
        """The keys, on a Redis Cluster (where a batch job must stay in its batch's slot)."""
        return self.client.keys if is_cluster(await self._redis()) else None

    async def count(self) -> int:
        """The number of failure records (``LLEN``)."""
        redis = await self._redis()
        return int(await redis.llen(self._key))

    async def list(self, start: int = 0, count: int = 20) -> builtins.list[Failure]:
        """Up to ``count`` records from index ``start``, oldest first.

        Raises:
            ConfigError: ``start`` or ``count`` is negative.
        """
        checks.count("start", start, minimum=0)
        checks.count("count", count, minimum=0)
        if count == 0:
            return []  # LRANGE start start-1 would be the whole list for start 0
        raws = await self._range(start, start + count - 1)
        return [failure_of(start + offset, raw) for offset, raw in enumerate(raws)]

    async def get(self, index: int) -> Failure:
        """The record at ``index`` (negative counts from the end).

        Raises:
            NoSuchFailure: no record at that index.
        """
        position, raw = await self._read(index)
        return failure_of(position, raw)

    async def requeue(self, index: int, *, queue: str | None = None) -> Failure:
        """Enqueue the job of failure ``index`` again; return the record as updated.

        As Ruby's ``Resque::Failure::Redis.requeue`` (``requeue_to`` with ``queue``): the
        record gets ``retried_at`` and stays in place, and the job is pushed as
        ``{"class":..,"args":[..]}`` onto the record's queue, or ``queue``; a batch job keeps
        its ``id``, ``pace_batch`` and ``pace_stage`` (see the module docstring).

        Raises:
            NoSuchFailure: no record at that index.
            CannotRequeue: the record holds no job (not JSON, a payload with no class, ...).
            ConfigError: ``queue`` is not a valid queue name.
        """
        if queue is not None:
            check_queue_name(queue)
        cluster = await self._cluster()
        for _attempt in range(_ATTEMPTS):
            position, raw = await self._read(index)
            update = requeue_plan(position, raw, queue, cluster=cluster)
            if not await self._apply([update]):
                return failure_of(position, update.record)
        raise PaceError(f"failure {index} kept changing while being requeued; try again")

    async def requeue_all(self, *, queue: str | None = None) -> RequeueSummary:
        """Requeue every record, retried ones included, keeping them (Ruby's ``requeue_all``).

        Records that hold no job are skipped and reported in the summary. Each chunk of
        records is requeued atomically, not the whole list: a record removed meanwhile shifts
        the rest, as with Ruby's loop.

        Raises:
            ConfigError: ``queue`` is not a valid queue name.
        """
        if queue is not None:
            check_queue_name(queue)
        requeued, skipped, start = 0, {}, 0
        cluster = await self._cluster()
        while raws := await self._range(start, start + _CHUNK - 1):
            updates = []
            for position, raw in enumerate(raws, start):
                try:
                    updates.append(requeue_plan(position, raw, queue, cluster=cluster))
                except CannotRequeue as exc:
                    skipped[position] = exc.reason
            conflicts = await self._apply(updates)
            requeued += len(updates) - len(conflicts)
            for position in conflicts:  # changed since read: requeue what is there now
                try:
                    await self.requeue(position, queue=queue)
                    requeued += 1
                except CannotRequeue as exc:
                    skipped[position] = exc.reason
                except NoSuchFailure:
                    break  # the list shrank under us
            start += len(raws)
        return RequeueSummary(requeued, skipped)

    async def remove(self, index: int) -> Failure:
        """Remove failure ``index`` (later ones shift down by one); return what it was.

        Ruby's way, atomically: ``LSET failed index ""`` then ``LREM failed 1 ""``.

        Raises:
            NoSuchFailure: no record at that index.
        """
        redis = await self._redis()
        count, *removed = await _REMOVE(redis, keys=[self._key], args=[index])
        if not removed:
            raise NoSuchFailure(index, int(count))
        return failure_of(index if index >= 0 else count + index, removed[0])

    async def clear(self) -> int:
        """Delete every failure record; return how many there were."""
        redis = await self._redis()
        async with redis.pipeline(transaction=atomic(redis)) as pipe:
            pipe.llen(self._key)
            pipe.delete(self._key)
            count, _deleted = await pipe.execute()
        return int(count)

    async def clear_retried(self) -> int:
        """Remove every record that was requeued (has ``retried_at``); return how many.

        One Lua script reads the whole list: on a very long list it holds Redis a moment.
        """
        redis = await self._redis()
        sentinel = f"pace:removing:{uuid.uuid4().hex}"
        return int(await _CLEAR_RETRIED(redis, keys=[self._key], args=[sentinel]))

    async def _range(self, start: int, stop: int) -> builtins.list[bytes]:
        redis = await self._redis()
        return cast("list[bytes]", await redis.lrange(self._key, start, stop))

    async def _read(self, index: int) -> tuple[int, bytes]:
        """The absolute position of ``index`` and the record there, from one snapshot."""
        redis = await self._redis()
        async with redis.pipeline(transaction=atomic(redis)) as pipe:
            pipe.llen(self._key)
            pipe.lindex(self._key, index)
            count, raw = await pipe.execute()
        if raw is None:
            raise NoSuchFailure(index, int(count))
        return (index if index >= 0 else count + index), raw

    async def _apply(self, updates: builtins.list[PlannedRequeue]) -> builtins.list[int]:
        """Run the requeue script; return the positions whose record changed (not requeued)."""
        if not updates:
            return []
        redis = await self._redis()
        keys = self.client.keys
        args: list[Any] = []
        for update in updates:
            args += [update.position, update.expected, update.record, update.queue, update.job]
        apart = is_cluster(redis)  # the queues live in other slots than the failed list
        queues = [] if apart else [keys.queues, *(keys.queue(update.queue) for update in updates)]
        conflicts = {int(p) for p in await _REQUEUE(redis, keys=[self._key, *queues], args=args)}
        if apart:  # a client dying now leaves the jobs in their records, shown retried
            marked = [u for u in updates if u.position not in conflicts]
            await push(redis, keys, [(update.queue, update.job) for update in marked])
        return sorted(conflicts)


@dataclass(frozen=True, slots=True)
class PlannedRequeue:
    """One planned requeue: the record to swap in if ``expected`` is still there."""

    position: int
    expected: bytes
    record: bytes
    queue: str
    job: bytes


def _decode(raw: bytes) -> Any:
    try:
        return loads(raw.decode())
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return None


def failure_of(index: int, raw: bytes) -> Failure:
    """The :class:`Failure` of record ``raw`` at ``index`` (a record that is not JSON too)."""
    record = _decode(raw)
    if not isinstance(record, dict):
        record = {}

    def string(name: str) -> str | None:
        value = record.get(name)
        return value if isinstance(value, str) else None

    backtrace = record.get("backtrace")
    return Failure(
        index=index,
        failed_at=string("failed_at"),
        payload=record.get("payload"),
        exception=string("exception"),
        error=string("error"),
        backtrace=tuple(map(str, backtrace)) if isinstance(backtrace, list) else (),
        worker=string("worker"),
        queue=string("queue"),
        retried_at=string("retried_at"),
        raw=raw.decode(errors="replace"),
    )


def requeue_plan(
    position: int, raw: bytes, queue: str | None, *, cluster: Keys | None = None
) -> PlannedRequeue:
    """The requeue of one record, as Ruby does it; raise CannotRequeue if it holds no job, or
    (on a Redis Cluster: ``cluster`` is the namespace's keys) if it would move a batch job
    to a queue out of its batch's slot."""
    record = _decode(raw)
    if not isinstance(record, dict):
        raise CannotRequeue(position, "the record is not a JSON object")
    payload = record.get("payload")
    if not isinstance(payload, dict):
        raise CannotRequeue(
            position, "its payload is not a Resque job (the job's raw text is kept in the record)"
        )
    class_name, args = payload.get("class"), payload.get("args")
    if not isinstance(class_name, str) or not class_name:
        raise CannotRequeue(position, f"its payload has no job class (class: {class_name!r})")
    if args is not None and not isinstance(args, list):
        raise CannotRequeue(position, f"its payload args are not a list: {args!r}")
    target = queue if queue is not None else record.get("queue")
    try:
        if not isinstance(target, str):
            raise ConfigError(target)
        check_queue_name(target)
    except ConfigError:
        raise CannotRequeue(position, f"its queue is not a queue name: {target!r}") from None
    if cluster is not None:
        _in_batch_slot(position, payload, target, cluster)
    record["retried_at"] = failed_at(utcnow())  # an earlier retried_at is replaced in place
    try:
        updated, job = encode(record), encode(_requeued(payload, class_name, args or []))
    except ValueError as exc:  # a number or string JSON cannot carry (1e400, a lone surrogate)
        raise CannotRequeue(position, f"it cannot be encoded as JSON again: {exc}") from None
    return PlannedRequeue(position, raw, updated, target, job)


def _in_batch_slot(position: int, payload: dict[str, Any], queue: str, keys: Keys) -> None:
    """On a Redis Cluster a batch job settles in its batch's slot: its queue must be there."""
    batch_id = payload.get(BATCH_FIELD)
    if not isinstance(batch_id, str):
        return
    tag = slot_tag(keys.batch(batch_id))
    try:
        if slot_tag(keys.queue(queue)) == tag:
            return
    except ConfigError:
        pass
    raise CannotRequeue(
        position, f"a job of batch {batch_id!r} goes to a queue of its slot, with the hash "
        f"tag {tag}, on a Redis Cluster: not {queue!r}"
    )  # fmt: skip


_KEPT = (ID_FIELD, BATCH_FIELD, STAGE_FIELD)


def _requeued(payload: dict[str, Any], class_name: str, args: list[Any]) -> dict[str, Any]:
    """The job a requeue enqueues: class and args, plus a batch job's own keys."""
    job: dict[str, Any] = {"class": class_name, "args": args}
    if BATCH_FIELD in payload:
        job.update((key, payload[key]) for key in _KEPT if key in payload)
    return job
