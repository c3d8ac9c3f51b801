"""Staged groups (resque-stages): numbered stages of jobs; a stage starts when the one before
it is complete, retries included.

A group is a batch (:mod:`pace.workflows.batch`). Jobs go to a queue you name (``stages``
by default: run a worker on it, or on ``*``). Until the group is initiated (on leaving
:meth:`StagedGroup.within_a_grouping`), every job waits in its stage; then stage 1 is enqueued,
and each stage is enqueued when the one before completes. A job added to the running stage
(from a handler, say) is enqueued at once and the stage waits for it; one added to a later
stage waits for it; one added to a complete stage runs at once (as in resque-stages).

Job statuses: ``pending``, ``queued``, ``running``, ``pending_re_run`` (a retry is scheduled:
the stage waits), ``failed``, ``successful``. A failed job does not hold its stage by default
(``on_failure="continue"``, resque-stages' behaviour); ``on_failure="stop"`` holds the group
until the failure is requeued and succeeds. The group's keys go when its last stage completes;
if a job failed they are kept for inspection, and expire after ``expire`` seconds (7 days).

Example::

    async with pace.StagedGroup.within_a_grouping("nightly import") as group:
        stage = group.stage(1)
        for i in range(12):
            await stage.enqueue("MyJob", i, "parameter")
        await group.stage(2).enqueue("MyJob", -1, "summary")
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Self

from pace.client import Client
from pace.connection import is_cluster
from pace.errors import ConfigError, NoSuchBatch, NoSuchStagedGroup
from pace.keys import DEFAULT_NAMESPACE, slot_tag
from pace.queues import check_queue_name
from pace.workflows.batch import Batch, CleanSummary, batch_ids, clean
from pace.workflows.handle import BatchHandle
from pace.workflows.model import (
    DEFAULT_EXPIRE,
    BatchJob,
    BatchState,
    NewJob,
    OnFailure,
    StageCounts,
    StageStatus,
    check_expire,
    check_stage,
    due_delay,
)
from pace.workflows.rebuild import rebuild

__all__ = ["DEFAULT_QUEUE", "Cleaner", "Stage", "StagedGroup", "StagedJobHandle"]

DEFAULT_QUEUE = "stages"
"""The queue of a group's jobs unless the group (or ``enqueue_to``) names another."""


