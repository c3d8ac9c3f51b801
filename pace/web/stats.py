"""Throughput, per-class metrics and Redis' own figures: the Stats page and its API.

Throughput and per-class figures add up what the live pace workers publish each second
(:mod:`pace.metrics`): jobs finished and failed per minute over the last hour, in total and per
queue, and each job class's count, failures and duration percentiles (estimated from its
histogram, as Prometheus' ``histogram_quantile`` does). A worker that stops takes its counts
with it; Ruby workers publish none.

Page: ``/stats`` (pace.web.pages). API: ``GET /api/stats``, ``GET /api/redis``.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

from aiohttp import web
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from pace.connection import is_cluster, scan_some, text
from pace.keys import Keys
from pace.metrics import MINUTES
from pace.web.api import json_response
from pace.web.context import keys, redis

__all__ = ["add_routes", "classes", "number", "published", "quantile", "redis_info", "throughput"]

_EVERY_MASTER = {"target_nodes": "primaries"}  # a cluster's keys: the sum over its masters
_SCAN_ROUNDS = 20  # SCAN calls (of COUNT 1000) spent counting the namespace's keys


async def published(redis: Redis, keys: Keys) -> list[dict[str, Any]]:
    """The published metrics of every live pace worker."""
    ids = sorted(map(text, await redis.smembers(keys.pace_workers)))
    async with redis.pipeline(transaction=False) as pipe:
        for worker_id in ids:
            pipe.exists(keys.alive(worker_id))
            pipe.get(keys.worker_metrics(worker_id))
        replies = await pipe.execute()
    found = []
    for alive, raw in zip(replies[::2], replies[1::2], strict=True):
        try:
            data = json.loads(raw) if alive and raw else None
        except ValueError:
            data = None
        if isinstance(data, dict):
            found.append(data)
    return found


def number(value: Any) -> float:
    """A published number, or 0 for anything else."""
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def throughput(workers: list[dict[str, Any]], now: float | None = None) -> dict[str, Any]:
    """Jobs finished and failed per minute over the last hour, in total and per queue, oldest
    minute first (the current minute last, still counting)."""
    now = time.time() if now is None else now
    current = int(now // 60) * 60
    minutes = [current - 60 * back for back in range(MINUTES - 1, -1, -1)]
    slot = {minute: n for n, minute in enumerate(minutes)}
    processed, failed = [0] * MINUTES, [0] * MINUTES
    queues: dict[str, list[list[int]]] = {}
    for data in workers:
        for entry in data.get("minutes") or ():
            if not isinstance(entry, list) or len(entry) != 4 or entry[0] not in slot:
                continue
            n = slot[entry[0]]
            processed[n] += int(number(entry[1]))
            failed[n] += int(number(entry[2]))
            for queue, counts in (entry[3] if isinstance(entry[3], dict) else {}).items():
                shown = queues.setdefault(str(queue), [[0] * MINUTES, [0] * MINUTES])
                if isinstance(counts, list) and len(counts) == 2:
                    shown[0][n] += int(number(counts[0]))
                    shown[1][n] += int(number(counts[1]))
    elapsed = max(1.0, now - current)
    return {
        "minutes": minutes,
        "processed": processed,
        "failed": failed,
        "processed_last_hour": sum(processed),
        "failed_last_hour": sum(failed),
        "per_second_now": round(processed[-1] / elapsed, 2),
        "queues": {
            name: {
                "processed": p,
                "failed": f,
                "processed_last_hour": sum(p),
                "failed_last_hour": sum(f),
            }
            for name, (p, f) in sorted(queues.items())
        },
    }


def quantile(q: float, buckets: list[tuple[float, float]]) -> float | None:
    """The ``q`` quantile of a cumulative histogram ``[(upper bound, count), ...]``, by linear
    interpolation within its bucket (Prometheus' ``histogram_quantile``); None if empty."""
    total = buckets[-1][1] if buckets else 0
    if total <= 0:
        return None
    rank, lower, below = q * total, 0.0, 0.0
    for upper, count in buckets:
        if count >= rank:
            if math.isinf(upper):
                return lower  # above the largest finite bound: that bound, as Prometheus says
            return lower + (upper - lower) * (rank - below) / max(count - below, 1e-9)
        lower, below = upper, count
    return lower


def classes(workers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each job class's runs, failures, mean and p50/p95 duration, busiest first."""
    merged: dict[str, dict[str, Any]] = {}
    for data in workers:
        published_classes = data.get("classes")
        for name, stats in (
            published_classes if isinstance(published_classes, dict) else {}
        ).items():
            if not isinstance(stats, dict):
                continue
            into = merged.setdefault(
                str(name), {"count": 0.0, "failed": 0.0, "sum": 0.0, "buckets": {}}
            )
            for field in ("count", "failed", "sum"):
                into[field] += number(stats.get(field))
            for bucket in stats.get("buckets") or ():
                if isinstance(bucket, list) and len(bucket) == 2:
                    upper = math.inf if bucket[0] == "+Inf" else number(bucket[0])
                    into["buckets"][upper] = into["buckets"].get(upper, 0.0) + number(bucket[1])
    shown = []
    for name, into in merged.items():
        buckets = sorted(into["buckets"].items())
        count = int(into["count"])
        p50, p95 = quantile(0.5, buckets), quantile(0.95, buckets)
        shown.append({
            "class": name,
            "count": count,
            "failed": int(into["failed"]),
            "failure_rate": round(into["failed"] / count, 4) if count else None,
            "mean_seconds": round(into["sum"] / count, 6) if count else None,
            "p50_seconds": None if p50 is None else round(p50, 6),
            "p95_seconds": None if p95 is None else round(p95, 6),
        })  # fmt: skip
    return sorted(shown, key=lambda c: (-c["count"], c["class"]))


async def redis_info(redis: Redis, keys: Keys) -> dict[str, Any]:
    """Redis' version, memory, clients, operations per second, and the keys of the namespace
    (counted with a bounded ``SCAN``: ``keys_complete`` says whether every key was seen)."""
    info = await redis.info()  # a cluster's: one node's
    try:
        found, complete = await scan_some(redis, f"{keys.namespace}:*", rounds=_SCAN_ROUNDS)
    except ResponseError:  # SCAN refused (a proxy, or a renamed command)
        found, complete = [], False
    return {
        "version": info.get("redis_version"),
        "mode": info.get("redis_mode"),
        "uptime_seconds": info.get("uptime_in_seconds"),
        "used_memory": info.get("used_memory"),
        "used_memory_human": info.get("used_memory_human"),
        "used_memory_peak_human": info.get("used_memory_peak_human"),
        "maxmemory_human": info.get("maxmemory_human"),
        "connected_clients": info.get("connected_clients"),
        "blocked_clients": info.get("blocked_clients"),
        "ops_per_second": info.get("instantaneous_ops_per_sec"),
        "keys_in_database": await redis.dbsize(**_EVERY_MASTER if is_cluster(redis) else {}),
        "keys_in_namespace": len(found),
        "keys_complete": complete,
    }


# -- handlers ---------------------------------------------------------------------------


async def stats_api(request: web.Request) -> web.Response:
    """Throughput over the last hour (total and per queue) and per-class metrics, from the live
    pace workers."""
    workers = await published(redis(request), keys(request))
    return json_response({"throughput": throughput(workers), "classes": classes(workers)})


async def redis_api(request: web.Request) -> web.Response:
    """Redis: version, memory, clients, operations per second, keys in the namespace."""
    return json_response(await redis_info(redis(request), keys(request)))


def add_routes(app: web.Application) -> None:
    """Register the API routes (the page is in pace.web.pages)."""
    app.router.add_get("/api/stats", stats_api, name="api.stats")
    app.router.add_get("/api/redis", redis_api, name="api.redis")
