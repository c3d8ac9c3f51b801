"""Redis Cluster: the embedded cluster, and pace's keys spread over its masters."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis, RedisCluster

import pace
from pace.client import write_out
from pace.embedded import EmbeddedCluster
from pace.errors import CannotRequeue, ConfigError, RedisUnavailable
from pace.keys import Keys
from pace.worker.inflight import InFlight
from pace.worker.schedule import move_due
from pace.workflows.batch import Batch
from pace.workflows.model import NewJob
from tests.support import Starter, on_both, on_cluster, raw_of, wait_for

KEYS = Keys()


async def test_the_embedded_cluster_has_three_masters_sharing_every_slot(
    cluster_server: EmbeddedCluster,
) -> None:
    redis = await pace.connect(cluster_server.url)
    try:
        assert isinstance(redis, RedisCluster)
        masters = redis.get_primaries()
        assert len(masters) == 3
        assert {node.host for node in masters} == {"127.0.0.1"}
        info = await redis.cluster_info(target_nodes=RedisCluster.PRIMARIES)
        assert all(node_info["cluster_state"] == "ok" for node_info in info.values())
        owners = {redis.get_node_from_key(f"resque:queue:q{i}").name for i in range(6)}
        assert len(owners) > 1
    finally:
        await redis.aclose()


async def test_a_cluster_url_that_nothing_answers_is_redis_unavailable() -> None:
    with pytest.raises(RedisUnavailable, match=r"127\.0\.0\.1:1"):
        await pace.connect("redis+cluster://127.0.0.1:1")



@on_cluster
async def test_due_jobs_move_to_queues_on_every_node_under_one_lease(redis: Redis) -> None:
    queues = [f"q{i}" for i in range(6)]
    await redis.zadd(KEYS.schedule, {f"{q}:{{\"class\":\"J\",\"args\":[]}}": 1.0 for q in queues})
    await redis.set(KEYS.schedule_mover, "another worker's token")
    assert await move_due(redis, KEYS) == 0  # another worker is moving them
    assert await redis.zcard(KEYS.schedule) == 6
    await redis.delete(KEYS.schedule_mover)  # its lease ran out
    assert await move_due(redis, KEYS, batch=4) == 6
    assert [await redis.llen(KEYS.queue(q)) for q in queues] == [1] * 6
    assert await redis.smembers(KEYS.queues) == {q.encode() for q in queues}
    assert await redis.zcard(KEYS.schedule) == 0
    assert not await redis.exists(KEYS.schedule_mover)


@on_cluster
async def test_a_worker_drains_queues_on_every_node_highest_priority_first(
    client: pace.Client, redis: Redis, start: Starter
) -> None:
    queues = [f"q{i}" for i in range(6)]
    assert len({redis.get_node_from_key(KEYS.queue(q)).name for q in queues}) == 3
    for q in queues:
        await client.enqueue_many(q, "Job", [[q, i] for i in range(20)])
    ran: list[str] = []

    async def handler(job: pace.Job) -> None:
        ran.append(job.args[0])

    await start(queues, handler, concurrency=1, burst=True)
    await wait_for(lambda: len(ran) == 120)
    assert ran == sorted(ran)  # q0's jobs first, then q1's ...
    assert [await redis.llen(KEYS.queue(q)) for q in queues] == [0] * 6
    assert int(await redis.get(KEYS.stat("processed")) or 0) == 120


@on_both
async def test_a_node_that_lost_its_scripts_gets_them_again_and_counts_once(
    client: pace.Client, redis: Redis
) -> None:
    for q in ("q0", "q1", "q2"):
        await client.enqueue_many(q, "Job", [[1], [2]])
    inflight = InFlight(redis, KEYS, "host:1:q0,q1,q2")
    first = await inflight.exchange([], {"q0": 1, "q1": 1, "q2": 1})
    await redis.script_flush()  # every node restarted or failed over: its scripts are gone
    second = await inflight.exchange([(ref, None) for ref in first], {"q0": 1, "q1": 1, "q2": 1})
    assert len({raw_of(ref) for ref in first + second}) == 6  # every job, none twice
    assert [await redis.llen(KEYS.queue(q)) for q in ("q0", "q1", "q2")] == [0, 0, 0]
    assert int(await redis.get(KEYS.stat("processed")) or 0) == 3


@on_cluster
async def test_a_staged_groups_queue_needs_a_hash_tag_on_a_cluster(
    client: pace.Client, redis: Redis
) -> None:
    with pytest.raises(ConfigError, match=r"needs a hash tag, like '\{stages\}'"):
        await pace.StagedGroup.within_a_grouping("group", client=client)
    group = await pace.StagedGroup.within_a_grouping("group", queue="{q}", client=client)
    assert group.group_id.endswith("{q}")
    with pytest.raises(ConfigError, match="in its slot"):
        await Batch(redis, KEYS, group.group_id).add(1, [NewJob("Job", [], "elsewhere")])


async def test_a_failover_mid_run_loses_no_job(replicated_cluster: EmbeddedCluster) -> None:
    queues = [f"q{i}" for i in range(6)]
    async with pace.Client(redis_url=replicated_cluster.url) as client:
        redis = await client.redis()
        await redis.flushall()
        ids = {
            job_id
            for q in queues
            for job_id in await client.enqueue_many(q, "Job", [[i] for i in range(500)])
        }
        ran: set[str] = set()

        async def handler(job: pace.Job) -> None:
            await asyncio.sleep(0.001)
            ran.add(job.id or "")

        worker = pace.Worker(queues, redis_url=replicated_cluster.url, concurrency=20)
        running = asyncio.create_task(worker.start(handler))
        await wait_for(lambda: len(ran) >= 300, timeout=30)
        # the master of the first slots hands over to its replica mid-run
        await asyncio.to_thread(replicated_cluster.failover, 0)
        assert len(ran) < len(ids), "the failover came too late to test"
        await wait_for(lambda: ran >= ids, timeout=60)
        await worker.stop()
        await running
        assert ran == ids
        assert [await redis.llen(KEYS.queue(q)) for q in queues] == [0] * 6
        assert not [key async for key in redis.scan_iter(match="resque:pace:inflight:*")]
        replica = replicated_cluster.nodes[3]  # q0 and q4 now live on the promoted replica
        assert redis.get_node_from_key(KEYS.queue("q0")).port == replica.port


@on_both
async def test_every_kind_of_outbox_item_is_written_where_it_belongs(redis: Redis) -> None:
    outbox = KEYS.batch("b{x}", "outbox")
    await redis.sadd(KEYS.queues, "done-task", "kept")
    await redis.zadd(KEYS.batches, {"old": 1})
    items = [b'f{"a":1}', b"r12.500000|q:{}", b"i7|new", b"xold", b"q-done-task"]
    await redis.rpush(outbox, *items)
    await write_out(redis, KEYS, outbox, items, "host:1:q")
    assert await redis.lrange(KEYS.failed, 0, -1) == [b'{"a":1}']
    for name in ("failed", "processed"):
        assert await redis.get(KEYS.stat(name)) == b"1"
        assert await redis.get(KEYS.stat(name, "host:1:q")) == b"1"
    assert await redis.zrange(KEYS.schedule, 0, -1, withscores=True) == [(b"q:{}", 12.5)]
    assert await redis.zrange(KEYS.batches, 0, -1, withscores=True) == [(b"new", 7.0)]
    assert await redis.smembers(KEYS.queues) == {b"kept"}
    assert not await redis.exists(outbox)


@on_cluster
async def test_a_batch_job_is_not_requeued_out_of_its_batchs_slot(
    client: pace.Client, redis: Redis, start: Starter
) -> None:
    task = await pace.MultiStepTask.create("t", client=client)
    await task.add_job("Boom")

    async def boom(job: pace.Job) -> None:
        raise ValueError("boom")

    await start([task.queue_name], boom)
    await wait_for(lambda: redis.llen(KEYS.failed))
    with pytest.raises(CannotRequeue, match="hash tag"):
        await pace.Failures(client).requeue(0, queue="elsewhere")
    summary = await pace.Failures(client).requeue_all(queue="elsewhere")
    assert (summary.requeued, list(summary.skipped)) == (0, [0])
    assert not await redis.exists(KEYS.queue("elsewhere"))


@on_cluster
async def test_a_mover_cancelled_while_taking_the_lease_leaves_no_lease(redis: Redis) -> None:
    async def no_lease() -> bool:
        return not await redis.exists(KEYS.schedule_mover)

    for _ in range(5):  # a cancel at each of the first steps of the move
        for steps in range(16):
            mover = asyncio.create_task(move_due(redis, KEYS))
            for _step in range(steps):
                await asyncio.sleep(0)
            mover.cancel()
            await asyncio.gather(mover, return_exceptions=True)
            await wait_for(no_lease, timeout=1)