class StagedGroup(BatchHandle):
    """A group of numbered stages of jobs.

    Example::

        async with pace.StagedGroup.within_a_grouping("import", client=client) as group:
            await group.stage(1).enqueue_many("Import", [[i] for i in range(100)])
            await group.stage(2).enqueue("Report")
        group = await pace.StagedGroup.find(group.group_id, client=client)
        print(group.description, await group.current_stage(), await group.stage(1).status())

    Attributes:
        group_id: the group's id.
        description: what it was created with (its id when none was given).
        created_at: when it was created (``None`` until stored or found).
        queue: where :meth:`Stage.enqueue` puts jobs (stored with the group).

    Args:
        group_id: the group's id.
        queue: its jobs' queue; ``None`` (a handle on an existing group): the one stored with
            the group, read on first use. On a Redis Cluster its name needs a hash tag
            (``"{stages}"``): the group's keys go to that queue's slot.
        client: a :class:`pace.Client` whose connection and namespace to use (left open);
            else the group opens its own connection (``redis_url``, ``namespace``) and closes it
            in :meth:`aclose` or at the end of ``async with``.
    """

    _kind = "staged"
    _missing = NoSuchStagedGroup

    def __init__(
        self,
        group_id: str,
        *,
        queue: str | None = None,
        client: Client | None = None,
        redis_url: str | None = None,
        namespace: str = DEFAULT_NAMESPACE,
    ) -> None:
        super().__init__(client=client, redis_url=redis_url, namespace=namespace)
        self.group_id = group_id
        self.description = group_id
        self.created_at: datetime | None = None
        self.queue = check_queue_name(queue or DEFAULT_QUEUE)
        self._loaded = queue is not None  # else the group's own queue is read on first use
        self._new: tuple[OnFailure, float] | None = None

    @property
    def batch_id(self) -> str:
        """The group's id."""
        return self.group_id

    @classmethod
    def within_a_grouping(
        cls,
        description: str | None = None,
        *,
        queue: str = DEFAULT_QUEUE,
        on_failure: OnFailure = "continue",
        expire: float = DEFAULT_EXPIRE,
        client: Client | None = None,
        redis_url: str | None = None,
        namespace: str = DEFAULT_NAMESPACE,
    ) -> StagedGroup:
        """A new group, stored when entered (or awaited). Leaving the ``async with`` block
        initiates it; an exception in the block deletes it instead (nothing of it ran).

        ``on_failure``: ``"continue"`` (a failed job does not hold its stage) or ``"stop"``.
        ``expire``: seconds a group with failed jobs is kept after it ends.
        """
        if on_failure not in ("continue", "stop"):
            raise ConfigError(f"on_failure must be 'continue' or 'stop', got {on_failure!r}")
        group = cls(
            uuid.uuid4().hex, queue=queue, client=client, redis_url=redis_url, namespace=namespace
        )
        group.description = description or group.group_id
        group._new = (on_failure, check_expire(expire))
        group._unstored = "StagedGroup.create(...)"
        return group

    create = within_a_grouping
    """``group = await StagedGroup.create(...)``: the same, without the block (call
    :meth:`initiate` yourself)."""

    @classmethod
    async def find(
        cls,
        group_id: str,
        *,
        client: Client | None = None,
        redis_url: str | None = None,
        namespace: str = DEFAULT_NAMESPACE,
    ) -> StagedGroup:
        """The group of that id. Raises :class:`pace.NoSuchStagedGroup` once it is gone."""
        group = cls(group_id, client=client, redis_url=redis_url, namespace=namespace)
        try:
            group._load(await group.state())
        except BaseException:
            await group.aclose()
            raise
        return group

    @classmethod
    async def all(
        cls,
        *,
        client: Client | None = None,
        redis_url: str | None = None,
        namespace: str = DEFAULT_NAMESPACE,
    ) -> list[StagedGroup]:
        """Every staged group that exists, oldest first (each on ``client``'s connection, or
        on a connection of its own to close with :meth:`aclose`)."""
        lister = client if client is not None else Client(redis_url, namespace=namespace)
        try:
            redis = await lister.redis()
            groups = []
            for group_id in await batch_ids(redis, lister.keys, "staged"):
                group = cls(group_id, client=client, redis_url=redis_url, namespace=namespace)
                try:
                    group._load(await Batch(redis, lister.keys, group_id).state())
                except NoSuchBatch:  # deleted meanwhile
                    continue
                groups.append(group)
            return groups
        finally:
            if client is None:
                await lister.aclose()

    def _load(self, state: BatchState) -> None:
        self.description = state.name or self.group_id
        self.created_at = state.created_at
        if state.queue:
            self.queue = state.queue
        self._loaded = True

    async def _queue(self) -> str:
        if not self._loaded:
            self._load(await self.state())
        return self.queue

    async def _open(self) -> Self:
        return await self._store()

    async def _close(self, exc: BaseException | None) -> None:
        if self._created:
            await (self.initiate() if exc is None else self.delete())

    async def _store(self) -> Self:
        if self._new is not None:
            on_failure, expire = self._new
            if is_cluster(await self._client.redis()):  # its keys go to its queue's slot
                self.group_id += _hash_tag(self.queue)
            batch = await self._handle()
            await batch.create(
                kind="staged", name=self.description, on_failure=on_failure, expire=expire,
                stage=0, queue=self.queue,
            )  # fmt: skip
            self._load(await batch.state())
            self._new = self._unstored = None
            self._created = True
        return self

    def stage(self, number: int) -> Stage:
        """Stage ``number`` (1, 2, ...); a stage exists once a job is added to it."""
        return Stage(self, check_stage(number))

    async def stages(self) -> dict[int, Stage]:
        """Every stage up to the last one with jobs, by number."""
        state = await self.state()
        return {n: Stage(self, n) for n in range(1, max(state.stages, state.stage) + 1)}

    async def current_stage(self) -> Stage:
        """The first stage that is not complete (stage 1 before the group is initiated)."""
        return Stage(self, max((await self.state()).stage, 1))

    async def initiate(self) -> None:
        """Start stage 1 (an empty stage completes at once and the next starts). Idempotent;
        leaving ``within_a_grouping`` calls it."""
        await (await self._get()).initiate()

    def __repr__(self) -> str:
        return f"<StagedGroup {self.group_id} {self.description!r}>"


