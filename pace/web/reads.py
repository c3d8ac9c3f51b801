"""What the pages and the API show, read from Redis as JSON-ready dicts (the API returns them
as they are; the templates render the same dicts)."""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from pace.client import Client, Info
from pace.connection import atomic, scan_some, text
from pace.control import Pause, read_pauses
from pace.errors import ConfigError
from pace.keys import Keys
from pace.limits import Limit, Limits
from pace.progress import RedisStore, Tick, jobs, scope_key
from pace.queues import check_queue_name
from pace.web.context import WebError
from pace.web.formats import moment
from pace.wire import loads

__all__ = [
    "dumps",
    "enqueued_at",
    "job_json",
    "overview",
    "parse_scope",
    "pause_of",
    "progress",
    "queue",
    "queues",
    "scopes",
    "tick_json",
    "workers",
]

logger = logging.getLogger("pace")

STALE_AFTER = 300.0
"""Seconds without a progress write after which a running job is shown ``stale``."""
HEARTBEAT_STALE = 300.0
"""Seconds after which a Ruby worker's heartbeat is old (Resque prunes it then)."""
MAX_JOBS_PER_SCOPE = 100
"""Most progress entries shown per scope: running ones first, then the latest."""
_SCAN_ROUNDS = 50  # SCAN calls (of COUNT 1000) spent looking for progress scopes
_PACE_HASHES = {"deliveries", "paused"}  # pace's own hashes that are not progress


def _pause_json(pause: Pause) -> dict[str, Any]:
    return {"kind": pause.kind, "name": pause.name, "until": pause.until}


async def pause_of(redis: Redis, keys: Keys, kind: str, name: str) -> dict[str, Any] | None:
    """The pause of one queue or worker, or ``None``."""
    for pause in await read_pauses(redis, keys):
        if pause.kind == kind and pause.name == name:
            return _pause_json(pause)
    return None


def _decoded(raw: bytes | str | None) -> Any:
    """A JSON value from Redis, or ``None`` when it is absent or not JSON."""
    if raw is None:
        return None
    try:
        return loads(raw)
    except (ValueError, RecursionError):
        return None


def job_json(raw: bytes) -> dict[str, Any]:
    """One queued job: its class, args and id, the payload, and the raw text if undecodable."""
    payload = _decoded(raw)
    if not isinstance(payload, dict):
        return {"class": None, "args": None, "id": None, "payload": None,
                "raw": raw.decode(errors="replace")}  # fmt: skip
    return {
        "class": payload.get("class"),
        "args": payload.get("args"),
        "id": payload.get("id"),
        "payload": payload,
    }


def enqueued_at(raw: bytes | None) -> float | None:
    """When a job was enqueued (Unix seconds), if its payload says: ``enqueued_at`` (Unix
    seconds or ISO 8601, as Sidekiq and pace's clients may write it), or ActiveJob's
    ``args[0].enqueued_at``. Resque's own payloads carry no enqueue time: None."""
    payload = _decoded(raw)
    if not isinstance(payload, dict):
        return None
    args = payload.get("args")
    wrapped = args[0] if isinstance(args, list) and args and isinstance(args[0], dict) else {}
    at = moment(payload.get("enqueued_at", wrapped.get("enqueued_at")))
    return None if at is None else at.epoch


async def queues(
    redis: Redis, keys: Keys, info: Info | None = None, pauses: list[Pause] | None = None
) -> list[dict[str, Any]]:
    """Every known queue with its size, pause and latency (the age of its oldest job, or None
    when its payload carries no enqueue time), sorted by name."""
    if info is None:
        info = await Client(redis=redis, namespace=keys.namespace).info()
    if pauses is None:
        pauses = await read_pauses(redis, keys)
    async with redis.pipeline(transaction=False) as pipe:
        for name in info.queues:
            pipe.lindex(keys.queue(name), 0)
        heads = await pipe.execute()
    paused = {p.name: p for p in pauses if p.kind == "queue"}
    now = time.time()
    shown = []
    for (name, size), head in zip(info.queues.items(), heads, strict=True):
        since = enqueued_at(head)
        shown.append({
            "name": name,
            "size": size,
            "paused": name in paused,
            "paused_until": paused[name].until if name in paused else None,
            "latency": None if since is None else round(max(0.0, now - since), 3),
        })  # fmt: skip
    return shown


