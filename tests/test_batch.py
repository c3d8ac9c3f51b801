"""The batch core (pace/batch.py): key layout, settles that count once (racing, retried,
requeued, recovered), the non-batch path untouched, requeue keeping a batch job's keys, and
the cleaner."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from redis.asyncio import Redis

import pace
from pace.keys import Keys
from pace.progress import scope_key
from pace.wire import batch_of
from pace.worker.inflight import InFlight, Ref
from pace.workflows.batch import Batch, batch_ids, clean
from pace.workflows.model import NewJob
from tests.support import Starter, raw_of, succeed, take_one, wait_for

KEYS = Keys()


async def batch_keys(redis: Redis) -> list[str]:
    """Every key of pace's batches, their index included (SCAN, as the cleaner does)."""
    found = [key.decode() async for key in redis.scan_iter(match="resque:pace:batch*")]
    return sorted(found)


async def no_batch_keys(redis: Redis) -> bool:
    """True once no key of any batch is left (a wait_for condition: on a cluster the index
    entry of a batch deleted by a worker goes a moment later, from the lane's outbox)."""
    return not await batch_keys(redis)


async def staged(redis: Redis, batch_id: str, on_failure: Any = "continue") -> Batch:
    batch = Batch(redis, KEYS, batch_id, kind="staged")
    assert await batch.create(kind="staged", name=batch_id, on_failure=on_failure, expire=60)
    return batch


async def take(worker: InFlight, queue: str) -> tuple[Ref, dict[str, Any]]:
    """Take the job at the head of ``queue`` into a worker's lane, as a fetch does."""
    ref = await take_one(worker, queue)
    return ref, json.loads(raw_of(ref))


def member(payload: dict[str, Any]) -> tuple[str, str, int]:
    """The batch membership of a batch job's payload."""
    found = batch_of(payload)
    assert found is not None
    return found


async def test_keys_and_payloads_are_laid_out_as_documented(redis: Redis) -> None:
    batch = await staged(redis, "b1")
    (first,) = await batch.add(1, [NewJob("Import", [1, "x"], "q")])
    (second,) = await batch.add(2, [NewJob("Report", [], "q", "+5.0")])
    assert await redis.zscore(KEYS.batches, "b1") is not None
    assert await batch_keys(redis) == sorted(
        [
            KEYS.batches, KEYS.batch("b1"), KEYS.batch("b1", "jobs"), KEYS.batch("b1", "info"),
            KEYS.batch("b1", "stage", "1", "jobs"), KEYS.batch("b1", "stage", "1", "pending"),
            KEYS.batch("b1", "stage", "2", "jobs"), KEYS.batch("b1", "stage", "2", "pending"),
        ]
    )  # fmt: skip
    item = (await redis.lrange(KEYS.batch("b1", "stage", "2", "pending"), 0, -1))[0]
    job_id, delay, entry = item.split(b"|", 2)
    assert (job_id.decode(), delay) == (second, b"+5.0")
    payload = entry.partition(b":")[2]
    assert (
        payload
        == (
            f'{{"class":"Report","args":[],"id":"{second}","pace_batch":"b1","pace_stage":2}}'
        ).encode()
    )
    assert await redis.hgetall(KEYS.batch("b1", "jobs")) == {
        first.encode(): b"pending",
        second.encode(): b"pending",
    }
    assert not await redis.exists(KEYS.queue("q")), "nothing runs before initiation"
    await batch.initiate()
    assert [json.loads(raw)["id"] for raw in await redis.lrange(KEYS.queue("q"), 0, -1)] == [first]
    assert await redis.sismember(KEYS.queues, "q")
    state = await batch.state()
    assert (state.stage, state.stages, state.sealed) == (1, 2, True)
    assert (state.stage_status(1), state.stage_status(2)) == ("running", "pending")