def _hash_tag(queue: str) -> str:
    """The hash tag of a queue's name, which a group's id takes on a Redis Cluster.

    Raises:
        ConfigError: the name has none.
    """
    tag = slot_tag(queue)
    if tag == "{" + queue + "}":  # no tag of its own
        raise ConfigError(
            f"on a Redis Cluster a staged group's queue needs a hash tag, like '{{stages}}' "
            f"(its keys and its jobs then share one slot); got {queue!r}"
        )
    return tag


class Stage:
    """One stage of a :class:`StagedGroup`: ``group.stage(n)``.

    Example::

        stage = group.stage(2)
        await stage.enqueue("Resize", 640)            # on the group's queue
        await stage.enqueue_to("images", "Resize", 1280)
        await stage.enqueue_in(30, "Notify")          # 30 s after the stage starts
        await stage.enqueue_in(30, "Notify", queue="mail")
        print(await stage.status(), await stage.counts())
    """

    __slots__ = ("group", "number")

    def __init__(self, group: StagedGroup, number: int) -> None:
        self.group = group
        self.number = number

    async def _add(self, jobs: list[NewJob]) -> list[str]:
        return await (await self.group._get()).add(self.number, jobs)

    async def enqueue(self, class_name: str, *args: Any) -> str:
        """Add a job on the group's queue; return its id. It is enqueued at once if the stage
        is running (or complete), else when the stage starts."""
        return await self.enqueue_to(await self.group._queue(), class_name, *args)

    async def enqueue_to(self, queue: str, class_name: str, *args: Any) -> str:
        """:meth:`enqueue` on ``queue``."""
        (job_id,) = await self._add([NewJob(class_name, args, queue)])
        return job_id

    async def enqueue_many(
        self, class_name: str, args_list: Iterable[Sequence[Any]], *, queue: str | None = None
    ) -> list[str]:
        """Add one job per args sequence, in order, in one round trip; return their ids."""
        queue = queue or await self.group._queue()
        return await self._add([NewJob(class_name, args, queue) for args in args_list])

    async def enqueue_in(
        self, seconds: float, class_name: str, *args: Any, queue: str | None = None
    ) -> str:
        """Add a job that runs ``seconds`` after the stage starts (from now, if it is
        running), on ``queue`` (default: the group's). Its stage waits for it."""
        return await self._delayed(due_delay(seconds=seconds), class_name, args, queue)

    async def enqueue_at(
        self, when: datetime | float, class_name: str, *args: Any, queue: str | None = None
    ) -> str:
        """Add a job that runs at ``when`` (an aware datetime, or Unix seconds), or when the
        stage starts if that is later, on ``queue`` (default: the group's)."""
        return await self._delayed(due_delay(at=when), class_name, args, queue)

    async def _delayed(
        self, delay: str, class_name: str, args: Sequence[Any], queue: str | None
    ) -> str:
        job = NewJob(class_name, args, queue or await self.group._queue(), delay)
        (job_id,) = await self._add([job])
        return job_id

    async def status(self) -> StageStatus:
        """``pending`` (not started), ``running`` or ``complete``."""
        return (await self.group.state()).stage_status(self.number)

    async def counts(self) -> StageCounts:
        """How many jobs the stage has, and how many succeeded or failed."""
        return (await self.group.state()).counts(self.number)

    async def jobs(self, start: int = 0, stop: int = -1) -> list[BatchJob]:
        """The stage's jobs in the order added, with status and status message."""
        return await (await self.group._get()).jobs(self.number, start, stop)

    async def num_jobs(self) -> int:
        """How many jobs were added to the stage."""
        return (await self.counts()).total

    async def exists(self) -> bool:
        """True while the stage has jobs (resque-stages' ``!blank?``)."""
        try:
            return (await self.counts()).total > 0
        except NoSuchBatch:
            return False

    async def initiate(self) -> None:
        """Start this stage now, before its turn: its waiting jobs are enqueued (delayed ones
        counted from now), and jobs added to it later run at once. The group still reaches
        it in order and waits there for what is left of it; a group not initiated yet starts
        once this stage is complete (as in resque-stages). A stage already running or
        complete is left alone."""
        await (await self.group._get()).initiate_stage(self.number)

    async def delete(self) -> None:
        """Take every job out of this stage and its counts (jobs already in a queue or the
        schedule still run, as plain jobs); the empty stage completes."""
        await (await self.group._get()).delete_stage(self.number)

    def __repr__(self) -> str:
        return f"<Stage {self.number} of {self.group.group_id}>"


