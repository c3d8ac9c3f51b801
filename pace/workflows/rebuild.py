"""Staged groups rebuilt around orphaned staged jobs (resque-stages' ``Cleaner.cleanup_jobs``).

A staged job's details (class, args, queue, queue time, stage) live in its group's ``info``
hash. If the group's own hash is gone while they remain (deleted by hand, evicted under
``maxmemory``, or expired a moment before its other keys), :func:`rebuild` makes the group
again, under the same id, so that its jobs still in queues count in it when they finish:

- every job joins its stage's list (in the order it had there, the others by queue time);
- its status is the one stored, or ``pending`` if that is lost too; the counters follow;
- a group whose jobs are all ``pending`` waits to be initiated (stage 0); otherwise it is at
  the first stage with a job not done, which starts (a waiting job whose entry is lost gets
  one made from its details), and it goes on as any group;
- it is named after its id, on the queue most of its jobs use, ``on_failure="continue"``.

Leftovers with nothing left to run (every job done), and a multi-step task's (every job on
the queue named after its id), are not rebuilt:
:meth:`pace.workflows.stages.Cleaner.delete_orphans` removes them.

Example::

    rebuilt = await rebuild(redis, Keys())     # ids of the groups made again
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime
from typing import Any

from redis.asyncio import Redis

from pace.connection import atomic, text
from pace.keys import Keys
from pace.wire import BATCH_FIELD, ID_FIELD, STAGE_FIELD, encode, entry_of, utcnow
from pace.workflows.batch import Batch, batch_keys
from pace.workflows.model import DEFAULT_EXPIRE, BatchJob, batch_job

__all__ = ["rebuild"]

_DONE = ("successful", "failed")


async def rebuild(redis: Redis, keys: Keys) -> list[str]:
    """Rebuild every staged group whose hash is gone but whose jobs' details remain; return
    their ids. Each is written by one script that first checks the hash is still missing
    (settles change nothing of a batch without its hash, so what was read still holds)."""
    rebuilt = []
    for batch_id, names in (await batch_keys(redis, keys)).items():
        if keys.batch(batch_id, "info") not in names or await redis.exists(keys.batch(batch_id)):
            continue
        jobs, status = await _jobs(redis, keys, batch_id)
        if all(job.queue == batch_id for job in jobs) or all(
            status[job.job_id] in _DONE for job in jobs
        ):
            continue  # a multi-step task's, or nothing left to run
        created = min((job.queue_time for job in jobs if job.queue_time), default=utcnow())
        spec = {
            "fields": _fields(batch_id, jobs, status, created),
            "stages": await _stages(redis, keys, batch_id, jobs, status),
            "statuses": [x for job_id, value in status.items() for x in (job_id, value)],
        }
        if await Batch(redis, keys, batch_id).rebuild(created.timestamp(), json.dumps(spec)):
            rebuilt.append(batch_id)
    return rebuilt


async def _jobs(redis: Redis, keys: Keys, batch_id: str) -> tuple[list[BatchJob], dict[str, str]]:
    """The jobs whose details remain, and their statuses (``pending`` where lost)."""
    async with redis.pipeline(transaction=atomic(redis)) as pipe:
        pipe.hgetall(keys.batch(batch_id, "info"))
        pipe.hgetall(keys.batch(batch_id, "jobs"))
        infos, stored = await pipe.execute()
    jobs = [batch_job(text(job_id), None, info, None, None) for job_id, info in infos.items()]
    statuses = {text(job_id): text(value) for job_id, value in stored.items()}
    return jobs, {job.job_id: statuses.get(job.job_id, "pending") for job in jobs}


def _fields(
    batch_id: str, jobs: list[BatchJob], status: dict[str, str], created: datetime
) -> list[Any]:
    """The group's hash: where it is, its settings and its counters."""
    stages = {job.stage for job in jobs}
    undone = [job.stage for job in jobs if status[job.job_id] not in _DONE]
    stage = 0 if all(status[job.job_id] == "pending" for job in jobs) else min(undone)
    queue = Counter(job.queue for job in jobs).most_common(1)[0][0]
    counts: Counter[str] = Counter()
    for job in jobs:
        outcome = {"successful": "completed", "failed": "failed"}.get(status[job.job_id])
        for what in ("total", outcome) if outcome else ("total",):
            counts[what] += 1
            counts[f"s{job.stage}:{what}"] += 1
    counts["failures"] = counts["failed"]
    return [
        "kind", "staged", "name", batch_id,
        "created_at", created.isoformat(timespec="milliseconds"), "stage", stage,
        "stages", max(stages), "sealed", int(stage > 0), "on_failure", "continue",
        "expire", int(DEFAULT_EXPIRE * 1000), "queue", queue,
        *(x for item in counts.items() for x in item),
    ]  # fmt: skip


async def _stages(
    redis: Redis, keys: Keys, batch_id: str, jobs: list[BatchJob], status: dict[str, str]
) -> list[dict[str, Any]]:
    """Each stage's job ids in order, and the pending items of its waiting jobs (the stored
    ones, else made from the jobs' details)."""
    stages = []
    for number in sorted({job.stage for job in jobs}):
        prefix = keys.batch(batch_id, "stage", str(number))
        async with redis.pipeline(transaction=atomic(redis)) as pipe:
            pipe.lrange(f"{prefix}:jobs", 0, -1)
            pipe.lrange(f"{prefix}:pending", 0, -1)
            listed, waiting = await pipe.execute()
        order = {text(job_id): place for place, job_id in enumerate(listed)}
        items = {text(item).partition("|")[0]: text(item) for item in waiting}
        members = sorted(
            (job for job in jobs if job.stage == number),
            key=lambda job: (
                order.get(job.job_id, len(order)),
                job.queue_time.timestamp() if job.queue_time else 0.0,
            ),
        )
        pending = [
            items.get(job.job_id) or _item(batch_id, job)
            for job in members
            if status[job.job_id] == "pending"
        ]
        stages.append({"n": number, "jobs": [job.job_id for job in members], "pending": pending})
    return stages


def _item(batch_id: str, job: BatchJob) -> str:
    """A pending item made from a job's details: its payload as the batch first wrote it."""
    payload = {
        "class": job.class_name, "args": job.args, ID_FIELD: job.job_id,
        BATCH_FIELD: batch_id, STAGE_FIELD: job.stage,
    }  # fmt: skip
    return f"{job.job_id}||" + entry_of(job.queue, encode(payload)).decode()
