"""The value types of the batch core (:mod:`pace.workflows.batch`): jobs to add, a batch's
state and counters, a batch job as a query returns it, and the checks of their settings."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, cast

from pace import checks
from pace.connection import text

__all__ = [
    "DEFAULT_EXPIRE",
    "BatchJob",
    "BatchState",
    "JobStatus",
    "Kind",
    "NewJob",
    "OnFailure",
    "StageCounts",
    "StageStatus",
    "batch_job",
    "check_expire",
    "check_stage",
    "due_delay",
]

Kind = Literal["multistep", "staged"]
OnFailure = Literal["continue", "stop"]
JobStatus = Literal["pending", "queued", "running", "pending_re_run", "failed", "successful"]
StageStatus = Literal["pending", "running", "complete"]

DEFAULT_EXPIRE = 7 * 86400.0
"""Seconds a batch with failed jobs is kept after it ends (or while a failure holds it)."""


def check_expire(expire: float) -> float:
    """``expire`` if it is a positive number of seconds, else raise :class:`ConfigError`."""
    return checks.number("expire", expire, positive=True, at_most=1e12)


def check_stage(number: int) -> int:
    """``number`` if it is a stage number (a whole number >= 1), else raise ConfigError."""
    return checks.count("a stage number", number)


@dataclass(frozen=True, slots=True)
class NewJob:
    """A job to add to a batch: class, args, queue, and an optional delay.

    ``delay`` is ``""`` (none), ``"+S"`` (S seconds after its stage starts, or from now in a
    running stage) or ``"@T"`` (at Unix time T): see :func:`due_delay`.

    Example::

        await batch.add(2, [NewJob("Report", ["daily"], "reports", due_delay(seconds=30))])
    """

    class_name: str
    args: Sequence[Any]
    queue: str
    delay: str = ""


@dataclass(frozen=True, slots=True)
class StageCounts:
    """How many jobs a stage has, and how many of them succeeded or failed.

    Example::

        counts = await group.stage(1).counts()
        print(f"{counts.completed + counts.failed}/{counts.total} done, {counts.failed} failed")
    """

    total: int = 0
    completed: int = 0
    failed: int = 0

    @property
    def settled(self) -> bool:
        """True once every job of the stage succeeded or failed."""
        return self.completed + self.failed >= self.total


@dataclass(frozen=True, slots=True)
class BatchState:
    """A batch's hash, read at one moment.

    Example::

        state = await batch.state()
        print(state.stage, state.stages, state.stage_status(2), state.counts(1).completed)
    """

    batch_id: str
    kind: str
    name: str
    created_at: datetime | None
    stage: int
    """The current stage; 0 before a staged group is initiated."""
    stages: int
    """The last stage that has (or had) jobs."""
    sealed: bool
    complete: bool
    """True when every stage is complete (kept only because a job failed)."""
    blocked: bool
    """True while a failed job holds the batch (``on_failure="stop"``)."""
    on_failure: str
    queue: str | None
    """Its jobs' queue (unless added with another)."""
    expire: float
    total: int
    """Jobs added, every stage."""
    completed: int
    """Jobs that succeeded, every stage."""
    failed: int
    """Jobs failed now (a requeued one leaves this count when it runs again)."""
    stage_counts: dict[int, StageCounts] = field(default_factory=dict)
    owns_queue: bool = False
    """True for a multi-step task: its queue goes with it."""
    failures: int = 0
    """Every failure of a job of the batch, requeued ones' included (it never goes down)."""
    started_early: frozenset[int] = frozenset()
    """Stages initiated on their own, before their turn (``Stage.initiate``)."""

    def counts(self, stage: int) -> StageCounts:
        """The counters of ``stage`` (zeros for a stage without jobs)."""
        return self.stage_counts.get(stage, StageCounts())

    def stage_status(self, stage: int) -> StageStatus:
        """``pending`` (not started), ``running`` or ``complete``. A stage initiated before
        its turn runs, and is complete once its jobs are done."""
        if self.complete or stage < self.stage:
            return "complete"
        if stage == self.stage:
            return "running"
        if stage in self.started_early:
            return "complete" if self.counts(stage).settled else "running"
        return "pending"

    @classmethod
    def from_hash(cls, batch_id: str, raw: Mapping[Any, Any]) -> BatchState:
        """Parse ``HGETALL`` of a batch's hash."""
        fields = {text(k): text(v) for k, v in raw.items()}
        counts: dict[int, dict[str, int]] = {}
        for name, value in fields.items():
            if name.startswith("s") and ":" in name:
                number, _, what = name[1:].partition(":")
                if number.isdigit():
                    counts.setdefault(int(number), {})[what] = int(value)
        created = fields.get("created_at")
        return cls(
            batch_id=batch_id,
            kind=fields.get("kind", ""),
            name=fields.get("name", ""),
            created_at=datetime.fromisoformat(created) if created else None,
            stage=int(fields.get("stage", 0)),
            stages=int(fields.get("stages", 0)),
            sealed=fields.get("sealed") == "1",
            complete=fields.get("complete") == "1",
            blocked=fields.get("blocked") == "1",
            on_failure=fields.get("on_failure", "continue"),
            queue=fields.get("queue"),
            expire=int(fields.get("expire", 0)) / 1000,
            total=int(fields.get("total", 0)),
            completed=int(fields.get("completed", 0)),
            failed=int(fields.get("failed", 0)),
            stage_counts={
                n: StageCounts(c.get("total", 0), c.get("completed", 0), c.get("failed", 0))
                for n, c in sorted(counts.items())
            },
            owns_queue=fields.get("owns_queue") == "1",
            failures=int(fields.get("failures", 0)),
            started_early=frozenset(n for n, c in counts.items() if c.get("started")),
        )


