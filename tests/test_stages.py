"""Staged groups (pace/stages.py) with real workers: strict stage order with workers racing,
a retrying job holding its stage, a killed worker's job counted once, status messages,
failures (continue, stop, kept with a TTL), jobs added from inside a job, the cleaner, and
examples/stages.py."""

from __future__ import annotations

import asyncio
import json
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from redis.asyncio import Redis

import pace
from pace.keys import Keys
from pace.retry import RetryPolicy
from pace.wire import batch_of
from pace.worker.inflight import InFlight
from pace.workflows.batch import CleanSummary
from pace.workflows.stages import Cleaner
from tests.support import Starter, noop, on_both_queues, raw_of, succeed, take_one, wait_for
from tests.test_batch import batch_keys
from tests.test_examples import run_example

KEYS = Keys()


def gone(redis: Redis, group: pace.StagedGroup) -> Any:
    """A wait_for condition: the group's state is deleted."""

    async def condition() -> bool:
        return not await redis.exists(KEYS.batch(group.group_id))

    return condition


async def statuses(stage: pace.Stage) -> list[str]:
    return [job.status for job in await stage.jobs()]


async def test_stages_run_strictly_in_order_with_many_workers_racing(
    client: pace.Client, redis: Redis, start: Starter
) -> None:
    spans: dict[int, list[tuple[float, float]]] = {1: [], 2: [], 3: []}

    async def work(job: pace.Job) -> None:
        began = time.monotonic()
        await asyncio.sleep(random.uniform(0, 0.02))
        spans[job.args[0]].append((began, time.monotonic()))

    async with pace.StagedGroup.within_a_grouping("race", client=client) as group:
        for number in (1, 2, 3):
            await group.stage(number).enqueue_many("Work", [[number, i] for i in range(30)])
        assert await statuses(group.stage(1)) == ["pending"] * 30
    for extra in ([], ["a"], ["b"], ["c"]):
        await start(["stages", *extra], work, concurrency=10)
    await wait_for(gone(redis, group), timeout=10)
    assert [len(spans[n]) for n in (1, 2, 3)] == [30, 30, 30]
    for earlier, later in ((1, 2), (2, 3)):
        last_end = max(end for _, end in spans[earlier])
        first_start = min(began for began, _ in spans[later])
        assert first_start >= last_end, f"stage {later} started before stage {earlier} ended"
    assert await batch_keys(redis) == []
    keys = [key async for key in redis.scan_iter(match="resque:pace:*")]
    assert all(b":pace:worker" in key or key == b"resque:pace:workers" for key in keys), keys


@on_both_queues
async def test_a_retrying_job_holds_its_stage(
    client: pace.Client, redis: Redis, start: Starter, queue: str
) -> None:
    events: list[tuple[str, float]] = []

    async def flaky(job: pace.Job) -> None:
        events.append((f"flaky {job.attempt}", time.monotonic()))
        if job.attempt == 1:
            raise ConnectionError("try again")

    async def later(job: pace.Job) -> None:
        events.append(("later", time.monotonic()))

    async with pace.StagedGroup.within_a_grouping(queue=queue, client=client) as group:
        await group.stage(1).enqueue("Flaky")
        await group.stage(1).enqueue("Quick")
        await group.stage(2).enqueue("Later")
    policy = RetryPolicy(attempts=2, backoff=0.8, jitter=0)
    await start([queue], {"Flaky": flaky, "Quick": noop, "Later": later}, retry={"Flaky": policy})

    async def retrying() -> bool:
        return await statuses(group.stage(1)) == ["pending_re_run", "successful"]

    await wait_for(retrying)
    assert await group.stage(1).status() == "running"
    assert await group.stage(2).status() == "pending"
    assert (await group.current_stage()).number == 1
    await wait_for(lambda: len(events) == 3)
    assert [name for name, _ in events] == ["flaky 1", "flaky 2", "later"]
    assert events[2][1] > events[1][1]
    await wait_for(gone(redis, group))


