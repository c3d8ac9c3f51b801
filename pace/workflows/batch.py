"""The batch core: jobs in ordered stages, counted atomically as they finish.

A batch is an ordered list of stages (1, 2, ...); a stage starts when the one before it is
complete. :class:`pace.MultiStepTask` (resque-multi-step) and :class:`pace.StagedGroup`
(resque-stages) are both batches. A batch job is a plain Resque job whose payload also carries
``"pace_batch": <batch id>`` and ``"pace_stage": <n>`` (Ruby workers ignore them).

Every change is one Lua script (``pace/lua/batch_*.lua``, on the library ``lua/lib/batch.lua``):
adding jobs (to a running stage they are enqueued at once; to a later one they wait in its
list), sealing or initiating, and, in the worker, the settle of a job, which is the very script
that takes it out of the worker's in-flight list (see :mod:`pace.worker.settle`). So "the last
job of the stage just finished" is seen exactly once, however many workers finish together; a
settle retried after a lost reply finds no in-flight entry and changes nothing; a job recovered
from a dead worker was never settled and counts once, when it finishes. Settles move counters,
never re-read a stage's jobs.

A job's status: ``pending`` (its stage has not started), ``queued``, ``running``,
``pending_re_run`` (a retry is scheduled: its stage waits for it), ``failed``, ``successful``.
A failed job counts as settled: with ``on_failure="continue"`` its stage completes anyway, with
``"stop"`` the batch waits until it is requeued (``pace.Failures.requeue``) and succeeds.

When the last stage completes, every key of the batch is deleted; if any job failed, the keys
are kept for inspection and expire after ``expire`` seconds (a batch held by a failure under
``"stop"`` expires likewise unless it moves on).

Example::

    batch = Batch(redis, Keys(), "b1")
    await batch.create(kind="staged", name="nightly", on_failure="continue", expire=86400)
    await batch.add(1, [NewJob("Import", [1], "stages")])
    await batch.initiate()
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

from redis.asyncio import Redis

from pace.client import write_out
from pace.connection import atomic, is_cluster, text
from pace.errors import ConfigError, NoSuchBatch, PaceError, StageComplete
from pace.keys import Keys, slot_tag
from pace.lua import script
from pace.queues import check_queue_name
from pace.wire import (
    BATCH_FIELD,
    ID_FIELD,
    STAGE_FIELD,
    batch_of,
    encode,
    loads,
    new_job,
    split_entry,
    utcnow,
)
from pace.workflows.model import (
    BatchJob,
    BatchState,
    Kind,
    NewJob,
    OnFailure,
    batch_job,
    check_expire,
    check_stage,
)

__all__ = ["Batch", "CleanSummary", "batch_ids", "batch_keys", "clean"]

_ATTEMPTS = 20  # reads of the stage count when adding a new last stage races another


class Batch:
    """A handle on one batch in Redis; every method is one round trip, most one script.

    Example::

        batch = Batch(redis, Keys("resque"), batch_id)
        state = await batch.state()          # raises NoSuchBatch once it is gone

    Args:
        redis: an open client (left open).
        keys: the namespace's keys.
        batch_id: the batch's id (no ``:``).
        kind: ``multistep`` or ``staged``: a batch of another kind counts as missing.
        missing: the :class:`NoSuchBatch` subclass to raise when it is gone.
    """

    __slots__ = ("batch_id", "keys", "kind", "missing", "redis")

    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        batch_id: str,
        *,
        kind: Kind | None = None,
        missing: type[NoSuchBatch] = NoSuchBatch,
    ) -> None:
        if not isinstance(batch_id, str) or not batch_id or ":" in batch_id:
            raise missing(str(batch_id))
        self.redis = redis
        self.keys = keys
        self.batch_id = batch_id
        self.kind = kind
        self.missing = missing

    async def _run(self, name: str, *args: Any) -> Any:
        k = self.keys
        run = script(f"batch_{name}")
        argv = [k.batch_prefix, k.queue(""), self.batch_id, *args]
        if not is_cluster(self.redis):
            return await run(self.redis, keys=[k.queues, k.schedule, k.batches], args=argv)
        outbox = k.batch(self.batch_id, "outbox")  # what the script cannot reach waits here
        result = await run(self.redis, keys=[outbox] * 3, args=argv)
        items = cast("list[bytes]", await self.redis.lrange(outbox, 0, -1))
        await write_out(self.redis, k, outbox, items, None)
        return result

    async def _cluster_queues(self, queues: set[str]) -> None:
        """On a cluster, before jobs go to ``queues``: each is in the batch's slot (its name
        has the batch's hash tag), and in ``resque:queues`` (no script of the batch can add
        it there)."""
        tag = slot_tag(self.keys.batch(self.batch_id))
        for queue in queues:
            if slot_tag(self.keys.queue(queue)) != tag:
                raise ConfigError(
                    f"on a Redis Cluster the jobs of batch {self.batch_id!r} go to queues in "
                    f"its slot: name the queue with its hash tag {tag!r}, not {queue!r}"
                )
        await self.redis.sadd(self.keys.queues, *queues)

    async def create(
        self,
        *,
        kind: Kind,
        name: str,
        on_failure: OnFailure,
        expire: float,
        queue: str | None = None,
        owns_queue: bool = False,
        stage: int = 0,
    ) -> bool:
        """Store a new batch at ``stage`` (1: its first stage runs jobs as they are added);
        False if the id is taken. ``queue``: its jobs' queue; ``owns_queue``: the queue is
        the batch's own (a multi-step task's), removed with it."""
        if on_failure not in ("continue", "stop"):
            raise ConfigError(f"on_failure must be 'continue' or 'stop', got {on_failure!r}")
        now = utcnow()
        fields: list[Any] = [
            "kind", kind, "name", name, "created_at", now.isoformat(timespec="milliseconds"),
            "stage", stage, "stages", stage, "sealed", 0, "on_failure", on_failure,
            "expire", int(check_expire(expire) * 1000), "total", 0, "completed", 0, "failed", 0,
        ]  # fmt: skip
        if queue is not None:
            fields += ["queue", check_queue_name(queue), "owns_queue", int(owns_queue)]
        return bool(await self._run("create", now.timestamp(), *fields))

    async def add(
        self, stage: int | None, jobs: Sequence[NewJob], *, late: Literal["run", "refuse"] = "run"
    ) -> list[str]:
        """Add jobs to ``stage`` (``None``: a new last stage); return their ids.

        In the current stage (or, with ``late="run"``, a complete one) they are enqueued at
        once; in a later stage they wait for it to start.

        Raises:
            NoSuchBatch: the batch is gone (or complete).
            StageComplete: the stage is complete and ``late="refuse"``.
        """
        if not jobs:
            return []
        for job in jobs:
            check_queue_name(job.queue)
        if is_cluster(self.redis):
            await self._cluster_queues({job.queue for job in jobs})
        for _attempt in range(_ATTEMPTS):
            expected = ""
            if stage is None:
                stages = await self.redis.hget(self.keys.batch(self.batch_id), "stages")
                if stages is None:
                    raise self.missing(self.batch_id)
                number, expected = int(stages) + 1, text(stages)
            else:
                number = check_stage(stage)
            ids, args = self._entries(number, jobs)
            added = await self._run("add", self.kind or "", number, late, expected, *args)
            if added == -1:
                raise self.missing(self.batch_id)
            if added == -2:
                raise StageComplete(self.batch_id, number)
            if added != -3:
                return ids
        raise PaceError(f"stages of {self.batch_id!r} kept changing while adding one; try again")

    def _entries(self, number: int, jobs: Sequence[NewJob]) -> tuple[list[str], list[Any]]:
        queue_time = utcnow().isoformat(timespec="milliseconds")
        extra = {BATCH_FIELD: self.batch_id, STAGE_FIELD: number}
        ids: list[str] = []
        args: list[Any] = []
        for job in jobs:
            job_id, raw = new_job(job.class_name, job.args, extra)
            info = encode(
                {
                    "class": job.class_name, "args": list(job.args), "queue": job.queue,
                    "queue_time": queue_time, "stage": number,
                }
            )  # fmt: skip
            ids.append(job_id)
            args += [job_id, job.delay, job.queue.encode() + b":" + raw, info]
        return ids, args

    async def seal(self) -> None:
        """No more jobs will be added to the current stage by its creator: once they are all
        done it completes (a multi-step task's ``finalize``). Idempotent."""
        if not await self._run("seal", self.kind or "", "seal"):
            raise self.missing(self.batch_id)

    async def initiate(self) -> None:
        """Start stage 1 (a staged group): its jobs are enqueued. Idempotent."""
        if not await self._run("seal", self.kind or "", "initiate"):
            raise self.missing(self.batch_id)

    async def delete(self) -> bool:
        """Delete the batch's keys (and a multi-step task's queue); False if it was gone.

        Jobs of it already in a shared queue or running still run, as plain jobs."""
        return bool(await self._run("delete", self.kind or ""))

    async def exists(self) -> bool:
        """True while the batch exists (complete ones kept for their failures included), and
        is of this handle's kind."""
        kind = await self.redis.hget(self.keys.batch(self.batch_id), "kind")
        return kind is not None and self.kind in (None, text(kind))

    async def state(self) -> BatchState:
        """The batch's hash. Raises the ``missing`` error once it is gone."""
        raw = await self.redis.hgetall(self.keys.batch(self.batch_id))
        state = BatchState.from_hash(self.batch_id, raw)
        if not raw or (self.kind is not None and state.kind != self.kind):
            raise self.missing(self.batch_id)
        return state

    async def jobs(self, stage: int, start: int = 0, stop: int = -1) -> list[BatchJob]:
        """The jobs of ``stage`` in the order added (``start``/``stop`` as ``LRANGE``)."""
        key = self.keys.batch
        ids = [text(job_id) for job_id in await self.redis.lrange(
            key(self.batch_id, "stage", str(check_stage(stage)), "jobs"), start, stop
        )]  # fmt: skip
        if not ids:
            if not await self.exists():
                raise self.missing(self.batch_id)
            return []
        async with self.redis.pipeline(transaction=atomic(self.redis)) as pipe:
            pipe.hmget(key(self.batch_id, "info"), ids)
            pipe.hmget(key(self.batch_id, "jobs"), ids)
            pipe.hmget(key(self.batch_id, "messages"), ids)
            infos, statuses, messages = await pipe.execute()
        return [
            batch_job(job_id, stage, info, status, message)
            for job_id, info, status, message in zip(ids, infos, statuses, messages, strict=True)
            if info is not None
        ]

    async def job(self, job_id: str) -> BatchJob | None:
        """One job of the batch by id; ``None`` if the batch has no such job."""
        key = self.keys.batch
        async with self.redis.pipeline(transaction=atomic(self.redis)) as pipe:
            pipe.hget(key(self.batch_id, "info"), job_id)
            pipe.hget(key(self.batch_id, "jobs"), job_id)
            pipe.hget(key(self.batch_id, "messages"), job_id)
            info, status, message = await pipe.execute()
        if info is None:
            return None
        return batch_job(job_id, None, info, status, message)

    async def initiate_stage(self, stage: int) -> None:
        """Start ``stage`` now, before its turn (see ``pace/lua/batch_stage.lua``)."""
        if not await self._run("stage", self.kind or "", check_stage(stage), "initiate"):
            raise self.missing(self.batch_id)

    async def delete_stage(self, stage: int) -> None:
        """Take every job out of ``stage`` (and out of the counts); an empty stage completes."""
        if not await self._run("stage", self.kind or "", check_stage(stage), "delete"):
            raise self.missing(self.batch_id)

    async def delete_job(self, job_id: str) -> bool:
        """Take a job out of the batch and its counts; False if the batch or job is unknown.
        A job already in a queue or the schedule still runs, as a plain job."""
        return bool(await self._run("job", self.kind or "", job_id, "delete"))

    async def enqueue_job(self, job_id: str) -> bool:
        """Put a job in its queue now: one waiting for its stage, or one in the schedule (a
        retry's delay, a delayed job). False if it was not waiting (or is unknown)."""
        match = f'*"{ID_FIELD}":"{_glob_escape(job_id)}"*'
        entries = [
            entry
            async for entry, _due in self.redis.zscan_iter(self.keys.schedule, match=match)
            if _is_member(entry, self.batch_id, job_id)
        ]
        done = bool(await self._run("job", self.kind or "", job_id, "enqueue", *entries))
        if done and entries and is_cluster(self.redis):  # pushed: now off the schedule
            await self.redis.zrem(self.keys.schedule, *entries)
        return done

    async def rebuild(self, created: float, spec: str) -> bool:
        """Write the batch back from ``spec`` (:mod:`pace.workflows.rebuild`) unless its hash
        exists, created at ``created`` (Unix seconds); True if it was written."""
        return bool(await self._run("rebuild", created, spec))

    async def set_message(self, job_id: str, message: str) -> bool:
        """Set a job's status message; False if the batch or the job is unknown."""
        if not isinstance(message, str):
            raise ConfigError(f"a status message is a string, got {message!r}")
        return bool(await self._run("message", self.kind or "", job_id, message))


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


def _is_member(entry: bytes, batch_id: str, job_id: str) -> bool:
    """True if the schedule entry ``queue:payload`` is job ``job_id`` of batch ``batch_id``."""
    try:
        payload = loads(split_entry(entry)[1])
    except ValueError:
        return False
    member = batch_of(payload) if isinstance(payload, dict) else None
    return member is not None and member[:2] == (batch_id, job_id)


async def batch_ids(redis: Redis, keys: Keys, kind: str | None = None) -> list[str]:
    """Ids of the batches that exist (of ``kind``, if given), oldest first.

    Reads the index ``<ns>:pace:batches``; ids whose batch is gone (a kept batch that
    expired) are cleaned up on the way, as :func:`clean` does.
    """
    ids = [text(i) for i in cast("list[bytes]", await redis.zrange(keys.batches, 0, -1))]
    if not ids:
        return []
    async with redis.pipeline(transaction=False) as pipe:
        for batch_id in ids:
            pipe.hget(keys.batch(batch_id), "kind")
        kinds = await pipe.execute()
    for batch_id, k in zip(ids, kinds, strict=True):
        if k is None:
            await _orphan(redis, keys, batch_id, [])
    return [
        batch_id
        for batch_id, k in zip(ids, kinds, strict=True)
        if k is not None and (kind is None or text(k) == kind)
    ]


@dataclass(frozen=True, slots=True)
class CleanSummary:
    """What :func:`clean` did.

    Example::

        summary = await clean(redis, Keys(), purge="staged")
        print(len(summary.deleted), "groups purged,", summary.orphans, "orphan keys removed")
    """

    deleted: list[str]
    """Ids of the batches purged."""
    orphans: int
    """Keys removed that belonged to no batch any more (and index entries dropped)."""


async def batch_keys(redis: Redis, keys: Keys, count: int = 500) -> dict[str, list[str]]:
    """Every key under ``<ns>:pace:batch:``, by batch id, found with ``SCAN``."""
    found: dict[str, list[str]] = {}
    prefix = keys.batch_prefix
    async for raw in redis.scan_iter(match=f"{prefix}*", count=count):
        name = text(raw)
        found.setdefault(name[len(prefix) :].partition(":")[0], []).append(name)
    return found


async def clean(
    redis: Redis, keys: Keys, *, purge: str | None = None, count: int = 500
) -> CleanSummary:
    """Remove orphans (keys of batches whose hash is gone, stale index entries) and, with
    ``purge`` (a kind, or ``"all"``), delete every batch of that kind.

    Walks ``<ns>:pace:batch:*`` with ``SCAN`` (never ``KEYS``); each batch is checked and
    cleaned in one script, so a batch created meanwhile is never touched.
    """
    found = await batch_keys(redis, keys, count)
    for indexed in cast("list[bytes]", await redis.zrange(keys.batches, 0, -1)):
        found.setdefault(text(indexed), [])
    deleted: list[str] = []
    orphans = 0
    for batch_id, names in found.items():
        kind = await redis.hget(keys.batch(batch_id), "kind")
        batch = Batch(redis, keys, batch_id) if batch_id and ":" not in batch_id else None
        if kind is not None and purge in ("all", text(kind)) and batch is not None:
            if await batch.delete():
                deleted.append(batch_id)
            continue
        if kind is None:
            orphans += await _orphan(redis, keys, batch_id, names)
    return CleanSummary(deleted, orphans)


async def _orphan(redis: Redis, keys: Keys, batch_id: str, names: list[str]) -> int:
    """Remove what is left of a batch whose hash is gone (in one script: never a live one)."""
    removed = await Batch(redis, keys, batch_id)._run("orphan", *names)
    return max(int(removed), 0)
