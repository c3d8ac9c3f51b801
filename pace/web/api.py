"""The JSON API under ``/api/``: everything the pages show, and every action they take.

Actions are POSTs (see :mod:`pace.web.security` for what a POST needs). They take an optional
JSON object body (``{"seconds": 30}`` for a pause) and answer JSON; the pages' HTML forms post
to the same routes and are answered with a redirect back to the page, with a notice.
"""

from __future__ import annotations

import math
from typing import Any

from aiohttp import web

from pace.connection import atomic
from pace.control import Pauses
from pace.limits import Limits
from pace.web import reads
from pace.web.context import (
    CSRF,
    WebError,
    is_form,
    keys,
    paging,
    redis,
    root,
    same_origin_path,
)
from pace.web.security import CSRF_FIELD, CSRF_HEADER
from pace.wire import loads

__all__ = ["NOTICE_COOKIE", "ROUTES", "add_routes", "done", "fields", "json_response", "set_notice"]

NOTICE_COOKIE = "pace_notice"
_PAGE_FIELDS = frozenset({CSRF_FIELD, "next"})


def json_response(data: Any, status: int = 200) -> web.Response:
    """Compact JSON."""
    return web.json_response(data, status=status, dumps=reads.dumps)


# -- reads ------------------------------------------------------------------------------


async def overview(request: web.Request) -> web.Response:
    """Queues, workers, totals and pauses."""
    return json_response(await reads.overview(redis(request), keys(request)))


async def queues(request: web.Request) -> web.Response:
    """Every queue with its size and pause."""
    return json_response({"queues": await reads.queues(redis(request), keys(request))})


async def queue(request: web.Request) -> web.Response:
    """A page of a queue's jobs: ``?start=0&count=50``."""
    start, count = paging(request)
    name = request.match_info["name"]
    return json_response(await reads.queue(redis(request), keys(request), name, start, count))


async def workers(request: web.Request) -> web.Response:
    """Registered workers and the jobs they run."""
    return json_response({"workers": await reads.workers(redis(request), keys(request))})


async def scopes(request: web.Request) -> web.Response:
    """Progress scopes found in Redis."""
    return json_response({"scopes": await reads.scopes(redis(request), keys(request))})


async def progress(request: web.Request) -> web.Response:
    """The jobs of one progress scope (``user:3421``)."""
    scope = request.match_info["scope"]
    return json_response(await reads.progress(redis(request), keys(request), scope))


async def pauses(request: web.Request) -> web.Response:
    """The pauses in force, and Resque's pause-all flag."""
    data = await reads.overview(redis(request), keys(request))
    return json_response({"pauses": data["pauses"], "paused_all": data["paused_all"]})


async def csrf(request: web.Request) -> web.Response:
    """The session's CSRF token (its cookie is set with this answer), for a script that has no
    bearer token: echo it in the X-CSRF-Token header of each POST, with the cookie."""
    return json_response({"token": request[CSRF], "header": CSRF_HEADER})


# -- actions ----------------------------------------------------------------------------