@on_both_queues
async def test_a_killed_workers_job_still_completes_its_stage_once(
    client: pace.Client, redis: Redis, start: Starter, queue: str
) -> None:
    ran: list[Any] = []
    release = asyncio.Event()

    async def work(job: pace.Job) -> None:
        ran.append(job.args[0])
        if job.args[0] == "last":
            await release.wait()

    async with pace.StagedGroup.within_a_grouping(queue=queue, client=client) as group:
        await group.stage(1).enqueue_many("Work", [[0], [1], [2]])
        await group.stage(2).enqueue("Work", "last")
    # A worker took job 0, started it (status running) and died: its entry is in its
    # in-flight list, its liveness key gone.
    dead = f"ghost:1:{queue}"
    ghost = InFlight(redis, KEYS, dead)
    ref = await take_one(ghost, queue)
    payload = json.loads(raw_of(ref))
    await ghost.running(batch_of(payload))
    await redis.sadd("resque:pace:workers", dead)
    assert await statuses(group.stage(1)) == ["running", "queued", "queued"]

    await start([queue], work, dead_after=0.4)
    await wait_for(lambda: "last" in ran)
    assert sorted(ran, key=str) == [0, 1, 2, "last"]
    counts = await group.stage(1).counts()
    assert (counts.total, counts.completed, counts.failed) == (3, 3, 0)
    assert await group.stage(1).status() == "complete"
    # the dead worker's own settle, arriving late, finds no entry and changes nothing
    assert await succeed(ghost, ref, batch_of(payload)) == 0
    assert (await group.stage(1).counts()).completed == 3
    assert (await group.state()).completed == 3
    release.set()
    await wait_for(gone(redis, group))
    assert ran.count(0) == 1


async def test_status_messages_and_job_details_round_trip(
    client: pace.Client, redis: Redis, start: Starter
) -> None:
    release = asyncio.Event()
    read_back: list[str | None] = []

    async def work(job: pace.Job) -> None:
        staged = job.staged
        assert staged is not None
        assert await staged.set_status_message(f"imported {job.args[0]} rows")
        read_back.append(await staged.status_message())

    async def hold(job: pace.Job) -> None:
        await release.wait()

    before = datetime.now(UTC)
    async with pace.StagedGroup.within_a_grouping("messages", client=client) as group:
        await group.stage(1).enqueue("Work", 10)
        await group.stage(1).enqueue_to("other", "Work", 20)
        await group.stage(2).enqueue("Hold")
    await start(["stages", "other"], {"Work": work, "Hold": hold})
    await wait_for(lambda: len(read_back) == 2)

    async def holding() -> bool:
        return await statuses(group.stage(2)) == ["running"]

    await wait_for(holding)
    assert sorted(read_back) == ["imported 10 rows", "imported 20 rows"]  # type: ignore[type-var]
    first, second = await group.stage(1).jobs()
    assert (first.class_name, first.args, first.queue) == ("Work", [10], "stages")
    assert (second.args, second.queue) == ([20], "other")
    assert first.status == "successful"
    assert (first.completed, first.queued, first.pending) == (True, False, False)
    assert first.status_message == "imported 10 rows"
    assert first.queue_time is not None
    assert before - timedelta(seconds=1) <= first.queue_time <= datetime.now(UTC)
    (holder,) = await group.stage(2).jobs()
    assert (holder.queued, holder.stage) == (True, 2)
    found = await pace.StagedGroup.find(group.group_id, client=client)
    assert (found.description, found.queue) == ("messages", "stages")
    assert found.created_at is not None
    assert sorted(await found.stages()) == [1, 2]
    assert [g.group_id for g in await pace.StagedGroup.all(client=client)] == [group.group_id]
    release.set()
    await wait_for(gone(redis, group))
    with pytest.raises(pace.NoSuchStagedGroup):
        await pace.StagedGroup.find(group.group_id, client=client)


async def test_a_failed_job_lets_the_group_go_on_and_keeps_it_with_a_ttl(
    client: pace.Client, redis: Redis, start: Starter
) -> None:
    ran: list[str] = []

    async def work(job: pace.Job) -> None:
        ran.append(job.args[0])
        if job.args[0] == "bad":
            raise ValueError("bad row")

    async with pace.StagedGroup.within_a_grouping(client=client, expire=60) as group:
        await group.stage(1).enqueue_many("Work", [["ok"], ["bad"]])
        await group.stage(2).enqueue("Work", "next")
    await start(["stages"], work)

    async def complete() -> bool:
        return (await group.state()).complete

    await wait_for(complete)
    assert sorted(ran) == ["bad", "next", "ok"]
    keys = await batch_keys(redis)
    assert keys, "kept for inspection"
    for key in keys:
        if key != KEYS.batches:
            assert 0 < await redis.pttl(key) <= 60_000, key
    assert await statuses(group.stage(1)) == ["successful", "failed"]
    assert await group.stage(2).status() == "complete"
    for key in keys:  # a minute later...
        if key != KEYS.batches:
            await redis.pexpire(key, 20)
    await wait_for(gone(redis, group))
    assert await pace.StagedGroup.all(client=client) == []
    assert await batch_keys(redis) == [], "listing removed the expired group's index entry"


