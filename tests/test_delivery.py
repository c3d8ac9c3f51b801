"""No job lost: the in-flight list, recovery of dead workers, poison jobs, retries, timeouts,
the schedule, graceful stop, and a Redis restart mid-run."""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from typing import Any

from redis.asyncio import Redis

import pace
from pace.embedded import EmbeddedRedis
from pace.keys import Keys
from pace.retry import RetryPolicy
from pace.worker.inflight import InFlight, Ref
from tests.support import Starter, lanes_left, on_both, raw_of, wait_for

KEYS = Keys()


async def failures(redis: Redis) -> list[dict[str, Any]]:
    return [json.loads(raw) for raw in await redis.lrange("resque:failed", 0, -1)]


async def lane_jobs(redis: Redis, queue: str, worker_id: str) -> list[bytes]:
    """The payloads a worker holds of a queue, every fetch of its lane in order."""
    lane = KEYS.lane(queue, worker_id)
    numbers = sorted(int(n) for n in await redis.smembers(lane))
    return [raw for n in numbers for raw in await redis.lrange(f"{lane}:{n}", 0, -1)]


async def ghost(redis: Redis, worker_id: str, queue: str, count: int) -> list[Ref]:
    """A worker that takes ``count`` jobs of ``queue`` and dies (no alive key)."""
    await redis.sadd("resque:pace:workers", worker_id)
    return await InFlight(redis, KEYS, worker_id).exchange([], {queue: count})


@on_both
async def test_a_running_job_is_in_flight_until_its_outcome_is_stored(
    client: pace.Client, redis: Redis, start: Starter
) -> None:
    release = asyncio.Event()

    async def handler(job: pace.Job) -> None:
        await release.wait()

    job_id = await client.enqueue("q", "Job", 1)
    worker = await start(["q"], handler)
    await wait_for(lambda: lane_jobs(redis, "q", worker.id))
    (raw,) = await lane_jobs(redis, "q", worker.id)
    assert json.loads(raw)["id"] == job_id
    assert await redis.llen("resque:queue:q") == 0
    release.set()

    async def settled() -> bool:
        return not await redis.exists(KEYS.lane("q", worker.id)) and await redis.get(
            "resque:stat:processed"
        ) == b"1"

    await wait_for(settled)
    assert not await redis.keys("resque:pace:inflight:*"), "nothing left in the lane"


@on_both
async def test_successes_in_order_cost_one_delete_and_stragglers_an_integer_each(
    redis: Redis,
) -> None:
    """The in-flight bookkeeping: a fetch is one list; jobs that succeed while older ones
    still run are marked in the lane's settled set; the list goes with the last of them."""
    await redis.rpush("resque:queue:q", *(f'{{"class":"J","args":[{i}]}}' for i in range(3)))
    inflight = InFlight(redis, KEYS, "me:1:q")
    first, second, third = await inflight.exchange([], {"q": 3})
    lane = KEYS.lane("q", "me:1:q")
    await inflight.exchange([(second, None), (third, None)], {})
    assert await redis.smembers(lane) == {b"1"}
    assert await redis.llen(f"{lane}:1") == 3
    assert await redis.smembers(f"{lane}:settled") == {str(1 << 16 | i).encode() for i in (1, 2)}
    await inflight.exchange([(first, None)], {})
    assert not await redis.keys("resque:pace:inflight:*")
    assert await redis.get("resque:stat:processed") == b"3"
    assert await redis.get("resque:stat:processed:me:1:q") == b"3"


