"""A multi-step task: posts converted in parallel, then two finalization jobs, in order.

It starts an embedded Redis (unless REDIS_URL is set), creates a task that converts 20 blog
posts to pirate talk (one job per post, run at once), then commits the search index and
unlocks the blog (two finalization jobs: they run one at a time, in that order, once every
post is converted). Three workers run it in burst mode; the output shows each step and that
the task's state is gone at the end.
"""

from __future__ import annotations

import asyncio
import random

import pace
from pace import embedded

POSTS = 20
converted: list[int] = []


async def convert_post(job: pace.Job) -> None:
    """Pretend to rewrite one post; a quarter of them add a follow-up job to their task."""
    post = job.args[0]
    await asyncio.sleep(random.uniform(0.01, 0.05))
    converted.append(post)
    if post % 5 == 0:  # a running job can add jobs to its own task
        task = job.multi_step_task
        assert task is not None
        await task.add_job("TweetPost", post)


async def tweet_post(job: pace.Job) -> None:
    """A job added by another job: finalization waits for it too."""
    await asyncio.sleep(0.02)
    print(f"  tweeted post {job.args[0]}", flush=True)


async def commit_solr(job: pace.Job) -> None:
    """The first finalization job: every normal job is done by now. The counts are
    resque-multi-step's: the total includes the finalization jobs, so it is not 100% yet."""
    task = job.multi_step_task
    assert task is not None
    done, total = await task.completed_count(), await task.total_job_count()
    print(
        f"CommitSolr: {len(converted)} posts converted, {done} of {total} jobs done "
        f"({100 * done // total}%: the total counts {await task.finalize_job_count()} "
        "finalization jobs)",
        flush=True,
    )


async def unlock_blog(job: pace.Job) -> None:
    """The second finalization job: runs after CommitSolr succeeded."""
    print(f"UnlockBlog {job.args[0]}", flush=True)


HANDLERS = {
    "ConvertPostToPirateTalk": convert_post,
    "TweetPost": tweet_post,
    "CommitSolr": commit_solr,
    "UnlockBlog": unlock_blog,
}


async def main(redis_url: str) -> None:
    async with pace.Client(redis_url) as client:
        async with pace.MultiStepTask.create("pirate take-over!", client=client) as task:
            await task.add_jobs("ConvertPostToPirateTalk", [[post] for post in range(POSTS)])
            await task.add_finalization_job("CommitSolr")
            await task.add_finalization_job("UnlockBlog", "blog-1")
        print(f"task {task.task_id} on queue {task.queue_name}: {POSTS} posts", flush=True)

        # one process, three workers: each needs its own queue list (Resque's worker id)
        queues = [[task.queue_name], [task.queue_name, "spare-1"], [task.queue_name, "spare-2"]]
        workers = [pace.Worker(q, redis_url=redis_url, concurrency=5, burst=True) for q in queues]
        await asyncio.gather(*(worker.start(HANDLERS) for worker in workers))

        try:
            await pace.MultiStepTask.find(task.task_id, client=client)
        except pace.NoSuchMultiStepTask:
            print(f"task {task.task_id} is gone: it finished and cleaned up", flush=True)
        info = await client.info()
        print(f"done: {info.processed_total} jobs processed, {info.failed_total} failed")


if __name__ == "__main__":
    with embedded.redis_url_or_temporary() as url:
        pace.run(main(url))