async def overview(redis: Redis, keys: Keys) -> dict[str, Any]:
    """Queues, workers, totals and the pauses in force."""
    info = await Client(redis=redis, namespace=keys.namespace).info()
    pauses = await read_pauses(redis, keys)
    return {
        "namespace": keys.namespace,
        "processed": info.processed_total,
        "failed": info.failed_total,
        "failures": info.failed,
        "queues": await queues(redis, keys, info, pauses),
        "workers": await workers(redis, keys, pauses),
        "scheduled": await redis.zcard(keys.schedule),
        "pauses": [_pause_json(pause) for pause in pauses],
        "paused_all": text(await redis.get(keys.pause_all) or b"") == "true",
    }


async def queue(redis: Redis, keys: Keys, name: str, start: int, count: int) -> dict[str, Any]:
    """A page of a queue's jobs, oldest first (``LRANGE``).

    Raises:
        ConfigError: not a queue name.
        WebError: 404, no such queue.
    """
    check_queue_name(name)
    async with redis.pipeline(transaction=atomic(redis)) as pipe:
        pipe.sismember(keys.queues, name)
        pipe.llen(keys.queue(name))
        pipe.lrange(keys.queue(name), start, start + count - 1)
        known, size, raws = await pipe.execute()
    if not known and not size:
        raise WebError(404, f"no queue named {name!r}")
    pauses = await read_pauses(redis, keys)
    pause = next((p for p in pauses if p.kind == "queue" and p.name == name), None)
    return {
        "name": name,
        "size": size,
        "start": start,
        "count": count,
        "paused": pause is not None,
        "paused_until": pause.until if pause else None,
        "limit": limit_json(await Limits(redis, keys).get(name)),
        "jobs": [{"index": start + i, **job_json(raw)} for i, raw in enumerate(raws)],
    }


def limit_json(limit: Limit | None) -> dict[str, Any] | None:
    """A queue's fleet-wide limit (pace.limits), or None."""
    if limit is None:
        return None
    return {
        "queue": limit.queue, "rate": limit.rate, "period": limit.period,
        "concurrency": limit.concurrency, "admitted": limit.admitted, "shown": limit.bounds,
    }  # fmt: skip


def _running(value: Any) -> dict[str, Any]:
    """One of a worker's jobs in progress (Ruby's ``working_on`` JSON)."""
    if not isinstance(value, dict):
        return {"queue": None, "run_at": None, "class": None, "args": None, "payload": value}
    payload = value.get("payload")
    job = payload if isinstance(payload, dict) else {}
    return {
        "queue": value.get("queue"),
        "run_at": value.get("run_at"),
        "class": job.get("class"),
        "args": job.get("args"),
        "payload": payload,
    }


def _state(paused: bool, alive: bool | None, beat: bytes | None) -> str:
    """``paused``, ``running``, ``silent`` (a pace worker whose liveness key expired, or a Ruby
    worker whose heartbeat is over 5 minutes old) or ``unknown`` (a Ruby worker with no
    heartbeat: Resque before 2.0 writes none)."""
    if paused:
        return "paused"
    if alive is not None:
        return "running" if alive else "silent"
    at = moment(text(beat)) if beat else None
    if at is None:
        return "unknown"
    return "running" if time.time() - at.epoch < HEARTBEAT_STALE else "silent"


async def workers(
    redis: Redis, keys: Keys, pauses: list[Pause] | None = None
) -> list[dict[str, Any]]:
    """Registered workers (Ruby's and pace's) with what they run, sorted by id."""
    ids = sorted(map(text, await redis.smembers(keys.workers)))
    pace_ids = set(map(text, await redis.smembers(keys.pace_workers)))
    if pauses is None:
        pauses = await read_pauses(redis, keys)
    paused = {p.name: p for p in pauses if p.kind == "worker"}
    async with redis.pipeline(transaction=False) as pipe:
        for worker_id in ids:
            pipe.get(keys.worker(worker_id))
            pipe.get(keys.worker_jobs(worker_id))
            pipe.get(keys.worker_started(worker_id))
            pipe.hget(keys.heartbeats, worker_id)
            pipe.get(keys.stat("processed", worker_id))
            pipe.get(keys.stat("failed", worker_id))
            pipe.exists(keys.alive(worker_id))
        replies = await pipe.execute()
    shown = []
    for n, worker_id in enumerate(ids):
        working, running, started, beat, processed, failed, alive = replies[n * 7 : n * 7 + 7]
        listed = _decoded(running)
        if not isinstance(listed, list):
            listed = [] if working is None else [_decoded(working)]
        host, _, rest = worker_id.partition(":")
        pid, _, queue_list = rest.partition(":")
        pause = paused.get(worker_id)
        is_pace = worker_id in pace_ids
        shown.append({
            "id": worker_id,
            "host": host,
            "pid": pid,
            "queues": [name for name in queue_list.split(",") if name],
            "started": text(started) if started else None,
            "heartbeat": text(beat) if beat else None,
            "pace": is_pace,
            "alive": bool(alive) if is_pace else None,
            "state": _state(pause is not None, bool(alive) if is_pace else None, beat),
            "paused": pause is not None,
            "paused_until": pause.until if pause else None,
            "processed": int(processed or 0),
            "failed": int(failed or 0),
            "jobs": [_running(value) for value in listed],
        })  # fmt: skip
    return shown