@dataclass(frozen=True, slots=True)
class BatchJob:
    """One job of a batch, as a query returns it (resque-stages' ``StagedJob``).

    Example::

        for job in await group.stage(1).jobs():
            print(job.class_name, job.args, job.status, job.status_message)
    """

    job_id: str
    stage: int
    class_name: str
    args: list[Any]
    queue: str
    queue_time: datetime | None
    """When it was added to its batch."""
    status: JobStatus
    status_message: str | None = None

    @property
    def completed(self) -> bool:
        """True once it failed or succeeded."""
        return self.status in ("failed", "successful")

    @property
    def queued(self) -> bool:
        """True while it is in a queue (or the schedule) or running."""
        return self.status in ("queued", "running")

    @property
    def pending(self) -> bool:
        """True while it waits for its stage, or for a retry."""
        return self.status in ("pending", "pending_re_run")


def batch_job(
    job_id: str, stage: int | None, info: bytes, status: bytes | None, message: bytes | None
) -> BatchJob:
    data = json.loads(info)
    queued = data.get("queue_time")
    return BatchJob(
        job_id=job_id,
        stage=int(data.get("stage", stage or 0)),
        class_name=data.get("class", ""),
        args=data.get("args") or [],
        queue=data.get("queue", ""),
        queue_time=datetime.fromisoformat(queued) if isinstance(queued, str) else None,
        status=cast("JobStatus", text(status) if status is not None else "pending"),
        status_message=text(message) if message is not None else None,
    )


def due_delay(seconds: float | None = None, at: datetime | float | None = None) -> str:
    """The delay of a :class:`NewJob`: ``+S`` for ``seconds``, ``@T`` for a time ``at``."""
    if seconds is not None:
        return f"+{checks.number('a delay', seconds)!r}"
    if at is not None:
        moment = at.timestamp() if isinstance(at, datetime) else at
        when = checks.number("a time to run at", moment, at_least=-math.inf, unit="Unix seconds")
        return f"@{when!r}"
    return ""
