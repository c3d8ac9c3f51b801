"""``GET /metrics`` (pace.web.prometheus)."""

from __future__ import annotations

import asyncio
import json

from prometheus_client.parser import text_string_to_metric_families
from redis.asyncio import Redis

import pace
from tests.support import Starter, wait_for
from tests.web_support import (
    Client,
)


async def test_metrics_in_prometheus_text_format(
    http: Client, client: pace.Client, redis: Redis, start: Starter
) -> None:
    async def handler(job: pace.Job) -> None:
        if job.args[0] == "fail":
            raise ValueError("no")
        await asyncio.sleep(0.02)

    worker = await start(["work"], handler, concurrency=5, jobs_per_second=200)
    await client.enqueue_many("work", "Job", [[i] for i in range(10)] + [["fail"]])
    await client.enqueue_many("later", "Job", [[1], [2], [3]])
    await pace.Pauses(redis).pause_queue("later")

    async def all_done() -> bool:
        return await redis.get("resque:stat:processed") == b"11"

    await wait_for(all_done)

    async def published() -> bool:
        raw = await redis.get(f"resque:pace:worker:{worker.id}:metrics")
        return raw is not None and json.loads(raw)["count"] == 11

    await wait_for(published, timeout=3)
    response = await http.get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(await response.text())
        for sample in family.samples
    }
    assert samples[("pace_queue_jobs", (("queue", "later"),))] == 3
    assert samples[("pace_queue_jobs", (("queue", "work"),))] == 0
    assert samples[("pace_queue_paused", (("queue", "later"),))] == 1
    assert ("pace_queue_paused", (("queue", "work"),)) not in samples
    assert samples[("pace_jobs_processed_total", ())] == 11
    assert samples[("pace_jobs_failed_total", ())] == 1
    assert samples[("pace_failures", ())] == 1
    assert samples[("pace_workers", ())] == 1
    assert samples[("pace_jobs_in_flight", ())] == 0
    assert samples[("pace_job_duration_seconds_count", ())] == 11
    assert samples[("pace_job_duration_seconds_bucket", (("le", "+Inf"),))] == 11
    assert samples[("pace_job_duration_seconds_bucket", (("le", "0.005"),))] == 1  # the failure
    assert samples[("pace_job_duration_seconds_bucket", (("le", "0.01"),))] == 1
    assert samples[("pace_job_duration_seconds_bucket", (("le", "10.0"),))] == 11
    assert 0.2 <= samples[("pace_job_duration_seconds_sum", ())] < 2
    assert samples[("pace_rate_limit_wait_seconds_total", ())] >= 0


async def test_metrics_add_up_live_workers_only(http: Client, redis: Redis) -> None:
    def published(in_flight: int, fast: int, slow: int) -> str:
        buckets = [[0.1, fast], [1.0, fast + slow], ["+Inf", fast + slow]]
        return json.dumps({"in_flight": in_flight, "buckets": buckets, "sum": 1.5,
                           "count": fast + slow, "rate_limit_wait_seconds": 0.25})  # fmt: skip

    for name, alive in (("h:1:q", True), ("h:2:q", True), ("h:3:q", False)):
        await redis.sadd("resque:pace:workers", name)
        await redis.set(f"resque:pace:worker:{name}:metrics", published(2, 3, 4))
        if alive:
            await redis.set(f"resque:pace:worker:{name}:alive", 1)
    text = await (await http.get("/metrics")).text()
    assert "pace_jobs_in_flight 4.0" in text
    assert 'pace_job_duration_seconds_bucket{le="0.1"} 6.0' in text
    assert 'pace_job_duration_seconds_bucket{le="1.0"} 14.0' in text
    assert 'pace_job_duration_seconds_bucket{le="+Inf"} 14.0' in text
    assert "pace_job_duration_seconds_sum 3.0" in text
    assert "pace_rate_limit_wait_seconds_total 0.5" in text
