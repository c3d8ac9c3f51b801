"""``create_app``: the status pages, the JSON API, live progress and /metrics, as one aiohttp
application (served by ``pace-worker web``, or mounted in your own service)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path

import jinja2
from aiohttp import web
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeout

from pace.client import Client
from pace.connection import connect
from pace.errors import CannotRequeue, ConfigError, NoSuchBatch, NoSuchFailure
from pace.keys import DEFAULT_NAMESPACE
from pace.web import (
    api,
    events,
    failures,
    formats,
    openapi,
    pages,
    prometheus,
    reads,
    scheduled,
    stats,
    workflows,
)
from pace.web.context import (
    CLIENT,
    REDIS,
    SETTINGS,
    STOPPING,
    TEMPLATES,
    Handler,
    Limits,
    Settings,
    WebError,
    is_api,
    is_form,
)
from pace.web.limits import GATE, Gate, gate
from pace.web.security import add_headers, guard

__all__ = ["create_app"]

logger = logging.getLogger("pace")
_HERE = Path(__file__).parent


def create_app(
    redis_url: str | None = None,
    *,
    redis: Redis | None = None,
    namespace: str = DEFAULT_NAMESPACE,
    token: str | None = None,
    remote: bool | None = None,
    allowed_hosts: Iterable[str] = (),
    limits: Limits | None = None,
) -> web.Application:
    """The web app: pages, ``/api/``, ``/metrics``.

    Example::

        app = pace.web.create_app("redis://127.0.0.1:6379/0", token=os.environ["PACE_WEB_TOKEN"])
        web.run_app(app, host="127.0.0.1", port=8080)
        # or, in your own service:
        service.add_subapp("/pace/", pace.web.create_app(redis=service_redis))

    Args:
        redis_url: where Redis is (see :func:`pace.connection.resolve_url`); the app opens its
            own client when it starts and closes it when it stops.
        redis: an open client to use instead (left open).
        namespace: the Resque namespace.
        token: when set, every request must carry it (see :mod:`pace.web.security`).
        remote: ``True`` if requests may come from other machines (a public bind, or behind a
            proxy): without a token, every POST is then refused. ``None`` (default) judges each
            connection by the local address it arrived on (not loopback: remote).
        allowed_hosts: without a token, the ``Host`` names served besides the address the app
            listens on (``localhost`` too on loopback): ``pace.example.com``,
            ``.example.com`` (and its subdomains), or ``*``. Any other ``Host`` gets a 400:
            this stops DNS rebinding.
        limits: how much the app takes on at once (:class:`Limits`).
    """
    settings = Settings(
        namespace=namespace, token=token, remote=remote,
        allowed_hosts=tuple(allowed_hosts), limits=limits or Limits(),
    )  # fmt: skip
    app = web.Application(middlewares=[_errors, guard, gate])
    app[SETTINGS] = settings
    app[TEMPLATES] = jinja2.Environment(
        loader=jinja2.FileSystemLoader(_HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    app[TEMPLATES].filters["duration"] = formats.duration
    app[TEMPLATES].globals.update(
        json=reads.dumps, moment=formats.moment, until=formats.until_text,
        until_text=formats.until_text, pretty=formats.pretty,
    )  # fmt: skip
    app.cleanup_ctx.append(_connection(redis_url, redis, namespace))
    app.on_shutdown.append(_stop_streams)
    app.on_response_prepare.append(add_headers)
    pages.add_routes(app)
    api.add_routes(app)
    openapi.add_routes(app)
    failures.add_routes(app)
    scheduled.add_routes(app)
    stats.add_routes(app)
    workflows.add_routes(app)
    app.router.add_get("/api/events", events.events, name="api.events")
    app.router.add_get("/metrics", prometheus.metrics, name="metrics")
    app.router.add_static("/static", _HERE / "static", name="static")
    return app


def _connection(
    redis_url: str | None, redis: Redis | None, namespace: str
) -> Callable[[web.Application], AsyncIterator[None]]:
    async def connection(app: web.Application) -> AsyncIterator[None]:
        client = redis if redis is not None else await connect(redis_url)
        app[REDIS] = client
        app[CLIENT] = Client(redis=client, namespace=namespace)
        app[STOPPING] = asyncio.Event()
        app[GATE] = Gate(app[SETTINGS].limits)
        try:
            yield
        finally:
            if redis is None:
                await client.aclose()

    return connection


async def _stop_streams(app: web.Application) -> None:
    """Live streams end when the app shuts down, not at the server's shutdown timeout."""
    app[STOPPING].set()


_STATUS: tuple[tuple[type[Exception], int], ...] = (
    (ConfigError, 400),
    (NoSuchFailure, 404),
    (NoSuchBatch, 404),
    (CannotRequeue, 409),
)


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Bad input and refusals as a 4xx with a reason: JSON for the API, a page otherwise."""
    try:
        return await handler(request)
    except WebError as exc:
        status, reason = exc.status, exc.reason
    except (ConfigError, NoSuchFailure, NoSuchBatch, CannotRequeue) as exc:
        status = next(code for kind, code in _STATUS if isinstance(exc, kind))
        reason = str(exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        status, reason = exc.status, exc.reason
    except (RedisConnectionError, RedisTimeout) as exc:
        logger.warning("web: Redis did not answer: %s", exc)
        status, reason = 503, f"Redis did not answer ({exc}); try again in a moment"
    if is_api(request) and not await _from_page(request):
        return web.json_response({"error": reason, "status": status}, status=status)
    return pages.error_page(request, status, reason)


async def _from_page(request: web.Request) -> bool:
    """True for a POST of one of the pages' forms (they carry ``next``): its error is a page.
    Everything else under ``/api/`` is answered in JSON, whatever the content type."""
    if not is_form(request):
        return False
    try:
        return "next" in await request.post()
    except (ValueError, web.HTTPException):  # a body that is not a form after all
        return False
