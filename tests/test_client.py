"""Enqueueing writes exactly what Resque.enqueue writes; info reads it back."""

from __future__ import annotations

import json

import pytest
from redis.asyncio import Redis

import pace
from tests.support import on_both


@on_both
async def test_enqueue_writes_resque_json_and_the_queue_set(
    client: pace.Client, redis: Redis
) -> None:
    job_id = await client.enqueue("mail", "SendMail", "zoë@example.com", 3)
    assert await redis.smembers("resque:queues") == {b"mail"}
    (raw,) = await redis.lrange("resque:queue:mail", 0, -1)
    assert raw == f'{{"class":"SendMail","args":["zoë@example.com",3],"id":"{job_id}"}}'.encode()


@on_both
async def test_enqueue_many_keeps_order_in_one_round_trip(
    client: pace.Client, redis: Redis
) -> None:
    ids = await client.enqueue_many("q", "Resize", [[i] for i in range(500)])
    raws = await redis.lrange("resque:queue:q", 0, -1)
    assert [json.loads(raw)["id"] for raw in raws] == ids
    assert [json.loads(raw)["args"] for raw in raws] == [[i] for i in range(500)]
    assert await client.enqueue_many("q", "Resize", []) == []


@on_both
async def test_module_level_enqueue_uses_the_url_lookup(
    redis_url: str, redis: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pace, "redis_url", redis_url)
    await pace.enqueue("q", "Job", 1)
    assert await redis.llen("resque:queue:q") == 1


@on_both
@pytest.mark.parametrize("queue", ["", "a:b", "has space"])
async def test_bad_queue_names_are_refused(client: pace.Client, queue: str) -> None:
    with pytest.raises(pace.ConfigError, match="bad queue name"):
        await client.enqueue(queue, "Job")


@on_both
async def test_info_reports_queues_workers_failures_and_stats(
    client: pace.Client, redis: Redis
) -> None:
    await client.enqueue_many("b", "Job", [[1], [2]])
    await client.enqueue("a", "Job")
    await redis.sadd("resque:workers", "host:1:a")
    await redis.rpush("resque:failed", "{}")
    await redis.set("resque:stat:processed", 7)
    await redis.set("resque:stat:failed", 1)
    assert await client.info() == pace.Info(
        queues={"a": 1, "b": 2}, workers=["host:1:a"], failed=1, processed_total=7, failed_total=1
    )
