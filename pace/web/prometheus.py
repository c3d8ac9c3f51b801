"""``GET /metrics``: Prometheus text format, read from Redis at scrape time.

Each scrape reads Redis once (queues, stats, pauses, and the metrics every live pace worker
publishes each second, found with ``SMEMBERS <ns>:pace:workers``) and hands the families to a
registry made for that scrape: no global registry, nothing kept between scrapes.

| metric | type | meaning |
|---|---|---|
| ``pace_queue_jobs{queue}`` | gauge | jobs waiting in a queue |
| ``pace_queue_paused{queue}`` | gauge | 1 for each queue paused fleet-wide |
| ``pace_queue_latency_seconds{queue}`` | gauge | age of a queue's oldest job (if known) |
| ``pace_jobs_processed_total`` | counter | ``resque:stat:processed`` (failed ones included) |
| ``pace_jobs_failed_total`` | counter | ``resque:stat:failed`` |
| ``pace_failures`` | gauge | failure records kept in ``resque:failed`` |
| ``pace_workers`` | gauge | registered workers (Ruby's and pace's) |
| ``pace_jobs_in_flight`` | gauge | jobs running now, over the live pace workers |
| ``pace_job_duration_seconds`` | histogram | job run times, over the live pace workers |
| ``pace_rate_limit_wait_seconds_total`` | counter | time spent waiting for the rate limit |
| ``pace_queue_limit_rate{queue}`` | gauge | a queue's fleet-wide rate, in jobs per second |
| ``pace_queue_limit_concurrency{queue}`` | gauge | a queue's fleet-wide concurrency |
| ``pace_queue_limit_admitted_total{queue}`` | counter | jobs taken under a queue's limit |
| ``pace_queue_limit_wait_seconds_total{queue}`` | counter | time workers held a queue back |

The histogram and the wait counters add up the live workers' counts since each started, so
they drop when a worker stops: Prometheus' ``rate()`` reads a drop as a counter reset. The
admitted count is the limit's own (pace.limits), kept until the limit is cleared.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from redis.asyncio import Redis

from pace.client import Client
from pace.control import read_pauses
from pace.keys import Keys
from pace.limits import Limit, Limits
from pace.web import reads
from pace.web.context import keys, redis
from pace.web.stats import number, published

__all__ = ["families", "metrics"]


class _Scrape(Collector):
    """The families read for one scrape."""

    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterable[Metric]:
        return self._families


def _histogram(workers: list[dict[str, Any]]) -> HistogramMetricFamily:
    buckets: dict[float, float] = {}
    total = 0.0
    for data in workers:
        for bound, count in data.get("buckets") or ():
            upper = math.inf if bound == "+Inf" else float(bound)
            buckets[upper] = buckets.get(upper, 0.0) + number(count)
        total += number(data.get("sum"))
    buckets.setdefault(math.inf, sum(number(d.get("count")) for d in workers))
    return HistogramMetricFamily(
        "pace_job_duration_seconds",
        "Job run times, over the live pace workers.",
        buckets=[("+Inf" if b == math.inf else repr(b), n) for b, n in sorted(buckets.items())],
        sum_value=total,
    )


def _limits(limits: list[Limit], workers: list[dict[str, Any]]) -> list[Metric]:
    """The fleet-wide limits per queue (pace.limits), and how long workers were held back."""
    labels = ["queue"]
    rate = GaugeMetricFamily(
        "pace_queue_limit_rate", "A queue's fleet-wide rate, in jobs per second.", labels=labels
    )
    most = GaugeMetricFamily(
        "pace_queue_limit_concurrency", "A queue's fleet-wide jobs in flight.", labels=labels
    )
    admitted = CounterMetricFamily(
        "pace_queue_limit_admitted", "Jobs taken under a queue's limit.", labels=labels
    )
    waited = CounterMetricFamily(
        "pace_queue_limit_wait_seconds",
        "Time workers held a queue back for its limit.",
        labels=labels,
    )
    for limit in limits:
        if limit.rate is not None and limit.period:
            rate.add_metric([limit.queue], limit.rate / limit.period)
        if limit.concurrency is not None:
            most.add_metric([limit.queue], limit.concurrency)
        admitted.add_metric([limit.queue], limit.admitted)
    seconds: dict[str, float] = {}
    for data in workers:
        held = data.get("limit_wait_seconds")
        for queue, wait in held.items() if isinstance(held, dict) else ():
            seconds[str(queue)] = seconds.get(str(queue), 0.0) + number(wait)
    for name, wait in sorted(seconds.items()):
        waited.add_metric([name], wait)
    return [rate, most, admitted, waited]


async def families(redis: Redis, keys: Keys) -> list[Metric]:
    """Every metric family, read from Redis now."""
    info = await Client(redis=redis, namespace=keys.namespace).info()
    pauses_read = await read_pauses(redis, keys)
    paused = sorted(p.name for p in pauses_read if p.kind == "queue")
    latency = GaugeMetricFamily(
        "pace_queue_latency_seconds", "Age of the oldest job of a queue (known when its payload "
        "says when it was enqueued).", labels=["queue"],
    )  # fmt: skip
    for queue in await reads.queues(redis, keys, info, pauses_read):
        if queue["latency"] is not None:
            latency.add_metric([queue["name"]], queue["latency"])
    workers = await published(redis, keys)
    depth = GaugeMetricFamily("pace_queue_jobs", "Jobs waiting in a queue.", labels=["queue"])
    for name, size in info.queues.items():
        depth.add_metric([name], size)
    pauses = GaugeMetricFamily(
        "pace_queue_paused", "1 for each queue paused for the whole fleet.", labels=["queue"]
    )
    for name in paused:
        pauses.add_metric([name], 1)
    return [
        depth,
        pauses,
        latency,
        CounterMetricFamily("pace_jobs_processed", "Jobs finished (failed ones included).",
                            value=info.processed_total),
        CounterMetricFamily("pace_jobs_failed", "Jobs failed.", value=info.failed_total),
        GaugeMetricFamily("pace_failures", "Failure records kept.", value=info.failed),
        GaugeMetricFamily("pace_workers", "Registered workers.", value=len(info.workers)),
        GaugeMetricFamily("pace_jobs_in_flight", "Jobs running now, over the live pace workers.",
                          value=sum(number(d.get("in_flight")) for d in workers)),
        _histogram(workers),
        CounterMetricFamily(
            "pace_rate_limit_wait_seconds", "Time spent waiting for the rate limit.",
            value=sum(number(d.get("rate_limit_wait_seconds")) for d in workers),
        ),
        *_limits(await Limits(redis, keys).list(), workers),
    ]  # fmt: skip


async def metrics(request: web.Request) -> web.Response:
    """The Prometheus text exposition of :func:`families`."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Scrape(await families(redis(request), keys(request))))
    return web.Response(
        body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
    )