async def test_on_failure_stop_holds_the_group_until_the_failure_is_requeued(
    client: pace.Client, redis: Redis, start: Starter
) -> None:
    broken = True
    ran: list[str] = []

    async def work(job: pace.Job) -> None:
        if job.args[0] == "bad" and broken:
            raise ValueError("bad row")
        ran.append(job.args[0])

    async with pace.StagedGroup.within_a_grouping(client=client, on_failure="stop") as group:
        await group.stage(1).enqueue_many("Work", [["ok"], ["bad"]])
        await group.stage(2).enqueue("Work", "next")
    await start(["stages"], work)

    async def held() -> bool:
        return (await group.state()).blocked

    await wait_for(held)
    await asyncio.sleep(0.2)
    assert ran == ["ok"]
    assert await group.stage(2).status() == "pending"
    broken = False
    await pace.Failures(client).requeue(0)
    await wait_for(gone(redis, group))
    assert ran == ["ok", "bad", "next"]


async def test_jobs_added_from_inside_a_job_join_the_right_stages(
    client: pace.Client, redis: Redis, start: Starter
) -> None:
    ran: list[tuple[int, Any, str]] = []

    async def work(job: pace.Job) -> None:
        staged = job.staged
        assert staged is not None
        if job.args == ["spawn"]:
            await asyncio.sleep(0.05)
            await staged.stage.enqueue("Work", "sibling")  # its own stage waits for it
            await staged.group.stage(3).enqueue("Work", "third")
        await asyncio.sleep(0.02)
        ran.append((staged.stage.number, job.args[0], job.queue))

    async with pace.StagedGroup.within_a_grouping(client=client, queue="imports") as group:
        await group.stage(1).enqueue("Work", "spawn")
        await group.stage(2).enqueue("Work", "second")
    await start(["imports"], work, concurrency=5)
    await wait_for(gone(redis, group))
    assert sorted(ran[:2]) == [(1, "sibling", "imports"), (1, "spawn", "imports")]
    assert ran[2:] == [(2, "second", "imports"), (3, "third", "imports")]


@on_both_queues
async def test_pending_delayed_and_complete_stages(
    client: pace.Client, redis: Redis, start: Starter, queue: str
) -> None:
    ran: list[tuple[Any, float]] = []
    release = asyncio.Event()

    async def work(job: pace.Job) -> None:
        ran.append((job.args[0], time.monotonic()))
        if job.args[0] == "hold":
            await release.wait()

    group = await pace.StagedGroup.create("manual", queue=queue, client=client)
    await group.stage(1).enqueue("Work", "first")
    await group.stage(2).enqueue_in(0.4, "Work", "delayed")
    await group.stage(2).enqueue_at(time.time() - 60, "Work", "past")
    await group.stage(3).enqueue("Work", "hold")
    assert (await group.current_stage()).number == 1
    assert [await group.stage(n).status() for n in (1, 2, 3)] == ["pending"] * 3
    await start([queue], work)
    await asyncio.sleep(0.2)
    assert ran == [], "nothing runs before the group is initiated"
    await group.initiate()
    await group.initiate()  # idempotent
    await wait_for(lambda: [name for name, _ in ran] == ["first", "past", "delayed", "hold"])
    first_at = ran[0][1]
    assert ran[2][1] - first_at >= 0.4, "delayed from the start of its stage"
    assert await group.stage(1).status() == "complete"
    await group.stage(1).enqueue("Work", "late")  # a complete stage runs a job at once
    await wait_for(lambda: ran[-1][0] == "late")
    assert await group.stage(3).status() == "running"
    release.set()
    await wait_for(gone(redis, group))