async def test_the_last_of_50_racing_settles_starts_the_next_stage_exactly_once(
    redis: Redis,
) -> None:
    batch = await staged(redis, "race")
    await batch.add(1, [NewJob("Work", [i], "q") for i in range(50)])
    (final,) = await batch.add(2, [NewJob("Final", [], "next")])
    await batch.initiate()
    workers = [InFlight(redis, KEYS, f"host:{i}:q") for i in range(50)]
    taken = [await take(worker, "q") for worker in workers]
    await asyncio.gather(*(worker.running(member(payload)) for worker, (_, payload) in zip(
        workers, taken, strict=True
    )))  # fmt: skip
    stored = await asyncio.gather(
        *(
            succeed(worker, ref, batch_of(payload))
            for worker, (ref, payload) in zip(workers, taken, strict=True)
        )
    )
    assert stored == [1] * 50
    queued = await redis.lrange(KEYS.queue("next"), 0, -1)
    assert [json.loads(raw)["id"] for raw in queued] == [final]
    state = await batch.state()
    assert (state.stage, state.counts(1).completed, state.counts(1).failed) == (2, 50, 0)
    assert await redis.get("resque:stat:processed") == b"50"


async def test_a_settle_retried_after_a_lost_reply_counts_once(redis: Redis) -> None:
    batch = await staged(redis, "again")
    await batch.add(1, [NewJob("Work", [1], "q"), NewJob("Work", [2], "q")])
    await batch.initiate()
    worker = InFlight(redis, KEYS, "host:1:q")
    ref, payload = await take(worker, "q")
    exchange = await worker.prepare([(ref, batch_of(payload))], {})
    await worker.send(exchange)
    assert exchange.settled == 1
    await worker.send(exchange)  # again, as after a lost reply
    assert exchange.settled == 0
    record = b'{"failed_at":"x"}'
    assert not await worker.fail(ref, record, batch_of(payload))
    state = await batch.state()
    assert (state.counts(1).completed, state.completed, state.failed) == (1, 1, 0)
    assert await redis.get("resque:stat:processed") == b"1"
    assert await redis.llen("resque:failed") == 0


async def test_a_failed_job_run_again_counts_once_as_completed(redis: Redis) -> None:
    batch = await staged(redis, "requeued")
    await batch.add(1, [NewJob("Work", [1], "q")])
    await batch.add(2, [NewJob("Later", [], "q")])
    await batch.initiate()
    worker = InFlight(redis, KEYS, "host:1:q")
    ref, payload = await take(worker, "q")
    await worker.running(member(payload))
    assert await worker.fail(ref, b"{}", batch_of(payload))
    state = await batch.state()
    assert (state.stage, state.counts(1).failed, state.failed) == (2, 1, 1), "continue: on"
    await redis.delete(KEYS.queue("q"))
    # requeued (the payload keeps its batch keys), it runs again and succeeds
    await redis.rpush(KEYS.queue("q"), json.dumps(payload, separators=(",", ":")))
    ref, payload = await take(worker, "q")
    await worker.running(member(payload))
    assert (await batch.state()).counts(1).failed == 0, "running again: no longer failed"
    assert await succeed(worker, ref, batch_of(payload)) == 1
    state = await batch.state()
    assert (state.counts(1).completed, state.counts(1).failed, state.failed) == (1, 0, 0)


async def test_settles_of_a_batch_that_is_gone_create_no_keys(redis: Redis) -> None:
    batch = await staged(redis, "gone")
    await batch.add(1, [NewJob("Work", [1], "q")])
    await batch.initiate()
    worker = InFlight(redis, KEYS, "host:1:q")
    ref, payload = await take(worker, "q")
    assert await batch.delete()
    await worker.running(member(payload))
    assert await succeed(worker, ref, batch_of(payload)) == 1
    assert await redis.get("resque:stat:processed") == b"1", "settled as a plain job"
    assert await batch_keys(redis) == []
    assert not await batch.set_message(payload["id"], "late")
    assert await batch_keys(redis) == []