class StagedJobHandle:
    """A job of a group (resque-stages' ``StagedJob``): ``job.staged`` in a handler, or made
    from ids anywhere, to set its status message from outside the job, say.

    ``job.staged`` of a multi-step task's job is one too: its job methods (status message,
    :meth:`info`, :meth:`exists`, :meth:`delete`, :meth:`enqueue_job`) work on its task;
    its ``group`` and ``stage`` are a staged group's only (they raise
    :class:`pace.NoSuchStagedGroup`).

    Example::

        async def handler(job: pace.Job) -> None:
            await job.staged.set_status_message("step 1 of 3")
            await job.staged.stage.enqueue("MoreWork", 1)     # its own stage waits for it
            await job.staged.group.stage(job.staged.stage.number + 1).enqueue("Later")

        # from outside the job (a web request, say), by ids (BatchJob.job_id, BatchJob.stage)
        group = pace.StagedGroup(group_id, client=client)
        await pace.StagedJobHandle(group, 1, job_id).set_status_message("cancelled by Ann")
    """

    __slots__ = ("group", "job_id", "stage")

    def __init__(self, group: StagedGroup, stage: int, job_id: str) -> None:
        self.group = group
        self.stage = Stage(group, stage)
        self.job_id = job_id

    async def _batch(self) -> Batch:
        return await self.group._any_kind()

    async def set_status_message(self, message: str) -> bool:
        """Set the job's status message (a Redis write, hence a method, not a property
        setter). False if its group is gone."""
        return await (await self._batch()).set_message(self.job_id, message)

    async def info(self) -> BatchJob | None:
        """The job as :meth:`Stage.jobs` lists it; ``None`` if its group is gone."""
        return await (await self._batch()).job(self.job_id)

    async def exists(self) -> bool:
        """True while the job is in its group (resque-stages' ``!blank?``)."""
        return await self.info() is not None

    async def delete(self) -> bool:
        """Take the job out of its group and its stage's counts; False if it was not there.
        If it is in a queue or the schedule already, it still runs, as a plain job."""
        return await (await self._batch()).delete_job(self.job_id)

    async def enqueue_job(self) -> bool:
        """Put the job in its queue now: one waiting for its stage, or one in the schedule
        (a retry's delay, ``enqueue_in``). False if it was not waiting: queued, running or
        done (or gone)."""
        return await (await self._batch()).enqueue_job(self.job_id)

    async def status_message(self) -> str | None:
        """The job's status message, if any."""
        info = await self.info()
        return info.status_message if info is not None else None


class Cleaner:
    """Housekeeping of batches (resque-stages' ``Cleaner``), with ``SCAN``, never ``KEYS``.

    Example::

        async with pace.Client() as client:
            print(await Cleaner(client).cleanup_jobs())    # groups rebuilt around orphans
            print(await Cleaner(client).delete_orphans())  # what cannot be rebuilt
            await Cleaner(client).purge_all()               # every staged group
    """

    __slots__ = ("client",)

    def __init__(self, client: Client) -> None:
        self.client = client

    async def purge_all(self) -> CleanSummary:
        """Delete every staged group (jobs of them in queues run as plain jobs), and every
        orphan."""
        return await clean(await self.client.redis(), self.client.keys, purge="staged")

    async def cleanup_jobs(self) -> list[str]:
        """resque-stages' ``cleanup_jobs``: give orphaned staged jobs a group again. Where a
        group's hash is gone (deleted by hand, evicted, or expired before its other keys) but
        its jobs' details remain, the group is rebuilt around them, under its id (so its jobs
        still in queues count in it): see :func:`pace.workflows.rebuild.rebuild`. Returns
        the ids of the groups rebuilt."""
        return await rebuild(await self.client.redis(), self.client.keys)

    async def delete_orphans(self) -> CleanSummary:
        """Delete orphans of every kind of batch: keys of a batch whose hash is gone (an
        expired or half-deleted one) and index entries of batches that no longer exist. Run
        :meth:`cleanup_jobs` first to keep the staged jobs among them."""
        return await clean(await self.client.redis(), self.client.keys)