def parse_scope(scope: str) -> str:
    """``user:3421`` checked as a progress scope (its Redis key part).

    Raises:
        ConfigError: empty parts, a reserved first part, spaces or more than 200 characters.
    """
    if len(scope) > 200 or any(c.isspace() or not c.isprintable() for c in scope):
        raise ConfigError(f"a progress scope is up to 200 characters without spaces, got {scope!r}")
    return scope_key(scope.split(":"))


def tick_json(tick: Tick, now: float | None = None) -> dict[str, Any]:
    """One job's progress, with its status, percentage, ETA and elapsed time in seconds. A job
    still running whose progress was not written for :data:`STALE_AFTER` seconds is
    ``stale`` (its writer is likely gone), with no ETA."""
    now = time.time() if now is None else now
    silent = now - tick.updated_at.timestamp()
    stale = tick.running and silent > STALE_AFTER
    eta = None if stale else tick.eta
    percentage = tick.percentage
    return {
        **tick.to_json(),
        "job_id": tick.job_id,
        "status": "stale" if stale else tick.status,
        "percentage": None if percentage is None else round(percentage, 2),
        "eta": eta.isoformat(timespec="seconds") if eta else None,
        "eta_seconds": None if eta is None else max(0.0, round(eta.timestamp() - now, 1)),
        "elapsed_seconds": round(tick.elapsed.total_seconds(), 1),
        "silent_seconds": round(max(0.0, silent), 1),
    }


def _order(tick: Tick) -> tuple[bool, float]:
    return (not tick.running, -tick.started_at.timestamp())


async def progress(redis: Redis, keys: Keys, scope: str) -> dict[str, Any]:
    """The jobs of a progress scope (checked by :func:`parse_scope`): running first, then the
    most recently started, at most :data:`MAX_JOBS_PER_SCOPE`."""
    key = parse_scope(scope)
    ticks = await jobs(key.split(":"), store=RedisStore(redis, namespace=keys.namespace))
    shown = sorted(ticks.values(), key=_order)[:MAX_JOBS_PER_SCOPE]
    now = time.time()
    return {
        "scope": key,
        "total": len(ticks),
        "running": sum(tick.running for tick in ticks.values()),
        "jobs": [tick_json(tick, now) for tick in shown],
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


async def scopes(redis: Redis, keys: Keys, limit: int = 20) -> list[str]:
    """Progress scopes found in Redis (``SCAN`` for hashes under ``<ns>:pace:`` whose entries
    look like progress), sorted, at most ``limit``. The scan is bounded, so on a very large
    database some scopes may not be found: the progress page takes any scope by name."""
    prefix = keys.pace("")
    try:
        hashes, _complete = await scan_some(redis, prefix + "*", rounds=_SCAN_ROUNDS, type_="HASH")
    except ResponseError as exc:  # a Redis older than 6.0 (no SCAN ... TYPE)
        logger.warning("cannot look for progress scopes: %s", exc)
        return []
    candidates = [text(key)[len(prefix) :] for key in hashes]
    names = []
    for name in sorted(set(candidates) - _PACE_HASHES):
        try:
            names.append(parse_scope(name))
        except ConfigError:
            continue
    async with redis.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.hrandfield(keys.pace(name), 1, withvalues=True)
        samples = await pipe.execute()
    found = [name for name, sample in zip(names, samples, strict=True) if _is_progress(sample)]
    return found[:limit]


def _is_progress(sample: Any) -> bool:
    if not isinstance(sample, list) or len(sample) != 2:
        return False
    entry = _decoded(sample[1])
    return isinstance(entry, dict) and "started_at" in entry and "count" in entry


def dumps(value: Any) -> str:
    """Compact JSON for the API."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