@on_both
async def test_an_exchange_sent_again_after_a_lost_reply_takes_no_job_twice(
    redis: Redis,
) -> None:
    raws = [f'{{"class":"J","args":[{i}]}}'.encode() for i in range(10)]
    await redis.rpush("resque:queue:q", *raws)
    inflight = InFlight(redis, KEYS, "me:1:q")
    exchange = await inflight.prepare([], {"q": 3})
    assert [raw_of(ref) for ref in await inflight.send(exchange)] == raws[:3]
    again = await inflight.send(exchange)  # as if the first reply had been lost
    assert [raw_of(ref) for ref in again] == raws[:3], "the same jobs, read back"
    assert await redis.lrange("resque:queue:q", 0, -1) == raws[3:]
    await inflight.exchange([(ref, None) for ref in again], {})
    assert not await redis.keys("resque:pace:inflight:*")


@on_both
async def test_a_dead_workers_jobs_go_back_to_the_head_of_their_queues(
    client: pace.Client, redis: Redis, start: Starter
) -> None:
    dead = "ghost:1:q"
    await client.enqueue_many("q", "Job", [[i] for i in range(3)])
    await ghost(redis, dead, "q", 2)
    await ghost(redis, dead, "q", 1)  # a second fetch of the same lane
    await redis.sadd("resque:workers", dead)
    await redis.hset("resque:workers:heartbeat", dead, "2026-11-23T00:00:00+00:00")
    await client.enqueue("q", "Job", 99)  # already queued: recovered jobs go before it
    ran: list[Any] = []

    async def handler(job: pace.Job) -> None:
        ran.append(job.args[0])

    await start(["q"], handler, concurrency=1, dead_after=0.4)
    await wait_for(lambda: len(ran) == 4, timeout=5)
    assert ran == [0, 1, 2, 99]
    assert not await redis.sismember("resque:workers", dead)
    assert not await redis.hexists("resque:workers:heartbeat", dead)
    assert not await redis.exists(KEYS.lane("q", dead), KEYS.worker_lanes(dead))
    assert not await redis.sismember("resque:pace:workers", dead)


@on_both
async def test_recovery_moves_each_job_exactly_once_when_many_workers_race(redis: Redis) -> None:
    dead = "ghost:2:q"
    raws = [f'{{"class":"Job","args":[{i}]}}'.encode() for i in range(500)]
    await redis.rpush("resque:queue:q", *raws)
    await ghost(redis, dead, "q", 500)
    racers = [InFlight(redis, KEYS, f"racer:{i}:q") for i in range(20)]
    moved = await asyncio.gather(*(racer.release(dead) for racer in racers))
    assert sorted(moved, reverse=True)[:2] == [500, 0]
    assert await redis.lrange("resque:queue:q", 0, -1) == raws
    assert set((await redis.hgetall(KEYS.deliveries("q"))).values()) == {b"1"}


@on_both
async def test_a_live_worker_is_not_recovered(redis: Redis) -> None:
    other = "alive:3:q"
    await redis.rpush("resque:queue:q", b"{}")
    await ghost(redis, other, "q", 1)
    await redis.set(KEYS.alive(other), "1", ex=10)
    assert await InFlight(redis, KEYS, "me:1:q").release(other) == -1
    assert await lane_jobs(redis, "q", other) == [b"{}"]


@on_both
async def test_a_failure_record_is_not_lost_with_a_worker_that_dies_storing_it(
    redis: Redis,
) -> None:
    """A failure's record waits in the lane's outbox until the worker has appended it to
    resque:failed; a worker that dies in between leaves it to the one that recovers it."""
    await redis.rpush("resque:queue:q", b'{"class":"J","args":[]}')
    dying = InFlight(redis, KEYS, "ghost:4:q")
    await redis.sadd("resque:pace:workers", "ghost:4:q")
    (ref,) = await dying.exchange([], {"q": 1})
    assert await dying.fail(ref, b'{"failed_at":"x"}', None) == b'f{"failed_at":"x"}'
    assert await redis.llen("resque:failed") == 0  # it died here
    assert await InFlight(redis, KEYS, "me:1:q").release("ghost:4:q") == 0
    assert await redis.lrange("resque:failed", 0, -1) == [b'{"failed_at":"x"}']
    assert await redis.get("resque:stat:failed") == b"1"
    assert await redis.llen("resque:queue:q") == 0, "a failed job does not run again"
    assert not await lanes_left(redis)