async def test_an_exception_in_the_block_deletes_the_group(
    client: pace.Client, redis: Redis
) -> None:
    group = pace.StagedGroup.within_a_grouping(client=client)

    async def build() -> None:
        async with group:
            await group.stage(1).enqueue("Work")
            raise KeyError("no")

    with pytest.raises(KeyError):
        await build()
    assert await batch_keys(redis) == []
    assert not await redis.exists(KEYS.queue("stages"))
    with pytest.raises(pace.NoSuchStagedGroup):
        await group.stage(1).enqueue("Work")


async def test_deleting_a_group_leaves_its_shared_queue_alone(
    client: pace.Client, redis: Redis
) -> None:
    await client.enqueue("imports", "Other")
    async with pace.StagedGroup.within_a_grouping(client=client, queue="imports") as group:
        await group.stage(1).enqueue("Work")
        await group.stage(2).enqueue("Work")
    found = await pace.StagedGroup.find(group.group_id, client=client)
    assert found.queue == "imports"
    assert await found.delete()
    assert not await found.delete()
    assert await redis.llen(KEYS.queue("imports")) == 2, "the other job and stage 1's job stay"
    assert await redis.sismember(KEYS.queues, "imports")
    assert await batch_keys(redis) == []


async def test_the_cleaner_purges_staged_groups_only(client: pace.Client, redis: Redis) -> None:
    async with pace.StagedGroup.within_a_grouping(client=client) as group:
        await group.stage(2).enqueue("Work")
    task = await pace.MultiStepTask.create("keep", client=client)
    await task.add_job("Work")
    await redis.hset(KEYS.batch("orphan", "messages"), "j", "left over")
    summary = await Cleaner(client).purge_all()
    assert summary.deleted == [group.group_id]
    assert summary.orphans == 1
    assert await pace.StagedGroup.all(client=client) == []
    assert await task.total_job_count() == 1
    await task.delete()
    assert await batch_keys(redis) == []
    assert await Cleaner(client).delete_orphans() == CleanSummary([], 0)


async def test_groups_stages_and_jobs_exist_until_deleted(client: pace.Client) -> None:
    async with pace.StagedGroup.within_a_grouping(client=client) as group:
        kept, dropped = await group.stage(1).enqueue_many("Work", [[1], [2]])
        await group.stage(2).enqueue_in(60, "Work", 3)  # delayed: in the schedule once started
        await group.stage(3).enqueue("Work", 4)
    assert await group.exists()
    assert [await group.stage(n).exists() for n in (1, 2, 3, 4)] == [True, True, True, False]
    job = pace.StagedJobHandle(group, 1, dropped)
    assert await job.exists()
    assert await job.delete()
    assert not await job.exists()
    assert not await job.delete()
    assert [job.job_id for job in await group.stage(1).jobs()] == [kept]
    assert (await group.stage(1).counts()).total == 1
    await group.stage(3).delete()
    assert not await group.stage(3).exists()
    assert (await group.state()).total == 2
    await group.delete()
    assert not await group.exists()
    assert not await group.stage(1).exists()
    assert not await pace.StagedJobHandle(group, 1, kept).exists()


async def test_a_stage_initiated_before_its_turn_runs_at_once(
    client: pace.Client, redis: Redis, start: Starter
) -> None:
    ran: list[Any] = []
    release = asyncio.Event()

    async def work(job: pace.Job) -> None:
        ran.append(job.args[0])
        if job.args[0] == "early":
            await release.wait()

    group = await pace.StagedGroup.create(client=client)
    await group.stage(1).enqueue("Work", "first")
    await group.stage(2).enqueue("Work", "early")
    await group.stage(3).enqueue("Work", "third")
    await start(["stages"], work)
    await group.stage(2).initiate()
    await group.stage(2).initiate()  # idempotent
    await wait_for(lambda: ran == ["early"])
    await group.stage(2).enqueue("Work", "added")  # a started stage runs what is added at once
    await wait_for(lambda: ran == ["early", "added"])
    statuses_now = [await group.stage(n).status() for n in (1, 2, 3)]
    assert statuses_now == ["pending", "running", "pending"]
    await asyncio.sleep(0.1)
    assert ran == ["early", "added"], "the group waits for the stage initiated on its own"
    release.set()  # once stage 2 is complete, the group starts: stage 1, then stage 3
    await wait_for(gone(redis, group))
    assert ran == ["early", "added", "first", "third"]


