"""A staged group: three stages, each started only when the one before is complete.

It starts an embedded Redis (unless REDIS_URL is set) and creates a "nightly import" group:
stage 1 imports six files (each job leaves a status message), stage 2 indexes them twice,
stage 3 writes a summary that reads the status messages of stage 1. Two workers race on
the group's queue; the output shows every job start and end with its stage, and that the
group's state is gone once its last stage completed.
"""

from __future__ import annotations

import asyncio
import random
import time

import pace
from pace import embedded

STARTED = time.monotonic()


def log(text: str) -> None:
    print(f"{time.monotonic() - STARTED:6.3f}s  {text}", flush=True)


async def import_file(job: pace.Job) -> None:
    """Stage 1: one file per job; its status message tells the summary what happened."""
    staged = job.staged
    assert staged is not None
    log(f"stage {staged.stage.number} start ImportFile {job.args[0]}")
    await asyncio.sleep(random.uniform(0.02, 0.08))
    await staged.set_status_message(f"{job.args[0]}: {random.randint(100, 999)} rows")
    log(f"stage {staged.stage.number} end   ImportFile {job.args[0]}")


async def index(job: pace.Job) -> None:
    """Stage 2: runs only once every file of stage 1 is imported."""
    log(f"stage 2 start Index {job.args[0]}")
    await asyncio.sleep(0.03)
    log(f"stage 2 end   Index {job.args[0]}")


async def summary(job: pace.Job) -> None:
    """Stage 3: reads what stage 1 left (the group lives until this job is done)."""
    staged = job.staged
    assert staged is not None
    imports = await staged.group.stage(1).jobs()
    log(f"stage 3 Summary: {len(imports)} imports")
    for imported in imports:
        print(f"         {imported.status:<10} {imported.status_message}", flush=True)


HANDLERS = {"ImportFile": import_file, "Index": index, "Summary": summary}


async def main(redis_url: str) -> None:
    async with pace.Client(redis_url) as client:
        async with pace.StagedGroup.within_a_grouping("nightly import", client=client) as group:
            await group.stage(1).enqueue_many("ImportFile", [[f"file-{i}.csv"] for i in range(6)])
            await group.stage(2).enqueue("Index", "products")
            await group.stage(2).enqueue("Index", "customers")
            await group.stage(3).enqueue("Summary")
            log(f"group {group.group_id} ({group.description!r}) set up; initiating on exit")

        workers = [
            pace.Worker(queues, redis_url=redis_url, concurrency=4, burst=True)
            for queues in (["stages"], ["stages", "spare"])
        ]
        await asyncio.gather(*(worker.start(HANDLERS) for worker in workers))

        try:
            await pace.StagedGroup.find(group.group_id, client=client)
        except pace.NoSuchStagedGroup:
            log("the group is gone: every stage completed, its keys are deleted")


if __name__ == "__main__":
    with embedded.redis_url_or_temporary() as url:
        pace.run(main(url))
