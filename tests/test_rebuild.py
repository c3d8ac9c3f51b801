"""Cleaner.cleanup_jobs (pace/workflows/rebuild.py): a staged group whose hash is gone is
rebuilt around its jobs and runs to the end; what cannot be rebuilt is left to
delete_orphans."""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

import pace
from pace.keys import Keys
from pace.workflows.stages import Cleaner
from tests.support import Starter, on_both_queues, wait_for
from tests.test_batch import batch_keys, no_batch_keys

KEYS = Keys()


@on_both_queues
async def test_cleanup_jobs_rebuilds_a_group_around_its_orphaned_jobs(
    client: pace.Client, redis: Redis, start: Starter, queue: str
) -> None:
    ran: list[Any] = []

    async def work(job: pace.Job) -> None:
        ran.append(job.args)

    async with pace.StagedGroup.within_a_grouping("lost", queue=queue, client=client) as group:
        await group.stage(1).enqueue_many("Work", [[1], [2]])
        last = await group.stage(2).enqueue("Work", "ünïcode", {"k": [3]})
        message = pace.StagedJobHandle(group, 1, (await group.stage(1).jobs())[0].job_id)
        await message.set_status_message("kept")
    # the group's hash is lost (evicted, deleted by hand), and with it stage 2's waiting entry
    # and its job's status: only the jobs' details and the rest remain
    lost = KEYS.batch(group.group_id), KEYS.batch(group.group_id, "stage", "2", "pending")
    await redis.delete(*lost)
    await redis.hdel(KEYS.batch(group.group_id, "jobs"), last)
    assert not await group.exists()

    assert await Cleaner(client).cleanup_jobs() == [group.group_id]
    assert await Cleaner(client).cleanup_jobs() == [], "a group that exists is left alone"
    found = await pace.StagedGroup.find(group.group_id, client=client)
    assert (found.description, found.queue) == (group.group_id, queue)
    assert [await found.stage(n).status() for n in (1, 2)] == ["running", "pending"]
    assert [job.status for job in await found.stage(1).jobs()] == ["queued", "queued"]
    assert [job.status for job in await found.stage(2).jobs()] == ["pending"]
    assert (await found.state()).total == 3
    assert await message.status_message() == "kept"
    for key in await batch_keys(redis):
        assert await redis.pttl(key) == -1, key

    await start([queue], work)
    await wait_for(lambda: len(ran) == 3)
    assert sorted(ran[:2]) == [[1], [2]]
    assert ran[2] == ["ünïcode", {"k": [3]}], "stage 2 after stage 1, its job made again"

    async def gone() -> bool:
        return not await found.exists()

    await wait_for(gone)
    await wait_for(lambda: no_batch_keys(redis))


async def test_what_cannot_be_rebuilt_is_left_to_delete_orphans(
    client: pace.Client, redis: Redis
) -> None:
    task = await pace.MultiStepTask.create("task", client=client)
    await task.add_job("Work")
    async with pace.StagedGroup.within_a_grouping(client=client) as done:
        (job_id,) = await done.stage(1).enqueue_many("Work", [[1]])
    await redis.hset(KEYS.batch(done.group_id, "jobs"), job_id, "successful")
    for batch_id in (task.task_id, done.group_id):
        await redis.delete(KEYS.batch(batch_id))
    assert await Cleaner(client).cleanup_jobs() == [], "a task's leftovers; nothing left to run"
    summary = await Cleaner(client).delete_orphans()
    assert summary.deleted == []
    assert summary.orphans > 0
    assert await batch_keys(redis) == []
