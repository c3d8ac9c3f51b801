"""Failures on the pages and the API: cards or a compact table with filters and bulk actions,
a page per failure, and retry / remove by stable id (see :mod:`pace.web.failed`).

Pages: ``/failures?view=table&class=&queue=&exception=`` and ``/failures/{index}?id=``.
API: ``GET /api/failures``, ``GET /api/failures/{index}``, ``POST /api/failures/{index}/retry``
and ``/remove`` (body ``{"id": ...}``), ``POST /api/failures/bulk``, ``/retry-all``, ``/clear``
and ``/clear-retried``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from pace.failures import Failures
from pace.web import failed
from pace.web.api import done, fields, json_response
from pace.web.context import CLIENT, WebError, keys, paging, redis
from pace.web.failed import Filters, Target
from pace.web.pages import pager, render

__all__ = ["add_routes"]

_VIEWS = ("cards", "table")


def _filters(request: web.Request) -> Filters:
    values = {name: request.query.get(name, "").strip() for name in ("class", "queue", "exception")}
    for name, value in values.items():
        if len(value) > 200:
            raise WebError(400, f"the {name} filter is at most 200 characters")
    return Filters(values["class"], values["queue"], values["exception"])


def _target(request: web.Request, body: dict[str, Any]) -> Target:
    index = failed.check_index(request.match_info["index"])
    given = body.get("id", request.query.get("id"))
    return Target(index, None if given in (None, "") else failed.check_id(given))


# -- API --------------------------------------------------------------------------------


async def list_api(request: web.Request) -> web.Response:
    """A page of failures, oldest first: ``?start=0&count=50``, and filters ``class``, ``queue``,
    ``exception`` (parts of the field, any case)."""
    start, count = paging(request)
    data = await failed.listing(redis(request), keys(request), start, count, _filters(request))
    return json_response(data)


async def one_api(request: web.Request) -> web.Response:
    """One failure; with ``?id=``, a 409 if another record is at that index now."""
    target = _target(request, {})
    return json_response(await failed.detail(redis(request), keys(request), target))


async def retry(request: web.Request) -> web.Response:
    """Requeue one failure's job (the record stays, with ``retried_at``), as resque-web does.
    Body ``{"id": ...}``: only if that record is still at that index (409 otherwise)."""
    body = await fields(request, frozenset({"id"}))
    target = _target(request, body)
    record = await failed.detail(redis(request), keys(request), target)
    if not record["retryable"]:
        raise WebError(409, f"failure {target.index} cannot be requeued: "
                            f"{record['not_retryable_because']}")  # fmt: skip
    await failed.retry(redis(request), keys(request), [Target(target.index, record["id"])])
    notice = f"Failure {target.index} ({record['class']}) requeued on {record['queue']}."
    return done(request, body, {"retried": record}, notice)


async def remove(request: web.Request) -> web.Response:
    """Remove one failure (later ones shift down). Body ``{"id": ...}`` as for a retry."""
    body = await fields(request, frozenset({"id"}))
    target = _target(request, body)
    record = await failed.detail(redis(request), keys(request), target)
    await failed.remove(redis(request), keys(request), [Target(target.index, record["id"])])
    notice = f"Failure {target.index} ({record['class'] or 'not a job'}) removed."
    return done(request, body, {"removed": record}, notice)


async def bulk(request: web.Request) -> web.Response:
    """Retry or remove the failures selected: body ``{"action": "retry" | "remove",
    "records": ["<index>:<id>", ...]}``; each is skipped (with the reason) if it moved."""
    body = await fields(request, frozenset({"action", "records"}), lists=frozenset({"records"}))
    action, records = body.get("action"), body.get("records")
    if action not in ("retry", "remove"):
        raise WebError(400, f"action is 'retry' or 'remove', got {action!r}")
    if not isinstance(records, list):
        raise WebError(400, 'records is a list of "<index>:<id>" strings')
    targets = failed.targets_of(records)
    act = failed.retry if action == "retry" else failed.remove
    outcomes = await act(redis(request), keys(request), targets, strict=False)
    count = sum(outcome == "done" for outcome in outcomes.values())
    skipped = {f"{t.index}:{t.id}": o for t, o in outcomes.items() if o != "done"}
    verb = "requeued" if action == "retry" else "removed"
    notice = f"{count} failures {verb}" + (f", {len(skipped)} skipped." if skipped else ".")
    return done(request, body, {verb: count, "skipped": skipped}, notice)


async def retry_all(request: web.Request) -> web.Response:
    """Requeue every failure that holds a job and was not retried yet; body
    ``{"include_retried": true}`` requeues retried ones again too."""
    body = await fields(request, frozenset({"include_retried"}))
    again = body.get("include_retried", False)
    if again not in (True, False, "on", "true", ""):
        raise WebError(400, f"include_retried is true or false, got {again!r}")
    requeued, skipped = await failed.retry_all(
        redis(request), keys(request), include_retried=again in (True, "on", "true")
    )
    data = {"requeued": requeued, "skipped": {str(i): r for i, r in skipped.items()}}
    notice = f"{requeued} failures requeued" + (f", {len(skipped)} skipped." if skipped else ".")
    return done(request, body, data, notice)


async def clear(request: web.Request) -> web.Response:
    """Delete every failure record."""
    body = await fields(request, frozenset())
    removed = await Failures(request.app[CLIENT]).clear()
    return done(request, body, {"removed": removed}, f"{removed} failures cleared.")


async def clear_retried(request: web.Request) -> web.Response:
    """Delete the records that were retried (their jobs went back to their queues)."""
    body = await fields(request, frozenset())
    removed = await Failures(request.app[CLIENT]).clear_retried()
    return done(request, body, {"removed": removed}, f"{removed} retried failures cleared.")


# -- pages ------------------------------------------------------------------------------


async def list_page(request: web.Request) -> web.Response:
    """Failures as cards or a compact table, filtered, a page at a time, with bulk actions."""
    start, count = paging(request, default_count=20)
    view = request.query.get("view", "cards")
    if view not in _VIEWS:
        raise WebError(400, f"view is 'cards' or 'table', got {view[:20]!r}")
    filters = _filters(request)
    data = await failed.listing(redis(request), keys(request), start, count, filters)
    query = {"view": view, "class": filters.class_name, "queue": filters.queue,
             "exception": filters.exception}  # fmt: skip
    kept = urlencode({name: value for name, value in query.items() if value})
    return render(request, "failures.html", title="Failures", nav="failures", data=data,
                  view=view, filters=filters, query=kept,
                  pager=pager(start, count, data["matched"]))  # fmt: skip


async def detail_page(request: web.Request) -> web.Response:
    """One failure: its full backtrace, its payload, its actions."""
    target = _target(request, {})
    record = await failed.detail(redis(request), keys(request), target)
    return render(request, "failure.html", title=f"Failure {target.index}", nav="failures",
                  f=record)  # fmt: skip


def add_routes(app: web.Application) -> None:
    """Register the pages and the API routes."""
    app.router.add_get("/failures", list_page, name="failures")
    app.router.add_get("/failures/{index:-?[0-9]+}", detail_page, name="failure")
    add = app.router.add_route
    add("GET", "/api/failures", list_api, name="api.failures")
    add("POST", "/api/failures/retry-all", retry_all, name="api.retry_all")
    add("POST", "/api/failures/clear", clear, name="api.clear_failures")
    add("POST", "/api/failures/clear-retried", clear_retried, name="api.clear_retried")
    add("POST", "/api/failures/bulk", bulk, name="api.failures_bulk")
    add("GET", "/api/failures/{index:-?[0-9]+}", one_api, name="api.failure")
    add("POST", "/api/failures/{index}/retry", retry, name="api.retry_failure")
    add("POST", "/api/failures/{index}/remove", remove, name="api.remove_failure")