def test_only_payloads_shaped_as_pace_writes_them_are_batch_jobs() -> None:
    good = {"class": "A", "args": [], "id": "j1", "pace_batch": "b", "pace_stage": 2}
    assert batch_of(good) == ("b", "j1", 2)
    for bad in (
        {"class": "A", "args": []},
        {**good, "pace_batch": 3},
        {**good, "pace_batch": "a:b"},
        {**good, "pace_stage": "2"},
        {**good, "pace_stage": True},
        {**good, "pace_stage": 0},
        {**good, "id": None},
    ):
        assert batch_of(bad) is None, bad


async def test_a_job_with_a_foreign_pace_batch_key_runs_as_a_plain_job(
    client: pace.Client, redis: Redis, start: Starter
) -> None:
    await redis.rpush(KEYS.queue("q"), b'{"class":"A","args":[],"pace_batch":7}')
    await redis.rpush(KEYS.queue("q"), b'{"class":"A","args":[],"id":"x","pace_batch":"nope",'
                                       b'"pace_stage":1}')  # fmt: skip
    ran: list[Any] = []

    async def handler(job: pace.Job) -> None:
        ran.append(job.payload["pace_batch"])

    await start(["q"], handler)

    async def processed() -> bool:
        return await redis.get("resque:stat:processed") == b"2"

    await wait_for(processed)
    assert ran == [7, "nope"]
    assert await batch_keys(redis) == []


async def test_requeue_keeps_a_batch_jobs_keys_and_drops_its_attempt(
    client: pace.Client, redis: Redis
) -> None:
    batch_job = {
        "class": "Work", "args": [1], "id": "j1", "pace_batch": "b1", "pace_stage": 2,
        "pace_attempt": 3, "plugin": True,
    }  # fmt: skip
    plain = {"class": "Work", "args": [2], "id": "j2", "pace_attempt": 2}
    for payload in (batch_job, plain):
        record = {
            "failed_at": "2026/11/22 10:53:41 UTC", "payload": payload, "exception": "E",
            "error": "e", "backtrace": [], "worker": "w", "queue": "q",
        }  # fmt: skip
        await redis.rpush("resque:failed", json.dumps(record))
    summary = await pace.Failures(client).requeue_all()
    assert summary.requeued == 2
    assert await redis.lrange(KEYS.queue("q"), 0, -1) == [
        b'{"class":"Work","args":[1],"id":"j1","pace_batch":"b1","pace_stage":2}',
        b'{"class":"Work","args":[2]}',
    ]


async def test_the_cleaner_removes_orphans_and_purges_by_kind(redis: Redis) -> None:
    await staged(redis, "group")
    multi = Batch(redis, KEYS, "task-1", kind="multistep")
    await multi.create(
        kind="multistep", name="t", on_failure="stop", expire=60, queue="task-1", owns_queue=True
    )
    await multi.add(1, [NewJob("Work", [], "task-1")])
    await redis.hset(KEYS.batch("ghost", "jobs"), "j", "failed")  # its hash expired
    await redis.rpush(KEYS.batch("ghost", "stage", "3", "jobs"), "j")
    await redis.zadd(KEYS.batches, {"expired": 1.0})
    await redis.sadd(KEYS.queues, "expired")  # an expired task's (empty) queue
    assert await batch_ids(redis, KEYS) == ["group", "task-1"]  # oldest first
    summary = await clean(redis, KEYS)
    assert (summary.deleted, summary.orphans) == ([], 2)
    assert not await redis.sismember(KEYS.queues, "expired")
    assert await batch_ids(redis, KEYS, "staged") == ["group"]
    summary = await clean(redis, KEYS, purge="staged")
    assert summary.deleted == ["group"]
    assert await batch_ids(redis, KEYS) == ["task-1"]
    await clean(redis, KEYS, purge="all")
    assert await batch_keys(redis) == []
    assert not await redis.exists(KEYS.queue("task-1"))
    assert not await redis.sismember(KEYS.queues, "task-1")