@on_both
async def test_a_job_that_keeps_killing_workers_is_failed_as_poison(
    redis: Redis, start: Starter
) -> None:
    raw = b'{"class":"Killer","args":[]}'
    await redis.rpush("resque:queue:q", raw)
    for i in range(3):  # three workers died running it
        dead = f"ghost:{i}:q"
        await ghost(redis, dead, "q", 1)
        assert await InFlight(redis, KEYS, "me:1:q").release(dead) == 1
        assert await redis.lrange("resque:queue:q", 0, -1) == [raw]
    ran: list[pace.Job] = []

    async def handler(job: pace.Job) -> None:
        ran.append(job)

    worker = await start(["q"], handler, max_recoveries=3)
    await wait_for(lambda: redis.llen("resque:failed"))
    (record,) = await failures(redis)
    assert record["exception"] == "pace.errors.PoisonJob"
    assert "3 workers died" in record["error"]
    assert record["payload"] == {"class": "Killer", "args": []}
    assert ran == []
    assert not await redis.exists(KEYS.deliveries("q"))
    assert await lane_jobs(redis, "q", worker.id) == []


@on_both
async def test_retries_back_off_and_only_the_last_failure_is_recorded(
    client: pace.Client, redis: Redis, start: Starter
) -> None:
    attempts: list[tuple[int, float]] = []

    async def flaky(job: pace.Job) -> None:
        attempts.append((job.attempt, time.monotonic()))
        raise ConnectionError(f"attempt {job.attempt}")

    policy = RetryPolicy(attempts=3, backoff=0.3, factor=2, jitter=0)
    job_id = await client.enqueue("q", "Flaky", "x")
    await start(["q"], {"Flaky": flaky}, retry={"Flaky": policy})
    await wait_for(lambda: redis.llen("resque:failed"), timeout=5)
    assert [attempt for attempt, _ in attempts] == [1, 2, 3]
    first_gap = attempts[1][1] - attempts[0][1]
    second_gap = attempts[2][1] - attempts[1][1]
    assert 0.3 <= first_gap < second_gap
    assert second_gap >= 0.6
    (record,) = await failures(redis)
    assert record["payload"] == {"class": "Flaky", "args": ["x"], "id": job_id, "pace_attempt": 3}
    assert record["error"] == "attempt 3"
    assert await redis.get("resque:stat:failed") == b"1"
    assert await redis.get("resque:stat:processed") == b"1"
    assert not await redis.exists("resque:pace:schedule")


@on_both
async def test_other_exceptions_are_not_retried(
    client: pace.Client, redis: Redis, start: Starter
) -> None:
    async def broken(job: pace.Job) -> None:
        raise KeyError("no")

    await client.enqueue("q", "Broken")
    policy = RetryPolicy(attempts=5, backoff=0.01, exceptions=(ConnectionError,))
    await start(["q"], broken, retry=policy)
    await wait_for(lambda: redis.llen("resque:failed"))
    (record,) = await failures(redis)
    assert "pace_attempt" not in record["payload"]


@on_both
async def test_a_handler_can_ask_for_a_retry_with_a_delay(
    client: pace.Client, redis: Redis, start: Starter
) -> None:
    runs: list[float] = []

    async def handler(job: pace.Job) -> None:
        runs.append(time.monotonic())
        if job.attempt == 1:
            raise pace.Retry(delay=0.4)

    await client.enqueue("q", "Job")
    await start(["q"], handler)
    await wait_for(lambda: len(runs) == 2, timeout=5)
    assert runs[1] - runs[0] >= 0.4
    await wait_for(lambda: redis.get("resque:stat:processed"))
    assert await redis.llen("resque:failed") == 0


