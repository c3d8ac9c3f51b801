"""Multi-step tasks (resque-multi-step): fan out jobs, then run finalization jobs, in order.

A task is a batch (:mod:`pace.workflows.batch`) with a Resque queue of its own, named from its
slug and a unique suffix (``pirate-take-over-3f9a2c1b``, also the task's id): a ``*`` worker
runs it and operators see it. Stage 1 holds the normal jobs; they run as soon as they are added.
Each finalization job is a later stage of its own, so finalization jobs run one at a time, in
the order added, exactly once, after every normal job succeeded. The task is sealed when the
``async with`` block exits (or on :meth:`MultiStepTask.finalize`): until then, finalization
waits even if every job added so far is done.

A failed job holds the task (``on_failure="stop"``): finalization waits until the failure is
requeued (``pace.Failures(client).requeue(i)``) and succeeds. Meanwhile the task's state is
kept, and expires ``expire`` seconds (7 days) after it got stuck. When the last finalization
job succeeds, the task's state and its queue go; :meth:`MultiStepTask.find` then raises
:class:`pace.NoSuchMultiStepTask`.

Example::

    async with pace.MultiStepTask.create("pirate-take-over") as task:
        for post in posts:
            await task.add_job("ConvertPostToPirateTalk", post.id)
        await task.add_finalization_job("CommitSolr")
        await task.add_finalization_job("UnlockBlog", blog.id)
    print(task.task_id)     # later, anywhere: await pace.MultiStepTask.find(task_id)
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Sequence
from typing import Any, Self

from pace.client import Client
from pace.connection import is_cluster
from pace.errors import NoSuchMultiStepTask
from pace.keys import DEFAULT_NAMESPACE
from pace.workflows.handle import BatchHandle
from pace.workflows.model import DEFAULT_EXPIRE, NewJob, check_expire

__all__ = ["MultiStepTask"]

_UNSAFE = re.compile(r"[^\w.-]+")  # queue names: no ':', spaces, glob characters or '!'


def _task_id(slug: str, tagged: bool = False) -> str:
    """``<slug made queue-safe>-<8 hex digits>``: the task's id and its queue's name. On a
    Redis Cluster (``tagged``) the digits are a hash tag, ``{...}``: every key of the task and
    its queue live in one slot."""
    name = _UNSAFE.sub("-", slug).strip("-.")[:64] or "multi-step-task"
    digits = secrets.token_hex(4)
    return f"{name}-{{{digits}}}" if tagged else f"{name}-{digits}"


class MultiStepTask(BatchHandle):
    """A multi-step task: normal jobs in parallel, then finalization jobs one by one.

    Create one with :meth:`create` (as an async context manager, or awaited), find one with
    :meth:`find`, or, in a handler, use ``job.multi_step_task``. Every method is one round
    trip; counts are read from Redis each time.

    Example::

        async with pace.MultiStepTask.create("import", client=client) as task:
            await task.add_jobs("ImportRow", [[row] for row in range(1000)])
            await task.add_finalization_job("Summarize")
        task = await pace.MultiStepTask.find(task.task_id, client=client)
        done, total = await task.completed_count(), await task.total_job_count()
        print(f"{100 * done / total:.0f}%")   # 100% only once finalization ran

    Args:
        task_id: the task's id (its queue's name).
        client: a :class:`pace.Client` whose connection and namespace to use (left open);
            else the task opens its own connection (``redis_url``, ``namespace``) and closes it
            in :meth:`aclose` or at the end of ``async with``.
    """

    _kind = "multistep"
    _missing = NoSuchMultiStepTask

    def __init__(
        self,
        task_id: str,
        *,
        client: Client | None = None,
        redis_url: str | None = None,
        namespace: str = DEFAULT_NAMESPACE,
    ) -> None:
        super().__init__(client=client, redis_url=redis_url, namespace=namespace)
        self.task_id = task_id
        self._new: tuple[str, float] | None = None

    @property
    def batch_id(self) -> str:
        """The task's id."""
        return self.task_id

    @classmethod
    def create(
        cls,
        slug: object = None,
        *,
        expire: float = DEFAULT_EXPIRE,
        client: Client | None = None,
        redis_url: str | None = None,
        namespace: str = DEFAULT_NAMESPACE,
    ) -> MultiStepTask:
        """A new task, stored when awaited or entered. ``async with`` finalizes it on a clean
        exit, and deletes it (its queue with the jobs not yet taken) if the block raises.

        ``slug`` is any object (a frozen or odd string works): its text, made safe for a queue
        name, starts the id. ``expire``: seconds a failed task's state is kept.
        """
        name = "" if slug is None else str(slug)
        task = cls(_task_id(name), client=client, redis_url=redis_url, namespace=namespace)
        task._new = (name or "multi-step-task", check_expire(expire))
        task._unstored = "MultiStepTask.create(...)"
        return task

    @classmethod
    async def find(
        cls,
        task_id: str,
        *,
        client: Client | None = None,
        redis_url: str | None = None,
        namespace: str = DEFAULT_NAMESPACE,
    ) -> MultiStepTask:
        """The task of that id. Raises :class:`pace.NoSuchMultiStepTask` once it is gone."""
        task = cls(task_id, client=client, redis_url=redis_url, namespace=namespace)
        try:
            await task.state()
        except BaseException:
            await task.aclose()
            raise
        return task

    async def _open(self) -> Self:
        return await self._store()

    async def _close(self, exc: BaseException | None) -> None:
        if self._created:
            await (self.finalize() if exc is None else self.delete())

    async def _store(self) -> Self:
        if self._new is not None:
            name, expire = self._new
            if is_cluster(await self._client.redis()):
                self.task_id = _task_id(name, tagged=True)
            while not await (await self._handle()).create(
                kind="multistep", name=name, on_failure="stop", expire=expire,
                queue=self.task_id, owns_queue=True, stage=1,
            ):  # fmt: skip
                self.task_id, self._batch = _task_id(name, "{" in self.task_id), None  # taken
            self._new = self._unstored = None
            self._created = True
        return self

    @property
    def queue_name(self) -> str:
        """The task's own Resque queue (its id)."""
        return self.task_id

    async def add_job(self, class_name: str, *args: Any) -> str:
        """Add a normal job; it is enqueued at once. Returns its id.

        Raises:
            NoSuchMultiStepTask: the task is gone.
            StageComplete: its finalization has begun.
        """
        (job_id,) = await self.add_jobs(class_name, [args])
        return job_id

    async def add_jobs(self, class_name: str, args_list: Iterable[Sequence[Any]]) -> list[str]:
        """Add one normal job per args sequence, in one round trip; return their ids."""
        jobs = [NewJob(class_name, args, self.task_id) for args in args_list]
        return await (await self._get()).add(1, jobs, late="refuse")

    async def add_finalization_job(self, class_name: str, *args: Any) -> str:
        """Add a finalization job: it runs after every normal job and every finalization job
        added before it succeeded. Returns its id."""
        job = NewJob(class_name, args, self.task_id)
        (job_id,) = await (await self._get()).add(None, [job])
        return job_id

    async def finalize(self) -> None:
        """Seal the task: once its normal jobs are done, finalization starts (at once if they
        are done already). Idempotent; ``async with`` calls it."""
        await (await self._get()).seal()

    # The counts are resque-multi-step's (lib/resque/plugins/multi_step_task.rb), so its
    # percentage, completed_count / total_job_count, reaches 100% only once finalization ran.

    async def total_job_count(self) -> int:
        """Jobs added so far, normal and finalization jobs: ``normal_job_count() +
        finalize_job_count()``."""
        return (await self.state()).total

    async def normal_job_count(self) -> int:
        """Normal jobs added so far (:meth:`add_job`)."""
        return (await self.state()).counts(1).total

    async def finalize_job_count(self) -> int:
        """Finalization jobs added so far (:meth:`add_finalization_job`)."""
        state = await self.state()
        return state.total - state.counts(1).total

    async def completed_count(self) -> int:
        """Jobs that succeeded, normal and finalization jobs (a requeued job once it
        succeeds)."""
        return (await self.state()).completed

    async def failed_count(self) -> int:
        """How many times a job of the task failed (a failure record was stored), normal and
        finalization jobs alike. As in the gem it never goes down: a failed job requeued and
        successful still counts. (A retry that is only scheduled is not a failure.)"""
        return (await self.state()).failures

    async def finalizable(self) -> bool:
        """True once sealed (:meth:`finalize`)."""
        return (await self.state()).sealed

    def __repr__(self) -> str:
        return f"<MultiStepTask {self.task_id}>"

