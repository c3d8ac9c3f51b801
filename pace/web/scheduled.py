"""Jobs waiting in the schedule (``<ns>:pace:schedule``): delayed jobs (``enqueue_in``,
``enqueue_at``) and pending retries, with run now and delete, one at a time or in bulk.

The schedule is a sorted set of ``queue:payload`` members scored by the Unix time they are due.
A job's id here is ``<due, in ms>-<first 16 hex digits of the SHA-1 of the member>``: an action
finds the member by its due time and hash inside one Lua script, so it acts on that job or on
nothing (a job moved to its queue meanwhile is gone: 404).

Page: ``/scheduled``. API: ``GET /api/scheduled``, ``POST /api/scheduled/{id}/run`` and
``/delete``, ``POST /api/scheduled/bulk``.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any, Literal, cast

from aiohttp import web
from redis.asyncio import Redis

from pace.client import push
from pace.connection import atomic, is_cluster
from pace.keys import Keys
from pace.lua import script
from pace.web.api import done, fields, json_response
from pace.web.context import WebError, keys, paging, redis
from pace.web.pages import pager, render
from pace.web.reads import job_json
from pace.wire import split_entry

__all__ = ["act", "add_routes", "check_id", "job_id", "listing"]

Action = Literal["run", "delete"]

_ACT = script("schedule_act")


def job_id(member: bytes, due: float) -> str:
    """A scheduled job's id: ``<due in ms>-<16 hex digits of the member's SHA-1>``."""
    digest = hashlib.sha1(member, usedforsecurity=False).hexdigest()[:16]
    return f"{round(due * 1000)}-{digest}"


def check_id(value: object) -> tuple[int, str]:
    """``(due in ms, hash)`` of an id given by a client.

    Raises:
        WebError: 400, not an id of a scheduled job.
    """
    text = value if isinstance(value, str) else ""
    ms, _, digest = text.partition("-")
    if not (ms.isdigit() and len(ms) <= 16 and len(digest) == 16) or digest.strip(
        "0123456789abcdef"
    ):
        raise WebError(400, f"a scheduled job's id is '<ms>-<16 hex digits>', got {value!r:.60}")
    return int(ms), digest


def _entry(member: bytes, due: float, now: float) -> dict[str, Any]:
    queue, raw = split_entry(member)
    job = job_json(raw)
    payload = job["payload"] or {}
    attempt = payload.get("pace_attempt")
    return {
        "id": job_id(member, due),
        "queue": queue,
        "class": job["class"],
        "args": job["args"],
        "job_id": job["id"],
        "due": due,
        "due_in": round(due - now, 3),
        "kind": "retry" if attempt is not None else "scheduled",
        "attempt": attempt if isinstance(attempt, int) else None,
        "payload": job["payload"],
        "raw": job.get("raw"),
    }


async def listing(redis: Redis, keys: Keys, start: int, count: int) -> dict[str, Any]:
    """A page of the schedule, soonest first."""
    async with redis.pipeline(transaction=atomic(redis)) as pipe:
        pipe.zcard(keys.schedule)
        pipe.zrange(keys.schedule, start, start + count - 1, withscores=True)
        total, members = await pipe.execute()
    now = time.time()
    return {
        "total": total,
        "start": start,
        "count": count,
        "jobs": [_entry(member, due, now) for member, due in members],
    }


async def act(redis: Redis, keys: Keys, action: Action, ids: list[str]) -> dict[str, bool]:
    """Run now (push to the tail of its queue) or delete each job; return id -> done."""
    args: list[Any] = [keys.queue(""), action]
    for given in ids:
        ms, digest = check_id(given)
        args += [(ms - 1) / 1000, (ms + 1) / 1000, digest]
    if action == "run" and is_cluster(redis):  # the queues live in other slots
        return {given: await _run_apart(redis, keys, given) for given in ids}
    queues = [keys.queues] if action == "run" else []
    codes = await _ACT(redis, keys=[keys.schedule, *queues], args=args)
    return {given: bool(code) for given, code in zip(ids, cast("list[int]", codes), strict=True)}


async def _run_apart(redis: Redis, keys: Keys, given: str) -> bool:
    """Run one job now on a Redis Cluster: pushed to its queue, then taken off the schedule
    (a job the schedule mover pushes at that very moment runs twice; none is lost)."""
    ms, _digest = check_id(given)
    found = await redis.zrangebyscore(
        keys.schedule, (ms - 1) / 1000, (ms + 1) / 1000, withscores=True
    )
    for member, due in cast("list[tuple[bytes, float]]", found):
        if job_id(member, due) == given:
            await push(redis, keys, [split_entry(member)])
            return bool(await redis.zrem(keys.schedule, member))
    return False


_VERBS = {"run": "moved to their queues", "delete": "deleted"}


def _action(value: object) -> Action:
    if value not in ("run", "delete"):
        raise WebError(400, f"action is 'run' or 'delete', got {value!r:.40}")
    return "run" if value == "run" else "delete"


# -- handlers ---------------------------------------------------------------------------


async def list_api(request: web.Request) -> web.Response:
    """Delayed jobs and pending retries, soonest first: ``?start=0&count=50``."""
    start, count = paging(request)
    return json_response(await listing(redis(request), keys(request), start, count))


async def one(request: web.Request) -> web.Response:
    """Run one job now (``.../run``: to the tail of its queue) or delete it (``.../delete``)."""
    body = await fields(request, frozenset())
    action = _action(request.match_info["action"])
    given = request.match_info["id"]
    outcome = await act(redis(request), keys(request), action, [given])
    if not outcome[given]:
        raise WebError(404, f"no scheduled job {given} (it ran or was deleted meanwhile)")
    notice = f"Scheduled job {_VERBS[action].replace('their queues', 'its queue')}."
    return done(request, body, {action: given}, notice)


async def bulk(request: web.Request) -> web.Response:
    """The jobs selected: body ``{"action": "run" | "delete", "ids": [...]}`` (a page's row
    button sends ``one=<action> <id>`` instead); those gone meanwhile are listed as skipped."""
    allowed = frozenset({"action", "ids", "one"})
    body = await fields(request, allowed, lists=frozenset({"ids"}))
    action_given, _, single = str(body.get("one", "")).partition(" ")
    action = _action(action_given if single else body.get("action"))
    ids = [single] if single else body.get("ids")
    if not isinstance(ids, list) or not ids or len(ids) > 1000:
        raise WebError(400, "ids is a list of 1 to 1000 scheduled job ids")
    outcomes = await act(redis(request), keys(request), action, [str(i) for i in ids])
    count = sum(outcomes.values())
    skipped = [given for given, ok in outcomes.items() if not ok]
    notice = f"{count} scheduled jobs {_VERBS[action]}" + (
        f", {len(skipped)} gone meanwhile." if skipped else "."
    )
    return done(request, body, {action: count, "skipped": skipped}, notice)


async def page(request: web.Request) -> web.Response:
    """Delayed jobs and pending retries, with run now and delete."""
    start, count = paging(request)
    data = await listing(redis(request), keys(request), start, count)
    return render(request, "scheduled.html", title="Scheduled", nav="scheduled", data=data,
                  pager=pager(start, count, data["total"]))  # fmt: skip


def add_routes(app: web.Application) -> None:
    """Register the page and the API routes."""
    app.router.add_get("/scheduled", page, name="scheduled")
    app.router.add_get("/api/scheduled", list_api, name="api.scheduled")
    app.router.add_post("/api/scheduled/bulk", bulk, name="api.scheduled_bulk")
    app.router.add_post("/api/scheduled/{id}/{action:run|delete}", one, name="api.scheduled_one")
