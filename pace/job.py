"""A job as a handler sees it: its payload (also as a read-only mapping), its queue, its
worker, and the handles of the features it can use (progress, its multi-step task, its
staged group).

A job reaches its worker through :class:`JobWorker`, a small Protocol, so this module never
imports the worker. The feature modules are imported where they are first used, so that a
worker process whose jobs use none of them never loads them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from pace.context import current
from pace.errors import ConfigError
from pace.wire import ATTEMPT_FIELD, ID_FIELD, batch_of, decode_payload

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from pace.client import Client
    from pace.keys import Keys
    from pace.progress import Progress, Scope
    from pace.workflows.multistep import MultiStepTask
    from pace.workflows.stages import StagedJobHandle

__all__ = ["Handler", "Job", "JobWorker", "current_job", "decode"]


class JobWorker(Protocol):
    """What a job may use of the worker running it (``job.worker``)."""

    @property
    def id(self) -> str:
        """The worker's Resque id, ``host:pid:queues``."""

    @property
    def keys(self) -> Keys:
        """The worker's namespace's keys."""

    @property
    def redis(self) -> Redis | None:
        """The worker's Redis client."""

    @property
    def paused(self) -> bool:
        """True while the worker takes no new jobs."""

    def pause(self, seconds: float | None = None) -> None:
        """Take no new jobs (for ``seconds``, or until :meth:`resume`)."""

    def resume(self) -> None:
        """Take jobs again."""


def current_job() -> Job | None:
    """The job the calling task is running (in a handler or a hook), else ``None``."""
    job = current.get()
    return job if isinstance(job, Job) else None


class Job(Mapping[str, Any]):
    """One job taken from a queue, as a handler sees it.

    A job is also a read-only mapping over its payload, as the seed's block got it:
    ``job["class"]``, ``job["args"]``, ``job.get("id")``, ``dict(job)``. Two jobs are equal
    only if they are the same job (the same delivery), never by content.

    Attributes:
        queue: the queue it came from.
        class_name: the payload's ``class``.
        args: the payload's ``args`` (a list).
        id: pace's job id, or ``None`` for a job enqueued without one (by Ruby, say).
        payload: the whole decoded payload, unknown keys included.
        raw: the bytes exactly as they were in Redis.
        worker: the worker running it.
        started_at: when the worker started it (epoch seconds).

    Example::

        async def handler(job: pace.Job) -> None:
            print(job.class_name, job.args, job.queue, job["args"][0])
    """

    __slots__ = (
        "_progresses", "args", "class_name", "id", "payload", "queue", "raw", "started_at",
        "worker",
    )  # fmt: skip

    def __init__(
        self, queue: str, raw: bytes, payload: dict[str, Any], worker: JobWorker | None = None
    ) -> None:
        self.queue = queue
        self.raw = raw
        self.payload = payload
        self.class_name: str = payload["class"]
        self.args: list[Any] = payload.get("args") or []
        job_id = payload.get(ID_FIELD)
        self.id: str | None = job_id if isinstance(job_id, str) else None
        self.worker = worker
        self.started_at = 0.0
        self._progresses: list[Progress] | None = None

    # -- the read-only mapping over the payload -------------------------------------------

    def __getitem__(self, key: str) -> Any:
        return self.payload[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.payload)

    def __len__(self) -> int:
        return len(self.payload)

    __eq__ = object.__eq__  # a delivery, not a value: the worker keys its tables by job
    __hash__ = object.__hash__

    # -- what a handler uses --------------------------------------------------------------

    @property
    def attempt(self) -> int:
        """Which run this is: 1 the first time, 2 for the first retry, ..."""
        attempt = self.payload.get(ATTEMPT_FIELD, 1)
        return attempt if isinstance(attempt, int) and attempt >= 1 else 1

    def progress(
        self,
        scope: Scope,
        total: int | None,
        *,
        name: str | None = None,
        params: Any = None,
        interval: float = 2.0,
        expire: float = 86400.0,
        prefix: str | None = None,
    ) -> Progress:
        """A :class:`pace.Progress` for this job: its id is the job's (a digest of the payload
        for a job enqueued without one), its name the class, its params the args; it writes
        through the worker's connection, and the worker marks it failed if the job fails
        (even after its ``async with`` block completed it). ``prefix="progressrus"`` reports
        into a Ruby app's Progressrus scopes (see :class:`pace.Progress`).

        Example::

            async def handler(job: pace.Job) -> None:
                progress = await job.progress(("user", job.args[0]), total=len(rows))
                for row in rows:
                    await save(row)
                    await progress.tick()
        """
        from pace.progress import Progress, RedisStore

        worker = self.worker
        store = None
        if worker is not None and worker.redis is not None:
            store = RedisStore(worker.redis, namespace=worker.keys.namespace, prefix=prefix)
        progress = Progress(
            scope,
            total,
            job_id=self.id or hashlib.sha1(self.raw).hexdigest(),
            name=name or self.class_name,
            params=self.args if params is None else params,
            interval=interval,
            expire=expire,
            store=store,
            prefix=prefix,
        )
        if self._progresses is None:
            self._progresses = []
        self._progresses.append(progress)
        return progress

    @property
    def multi_step_task(self) -> MultiStepTask | None:
        """The :class:`pace.MultiStepTask` this job belongs to (``None`` for other jobs), on
        the worker's connection: a running job can add jobs to its own task.

        Example::

            async def handler(job: pace.Job) -> None:
                await job.multi_step_task.add_job("ConvertPost", post_id)
        """
        from pace.workflows.multistep import MultiStepTask

        member = batch_of(self.payload)
        if member is None:
            return None
        return MultiStepTask(member[0], client=self._client("job.multi_step_task"))

    @property
    def staged(self) -> StagedJobHandle | None:
        """This job as part of its :class:`pace.StagedGroup` (``None`` for other jobs): its
        stage, its group and its status message, on the worker's connection.

        Example::

            async def handler(job: pace.Job) -> None:
                await job.staged.set_status_message("halfway")
                await job.staged.group.stage(3).enqueue("Summary")
        """
        from pace.workflows.stages import StagedGroup, StagedJobHandle

        member = batch_of(self.payload)
        if member is None:
            return None
        group_id, job_id, stage = member
        group = StagedGroup(group_id, client=self._client("job.staged"))
        return StagedJobHandle(group, stage, job_id)

    def _client(self, what: str) -> Client:
        from pace.client import Client

        worker = self.worker
        if worker is None or worker.redis is None:
            raise ConfigError(f"{what} needs a job run by a worker")
        return Client(redis=worker.redis, namespace=worker.keys.namespace)

    async def fail_progress(self, reason: str) -> None:
        """Mark every progress of this job failed (the worker does, when it fails), a
        completed one too: its block closed before the job failed."""
        for progress in self._progresses or ():
            if not progress.failed:
                await progress.fail(reason)
            await progress.aclose()

    def __repr__(self) -> str:
        return f"<Job {self.class_name} id={self.id} queue={self.queue}>"


Handler = Callable[[Job], Awaitable[Any]]
"""A job handler: ``async def handler(job: pace.Job) -> None``."""


def decode(raw: bytes, queue: str, worker: JobWorker | None = None) -> Job:
    """Decode raw bytes from a queue into a :class:`Job`.

    Raises:
        InvalidPayload: the bytes are not a Resque job; the message says why.
    """
    return Job(queue, raw, decode_payload(raw), worker)
