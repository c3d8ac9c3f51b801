"""Throughput, per-class metrics and Redis on the Stats page and its API (pace.web.stats), from
what workers publish (pace.metrics)."""

from __future__ import annotations

import asyncio
import json
import math
from typing import Any
from unittest import mock

import pytest
from redis.asyncio import Redis

import pace
from pace.metrics import MAX_CLASSES, OTHER, WorkerMetrics
from pace.web.stats import quantile
from tests.support import Starter, on_both, wait_for
from tests.web_support import XSS, Client


async def test_throughput_and_per_class_metrics_come_from_the_workers(
    http: Client, client: pace.Client, redis: Redis, start: Starter
) -> None:
    async def handler(job: pace.Job) -> None:
        if job.class_name == "Slow":
            await asyncio.sleep(0.2)
        elif job.args and job.args[0] == "fail":
            raise ValueError("no")

    worker = await start(["mail", "reports"], handler, concurrency=10)
    await client.enqueue_many("mail", "SendMail", [[i] for i in range(20)] + [["fail"]] * 2)
    await client.enqueue_many("reports", "Slow", [[1], [2]])
    await client.enqueue("reports", XSS)

    async def published() -> bool:
        raw = await redis.get(f"resque:pace:worker:{worker.id}:metrics")
        return raw is not None and json.loads(raw)["count"] == 25

    await wait_for(published, timeout=5)
    data = await (await http.get("/api/stats")).json()
    flow = data["throughput"]
    assert (flow["processed_last_hour"], flow["failed_last_hour"]) == (25, 2)
    assert len(flow["processed"]) == 60
    assert flow["processed"][-1] + flow["processed"][-2] == 25  # this minute (or the last)
    assert flow["queues"]["mail"]["processed_last_hour"] == 22
    assert flow["queues"]["mail"]["failed_last_hour"] == 2
    assert flow["queues"]["reports"]["processed_last_hour"] == 3
    by_class = {c["class"]: c for c in data["classes"]}
    assert [c["class"] for c in data["classes"]] == ["SendMail", "Slow", XSS]  # busiest first
    assert (by_class["SendMail"]["count"], by_class["SendMail"]["failed"]) == (22, 2)
    assert by_class["SendMail"]["failure_rate"] == round(2 / 22, 4)
    assert by_class["SendMail"]["p95_seconds"] < 0.1
    assert 0.1 <= by_class["Slow"]["p50_seconds"] <= 0.25
    assert by_class["Slow"]["mean_seconds"] >= 0.2
    page = await (await http.get("/stats")).text()
    assert "<polyline" in page
    assert 'data-class="SendMail"' in page
    assert "&lt;script&gt;" in page
    assert "<script>alert" not in page


def test_a_quantile_is_read_from_a_histogram_as_prometheus_does() -> None:
    buckets = [(0.1, 10.0), (0.5, 90.0), (1.0, 100.0), (math.inf, 100.0)]
    assert quantile(0.5, buckets) == 0.1 + 0.4 * (50 - 10) / 80
    assert quantile(0.95, buckets) == 0.5 + 0.5 * 0.5
    assert quantile(0.05, buckets) == 0.05
    assert quantile(0.99, [(1.0, 1.0), (math.inf, 10.0)]) == 1.0  # past the last finite bound
    assert quantile(0.5, [(1.0, 0.0), (math.inf, 0.0)]) is None


def test_worker_metrics_count_outcomes_per_class_and_minute_within_bounds() -> None:
    metrics = WorkerMetrics()
    with mock.patch("pace.metrics.time.time", return_value=6000.0):
        metrics.observe(0.01, "A", "q")
        metrics.observe(0.2, "A", "q", ValueError("no"))
        metrics.observe(0.3, "A", "q", asyncio.CancelledError())  # stopped: no outcome
        for n in range(MAX_CLASSES + 5):
            metrics.observe(0.001, f"C{n}", "other")
    with mock.patch("pace.metrics.time.time", return_value=6000.0 + 3600):
        metrics.observe(0.01, "A", "q")  # an hour later: the first minute is dropped
    data: dict[str, Any] = json.loads(metrics.to_json(in_flight=0))
    assert data["count"] == 4 + MAX_CLASSES + 5
    assert (data["classes"]["A"]["count"], data["classes"]["A"]["failed"]) == (4, 1)
    assert len(data["classes"]) == MAX_CLASSES + 1  # and the others together
    assert data["classes"][OTHER]["count"] == 6
    assert data["minutes"] == [[9600, 1, 0, {"q": [1, 0]}]]
    assert data["sum"] == pytest.approx(0.01 + 0.2 + 0.3 + 0.001 * (MAX_CLASSES + 5) + 0.01)
    assert [count for _, count in data["buckets"]][:2] == [MAX_CLASSES + 5, MAX_CLASSES + 7]


@on_both
async def test_redis_figures_and_the_keys_of_the_namespace(
    http: Client, client: pace.Client, redis: Redis
) -> None:
    await client.enqueue_many("q", "Job", [[1]])
    await redis.set("other:key", 1)
    data = await (await http.get("/api/redis")).json()
    info = await redis.info()
    assert data["version"] == info["redis_version"]
    assert data["connected_clients"] >= 1
    assert data["used_memory_human"]
    assert (data["keys_in_namespace"], data["keys_complete"]) == (2, True)  # queues, queue:q
    assert data["keys_in_database"] == 3
    page = await (await http.get("/stats")).text()
    assert info["redis_version"] in page