async def fields(
    request: web.Request,
    allowed: frozenset[str] = frozenset({"seconds"}),
    lists: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """The POST's fields: a form's, or a JSON object body's (an empty body is ``{}``).

    Args:
        request: the POST.
        allowed: the fields it may have (a form also has ``csrf`` and ``next``).
        lists: fields of a form that may be given more than once (a list, like JSON's).

    Raises:
        WebError: 400, not JSON, not an object, or an unknown field.
    """
    if is_form(request):
        form = await request.post()
        data: Any = {
            name: form.getall(name) if name in lists else form[name]
            for name in form
            if all(isinstance(value, str) for value in form.getall(name))
        }
        allowed = allowed | _PAGE_FIELDS
    else:
        body = await request.text()
        if not body.strip():
            return {}
        try:
            data = loads(body)
        except (ValueError, RecursionError) as exc:
            raise WebError(400, f"the body is not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise WebError(400, 'the body must be a JSON object, like {"seconds": 30}')
    unknown = sorted(set(data) - allowed)
    if unknown:
        hint = " (a JSON body needs 'Content-Type: application/json')" if is_form(request) else ""
        raise WebError(400, f"unknown field(s) {', '.join(map(repr, unknown))}{hint}")
    return dict(data)


def _seconds(body: dict[str, Any]) -> float | None:
    """``seconds``: a positive number, or null / empty / absent for "until resumed"."""
    value = body.get("seconds")
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise WebError(400, f"seconds must be a number, got {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise WebError(400, f"seconds must be a number or null, got {value!r}")
    if not 0 < value < 10**9 or math.isnan(value):
        raise WebError(400, f"seconds must be more than 0 (and finite), got {value!r}")
    return float(value)


def _next(request: web.Request, body: dict[str, Any]) -> str:
    """Where a form goes back to: its ``next`` field if it is a path of this app."""
    home = root(request)
    return same_origin_path(body.get("next"), home) or home


def set_notice(response: web.StreamResponse, request: web.Request, notice: str) -> None:
    """Show ``notice`` on the next page rendered (a short-lived cookie)."""
    response.set_cookie(
        NOTICE_COOKIE, notice.encode().hex(), path=root(request), max_age=60, httponly=True,
        samesite="Strict", secure=request.secure,
    )  # fmt: skip


def done(request: web.Request, body: dict[str, Any], data: Any, notice: str) -> web.Response:
    """The answer to an action: ``data`` as JSON, or, to a page's form (it has a ``next``
    field), a redirect back to the page that shows ``notice``."""
    if not is_form(request) or "next" not in body:
        return json_response(data)
    response = web.Response(status=303, headers={"Location": _next(request, body)})
    set_notice(response, request, notice)
    return response


def _for(seconds: float | None) -> str:
    return "" if seconds is None else f" for {seconds:g} s"


async def _paused(request: web.Request, kind: str, name: str) -> bool:
    return bool(await redis(request).hexists(keys(request).paused, f"{kind}:{name}"))


async def pause_queue(request: web.Request) -> web.Response:
    """Pause a queue for every worker: body ``{"seconds": 30}`` or ``{}`` (until resumed)."""
    name = request.match_info["name"]
    body = await fields(request)
    seconds = _seconds(body)
    if not await redis(request).sismember(keys(request).queues, name):
        raise WebError(404, f"no queue named {name!r}")
    await Pauses(redis(request), keys(request)).pause_queue(name, seconds)
    until = await reads.pause_of(redis(request), keys(request), "queue", name)
    return done(request, body, {"paused": until}, f"Queue {name} paused{_for(seconds)}.")


async def resume_queue(request: web.Request) -> web.Response:
    """Resume a paused queue."""
    name = request.match_info["name"]
    body = await fields(request)
    known = await redis(request).sismember(keys(request).queues, name)
    if not known and not await _paused(request, "queue", name):
        raise WebError(404, f"no queue named {name!r}")
    await Pauses(redis(request), keys(request)).resume_queue(name)
    return done(request, body, {"resumed": name}, f"Queue {name} resumed.")


async def clear_queue(request: web.Request) -> web.Response:
    """Delete every job waiting in a queue (the queue stays known); answer how many."""
    name = request.match_info["name"]
    body = await fields(request, frozenset())
    if not await redis(request).sismember(keys(request).queues, name):
        raise WebError(404, f"no queue named {name!r}")
    async with redis(request).pipeline(transaction=atomic(redis(request))) as pipe:
        pipe.llen(keys(request).queue(name))
        pipe.delete(keys(request).queue(name))
        cleared, _deleted = await pipe.execute()
    return done(
        request, body, {"cleared": cleared}, f"Queue {name} cleared: {cleared} jobs deleted."
    )


async def pause_worker(request: web.Request) -> web.Response:
    """Pause one worker: body ``{"seconds": 30}`` or ``{}`` (until resumed)."""
    worker_id = request.match_info["id"]
    body = await fields(request)
    seconds = _seconds(body)
    if not await redis(request).sismember(keys(request).workers, worker_id):
        raise WebError(404, f"no worker {worker_id!r} is registered")
    await Pauses(redis(request), keys(request)).pause_worker(worker_id, seconds)
    until = await reads.pause_of(redis(request), keys(request), "worker", worker_id)
    return done(request, body, {"paused": until}, f"Worker paused{_for(seconds)}.")


async def resume_worker(request: web.Request) -> web.Response:
    """Resume a paused worker."""
    worker_id = request.match_info["id"]
    body = await fields(request)
    known = await redis(request).sismember(keys(request).workers, worker_id)
    if not known and not await _paused(request, "worker", worker_id):
        raise WebError(404, f"no worker {worker_id!r} is registered")
    await Pauses(redis(request), keys(request)).resume_worker(worker_id)
    return done(request, body, {"resumed": worker_id}, "Worker resumed.")


async def limits(request: web.Request) -> web.Response:
    """Every queue's fleet-wide limit, by queue name."""
    listed = await Limits(redis(request), keys(request)).list()
    return json_response({"limits": [reads.limit_json(limit) for limit in listed]})


def _concurrency(value: Any) -> int | None:
    """``concurrency``: a whole number (a form's text of one), or null / empty / absent."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        if not value.strip().isdigit():
            raise WebError(400, f"concurrency must be a whole number >= 1, got {value!r}")
        return int(value)
    return value  # type: ignore[no-any-return]  # checked by Limits.set


async def set_limit(request: web.Request) -> web.Response:
    """Limit a queue for the whole fleet: body ``{"rate": "100/s", "concurrency": 5}``, one
    or both (a bound not given stays as it was)."""
    name = request.match_info["name"]
    body = await fields(request, frozenset({"rate", "concurrency"}))
    if not await redis(request).sismember(keys(request).queues, name):
        raise WebError(404, f"no queue named {name!r}")
    limit = await Limits(redis(request), keys(request)).set(
        name, rate=body.get("rate") or None, concurrency=_concurrency(body.get("concurrency"))
    )
    return done(request, body, {"limit": reads.limit_json(limit)},
                f"Queue {name} limited to {limit.bounds}.")  # fmt: skip


async def clear_limit(request: web.Request) -> web.Response:
    """Remove a queue's fleet-wide limit."""
    name = request.match_info["name"]
    body = await fields(request, frozenset())
    cleared = await Limits(redis(request), keys(request)).clear(name)
    if not cleared:
        raise WebError(404, f"queue {name!r} has no limit")
    return done(request, body, {"cleared": name}, f"Queue {name} has no limit now.")


ROUTES: list[tuple[str, str, Any]] = [
    ("GET", "/api/overview", overview),
    ("GET", "/api/queues", queues),
    ("GET", "/api/queues/{name:[^/]+}", queue),
    ("POST", "/api/queues/{name:[^/]+}/pause", pause_queue),
    ("POST", "/api/queues/{name:[^/]+}/resume", resume_queue),
    ("POST", "/api/queues/{name:[^/]+}/clear", clear_queue),
    ("POST", "/api/queues/{name:[^/]+}/limit", set_limit),
    ("POST", "/api/queues/{name:[^/]+}/limit/clear", clear_limit),
    ("GET", "/api/limits", limits),
    ("GET", "/api/workers", workers),
    ("POST", "/api/workers/{id:[^/]+}/pause", pause_worker),
    ("POST", "/api/workers/{id:[^/]+}/resume", resume_worker),
    ("GET", "/api/progress", scopes),
    ("GET", "/api/progress/{scope}", progress),
    ("GET", "/api/pauses", pauses),
    ("GET", "/api/csrf", csrf),
]


def add_routes(app: web.Application) -> None:
    """Register the API's routes."""
    for method, path, handler in ROUTES:
        app.router.add_route(method, path, handler, name="api." + handler.__name__)
