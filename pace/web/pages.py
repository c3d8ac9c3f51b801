"""The HTML pages: server-rendered (Jinja2, autoescaped), a little JS for confirmations and live
progress bars. Their buttons post HTML forms to the JSON API's routes (see :mod:`pace.web.api`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

from aiohttp import web

from pace.web import formats, reads, security, stats
from pace.web.api import NOTICE_COOKIE
from pace.web.context import (
    CSRF,
    SETTINGS,
    TEMPLATES,
    WebError,
    keys,
    paging,
    redis,
    root,
    same_origin_path,
)

__all__ = ["add_routes", "error_page", "pager", "render"]

_STATIC = Path(__file__).parent / "static"
OVERVIEW_SCOPES = 6
"""Most progress scopes shown live on the overview."""


def _notice(request: web.Request) -> str | None:
    value = request.cookies.get(NOTICE_COOKIE)
    if not value:
        return None
    try:
        return bytes.fromhex(value).decode()[:300]
    except ValueError:
        return None


def render(
    request: web.Request, template: str, *, status: int = 200, **context: Any
) -> web.Response:
    """Render ``template`` with the shared context (root, CSRF token, notice, ...)."""
    env = request.app[TEMPLATES]
    notice = _notice(request)
    html = env.get_template(template).render(
        root=root(request),
        csrf=request.get(CSRF, ""),
        here=request.path_qs,
        notice=notice,
        namespace=request.app[SETTINGS].namespace,
        quote=lambda value: quote(str(value), safe=""),
        **context,
    )
    response = web.Response(text=html, content_type="text/html", status=status)
    if notice is not None:
        response.del_cookie(NOTICE_COOKIE, path=root(request))
    return response


def error_page(request: web.Request, status: int, reason: str) -> web.Response:
    """A 4xx (or 5xx) page that says why; a 401 is the sign-in form."""
    if status == 401:
        back = request.path_qs if request.method == "GET" else root(request)
        return _login_form(request, back, None)
    return render(request, "error.html", status=status, title=f"Error {status}", nav="",
                  code=status, reason=reason)  # fmt: skip


def pager(start: int, count: int, total: int) -> dict[str, Any]:
    """Where a paged list is, and where its previous and next pages start."""
    return {
        "start": start,
        "count": count,
        "total": total,
        "end": min(start + count, total),
        "previous": max(0, start - count) if start > 0 else None,
        "next": start + count if start + count < total else None,
    }


async def overview(request: web.Request) -> web.Response:
    """Queues, workers, totals, pauses, and the progress scopes found, live."""
    data = await reads.overview(redis(request), keys(request))
    scopes = await reads.scopes(redis(request), keys(request), limit=OVERVIEW_SCOPES)
    progress = [await reads.progress(redis(request), keys(request), scope) for scope in scopes]
    flow = stats.throughput(await stats.published(redis(request), keys(request)))
    graph = formats.chart([flow["processed"], flow["failed"]])
    return render(request, "overview.html", title="Overview", nav="overview", data=data,
                  progress=progress, graph=graph)  # fmt: skip


async def queues(request: web.Request) -> web.Response:
    """Every queue: size, latency, pause, clear."""
    listed = await reads.queues(redis(request), keys(request))
    return render(request, "queues.html", title="Queues", nav="queues", queues=listed)


async def queue(request: web.Request) -> web.Response:
    """A queue's jobs, a page at a time."""
    start, count = paging(request)
    name = request.match_info["name"]
    data = await reads.queue(redis(request), keys(request), name, start, count)
    return render(request, "queue.html", title=f"Queue {name}", nav="overview", queue=data,
                  pager=pager(start, count, data["size"]))  # fmt: skip


async def workers(request: web.Request) -> web.Response:
    """Every registered worker and what it runs."""
    listed = await reads.workers(redis(request), keys(request))
    return render(request, "workers.html", title="Workers", nav="workers", workers=listed)


async def progress_index(request: web.Request) -> web.StreamResponse:
    """A form to follow a scope (``?scope=user:3421`` goes to its page), and the scopes found."""
    scope = request.query.get("scope", "").strip()
    if scope:
        target = root(request) + "progress/" + quote(reads.parse_scope(scope), safe=":")
        return web.Response(status=303, headers={"Location": target})
    scopes = await reads.scopes(redis(request), keys(request), limit=100)
    return render(request, "progress_index.html", title="Progress", nav="progress", scopes=scopes)


async def progress(request: web.Request) -> web.Response:
    """One scope's jobs as live progress bars with ETA."""
    data = await reads.progress(redis(request), keys(request), request.match_info["scope"])
    return render(request, "progress.html", title=f"Progress {data['scope']}", nav="progress",
                  progress=[data])  # fmt: skip


def _login_form(request: web.Request, back: str, error: str | None) -> web.Response:
    target = same_origin_path(back, root(request)) or root(request)
    return render(request, "login.html", status=401, title="Sign in", nav="", next=target,
                  error=error)  # fmt: skip


async def login(request: web.Request) -> web.Response:
    """The sign-in form (any page shows it to a browser that has no session)."""
    return _login_form(request, request.query.get("next", root(request)), None)


async def sign_in(request: web.Request) -> web.Response:
    """Check the form's token; on success, a session cookie and back to ``next``."""
    form = await request.post()
    token, back = form.get("token"), form.get("next")
    if request.app[SETTINGS].token is None:
        raise WebError(400, "this pace web app has no token: there is nothing to sign in to")
    if not security.valid_token(request, token if isinstance(token, str) else None):
        return _login_form(request, str(back or ""), "Wrong token.")
    target = same_origin_path(back, root(request)) or root(request)
    response = web.Response(status=303, headers={"Location": target})
    security.sign_in(response, request)
    return response


async def favicon(request: web.Request) -> web.FileResponse:
    """The icon (browsers ask for ``/favicon.ico``)."""
    return web.FileResponse(_STATIC / "favicon.svg", headers={"Content-Type": "image/svg+xml"})


async def stats_page(request: web.Request) -> web.Response:
    """Throughput graphs, per-class metrics and Redis."""
    workers = await stats.published(redis(request), keys(request))
    flow = stats.throughput(workers)
    sparks = {
        name: formats.chart([q["processed"], q["failed"]]) for name, q in flow["queues"].items()
    }
    return render(
        request, "stats.html", title="Stats", nav="stats", flow=flow, workers=len(workers),
        classes=stats.classes(workers), graph=formats.chart([flow["processed"], flow["failed"]]),
        sparks=sparks, redis_info=await stats.redis_info(redis(request), keys(request)),
    )  # fmt: skip


def add_routes(app: web.Application) -> None:
    """Register the pages."""
    app.router.add_get("/login", login, name="login")
    app.router.add_post("/login", sign_in, name="login.post")
    app.router.add_get("/favicon.ico", favicon, name="favicon")
    app.router.add_get("/stats", stats_page, name="stats")
    app.router.add_get("/", overview, name="overview")
    app.router.add_get("/queues", queues, name="queues")
    app.router.add_get("/queues/{name:[^/]+}", queue, name="queue")
    app.router.add_get("/workers", workers, name="workers")
    app.router.add_get("/progress", progress_index, name="progress")
    app.router.add_get("/progress/{scope}", progress, name="progress.scope")