@on_both
async def test_a_job_over_its_timeout_is_cancelled_and_failed(
    client: pace.Client, redis: Redis, start: Starter
) -> None:
    cancelled = asyncio.Event()

    async def slow(job: pace.Job) -> None:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    await client.enqueue("q", "Slow")
    await start(["q"], slow, job_timeout=0.2)
    await wait_for(lambda: redis.llen("resque:failed"))
    (record,) = await failures(redis)
    assert record["exception"] == "pace.errors.JobTimeout"
    assert "0.2 s timeout" in record["error"]
    assert cancelled.is_set()


@on_both
async def test_enqueue_in_waits_on_the_schedule_then_runs(
    client: pace.Client, redis: Redis, start: Starter
) -> None:
    runs: list[float] = []

    async def handler(job: pace.Job) -> None:
        runs.append(time.monotonic())

    await start(["q"], handler)
    asked = time.monotonic()
    await client.enqueue_in(0.5, "q", "Later", 1)
    assert await redis.zcard("resque:pace:schedule") == 1
    await wait_for(lambda: runs, timeout=5)
    assert runs[0] - asked >= 0.5
    assert await redis.zcard("resque:pace:schedule") == 0


@on_both
async def test_graceful_stop_under_load_loses_nothing_and_fails_nothing(
    client: pace.Client, redis: Redis, start: Starter
) -> None:
    ids = await client.enqueue_many("q", "Job", [[i] for i in range(2000)])
    done: list[str | None] = []

    async def handler(job: pace.Job) -> None:
        await asyncio.sleep(0.02)
        done.append(job.id)

    worker = await start(["q"], handler, concurrency=50)
    await wait_for(lambda: len(done) > 200)
    await worker.stop(timeout=5)
    queued = [json.loads(raw)["id"] for raw in await redis.lrange("resque:queue:q", 0, -1)]
    assert sorted(done + queued) == sorted(ids), "every job either ran or is still queued"
    assert queued == ids[len(ids) - len(queued) :], "the rest stay queued in order"
    assert await redis.llen("resque:failed") == 0
    assert not await redis.keys("resque:pace:*")


async def test_a_redis_restart_mid_run_loses_no_job() -> None:
    with tempfile.TemporaryDirectory(prefix="pace-") as directory:
        server = EmbeddedRedis(directory).start()
        try:
            async with pace.Client(server.url) as client:
                ids = set(await client.enqueue_many("q", "Job", [[i] for i in range(600)]))
            done: set[str | None] = set()

            async def handler(job: pace.Job) -> None:
                await asyncio.sleep(0.01)
                done.add(job.id)

            worker = pace.Worker(["q"], redis_url=server.url, concurrency=20, burst=True)
            task = asyncio.create_task(worker.start(handler))
            await wait_for(lambda: len(done) > 100)
            server.stop()
            await asyncio.sleep(0.5)
            server.start()
            await asyncio.wait_for(task, timeout=30)
            assert done >= ids
            async with pace.Client(server.url) as client:
                redis = await client.redis()
                assert await redis.llen("resque:queue:q") == 0
                assert await redis.llen("resque:failed") == 0
                assert int(await redis.get("resque:stat:processed")) >= len(ids)
        finally:
            server.stop()


@on_both
async def test_a_huge_payload_runs_and_a_huge_bad_one_is_kept_in_its_failure(
    client: pace.Client, redis: Redis, start: Starter
) -> None:
    big = "x" * 5_000_000
    bad = b"{" + b"y" * 5_000_000
    await client.enqueue("q", "Big", big)
    await redis.rpush("resque:queue:q", bad)
    sizes: list[int] = []

    async def handler(job: pace.Job) -> None:
        sizes.append(len(job.args[0]))

    await start(["q"], handler)
    await wait_for(lambda: redis.llen("resque:failed"), timeout=10)
    assert sizes == [5_000_000]
    (record,) = await failures(redis)
    assert record["exception"] == "pace.errors.InvalidPayload"
    assert record["payload"].encode() == bad