async def test_bad_settings_are_refused(redis: Redis) -> None:
    batch = Batch(redis, KEYS, "b")
    with pytest.raises(pace.ConfigError, match="on_failure"):
        await batch.create(kind="staged", name="b", on_failure="maybe", expire=1)  # type: ignore[arg-type]
    with pytest.raises(pace.ConfigError, match="expire"):
        await batch.create(kind="staged", name="b", on_failure="stop", expire=0)
    with pytest.raises(pace.NoSuchBatch):
        Batch(redis, KEYS, "a:b")
    with pytest.raises(pace.NoSuchBatch):
        await batch.add(1, [NewJob("A", [], "q")])
    await batch.create(kind="staged", name="b", on_failure="stop", expire=1)
    with pytest.raises(pace.ConfigError, match="stage number"):
        await batch.add(0, [NewJob("A", [], "q")])
    with pytest.raises(pace.ConfigError, match="queue name"):
        await batch.add(1, [NewJob("A", [], "a:b")])
    with pytest.raises(pace.InvalidPayload):
        await batch.add(1, [NewJob("A", [float("nan")], "q")])
    assert (await batch.state()).total == 0


@pytest.mark.parametrize("scope", [("batch", "b1"), "batch:b1", "batches", ("batches", 1)])
def test_progress_scopes_cannot_take_the_keys_of_batches(scope: Any) -> None:
    with pytest.raises(pace.ConfigError, match="pace uses that name"):
        scope_key(scope)


def test_a_progress_scope_named_batch_alone_is_still_free() -> None:
    assert scope_key("batch") == "batch"


async def test_empty_stages_complete_at_once(redis: Redis) -> None:
    batch = await staged(redis, "gaps")
    (job_id,) = await batch.add(3, [NewJob("Work", [], "q")])
    await batch.initiate()
    state = await batch.state()
    assert (state.stage, state.stage_status(1), state.stage_status(2)) == (
        3,
        "complete",
        "complete",
    )
    assert [json.loads(raw)["id"] for raw in await redis.lrange(KEYS.queue("q"), 0, -1)] == [job_id]
    empty = await staged(redis, "empty")
    await empty.initiate()
    assert not await empty.exists(), "a group with no jobs is complete, and gone, at once"
    task = Batch(redis, KEYS, "t-1", kind="multistep")
    await task.create(kind="multistep", name="t", on_failure="stop", expire=60, stage=1)
    (final,) = await task.add(None, [NewJob("Final", [], "t-1")])
    await task.seal()
    assert (await task.state()).stage == 2, "no normal jobs: finalization starts when sealed"
    assert json.loads(await redis.lpop(KEYS.queue("t-1")))["id"] == final


async def test_a_batch_held_by_a_failure_expires_unless_work_is_added_to_its_stage(
    redis: Redis,
) -> None:
    batch = await staged(redis, "held", on_failure="stop")
    await batch.add(1, [NewJob("Work", [1], "q")])
    await batch.initiate()
    worker = InFlight(redis, KEYS, "host:1:q")
    ref, payload = await take(worker, "q")
    assert await worker.fail(ref, b"{}", batch_of(payload))
    assert (await batch.state()).blocked
    assert 0 < await redis.pttl(KEYS.batch("held")) <= 60_000
    await batch.add(2, [NewJob("Later", [], "q")])  # a later stage: still held, still expiring
    assert (await batch.state()).blocked
    for key in await batch_keys(redis):
        if key != KEYS.batches:
            assert await redis.pttl(key) > 0, key
    await batch.add(1, [NewJob("Work", [2], "q")])  # the held stage has work again
    assert not (await batch.state()).blocked
    assert await redis.pttl(KEYS.batch("held")) == -1
    ref, payload = await take(worker, "q")
    assert await succeed(worker, ref, batch_of(payload)) == 1
    state = await batch.state()
    assert (state.blocked, state.stage) == (True, 1), "the first failure still holds it"