@on_both_queues
async def test_enqueue_job_runs_a_waiting_job_now_even_out_of_a_retry_delay(
    client: pace.Client, redis: Redis, start: Starter, queue: str
) -> None:
    release = asyncio.Event()
    ran: list[tuple[str, int]] = []

    async def work(job: pace.Job) -> None:
        ran.append((job.args[0], job.attempt))
        if job.args[0] == "hold":
            await release.wait()
        if job.args[0] == "flaky" and job.attempt == 1:
            raise ConnectionError("try again in a minute")

    async with pace.StagedGroup.within_a_grouping(queue=queue, client=client) as group:
        await group.stage(1).enqueue("Work", "hold")
        flaky = await group.stage(1).enqueue("Work", "flaky")
        early = await group.stage(2).enqueue("Work", "early")
    await start([queue], work, retry=RetryPolicy(attempts=2, backoff=60, jitter=0))
    await wait_for(lambda: len(ran) == 2)
    flaky_job = pace.StagedJobHandle(group, 1, flaky)

    async def retrying() -> bool:
        return await statuses(group.stage(1)) == ["running", "pending_re_run"]

    await wait_for(retrying)
    assert await flaky_job.enqueue_job(), "out of its minute's delay"
    await wait_for(lambda: ("flaky", 2) in ran)
    early_job = pace.StagedJobHandle(group, 2, early)  # from outside the job, by ids
    assert await early_job.set_status_message("sent early by hand")
    assert await early_job.enqueue_job(), "before its stage's turn"
    assert not await early_job.enqueue_job(), "queued already"
    await wait_for(lambda: ("early", 1) in ran)
    assert await group.stage(1).status() == "running"
    assert (await early_job.info()).status_message == "sent early by hand"  # type: ignore[union-attr]
    release.set()
    await wait_for(gone(redis, group))


async def test_enqueue_in_and_at_take_a_queue(
    client: pace.Client, redis: Redis, start: Starter
) -> None:
    ran: list[tuple[str, str]] = []

    async def work(job: pace.Job) -> None:
        ran.append((job.args[0], job.queue))

    async with pace.StagedGroup.within_a_grouping(client=client) as group:
        await group.stage(1).enqueue_in(0, "Work", "in", queue="mail")
        await group.stage(1).enqueue_at(time.time() - 1, "Work", "at", queue="mail")
    assert {job.queue for job in await group.stage(1).jobs()} == {"mail"}
    await start(["mail"], work)
    await wait_for(gone(redis, group))
    assert sorted(ran) == [("at", "mail"), ("in", "mail")]


async def test_a_group_never_awaited_or_entered_says_so(client: pace.Client) -> None:
    group = pace.StagedGroup.within_a_grouping("forgot", client=client)
    with pytest.raises(pace.PaceError, match=r"never stored: StagedGroup.create\(...\)"):
        await group.stage(1).enqueue("Work")
    with pytest.raises(pace.PaceError, match="never stored"):
        await group.exists()


async def test_bad_stage_settings_are_refused(client: pace.Client) -> None:
    with pytest.raises(pace.ConfigError, match="on_failure"):
        pace.StagedGroup.within_a_grouping(on_failure="halt")  # type: ignore[arg-type]
    with pytest.raises(pace.ConfigError, match="queue name"):
        pace.StagedGroup.within_a_grouping(queue="a b")
    group = await pace.StagedGroup.create(client=client)
    with pytest.raises(pace.ConfigError, match="stage number"):
        group.stage(0)
    with pytest.raises(pace.ConfigError, match="delay"):
        await group.stage(1).enqueue_in(-1, "Work")
    assert group.description == group.group_id


async def test_stages_example_runs_each_stage_after_the_one_before(
    redis: Redis, cli_env: dict[str, str]
) -> None:
    status, out, err = await run_example("stages", cli_env)
    assert status == 0, err
    events = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[1] == "stage" and parts[3] in ("start", "end"):
            events.append((float(parts[0].rstrip("s")), int(parts[2]), parts[3]))
    assert len(events) == 16
    for earlier, later in ((1, 2),):
        ends = [t for t, n, what in events if n == earlier and what == "end"]
        starts = [t for t, n, what in events if n == later and what == "start"]
        assert min(starts) >= max(ends)
    assert out.count("successful file-") == 6
    assert "the group is gone" in out
    assert await batch_keys(redis) == []
