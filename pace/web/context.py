"""What every handler of the web app shares: its settings and state (``web.AppKey``), the error
it raises for bad input, and small request helpers."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import jinja2
from aiohttp import web
from redis.asyncio import Redis

from pace.client import Client
from pace.errors import ConfigError
from pace.keys import Keys

__all__ = [
    "CLIENT",
    "CSRF",
    "REDIS",
    "SETTINGS",
    "STOPPING",
    "TEMPLATES",
    "Handler",
    "Limits",
    "Settings",
    "WebError",
    "is_api",
    "is_form",
    "keys",
    "paging",
    "redis",
    "root",
    "same_origin_path",
    "whole",
]


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
"""A request handler, or the rest of the middleware chain."""


@dataclass(frozen=True, slots=True)
class Limits:
    """The web app's limits, checked at construction.

    Example::

        pace.web.create_app(url, limits=Limits(requests=16, streams=8, wait=5.0))
    """

    requests: int = 32
    """Requests at work on Redis at once; more wait their turn."""
    streams: int = 32
    """Live event streams open at once; one more is refused with a 503."""
    wait: float = 10.0
    """Seconds a request waits for its turn before it is answered 503."""

    def __post_init__(self) -> None:
        for name in ("requests", "streams"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 10_000:
                raise ConfigError(f"limits.{name} must be a whole number from 1 to 10000, got "
                                  f"{value!r}")  # fmt: skip
        wait = self.wait
        if isinstance(wait, bool) or not isinstance(wait, int | float) or not 0 < wait <= 3600:
            raise ConfigError(f"limits.wait must be more than 0 and at most 3600 s, got {wait!r}")


@dataclass(frozen=True, slots=True)
class Settings:
    """The web app's configuration, checked at construction."""

    namespace: str
    token: str | None
    remote: bool | None
    """True: every request may come from another machine; None: judged per connection."""
    allowed_hosts: tuple[str, ...] = ()
    """Host names served besides the address the app listens on (see pace.web.security)."""
    limits: Limits = Limits()

    def __post_init__(self) -> None:
        Keys(self.namespace)  # raises ConfigError for a bad namespace
        if self.token is not None and (not self.token or any(c.isspace() for c in self.token)):
            raise ConfigError("the web token must be non-empty, without spaces")
        for host in self.allowed_hosts:
            name = host.removeprefix(".")
            if host != "*" and (not name or any(c in name for c in "/:@ \t") or len(host) > 253):
                raise ConfigError(
                    f"an allowed host is a host name ('pace.example.com', '.example.com' for "
                    f"its subdomains too, or '*' for any), without a port, got {host!r}"
                )
        if not isinstance(self.limits, Limits):
            raise ConfigError(f"limits must be a pace.web.Limits, got {self.limits!r}")


class WebError(Exception):
    """Bad input or a refused request: answered with ``status`` and ``reason`` (JSON for the
    API, an HTML page otherwise)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


SETTINGS = web.AppKey("pace_web_settings", Settings)
REDIS = web.AppKey("pace_web_redis", Redis)
CLIENT = web.AppKey("pace_web_client", Client)
TEMPLATES = web.AppKey("pace_web_templates", jinja2.Environment)
STOPPING = web.AppKey("pace_web_stopping", asyncio.Event)
"""Set when the app shuts down: live streams end."""
CSRF = web.RequestKey("pace_web_csrf", str)
"""The request's CSRF token (from its cookie, or a new one the response sets)."""


def redis(request: web.Request) -> Redis:
    """The app's Redis client."""
    return request.app[REDIS]


def keys(request: web.Request) -> Keys:
    """The app's key names."""
    return request.app[CLIENT].keys


def root(request: web.Request) -> str:
    """The app's own root path: ``/``, or ``/prefix/`` when mounted as a sub-application."""
    return str(request.app.router["overview"].url_for())


def same_origin_path(target: object, home: str) -> str | None:
    """``target`` if it is a path of this app (under ``home``), else None.

    Refused: another origin (``//host``, a scheme), and any control character, space or
    backslash, which browsers drop or read as ``/`` (``/\t/evil.example`` is ``//evil.example``).
    """
    if not isinstance(target, str) or not target.startswith(home) or len(target) > 2000:
        return None
    if target.startswith("//") or any(c <= " " or c in "\\\x7f" for c in target):
        return None
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else None


def is_api(request: web.Request) -> bool:
    """True for the JSON API (and /metrics): errors are answered in JSON, not HTML."""
    path = request.path[len(root(request)) :]
    return path.startswith(("api/", "metrics"))


def is_form(request: web.Request) -> bool:
    """True for a POST from an HTML form (the pages' buttons): answered with a redirect."""
    return request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data")


def whole(request: web.Request, name: str, default: int, least: int, most: int) -> int:
    """The query's ``name`` as a whole number from ``least`` to ``most`` (``default`` if absent).

    Raises:
        WebError: 400, not a whole number, or out of range.
    """
    value: Any = request.query.get(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise WebError(400, f"{name} must be a whole number, got {value[:50]!r}") from None
    if not least <= number <= most:
        raise WebError(400, f"{name} must be between {least} and {most}, got {value[:50]}")
    return number


def paging(request: web.Request, default_count: int = 50) -> tuple[int, int]:
    """``?start=&count=`` from the query, checked: start >= 0, 1 <= count <= 500."""
    start = whole(request, "start", 0, 0, 2**62)
    count = whole(request, "count", default_count, 1, 500)
    return start, count
